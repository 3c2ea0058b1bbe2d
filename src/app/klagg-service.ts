/**
 * klagg connected to an exchange: the actor system, the exchange's REST API (universe, gap repair, kline rebuilds)
 * and its market streams, over a kline store. This is the composition root the `chaos` (and later `run` and `demo`)
 * commands start; every part keeps its own narrow interface.
 */
import { LiveKlineView } from '../infra/http/kline-view.ts';
import type { IntervalName } from '../domain/interval.ts';
import { scalesFromSizes } from '../domain/kline-format.ts';
import { BinanceRestClient } from '../infra/binance/rest-client.ts';
import type { Clock } from '../infra/clock.ts';
import type { KlineStore } from '../infra/db/kline-store.ts';
import { StreamManager, type StreamManagerOptions } from '../actors/stream-manager.ts';
import type { KlaggConfig } from '../infra/config/schema.ts';
import { relayLogLine, type Logger } from '../infra/logger.ts';
import { reportHealth } from '../actors/health-board.ts';
import { KlaggSystem } from '../actors/klagg-system.ts';
import type { KlaggSystemOptions } from '../actors/klagg-system-options.ts';
import { KlineRebuilder } from '../actors/kline-rebuilder.ts';
import { SymbolManager, type HistoryBackfill } from '../actors/symbol-manager.ts';
import { LATEST_ID } from '../actors/partition-worker/partition-worker.ts';
import { TrailingGapGuard } from '../actors/trailing-gap-guard.ts';
import { isExchangeKlineFrame } from '../actors/trailing-gap-watch.ts';
import { createExchangeSocket } from '../infra/exchange-stream/exchange-socket.ts';
import type { SymbolStore } from '../infra/db/symbol-store.ts';
import { SymbolTableWriter } from '../actors/symbol-table-writer.ts';
import { ExchangeStreamsView } from './exchange-streams-view.ts';

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

/** The module a worker thread imports to build its own exchange connections (per-worker I/O). */
const WORKER_STREAMS_MODULE = new URL('./worker-exchange-streams.ts', import.meta.url).href;

