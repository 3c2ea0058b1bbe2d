/**
 * The coordinator's decisions, as a pure function of what it sees: the ownership records and the live members.
 * Sticky least-loaded (Akka's LeastShardAllocationStrategy, scale-out.md §3.2): a partition stays where it is while
 * its owner lives; a dead owner's partitions go to the least loaded live members at once (the crash path); a
 * released partition goes to the member its move named; and when the counts differ by more than one, a bounded
 * number of partitions move from the most to the least loaded member, break-before-make (`revoking` first).
 */
export type AssignmentPhase = 'active' | 'revoking' | 'released';

export interface AssignmentRecord {
  readonly node: string;
  readonly phase: AssignmentPhase;
  readonly next?: string;
  /** The record's revision (the CAS base for the next write). */
  readonly revision: number;
  /** When the coordinator saw this record appear (ms, its own clock): bounds how long a move may take. */
  readonly since: number;
}

export interface AssignmentWrite {
  readonly partition: number;
  readonly node: string;
  readonly phase: AssignmentPhase;
  readonly next?: string;
  /** CAS base: 0 to create. */
  readonly revision: number;
  readonly why: 'unowned' | 'owner-dead' | 'released' | 'move-timeout' | 'rebalance';
}

export interface AssignmentOptions {
  readonly partitions: number;
  /** Members alive now, in a stable order (ties go to the first). */
  readonly members: readonly string[];
  readonly now: number;
  /** A revoking owner that has not released within this is treated as dead for that partition. */
  readonly moveTimeoutMs: number;
  /** Planned moves started per round at most. */
  readonly maxMovesPerRound: number;
}

export function planAssignment(records: ReadonlyMap<number, AssignmentRecord>, options: AssignmentOptions): AssignmentWrite[] {
  const writes: AssignmentWrite[] = [];
  const members = options.members;
  if (members.length === 0) return writes;
  const alive = new Set(members);
  const load = new Map<string, number>(members.map((m) => [m, 0]));
  let moving = 0;
  for (const record of records.values()) {
    if (!alive.has(record.node)) continue;
    load.set(record.node, load.get(record.node)! + 1);
    if (record.phase !== 'active') moving++;
  }
  const leastLoaded = (): string => {
    let best = members[0]!;
    for (const m of members) if (load.get(m)! < load.get(best)!) best = m;
    return best;
  };
  const give = (partition: number, node: string, revision: number, why: AssignmentWrite['why']): void => {
    writes.push({ partition, node, phase: 'active', revision, why });
    load.set(node, load.get(node)! + 1);
  };

  for (let p = 0; p < options.partitions; p++) {
    const record = records.get(p);
    if (record === undefined) {
      give(p, leastLoaded(), 0, 'unowned');
      continue;
    }
    if (!alive.has(record.node)) {
      const target = record.next !== undefined && alive.has(record.next) ? record.next : leastLoaded();
      give(p, target, record.revision, 'owner-dead');
      continue;
    }
    if (record.phase === 'released') {
      load.set(record.node, load.get(record.node)! - 1);
      const target = record.next !== undefined && alive.has(record.next) ? record.next : leastLoaded();
      give(p, target, record.revision, 'released');
      continue;
    }
    if (record.phase === 'revoking' && options.now - record.since > options.moveTimeoutMs) {
      load.set(record.node, load.get(record.node)! - 1);
      const target = record.next !== undefined && alive.has(record.next) ? record.next : leastLoaded();
      give(p, target, record.revision, 'move-timeout');
    }
  }
  if (writes.length > 0 || moving > 0) return writes;

  // Balanced enough? Move one partition at a time from the most to the least loaded, within the round's budget.
  const planned = new Set<number>();
  for (let moves = 0; moves < options.maxMovesPerRound; moves++) {
    let most = members[0]!;
    for (const m of members) if (load.get(m)! > load.get(most)!) most = m;
    const least = leastLoaded();
    if (load.get(most)! - load.get(least)! <= 1) break;
    let candidate: number | undefined;
    for (const [p, record] of records) {
      if (record.node === most && record.phase === 'active' && !planned.has(p) && (candidate === undefined || p > candidate)) candidate = p;
    }
    if (candidate === undefined) break;
    planned.add(candidate);
    writes.push({ partition: candidate, node: most, phase: 'revoking', next: least, revision: records.get(candidate)!.revision, why: 'rebalance' });
    load.set(most, load.get(most)! - 1);
    load.set(least, load.get(least)! + 1);
  }
  return writes;
}
