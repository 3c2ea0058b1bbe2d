/**
 * The coordinator's plan (scale-out.md §3.2–3.4) as the pure function it is: initial spread, the crash path (a dead
 * owner's partitions at once, CAS on the record's revision), break-before-make moves (revoking → released → the named
 * member), the move timeout, the bounded rebalance when a member joins, stickiness, and rounds simulated to a stable
 * assignment while members join and die.
 */
import t, { type Test } from 'tap';
import { planAssignment, type AssignmentOptions, type AssignmentRecord, type AssignmentWrite } from '../../src/domain/partition-assignment.ts';

type Records = Map<number, AssignmentRecord>;

const OPTIONS = { now: 1_000_000, moveTimeoutMs: 2_000, maxMovesPerRound: 32 };

function plan(records: ReadonlyMap<number, AssignmentRecord>, members: readonly string[], partitions: number, extra: Partial<AssignmentOptions> = {}): AssignmentWrite[] {
  return planAssignment(records, { ...OPTIONS, partitions, members, ...extra });
}

function active(node: string, revision: number, since = 0): AssignmentRecord {
  return { node, phase: 'active', revision, since };
}

/** `counts[m]` active partitions per member, dealt in blocks: member 0 gets 0..c0-1, member 1 the next, … */
function blocks(members: readonly string[], counts: readonly number[]): Records {
  const records: Records = new Map();
  let p = 0;
  members.forEach((member, m) => {
    for (let i = 0; i < counts[m]!; i++, p++) records.set(p, active(member, 100 + p));
  });
  return records;
}

function loads(records: ReadonlyMap<number, AssignmentRecord>, members: readonly string[]): Map<string, number> {
  const load = new Map(members.map((m) => [m, 0]));
  for (const record of records.values()) if (load.has(record.node)) load.set(record.node, load.get(record.node)! + 1);
  return load;
}

function spread(load: ReadonlyMap<string, number>): number {
  return Math.max(...load.values()) - Math.min(...load.values());
}

t.test('no members: nothing is planned', async (t) => {
  t.same(plan(new Map(), [], 8), []);
  t.same(plan(blocks(['a'], [8]), [], 8), [], 'not even for a dead owner: there is nobody to give it to');
});

t.test('initial assignment spreads every partition evenly over the members', async (t) => {
  for (const [partitions, members] of [
    [256, ['a', 'b', 'c']],
    [16, ['a', 'b', 'c', 'd', 'e']],
    [7, ['a', 'b']],
    [3, ['a', 'b', 'c', 'd']],
  ] as const) {
    const writes = plan(new Map(), members, partitions);
    t.equal(writes.length, partitions, `${partitions} over ${members.length}: one write per partition`);
    t.same(writes.map((w) => w.partition), [...Array(partitions).keys()], 'each partition once, in order');
    t.ok(writes.every((w) => w.phase === 'active' && w.revision === 0 && w.why === 'unowned' && w.next === undefined), 'created (CAS base 0), active, unowned');
    const counts = new Map<string, number>(members.map((m) => [m, 0]));
    for (const w of writes) counts.set(w.node, counts.get(w.node)! + 1);
    t.ok(spread(counts) <= 1, `counts differ by at most 1: ${[...counts.values()].join(',')}`);
  }
});

t.test('a dead owner\'s partitions go to live members, CAS on the record\'s revision, why owner-dead', async (t) => {
  // a: 0..5, b: 6..11, c: 12..17; b dies.
  const records = blocks(['a', 'b', 'c'], [6, 6, 6]);
  const writes = plan(records, ['a', 'c'], 18);
  t.same(writes.map((w) => w.partition), [6, 7, 8, 9, 10, 11], 'exactly b\'s partitions are written');
  for (const w of writes) {
    t.equal(w.why, 'owner-dead');
    t.equal(w.phase, 'active');
    t.equal(w.revision, records.get(w.partition)!.revision, `partition ${w.partition}: the CAS base is the record's revision`);
    t.ok(w.node === 'a' || w.node === 'c', 'to a live member');
  }
  t.same([...writes.reduce((m, w) => m.set(w.node, (m.get(w.node) ?? 0) + 1), new Map<string, number>())].sort(), [['a', 3], ['c', 3]], 'spread over the survivors');
});

