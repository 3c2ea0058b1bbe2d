/**
 * The service lifecycle machine on its own: starting → running → draining → stopped, FATAL recording only the first
 * reason, the refused events, and the supervisor's actions (spawnChildren, beginDrain) each run exactly once.
 */
import t from 'tap';
import { createActor, initialTransition, transition } from 'xstate';
import { serviceLifecycleMachine, type ServiceLifecycleEvent } from '../../src/machines/service-lifecycle.ts';

type State = 'starting' | 'running' | 'draining' | 'stopped';

const STARTED: ServiceLifecycleEvent = { type: 'STARTED' };
const DRAINED: ServiceLifecycleEvent = { type: 'DRAINED' };
const stop = (signal = 'SIGTERM'): ServiceLifecycleEvent => ({ type: 'STOP', signal });
const fatal = (error: string): ServiceLifecycleEvent => ({ type: 'FATAL', error });

/** A running actor whose supervisor actions are counted. */
function counted(path: readonly ServiceLifecycleEvent[] = []) {
  const calls = { spawnChildren: 0, beginDrain: 0 };
  const machine = serviceLifecycleMachine.provide({
    actions: {
      spawnChildren: () => {
        calls.spawnChildren++;
      },
      beginDrain: () => {
        calls.beginDrain++;
      },
    },
  });
  const actor = createActor(machine);
  actor.start();
  for (const event of path) actor.send(event);
  return { actor, calls };
}

t.test('start: starting, spawnChildren once, no drain', async (t) => {
  const { actor, calls } = counted();
  t.equal(actor.getSnapshot().value, 'starting');
  t.same(actor.getSnapshot().context, { fatal: null });
  t.equal(actor.getSnapshot().status, 'active');
  t.same(calls, { spawnChildren: 1, beginDrain: 0 });
  actor.stop();
});

t.test('spawnChildren is declared as the entry action of the initial state (pure check)', async (t) => {
  const [snapshot, actions] = initialTransition(serviceLifecycleMachine);
  t.equal(snapshot.value, 'starting');
  t.same(
    actions.map((action) => action.type),
    ['spawnChildren'],
  );
});

t.test('happy path: STARTED → running, STOP → draining, DRAINED → stopped (final)', async (t) => {
  const { actor, calls } = counted();
  actor.send(STARTED);
  t.equal(actor.getSnapshot().value, 'running');
  t.same(calls, { spawnChildren: 1, beginDrain: 0 }, 'running: nothing more spawned, no drain');
  actor.send(stop());
  t.equal(actor.getSnapshot().value, 'draining');
  t.same(calls, { spawnChildren: 1, beginDrain: 1 }, 'draining: beginDrain ran once');
  t.equal(actor.getSnapshot().context.fatal, null, 'a STOP is not fatal');
  actor.send(DRAINED);
  t.equal(actor.getSnapshot().value, 'stopped');
  t.equal(actor.getSnapshot().status, 'done');
  t.equal(actor.getSnapshot().context.fatal, null);
  t.same(calls, { spawnChildren: 1, beginDrain: 1 }, 'stopped: counts unchanged');
});

t.test('the actor completes (toPromise-style) once stopped', async (t) => {
  const { actor } = counted([STARTED, stop('SIGINT')]);
  let completed = false;
  actor.subscribe({ complete: () => (completed = true) });
  t.notOk(completed, 'not complete while draining');
  actor.send(DRAINED);
  t.ok(completed, 'complete after DRAINED');
});

t.test('FATAL in running → draining, recording only the first reason', async (t) => {
  const { actor, calls } = counted([STARTED]);
  actor.send(fatal('db gone'));
  t.equal(actor.getSnapshot().value, 'draining');
  t.equal(actor.getSnapshot().context.fatal, 'db gone');
  t.equal(calls.beginDrain, 1);
  actor.send(fatal('second failure'));
  t.equal(actor.getSnapshot().value, 'draining', 'a second FATAL keeps draining');
  t.equal(actor.getSnapshot().context.fatal, 'db gone', 'the first reason is kept');
  t.equal(calls.beginDrain, 1, 'a FATAL while draining does not begin a second drain');
  actor.send(DRAINED);
  t.equal(actor.getSnapshot().value, 'stopped');
  t.equal(actor.getSnapshot().context.fatal, 'db gone', 'stopped keeps the fatal reason (non-zero exit)');
});

t.test('FATAL in starting → draining with the reason', async (t) => {
  const { actor, calls } = counted([fatal('cannot bind port')]);
  t.equal(actor.getSnapshot().value, 'draining');
  t.equal(actor.getSnapshot().context.fatal, 'cannot bind port');
  t.same(calls, { spawnChildren: 1, beginDrain: 1 });
  actor.stop();
});

t.test('STOP in starting → draining without a fatal reason', async (t) => {
  const { actor, calls } = counted([stop()]);
  t.equal(actor.getSnapshot().value, 'draining');
  t.equal(actor.getSnapshot().context.fatal, null);
  t.same(calls, { spawnChildren: 1, beginDrain: 1 });
  actor.stop();
});

