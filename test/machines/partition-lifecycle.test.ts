/**
 * The partition lifecycle step by step with `transition()`: which state each event leads to, what it records in the
 * context and which effects it asks the partition owner for (restore, startReading, drain, stopReading,
 * restoreLater) — without running any of them.
 */
import t from 'tap';
import { initialTransition, transition, type EventFromLogic, type SnapshotFrom } from 'xstate';
import { partitionLifecycleMachine } from '../../src/machines/partition-lifecycle.ts';

type Snapshot = SnapshotFrom<typeof partitionLifecycleMachine>;
type Event = EventFromLogic<typeof partitionLifecycleMachine>;

/** The effects of a step (XState's own actions left out), as [type, params]. */
function effects(actions: readonly { type: string; params?: unknown }[]): [string, unknown][] {
  return actions.filter((action) => !action.type.startsWith('xstate.')).map((action) => [action.type, action.params]);
}

function step(snapshot: Snapshot, event: Event): [Snapshot, [string, unknown][]] {
  const [next, actions] = transition(partitionLifecycleMachine, snapshot, event);
  return [next, effects(actions)];
}

function start(partition = 7): Snapshot {
  return initialTransition(partitionLifecycleMachine, { partition })[0];
}

/** Drives a fresh machine through the given events, checking nothing (the path itself is tested step by step). */
function reach(events: readonly Event[]): Snapshot {
  let s = start();
  for (const event of events) [s] = step(s, event);
  return s;
}

const ASSIGN = (epoch: number): Event => ({ type: 'ASSIGN', epoch });
const RESTORED = (position: number): Event => ({ type: 'RESTORED', position });
const FENCED = (error: string): Event => ({ type: 'FENCED', error });
const CAUGHT_UP: Event = { type: 'CAUGHT_UP' };
const REVOKE: Event = { type: 'REVOKE' };
const DRAINED: Event = { type: 'DRAINED' };

const AT = {
  Unassigned: [] as Event[],
  Restoring: [ASSIGN(5)],
  Replaying: [ASSIGN(5), RESTORED(100)],
  Active: [ASSIGN(5), RESTORED(100), CAUGHT_UP],
  Draining: [ASSIGN(5), RESTORED(100), CAUGHT_UP, REVOKE],
  Released: [ASSIGN(5), RESTORED(100), CAUGHT_UP, REVOKE, DRAINED],
  Fenced: [ASSIGN(5), RESTORED(100), CAUGHT_UP, FENCED('lost the CAS')],
};

t.test('the happy path: assign, restore, replay, catch up, revoke, drain, release', async (t) => {
  let [s, actions] = initialTransition(partitionLifecycleMachine, { partition: 7 });
  let out = effects(actions);
  t.same(out, [], 'starting asks for nothing');
  t.equal(s.value, 'Unassigned');
  t.same(s.context, { partition: 7, epoch: 0, restoredAt: 0, lastError: null });

  [s, out] = step(s, ASSIGN(42));
  t.equal(s.value, 'Restoring');
  t.same(out, [['restore', { epoch: 42 }]], 'restore is asked for with the new epoch');
  t.equal(s.context.epoch, 42);

  [s, out] = step(s, RESTORED(1234));
  t.equal(s.value, 'Replaying');
  t.same(out, [['startReading', undefined]]);
  t.equal(s.context.restoredAt, 1234, 'the checkpoint position is recorded');
  t.equal(s.context.epoch, 42);

  [s, out] = step(s, CAUGHT_UP);
  t.equal(s.value, 'Active');
  t.same(out, [], 'catching up asks for nothing');

  [s, out] = step(s, REVOKE);
  t.equal(s.value, 'Draining');
  t.same(out, [['drain', undefined]]);

  [s, out] = step(s, DRAINED);
  t.equal(s.value, 'Released');
  t.same(out, []);
  t.same(s.context, { partition: 7, epoch: 42, restoredAt: 1234, lastError: null });
});

