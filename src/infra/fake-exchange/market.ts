/**
 * The fake exchange's market: per symbol, its exchangeInfo entry and the trades published so far (in `a` order),
 * fed from a recording (played at a speed, or as fast as the consumers take them) or from a generated market with
 * listings and delistings. Publishing is driven by the injected Scheduler; tests can also publish by hand.
 *
 * Every published trade goes, once and in publishing order, to the trade listeners (the WebSocket side), to the
 * kline book (REST klines and the kline streams) and to the symbol's rolling ticker.
 *
 * `quiet(symbol, ms)` (the `withholdTail` fault) defers a symbol's later trades: see DeferringFeed.
 */
import type { AggTrade } from '../../domain/agg-trade.ts';
import type { IntervalName } from '../../domain/interval.ts';
import type { Kline } from '../../domain/kline.ts';
import type { Logger } from '../logger.ts';
import { DeferringFeed } from './deferring-feed.ts';
import { planGeneratedMarket, type GeneratedSource, type StatusEvent, type TradeFeed } from './generated-source.ts';
import { KlineBook, type KlineQuery } from './kline-book.ts';
import { loadRecording } from './recording-source.ts';
import type { Scheduler, Timer } from './scheduler.ts';
import { baseAssetOf, PERPETUAL_DELIVERY_DATE, unitSize, type SymbolInfo, type SymbolStatus } from './symbol-info.ts';
import { RollingTicker, type TickerStats } from './ticker.ts';

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

interface SymbolBook {
  info: SymbolInfo;
  readonly trades: AggTrade[];
  readonly ticker: RollingTicker;
  /** Market-time span in which its trades are published; klines stop at `until`. */
  readonly from: number;
  readonly until: number;
}

/** How `start()` publishes: on the clock (generated, or a recording at a numeric speed), or as fast as possible. */
type Mode = 'timed' | 'max';

const MAX_BATCH = 1000;

export class Market {
  readonly kind: 'recording' | 'generated';
  /** Replay speed (1 for a generated market). */
  readonly speed: number | 'max';
  readonly counters: MarketCounters;
  /** Resolves when a finite source has published its last trade (never for an unlimited generated market). */
  readonly done: Promise<void>;

  readonly #scheduler: Scheduler;
  readonly #logger: Logger | undefined;
  readonly #mode: Mode;
  readonly #feed: DeferringFeed;
  readonly #books = new Map<string, SymbolBook>();
  /** Symbols in listing order, as exchangeInfo shows them. */
  readonly #listed: SymbolBook[] = [];
  readonly #events: StatusEvent[];
  readonly #spans: Map<string, { from: number; until: number }>;
  readonly #klines = new KlineBook();
  readonly #tradeListeners = new Set<TradeListener>();
  readonly #statusListeners = new Set<StatusListener>();
  /** Market time of the first trade (recording) or the start (generated). */
  readonly #origin: number;
  #nextEvent = 0;
  #lastDue = Number.NEGATIVE_INFINITY;
  #wallStart: number | undefined;
  #timer: Timer | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #retry: NodeJS.Timeout | undefined;
  #running = false;
  #isDone = false;
  #resolveDone: () => void = () => {};
  #backpressure: () => boolean = () => false;
  readonly #unlimited: boolean;

