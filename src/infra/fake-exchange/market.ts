/**
 * The fake exchange's market: per symbol, its exchangeInfo entry and the trades published so far (in `a` order),
 * fed from a recording (played at a speed, or as fast as the consumers take them) or from a generated market with
 * listings and delistings. Publishing is driven by the injected Scheduler; tests can also publish by hand.
 *
 * Every published trade goes, once and in publishing order, to the trade listeners (the WebSocket side), to the
 * kline book (REST klines and the kline streams) and to the symbol's rolling ticker.
 *
 * `quiet(symbol, ms)` (the `withholdTail` fault) defers a symbol's later trades: see DeferringFeed.
 *
 * Its parts live beside it: the listed symbols and their status timeline in listed-symbols.ts, the timers that
 * publish on their own in publishing-pump.ts, and the plans of each source in recording-source.ts and
 * generated-source.ts.
 */
import type { AggTrade } from '../../domain/agg-trade.ts';
import type { IntervalName } from '../../domain/interval.ts';
import type { Kline } from '../../domain/kline.ts';
import type { Logger } from '../logger.ts';
import { DeferringFeed } from './deferring-feed.ts';
import { planGeneratedMarket, type GeneratedSource, type StatusEvent, type TradeFeed } from './generated-source.ts';
import { KlineBook, type KlineQuery } from './kline-book.ts';
import { ListedSymbols, type TradingSpan } from './listed-symbols.ts';
import { PublishingPump, type PublishMode } from './publishing-pump.ts';
import { planRecordedMarket } from './recording-source.ts';
import type { Scheduler } from './scheduler.ts';
import type { SymbolInfo, SymbolStatus } from './symbol-info.ts';
import type { TickerStats } from './ticker.ts';
import { TradeLog, type TradeLogView } from './trade-log.ts';
import { KlaggError } from '../../domain/errors.ts';

export type { GeneratedSource, ListingSpec, DelistingSpec } from './generated-source.ts';
export type { SymbolInfo, SymbolStatus } from './symbol-info.ts';
export type { KlineQuery } from './kline-book.ts';
export type { TickerStats } from './ticker.ts';

export interface RecordingSource {
  readonly kind: 'recording';
  /** One aggTrade frame per line (plain or combined-stream wrapped), optionally `<receiveTimeMs>\t<frame>`. */
  readonly path: string;
  /** Recorded (trade) time ÷ speed, or 'max': as fast as the consumers take them. Default 1. */
  readonly speed?: number | 'max';
}

export type MarketSource = RecordingSource | GeneratedSource;

export interface MarketOptions {
  readonly scheduler: Scheduler;
  readonly logger?: Logger;
}

/** `eventTime` is the exchange's time at publishing (≥ the trade time): the `E` of the stream event. */
export type TradeListener = (trade: AggTrade, eventTime: number) => void;
export type StatusListener = (info: SymbolInfo, previous: SymbolStatus | undefined) => void;

export interface MarketCounters {
  /** Trades published. */
  published: number;
  /** Generated trades not published because their symbol was not TRADING at their time. */
  notTrading: number;
  /** Recording lines that were not aggTrade frames, and recorded trades dropped as duplicates. */
  skippedLines: number;
  duplicates: number;
}

export class Market {
  readonly kind: 'recording' | 'generated';
  /** Replay speed (1 for a generated market). */
  readonly speed: number | 'max';
  readonly counters: MarketCounters;
  /** Resolves when a finite source has published its last trade (never for an unlimited generated market). */
  readonly done: Promise<void>;

  readonly #scheduler: Scheduler;
  readonly #logger: Logger | undefined;
  readonly #mode: PublishMode;
  readonly #feed: DeferringFeed;
  readonly #symbols: ListedSymbols;
  readonly #pump: PublishingPump;
  readonly #klines = new KlineBook();
  readonly #tradeListeners = new Set<TradeListener>();
  readonly #statusListeners = new Set<StatusListener>();
  /** Market time of the first trade (recording) or the start (generated). */
  readonly #origin: number;
  #lastDue = Number.NEGATIVE_INFINITY;
  #wallStart: number | undefined;
  #isDone = false;
  #shown: ((symbol: string) => number) | undefined;
  #resolveDone: () => void = () => {};
  readonly #unlimited: boolean;

