/**
 * `klagg ingest` against the exchange: aggTrade frames from the market streams into the trade log, each symbol's ids
 * contiguous *before* they are published (scale-out.md §2.2). A frame beyond `last + 1` holds the symbol: its later
 * frames wait while the missing ids are fetched over REST and published in order, then the held frames follow (which
 * may reveal the next gap). Ids the exchange no longer has are skipped, counted and logged; the aggregators then see
 * the hole, count it and say so on /health — never silent. Where a symbol's history in the log ends is read from the
 * log itself at the start (the last message of its subject), so a restarted or second ingest continues without a gap.
 *
 * Time goes into the log as watermarks: the latest trade time seen, or — when the market is quiet — the exchange's
 * clock less an allowance for the stream's lag; never past a symbol still being repaired (its missing trades would
 * otherwise land in periods already final).
 */
import { AggTradeParser } from '../../domain/agg-trade-parser.ts';
import type { AggTrade } from '../../domain/agg-trade.ts';
import { aggTradeFrame } from '../../domain/cluster-messages.ts';
import type { SymbolScales } from '../../domain/kline-engine.ts';
import type { Clock } from '../../infra/clock.ts';
import type { Logger } from '../../infra/logger.ts';
import type { TradeLogPublisher } from '../../infra/nats/trade-log-publisher.ts';
import { openTimeOf } from '../../domain/interval.ts';
import { exchangeHasMore, QuietSymbolCheck, type TradedMinute } from '../quiet-symbol-check.ts';

export interface ExchangeIngestOptions {
  readonly publisher: TradeLogPublisher;
  /** REST: the trades with ids fromId…toId (as many as the exchange still has). */
  readonly fetchTrades: (symbol: string, fromId: number, toId: number) => Promise<readonly AggTrade[]>;
  /** The exchange's latest trade id for a symbol (a catch-up's end), or undefined when it has none. */
  readonly latestId: (symbol: string) => Promise<number | undefined>;
  /** The last id of a symbol already in the trade log (a previous or a second ingest), if any. */
  readonly lastPublished: (symbol: string) => Promise<number | undefined>;
  /** The exchange's clock (local time plus the measured offset). */
  readonly clock: Clock;
  readonly watermarkMs: number;
  /** How far behind the exchange's clock a quiet market's watermark stays, at least. */
  readonly quietLagMs: number;
  /** The streams' recent p99 lag: a lagging stream holds the watermark back by as much. */
  readonly streamLagMs: () => number;
  /** REST (weight 1): the exchange's 1m klines from `startTime` on — what the quiet check compares with. */
  readonly minuteKlines: (symbol: string, startTime: number) => Promise<readonly { readonly openTime: number; readonly tradeCount: number }[]>;
  /** A symbol without a trade for this long is checked against the exchange's klines (then 2×, 4×… as long). */
  readonly quietAfterMs: number;
  /** Real elapsed ms (quiet spells), whatever the exchange's clock does. */
  readonly elapsed: () => number;
  readonly logger: Logger;
}

export interface ExchangeIngestStats {
  frames: number;
  published: number;
  duplicates: number;
  repairs: number;
  repairedTrades: number;
  /** Ids the exchange could not give any more (skipped; the aggregators count the hole too). */
  unrepairedTrades: number;
  rejected: number;
  watermark: number;
  /** Quiet checks made, and those that found trades the stream never delivered (then fetched). */
  quietChecks: number;
  quietFound: number;
}

interface SymbolState {
  readonly symbol: string;
  readonly scales: SymbolScales;
  /** Last id published (queued to the log); −1 while unknown. */
  last: number;
  lastTime: number;
  /** Frames waiting while a repair runs (null: not held). */
  held: Buffer[] | null;
  /** The symbol's last traded minute and its raw trades so far (the quiet check's reference). */
  minute: { openTime: number; tradeCount: number };
}

const MAX_WATERMARK_LAG_MS = 10_000;

