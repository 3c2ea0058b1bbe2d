/**
 * The second half of trailing-gap detection: symbols that went quiet are checked against the exchange's own 1m klines
 * (REST, weight 1), because a lost connection can take a symbol's last trades *and* the kline events that would have
 * shown them. Checked once per quiet spell (after `quietAfterMs` without a new trade) and once after every reconnect
 * of its connection (unless it traded again, which reveals any gap by itself). The exchange having more trades in
 * klagg's last traded minute, or any in a later one, means trades are missing: the symbol is caught up over REST.
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
  /** The last check covered everything up to `changedAt` (no check needed until it trades again or reconnects). */
  verified: boolean;
  /** A reconnect asked for a check once this time has passed (−1: none). */
  reconnectCheckAt: number;
  inFlight: boolean;
}

export interface QuietSymbolCheckOptions {
  /** A symbol without a new trade for this long is checked once (default 10 s). */
  readonly quietAfterMs: number;
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
    this.#symbols.set(symbol, { minute: { openTime: minuteOpen, tradeCount: 0 }, changedAt: now, verified: false, reconnectCheckAt: -1, inFlight: false });
  }

  /** klagg's newest 1m kline of the symbol changed (a trade was applied). */
  onTraded(symbol: string, minute: TradedMinute, now: number): void {
    const state = this.#symbols.get(symbol);
    if (state === undefined) {
      this.#symbols.set(symbol, { minute, changedAt: now, verified: false, reconnectCheckAt: -1, inFlight: false });
      return;
    }
    if (minute.openTime < state.minute.openTime || (minute.openTime === state.minute.openTime && minute.tradeCount <= state.minute.tradeCount)) return;
    state.minute = minute;
    state.changedAt = now;
    state.verified = false;
    state.reconnectCheckAt = -1; // it traded again: its next trades reveal any gap
  }

  /** The symbols' connection was lost and is back: frames may be missing. */
  onReconnected(symbols: readonly string[], now: number): void {
    for (const symbol of symbols) {
      const state = this.#symbols.get(symbol);
      if (state !== undefined) state.reconnectCheckAt = now + this.#options.settleMs;
    }
  }

  /** Symbols to check now, with klagg's last traded minute each. */
  due(now: number): { symbol: string; minute: TradedMinute }[] {
    const due: { symbol: string; minute: TradedMinute }[] = [];
    for (const [symbol, state] of this.#symbols) {
      if (state.inFlight) continue;
      const afterReconnect = state.reconnectCheckAt >= 0 && now >= state.reconnectCheckAt;
      const quiet = !state.verified && now - state.changedAt >= this.#options.quietAfterMs;
      if (!afterReconnect && !quiet) continue;
      state.inFlight = true;
      state.reconnectCheckAt = -1;
      this.stats.checked++;
      due.push({ symbol, minute: state.minute });
    }
    return due;
  }

  /** The check's answer: `missing` when the exchange had more (the caller catches the symbol up). */
  checked(symbol: string, missing: boolean): void {
    const state = this.#symbols.get(symbol);
    if (state === undefined) return;
    state.inFlight = false;
    state.verified = true;
    if (missing) this.stats.found++;
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
