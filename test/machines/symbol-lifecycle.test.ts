/**
 * The symbol lifecycle machine on its own: every allowed transition and every refused one, systematically (a table of
 * start states × events), each start state reached through a real event path from the initial snapshot. Every cell is
 * checked twice: with the pure `transition(…)` function and through a running actor.
 */
import t from 'tap';
import { createActor, getNextSnapshot, initialTransition, transition } from 'xstate';
import {
  symbolLifecycleMachine,
  type SymbolLifecycleContext,
  type SymbolLifecycleEvent,
  type SymbolLifecycleState,
} from '../../src/machines/symbol-lifecycle.ts';

const SYMBOL = 'BTCUSDT';
const MAX_ATTEMPTS = 3;
const INPUT = { symbol: SYMBOL, maxAttempts: MAX_ATTEMPTS } as const;

type Snapshot = ReturnType<typeof symbolLifecycleMachine.getInitialSnapshot>;

/** The context fields that change; symbol and maxAttempts are fixed by the input. */
interface Varying {
  readonly attempts: number;
  readonly lastError: string | null;
  readonly deactivatedFor: 'deactivated' | 'delisted' | null;
}

function ctx(attempts: number, lastError: string | null, deactivatedFor: 'deactivated' | 'delisted' | null): SymbolLifecycleContext {
  return { symbol: SYMBOL, attempts, maxAttempts: MAX_ATTEMPTS, lastError, deactivatedFor };
}

const fail = (error: string): SymbolLifecycleEvent => ({ type: 'ACTIVATION_FAILED', error });
const abandon = (error: string): SymbolLifecycleEvent => ({ type: 'ABANDON', error });
const deactivate = (reason: 'deactivated' | 'delisted'): SymbolLifecycleEvent => ({ type: 'DEACTIVATE', reason });
const ACTIVATE: SymbolLifecycleEvent = { type: 'ACTIVATE' };
const FORCE: SymbolLifecycleEvent = { type: 'FORCE_ACTIVATE' };
const ACTIVATED: SymbolLifecycleEvent = { type: 'ACTIVATED' };

/** Walks the pure machine from its initial snapshot. */
function walk(path: readonly SymbolLifecycleEvent[]): Snapshot {
  let [snapshot] = initialTransition(symbolLifecycleMachine, INPUT);
  for (const event of path) [snapshot] = transition(symbolLifecycleMachine, snapshot, event);
  return snapshot;
}

/** Walks a running actor along the path and returns it (still running). */
function actorAfter(path: readonly SymbolLifecycleEvent[]) {
  const actor = createActor(symbolLifecycleMachine, { input: INPUT });
  actor.start();
  for (const event of path) actor.send(event);
  return actor;
}

t.test('initial snapshot', async (t) => {
  const [snapshot] = initialTransition(symbolLifecycleMachine, INPUT);
  t.equal(snapshot.value, 'Pending');
  t.same(snapshot.context, ctx(0, null, null));
  t.equal(snapshot.status, 'active');
  const actor = actorAfter([]);
  t.equal(actor.getSnapshot().value, 'Pending');
  t.same(actor.getSnapshot().context, ctx(0, null, null));
  actor.stop();
});

// ---------------------------------------------------------------------------------------------------------------------
// The table.

interface StartState {
  readonly name: string;
  readonly path: readonly SymbolLifecycleEvent[];
  readonly value: SymbolLifecycleState;
  readonly context: Varying;
}

