/**
 * The InspectorHub fed by a real KlaggSystem's inspect events: actors with their machines and states, the ring
 * buffer, the batched fan-out, the state charts of klagg's machines, and attach() for actors made without inspect.
 */
import { KLAGG_MACHINES } from '../../../src/machines/registry.ts';
import t from 'tap';
import { createActor } from 'xstate';
import type { IntervalName } from '../../../src/domain/interval.ts';
import { InspectorHub, machineGraph, type GraphState, type InspectorChange } from '../../../src/infra/inspector/inspector-hub.ts';
import { symbolLifecycleMachine } from '../../../src/machines/symbol-lifecycle.ts';
import { MemorySink } from '../../support/memory-sink.ts';
import { newSystem, SCALES } from '../http/helpers.ts';

const INTERVALS: IntervalName[] = ['1m'];

async function until(what: string, check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const find = (state: GraphState, key: string): GraphState | undefined =>
  state.key === key ? state : state.states.map((s) => find(s, key)).find((s) => s !== undefined);

t.test('graphs: the state charts of every machine klagg runs, nested states and delayed transitions included', async (t) => {
  const graphs = new InspectorHub({ machines: KLAGG_MACHINES }).graphs();
  t.same(graphs.map((g) => g.id).sort(), ['activationDispatcher', 'clock', 'dbWriter', 'gateway', 'partition', 'service', 'streamConnection', 'symbol', 'symbolManager', 'watchdog', 'worker']);
  const symbol = graphs.find((g) => g.id === 'symbol')!;
  t.equal(symbol.root.initial, 'Pending');
  t.same(symbol.root.states.map((s) => s.key), ['Pending', 'Activating', 'Active', 'Failed']);
  t.same(find(symbol.root, 'Failed')!.transitions.find((x) => x.event === 'FORCE_ACTIVATE'), { event: 'FORCE_ACTIVATE', kind: 'event', targets: ['symbol.Activating'], actions: ['startAttempts'] });
  t.match(
    find(symbol.root, 'Activating')!.transitions.filter((x) => x.event === 'ACTIVATION_FAILED'),
    [{ event: 'ACTIVATION_FAILED', targets: [], guard: 'attemptsLeft' }, { event: 'ACTIVATION_FAILED', targets: ['symbol.Failed'], guard: undefined }],
    'guarded and targetless transitions are kept, in order',
  );
  const stream = graphs.find((g) => g.id === 'streamConnection')!;
  const live = find(stream.root, 'live')!;
  t.equal(live.type, 'compound');
  t.equal(live.initial, 'connecting');
  t.same(live.invokes, ['socket']);
  t.ok(find(stream.root, 'connecting')!.transitions.some((x) => x.event === 'after connectTimeout' && x.targets[0] === 'streamConnection.reconnecting'), 'delayed transitions read `after <delay>`');
  t.equal(find(stream.root, 'stopped')!.type, 'final');
  t.doesNotThrow(() => JSON.stringify(graphs), 'plain JSON');
});

t.test('a real KlaggSystem: every actor with its machine and state, symbol lifecycles followed through activation and deactivation', async (t) => {
  const hub = new InspectorHub({ throttleMs: 0 });
  const changes: InspectorChange[] = [];
  hub.subscribe((change) => changes.push(change));
  const system = newSystem(new MemorySink(), INTERVALS, { inspect: hub.inspect, workers: 2 });
  t.teardown(async () => {
    hub.close();
    await system.stop();
  });
  await until('the service running', () => hub.snapshot().actors.some((a) => a.machine === 'service' && a.state === 'running'));
  const machines = hub.snapshot().actors.map((a) => a.systemId ?? a.machine).sort();
  for (const expected of ['dispatcher', 'gateway', 'watchdog', 'worker-0', 'worker-1']) t.ok(machines.includes(expected), `${expected} is listed`);
  const byId = (id: string) => hub.snapshot().actors.find((a) => a.systemId === id);
  t.equal(byId('worker-0')!.machine, 'worker');
  t.equal(byId('dispatcher')!.machine, 'activationDispatcher');
  t.equal(byId('watchdog')!.machine, 'watchdog', 'the watchdog is a machine too');
  const service = hub.snapshot().actors.find((a) => a.machine === 'service')!;
  t.equal(byId('worker-0')!.parent, service.key, 'children know their parent');

  system.activate({ symbol: 'XRPETH', scales: SCALES, initialData: [] });
  await system.whenSubscribed(['XRPETH']);
  const lifecycle = () => hub.snapshot().actors.find((a) => a.machine === 'symbol' && a.symbol === 'XRPETH');
  await until('XRPETH Active', () => lifecycle()?.state === 'Active');
  t.equal(lifecycle()!.id, 'XRPETH');
  t.equal(lifecycle()!.parent, byId(`worker-${system.workerOf('XRPETH')}`)!.key, 'spawned by its worker');
  const transitions = hub.recent().filter((e) => e.symbol === 'XRPETH' && e.type === 'transition').map((e) => `${String(e.from)}-${e.event}->${String(e.state)}`);
  t.same(transitions, ['null-xstate.init->Pending', 'Pending-ACTIVATE->Activating', 'Activating-ACTIVATED->Active']);

  system.deactivate('XRPETH');
  await until('XRPETH Pending', () => lifecycle()?.state === 'Pending');
  t.match(hub.recent().at(-1), { symbol: 'XRPETH', type: 'transition', event: 'DEACTIVATE', from: 'Active', state: 'Pending' });
  t.ok(changes.some((c) => c.events.some((e) => e.event === 'DEACTIVATE') && c.actors.some((a) => a.symbol === 'XRPETH' && a.state === 'Pending')), 'fanned out to listeners');

  system.activate({ symbol: 'XRPETH', scales: SCALES, initialData: [], force: true });
  await until('XRPETH Active again', () => lifecycle()?.state === 'Active');
  t.ok(hub.recent().some((e) => e.symbol === 'XRPETH' && e.event === 'FORCE_ACTIVATE' && e.state === 'Activating'));
  const gateway = byId('gateway')!;
  t.ok(gateway.events > 0, 'the gateway\'s pulls are counted');
  t.notOk(hub.recent().some((e) => e.actor === gateway.key && e.type !== 'spawn'), 'but not recorded (they would flush the ring)');
  t.equal(service.id, 'service', 'the root is named by its machine, not its sessionId');
});

t.test('the ring buffer keeps the last N; fan-out is batched by the throttle', async (t) => {
  const hub = new InspectorHub({ capacity: 5, throttleMs: 30 });
  const changes: InspectorChange[] = [];
  hub.subscribe((change) => changes.push(change));
  const actor = createActor(symbolLifecycleMachine, { input: { symbol: 'ABCUSDT', maxAttempts: 10 }, inspect: hub.inspect }).start();
  for (let i = 0; i < 10; i++) {
    actor.send({ type: 'FORCE_ACTIVATE' });
    actor.send({ type: 'DEACTIVATE', reason: 'deactivated' });
  }
  t.equal(hub.recent().length, 5);
  t.equal(hub.recent().at(-1)!.event, 'DEACTIVATE');
  t.equal(changes.length, 0, 'nothing fanned out yet');
  await until('a batch', () => changes.length > 0);
  t.equal(changes.length, 1, 'one batch');
  t.equal(changes[0]!.actors.length, 1, 'one view per changed actor');
  t.equal(changes[0]!.actors[0]!.state, 'Pending');
  actor.stop();
  await until('the stop', () => hub.snapshot().actors[0]!.status === 'stopped');
  hub.close();
});

t.test('attach(): an actor made without inspect is listed with its current state and followed from then on', async (t) => {
  const hub = new InspectorHub({ throttleMs: 0, machines: KLAGG_MACHINES });
  const actor = createActor(symbolLifecycleMachine, { id: 'lonely', input: { symbol: 'LONELY', maxAttempts: 1 } }).start();
  actor.send({ type: 'ACTIVATE' });
  const detach = hub.attach(actor);
  t.match(hub.snapshot().actors, [{ id: 'lonely', machine: 'symbol', state: 'Activating', symbol: 'LONELY' }]);
  actor.send({ type: 'ACTIVATION_FAILED', error: 'boom' });
  t.equal(hub.snapshot().actors[0]!.state, 'Failed');
  detach();
  actor.send({ type: 'FORCE_ACTIVATE' });
  t.equal(hub.snapshot().actors[0]!.state, 'Failed', 'not followed after detaching');
  t.same(machineGraph(symbolLifecycleMachine), hub.graphs().find((g) => g.id === 'symbol'));
  actor.stop();
});
