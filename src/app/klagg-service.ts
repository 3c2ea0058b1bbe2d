/**
 * klagg connected to an exchange: the actor system, the exchange's REST API (universe, gap repair, kline rebuilds)
 * and its market streams, over a kline store. This is the composition root the `chaos` (and later `run` and `demo`)
 * commands start; every part keeps its own narrow interface.
 */
import { openTimeOf, type IntervalName } from '../domain/interval.ts';
import { scalesFromSizes } from '../domain/kline-format.ts';
import { BinanceRestClient } from '../infra/binance/rest-client.ts';
import type { Clock } from '../infra/clock.ts';
import type { KlineStore } from '../infra/db/kline-store.ts';
import { StreamManager, type StreamManagerOptions } from '../actors/stream-manager.ts';
import type { KlaggConfig } from '../infra/config/schema.ts';
import type { Logger } from '../infra/logger.ts';
import { reportHealth } from '../actors/health-board.ts';
import { KlaggSystem } from '../actors/klagg-system.ts';
import type { KlaggSystemOptions } from '../actors/klagg-system-options.ts';
import { KlineRebuilder } from '../actors/kline-rebuilder.ts';
import { SymbolManager, type HistoryBackfill } from '../actors/symbol-manager.ts';
import { LATEST_ID } from '../actors/partition-worker/partition-worker.ts';
import { exchangeHasMore, QuietSymbolCheck, type TradedMinute } from '../actors/quiet-symbol-check.ts';
import { isExchangeKlineFrame, readExchangeKline, TrailingGapWatch } from '../actors/trailing-gap-watch.ts';
import { createExchangeSocket } from '../infra/exchange-stream/exchange-socket.ts';
import type { SymbolStore } from '../infra/db/symbol-store.ts';
import { SymbolTableWriter } from '../actors/symbol-table-writer.ts';

export interface KlaggServiceOptions {
  readonly venue: string;
  readonly market: string;
  readonly intervals: readonly IntervalName[];
  readonly restBaseUrl: string;
  readonly wsBaseUrl: string;
  readonly store: KlineStore;
  /** The `symbols` table (status, sizes, lifecycle state, last error), kept up to date; none: not written. */
  readonly symbolStore?: Pick<SymbolStore, 'saveStates'>;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Only these symbols (else every PERPETUAL, USDT-quoted, TRADING symbol of exchangeInfo). */
  readonly symbols?: readonly string[];
  readonly system: Pick<KlaggSystemOptions, 'graceMs' | 'workers' | 'partitions' | 'threads' | 'gateway' | 'dispatcher' | 'dbWriter' | 'watchdog' | 'tickIntervalMs' | 'clockFromTrades' | 'inspect'>;
  readonly streams?: Partial<Pick<StreamManagerOptions, 'silenceMs' | 'rotateAfterMs' | 'maxStreamsPerConnection' | 'maxMessagesPerSecond' | 'initialBackoffMs' | 'maxBackoffMs'>>;
  readonly rest?: { readonly budgetShare?: number; readonly maxRetries?: number; readonly backoffBaseMs?: number };
  /** Per symbol, the aggregate id its history ends at when the store has none (the first trade after it is expected). */
  readonly startAfterIds?: ReadonlyMap<string, number>;
  /** History and holes (the KlineBackfiller); none: no backfill. */
  readonly backfill?: HistoryBackfill;
  /** Watch `!miniTicker@arr` and exchangeInfo for listings and delistings. */
  readonly detectNewSymbols?: boolean;
  readonly exchangeInfoPollMs?: number;
  /**
   * Trailing gaps: also subscribe each symbol's `@kline_1m` stream and catch a symbol up over REST when the exchange's
   * last trade id stays ahead of klagg's for `confirmMs` (default on, 2 000 ms).
   */
  readonly trailingGaps?: { readonly enabled?: boolean; readonly confirmMs?: number; readonly checkIntervalMs?: number; readonly quietAfterMs?: number };
  /**
   * The clock of the REST weight windows and bans, when it is not the exchange time klines close on (a recording
   * replayed at speed: its trades' time runs fast, the exchange's limits on the wall clock). Default `clock`.
   */
  readonly restClock?: Clock;
  /** Real elapsed ms (monotonic) for stream silence and the trailing-gap watch's waits; default performance.now. */
  readonly elapsed?: () => number;
  /** /health is degraded while klines have waited longer than this for a rebuild from the exchange (default 2 min). */
  readonly unrepairedGapAlertMs?: number;
}