/** Start states, each with the path that reaches it and the snapshot that path must give (written out by hand). */
const STARTS: readonly StartState[] = [
  { name: 'Pending (fresh)', path: [], value: 'Pending', context: { attempts: 0, lastError: null, deactivatedFor: null } },
  {
    name: 'Pending (after a failed attempt, then delisted)',
    path: [ACTIVATE, fail('e1'), deactivate('delisted')],
    value: 'Pending',
    context: { attempts: 2, lastError: 'e1', deactivatedFor: 'delisted' },
  },
  {
    name: 'Pending (deactivated from Active)',
    path: [ACTIVATE, ACTIVATED, deactivate('deactivated')],
    value: 'Pending',
    context: { attempts: 1, lastError: null, deactivatedFor: 'deactivated' },
  },
  { name: 'Activating (first attempt)', path: [ACTIVATE], value: 'Activating', context: { attempts: 1, lastError: null, deactivatedFor: null } },
  {
    name: 'Activating (last attempt)',
    path: [ACTIVATE, fail('e1'), fail('e2')],
    value: 'Activating',
    context: { attempts: 3, lastError: 'e2', deactivatedFor: null },
  },
  {
    name: 'Activating (forced out of Failed)',
    path: [ACTIVATE, fail('e1'), fail('e2'), fail('e3'), FORCE],
    value: 'Activating',
    context: { attempts: 1, lastError: 'e3', deactivatedFor: null },
  },
  {
    name: 'Active (after one failure)',
    path: [ACTIVATE, fail('e1'), ACTIVATED],
    value: 'Active',
    context: { attempts: 2, lastError: null, deactivatedFor: null },
  },
  {
    name: 'Active (re-activated after delisting)',
    path: [ACTIVATE, ACTIVATED, deactivate('delisted'), ACTIVATE, ACTIVATED],
    value: 'Active',
    context: { attempts: 1, lastError: null, deactivatedFor: null },
  },
  {
    name: 'Failed (attempts used up)',
    path: [ACTIVATE, fail('e1'), fail('e2'), fail('e3')],
    value: 'Failed',
    context: { attempts: 3, lastError: 'e3', deactivatedFor: null },
  },
  {
    name: 'Failed (abandoned)',
    path: [FORCE, abandon('no answer')],
    value: 'Failed',
    context: { attempts: 1, lastError: 'no answer', deactivatedFor: null },
  },
];

interface Probe {
  readonly name: string;
  readonly event: SymbolLifecycleEvent;
}

const PROBES: readonly Probe[] = [
  { name: 'ACTIVATE', event: ACTIVATE },
  { name: 'FORCE_ACTIVATE', event: FORCE },
  { name: 'ACTIVATED', event: ACTIVATED },
  { name: 'ACTIVATION_FAILED', event: fail('boom') },
  { name: 'ABANDON', event: abandon('gave up') },
  { name: 'DEACTIVATE(deactivated)', event: deactivate('deactivated') },
  { name: 'DEACTIVATE(delisted)', event: deactivate('delisted') },
];

type Outcome = 'refused' | { readonly value: SymbolLifecycleState; readonly context: Varying };

/**
 * The expected outcome of `probe` in `start`, written from the specification (not from the machine):
 *  - Pending: ACTIVATE / FORCE_ACTIVATE → Activating with attempts = 1; everything else refused.
 *  - Activating: ACTIVATED → Active (clears lastError and deactivatedFor); ACTIVATION_FAILED → counts an attempt and
 *    records the error while attempts are left, else Failed with the error; ABANDON → Failed with the error;
 *    DEACTIVATE → Pending recording the reason; ACTIVATE / FORCE_ACTIVATE refused.
 *  - Active: DEACTIVATE → Pending recording the reason; everything else refused.
 *  - Failed: FORCE_ACTIVATE → Activating with attempts = 1; DEACTIVATE → Pending recording the reason; else refused.
 */
function expected(start: StartState, probe: Probe): Outcome {
  const c = start.context;
  const event = probe.event;
  switch (start.value) {
    case 'Pending':
      if (event.type === 'ACTIVATE' || event.type === 'FORCE_ACTIVATE') return { value: 'Activating', context: { ...c, attempts: 1 } };
      return 'refused';
    case 'Activating':
      switch (event.type) {
        case 'ACTIVATED':
          return { value: 'Active', context: { attempts: c.attempts, lastError: null, deactivatedFor: null } };
        case 'ACTIVATION_FAILED':
          return c.attempts < MAX_ATTEMPTS
            ? { value: 'Activating', context: { ...c, attempts: c.attempts + 1, lastError: event.error } }
            : { value: 'Failed', context: { ...c, lastError: event.error } };
        case 'ABANDON':
          return { value: 'Failed', context: { ...c, lastError: event.error } };
        case 'DEACTIVATE':
          return { value: 'Pending', context: { ...c, deactivatedFor: event.reason } };
        default:
          return 'refused';
      }
    case 'Active':
      if (event.type === 'DEACTIVATE') return { value: 'Pending', context: { ...c, deactivatedFor: event.reason } };
      return 'refused';
    case 'Failed':
      if (event.type === 'FORCE_ACTIVATE') return { value: 'Activating', context: { ...c, attempts: 1 } };
      if (event.type === 'DEACTIVATE') return { value: 'Pending', context: { ...c, deactivatedFor: event.reason } };
      return 'refused';
  }
}