t.test('a dead owner\'s moving partition goes to the member its move named, if that one lives', async (t) => {
  const records = blocks(['a', 'b'], [2, 2]);
  records.set(0, { node: 'a', phase: 'revoking', next: 'b', revision: 500, since: OPTIONS.now });
  records.set(1, { node: 'a', phase: 'released', next: 'c', revision: 501, since: OPTIONS.now });
  const writes = plan(records, ['b', 'd'], 4);
  const byPartition = new Map(writes.map((w) => [w.partition, w]));
  t.same(byPartition.get(0), { partition: 0, node: 'b', phase: 'active', revision: 500, why: 'owner-dead' });
  t.equal(byPartition.get(1)!.node, 'd', 'next (c) is dead too: the least loaded live member');
  t.equal(byPartition.get(1)!.revision, 501);
  t.equal(writes.length, 2, 'b\'s own partitions stay');
});

t.test('released goes to `next` while it lives, else to the least loaded', async (t) => {
  const records = blocks(['a', 'b', 'c'], [4, 2, 3]);
  records.set(0, { node: 'a', phase: 'released', next: 'c', revision: 700, since: OPTIONS.now });
  t.same(plan(records, ['a', 'b', 'c'], 9), [{ partition: 0, node: 'c', phase: 'active', revision: 700, why: 'released' }], 'to next, even though b is less loaded');
  const writes = plan(records, ['a', 'b'], 9);
  t.equal(writes.filter((w) => w.why === 'released').length, 1);
  t.same(writes.find((w) => w.partition === 0), { partition: 0, node: 'b', phase: 'active', revision: 700, why: 'released' }, 'c died: b is the least loaded');
  t.same(writes.filter((w) => w.partition !== 0).map((w) => [w.partition, w.why, w.revision]), [[6, 'owner-dead', 106], [7, 'owner-dead', 107], [8, 'owner-dead', 108]], 'c\'s partitions are taken over');
});

t.test('released without a named next goes to the least loaded, which may be its own releaser', async (t) => {
  const records = blocks(['a', 'b'], [3, 4]);
  records.set(0, { node: 'a', phase: 'released', revision: 9, since: OPTIONS.now });
  t.same(plan(records, ['a', 'b'], 7), [{ partition: 0, node: 'a', phase: 'active', revision: 9, why: 'released' }], 'a holds 2 others, b 4: a is least loaded');
});

t.test('a move that takes longer than moveTimeoutMs is timed out; until then nothing moves', async (t) => {
  const records = blocks(['a', 'b'], [4, 1]);
  records.set(3, { node: 'a', phase: 'revoking', next: 'b', revision: 42, since: OPTIONS.now - OPTIONS.moveTimeoutMs });
  t.same(plan(records, ['a', 'b'], 5), [], 'exactly at the timeout: still waiting, and no rebalance while it is in flight');
  t.same(plan(records, ['a', 'b'], 5, { now: OPTIONS.now + 1 }), [{ partition: 3, node: 'b', phase: 'active', revision: 42, why: 'move-timeout' }], 'past it: given to next');
  const nextGone = plan(records, ['a', 'c'], 5, { now: OPTIONS.now + 1 });
  t.same(
    nextGone.find((w) => w.partition === 3),
    { partition: 3, node: 'c', phase: 'active', revision: 42, why: 'move-timeout' },
    'next died meanwhile: the least loaded (the revoking owner\'s count no longer holds it)',
  );
});

t.test('no rebalance while a move is in flight', async (t) => {
  const records = blocks(['a', 'b'], [10, 0]);
  t.ok(plan(records, ['a', 'b'], 10).length > 0, 'unbalanced, nothing in flight: moves are planned');
  records.set(9, { node: 'a', phase: 'revoking', next: 'b', revision: 77, since: OPTIONS.now });
  t.same(plan(records, ['a', 'b'], 10), [], 'one revoking: nothing more');
});