t.test('a FATAL after STOP, while draining, is still recorded (the first fatal)', async (t) => {
  const { actor, calls } = counted([STARTED, stop(), fatal('flush failed'), fatal('later')]);
  t.equal(actor.getSnapshot().value, 'draining');
  t.equal(actor.getSnapshot().context.fatal, 'flush failed');
  t.equal(calls.beginDrain, 1);
  actor.stop();
});

// ---------------------------------------------------------------------------------------------------------------------
// The table: every state × every event, each state reached by a real path.

const PATHS: Readonly<Record<State, readonly ServiceLifecycleEvent[]>> = {
  starting: [],
  running: [STARTED],
  draining: [STARTED, stop()],
  stopped: [STARTED, stop(), DRAINED],
};

const PROBES: readonly ServiceLifecycleEvent[] = [STARTED, stop('SIGHUP'), fatal('probe'), DRAINED];

/** Expected target, or 'refused'; plus the expected fatal afterwards and how many times beginDrain ran in total. */
const TABLE: Readonly<Record<State, Readonly<Record<ServiceLifecycleEvent['type'], State | 'refused'>>>> = {
  starting: { STARTED: 'running', STOP: 'draining', FATAL: 'draining', DRAINED: 'refused' },
  running: { STARTED: 'refused', STOP: 'draining', FATAL: 'draining', DRAINED: 'refused' },
  // FATAL while draining records the reason but is not a transition to a new state.
  draining: { STARTED: 'refused', STOP: 'refused', FATAL: 'draining', DRAINED: 'stopped' },
  stopped: { STARTED: 'refused', STOP: 'refused', FATAL: 'refused', DRAINED: 'refused' },
};

t.test('states × events table', async (t) => {
  let refusedCount = 0;
  for (const [state, path] of Object.entries(PATHS) as [State, readonly ServiceLifecycleEvent[]][]) {
    for (const probe of PROBES) {
      const want = TABLE[state][probe.type];
      const label = `${state} + ${probe.type}`;
      const { actor, calls } = counted(path);
      const before = actor.getSnapshot();
      const callsBefore = { ...calls };
      t.equal(before.value, state, `${label}: reached ${state}`);

      // Pure check with transition(): value, context and the actions it would run.
      let pure = initialTransition(serviceLifecycleMachine)[0];
      for (const event of path) pure = transition(serviceLifecycleMachine, pure, event)[0];
      const [pureAfter, pureActions] = transition(serviceLifecycleMachine, pure, probe);

      actor.send(probe);
      const after = actor.getSnapshot();

      if (want === 'refused') {
        refusedCount++;
        t.equal(after.value, state, `${label}: refused, value unchanged`);
        t.same(after.context, before.context, `${label}: refused, context unchanged`);
        t.equal(after.status, before.status, `${label}: refused, status unchanged`);
        t.same(calls, callsBefore, `${label}: refused, no supervisor action ran`);
        t.equal(pureAfter.value, state, `${label}: refused (pure)`);
        t.same(pureActions, [], `${label}: refused (pure), no actions`);
      } else {
        t.equal(after.value, want, `${label}: → ${want}`);
        t.equal(pureAfter.value, want, `${label}: → ${want} (pure)`);
        const wantFatal = probe.type === 'FATAL' ? 'probe' : null;
        t.equal(after.context.fatal, wantFatal, `${label}: fatal`);
        t.equal(pureAfter.context.fatal, wantFatal, `${label}: fatal (pure)`);
        const enteredDraining = want === 'draining' && state !== 'draining';
        t.same(
          calls,
          { spawnChildren: 1, beginDrain: callsBefore.beginDrain + (enteredDraining ? 1 : 0) },
          `${label}: beginDrain runs once, on entering draining`,
        );
        t.equal(after.status, want === 'stopped' ? 'done' : 'active', `${label}: status`);
      }
      t.equal(calls.spawnChildren, 1, `${label}: spawnChildren ran exactly once`);
      actor.stop();
    }
  }
  t.equal(refusedCount, 9, 'refused cells');
});

t.test('the specifically refused events, spelled out', async (t) => {
  const cases: [State, ServiceLifecycleEvent][] = [
    ['starting', DRAINED],
    ['running', DRAINED],
    ['running', STARTED],
    ['draining', STARTED],
    ['draining', stop('SIGINT')],
  ];
  for (const [state, event] of cases) {
    const { actor, calls } = counted(PATHS[state]);
    const drains = calls.beginDrain;
    actor.send(event);
    t.equal(actor.getSnapshot().value, state, `${event.type} in ${state} is refused`);
    t.equal(calls.beginDrain, drains, `${event.type} in ${state}: beginDrain not run again`);
    actor.stop();
  }
});

t.test('a second STOP while draining does not restart the drain', async (t) => {
  const { actor, calls } = counted([STARTED, stop('SIGTERM')]);
  actor.send(stop('SIGTERM'));
  actor.send(stop('SIGINT'));
  t.equal(calls.beginDrain, 1);
  t.equal(actor.getSnapshot().value, 'draining');
  actor.send(DRAINED);
  t.equal(actor.getSnapshot().value, 'stopped');
  t.equal(calls.beginDrain, 1);
});
