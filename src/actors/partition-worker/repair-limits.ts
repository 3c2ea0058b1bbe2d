/**
 * How much a worker asks the exchange for at once when it repairs a symbol. Without bounds a busy symbol's repair never
 * ends: REST fetches 1,000 aggTrades for 20 weight, so 80 % of 2,400 weight a minute fetches at most 1,600 trades a
 * second, and a symbol trading faster (BTCUSDT at its peaks) is never caught by a catch-up that pages to the latest
 * trade, while its frames wait behind it (found by the 30-minute soak on a slower machine: BTCUSDT held for 20 minutes,
 * none of its klines stored meanwhile).
 * - A catch-up (to the latest trade) asks for `catchUpIds` at a time. Frames that arrived meanwhile then bound what is
 *   left as an ordinary gap; with none, it goes on.
 * - A gap wider than `repairIds` is not fetched: it is accepted and reported unrepaired, so the klines it touches are
 *   rebuilt from the exchange's klines (exact, one request per interval). Fetching it would take longer than the
 *   symbol needs to open the next such gap.
 */
export interface RepairLimits {
  /** Ids one catch-up asks for (a listing's first fetch, from id 0, is not bounded: it has few). */
  readonly catchUpIds: number;
  /** Widest gap fetched trade by trade; wider ones are rebuilt from the exchange's klines. */
  readonly repairIds: number;
}

/** 10 pages (200 weight) a catch-up; 100 pages (2,000 weight, about a minute of the budget) a gap. */
export const DEFAULT_REPAIR_LIMITS: RepairLimits = { catchUpIds: 10_000, repairIds: 100_000 };
