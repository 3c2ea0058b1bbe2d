/**
 * What the inspector page draws and how much the hub holds: the machines' charts as served (events, guards, delays,
 * invoked actors' outcomes, stateless machines), the kind of each actor's logic, the actor panel's details (bounded
 * plain context, last events), and the hub's memory staying bounded while klagg's real DB writer machine finishes a
 * flush promise after another.
 */
import t from 'tap';
import { createActor, fromCallback, fromObservable, fromPromise, fromTransition } from 'xstate';
import { InspectorHub, type InspectorChange } from '../../../src/infra/inspector/inspector-hub.ts';
import { logicKind } from '../../../src/infra/inspector/logic-kind.ts';
import { machineGraph, type GraphState, type GraphTransition } from '../../../src/infra/inspector/machine-graph.ts';
import { plainJson } from '../../../src/infra/inspector/plain-json.ts';
import { activationDispatcherMachine } from '../../../src/machines/activation-dispatcher.ts';
import { dbWriterMachine } from '../../../src/machines/db-writer.ts';
import { KLAGG_MACHINES } from '../../../src/machines/registry.ts';
import { symbolLifecycleMachine } from '../../../src/machines/symbol-lifecycle.ts';
import { workerMachine } from '../../../src/machines/worker.ts';

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const find = (state: GraphState, id: string): GraphState | undefined => (state.id === id ? state : state.states.map((s) => find(s, id)).find((s) => s !== undefined));
const transitions = (state: GraphState): GraphTransition[] => [...state.transitions, ...state.states.flatMap(transitions)];

t.test('the DB writer\'s chart: nested states, delays, eventless transitions and the invoked flush\'s outcomes by name', async (t) => {
  const graph = machineGraph(dbWriterMachine);
  t.equal(graph.stateless, false);
  t.equal(find(graph.root, 'dbWriter.writing')!.type, 'compound');
  t.equal(find(graph.root, 'dbWriter.writing')!.initial, 'idle');
  t.equal(find(graph.root, 'dbWriter.drained')!.type, 'final');
  const idle = find(graph.root, 'dbWriter.writing.idle')!;
  t.match(idle.transitions.filter((x) => x.kind === 'after'), [
    { event: 'after flushInterval', delay: 'flushInterval', guard: 'hasPending', targets: ['dbWriter.writing.flushing'] },
    { event: 'after flushInterval', delay: 'flushInterval', targets: ['dbWriter.writing.idle'], reenter: true },
  ]);
  const flushing = find(graph.root, 'dbWriter.writing.flushing')!;
  t.same(flushing.invoked, [{ id: '0.dbWriter.writing.flushing', src: 'flush' }], 'the invoked logic is named by its src');
  t.same(flushing.transitions.filter((x) => x.kind === 'done').map((x) => [x.event, x.guard ?? null, x.targets[0]]), [
    ['done: flush', 'drainRequested', 'dbWriter.draining'],
    ['done: flush', 'bufferFull', 'dbWriter.writing.flushing'],
    ['done: flush', null, 'dbWriter.writing.idle'],
  ]);
  t.ok(flushing.transitions.some((x) => x.kind === 'error' && x.event === 'error: flush' && x.targets[0] === 'dbWriter.backingOff'));
  t.match(find(graph.root, 'dbWriter.draining.checking')!.transitions, [{ event: 'always', kind: 'always', guard: 'hasPending' }, { event: 'always', kind: 'always', targets: ['dbWriter.drained'] }]);
  t.match(flushing.transitions.find((x) => x.event === 'done: flush' && x.guard === undefined), { actions: ['recordSuccess'] }, 'named actions are kept');
  t.doesNotThrow(() => JSON.stringify(graph));
});

t.test('stateless machines are marked so; composite guards read as expressions; every event on an arrow is one the machine handles', async (t) => {
  t.equal(machineGraph(workerMachine).stateless, true);
  t.equal(machineGraph(activationDispatcherMachine).stateless, true);
  t.equal(machineGraph(symbolLifecycleMachine).stateless, false);
  const dispatcher = machineGraph(activationDispatcherMachine);
  t.ok(dispatcher.root.transitions.some((x) => x.guard === 'isCurrentAttempt && attemptsLeft'), 'and([…]) reads a && b');
  for (const machine of KLAGG_MACHINES) {
    const graph = machineGraph(machine);
    const events = new Set(transitions(graph.root).map((x) => x.event));
    for (const event of events) t.notMatch(event, /^xstate\./, `${graph.id}: ${event} is a readable label`);
  }
});

t.test('the kind of logic an actor runs', async (t) => {
  t.equal(logicKind(symbolLifecycleMachine), 'machine');
  t.equal(logicKind(fromCallback(() => {})), 'callback');
  t.equal(logicKind(fromPromise(async () => 1)), 'promise');
  t.equal(logicKind(fromObservable(() => ({ subscribe: () => ({ unsubscribe() {} }) }))), 'observable');
  t.equal(logicKind(fromTransition((s: number) => s, 0)), 'transition');
  t.equal(logicKind(undefined), 'logic');
});