t.test('every start state is reached by its path', async (t) => {
  for (const start of STARTS) {
    const snapshot = walk(start.path);
    t.equal(snapshot.value, start.value, `${start.name}: value`);
    t.same(snapshot.context, ctx(start.context.attempts, start.context.lastError, start.context.deactivatedFor), `${start.name}: context`);
    const actor = actorAfter(start.path);
    t.equal(actor.getSnapshot().value, start.value, `${start.name}: actor value`);
    t.same(actor.getSnapshot().context, snapshot.context, `${start.name}: actor context`);
    actor.stop();
  }
});

t.test('states × events table', async (t) => {
  let allowed = 0;
  let refused = 0;
  for (const start of STARTS) {
    for (const probe of PROBES) {
      const want = expected(start, probe);
      const label = `${start.name} + ${probe.name}`;
      const before = walk(start.path);
      const [after] = transition(symbolLifecycleMachine, before, probe.event);
      // The deprecated getNextSnapshot must agree with transition().
      const viaGetNext = getNextSnapshot(symbolLifecycleMachine, before, probe.event);
      t.equal(viaGetNext.value, after.value, `${label}: getNextSnapshot value agrees`);
      t.same(viaGetNext.context, after.context, `${label}: getNextSnapshot context agrees`);

      const actor = actorAfter(start.path);
      actor.send(probe.event);
      const live = actor.getSnapshot();
      actor.stop();

      if (want === 'refused') {
        refused++;
        t.equal(after.value, before.value, `${label}: refused, value unchanged (${String(before.value)})`);
        t.same(after.context, before.context, `${label}: refused, context unchanged`);
        t.equal(live.value, start.value, `${label}: refused (actor), value unchanged`);
        t.same(live.context, before.context, `${label}: refused (actor), context unchanged`);
      } else {
        allowed++;
        const wantContext = ctx(want.context.attempts, want.context.lastError, want.context.deactivatedFor);
        t.equal(after.value, want.value, `${label}: → ${want.value}`);
        t.same(after.context, wantContext, `${label}: context`);
        t.equal(live.value, want.value, `${label}: → ${want.value} (actor)`);
        t.same(live.context, wantContext, `${label}: context (actor)`);
      }
      t.equal(after.status, 'active', `${label}: the machine never finishes`);
    }
  }
  // 10 start states × 7 events; the counts pin down the shape of the table itself.
  t.equal(allowed + refused, STARTS.length * PROBES.length);
  t.equal(allowed, 31, 'allowed cells');
  t.equal(refused, 39, 'refused cells');
});

// ---------------------------------------------------------------------------------------------------------------------
// Narrative checks of the same rules, spelled out.

t.test('Pending → Activating on ACTIVATE and on FORCE_ACTIVATE, attempts = 1', async (t) => {
  for (const event of [ACTIVATE, FORCE]) {
    const actor = actorAfter([event]);
    t.equal(actor.getSnapshot().value, 'Activating', event.type);
    t.equal(actor.getSnapshot().context.attempts, 1, `${event.type}: attempts`);
    actor.stop();
  }
});

t.test('ACTIVATION_FAILED counts attempts and records the last error until maxAttempts, then Failed', async (t) => {
  for (const maxAttempts of [1, 2, 5]) {
    const actor = createActor(symbolLifecycleMachine, { input: { symbol: 'ETHUSDT', maxAttempts } });
    actor.start();
    actor.send(ACTIVATE);
    for (let failure = 1; failure < maxAttempts; failure++) {
      actor.send(fail(`err ${failure}`));
      t.equal(actor.getSnapshot().value, 'Activating', `max ${maxAttempts}: still Activating after ${failure} failure(s)`);
      t.equal(actor.getSnapshot().context.attempts, failure + 1, `max ${maxAttempts}: attempt ${failure + 1} under way`);
      t.equal(actor.getSnapshot().context.lastError, `err ${failure}`, `max ${maxAttempts}: lastError after ${failure}`);
    }
    actor.send(fail('final'));
    t.equal(actor.getSnapshot().value, 'Failed', `max ${maxAttempts}: Failed after ${maxAttempts} failures`);
    t.equal(actor.getSnapshot().context.lastError, 'final', `max ${maxAttempts}: lastError is the last failure`);
    t.equal(actor.getSnapshot().context.attempts, maxAttempts, `max ${maxAttempts}: attempts used up`);
    actor.stop();
  }
});

