/**
 * Runs one owned partition: the lifecycle machine decides, this does. Restore from the checkpoint (and fence-write
 * it with the new epoch), read the log from the checkpoint's position, apply every message to the partition's pure
 * aggregate, and every tick publish what changed — live first (at most once), then durably — and, when due, write
 * the checkpoint, only after the durable batch covering it was acknowledged (the outbox rule, scale-out.md §3.1 D).
 * A lost checkpoint CAS means another owner took over: the partition stops at once (Fenced).
 */
import { createActor, type Actor, type InspectionEvent } from 'xstate';
import { decodeTradeBatch, decodeWatermark } from '../../domain/cluster-messages.ts';
import type { IntervalName } from '../../domain/interval.ts';
import { PartitionAggregate } from '../../domain/partition-aggregate.ts';
import { partitionLifecycleMachine, type PartitionLifecycleState } from '../../machines/partition-lifecycle.ts';
import type { CheckpointStore } from '../../infra/nats/checkpoint-store.ts';
import type { KlineBus } from '../../infra/nats/kline-bus.ts';
import type { LogEntry, PartitionLogReader, PartitionReading } from '../../infra/nats/partition-log-reader.ts';
import type { Logger } from '../../infra/logger.ts';

export interface PartitionOwnerOptions {
  readonly partition: number;
  readonly node: string;
  readonly venue: string;
  readonly market: string;
  readonly intervals: readonly IntervalName[];
  readonly graceMs: number;
  readonly tickMs: number;
  readonly checkpointEveryMs: number;
  readonly reader: PartitionLogReader;
  readonly bus: KlineBus;
  readonly checkpoints: CheckpointStore;
  /** A planned move's last step: write `released` on the ownership record (the node does it). */
  readonly release: (partition: number) => Promise<void>;
  readonly logger: Logger;
  readonly inspect?: (event: InspectionEvent) => void;
  /** Wall time (ms) for checkpoint age and catch-up timing only; the aggregation never reads it. */
  readonly now: () => number;
}

export interface PartitionOwnerStats {
  readonly partition: number;
  readonly state: PartitionLifecycleState;
  readonly epoch: number;
  readonly position: number;
  /** Messages of the partition behind the head when last read. */
  readonly lag: number;
  readonly checkpointAgeMs: number;
  readonly checkpointBytes: number;
  readonly applied: number;
  readonly duplicates: number;
  readonly gaps: number;
}

export class PartitionOwner {
  readonly partition: number;
  readonly actor: Actor<typeof partitionLifecycleMachine>;
  readonly #o: PartitionOwnerOptions;
  #aggregate: PartitionAggregate | null = null;
  #reading: PartitionReading | null = null;
  #checkpointRevision = 0;
  #checkpointAt = 0;
  #lag = 0;
  #timer: NodeJS.Timeout | null = null;
  #caughtUpTimer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> = Promise.resolve();
  /** Bumped on every stop: an effect that outlives its reading sees it and does nothing. */
  #generation = 0;

