/**
 * The coordinator singleton (whoever holds the lease): tracks members by their heartbeats and, every round, turns
 * the pure assignment plan into compare-and-set writes of the ownership records. A fresh coordinator waits one
 * detection window before it calls anyone dead: it has not heard the members' heartbeats yet.
 */
import { planAssignment, type AssignmentRecord } from '../../domain/partition-assignment.ts';
import type { CoordinatorLease } from '../../infra/nats/coordinator-lease.ts';
import type { Heartbeat } from '../../infra/nats/membership.ts';
import type { OwnershipStore } from '../../infra/nats/ownership-store.ts';
import type { Logger } from '../../infra/logger.ts';

export interface PartitionCoordinatorOptions {
  readonly partitions: number;
  readonly lease: CoordinatorLease;
  readonly ownership: OwnershipStore;
  /** A member is dead after this long without a heartbeat. */
  readonly deadAfterMs: number;
  readonly moveTimeoutMs: number;
  readonly maxMovesPerRound: number;
  readonly roundMs: number;
  /** Lease renewals: well inside the lease's TTL. */
  readonly renewMs: number;
  readonly now: () => number;
  readonly logger: Logger;
}

export interface CoordinatorStats {
  leader: boolean;
  rounds: number;
  writes: number;
  conflicts: number;
  failovers: number;
  moves: number;
}

export class PartitionCoordinator {
  readonly stats: CoordinatorStats = { leader: false, rounds: 0, writes: 0, conflicts: 0, failovers: 0, moves: 0 };
  readonly #o: PartitionCoordinatorOptions;
  readonly #lastSeen = new Map<string, number>();
  /** When each record (partition@revision) was first seen: how long a move has taken. */
  readonly #since = new Map<string, number>();
  #leaderSince = 0;
  /** Since when this node has heard heartbeats: a new coordinator that has listened long enough need not wait. */
  #listeningSince = 0;
  #renewTimer: NodeJS.Timeout | null = null;
  #roundTimer: NodeJS.Timeout | null = null;
  #round: Promise<void> | null = null;
  #closed = false;

  constructor(options: PartitionCoordinatorOptions) {
    this.#o = options;
  }

  get isLeader(): boolean {
    return this.stats.leader;
  }

  onHeartbeat(beat: Heartbeat): void {
    this.#lastSeen.set(beat.node, this.#o.now());
  }

  /** Members heard within the detection window, sorted (a stable tie-break). */
  members(): string[] {
    const now = this.#o.now();
    return [...this.#lastSeen].filter(([, at]) => now - at <= this.#o.deadAfterMs).map(([node]) => node).sort();
  }

  start(): void {
    this.#listeningSince = this.#o.now();
    const renew = async (): Promise<void> => {
      if (this.#closed) return;
      const held = await this.#o.lease.acquireOrRenew();
      if (held && !this.stats.leader) {
        this.#leaderSince = this.#o.now();
        this.#o.logger.info('coordinator lease taken: this node assigns partitions');
      } else if (!held && this.stats.leader) this.#o.logger.warn('coordinator lease lost');
      this.stats.leader = held;
    };
    void renew();
    this.#renewTimer = setInterval(() => void renew(), this.#o.renewMs);
    this.#roundTimer = setInterval(() => {
      if (this.stats.leader && this.#round === null) this.#round = this.#runRound().finally(() => (this.#round = null));
    }, this.#o.roundMs);
  }

  /**
   * A planned move's old owner released the partition: hand it to the node the move named at once, instead of at the
   * next round (the partition is paused until then). Only the coordinator does; a lost CAS means someone was first.
   */
  async onReleased(partition: number, next: string | undefined, revision: number): Promise<void> {
    if (!this.stats.leader || next === undefined || !this.members().includes(next)) return;
    const written = await this.#o.ownership.write(partition, { node: next, phase: 'active' }, revision).catch(() => null);
    if (written === null) this.stats.conflicts++;
    else {
      this.stats.writes++;
      this.#o.logger.info({ partition, node: next, phase: 'active', why: 'released', epoch: written }, 'partition assignment');
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#renewTimer) clearInterval(this.#renewTimer);
    if (this.#roundTimer) clearInterval(this.#roundTimer);
    await this.#round;
    if (this.stats.leader) await this.#o.lease.release();
    this.stats.leader = false;
  }

  async #runRound(): Promise<void> {
    const o = this.#o;
    const now = o.now();
    // Hear everyone for a detection window before deciding anyone is dead (every node listens from its start, so a
    // coordinator taking over from a crashed one has usually heard enough already).
    if (now - Math.min(this.#leaderSince, this.#listeningSince) < o.deadAfterMs) return;
    const members = this.members();
    if (members.length === 0) return;
    let current;
    try {
      current = await o.ownership.all();
    } catch {
      return; // KV unavailable (an election): owners keep working; try next round.
    }
    const records = new Map<number, AssignmentRecord>();
    for (const [partition, own] of current) {
      const key = `${partition}@${own.revision}`;
      if (!this.#since.has(key)) this.#since.set(key, now);
      records.set(partition, { ...own.record, revision: own.revision, since: this.#since.get(key)! });
    }
    const writes = planAssignment(records, { partitions: o.partitions, members, now, moveTimeoutMs: o.moveTimeoutMs, maxMovesPerRound: o.maxMovesPerRound });
    this.stats.rounds++;
    for (const write of writes) {
      const record = write.next === undefined ? { node: write.node, phase: write.phase } : { node: write.node, phase: write.phase, next: write.next };
      const revision = await o.ownership.write(write.partition, record, write.revision).catch(() => null);
      if (revision === null) {
        this.stats.conflicts++;
        continue;
      }
      this.stats.writes++;
      if (write.why === 'owner-dead' || write.why === 'move-timeout') this.stats.failovers++;
      if (write.why === 'rebalance') this.stats.moves++;
      if (write.why !== 'unowned') o.logger.info({ partition: write.partition, node: write.node, phase: write.phase, next: write.next, why: write.why, epoch: revision }, 'partition assignment');
    }
    if (this.#since.size > 10 * o.partitions) this.#since.clear();
  }
}
