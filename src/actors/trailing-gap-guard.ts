/**
 * The TrailingGapGuard: finds a symbol's last trades lost on the stream before it went quiet — trades no later trade
 * reveals — and has them caught up over REST. It runs the two mechanisms (see docs/exactness.md):
 * - the exchange's `@kline_1m` last trade id ahead of what klagg applied for `confirmMs` (TrailingGapWatch);
 * - quiet symbols, and every symbol of a reconnected connection, checked against the exchange's 1m klines
 *   (QuietSymbolCheck; weight 1 per check).
 * It is fed what the service sees (exchange kline frames, published batches, subscriptions, reconnects) and acts only
 * through its two ports: `fetchMinuteKlines` and `catchUp`.
 */
import type { IntervalName } from '../domain/interval.ts';
import { openTimeOf } from '../domain/interval.ts';
import type { RestKline } from '../domain/exchange-api.ts';
import type { PublishedBatch } from '../domain/messages.ts';
import type { Logger } from '../infra/logger.ts';
import { exchangeHasMore, QuietSymbolCheck, type TradedMinute } from './quiet-symbol-check.ts';
import { readExchangeKline, TrailingGapWatch } from './trailing-gap-watch.ts';

export interface TrailingGapGuardOptions {
  /** How long the exchange's last trade id may stay ahead before a catch-up (default 2 000 ms). */
  readonly confirmMs?: number;
  /** A symbol without a trade this long is checked against the exchange's 1m klines (default 10 000 ms). */
  readonly quietAfterMs?: number;
  /** How often due checks run (default 500 ms). */
  readonly checkIntervalMs?: number;
  /** The finest aggregated interval (applied trade ids are read from its klines). */
  readonly finest: IntervalName;
  /** Real elapsed ms (monotonic): the waits span transport lag, not the exchange's clock (a replay runs at any speed). */
  readonly elapsed: () => number;
  /**
   * The aggTrade streams' current lag (ms, e.g. their p99 over the recent window): both checks wait it out on top of
   * their own waits, up to MAX_LAG_ALLOWANCE_MS. Default none.
   */
  readonly streamLagMs?: () => number;
  /** The exchange's time (a subscription's first minute). */
  readonly now: () => number;
  readonly logger: Logger;
  /** The exchange's 1m klines of a symbol from `startTime` (REST `/fapi/v1/klines`, 99 rows: weight 1). */
  fetchMinuteKlines(symbol: string, startTime: number): Promise<readonly RestKline[]>;
  /** Fetch the symbol's trades after klagg's position up to the exchange's latest. */
  catchUp(symbol: string): void;
}

/** A stream lagging longer than this is not waited out: its symbols are checked (the lag may be a lost connection). */
export const MAX_LAG_ALLOWANCE_MS = 30_000;

export class TrailingGapGuard {
  readonly watch: TrailingGapWatch;
  readonly quiet: QuietSymbolCheck;
  readonly #options: TrailingGapGuardOptions;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: TrailingGapGuardOptions) {
    this.#options = options;
    this.watch = new TrailingGapWatch({ confirmMs: options.confirmMs ?? 2_000, settleMs: 10_000 });
    this.quiet = new QuietSymbolCheck({ quietAfterMs: options.quietAfterMs ?? 10_000, settleMs: options.confirmMs ?? 2_000 });
  }

  start(): void {
    this.#timer ??= setInterval(() => this.#runDue(), this.#options.checkIntervalMs ?? 500);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** A `@kline_1m` frame from the exchange: its last trade id. */
  onExchangeKlineFrame(frame: Buffer): void {
    const kline = readExchangeKline(frame);
    if (kline !== undefined) this.watch.onExchangeKline(kline.symbol, kline.lastTradeId, this.#options.elapsed());
  }

  /** What klagg applied: the finest interval's klines of every publication. */
  onBatch(batch: PublishedBatch): void {
    const elapsed = this.#options.elapsed();
    for (const list of [batch.finals, batch.updates]) {
      for (const kline of list) {
        if (kline.interval !== this.#options.finest) continue;
        this.watch.onApplied(kline.symbol, kline.lastTradeId, elapsed);
        if (kline.tradeCount > 0 && kline.interval === '1m') this.quiet.onTraded(kline.symbol, { openTime: kline.openTime, tradeCount: kline.tradeCount }, elapsed);
      }
    }
  }

  onSubscribed(symbol: string): void {
    this.quiet.onSubscribed(symbol, openTimeOf('1m', this.#options.now()), this.#options.elapsed());
  }

  forget(symbol: string): void {
    this.watch.forget(symbol);
    this.quiet.forget(symbol);
  }

  /** A connection is open again: its symbols' last trades may have been lost with it. */
  onReconnected(streams: readonly string[]): void {
    const symbols = streams.filter((s) => s.endsWith('@aggTrade')).map((s) => s.slice(0, -'@aggTrade'.length).toUpperCase());
    this.quiet.onReconnected(symbols, this.#options.elapsed());
  }

  /** A catch-up could not ask the exchange: the watch must check again, not call it done. */
  onCatchUpFailed(symbol: string): void {
    this.watch.onCheckFailed(symbol, this.#options.elapsed());
  }

  #runDue(): void {
    const now = this.#options.elapsed();
    const lag = this.#options.streamLagMs?.() ?? 0;
    const allowance = Number.isFinite(lag) && lag > 0 ? Math.min(lag, MAX_LAG_ALLOWANCE_MS) : 0;
    const due = this.watch.due(now, allowance);
    if (due.length > 0) {
      // One line per round, not per symbol: a stream lagging behind the exchange's klines makes every symbol due at
      // once, and 300 lines in one go blocked the event loop on a full stderr pipe (found by the soak's loop lag).
      this.#options.logger.info({ symbols: due.length, first: due.slice(0, 20) }, 'the exchange reports trades klagg has not applied (a trailing gap?); catching up over REST');
      for (const symbol of due) this.#options.catchUp(symbol);
    }
    for (const { symbol, minute } of this.quiet.due(now, allowance)) void this.#checkQuiet(symbol, minute);
  }

  /** More trades in the exchange's 1m klines than klagg applied: the symbol is caught up over REST. */
  async #checkQuiet(symbol: string, minute: TradedMinute): Promise<void> {
    let missing: boolean;
    try {
      // 99 minutes from klagg's last traded one still weigh 1 (a trade lost after a longer quiet spell needs a trade
      // or a reconnect check closer to it).
      missing = exchangeHasMore(minute, await this.#options.fetchMinuteKlines(symbol, minute.openTime));
    } catch (error) {
      this.quiet.failed(symbol);
      this.#options.logger.warn({ err: error, symbol }, 'could not check a quiet symbol against the exchange; trying again');
      return;
    }
    this.quiet.checked(symbol, missing, this.#options.elapsed());
    if (!missing) return;
    this.#options.logger.info({ symbol }, 'the exchange has trades of a quiet symbol that klagg has not seen; catching up over REST');
    this.#options.catchUp(symbol);
  }
}