export class KlaggService {
  readonly rest: BinanceRestClient;
  /**
   * The main thread's exchange connections: tickers, the exchange's 1m klines and — when the workers run in this
   * thread — the trades. With worker threads each thread owns its symbols' trade streams (per-worker I/O).
   */
  readonly streams: StreamManager;
  /** Every exchange connection of the service, the worker threads' included (metrics, the watermark). */
  readonly exchangeStreams: ExchangeStreamsView;
  readonly system: KlaggSystem;
  readonly rebuilder: KlineRebuilder;
  readonly manager: SymbolManager;
  /** Trailing gaps: the exchange's kline last trade ids and quiet-symbol checks (see TrailingGapGuard). */
  readonly trailingGaps: TrailingGapGuard;
  /**
   * The open klines and latest finals the HTTP API merges over the store, following the system from its first batch:
   * created with the HTTP server instead, it missed what the start published before it listened (a restart's
   * catch-ups), and a client resyncing over REST read the stored row a catch-up had long outdated (found by the soak).
   */
  readonly liveView: LiveKlineView;
  readonly #options: KlaggServiceOptions;
  #rebuildTimer: NodeJS.Timeout | undefined;
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
      onReconnected: (streams) => this.trailingGaps.onReconnected(streams),
      onFrame: (frame) => {
        if (SymbolManager.isTickerFrame(frame)) this.manager.onTickers(frame);
        else if (isExchangeKlineFrame(frame)) this.trailingGaps.onExchangeKlineFrame(frame);
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
      streamLagMs: () => this.exchangeStreams.watermarkLagMs(),
      workerStreams: options.system.threads
        ? {
            config: { module: WORKER_STREAMS_MODULE, wsBaseUrl: options.wsBaseUrl, logLevel: log.level, ...options.streams },
            onReconnected: (streams) => this.trailingGaps.onReconnected(streams),
            onLog: (line) => relayLogLine(log, line),
            inspect: options.system.inspect,
          }
        : undefined,
      venue: options.venue,
      market: options.market,
      intervals: options.intervals,
      sink: { write: async (records) => void (await options.store.upsert(records)) },
      clock: options.clock,
      logger: log,
      fetchTrades: (symbol, fromId, toId) =>
        this.rest.aggTradesFrom(symbol, fromId, toId).catch((error: unknown) => {
          // A catch-up that could not ask the exchange found nothing: the watch must check again, not call it done.
          if (toId === LATEST_ID) this.trailingGaps.onCatchUpFailed(symbol);
          log.warn({ err: error, symbol, fromId }, 'fetching trades over REST failed');
          throw error;
        }),
      onUnrepairedGap: (gap) => this.rebuilder.add(gap),
      onRebuildNeeded: (request) => this.rebuilder.addLate(request),
      tradeSource: {
        subscribe: (symbol) => {
          this.#carry(symbol, 'subscribe');
          this.trailingGaps.onSubscribed(symbol);
        },
        unsubscribe: (symbol) => {
          this.#carry(symbol, 'unsubscribe');
          this.trailingGaps.forget(symbol);
        },
      },
    });
    this.exchangeStreams = new ExchangeStreamsView(this.streams, () => this.system.workers.map((worker) => worker.streams?.report));
    const trailing = options.trailingGaps ?? {};
    this.trailingGaps = new TrailingGapGuard({
      confirmMs: trailing.confirmMs,
      quietAfterMs: trailing.quietAfterMs,
      checkIntervalMs: trailing.checkIntervalMs,
      finest: options.intervals[0]!,
      elapsed: () => this.#elapsed(),
      streamLagMs: () => this.exchangeStreams.watermarkLagMs(),
      now: () => options.clock.now(),
      logger: log,
      fetchMinuteKlines: (symbol, startTime) => this.rest.klines(symbol, '1m', { startTime, limit: 99 }),
      catchUp: (symbol) => this.system.catchUp(symbol),
    });
    this.system.onBatch((batch) => this.trailingGaps.onBatch(batch));
    this.liveView = new LiveKlineView(this.system);
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
    if (this.#trailingGapsOn) this.trailingGaps.start();
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
   * The trailing-gap watch waits out the streams' transport lag: a span of real elapsed time, not of the exchange's
   * clock (which a replay may run at any speed).
   */
  #elapsed(): number {
    return this.#options.elapsed?.() ?? performance.now();
  }

  get #trailingGapsOn(): boolean {
    return this.#options.trailingGaps?.enabled ?? true;
  }

  /**
   * Subscribes or unsubscribes a symbol's streams: its trades on its worker thread's own connections when that thread
   * has them (per-worker I/O), the rest — or everything, without worker threads — on the main thread's.
   */
  #carry(symbol: string, method: 'subscribe' | 'unsubscribe'): void {
    const own = this.system.workers[this.system.workerOf(symbol)]?.streams;
    const [trades, ...others] = this.#streamsOf(symbol);
    if (own === undefined) {
      this.streams[method]([trades!, ...others]);
      return;
    }
    own[method]([trades!]);
    this.streams[method](others);
  }

  /** The symbol's streams: its trades first, then the exchange's 1m klines when the trailing-gap watch is on. */
  #streamsOf(symbol: string): string[] {
    const lower = symbol.toLowerCase();
    return this.#trailingGapsOn ? [`${lower}@aggTrade`, `${lower}@kline_1m`] : [`${lower}@aggTrade`];
  }

  /**
   * Orderly stop: streams closed, kline rebuilds of periods closed by `closedBy` written, the system drained.
   * Resolves with the exit code.
   */
  async stop(reason: string, closedBy: number = this.#options.clock.now()): Promise<number> {
    if (this.#rebuildTimer) clearInterval(this.#rebuildTimer);
    this.trailingGaps.stop();
    if (this.#gapHealthTimer) clearInterval(this.#gapHealthTimer);
    await this.manager.stop();
    await this.streams.stop();
    await Promise.all(this.system.workers.map((worker) => worker.streams?.stop()));
    await this.rebuilder.rebuildClosed(closedBy);
    const code = await this.system.stop(reason);
    // After the system's last batch (its final flush publishes): what the routes answered from stays until here.
    this.liveView.close();
    await this.#symbolTable?.stop();
    return code;
  }
}