  constructor(options: PartitionOwnerOptions) {
    this.#o = options;
    this.partition = options.partition;
    const machine = partitionLifecycleMachine.provide({
      actions: {
        restore: (_, { epoch }) => void this.#restore(epoch),
        restoreLater: (_, { epoch }) => void setTimeout(() => this.actor.getSnapshot().value === 'Restoring' && void this.#restore(epoch), 1000),
        startReading: () => void this.#startReading(),
        drain: () => void this.#drain(),
        stopReading: ({ context }) => {
          options.logger.warn({ partition: options.partition, epoch: context.epoch, reason: context.lastError }, 'partition fenced: stopped, nothing more is emitted');
          void this.#stop();
        },
      },
    });
    this.actor = createActor(machine, { input: { partition: options.partition }, inspect: options.inspect, id: `partition-${options.partition}` });
    this.actor.start();
  }

  get state(): PartitionLifecycleState {
    return this.actor.getSnapshot().value as PartitionLifecycleState;
  }

  get epoch(): number {
    return this.actor.getSnapshot().context.epoch;
  }

  /** True while the partition is this node's work (restoring, replaying, active or draining). */
  get running(): boolean {
    const s = this.state;
    return s === 'Restoring' || s === 'Replaying' || s === 'Active' || s === 'Draining';
  }

  assign(epoch: number): void {
    this.actor.send({ type: 'ASSIGN', epoch });
  }

  revoke(): void {
    this.actor.send({ type: 'REVOKE' });
  }

  fence(reason: string): void {
    this.actor.send({ type: 'FENCED', error: reason });
  }

  stats(): PartitionOwnerStats {
    const a = this.#aggregate;
    return {
      partition: this.partition,
      state: this.state,
      epoch: this.epoch,
      position: a?.position ?? 0,
      lag: this.#lag,
      checkpointAgeMs: this.#checkpointAt === 0 ? 0 : this.#o.now() - this.#checkpointAt,
      checkpointBytes: this.#o.checkpoints.lastBytes,
      applied: a?.counters.applied ?? 0,
      duplicates: a?.counters.duplicates ?? 0,
      gaps: a?.counters.gaps ?? 0,
    };
  }

  /** Stops everything (the process is stopping); nothing is released: a successor restores from the checkpoint. */
  async close(): Promise<void> {
    await this.#stop();
    this.actor.stop();
  }

  async #restore(epoch: number): Promise<void> {
    const generation = ++this.#generation;
    const o = this.#o;
    try {
      const stored = await o.checkpoints.read(o.partition);
      const snapshot = stored?.snapshot ?? null;
      // The fencing write: from now on the previous owner's checkpoint writes fail.
      const revision = await o.checkpoints.write(o.partition, { epoch, node: o.node, snapshot }, stored?.revision ?? 0);
      if (generation !== this.#generation) return;
      this.#checkpointRevision = revision;
      this.#checkpointAt = o.now();
      this.#aggregate = snapshot ? PartitionAggregate.restore(snapshot) : PartitionAggregate.create({ partition: o.partition, intervals: o.intervals, graceMs: o.graceMs });
      o.logger.info({ partition: o.partition, epoch, position: this.#aggregate.position, from: stored?.node || null }, 'partition restored');
      this.actor.send({ type: 'RESTORED', position: this.#aggregate.position });
    } catch (error) {
      if (generation !== this.#generation) return;
      const message = (error as Error)?.message ?? String(error);
      if ((error as Error)?.name === 'CheckpointFenced') this.actor.send({ type: 'FENCED', error: message });
      else this.actor.send({ type: 'RESTORE_FAILED', error: message });
    }
  }

  async #startReading(): Promise<void> {
    const generation = this.#generation;
    if (!(await this.#openReading(generation))) return;
    // An empty or fully read log delivers nothing to say so: no message within a moment means caught up.
    this.#caughtUpTimer = setTimeout(() => this.#caughtUp(generation), 300);
    this.#timer = setInterval(() => this.#tick(false), this.#o.tickMs);
  }

  /**
   * Opens the log from the state's position. A reading that ends while the partition is still this node's (the
   * consumer failed for good, a message the handler could not take) is reopened from the position reached — the
   * state is intact and the log replays the rest — instead of leaving an owner that reads nothing.
   */
  async #openReading(generation: number): Promise<boolean> {
    const o = this.#o;
    const aggregate = this.#aggregate!;
    try {
      const reading = await o.reader.open(o.partition, aggregate.position + 1, (entry) => this.#apply(entry, generation));
      if (generation !== this.#generation) {
        void reading.stop();
        return false;
      }
      this.#reading = reading;
      void reading.done.then(
        () => this.#reopen(generation, reading, null),
        (error: unknown) => this.#reopen(generation, reading, error),
      );
      return true;
    } catch (error) {
      if (generation !== this.#generation) return false;
      this.actor.send({ type: 'FENCED', error: `cannot read the log: ${(error as Error)?.message ?? String(error)}` });
      return false;
    }
  }

  #reopen(generation: number, ended: PartitionReading, error: unknown): void {
    if (generation !== this.#generation || this.#reading !== ended || !this.running || this.state === 'Draining') return;
    this.#o.logger.error({ partition: this.#o.partition, position: this.#aggregate?.position, err: (error as Error)?.message ?? null }, 'partition log reading ended; reopening it from the position reached');
    this.#reading = null;
    void ended.stop();
    setTimeout(() => {
      if (generation === this.#generation && this.#aggregate !== null && this.#reading === null) void this.#openReading(generation);
    }, 500);
  }


  #apply(entry: LogEntry, generation: number): void {
    if (generation !== this.#generation) return;
    const aggregate = this.#aggregate!;
    this.#lag = entry.pending;
    if (entry.kind === 'trades') {
      const batch = decodeTradeBatch(entry.data);
      if (batch === null) aggregate.skip(entry.position);
      else aggregate.applyTrades(entry.position, batch);
    } else {
      const message = decodeWatermark(entry.data);
      if (message === null) aggregate.skip(entry.position);
      else if (entry.kind === 'end' || message.end === true) aggregate.applyEnd(entry.position, message.wm);
      else aggregate.applyWatermark(entry.position, message.wm);
    }
    if (entry.pending === 0) this.#caughtUp(generation);
  }

  /**
   * At the head of the log: Active, and a full live refresh of the partition's open klines right away — its live
   * subscribers heard nothing since the previous owner stopped (scale-out.md §3.3 step 4); the versions keep it from
   * ever looking older than what they have.
   */
  #caughtUp(generation: number): void {
    if (generation !== this.#generation || this.state !== 'Replaying') return;
    this.actor.send({ type: 'CAUGHT_UP' });
    void this.#tick(false, true);
  }

  /**
   * One output round; rounds never overlap (each waits for the previous one's durable acknowledgement). A `refresh`
   * round also sends every open kline live — after the round's finals, so no client sees a period's final after the
   * next period's open.
   */
  #tick(forceCheckpoint: boolean, refresh = false): Promise<void> {
    const generation = this.#generation;
    this.#flushing = this.#flushing.then(async () => {
      const aggregate = this.#aggregate;
      if (aggregate === null || generation !== this.#generation) return;
      const o = this.#o;
      const klines = aggregate.takeOutput();
      const rebuilds = aggregate.takeRebuilds();
      if (rebuilds.length > 0) o.logger.warn({ partition: o.partition, rebuilds }, 'late trades older than the last final klines in memory: those ranges go to the writers to rebuild from the exchange’s klines');
      const due = forceCheckpoint || o.now() - this.#checkpointAt >= o.checkpointEveryMs;
      // Taken with the output, before the next message: the checkpoint holds exactly what the output covers.
      const snapshot = due ? aggregate.snapshot() : null;
      const epoch = this.epoch;
      if (refresh) {
        const sent = new Set(klines.map((k) => `${k.symbol} ${k.interval} ${k.openTime}`));
        const rest = aggregate.openKlines().filter((k) => !sent.has(`${k.symbol} ${k.interval} ${k.openTime}`));
        o.bus.publishLive(o.partition, epoch, aggregate.position, o.venue, o.market, klines.concat(rest));
      } else if (klines.length > 0) o.bus.publishLive(o.partition, epoch, aggregate.position, o.venue, o.market, klines);
      if (klines.length > 0 || rebuilds.length > 0) {
        let retries = 0;
        const batch = { partition: o.partition, epoch, position: aggregate.position, venue: o.venue, market: o.market, klines, ...(rebuilds.length > 0 ? { rebuilds } : {}) };
        const stored = await o.bus.publishDurable(batch, (error) => {
          if (retries++ % 20 === 0) o.logger.warn({ partition: o.partition, retries, err: (error as Error)?.message }, 'durable kline publish failed; retrying (outputs wait, nothing is lost)');
        });
        if (!stored || generation !== this.#generation) return;
      }
      if (snapshot === null) return;
      try {
        this.#checkpointRevision = await o.checkpoints.write(o.partition, { epoch, node: o.node, snapshot }, this.#checkpointRevision);
        this.#checkpointAt = o.now();
      } catch (error) {
        if (generation !== this.#generation) return;
        if ((error as Error)?.name === 'CheckpointFenced') {
          o.logger.warn({ partition: o.partition, epoch }, 'partition fenced: another owner wrote its checkpoint');
          this.actor.send({ type: 'FENCED', error: (error as Error).message });
        } else {
          // The store is unreachable (an election): keep working; the next checkpoint tries again.
          o.logger.warn({ partition: o.partition, err: (error as Error)?.message }, 'checkpoint write failed; retrying at the next one');
        }
      }
    });
    return this.#flushing;
  }

  async #drain(): Promise<void> {
    const generation = this.#generation;
    const o = this.#o;
    const reading = this.#reading;
    this.#reading = null;
    this.#clearTimers();
    await reading?.stop();
    await this.#tick(true);
    if (generation !== this.#generation || this.state !== 'Draining') return;
    try {
      await o.release(o.partition);
    } catch (error) {
      o.logger.warn({ partition: o.partition, err: (error as Error)?.message }, 'could not write released; the coordinator will time the move out');
    }
    this.#generation++;
    this.#aggregate = null;
    this.actor.send({ type: 'DRAINED' });
  }

  async #stop(): Promise<void> {
    this.#generation++;
    this.#clearTimers();
    const reading = this.#reading;
    this.#reading = null;
    this.#aggregate = null;
    await reading?.stop();
  }

  #clearTimers(): void {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#caughtUpTimer) clearTimeout(this.#caughtUpTimer);
    this.#timer = null;
    this.#caughtUpTimer = null;
  }
}