export class ExchangeIngest {
  readonly stats: ExchangeIngestStats = { frames: 0, published: 0, duplicates: 0, repairs: 0, repairedTrades: 0, unrepairedTrades: 0, rejected: 0, watermark: 0, quietChecks: 0, quietFound: 0 };
  readonly #o: ExchangeIngestOptions;
  readonly #parser = new AggTradeParser();
  readonly #symbols = new Map<string, SymbolState>();
  #maxTradeTime = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | null = null;
  #quietTimer: NodeJS.Timeout | null = null;
  #watermarking: Promise<void> | null = null;
  /**
   * Trailing gaps (scale-out.md §2.2, `klagg run`'s TrailingGapGuard): a symbol's last trades lost by the stream just
   * before it went quiet are revealed by no later trade. Quiet symbols are checked against the exchange's 1m klines.
   */
  readonly #quiet: QuietSymbolCheck;

  constructor(options: ExchangeIngestOptions) {
    this.#o = options;
    this.#quiet = new QuietSymbolCheck({ quietAfterMs: options.quietAfterMs, settleMs: 2_000 });
  }

  /** Registers a symbol: its trades are published from here on, continuing where the log's history of it ends. */
  async addSymbol(symbol: string, scales: SymbolScales): Promise<void> {
    const last = await this.#o.lastPublished(symbol).catch(() => undefined);
    const minute = openTimeOf('1m', this.#o.clock.now());
    this.#symbols.set(symbol, { symbol, scales, last: last ?? -1, lastTime: Number.NEGATIVE_INFINITY, held: null, minute: { openTime: minute, tradeCount: 0 } });
    this.#quiet.onSubscribed(symbol, minute, this.#o.elapsed());
  }

  get symbols(): string[] {
    return [...this.#symbols.keys()];
  }

  /**
   * Starts the watermarks, and catches up every symbol the log already has a history of: the trades the exchange
   * made while no ingest published them (a restart) are fetched now — for a symbol that went quiet meanwhile, no later
   * trade would ever reveal them. Call it once the streams are subscribed (frames arriving meanwhile wait).
   */
  start(): void {
    this.#timer = setInterval(() => this.#watermark(), this.#o.watermarkMs);
    this.#quietTimer = setInterval(() => this.#checkQuiet(), 1000);
    this.onReconnected([...this.#symbols.values()].filter((state) => state.last >= 0).map((state) => state.symbol));
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#quietTimer) clearInterval(this.#quietTimer);
    this.#timer = null;
    this.#quietTimer = null;
    await this.#watermarking;
  }

  /** One frame from the market streams (plain or combined-stream wrapped). */
  onFrame(frame: Buffer): void {
    if (!this.#parser.parse(frame)) {
      this.stats.rejected++;
      return;
    }
    this.stats.frames++;
    const t = this.#parser.trade;
    const state = this.#symbols.get(frame.subarray(t.symbolStart, t.symbolEnd).toString('latin1'));
    if (state === undefined) return;
    this.#offer(state, frame, t.aggId, t.tradeTime, t.lastTradeId - t.firstTradeId + 1);
  }

  /** A connection was lost and is back (or the ingest restarted): its symbols' trades may be missing with nothing later to reveal it. */
  onReconnected(symbols: readonly string[]): void {
    this.#quiet.onReconnected(symbols, this.#o.elapsed());
    for (const symbol of symbols) {
      const state = this.#symbols.get(symbol);
      if (state === undefined || state.held !== null || state.last < 0) continue;
      void this.#o
        .latestId(symbol)
        .then((latest) => {
          if (latest !== undefined && latest > state.last && state.held === null) this.#repair(state, state.last + 1, latest, null);
        })
        .catch((error: unknown) => this.#o.logger.warn({ symbol, err: (error as Error)?.message }, 'catch-up after a reconnect failed'));
    }
  }

  #offer(state: SymbolState, frame: Buffer, aggId: number, tradeTime: number, rawTrades: number): void {
    if (state.held !== null) {
      state.held.push(frame);
      return;
    }
    if (state.last >= 0 && aggId <= state.last) {
      this.stats.duplicates++;
      return;
    }
    if (state.last >= 0 && aggId > state.last + 1) {
      this.#repair(state, state.last + 1, aggId - 1, frame);
      return;
    }
    this.#publish(state, frame, aggId, tradeTime, rawTrades);
  }

  #publish(state: SymbolState, frame: Buffer, aggId: number, tradeTime: number, rawTrades: number): void {
    // The first trade of a symbol the log has no history of: its periods began before it (a join mid-period).
    this.#o.publisher.enqueue(state.symbol, state.scales, aggId, frame, state.last < 0);
    state.last = aggId;
    state.lastTime = tradeTime;
    if (tradeTime > this.#maxTradeTime) this.#maxTradeTime = tradeTime;
    this.stats.published++;
    const minute = openTimeOf('1m', tradeTime);
    if (minute > state.minute.openTime) state.minute = { openTime: minute, tradeCount: 0 };
    if (minute === state.minute.openTime) {
      state.minute.tradeCount += rawTrades;
      this.#quiet.onTraded(state.symbol, { ...state.minute }, this.#o.elapsed());
    }
  }

  /** Quiet symbols due for a check: the exchange's klines from their last traded minute on say whether trades are missing. */
  #checkQuiet(): void {
    const o = this.#o;
    for (const { symbol, minute } of this.#quiet.due(o.elapsed())) {
      const state = this.#symbols.get(symbol);
      if (state === undefined) continue;
      this.stats.quietChecks++;
      void o
        .minuteKlines(symbol, minute.openTime)
        .then((klines) => {
          const missing = exchangeHasMore(minute as TradedMinute, klines);
          this.#quiet.checked(symbol, missing, o.elapsed());
          if (!missing) return;
          this.stats.quietFound++;
          o.logger.warn({ symbol, minute: minute.openTime, known: minute.tradeCount }, 'a quiet symbol has trades the stream never delivered: fetching them');
          this.onReconnected([symbol]);
        })
        .catch(() => this.#quiet.failed(symbol));
    }
  }

  #repair(state: SymbolState, fromId: number, toId: number, frame: Buffer | null): void {
    state.held = frame === null ? [] : [frame];
    this.stats.repairs++;
    void this.#o
      .fetchTrades(state.symbol, fromId, toId)
      .catch((error: unknown) => {
        this.#o.logger.warn({ symbol: state.symbol, fromId, toId, err: (error as Error)?.message }, 'fetching missing trades failed');
        return [] as readonly AggTrade[];
      })
      .then((trades) => {
        for (const trade of trades) {
          if (trade.aggId !== state.last + 1 || trade.aggId > toId) continue;
          this.#publish(state, aggTradeFrame(state.symbol, trade), trade.aggId, trade.tradeTime, trade.lastTradeId - trade.firstTradeId + 1);
          this.stats.repairedTrades++;
        }
        if (frame !== null && state.last < toId) {
          // The exchange no longer has them: skip, loudly; the aggregators count the hole as well.
          this.stats.unrepairedTrades += toId - state.last;
          this.#o.logger.error({ symbol: state.symbol, fromId: state.last + 1, toId }, 'trades missing from the stream could not be fetched: skipped (their klines lack them)');
          state.last = toId;
        }
        const held = state.held ?? [];
        state.held = null;
        for (const f of held) {
          if (!this.#parser.parse(f)) continue;
          const t = this.#parser.trade;
          this.#offer(state, f, t.aggId, t.tradeTime, t.lastTradeId - t.firstTradeId + 1);
        }
      });
  }

  #watermark(): void {
    if (this.#watermarking !== null) return;
    const o = this.#o;
    const allowance = Math.min(MAX_WATERMARK_LAG_MS, Math.max(o.quietLagMs, o.streamLagMs() + 250));
    let wm = Math.max(this.#maxTradeTime, o.clock.now() - allowance);
    // Never past a symbol under repair: its missing trades are older than anything after them.
    for (const state of this.#symbols.values()) if (state.held !== null && Number.isFinite(state.lastTime)) wm = Math.min(wm, state.lastTime);
    if (!(wm > this.stats.watermark)) return;
    this.#watermarking = o.publisher
      .whenAcked()
      .then(() => o.publisher.publishWatermark(wm))
      .then(() => void (this.stats.watermark = wm))
      .catch((error: unknown) => o.logger.warn({ err: (error as Error)?.message }, 'watermark not published'))
      .finally(() => (this.#watermarking = null));
  }
}
