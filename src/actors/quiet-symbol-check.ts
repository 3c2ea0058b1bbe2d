/**
 * The second half of trailing-gap detection: symbols that went quiet are checked against the exchange's own 1m klines
 * (REST, weight 1), because a lost connection can take a symbol's last trades *and* the kline events that would have
 * shown them. A symbol without a new trade for `quietAfterMs` is checked, then again after twice as long each time
 * nothing was missing (up to `maxRecheckMs`), so a long quiet spell costs a few checks, not one a second; every
 * symbol of a connection that was lost and came back is checked once the reconnect settled, unless it traded again
 * meanwhile. The exchange having more
 * trades in klagg's last traded minute, or any in a later one, means trades are missing: the symbol is caught up over
 * REST.
 *
 * Pure: elapsed time is passed in; the caller makes the REST calls.
 */
export interface TradedMinute {
  readonly openTime: number;
  readonly tradeCount: number;
}

interface QuietState {
  minute: TradedMinute;
  /** When klagg last saw the symbol trade (elapsed ms). */
  changedAt: number;
  /** When the next quiet check is due (elapsed ms), and the wait after that one if nothing is missing. */
  nextCheckAt: number;
  backoffMs: number;
  /** A reconnect asked for a check once this time has passed (−1: none). */
  reconnectCheckAt: number;
  /** When that reconnect happened (elapsed ms). */
  reconnectedAt: number;
  /** When a check last found trades missing (elapsed ms; −1: the last check found none missing). */
  foundAt: number;
  inFlight: boolean;
}

export interface QuietSymbolCheckOptions {
  /** A symbol without a new trade for this long is checked (default 10 s); then after 2×, 4×… that while quiet. */
  readonly quietAfterMs: number;
  /** The longest wait between two checks of a symbol that stays quiet (default 10 min). */
  readonly maxRecheckMs?: number;
  /** After a reconnect, wait this long for the stream to deliver before checking. */
  readonly settleMs: number;
}

export class QuietSymbolCheck {
  readonly stats = { checked: 0, found: 0 };
  readonly #options: QuietSymbolCheckOptions;
  readonly #symbols = new Map<string, QuietState>();

  constructor(options: QuietSymbolCheckOptions) {
    this.#options = options;
  }

  /**
   * The symbol's stream is subscribed: until its first trade arrives it counts as quiet since `minuteOpen` (no trade
   * known), so a symbol whose stream never delivers anything is checked too.
   */
  onSubscribed(symbol: string, minuteOpen: number, now: number): void {
    if (this.#symbols.has(symbol)) return;
    this.#symbols.set(symbol, this.#fresh({ openTime: minuteOpen, tradeCount: 0 }, now));
  }

  /** klagg's newest 1m kline of the symbol changed (a trade was applied). */
  onTraded(symbol: string, minute: TradedMinute, now: number): void {
    const state = this.#symbols.get(symbol);
    if (state === undefined) {
      this.#symbols.set(symbol, this.#fresh(minute, now));
      return;
    }
    if (minute.openTime < state.minute.openTime || (minute.openTime === state.minute.openTime && minute.tradeCount <= state.minute.tradeCount)) return;
    state.minute = minute;
    state.changedAt = now;
    state.nextCheckAt = now + this.#options.quietAfterMs;
    state.backoffMs = this.#options.quietAfterMs;
  }

  #fresh(minute: TradedMinute, now: number): QuietState {
    return { minute, changedAt: now, nextCheckAt: now + this.#options.quietAfterMs, backoffMs: this.#options.quietAfterMs, reconnectCheckAt: -1, reconnectedAt: -1, foundAt: -1, inFlight: false };
  }

  /** The symbols' connection was lost and is back: frames may be missing. */
  onReconnected(symbols: readonly string[], now: number): void {
    for (const symbol of symbols) {
      const state = this.#symbols.get(symbol);
      if (state === undefined) continue;
      state.reconnectCheckAt = now + this.#options.settleMs;
      state.reconnectedAt = now;
    }
  }

  /**
   * Symbols to check now, with klagg's last traded minute each. `lagMs`: the aggTrade streams' current lag, added to
   * every wait — a symbol whose trades are still on their way is not quiet, and the exchange's klines would show them
   * as missing (every symbol of a stalled stream was caught up over REST at each minute's end: found by the soak).
   */
  due(now: number, lagMs = 0): { symbol: string; minute: TradedMinute }[] {
    const due: { symbol: string; minute: TradedMinute }[] = [];
    for (const [symbol, state] of this.#symbols) {
      if (state.inFlight) continue;
      let afterReconnect = state.reconnectCheckAt >= 0 && now >= state.reconnectCheckAt + lagMs;
      if (afterReconnect && state.changedAt > state.reconnectedAt) {
        // It traded again since the reconnect: a trade the connection lost shows as a gap in the ids of the trades
        // that came after it (repaired as any gap), so no REST check is needed. Checking anyway would always find
        // "more" in the minute under way of an active symbol and catch every symbol of the connection up over REST (a
        // weight storm after each reconnect). Should the symbol go quiet right away, the quiet check still comes.
        state.reconnectCheckAt = -1;
        afterReconnect = false;
      }
      const quiet = now >= state.nextCheckAt + lagMs;
      if (!afterReconnect && !quiet) continue;
      state.inFlight = true;
      state.reconnectCheckAt = -1;
      this.stats.checked++;
      due.push({ symbol, minute: state.minute });
    }
    return due;
  }

  /** The check's answer: `missing` when the exchange had more (the caller catches the symbol up). */
  checked(symbol: string, missing: boolean, now: number): void {
    const state = this.#symbols.get(symbol);
    if (state === undefined) return;
    state.inFlight = false;
    if (missing) {
      this.stats.found++;
      // The catch-up's trades restart the quiet clock; if none come, look again soon. Found missing again with no trade
      // applied since, the exchange's klines count trades its REST does not give (yet): the waits grow as for a quiet
      // symbol, instead of a check and a catch-up (21 weight) every 10 s for good (found by the soak).
      const again = state.foundAt >= 0 && state.changedAt <= state.foundAt;
      state.backoffMs = again ? Math.min(state.backoffMs * 2, this.#options.maxRecheckMs ?? 600_000) : this.#options.quietAfterMs;
      state.nextCheckAt = now + state.backoffMs;
      state.foundAt = now;
      return;
    }
    state.foundAt = -1;
    state.backoffMs = Math.min(state.backoffMs * 2, this.#options.maxRecheckMs ?? 600_000);
    state.nextCheckAt = now + state.backoffMs;
  }

  /** The check could not be made (REST failed): try again on the next round. */
  failed(symbol: string): void {
    const state = this.#symbols.get(symbol);
    if (state !== undefined) state.inFlight = false;
  }

  forget(symbol: string): void {
    this.#symbols.delete(symbol);
  }
}

/** True when the exchange's 1m klines (from klagg's last traded minute on) hold trades klagg has not applied. */
export function exchangeHasMore(minute: TradedMinute, exchange: readonly { readonly openTime: number; readonly tradeCount: number }[]): boolean {
  return exchange.some((k) => (k.openTime === minute.openTime && k.tradeCount > minute.tradeCount) || (k.openTime > minute.openTime && k.tradeCount > 0));
}
