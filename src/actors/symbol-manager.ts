/**
 * The SymbolManager: builds the universe from exchangeInfo and is the only producer of activation commands.
 *
 * Service first: every symbol is activated at once, in a stream, without waiting for any download. A symbol whose
 * stored klines are recent continues them (its stored last aggregate id is its position; what the streams missed
 * meanwhile is fetched trade by trade before anything is finalized). A symbol with nothing recent stored joins live
 * with the periods under way composed exactly from the exchange's klines and the current minute's trades (the
 * JoinComposer, a few at a time within the REST weight budget); only when that fails are those periods rebuilt from
 * the exchange's klines once closed. Meanwhile the KlineBackfiller fills history and
 * holes, two symbols at a time. The NewSymbolDetector half watches `!miniTicker@arr` and re-reads exchangeInfo
 * periodically: a new TRADING symbol is activated from its very first trade (found over REST) within seconds; a symbol
 * that leaves TRADING is deactivated, its history kept.
 */
import { createActor, type Actor } from 'xstate';
import { scaleOf } from '../domain/decimal.ts';
import type { IntervalName } from '../domain/interval.ts';
import { symbolManagerMachine } from '../machines/symbol-manager.ts';
import type { BinanceRestClient } from '../infra/binance/rest-client.ts';
import type { ExchangeSymbol } from '../domain/exchange-api.ts';
import { requestWeightLimitPerMinute } from '../domain/exchange-api.ts';
import type { Clock } from '../infra/clock.ts';
import type { KlineStore } from '../infra/db/kline-store.ts';
import type { Logger } from '../infra/logger.ts';
import { reportHealth } from './health-board.ts';
import type { KlaggSystem } from './klagg-system.ts';
import type { Kline } from '../domain/kline.ts';
import { FROM_FIRST_TRADE } from '../domain/messages.ts';
import { JoinComposer } from './join-composer.ts';
import type { KlineRebuilder } from './kline-rebuilder.ts';

/** What the manager needs of the KlineBackfiller. */
export interface HistoryBackfill {
  run(symbols: readonly { readonly symbol: string; readonly listedAt: number }[], now: number, onSymbolDone?: (symbol: string) => void): Promise<unknown>;
}

export interface SymbolManagerOptions {
  readonly venue: string;
  readonly market: string;
  readonly intervals: readonly IntervalName[];
  readonly rest: Pick<BinanceRestClient, 'exchangeInfo' | 'aggTrades' | 'klines' | 'setWeightLimit'>;
  readonly store: KlineStore;
  readonly system: KlaggSystem;
  readonly rebuilder: KlineRebuilder;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Only these symbols; else PERPETUAL, USDT-quoted, TRADING. */
  readonly symbols?: readonly string[];
  /** Where history ends per symbol when nothing recent is stored (a replayed market from its first trade). */
  readonly startAfterIds?: ReadonlyMap<string, number>;
  readonly backfill?: HistoryBackfill;
  /** Watch for listings and delistings (`!miniTicker@arr` and periodic exchangeInfo). */
  readonly detectNewSymbols?: boolean;
  readonly exchangeInfoPollMs?: number;
  /** Stored klines older than this are not continued trade by trade (too many trades to fetch): start fresh instead. */
  readonly maxTradeRepairMs?: number;
  /** Subscribe `!miniTicker@arr` (the manager's own stream). */
  readonly subscribeTickers?: (subscribe: boolean) => void;
}

/** Cold joins composed at once (each ≈ 23 weight; the REST client's budget paces them). */
const JOIN_CONCURRENCY = 4;
/** Symbols whose stored klines are read at once when the service starts. */
const STORE_READ_LANES = 8;
/**
 * The composer must not believe a minute closed that the exchange still has open; the local clock may run a little
 * ahead of the exchange's, so it composes as of slightly earlier (being behind costs nothing: the trades reach now).
 */
const JOIN_CLOCK_MARGIN_MS = 2_000;

const TICKER_PREFIX = Buffer.from('{"stream":"!miniTicker@arr"');