/** The actor system's tuning as the configuration gives it (every field has a documented default). */
export function systemOptionsFrom(config: KlaggConfig): KlaggServiceOptions['system'] {
  return {
    graceMs: config.engine.graceMs,
    workers: config.workers.count,
    partitions: config.workers.partitions,
    threads: config.workers.threads,
    gateway: config.gateway,
    dispatcher: config.dispatcher,
    dbWriter: config.dbWriter,
    watchdog: { checkIntervalMs: config.watchdog.checkIntervalMs },
    tickIntervalMs: config.clock.tickIntervalMs,
  };
}

export class KlaggService {
  readonly rest: BinanceRestClient;
  readonly streams: StreamManager;
  readonly system: KlaggSystem;
  readonly rebuilder: KlineRebuilder;
  readonly manager: SymbolManager;
  readonly trailingGaps: TrailingGapWatch;
  readonly #options: KlaggServiceOptions;
  #rebuildTimer: NodeJS.Timeout | undefined;
  #trailingTimer: NodeJS.Timeout | undefined;
  /** Quiet symbols checked against the exchange's 1m klines (once per quiet spell and after reconnects). */
  readonly quietChecks: QuietSymbolCheck;
  #gapHealthTimer: NodeJS.Timeout | undefined;
  readonly #symbolTable: SymbolTableWriter | undefined;

