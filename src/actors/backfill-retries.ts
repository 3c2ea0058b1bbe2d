/**
 * A backfill whose symbols failed is run again for those symbols, after growing waits. A symbol fails when its store
 * or the exchange is out (a PostgreSQL outage during a start's backfill failed 154 of 300 symbols in the soak); left
 * to "the next run", the periods only the backfill fills — those a crash left unstored — stayed holes until the next
 * restart, while /health said the backfill was done.
 */
import type { BackfillSummary } from './kline-backfiller.ts';
import type { Logger } from '../infra/logger.ts';

export interface BackfillRetryOptions {
  /** The waits before each further round (one round per entry); default 5, 15, 30, 60, 120 s. */
  readonly delaysMs?: readonly number[];
  /** The exchange's time now: each round plans up to it. */
  readonly now: () => number;
  /** True once the service stops: no further round starts. */
  readonly stopped?: () => boolean;
  readonly logger: Logger;
  /** Waits `ms` (tests pass a quicker one); default a timer that does not hold the process open. */
  readonly sleep?: (ms: number) => Promise<void>;
}

type Symbols = readonly { readonly symbol: string; readonly listedAt: number }[];

const DEFAULT_DELAYS_MS = [5_000, 15_000, 30_000, 60_000, 120_000];

/** Runs `round` over `symbols`, then over the ones that failed, until none fails or the waits are spent. */
export async function backfillRetryingFailures(
  round: (symbols: Symbols, now: number) => Promise<BackfillSummary>,
  symbols: Symbols,
  now: number,
  options: BackfillRetryOptions,
): Promise<BackfillSummary> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref()));
  let summary = await round(symbols, now);
  for (const delay of options.delaysMs ?? DEFAULT_DELAYS_MS) {
    if (summary.symbolsFailed === 0 || options.stopped?.() === true) break;
    const failed = new Set(summary.failures.map((f) => f.symbol));
    options.logger.warn({ symbols: [...failed], inMs: delay }, 'backfill: retrying the symbols that failed');
    await sleep(delay);
    if (options.stopped?.() === true) break;
    summary = await round(
      symbols.filter((s) => failed.has(s.symbol)),
      options.now(),
    );
  }
  if (summary.symbolsFailed > 0) options.logger.error({ failed: summary.failures.map((f) => f.symbol) }, 'backfill: symbols still failing after every retry; their holes stay for the next run');
  return summary;
}