t.test('a joining member triggers at most maxMovesPerRound planned moves, from the most loaded', async (t) => {
  const members = ['a', 'b', 'c'];
  const records = blocks(members, [10, 9, 8]);
  const writes = plan(records, [...members, 'd'], 27, { maxMovesPerRound: 4 });
  t.equal(writes.length, 4, 'capped at 4');
  const load = loads(records, [...members, 'd']);
  for (const w of writes) {
    const record = records.get(w.partition)!;
    t.equal(w.why, 'rebalance');
    t.equal(w.phase, 'revoking', 'break-before-make: the owner revokes first');
    t.equal(w.next, 'd', 'the joiner is next');
    t.equal(w.node, record.node, 'the record still names its owner');
    t.equal(w.revision, record.revision, 'CAS on the record\'s revision');
    t.equal(load.get(w.node), Math.max(...[...load].filter(([m]) => m !== 'd').map(([, c]) => c)), `${w.node} was the most loaded when its partition was picked`);
    load.set(w.node, load.get(w.node)! - 1);
    load.set('d', load.get('d')! + 1);
  }
  t.equal(new Set(writes.map((w) => w.partition)).size, 4, 'four different partitions');
  const uncapped = plan(records, [...members, 'd'], 27);
  t.equal(uncapped.length, 6, 'uncapped: just enough moves to balance (10,9,8,0 → 7,7,7,6)');
  const after = loads(records, [...members, 'd']);
  for (const w of uncapped) {
    after.set(w.node, after.get(w.node)! - 1);
    after.set(w.next!, after.get(w.next!)! + 1);
  }
  t.ok(spread(after) <= 1, 'the planned moves balance it');
});

t.test('stickiness: an assignment balanced within one produces no writes', async (t) => {
  t.same(plan(blocks(['a', 'b', 'c'], [3, 3, 2]), ['a', 'b', 'c'], 8), []);
  t.same(plan(blocks(['a', 'b', 'c'], [2, 3, 3]), ['a', 'b', 'c'], 8), []);
  t.same(plan(blocks(['a'], [16]), ['a'], 16), []);
  // Interleaved ownership (not blocks), and revisions all over the place: still nothing to do.
  const records: Records = new Map();
  for (let p = 0; p < 256; p++) records.set(p, active(['x', 'y', 'z'][(p * 7) % 3]!, 1000 + p * 13));
  t.same(plan(records, ['x', 'y', 'z'], 256), []);
  t.same(plan(records, ['z', 'x', 'y'], 256), [], 'the members\' order does not matter when nothing moves');
});

// ---------------------------------------------------------------------------------------------------------------
// Rounds: the coordinator plans, writes with CAS; owners revoke (→ released); until nothing changes.

class Cluster {
  readonly partitions: number;
  readonly records: Records = new Map();
  revision = 0;
  now = 0;
  writes = 0;
  casFailures = 0;
  moves = 0;

  constructor(partitions: number) {
    this.partitions = partitions;
  }

  /** One coordinator round, then the owners' answers: every revoking owner still alive releases. */
  round(members: readonly string[], maxMovesPerRound: number): AssignmentWrite[] {
    this.now += 500;
    const writes = planAssignment(this.records, { partitions: this.partitions, members, now: this.now, moveTimeoutMs: 2_000, maxMovesPerRound });
    for (const w of writes) {
      const current = this.records.get(w.partition);
      if ((current?.revision ?? 0) !== w.revision) {
        this.casFailures++;
        continue;
      }
      this.records.set(w.partition, { node: w.node, phase: w.phase, revision: ++this.revision, since: this.now, ...(w.next !== undefined ? { next: w.next } : {}) });
      this.writes++;
      if (w.why === 'rebalance') this.moves++;
    }
    for (const [p, record] of this.records) {
      if (record.phase === 'revoking' && members.includes(record.node)) this.records.set(p, { ...record, phase: 'released', revision: ++this.revision, since: this.now });
    }
    return writes;
  }

  /** Rounds until one plans nothing; the number of rounds it took. */
  settle(members: readonly string[], maxMovesPerRound: number): number {
    for (let rounds = 1; rounds <= 200; rounds++) if (this.round(members, maxMovesPerRound).length === 0) return rounds;
    throw new Error('no stable assignment after 200 rounds');
  }
}

