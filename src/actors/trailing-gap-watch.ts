/**
 * Trailing gaps: a symbol's last trades lost on the stream just before it went quiet. No later aggTrade comes to
 * reveal the gap, so it is found by comparing the exchange's own last trade id with the last one klagg applied.
 *
 * The exchange's side comes from its `<symbol>@kline_1m` stream: every kline event carries `L`, the last raw trade id
 * in the kline, pushed every 250 ms while the symbol trades and at the minute's close — independently of the aggTrade
 * stream. klagg's side is the `lastTradeId` of the symbol's newest kline in the Gateway's batches. When the exchange's
 * id stays ahead of klagg's for `confirmMs` (longer than the aggTrade stream's lag behind the kline stream), the symbol
 * is caught up over REST (`aggTrades?fromId=` from its position; weight 20). Insurance-fund and ADL trades take raw
 * trade ids but are never aggregated, so the exchange's id can stay ahead for good: one check per such id value, then
 * it counts as explained (a false alarm costs one REST request, never a loop).
 *
 * Pure: time is passed in; the caller owns the timer and the REST call.
 */
export interface TrailingGapStats {
  /** Catch-ups started because the exchange's last trade id stayed ahead. */
  suspected: number;
  /** Of those, how many found missing trades (klagg's id reached the exchange's). */
  found: number;
  /** Checked, nothing missing (ids taken by trades that are never aggregated). */
  falseAlarms: number;
  /** From the exchange first showing the missing trades to klagg holding them, for the last gap found (ms). */
  lastDetectionMs: number;
}

export interface SymbolWatch {
  /** The exchange's last raw trade id (kline stream) and klagg's last applied one. */
  exchangeLast: number;
  appliedLast: number;
  /**
   * A probe: an exchange id seen at `probeAt` that klagg must reach within `confirmMs`. One probe at a time, so a busy
   * symbol whose exchange id is always a little ahead (the streams' own lag) never looks like a gap: each probe is
   * reached in time and a new one is armed.
   */
  probeId: number;
  probeAt: number;
  /** The id a REST check was made for (never twice for the same id), when, and when the gap was first seen. */
  checkedFor: number;
  checkedAt: number;
  suspectedAt: number;
}

export interface TrailingGapWatchOptions {
  /** How long klagg may take to reach an id the exchange showed before a REST check (covers the aggTrade stream's lag). */
  readonly confirmMs: number;
  /** After a check, how long to wait for the fetched trades to show before calling it a false alarm. */
  readonly settleMs: number;
}

export class TrailingGapWatch {
  readonly stats: TrailingGapStats = { suspected: 0, found: 0, falseAlarms: 0, lastDetectionMs: 0 };
  readonly #options: TrailingGapWatchOptions;
  readonly #symbols = new Map<string, SymbolWatch>();

  constructor(options: TrailingGapWatchOptions) {
    this.#options = options;
  }

  /** The exchange's kline stream reported `lastTradeId` for the symbol (−1: a minute without trades). */
  onExchangeKline(symbol: string, lastTradeId: number, now: number): void {
    if (lastTradeId < 0) return;
    const watch = this.#watch(symbol);
    if (lastTradeId <= watch.exchangeLast) return;
    watch.exchangeLast = lastTradeId;
    this.#arm(watch, now);
  }

  /** klagg applied trades of the symbol up to raw trade id `lastTradeId`. */
  onApplied(symbol: string, lastTradeId: number, now: number): void {
    if (lastTradeId < 0) return;
    const watch = this.#watch(symbol);
    if (lastTradeId <= watch.appliedLast) return;
    watch.appliedLast = lastTradeId;
    // Still short of the probe, but the symbol's trades are coming: the stream lags, it has not stopped. A trailing gap
    // is trades lost before the stream goes quiet, so the wait restarts from the last progress (a lagging busy symbol
    // was caught up over REST every `confirmMs`: a weight storm, found by the 30-minute soak).
    if (watch.probeId >= 0 && lastTradeId < watch.probeId) watch.probeAt = now;
    if (watch.checkedFor >= 0 && watch.checkedAt >= 0 && lastTradeId >= watch.checkedFor) {
      this.stats.found++;
      this.stats.lastDetectionMs = now - watch.suspectedAt;
      watch.checkedAt = -1;
    }
    if (watch.probeId >= 0 && lastTradeId >= watch.probeId) watch.probeId = -1;
    this.#arm(watch, now);
  }