  private constructor(init: {
    kind: 'recording' | 'generated';
    speed: number | 'max';
    mode: PublishMode;
    feed: TradeFeed;
    origin: number;
    symbols: readonly SymbolInfo[];
    events: StatusEvent[];
    spans: Map<string, TradingSpan>;
    counters: MarketCounters;
    unlimited: boolean;
    options: MarketOptions;
  }) {
    this.#unlimited = init.unlimited;
    this.kind = init.kind;
    this.speed = init.speed;
    this.#mode = init.mode;
    this.#feed = new DeferringFeed(init.feed);
    this.#origin = init.origin;
    this.counters = init.counters;
    this.#scheduler = init.options.scheduler;
    this.#logger = init.options.logger;
    this.#symbols = new ListedSymbols(
      init.events,
      init.spans,
      (info) => this.#klines.addSymbol(info.symbol, { priceScale: info.priceScale, qtyScale: info.qtyScale }),
      (event, info, previous) => {
        this.#logger?.info({ symbol: event.symbol, status: event.status, previous }, 'fake exchange: symbol status changed');
        for (const listener of this.#statusListeners) listener(info, previous);
      },
    );
    this.#pump = new PublishingPump(this.#scheduler, this.#mode, {
      publishDue: () => this.publishDue(),
      publishOne: () => this.#publishOne(),
      wallDelayToNext: () => this.#wallDelayToNext(),
    });
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
    for (const info of init.symbols) this.#symbols.list(info);
    this.#symbols.apply(this.now());
    this.#checkDone();
  }

  static async create(source: MarketSource, options: MarketOptions): Promise<Market> {
    const counters: MarketCounters = { published: 0, notTrading: 0, skippedLines: 0, duplicates: 0 };
    if (source.kind === 'recording') {
      const recorded = await planRecordedMarket(source);
      counters.skippedLines = recorded.skippedLines;
      counters.duplicates = recorded.duplicates;
      return new Market({
        kind: 'recording',
        speed: recorded.speed,
        mode: recorded.speed === 'max' ? 'max' : 'timed',
        feed: recorded.feed,
        origin: recorded.firstTradeTime ?? options.scheduler.now(),
        symbols: recorded.symbols,
        events: [],
        spans: recorded.spans,
        counters,
        unlimited: false,
        options,
      });
    }
    const plan = planGeneratedMarket(source, options.scheduler.now());
    return new Market({
      kind: 'generated',
      speed: 1,
      mode: 'timed',
      feed: plan.feed,
      origin: plan.startTime,
      symbols: plan.initial,
      events: plan.events,
      spans: plan.tradingSpans,
      counters,
      unlimited: source.trades === undefined,
      options,
    });
  }

  // ---- reading ---------------------------------------------------------------------------------------------------

  /**
   * The exchange's time: for a generated market the clock's; for a recording the recorded time reached (played on
   * from `start()` at `speed`; the last published trade's time at speed 'max' and before `start()`).
   */
  now(): number {
    let time: number;
    if (this.kind === 'generated') time = this.#scheduler.now();
    else if (this.#mode === 'timed' && this.#wallStart !== undefined) time = this.#origin + (this.#scheduler.now() - this.#wallStart) * (this.speed as number);
    else time = this.#origin;
    return Math.max(time, this.#lastDue);
  }

  get isDone(): boolean {
    return this.#isDone;
  }

  get published(): number {
    return this.counters.published;
  }

  /** Every listed symbol (listings once they have appeared), in listing order, with its current status. */
  symbols(): SymbolInfo[] {
    this.#symbols.apply(this.now());
    return this.#symbols.infos();
  }

  symbol(name: string): SymbolInfo | undefined {
    this.#symbols.apply(this.now());
    return this.#symbols.book(name)?.info;
  }

  /** The symbol's published trades, in `a` order: a copy made now (for tests and small markets; see `tradeLog`). */
  trades(symbol: string): readonly AggTrade[] {
    return this.#symbols.book(symbol)?.trades.slice() ?? [];
  }

  /** The symbol's published trades as they are kept (compact, read in place); empty for an unknown symbol. */
  tradeLog(symbol: string): TradeLogView {
    return this.#symbols.book(symbol)?.trades ?? EMPTY_LOG;
  }

  /**
   * Binance-style klines from the published trades (see KlineBook.query). With `setShown`, none after the period of
   * the last trade shown (that period's kline holds all of its published trades).
   */
  klines(symbol: string, interval: IntervalName, query: KlineQuery): Kline[] {
    const book = this.#symbols.book(symbol);
    if (book === undefined) return [];
    if (this.#shown !== undefined) {
      const shown = this.shownCount(symbol);
      if (shown === 0) return [];
      query = { ...query, endTime: Math.min(query.endTime ?? Number.POSITIVE_INFINITY, book.trades.timeAt(shown - 1)) };
    }
    return this.#klines.query(symbol, interval, query, Math.min(this.now(), book.until));
  }

  /**
   * The blast mode (see ws-blast.ts): of each symbol's published trades, REST shows only the first `shown(symbol)`
   * (those its stream has sent); undefined: all.
   */
  setShown(shown: ((symbol: string) => number) | undefined): void {
    this.#shown = shown;
  }

  /** How many of the symbol's published trades the exchange shows over REST (all, unless `setShown` limits it). */
  shownCount(symbol: string): number {
    const published = this.tradeLog(symbol).length;
    return this.#shown === undefined ? published : Math.min(published, this.#shown(symbol));
  }

  /** Rolling 24 h statistics at the exchange's time; undefined while the symbol has not traded. */
  ticker(symbol: string): TickerStats | undefined {
    return this.#symbols.book(symbol)?.ticker.stats(this.now());
  }

  /** Whether the symbol is listed (now). */
  hasSymbol(name: string): boolean {
    return this.symbol(name) !== undefined;
  }

  /**
   * The symbol publishes nothing for `ms` from the exchange's current time: its next trade is deferred to then, and
   * every later one keeps its spacing after it. Deferred trades carry their new publication time as trade time (ids
   * unchanged), so REST, klines and streams agree.
   */
  quiet(symbol: string, ms: number): void {
    this.#feed.quiet(symbol, this.now() + ms);
    this.#logger?.info({ symbol, ms }, 'fake exchange: symbol goes quiet');
  }

  onTrade(listener: TradeListener): () => void {
    this.#tradeListeners.add(listener);
    return () => this.#tradeListeners.delete(listener);
  }

  onStatus(listener: StatusListener): () => void {
    this.#statusListeners.add(listener);
    return () => this.#statusListeners.delete(listener);
  }

  /** At speed 'max', publishing pauses while this returns true (consumers are behind). */
  setBackpressure(check: () => boolean): void {
    this.#pump.setBackpressure(check);
  }

  // ---- publishing ------------------------------------------------------------------------------------------------

  /** Whether it publishes on its own. */
  get started(): boolean {
    return this.#pump.running;
  }

  /**
   * Starts publishing on its own: on the clock, or at speed 'max' as fast as the consumers take it (no-op when
   * started). Before it (and after `stop()`), trades are published only by `publishNext`, `publishDue`, `publishAll`.
   */
  start(): void {
    if (this.#pump.running) return;
    this.#wallStart ??= this.#scheduler.now();
    this.#pump.start();
  }

  /** Stops publishing on its own and cancels every timer. */
  stop(): void {
    this.#pump.stop();
  }

  /** Publishes the next `count` trades (fewer when the source ends), whatever their time; returns how many. */
  publishNext(count = 1): number {
    let published = 0;
    while (published < count && this.#publishOne()) published++;
    return published;
  }

  /** Publishes every trade due by the exchange's time. */
  publishDue(): number {
    const now = this.now();
    this.#symbols.apply(now);
    let published = 0;
    for (let next = this.#feed.peek(); next !== undefined && Math.max(this.#lastDue, next.tradeTime) <= now; next = this.#feed.peek()) {
      if (this.#publishOne()) published++;
    }
    return published;
  }

  /** Publishes everything left of a finite source at once; throws for an unlimited generated market. */
  publishAll(): number {
    if (this.#unlimited) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: 'publishAll: the generated market is unlimited (give it `trades`)' });
    let published = 0;
    while (this.#publishOne()) published++;
    return published;
  }

  /** Before a read: when publishing on time, publish what is already due so the answer is current. */
  sync(): void {
    if (this.#pump.running && this.#mode === 'timed') this.publishDue();
    else this.#symbols.apply(this.now());
  }

  /** Publishes (or, outside its symbol's trading span, drops) the next trade; false when the source is exhausted. */
  #publishOne(): boolean {
    for (;;) {
      const trade = this.#feed.take();
      if (trade === undefined) {
        this.#checkDone();
        return false;
      }
      const due = Math.max(this.#lastDue, trade.tradeTime);
      this.#symbols.apply(due);
      this.#lastDue = due;
      const book = this.#symbols.book(trade.symbol);
      const span = this.#symbols.span(trade.symbol);
      if (book === undefined || span === undefined || due < span.from || due >= span.until) {
        this.counters.notTrading++;
        continue;
      }
      book.trades.push(trade);
      book.ticker.added(trade);
      this.#klines.add(trade);
      this.counters.published++;
      const eventTime = Math.max(trade.tradeTime, this.now());
      for (const listener of this.#tradeListeners) listener(trade, eventTime);
      if (this.#feed.peek() === undefined) this.#checkDone();
      return true;
    }
  }

  #checkDone(): void {
    if (this.#isDone || this.#feed.peek() !== undefined) return;
    this.#isDone = true;
    this.#logger?.info({ published: this.counters.published }, 'fake exchange: the market source is exhausted');
    this.#resolveDone();
  }

  /** Wall-clock ms until the next trade or status change is due (see PumpedMarket); undefined when none is left. */
  #wallDelayToNext(): number | undefined {
    const now = this.now();
    let nextAt = Number.POSITIVE_INFINITY;
    const next = this.#feed.peek();
    if (next !== undefined) nextAt = Math.max(this.#lastDue, next.tradeTime);
    const eventAt = this.#symbols.nextEventAt();
    if (eventAt !== undefined) nextAt = Math.min(nextAt, eventAt);
    if (nextAt === Number.POSITIVE_INFINITY) return undefined;
    return Math.max(1, Math.ceil((nextAt - now) / (this.kind === 'generated' ? 1 : (this.speed as number))));
  }
}

const EMPTY_LOG: TradeLogView = new TradeLog('');