export class SymbolManager {
  readonly actor: Actor<typeof symbolManagerMachine>;
  readonly #options: SymbolManagerOptions;
  readonly #known = new Map<string, ExchangeSymbol>();
  readonly #active = new Set<string>();
  #pollTimer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> | undefined;
  #refreshQueued = false;
  #backfill: Promise<unknown> | undefined;
  #stopped = false;
  readonly #joiner: JoinComposer;
  #joinsRunning = 0;
  #joinWaiters: (() => void)[] = [];
  /** Cold joins: composed exactly at once, or rebuilt after their periods close when composing failed. */
  readonly joins = { composed: 0, failed: 0, weight: 0 };

  constructor(options: SymbolManagerOptions) {
    this.#options = options;
    this.#joiner = new JoinComposer({ rest: options.rest });
    this.actor = createActor(symbolManagerMachine, { id: 'symbolManager' });
    this.actor.subscribe((snapshot) => {
      const c = snapshot.context;
      reportHealth(options.system.health, 'symbolManager', c.lastError ? 'degraded' : 'ok', `${c.activated} of ${c.universe} symbols activated, ${c.listed} listed, ${c.delisted} delisted`, options.clock.now());
      reportHealth(options.system.health, 'backfiller', 'ok', c.backfillDone ? `done (${c.backfilled} symbols)` : `${c.backfilled} symbols backfilled`, options.clock.now());
    });
  }

  /** The exchange's description of a symbol (tick and step sizes, status), if the manager has seen it. */
  exchangeSymbol(symbol: string): ExchangeSymbol | undefined {
    return this.#known.get(symbol);
  }