t.test('a revoke while still replaying drains too', async (t) => {
  const [s, out] = step(reach(AT.Replaying), REVOKE);
  t.equal(s.value, 'Draining');
  t.same(out, [['drain', undefined]]);
});

t.test('RESTORE_FAILED stays in Restoring, records the error and asks to try again later with the same epoch', async (t) => {
  let s = reach([ASSIGN(9)]);
  let out: [string, unknown][];
  [s, out] = step(s, { type: 'RESTORE_FAILED', error: 'kv timeout' });
  t.equal(s.value, 'Restoring');
  t.equal(s.context.lastError, 'kv timeout');
  t.same(out, [['restoreLater', { epoch: 9 }]]);
  [s, out] = step(s, { type: 'RESTORE_FAILED', error: 'kv timeout again' });
  t.equal(s.value, 'Restoring');
  t.equal(s.context.lastError, 'kv timeout again', 'the latest error is kept');
  t.same(out, [['restoreLater', { epoch: 9 }]]);
  [s, out] = step(s, RESTORED(50));
  t.equal(s.value, 'Replaying', 'a later restore succeeds as usual');
  t.same(out, [['startReading', undefined]]);
  t.equal(s.context.restoredAt, 50);
});

for (const from of ['Restoring', 'Replaying', 'Active', 'Draining'] as const) {
  t.test(`FENCED from ${from} → Fenced: stops reading and records why`, async (t) => {
    const before = reach(AT[from]);
    t.equal(before.value, from);
    const [s, out] = step(before, FENCED(`fenced in ${from}`));
    t.equal(s.value, 'Fenced');
    t.same(out, [['stopReading', undefined]]);
    t.equal(s.context.lastError, `fenced in ${from}`);
    t.equal(s.context.epoch, 5, 'the epoch it was fenced at stays visible');
  });
}

for (const from of ['Released', 'Fenced'] as const) {
  t.test(`ASSIGN from ${from} → Restoring with the new epoch (and the old error forgotten)`, async (t) => {
    const before = reach(AT[from]);
    t.equal(before.value, from);
    const [s, out] = step(before, ASSIGN(77));
    t.equal(s.value, 'Restoring');
    t.same(out, [['restore', { epoch: 77 }]]);
    t.equal(s.context.epoch, 77);
    t.equal(s.context.lastError, null);
  });
}

t.test('events that do not apply leave the state, the context and the effects untouched', async (t) => {
  const all: Event[] = [ASSIGN(99), RESTORED(999), { type: 'RESTORE_FAILED', error: 'e' }, CAUGHT_UP, REVOKE, DRAINED, FENCED('f')];
  const handled: Record<keyof typeof AT, readonly Event['type'][]> = {
    Unassigned: ['ASSIGN'],
    Restoring: ['RESTORED', 'RESTORE_FAILED', 'FENCED'],
    Replaying: ['CAUGHT_UP', 'REVOKE', 'FENCED'],
    Active: ['REVOKE', 'FENCED'],
    Draining: ['DRAINED', 'FENCED'],
    Released: ['ASSIGN'],
    Fenced: ['ASSIGN'],
  };
  let ignored = 0;
  for (const [state, events] of Object.entries(AT) as [keyof typeof AT, Event[]][]) {
    const before = reach(events);
    t.equal(before.value, state);
    for (const event of all) {
      const [after, out] = step(before, event);
      if (handled[state].includes(event.type)) {
        t.ok(after !== before, `${state} handles ${event.type}`);
        continue;
      }
      ignored++;
      t.equal(after.value, state, `${event.type} in ${state} keeps the state`);
      t.same(after.context, before.context, `${event.type} in ${state} keeps the context`);
      t.same(out, [], `${event.type} in ${state} asks for nothing`);
    }
  }
  t.equal(ignored, 7 * 7 - 13, 'every unhandled pair was checked');
});