  /** The REST check for the symbol failed (the exchange could not be asked): check again after `confirmMs`. */
  onCheckFailed(symbol: string, now: number): void {
    const watch = this.#watch(symbol);
    watch.checkedFor = -1;
    watch.checkedAt = -1;
    watch.probeId = -1;
    this.#arm(watch, now);
  }

  /**
   * Symbols to catch up now; call a few times a second. `lagMs`: the aggTrade streams' current lag, waited out on
   * top of `confirmMs` (the exchange's kline stream runs ahead of a lagging aggTrade stream by that much).
   */
  due(now: number, lagMs = 0): string[] {
    const due: string[] = [];
    for (const [symbol, watch] of this.#symbols) {
      if (watch.checkedFor >= 0 && watch.checkedAt >= 0 && now - watch.checkedAt >= this.#options.settleMs) {
        // Checked, and klagg never reached that id: the ids were taken by trades that are never aggregated.
        this.stats.falseAlarms++;
        watch.checkedAt = -1;
      }
      if (watch.probeId < 0 || now - watch.probeAt < this.#options.confirmMs + lagMs) continue;
      const id = watch.probeId;
      watch.probeId = -1;
      if (watch.appliedLast >= id || watch.checkedFor >= id) continue;
      watch.checkedFor = watch.exchangeLast;
      watch.checkedAt = now;
      watch.suspectedAt = watch.probeAt;
      this.stats.suspected++;
      due.push(symbol);
    }
    return due;
  }

  /** What the watch knows of a symbol (diagnostics). */
  inspect(symbol: string): Readonly<SymbolWatch> | undefined {
    const watch = this.#symbols.get(symbol);
    return watch === undefined ? undefined : { ...watch };
  }

  /** Forgets a symbol (deactivated). */
  forget(symbol: string): void {
    this.#symbols.delete(symbol);
  }

  #arm(watch: SymbolWatch, now: number): void {
    if (watch.probeId >= 0 || watch.exchangeLast <= watch.appliedLast || watch.exchangeLast <= watch.checkedFor) return;
    watch.probeId = watch.exchangeLast;
    watch.probeAt = now;
  }

  #watch(symbol: string): SymbolWatch {
    let watch = this.#symbols.get(symbol);
    if (watch === undefined) {
      watch = { exchangeLast: -1, appliedLast: -1, probeId: -1, probeAt: -1, checkedFor: -1, checkedAt: -1, suspectedAt: -1 };
      this.#symbols.set(symbol, watch);
    }
    return watch;
  }
}

const KLINE_MARKER = Buffer.from('@kline_');

/** True for a combined-stream kline frame of the exchange (`{"stream":"btcusdt@kline_1m",…}`). */
export function isExchangeKlineFrame(frame: Buffer): boolean {
  const end = Math.min(frame.length, 64);
  return frame.subarray(0, end).indexOf(KLINE_MARKER) > 0;
}

/** The symbol and last trade id `L` of an exchange kline frame, or undefined when it is not one. */
export function readExchangeKline(frame: Buffer): { symbol: string; lastTradeId: number } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(frame.toString('utf8'));
  } catch {
    return undefined;
  }
  // Any JSON may arrive here (the frame only mentioned `@kline_`): every level is checked to be an object first.
  const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;
  const data = isObject(parsed) ? parsed['data'] : undefined;
  const k = isObject(data) ? data['k'] : undefined;
  if (!isObject(data) || data['e'] !== 'kline' || !isObject(k) || typeof k['s'] !== 'string' || typeof k['L'] !== 'number' || !Number.isSafeInteger(k['L'])) return undefined;
  return { symbol: k['s'], lastTradeId: k['L'] };
}
