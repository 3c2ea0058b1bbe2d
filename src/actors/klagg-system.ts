/** The root supervisor and the system it runs: workers (each a set of partitions), the ActivationDispatcher, the Gateway,
 * the Clock and the Watchdog as children of one service-lifecycle actor, plus the DB writer. `KlaggSystem` is the narrow
 * face the CLI, the tests and the HTTP layer use: start, activate, feed frames, flush, stop. */
import { createActor, type Actor, type InspectionEvent, type SnapshotFrom } from 'xstate';
import type { IntervalName } from '../domain/interval.ts';
import type { Kline, RevisionCause } from '../domain/kline.ts';
import { KlaggError } from '../domain/errors.ts';
import type { ActivateSymbol, BatchListener, DispatcherEvent, GatewayEvent, Mailbox, PublishedBatch, WorkerEvent } from '../domain/messages.ts';
import { assignPartitions, instrumentKey, partitionOf } from '../domain/partition.ts';
import type { DispatcherCounters } from '../machines/activation-dispatcher.ts';
import type { GatewayCounters } from '../machines/gateway.ts';
import type { SymbolLifecycleState } from '../machines/symbol-lifecycle.ts';
import type { Clock } from '../infra/clock.ts';
import type { Logger } from '../infra/logger.ts';
import { DbWriter } from './db-writer.ts';
import { createHealthBoard, reportHealth, type HealthBoard } from './health-board.ts';
import type { KlineSink } from '../domain/kline-sink.ts';
import { LocalPartitionWorker, type PartitionWorkerPort } from './partition-worker/partition-worker-port.ts';
import type { RebuildRequest, TradeFetcher, UnrepairedGap } from './partition-worker/partition-worker.ts';
import { createSymbolRegistry, followLifecycles, type SymbolRegistry } from './symbol-registry.ts';
import type { KlaggSystemOptions, SystemCounters } from './klagg-system-options.ts';
import { supervisorLogic } from './system-children.ts';
import { ThreadPartitionWorker } from './partition-worker/thread-partition-worker.ts';
import { TradeRouter } from '../domain/trade-router.ts';
import { countAndLogRevisions } from './revision-log.ts';

export class KlaggSystem {
  readonly registry: SymbolRegistry = createSymbolRegistry();
  readonly health: HealthBoard = createHealthBoard();
  readonly workers: readonly PartitionWorkerPort[];
  readonly dbWriter: DbWriter;
  readonly #options: KlaggSystemOptions;
  readonly #root: Actor<ReturnType<typeof supervisorLogic>>;
  readonly #router = new TradeRouter();
  readonly #partitionWorker: readonly number[];
  readonly #listeners = new Set<BatchListener>();
  readonly #log: Logger;
  readonly #revisionLog: Logger;
  /** Revised finals published, by cause (engine amendments, restarts, rebuilds from the exchange's klines). */
  readonly revisionsByCause: Record<RevisionCause, number> = { late: 0, repair: 0, restart: 0, rebuild: 0 };
  #framesRouted = 0;
  #framesUnrouted = 0;
  #publishWaiters: ((batch: PublishedBatch) => void)[] = [];
  /** Symbols whose stream is subscribed (routed), and who waits for that. */
  readonly #subscribed = new Set<string>();
  #subscriptionWaiters: (() => void)[] = [];
  #stopped: Promise<number> | undefined;
  #pullAsked = false;