function checkStable(t: Test, cluster: Cluster, members: readonly string[], label: string): void {
  const live = new Set(members);
  let owned = 0;
  for (let p = 0; p < cluster.partitions; p++) {
    const record = cluster.records.get(p);
    if (record !== undefined && live.has(record.node) && record.phase === 'active') owned++;
    else t.fail(`${label}: partition ${p} is not actively owned by a live member`, { record });
  }
  t.equal(owned, cluster.partitions, `${label}: every partition is owned by exactly one live member`);
  const load = loads(cluster.records, members);
  t.ok(spread(load) <= 1, `${label}: balanced within 1 (${[...load].map(([m, c]) => `${m}=${c}`).join(' ')})`);
  t.same(planAssignment(cluster.records, { partitions: cluster.partitions, members, now: cluster.now + 10_000, moveTimeoutMs: 2_000, maxMovesPerRound: 8 }), [], `${label}: stable (sticky)`);
}

t.test('simulated rounds: three members join one by one, then one dies', async (t) => {
  for (const partitions of [256, 17]) {
    const cluster = new Cluster(partitions);
    const maxMoves = 8;
    let rounds = cluster.settle(['n1'], maxMoves);
    t.equal(rounds, 2, `${partitions}: one round to create every record, one that finds nothing to do`);
    checkStable(t, cluster, ['n1'], `${partitions} n1`);

    const writesBefore = cluster.writes;
    rounds = cluster.settle(['n1', 'n2'], maxMoves);
    checkStable(t, cluster, ['n1', 'n2'], `${partitions} n1+n2`);
    const movedToN2 = loads(cluster.records, ['n1', 'n2']).get('n2')!;
    t.equal(cluster.writes - writesBefore, 2 * movedToN2, 'each partition n2 took cost exactly two writes (revoking, then active)');
    t.ok(rounds <= 2 * Math.ceil(movedToN2 / maxMoves) + 1, `bounded moves per round: ${rounds} rounds for ${movedToN2} moves`);

    cluster.settle(['n1', 'n2', 'n3'], maxMoves);
    checkStable(t, cluster, ['n1', 'n2', 'n3'], `${partitions} n1+n2+n3`);

    const before = new Map([...cluster.records].map(([p, r]) => [p, r.node]));
    const ownersDeadBefore = cluster.moves;
    cluster.settle(['n1', 'n3'], maxMoves);
    checkStable(t, cluster, ['n1', 'n3'], `${partitions} n2 died`);
    for (const [p, node] of before) {
      if (node !== 'n2' && cluster.records.get(p)!.node !== node) t.fail(`partition ${p} moved from ${node} although its owner lives`);
    }
    t.equal(cluster.moves, ownersDeadBefore, 'the crash path needed no planned moves: survivors kept theirs');
    t.equal(cluster.casFailures, 0, 'every write was based on the current revision');
  }
});

t.test('simulated rounds: a member that never releases is timed out and the move still completes', async (t) => {
  const cluster = new Cluster(12);
  cluster.settle(['a'], 4);
  // b joins; a is stuck (a bug, a GC pause): its revoking records are not answered.
  const writes = planAssignment(cluster.records, { partitions: 12, members: ['a', 'b'], now: cluster.now, moveTimeoutMs: 2_000, maxMovesPerRound: 4 });
  t.equal(writes.length, 4);
  for (const w of writes) cluster.records.set(w.partition, { node: w.node, phase: w.phase, next: w.next!, revision: ++cluster.revision, since: cluster.now });
  const stuck = planAssignment(cluster.records, { partitions: 12, members: ['a', 'b'], now: cluster.now + 1_000, moveTimeoutMs: 2_000, maxMovesPerRound: 4 });
  t.same(stuck, [], 'within the timeout nothing happens');
  const timedOut = planAssignment(cluster.records, { partitions: 12, members: ['a', 'b'], now: cluster.now + 2_001, moveTimeoutMs: 2_000, maxMovesPerRound: 4 });
  t.same(timedOut.map((w) => [w.partition, w.node, w.why, w.revision]).sort(), writes.map((w) => [w.partition, 'b', 'move-timeout', cluster.records.get(w.partition)!.revision]).sort());
  for (const w of timedOut) cluster.records.set(w.partition, { node: w.node, phase: w.phase, revision: ++cluster.revision, since: cluster.now });
  cluster.now += 2_001;
  cluster.settle(['a', 'b'], 4);
  checkStable(t, cluster, ['a', 'b'], 'after the timeout');
});