  /** Symbols currently activated by the manager. */
  get active(): readonly string[] {
    return [...this.#active];
  }

  /** True for a `!miniTicker@arr` frame (the caller hands it here instead of to the trade router). */
  static isTickerFrame(frame: Buffer): boolean {
    return frame.length > TICKER_PREFIX.length && frame.subarray(0, TICKER_PREFIX.length).equals(TICKER_PREFIX);
  }

  async start(): Promise<void> {
    const o = this.#options;
    this.actor.start();
    let universe: ExchangeSymbol[];
    try {
      const info = await o.rest.exchangeInfo();
      const limit = requestWeightLimitPerMinute(info);
      if (limit !== undefined) o.rest.setWeightLimit(limit);
      universe = info.symbols.filter((s) => this.#wanted(s));
      for (const s of info.symbols) this.#known.set(s.symbol, s);
    } catch (error) {
      this.actor.send({ type: 'START_FAILED', error: (error as Error).message });
      throw error;
    }
    this.actor.send({ type: 'UNIVERSE_LOADED', symbols: universe.length });
    o.logger.info({ symbols: universe.length }, 'universe loaded; activating every symbol now, backfilling alongside');
    // Activate in a stream: the first symbol is live long before the last one's initial data is read. The store is
    // read for STORE_READ_LANES symbols at a time: one after another, a restart under load spent 28.7 s of its 32 s
    // reading 300 symbols' latest klines (96 ms each). Cold joins (REST compositions) run a few at a time without
    // holding up the symbols behind them.
    const joins: Promise<void>[] = [];
    const began = o.clock.now();
    let next = 0;
    let failed = false;
    const lane = async (): Promise<void> => {
      while (!failed && next < universe.length) {
        try {
          const joining = await this.#activate(universe[next++]!, 'startup');
          if (joining) joins.push(joining);
        } catch (error) {
          failed = true; // the start fails with it (as one read after another did); the other lanes stop
          throw error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(STORE_READ_LANES, universe.length) }, lane));
    const sent = o.clock.now();
    await Promise.all(joins);
    // How long a start took and where (a restart reads the store; cold joins wait for REST weight).
    o.logger.info(
      { withoutJoin: universe.length - joins.length, joined: joins.length, joinsFailed: this.joins.failed, storeReadsMs: sent - began, joinsMs: o.clock.now() - sent },
      'every symbol activated',
    );
    if (o.backfill) {
      const now = o.clock.now();
      this.#backfill = o.backfill
        .run(universe.map((s) => ({ symbol: s.symbol, listedAt: s.onboardDate })), now, (symbol) => this.actor.send({ type: 'BACKFILLED', symbol }))
        .then(
          () => this.actor.send({ type: 'BACKFILL_DONE' }),
          (error: unknown) => this.actor.send({ type: 'ERROR', error: `backfill: ${(error as Error).message}` }),
        );
    }
    if (o.detectNewSymbols) {
      o.subscribeTickers?.(true);
      this.#pollTimer = setInterval(() => void this.refresh(), o.exchangeInfoPollMs ?? 60_000);
    }
  }

  /** A `!miniTicker@arr` frame: any symbol not seen before makes the manager re-read exchangeInfo. */
  onTickers(frame: Buffer): void {
    this.actor.send({ type: 'TICKERS', at: this.#options.clock.now() });
    let items: unknown;
    try {
      items = (JSON.parse(frame.toString()) as { data?: unknown }).data;
    } catch {
      return;
    }
    if (!Array.isArray(items)) return;
    // Items of any JSON type may arrive (a null among them must not throw out of the socket's message handler).
    const symbolOf = (item: unknown): unknown => (typeof item === 'object' && item !== null ? (item as { s?: unknown }).s : undefined);
    const unseen = items.some((item) => {
      const symbol = symbolOf(item);
      return typeof symbol === 'string' && !this.#active.has(symbol) && !this.#ignored(symbol);
    });
    if (unseen) void this.refresh();
  }

  /** Re-reads exchangeInfo: activates new TRADING symbols, deactivates those that stopped trading. */
  refresh(): Promise<void> {
    if (this.#refreshing) {
      this.#refreshQueued = true;
      return this.#refreshing;
    }
    this.#refreshing = this.#refresh().finally(() => {
      this.#refreshing = undefined;
      if (this.#refreshQueued && !this.#stopped) {
        this.#refreshQueued = false;
        void this.refresh();
      }
    });
    return this.#refreshing;
  }

  async #refresh(): Promise<void> {
    const o = this.#options;
    let symbols: readonly ExchangeSymbol[];
    try {
      symbols = (await o.rest.exchangeInfo()).symbols;
    } catch (error) {
      this.actor.send({ type: 'ERROR', error: `exchangeInfo: ${(error as Error).message}` });
      return;
    }
    for (const s of symbols) {
      this.#known.set(s.symbol, s);
      if (this.#stopped) return;
      if (this.#wanted(s) && !this.#active.has(s.symbol)) {
        o.logger.info({ symbol: s.symbol }, 'new listing: activating from its first trade and backfilling what history exists');
        this.actor.send({ type: 'LISTED', symbol: s.symbol });
        try {
          await (await this.#activate(s, 'listing'));
        } catch (error) {
          // Its stored klines could not be read (a database outage): not active yet; the next refresh tries again.
          // Thrown on, it ended the process (found by the soak: a listing during a PostgreSQL outage).
          this.#active.delete(s.symbol);
          o.logger.warn({ err: error, symbol: s.symbol }, 'could not activate a new listing; trying again at the next exchangeInfo refresh');
          this.actor.send({ type: 'ERROR', error: `activate ${s.symbol}: ${(error as Error).message}` });
          continue;
        }
        void o.backfill?.run([{ symbol: s.symbol, listedAt: s.onboardDate }], o.clock.now(), (symbol) => this.actor.send({ type: 'BACKFILLED', symbol }));
      } else if (!this.#wanted(s) && this.#active.has(s.symbol)) {
        o.logger.warn({ symbol: s.symbol, status: s.status }, 'symbol stopped trading: deactivated, its history kept');
        this.#active.delete(s.symbol);
        o.system.deactivate(s.symbol, 'delisted');
        this.actor.send({ type: 'DELISTED', symbol: s.symbol });
      }
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#pollTimer) clearInterval(this.#pollTimer);
    this.#options.subscribeTickers?.(false);
    this.actor.send({ type: 'STOP' });
  }

  /** Resolves when the startup backfill has finished (for tests and the backfill command). */
  async backfillDone(): Promise<void> {
    await this.#backfill;
  }

  #wanted(s: ExchangeSymbol): boolean {
    const explicit = this.#options.symbols;
    if (explicit) return explicit.includes(s.symbol) && s.status === 'TRADING';
    return s.contractType === 'PERPETUAL' && s.quoteAsset === 'USDT' && s.status === 'TRADING';
  }

  #ignored(symbol: string): boolean {
    const known = this.#known.get(symbol);
    return known !== undefined && !this.#wanted(known);
  }

  /** Activates a symbol; a cold join comes back as the promise of its composition (not awaited here). */
  async #activate(s: ExchangeSymbol, why: 'startup' | 'listing'): Promise<Promise<void> | undefined> {
    const o = this.#options;
    if (s.tickSize === undefined || s.stepSize === undefined) {
      o.logger.warn({ symbol: s.symbol }, 'no tick or step size in exchangeInfo; not activated');
      return undefined;
    }
    this.#active.add(s.symbol);
    const now = o.clock.now();
    const stored = await o.store.latest(o.venue, o.market, s.symbol, o.intervals);
    const newest = stored.reduce((max, k) => (k.lastAggId >= 0 ? Math.max(max, k.closeTime) : max), Number.NEGATIVE_INFINITY);
    const continues = stored.length > 0 && newest >= now - (o.maxTradeRepairMs ?? 15 * 60_000);
    let startAfterId = o.startAfterIds?.get(s.symbol);
    if (!continues && startAfterId === undefined) {
      // A new listing (listed within the trade-repair horizon): its history is short, so it starts at its very first
      // trade, which the worker fetches over REST before applying the stream's (the stream may have dropped it).
      if (why === 'listing' && s.onboardDate >= now - (o.maxTradeRepairMs ?? 15 * 60_000)) startAfterId = FROM_FIRST_TRADE;
      else return this.#join(s);
    }
    this.#send(s, continues ? stored : [], startAfterId);
    return undefined;
  }

  #send(s: ExchangeSymbol, initialData: readonly Kline[], startAfterId: number | undefined): void {
    this.#options.system.activate({ symbol: s.symbol, scales: scalesOfSymbol(s), initialData, startAfterId });
    this.actor.send({ type: 'ACTIVATED', symbol: s.symbol });
  }