  constructor(options: KlaggServiceOptions) {
    this.#options = options;
    const log = options.logger;
    this.rest = new BinanceRestClient({ baseUrl: options.restBaseUrl, clock: options.restClock ?? options.clock, logger: log.child({ actor: 'rest' }), ...options.rest });
    this.streams = new StreamManager({
      wsBaseUrl: options.wsBaseUrl,
      connect: createExchangeSocket,
      clock: options.clock,
      logger: log.child({ actor: 'streams' }),
      elapsed: () => this.#elapsed(),
      onReconnected: (streams) =>
        this.quietChecks.onReconnected(
          streams.filter((s) => s.endsWith('@aggTrade')).map((s) => s.slice(0, -'@aggTrade'.length).toUpperCase()),
          this.#elapsed(),
        ),
      onFrame: (frame) => {
        if (SymbolManager.isTickerFrame(frame)) this.manager.onTickers(frame);
        else if (isExchangeKlineFrame(frame)) this.#onExchangeKline(frame);
        else this.system.ingestFrame(frame);
      },
      inspect: options.system.inspect,
      ...options.streams,
    });
    this.rebuilder = new KlineRebuilder({
      venue: options.venue,
      market: options.market,
      intervals: options.intervals,
      logger: log.child({ actor: 'rebuilder' }),
      fetchKlines: (symbol, interval, start, end) => this.rest.klinesRange(symbol, interval, start, end),
      now: () => options.clock.now(),
      // Published like any revision: stored, and pushed to stream clients as a new `x: true` event.
      write: (records) => this.system.publishCorrections(records.map((record) => record.kline)),
      storedRevisions: async (symbol, interval, from, to) => {
        const stored = await options.store.range(options.venue, options.market, symbol, interval, { startTime: from, endTime: to, limit: 1500 });
        return new Map(stored.map((k) => [k.openTime, k.revision ?? 0]));
      },
      scalesOf: (symbol) => scalesFromSizes(this.manager.exchangeSymbol(symbol)),
    });
    this.system = new KlaggSystem({
      ...options.system,
      streamLagMs: () => this.streams.watermarkLagMs(),
      venue: options.venue,
      market: options.market,
      intervals: options.intervals,
      sink: { write: async (records) => void (await options.store.upsert(records)) },
      clock: options.clock,
      logger: log,
      fetchTrades: (symbol, fromId, toId) =>
        this.rest.aggTradesFrom(symbol, fromId, toId).catch((error: unknown) => {
          // A catch-up that could not ask the exchange found nothing: the watch must check again, not call it done.
          if (toId === LATEST_ID) this.trailingGaps.onCheckFailed(symbol, this.#elapsed());
          log.warn({ err: error, symbol, fromId }, 'fetching trades over REST failed');
          throw error;
        }),
      onUnrepairedGap: (gap) => this.rebuilder.add(gap),
      onRebuildNeeded: (request) => this.rebuilder.addLate(request),
      tradeSource: {
        subscribe: (symbol) => {
          this.streams.subscribe(this.#streamsOf(symbol));
          this.quietChecks.onSubscribed(symbol, openTimeOf('1m', options.clock.now()), this.#elapsed());
        },
        unsubscribe: (symbol) => {
          this.streams.unsubscribe(this.#streamsOf(symbol));
          this.trailingGaps.forget(symbol);
          this.quietChecks.forget(symbol);
        },
      },
    });
    const trailing = options.trailingGaps ?? {};
    this.trailingGaps = new TrailingGapWatch({ confirmMs: trailing.confirmMs ?? 2_000, settleMs: 10_000 });
    this.quietChecks = new QuietSymbolCheck({ quietAfterMs: trailing.quietAfterMs ?? 10_000, settleMs: trailing.confirmMs ?? 2_000 });
    const finest = options.intervals[0];
    this.system.onBatch((batch) => {
      const elapsed = this.#elapsed();
      for (const list of [batch.finals, batch.updates]) {
        for (const kline of list) {
          if (kline.interval !== finest) continue;
          this.trailingGaps.onApplied(kline.symbol, kline.lastTradeId, elapsed);
          if (kline.tradeCount > 0 && kline.interval === '1m') this.quietChecks.onTraded(kline.symbol, { openTime: kline.openTime, tradeCount: kline.tradeCount }, elapsed);
        }
      }
    });
    this.manager = new SymbolManager({
      venue: options.venue,
      market: options.market,
      intervals: options.intervals,
      rest: this.rest,
      store: options.store,
      system: this.system,
      rebuilder: this.rebuilder,
      clock: options.clock,
      logger: log.child({ actor: 'symbolManager' }),
      symbols: options.symbols,
      startAfterIds: options.startAfterIds,
      backfill: options.backfill,
      detectNewSymbols: options.detectNewSymbols,
      exchangeInfoPollMs: options.exchangeInfoPollMs,
      subscribeTickers: (on) => (on ? this.streams.subscribe(['!miniTicker@arr']) : this.streams.unsubscribe(['!miniTicker@arr'])),
    });
    this.#symbolTable =
      options.symbolStore === undefined
        ? undefined
        : new SymbolTableWriter({
            registry: this.system.registry,
            store: options.symbolStore,
            venue: options.venue,
            market: options.market,
            describe: (symbol) => this.manager.exchangeSymbol(symbol),
            logger: log.child({ actor: 'symbolTableWriter' }),
          });
  }

  /** The symbols this service aggregates (after `start`). */
  get symbols(): readonly string[] {
    return this.manager.active;
  }

  /**
   * Starts the actors, then the SymbolManager: every symbol activated at once (stored klines as initial data), the
   * backfill and the listing watch alongside. Resolves once the startup symbols are subscribed.
   */
  async start(): Promise<void> {
    this.#symbolTable?.start();
    this.system.start();
    await this.manager.start();
    await this.system.whenSubscribed(this.symbols);
    this.#rebuildTimer = setInterval(() => void this.rebuilder.rebuildClosed(this.#options.clock.now()), 10_000);
    this.#gapHealthTimer = setInterval(() => this.#reportGapHealth(), 1_000);
    if (this.#trailingGapsOn) {
      this.#trailingTimer = setInterval(() => {
        const now = this.#elapsed();
        for (const symbol of this.trailingGaps.due(now)) {
          this.#options.logger.info({ symbol }, 'the exchange reports trades klagg has not applied (a trailing gap?); catching up over REST');
          this.system.catchUp(symbol);
        }
        for (const { symbol, minute } of this.quietChecks.due(now)) void this.#checkQuiet(symbol, minute);
      }, this.#options.trailingGaps?.checkIntervalMs ?? 500);
    }
  }

  /**
   * Never silent: klines that only a rebuild from the exchange's klines can make exact (trades it no longer has, late
   * trades older than the engine's memory) are wrong until then; past `unrepairedGapAlertMs` /health says degraded.
   */
  #reportGapHealth(): void {
    const now = this.#options.clock.now();
    const oldest = this.rebuilder.oldestPendingSince();
    const age = oldest === undefined ? 0 : now - oldest;
    const threshold = this.#options.unrepairedGapAlertMs ?? 120_000;
    const status = age > threshold ? 'degraded' : 'ok';
    const detail = oldest === undefined ? 'no unrepaired gap' : `${this.rebuilder.pending} kline ranges await a rebuild from the exchange; the oldest for ${Math.round(age / 1000)} s`;
    reportHealth(this.system.health, 'gapRepair', status, detail, now);
  }

  /**
   * Checks quiet symbols against the exchange's 1m klines (weight 1 each): more trades there than klagg applied, and
   * the symbol is caught up over REST. See QuietSymbolCheck.
   */
  async #checkQuiet(symbol: string, minute: TradedMinute): Promise<void> {
    let missing: boolean;
    try {
      // 99 minutes from klagg's last traded one still weigh 1 (a trade lost after a longer quiet spell needs a trade
      // or a reconnect check closer to it).
      missing = exchangeHasMore(minute, await this.rest.klines(symbol, '1m', { startTime: minute.openTime, limit: 99 }));
    } catch (error) {
      this.quietChecks.failed(symbol);
      this.#options.logger.warn({ err: error, symbol }, 'could not check a quiet symbol against the exchange; trying again');
      return;
    }
    this.quietChecks.checked(symbol, missing, this.#elapsed());
    if (!missing) return;
    this.#options.logger.info({ symbol }, 'the exchange has trades of a quiet symbol that klagg has not seen; catching up over REST');
    this.system.catchUp(symbol);
  }

  /**
   * The trailing-gap watch waits out the streams' transport lag: a span of real elapsed time, not of the exchange's
   * clock (which a replay may run at any speed).
   */
  #elapsed(): number {
    return this.#options.elapsed?.() ?? performance.now();
  }

  get #trailingGapsOn(): boolean {
    return this.#options.trailingGaps?.enabled ?? true;
  }

  #streamsOf(symbol: string): string[] {
    const lower = symbol.toLowerCase();
    return this.#trailingGapsOn ? [`${lower}@aggTrade`, `${lower}@kline_1m`] : [`${lower}@aggTrade`];
  }

  #onExchangeKline(frame: Buffer): void {
    const kline = readExchangeKline(frame);
    if (kline !== undefined) this.trailingGaps.onExchangeKline(kline.symbol, kline.lastTradeId, this.#elapsed());
  }

  /**
   * Orderly stop: streams closed, kline rebuilds of periods closed by `closedBy` written, the system drained.
   * Resolves with the exit code.
   */
  async stop(reason: string, closedBy: number = this.#options.clock.now()): Promise<number> {
    if (this.#rebuildTimer) clearInterval(this.#rebuildTimer);
    if (this.#trailingTimer) clearInterval(this.#trailingTimer);
    if (this.#gapHealthTimer) clearInterval(this.#gapHealthTimer);
    await this.manager.stop();
    await this.streams.stop();
    await this.rebuilder.rebuildClosed(closedBy);
    const code = await this.system.stop(reason);
    await this.#symbolTable?.stop();
    return code;
  }
}