  private constructor(init: {
    kind: 'recording' | 'generated';
    speed: number | 'max';
    mode: Mode;
    feed: TradeFeed;
    origin: number;
    symbols: readonly SymbolInfo[];
    events: StatusEvent[];
    spans: Map<string, { from: number; until: number }>;
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
    this.#events = init.events;
    this.#spans = init.spans;
    this.counters = init.counters;
    this.#scheduler = init.options.scheduler;
    this.#logger = init.options.logger;
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
    for (const info of init.symbols) this.#list(info);
    this.#applyStatuses(this.now());
    this.#checkDone();
  }

  static async create(source: MarketSource, options: MarketOptions): Promise<Market> {
    const counters: MarketCounters = { published: 0, notTrading: 0, skippedLines: 0, duplicates: 0 };
    if (source.kind === 'recording') {
      const speed = source.speed ?? 1;
      if (speed !== 'max' && !(speed > 0 && Number.isFinite(speed))) throw new RangeError(`speed must be a number > 0 or 'max', got ${String(speed)}`);
      const recording = await loadRecording(source.path);
      counters.skippedLines = recording.skippedLines;
      counters.duplicates = recording.duplicates;
      const symbols: SymbolInfo[] = [...recording.symbols.values()].map((s) => ({
        symbol: s.symbol,
        baseAsset: baseAssetOf(s.symbol),
        quoteAsset: 'USDT',
        contractType: 'PERPETUAL',
        tickSize: unitSize(s.priceScale),
        stepSize: unitSize(s.qtyScale),
        priceScale: s.priceScale,
        qtyScale: s.qtyScale,
        status: 'TRADING',
        onboardDate: s.firstTradeTime,
        deliveryDate: PERPETUAL_DELIVERY_DATE,
      }));
      const spans = new Map(symbols.map((s) => [s.symbol, { from: Number.NEGATIVE_INFINITY, until: Number.POSITIVE_INFINITY }]));
      let position = 0;
      const trades = recording.trades;
      const feed: TradeFeed = {
        peek: () => trades[position],
        take: () => trades[position++],
      };
      return new Market({
        kind: 'recording',
        speed,
        mode: speed === 'max' ? 'max' : 'timed',
        feed,
        origin: trades[0]?.tradeTime ?? options.scheduler.now(),
        symbols,
        events: [],
        spans,
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
    this.#applyStatuses(this.now());
    return this.#listed.map((book) => book.info);
  }

  symbol(name: string): SymbolInfo | undefined {
    this.#applyStatuses(this.now());
    return this.#books.get(name)?.info;
  }

  /** The symbol's published trades, in `a` order (the live array: do not modify). */
  trades(symbol: string): readonly AggTrade[] {
    return this.#books.get(symbol)?.trades ?? [];
  }

  /** Binance-style klines from the published trades (see KlineBook.query). */
  klines(symbol: string, interval: IntervalName, query: KlineQuery): Kline[] {
    const book = this.#books.get(symbol);
    if (book === undefined) return [];
    return this.#klines.query(symbol, interval, query, Math.min(this.now(), book.until));
  }

  /** Rolling 24 h statistics at the exchange's time; undefined while the symbol has not traded. */
  ticker(symbol: string): TickerStats | undefined {
    return this.#books.get(symbol)?.ticker.stats(this.now());
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
    this.#backpressure = check;
  }

  // ---- publishing ------------------------------------------------------------------------------------------------

  /** Whether it publishes on its own. */
  get started(): boolean {
    return this.#running;
  }

  /**
   * Starts publishing on its own: on the clock, or at speed 'max' as fast as the consumers take it (no-op when
   * started). Before it (and after `stop()`), trades are published only by `publishNext`, `publishDue`, `publishAll`.
   */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#wallStart ??= this.#scheduler.now();
    if (this.#mode === 'max') this.#immediate = setImmediate(this.#pumpMax);
    else this.#pumpTimed();
  }

  /** Stops publishing on its own and cancels every timer. */
  stop(): void {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#immediate = undefined;
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    this.#retry = undefined;
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
    this.#applyStatuses(now);
    let published = 0;
    for (let next = this.#feed.peek(); next !== undefined && Math.max(this.#lastDue, next.tradeTime) <= now; next = this.#feed.peek()) {
      if (this.#publishOne()) published++;
    }
    return published;
  }

  /** Publishes everything left of a finite source at once; throws for an unlimited generated market. */
  publishAll(): number {
    if (this.#unlimited) throw new Error('publishAll: the generated market is unlimited (give it `trades`)');
    let published = 0;
    while (this.#publishOne()) published++;
    return published;
  }

  /** Before a read: when publishing on time, publish what is already due so the answer is current. */
  sync(): void {
    if (this.#running && this.#mode === 'timed') this.publishDue();
    else this.#applyStatuses(this.now());
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
      this.#applyStatuses(due);
      this.#lastDue = due;
      const book = this.#books.get(trade.symbol);
      const span = this.#spans.get(trade.symbol);
      if (book === undefined || span === undefined || due < span.from || due >= span.until) {
        this.counters.notTrading++;
        continue;
      }
      book.trades.push(trade);
      book.ticker.added();
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

  #pumpTimed = (): void => {
    this.#timer = undefined;
    if (!this.#running) return;
    this.publishDue();
    const now = this.now();
    let nextAt = Number.POSITIVE_INFINITY;
    const next = this.#feed.peek();
    if (next !== undefined) nextAt = Math.max(this.#lastDue, next.tradeTime);
    const event = this.#events[this.#nextEvent];
    if (event !== undefined) nextAt = Math.min(nextAt, event.at);
    if (nextAt === Number.POSITIVE_INFINITY) return;
    const wallDelay = Math.max(1, Math.ceil((nextAt - now) / (this.kind === 'generated' ? 1 : (this.speed as number))));
    this.#timer = this.#scheduler.setTimer(wallDelay, this.#pumpTimed);
  };

  #pumpMax = (): void => {
    this.#immediate = undefined;
    this.#retry = undefined;
    if (!this.#running) return;
    if (this.#backpressure()) {
      this.#retry = setTimeout(this.#pumpMax, 2);
      return;
    }
    for (let i = 0; i < MAX_BATCH; i++) {
      if (!this.#publishOne()) return;
      if (!this.#running) return;
    }
    this.#immediate = setImmediate(this.#pumpMax);
  };

  // ---- symbols and statuses --------------------------------------------------------------------------------------

  #list(info: SymbolInfo): void {
    if (this.#books.has(info.symbol)) return;
    const trades: AggTrade[] = [];
    const span = this.#spans.get(info.symbol) ?? { from: Number.NEGATIVE_INFINITY, until: Number.POSITIVE_INFINITY };
    const book: SymbolBook = { info, trades, ticker: new RollingTicker(info.symbol, trades, info.priceScale, info.qtyScale), from: span.from, until: span.until };
    this.#books.set(info.symbol, book);
    this.#listed.push(book);
    this.#klines.addSymbol(info.symbol, { priceScale: info.priceScale, qtyScale: info.qtyScale });
  }

  #applyStatuses(upTo: number): void {
    for (let event = this.#events[this.#nextEvent]; event !== undefined && event.at <= upTo; event = this.#events[this.#nextEvent]) {
      this.#nextEvent++;
      let book = this.#books.get(event.symbol);
      const previous = book?.info.status;
      if (book === undefined) {
        if (event.info === undefined) continue;
        this.#list(event.info);
        book = this.#books.get(event.symbol)!;
      } else {
        book.info = { ...book.info, status: event.status, deliveryDate: event.deliveryDate ?? book.info.deliveryDate };
      }
      this.#logger?.info({ symbol: event.symbol, status: event.status, previous }, 'fake exchange: symbol status changed');
      for (const listener of this.#statusListeners) listener(book.info, previous);
    }
  }
}