t.test('plainJson: cycles, Maps, Sets, actor refs, long strings and long collections come out plain and bounded', async (t) => {
  const cyclic: Record<string, unknown> = { name: 'a' };
  cyclic['self'] = cyclic;
  const actor = createActor(symbolLifecycleMachine, { id: 'life', input: { symbol: 'X', maxAttempts: 1 } });
  const copy = plainJson({ cyclic, map: new Map([['k', 1]]), set: new Set([1, 2]), actor, long: 'x'.repeat(1000), many: Array.from({ length: 500 }, (_, i) => i), big: 10n, when: new Date(0) }) as Record<string, unknown>;
  t.same(copy['cyclic'], { name: 'a', self: '(circular)' });
  t.same(copy['map'], { k: 1 });
  t.same(copy['set'], [1, 2]);
  t.equal(copy['actor'], '(actor life)');
  t.match(copy['long'], /^x{300}… \(1000 chars\)$/);
  t.equal((copy['many'] as unknown[]).length, 51);
  t.equal((copy['many'] as unknown[]).at(-1), '… 450 more');
  t.equal(copy['big'], '10n');
  t.equal(copy['when'], '1970-01-01T00:00:00.000Z');
  t.ok(JSON.stringify(plainJson({ deep: { a: { b: { c: { d: { e: { f: { g: 1 } } } } } } } })).includes('(Object of 1 keys)'), 'deep levels are summarised');
});

t.test('the real DB writer flushing again and again: finished flushes are counted in one group, the hub keeps a bounded few', async (t) => {
  const hub = new InspectorHub({ throttleMs: 0, machines: KLAGG_MACHINES, keepFinishedPerGroup: 3 });
  const changes: InspectorChange[] = [];
  hub.subscribe((change) => changes.push(change));
  let flushes = 0;
  const machine = dbWriterMachine.provide({
    actors: { flush: fromPromise<void>(async () => void flushes++) },
    guards: { hasPending: () => true },
  });
  const writer = createActor(machine, { input: { flushIntervalMs: 1, initialBackoffMs: 1, maxBackoffMs: 10 }, inspect: hub.inspect }).start();
  t.teardown(() => {
    writer.stop();
    hub.close();
  });
  const group = () => hub.snapshot().finished.find((g) => g.name === 'flush');
  let most = 0;
  await until('100 finished flushes', () => {
    most = Math.max(most, hub.size.actors);
    return (group()?.count ?? 0) >= 100;
  });
  const flushGroup = group()!;
  t.match(flushGroup, { kind: 'promise', machine: 'promise', parent: hub.snapshot().actors.find((a) => a.machine === 'dbWriter')!.key });
  t.equal(flushGroup.statuses['done'], flushGroup.count, 'each counted as done');
  t.equal(flushGroup.kept.length, 3, 'the last 3 kept');
  t.ok(most <= 5, `at most the writer, one running flush and the 3 kept at once (${most})`);
  const finishedKept = hub.snapshot().actors.filter((a) => a.status !== 'active');
  t.same(finishedKept.map((a) => a.key), flushGroup.kept, 'the kept ones are the snapshot\'s finished actors');
  t.ok(finishedKept.every((a) => a.kind === 'promise' && a.src === 'flush'));
  const removed = changes.flatMap((c) => c.removed);
  t.ok(removed.length >= 90, `listeners are told which actors were let go (${removed.length})`);
  t.ok(changes.some((c) => c.finished.some((g) => g.name === 'flush' && g.count >= 50)), 'and the group\'s count');
  t.ok(hub.recent().some((e) => e.event === 'done: flush'), 'the flush\'s outcome reads as on the chart\'s arrow');

  const writerKey = hub.snapshot().actors.find((a) => a.machine === 'dbWriter')!.key;
  const details = hub.details(writerKey)!;
  t.match(details.context, { flushIntervalMs: 1, consecutiveFailures: 0, lastError: null });
  t.equal(details.events.length, 20, 'the actor\'s own log is bounded');
  t.ok(details.events.every((e) => typeof e.at === 'number' && typeof e.event === 'string'));
  t.ok(details.events.some((e) => e.event === 'done: flush' && (e.state as { writing?: string }).writing === 'idle'), 'with the state each event led to');
  const promise = hub.details(flushGroup.kept.at(-1)!)!;
  t.match(promise, { actor: { kind: 'promise', status: 'done' }, context: { output: '(undefined)' } }, 'a promise\'s details are its input and output');
  t.equal(hub.details(removed[0]!), undefined, 'a let-go actor has no details');
});

t.test('bounds across groups: the least recently finished groups are forgotten first; the total kept is capped', async (t) => {
  const hub = new InspectorHub({ throttleMs: 0, keepFinishedPerGroup: 2, keepStopped: 5, maxFinishedGroups: 3 });
  for (let i = 0; i < 10; i++) {
    for (let j = 0; j < 3; j++) createActor(fromPromise(async () => j), { id: `job-${i}`, inspect: hub.inspect }).start();
  }
  await until('every job done', () => hub.snapshot().actors.every((a) => a.status === 'done'));
  const { finished, actors } = hub.snapshot();
  t.equal(finished.length, 3, 'at most 3 groups');
  t.ok(actors.length <= 5, `at most 5 finished actors kept (${actors.length})`);
  t.same(hub.size.finishedGroups, 3);
  hub.close();
});
