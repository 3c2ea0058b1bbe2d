/**
 * Keeps a live kline feed monotone per (symbol, interval): a kline passes only when it is a newer version than
 * everything already passed for that key — a later period, or the same period's newer version (`isNewerVersion`).
 * Behind it, every re-emission a failover or a zombie owner makes (the same or older versions, replayed from a
 * checkpoint) is dropped, so no client ever sees a kline go backwards (scale-out.md §3.1 C). A final of an older
 * period than the newest passes only if it is newer than the last final passed for the key (a revision).
 */
import { isNewerVersion } from './kline-version.ts';
import type { Kline } from './kline.ts';

interface KeyState {
  latest: Kline;
  lastFinal: Kline | null;
}

const version = (kline: Kline) => ({ kline, revision: kline.revision ?? 0 });

export class MonotoneKlineFilter {
  readonly #keys = new Map<string, KeyState>();
  dropped = 0;

  /** Whether `kline` is new to the feed (and records it when it is). */
  accept(kline: Kline): boolean {
    const key = `${kline.symbol}\u0000${kline.interval}`;
    const state = this.#keys.get(key);
    if (state === undefined) {
      this.#keys.set(key, { latest: kline, lastFinal: kline.isFinal ? kline : null });
      return true;
    }
    let pass: boolean;
    if (kline.openTime > state.latest.openTime) pass = true;
    else if (kline.openTime === state.latest.openTime) pass = isNewerVersion(version(kline), version(state.latest));
    else {
      const last = state.lastFinal;
      pass = kline.isFinal && (last === null || kline.openTime > last.openTime || (kline.openTime === last.openTime && isNewerVersion(version(kline), version(last))));
    }
    if (!pass) {
      this.dropped++;
      return false;
    }
    if (kline.openTime >= state.latest.openTime) state.latest = kline;
    if (kline.isFinal && (state.lastFinal === null || kline.openTime >= state.lastFinal.openTime)) state.lastFinal = kline;
    return true;
  }
}