t.test('ACTIVATED clears lastError', async (t) => {
  const actor = actorAfter([ACTIVATE, fail('first'), fail('second')]);
  t.equal(actor.getSnapshot().context.lastError, 'second');
  actor.send(ACTIVATED);
  t.equal(actor.getSnapshot().value, 'Active');
  t.equal(actor.getSnapshot().context.lastError, null);
  actor.stop();
});

t.test('ABANDON sends Activating straight to Failed whatever the attempts left', async (t) => {
  const actor = actorAfter([ACTIVATE, abandon('worker timed out')]);
  t.equal(actor.getSnapshot().value, 'Failed');
  t.equal(actor.getSnapshot().context.lastError, 'worker timed out');
  t.equal(actor.getSnapshot().context.attempts, 1);
  actor.stop();
});

t.test('Failed leaves only when forced (or deactivated); forcing resets attempts to 1', async (t) => {
  const actor = actorAfter([ACTIVATE, fail('a'), fail('b'), fail('c')]);
  t.equal(actor.getSnapshot().value, 'Failed');
  actor.send(ACTIVATE);
  t.equal(actor.getSnapshot().value, 'Failed', 'ACTIVATE (not forced) stays Failed');
  t.equal(actor.getSnapshot().context.attempts, 3, 'attempts untouched by the refused ACTIVATE');
  actor.send(FORCE);
  t.equal(actor.getSnapshot().value, 'Activating');
  t.equal(actor.getSnapshot().context.attempts, 1);
  // A full new round of attempts is available after forcing.
  actor.send(fail('x'));
  actor.send(fail('y'));
  t.equal(actor.getSnapshot().value, 'Activating', 'two more failures still leave one attempt');
  actor.send(fail('z'));
  t.equal(actor.getSnapshot().value, 'Failed');
  t.equal(actor.getSnapshot().context.lastError, 'z');
  actor.stop();
});

t.test('DEACTIVATE from Activating / Active / Failed records why', async (t) => {
  const paths: Record<string, SymbolLifecycleEvent[]> = {
    Activating: [ACTIVATE],
    Active: [ACTIVATE, ACTIVATED],
    Failed: [ACTIVATE, abandon('x')],
  };
  for (const [from, path] of Object.entries(paths)) {
    for (const reason of ['deactivated', 'delisted'] as const) {
      const actor = actorAfter(path);
      t.equal(actor.getSnapshot().value, from, `reached ${from}`);
      actor.send(deactivate(reason));
      t.equal(actor.getSnapshot().value, 'Pending', `${from} + ${reason} → Pending`);
      t.equal(actor.getSnapshot().context.deactivatedFor, reason, `${from} + ${reason}: deactivatedFor`);
      actor.stop();
    }
  }
});

t.test('a refused event leaves the very same snapshot (xstate still notifies subscribers with it)', async (t) => {
  const actor = actorAfter([ACTIVATE, ACTIVATED]);
  const before = actor.getSnapshot();
  const seen: unknown[] = [];
  const subscription = actor.subscribe((snapshot) => seen.push(snapshot));
  for (const event of [ACTIVATE, FORCE, ACTIVATED, fail('x'), abandon('y')]) actor.send(event);
  t.equal(actor.getSnapshot(), before, 'the very same snapshot object');
  t.ok(
    seen.every((snapshot) => snapshot === before),
    'whatever subscribers were told, it was the unchanged snapshot',
  );
  actor.send(deactivate('delisted'));
  t.not(seen.at(-1), before, 'an allowed event notifies a new snapshot');
  t.equal(actor.getSnapshot().value, 'Pending');
  subscription.unsubscribe();
  actor.stop();
});
