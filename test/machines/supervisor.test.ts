/**
 * The supervisor machine on its own: starting → running → draining → stopped, FATAL recording only the first
 * reason, the refused events, its children spawned exactly once (on entering starting) and beginDrain exactly once.
 */
import t from 'tap';
import { createActor, initialTransition, transition } from 'xstate';
import { supervisorMachine, type SupervisorEvent, type SupervisorInput } from '../../src/machines/supervisor.ts';

/** Children that stay idle for the length of a test (their effects are the machines' no-op defaults). */
const INPUT: SupervisorInput = {
  workerCount: 2,
  maxAttempts: 3,
  dispatcher: { queueCapacity: 8, maxRetries: 2, retryDelayMs: 60_000, ackTimeoutMs: 60_000, concurrency: 2 },
  gateway: { pullIntervalMs: 60_000, pullTimeoutMs: 60_000, timeoutAlertThreshold: 3 },
  tickIntervalMs: 60_000,
  watchdogIntervalMs: 60_000,
};
const CHILDREN = ['clock', 'dispatcher', 'gateway', 'watchdog', 'worker-0', 'worker-1'];

type State = 'starting' | 'running' | 'draining' | 'stopped';

const STARTED: SupervisorEvent = { type: 'STARTED' };
const DRAINED: SupervisorEvent = { type: 'DRAINED' };
const stop = (signal = 'SIGTERM'): SupervisorEvent => ({ type: 'STOP', signal });
const fatal = (error: string): SupervisorEvent => ({ type: 'FATAL', error });

/** A running actor whose supervisor actions are counted. */
function counted(path: readonly SupervisorEvent[] = []) {
  const calls = { spawnChildren: 0, beginDrain: 0 };
  const machine = supervisorMachine.provide({
    actions: {
      beginDrain: () => {
        calls.beginDrain++;
      },
    },
  });
  // The children are spawned together: count the dispatcher's creations.
  const actor = createActor(machine, {
    input: INPUT,
    inspect: (event) => {
      if (event.type === '@xstate.actor' && (event.actorRef as { id?: string }).id === 'dispatcher') calls.spawnChildren++;
    },
  });
  actor.start();
  for (const event of path) actor.send(event);
  return { actor, calls };
}

t.test('start: starting, spawnChildren once, no drain', async (t) => {
  const { actor, calls } = counted();
  t.equal(actor.getSnapshot().value, 'starting');
  t.same(actor.getSnapshot().context, { config: INPUT, fatal: null });
  t.same(Object.keys(actor.getSnapshot().children).sort(), CHILDREN, 'every child declared in setup is spawned');
  t.equal(actor.getSnapshot().status, 'active');
  t.same(calls, { spawnChildren: 1, beginDrain: 0 });
  actor.stop();
});

t.test('the children are spawned by the entry of the initial state (pure check)', async (t) => {
  const [snapshot, actions] = initialTransition(supervisorMachine, INPUT);
  t.equal(snapshot.value, 'starting');
  t.same(
    actions.map((action) => action.type),
    CHILDREN.map(() => 'xstate.spawnChild'),
  );
  t.same(actions.map((action) => (action.params as { id?: string } | undefined)?.id).sort(), CHILDREN);
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

const PATHS: Readonly<Record<State, readonly SupervisorEvent[]>> = {
  starting: [],
  running: [STARTED],
  draining: [STARTED, stop()],
  stopped: [STARTED, stop(), DRAINED],
};

const PROBES: readonly SupervisorEvent[] = [STARTED, stop('SIGHUP'), fatal('probe'), DRAINED];

/** Expected target, or 'refused'; plus the expected fatal afterwards and how many times beginDrain ran in total. */
const TABLE: Readonly<Record<State, Readonly<Record<SupervisorEvent['type'], State | 'refused'>>>> = {
  starting: { STARTED: 'running', STOP: 'draining', FATAL: 'draining', DRAINED: 'refused' },
  running: { STARTED: 'refused', STOP: 'draining', FATAL: 'draining', DRAINED: 'refused' },
  // FATAL while draining records the reason but is not a transition to a new state.
  draining: { STARTED: 'refused', STOP: 'refused', FATAL: 'draining', DRAINED: 'stopped' },
  stopped: { STARTED: 'refused', STOP: 'refused', FATAL: 'refused', DRAINED: 'refused' },
};

t.test('states × events table', async (t) => {
  let refusedCount = 0;
  for (const [state, path] of Object.entries(PATHS) as [State, readonly SupervisorEvent[]][]) {
    for (const probe of PROBES) {
      const want = TABLE[state][probe.type];
      const label = `${state} + ${probe.type}`;
      const { actor, calls } = counted(path);
      const before = actor.getSnapshot();
      const callsBefore = { ...calls };
      t.equal(before.value, state, `${label}: reached ${state}`);

      // Pure check with transition(): value, context and the actions it would run.
      let pure = initialTransition(supervisorMachine, INPUT)[0];
      for (const event of path) pure = transition(supervisorMachine, pure, event)[0];
      const [pureAfter, pureActions] = transition(supervisorMachine, pure, probe);

      actor.send(probe);
      const after = actor.getSnapshot();

      if (want === 'refused') {
        refusedCount++;
        t.equal(after.value, state, `${label}: refused, value unchanged`);
        t.same(after.context, before.context, `${label}: refused, context unchanged`);
        t.equal(after.status, before.status, `${label}: refused, status unchanged`);
        t.same(calls, callsBefore, `${label}: refused, no supervisor action ran`);
        t.equal(pureAfter.value, state, `${label}: refused (pure)`);
        // A done snapshot lists its (already stopped) children again as stopChild actions: nothing a refusal does.
        const effective = pure.status === 'done' ? pureActions.filter((action) => (action.type as string) !== 'xstate.stopChild') : pureActions;
        t.same(effective.map((action) => action.type), [], `${label}: refused (pure), no actions`);
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
  const cases: [State, SupervisorEvent][] = [
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
