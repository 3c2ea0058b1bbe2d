/**
 * An aggregator process's actors: heartbeats out, ownership records in (a KV watch), one PartitionOwner per
 * partition this node was ever given, and a coordinator candidate. An ownership record naming this node `active`
 * assigns the partition at that record's revision (the epoch); `revoking` drains it; a record naming another node
 * fences whatever this node still runs of it (a zombie after a pause learns it here, or from its checkpoint CAS).
 */
import type { InspectionEvent } from 'xstate';
import type { IntervalName } from '../../domain/interval.ts';
import type { CheckpointStore } from '../../infra/nats/checkpoint-store.ts';
import type { KlineBus } from '../../infra/nats/kline-bus.ts';
import type { Membership } from '../../infra/nats/membership.ts';
import type { Ownership, OwnershipStore } from '../../infra/nats/ownership-store.ts';
import type { PartitionLogReader } from '../../infra/nats/partition-log-reader.ts';
import type { Logger } from '../../infra/logger.ts';
import { PartitionCoordinator, type PartitionCoordinatorOptions } from './partition-coordinator.ts';
import { PartitionOwner, type PartitionOwnerStats } from './partition-owner.ts';

export interface AggregatorNodeOptions {
  readonly node: string;
  readonly venue: string;
  readonly market: string;
  readonly intervals: readonly IntervalName[];
  readonly graceMs: number;
  readonly partitions: number;
  readonly tickMs: number;
  readonly checkpointEveryMs: number;
  readonly heartbeatMs: number;
  readonly reader: PartitionLogReader;
  readonly bus: KlineBus;
  readonly checkpoints: CheckpointStore;
  readonly ownership: OwnershipStore;
  readonly membership: Membership;
  readonly coordinator: Omit<PartitionCoordinatorOptions, 'partitions' | 'ownership' | 'now' | 'logger'>;
  readonly now: () => number;
  readonly logger: Logger;
  readonly inspect?: (event: InspectionEvent) => void;
}

export class AggregatorNode {
  readonly coordinator: PartitionCoordinator;
  readonly #o: AggregatorNodeOptions;
  readonly #owners = new Map<number, PartitionOwner>();
  #beatTimer: NodeJS.Timeout | null = null;
  #watch: { stop(): void } | null = null;
  #closed = false;

  constructor(options: AggregatorNodeOptions) {
    this.#o = options;
    this.coordinator = new PartitionCoordinator({ ...options.coordinator, partitions: options.partitions, ownership: options.ownership, now: options.now, logger: options.logger.child({ actor: 'coordinator' }) });
  }

  async start(): Promise<void> {
    const o = this.#o;
    o.membership.listen((beat) => this.coordinator.onHeartbeat(beat));
    this.#beat();
    this.#beatTimer = setInterval(() => this.#beat(), o.heartbeatMs);
    this.#watch = await o.ownership.watch((own) => this.#onOwnership(own));
    this.coordinator.start();
  }

  /** Partitions this node works on now. */
  owned(): number[] {
    return [...this.#owners.values()].filter((owner) => owner.running).map((owner) => owner.partition).sort((a, b) => a - b);
  }

  stats(): PartitionOwnerStats[] {
    return [...this.#owners.values()].map((owner) => owner.stats());
  }

  owner(partition: number): PartitionOwner | undefined {
    return this.#owners.get(partition);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#beatTimer) clearInterval(this.#beatTimer);
    this.#watch?.stop();
    this.#o.membership.close();
    await this.coordinator.close();
    await Promise.all([...this.#owners.values()].map((owner) => owner.close()));
  }

  #beat(): void {
    let lag = 0;
    for (const owner of this.#owners.values()) if (owner.running) lag += owner.stats().lag;
    this.#o.membership.beat({ node: this.#o.node, owned: this.owned(), lag, at: this.#o.now() });
  }

  #ownerOf(partition: number): PartitionOwner {
    let owner = this.#owners.get(partition);
    if (owner === undefined) {
      const o = this.#o;
      owner = new PartitionOwner({
        partition,
        node: o.node,
        venue: o.venue,
        market: o.market,
        intervals: o.intervals,
        graceMs: o.graceMs,
        tickMs: o.tickMs,
        checkpointEveryMs: o.checkpointEveryMs,
        reader: o.reader,
        bus: o.bus,
        checkpoints: o.checkpoints,
        release: (p) => this.#release(p),
        logger: o.logger.child({ actor: 'partition', partition }),
        inspect: o.inspect,
        now: o.now,
      });
      this.#owners.set(partition, owner);
    }
    return owner;
  }

  #onOwnership(own: Ownership): void {
    if (this.#closed || own.partition >= this.#o.partitions) return;
    const { node, phase } = own.record;
    const existing = this.#owners.get(own.partition);
    if (phase === 'released') void this.coordinator.onReleased(own.partition, own.record.next, own.revision);
    if (node !== this.#o.node) {
      if (existing?.running) existing.fence(`partition ${own.partition} is owned by ${node} now (epoch ${own.revision})`);
      return;
    }
    if (phase === 'active') {
      const owner = this.#ownerOf(own.partition);
      if (!owner.running || owner.epoch !== own.revision) {
        if (owner.running) owner.fence(`re-assigned at epoch ${own.revision}`);
        owner.assign(own.revision);
      }
    } else if (phase === 'revoking') {
      if (existing?.running) existing.revoke();
    }
  }

  async #release(partition: number): Promise<void> {
    const current = await this.#o.ownership.get(partition);
    if (current === null || current.record.node !== this.#o.node || current.record.phase !== 'revoking') return;
    await this.#o.ownership.write(partition, { node: this.#o.node, phase: 'released', ...(current.record.next ? { next: current.record.next } : {}) }, current.revision);
  }
}