  constructor(options: KlaggSystemOptions) {
    this.#options = options;
    this.#log = options.logger.child({ actor: 'supervisor' });
    this.#revisionLog = options.logger.child({ actor: 'gateway' });
    this.#partitionWorker = assignPartitions(options.partitions, options.workers);
    this.workers = Array.from({ length: options.workers }, (_, id) => {
      const workerOptions = {
        id,
        intervals: options.intervals,
        graceMs: options.graceMs,
        clockFromTrades: options.clockFromTrades ?? false,
        fetchTrades: options.fetchTrades,
        onUnrepairedGap: options.onUnrepairedGap,
        onRebuildNeeded: options.onRebuildNeeded,
        onFinalsReady: () => this.#finalsReady(),
      };
      if (!options.threads) return new LocalPartitionWorker(workerOptions);
      const io = options.workerStreams === undefined ? undefined : { ...options.workerStreams, clock: options.clock };
      return new ThreadPartitionWorker(workerOptions, io);
    });
    this.dbWriter = new DbWriter({
      ...options.dbWriter,
      sink: options.sink,
      venue: options.venue,
      market: options.market,
      logger: options.logger.child({ actor: 'dbWriter' }),
      onHealth: (status, detail) => reportHealth(this.health, 'dbWriter', status, detail, options.clock.now()),
    });
    this.#root = createActor(this.#supervisor(), {
      input: {
        workerCount: options.workers,
        maxAttempts: 1 + options.dispatcher.maxRetries,
        dispatcher: {
          queueCapacity: options.dispatcher.queueCapacity,
          maxRetries: options.dispatcher.maxRetries,
          retryDelayMs: options.dispatcher.retryDelayMs,
          ackTimeoutMs: options.dispatcher.ackTimeoutMs ?? 10_000,
          concurrency: options.dispatcher.concurrency ?? 16,
        },
        gateway: options.gateway,
        tickIntervalMs: options.tickIntervalMs,
        watchdogIntervalMs: options.watchdog.checkIntervalMs,
      },
      inspect: (event) => this.#onInspect(event),
    });
  }

  /** Worker that owns a symbol: stable hash → partition → worker. */
  workerOf(symbol: string): number {
    return this.#partitionWorker[partitionOf(instrumentKey(this.#options.venue, this.#options.market, symbol), this.#options.partitions)]!;
  }

  start(): void {
    this.dbWriter.start();
    this.#root.start();
    this.#root.send({ type: 'STARTED' });
    this.#log.info({ workers: this.#options.workers, partitions: this.#options.partitions, intervals: this.#options.intervals }, 'klagg system started');
  }

  get intervals(): readonly IntervalName[] {
    return this.#options.intervals;
  }

  get state(): string {
    return String(this.#root.getSnapshot().value);
  }

  activate(command: ActivateSymbol): void {
    this.#dispatcher().send({ type: 'ACTIVATE_SYMBOL', command });
  }

  deactivate(symbol: string, reason: 'deactivated' | 'delisted' = 'deactivated'): void {
    this.#dispatcher().send({ type: 'DEACTIVATE_SYMBOL', symbol, reason });
  }

  /** The per-trade entry: a raw frame goes to the worker owning its symbol, if that symbol is subscribed. */
  ingestFrame(frame: Buffer): void {
    const threads = this.#options.threads === true;
    const worker = threads ? this.#router.workerForUnparsed(frame) : this.#router.workerFor(frame);
    if (worker >= 0) {
      this.#framesRouted++;
      this.workers[worker]!.ingestFrame(frame, threads ? undefined : this.#router.trade);
    } else if (worker === -2) {
      this.workers[0]!.ingestFrame(frame, undefined); // counted there as rejected, with its reason
    } else {
      this.#framesUnrouted++;
    }
  }

  /** Routes a symbol's frames to its worker (what a subscription does for a recording source). */
  route(symbol: string): void {
    this.#router.route(symbol, this.workerOf(symbol));
    this.#subscribed.add(symbol);
    const waiters = this.#subscriptionWaiters;
    this.#subscriptionWaiters = [];
    for (const waiter of waiters) waiter();
  }

  #unroute(symbol: string): void {
    this.#router.unroute(symbol);
    this.#subscribed.delete(symbol);
  }

  isSubscribed(symbol: string): boolean {
    return this.#subscribed.has(symbol);
  }

  /**
   * Resolves once every listed symbol is subscribed or Failed. "Active" alone is not enough for a caller about to
   * feed trades: the subscription follows the ack that made the symbol Active.
   */
  async whenSubscribed(symbols: readonly string[]): Promise<void> {
    const done = (): boolean => symbols.every((symbol) => this.#subscribed.has(symbol) || this.symbolState(symbol) === 'Failed');
    while (!done()) {
      await Promise.race([
        new Promise<void>((resolve) => this.#subscriptionWaiters.push(resolve)),
        this.whenSettled(symbols).then(() => new Promise<void>((resolve) => setTimeout(resolve, 10))),
      ]);
    }
  }

  /**
   * How much later than `graceMs` quiet periods are finalized now: the stream's measured p99 lag plus a margin, when
   * that exceeds the grace (capped). Finalizing later means fewer revisions and later finals; earlier, the reverse.
   */
  watermarkExtraMs(): number {
    const o = this.#options;
    const lag = o.streamLagMs?.() ?? 0;
    if (!(lag > 0)) return 0;
    const wanted = Math.min(lag + (o.watermarkMarginMs ?? 250), o.maxWatermarkMs ?? 10_000);
    return Math.max(0, wanted - o.graceMs);
  }

  /** Simulated time: advances every worker to `now` (live, the Clock actor does this). */
  advanceTo(now: number): void {
    for (const worker of this.#workerRefs()) worker.send({ type: 'TICK', now });
  }

  /** Fetches a symbol's trades up to `toId` (default: the exchange's latest) when no later trade will reveal them missing. */
  catchUp(symbol: string, toId?: number): void {
    this.workers[this.workerOf(symbol)]!.catchUp(symbol, toId);
  }

  /** Resolves once no worker is repairing a gap. */
  async repairsSettled(): Promise<void> {
    for (;;) {
      const stats = await Promise.all(this.workers.map((worker) => worker.stats()));
      if (stats.every((s) => s.pendingRepairs === 0)) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** End of input (a replay's recording ended): every begun kline becomes final. */
  finishInput(): void {
    for (const worker of this.#workerRefs()) worker.send({ type: 'FINISH' });
  }

  /** Fault injection for tests and chaos runs: worker `id` answers pulls only after `ms`. */
  stallWorker(id: number, ms: number): void {
    this.#workerRefs()[id]?.send({ type: 'STALL', until: this.#options.clock.now() + ms });
  }

  /**
   * Corrected final klines made outside the engines (rebuilt from the exchange's klines): published like the
   * Gateway's finals, so they are stored and every stream client receives them.
   */
  publishCorrections(klines: readonly Kline[]): void {
    if (klines.length === 0) return;
    this.#publish(Object.freeze({ seq: -1, finals: Object.freeze([...klines]), updates: Object.freeze([]), missingWorkers: Object.freeze([]) }));
  }

  onBatch(listener: BatchListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Pulls now; resolves with the first publication every worker answered in of a round begun after this call (a
   * round already out may have asked before the workers got the last frames or FINISH). */
  async flush(): Promise<void> {
    const after = this.#root.getSnapshot().children.gateway?.getSnapshot().context.seq ?? 0;
    for (;;) {
      const batch = await new Promise<PublishedBatch>((resolve) => {
        this.#publishWaiters.push(resolve);
        this.#gateway().send({ type: 'PULL_NOW' });
      });
      if (batch.seq > after && batch.missingWorkers.length === 0) return;
    }
  }

  get counters(): SystemCounters {
    const { dispatcher, gateway } = this.#root.getSnapshot().children;
    return {
      framesRouted: this.#framesRouted,
      framesUnrouted: this.#framesUnrouted,
      dispatcher: dispatcher?.getSnapshot().context.counters ?? { accepted: 0, rejected: 0, activated: 0, failed: 0, retries: 0 },
      gateway: gateway?.getSnapshot().context.counters ?? { pulls: 0, timeouts: 0, lateAnswers: 0, published: 0 },
    };
  }

  symbolState(symbol: string): SymbolLifecycleState | undefined {
    return this.registry.getSnapshot().context.symbols[symbol]?.state;
  }

  /** Resolves once every listed symbol has left Pending/Activating (Active or Failed). */
  whenSettled(symbols: readonly string[]): Promise<void> {
    const settled = (): boolean =>
      symbols.every((symbol) => {
        const state = this.symbolState(symbol);
        return state === 'Active' || state === 'Failed';
      });
    if (settled()) return Promise.resolve();
    return new Promise((resolve) => {
      const subscription = this.registry.subscribe(() => {
        if (settled()) {
          subscription.unsubscribe();
          resolve();
        }
      });
    });
  }

  /**
   * Orderly shutdown: stop intake, pull what the workers hold (finalizing nothing that is not final), write
   * everything, stop the actors. Resolves with the exit code: 0, or 1 after a fatal error.
   */
  stop(reason = 'stop requested'): Promise<number> {
    this.#stopped ??= new Promise<number>((resolve) => {
      const subscription = this.#root.subscribe((snapshot) => {
        if (snapshot.status === 'done' || snapshot.value === 'stopped') {
          subscription.unsubscribe();
          resolve(snapshot.context.fatal === null ? 0 : 1);
        }
      });
      this.#root.send({ type: 'STOP', signal: reason });
    });
    return this.#stopped;
  }

  /** Resolves with the exit code once the service has stopped for any reason (a fatal error included). */
  whenStopped(): Promise<number> {
    return new Promise((resolve) => {
      const check = (snapshot: SnapshotFrom<ReturnType<typeof supervisorLogic>>): boolean => {
        if (snapshot.value !== 'stopped') return false;
        resolve(snapshot.context.fatal === null ? 0 : 1);
        return true;
      };
      if (check(this.#root.getSnapshot())) return;
      const subscription = this.#root.subscribe((snapshot) => {
        if (check(snapshot)) subscription.unsubscribe();
      });
    });
  }

  #supervisor() {
    const options = this.#options;
    return supervisorLogic({
      workers: this.workers,
      clock: options.clock,
      logger: options.logger.child({ actor: 'dispatcher' }),
      workerActor: (workerId) => this.#root.getSnapshot().children[`worker-${workerId}`]!,
      workerOf: (symbol) => this.workerOf(symbol),
      subscribe: (symbol, position) => {
        this.route(symbol);
        options.tradeSource?.subscribe(symbol, position);
      },
      unsubscribe: (symbol) => {
        this.#unroute(symbol);
        options.tradeSource?.unsubscribe(symbol);
      },
      publish: (batch) => this.#publish(batch),
      reportWorker: (id, status, detail) => reportHealth(this.health, `worker-${id}`, status, detail, options.clock.now()),
      tradesSeen: (lastTradeTimes) => {
        if (Object.keys(lastTradeTimes).length > 0) this.registry.trigger.tradesSeen({ lastTradeTimes });
      },
      tick: () => this.advanceTo(options.clock.now() - this.watermarkExtraMs()),
      fatalEntry: () => {
        const fatal = Object.values(this.health.getSnapshot().context.actors).find((entry) => entry.fatal);
        return fatal === undefined ? undefined : `${fatal.actor}: ${fatal.detail}`;
      },
      drain: (fatal) => {
        this.#log.info({ fatal }, 'draining: pulling the workers and writing everything');
        void this.#drain().then(
          () => this.#root.send({ type: 'DRAINED' }),
          (error: unknown) => {
            this.#log.error({ err: error }, 'drain failed');
            this.#root.send({ type: 'FATAL', error: `drain failed: ${(error as Error).message}` });
            this.#root.send({ type: 'DRAINED' });
          },
        );
      },
    });
  }

  async #drain(): Promise<void> {
    await this.flush();
    await this.dbWriter.drain();
    await Promise.all(this.workers.map((worker) => worker.close()));
    // The children stop with the root when it reaches its final state.
    this.#log.info({ written: this.dbWriter.stats.writtenRows }, 'drained');
  }

  /** A worker has new finals: the Gateway pulls now, not at its next interval (one PULL_NOW per event-loop turn). */
  #finalsReady(): void {
    if (this.#pullAsked) return;
    this.#pullAsked = true;
    setImmediate(() => {
      this.#pullAsked = false;
      const gateway = this.#root.getSnapshot().children['gateway'];
      gateway?.send({ type: 'PULL_NOW' });
    });
  }

  #publish(batch: PublishedBatch): void {
    countAndLogRevisions(batch.finals, this.revisionsByCause, this.#revisionLog);
    // Each consumer takes the batch (thousands of klines) in a task of its own, in publication order: all in one task
    // was the event loop's longest (the soak's loop lag). `flush()` resolves after the last, once every consumer has it.
    if (batch.finals.length > 0 || batch.updates.length > 0) setImmediate(() => this.dbWriter.accept(batch));
    for (const listener of this.#listeners) setImmediate(() => listener(batch));
    const waiters = this.#publishWaiters.splice(0);
    if (waiters.length > 0) setImmediate(() => waiters.forEach((waiter) => waiter(batch)));
  }

  #onInspect(event: InspectionEvent): void {
    followLifecycles(this.registry, event, (symbol) => this.workerOf(symbol), this.#options.clock.now());
    this.#options.inspect?.(event);
  }

  #workerRefs(): readonly Mailbox<WorkerEvent>[] {
    const children = this.#root.getSnapshot().children;
    return this.workers.map((core) => children[`worker-${core.id}`]!);
  }

  #dispatcher(): Mailbox<DispatcherEvent> {
    const dispatcher = this.#root.getSnapshot().children['dispatcher'];
    if (dispatcher === undefined) throw new KlaggError('KLAGG_ERR_SYSTEM_NOT_RUNNING', { part: 'dispatcher' });
    return dispatcher;
  }

  #gateway(): Mailbox<GatewayEvent> {
    const gateway = this.#root.getSnapshot().children['gateway'];
    if (gateway === undefined) throw new KlaggError('KLAGG_ERR_SYSTEM_NOT_RUNNING', { part: 'gateway' });
    return gateway;
  }
}