  /**
   * Joining mid-period: the periods under way are composed from the exchange's closed klines of finer intervals and
   * the current minute's trades, so their first finals are exact; the last trade read is the position. If that
   * fails, the symbol joins live from now and the partial periods are rebuilt from the exchange's klines once closed.
   */
  async #join(s: ExchangeSymbol): Promise<void> {
    const o = this.#options;
    while (this.#joinsRunning >= JOIN_CONCURRENCY) await new Promise<void>((resolve) => this.#joinWaiters.push(resolve));
    this.#joinsRunning++;
    try {
      const composition = await this.#joiner.compose({ symbol: s.symbol, scales: scalesOfSymbol(s), intervals: o.intervals, now: o.clock.now() - JOIN_CLOCK_MARGIN_MS });
      this.joins.composed++;
      this.joins.weight += composition.weight;
      if (this.#stopped) return;
      // No trade at the exchange at all (a symbol that has never traded): its first trades, when they come, are the
      // exchange's first — fetched over REST, not taken from the stream, which may drop them (found by the soak).
      this.#send(s, composition.klines, composition.position >= 0 ? composition.position : FROM_FIRST_TRADE);
    } catch (error) {
      this.joins.failed++;
      o.logger.warn({ err: error, symbol: s.symbol }, 'could not compose the periods under way from the exchange; joining live, those periods rebuilt once closed');
      if (this.#stopped) return;
      o.rebuilder.addPartial(s.symbol, o.clock.now());
      this.#send(s, [], undefined);
    } finally {
      this.#joinsRunning--;
      this.#joinWaiters.shift()?.();
    }
  }
}

function scalesOfSymbol(s: ExchangeSymbol): { priceScale: number; qtyScale: number } {
  return { priceScale: scaleOf(s.tickSize!), qtyScale: scaleOf(s.stepSize!) };
}
