/**
 * A repair's trades. A fetch that fails (the REST client's own retries spent: a ban, an outage, timeouts) is not "the
 * exchange no longer has them": taken as that, the gap was accepted and its klines rebuilt from the exchange's only once
 * closed — larger intervals' open klines stayed without those trades for hours (found by the soak). So it is asked
 * again, up to FETCH_ATTEMPTS times over about half a minute, the symbol held meanwhile; only then is it given up (and
 * the range reported unrepaired): the answer is then empty.
 */
import type { AggTrade } from '../../domain/agg-trade.ts';

/** A repair's fetch is tried this many times (waits 1, 2, 4, 8, 16 s between) before its range is given up. */
const FETCH_ATTEMPTS = 6;
const FETCH_RETRY_BASE_MS = 1_000;

export async function fetchRetrying(fetch: () => Promise<readonly AggTrade[]>, onRetry: () => void): Promise<readonly AggTrade[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch();
    } catch {
      if (attempt >= FETCH_ATTEMPTS) return [];
      onRetry();
      await new Promise((resolve) => setTimeout(resolve, FETCH_RETRY_BASE_MS * 2 ** (attempt - 1)));
    }
  }
}
