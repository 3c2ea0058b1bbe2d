/**
 * The ActivationDispatcher machine step by step with `transition()`: queueing within its concurrency, subscription
 * only after the worker's ack, retries with their delays, giving up, refusals and stale answers — each step's
 * context and the effects it asks for (sendToWorker, subscribe, unsubscribe, log), none of them run.
 */
import t from 'tap';
import { initialTransition, transition, type EventFromLogic, type SnapshotFrom } from 'xstate';
import type { ActivateSymbol } from '../../src/domain/messages.ts';
import { activationDispatcherMachine } from '../../src/machines/activation-dispatcher.ts';

type Snapshot = SnapshotFrom<typeof activationDispatcherMachine>;
type Event = EventFromLogic<typeof activationDispatcherMachine>;
const INPUT = { queueCapacity: 3, maxRetries: 1, retryDelayMs: 200, ackTimeoutMs: 1000, concurrency: 2 };

const command = (symbol: string): ActivateSymbol => ({ symbol, scales: { price: 2, qty: 3 }, initialData: [] }) as unknown as ActivateSymbol;
const activate = (symbol: string): Event => ({ type: 'ACTIVATE_SYMBOL', command: command(symbol) });

interface Step {
  readonly snapshot: Snapshot;
  /** Effects as [type, params], with worker events reduced to type/symbol/attempt. */
  readonly effects: [string, unknown][];
  /** Delayed events scheduled: [event type, symbol, delay]. */
  readonly delayed: [string, string | undefined, number][];
}

function step(snapshot: Snapshot, event: Event): Step {
  const [next, actions] = transition(activationDispatcherMachine, snapshot, event);
  const effects: [string, unknown][] = [];
  const delayed: [string, string | undefined, number][] = [];
  for (const action of actions as { type: string; params?: Record<string, unknown> }[]) {
    if (action.type === 'xstate.raise') {
      const raised = action.params!['event'] as { type: string; symbol?: string };
      delayed.push([raised.type, raised.symbol, action.params!['delay'] as number]);
    } else if (action.type === 'sendToWorker') {
      const sent = action.params!['event'] as { type: string; symbol?: string; command?: ActivateSymbol; attempt?: number };
      effects.push(['sendToWorker', { type: sent.type, symbol: sent.symbol ?? sent.command?.symbol, attempt: sent.attempt }]);
    } else if (!action.type.startsWith('xstate.')) {
      effects.push([action.type, action.params]);
    }
  }
  return { snapshot: next, effects, delayed };
}

function start(): Snapshot {
  return initialTransition(activationDispatcherMachine, INPUT)[0];
}

t.test('activations start within the concurrency; the rest wait; an ack subscribes and starts the next', async (t) => {
  let s = start();
  let r = step(s, activate('A'));
  t.same(r.effects, [['sendToWorker', { type: 'ACTIVATE_SYMBOL', symbol: 'A', attempt: 1 }]]);
  t.same(r.delayed, [['ACK_TIMEOUT', 'A', 1000]]);
  s = step(r.snapshot, activate('B')).snapshot;
  r = step(s, activate('C'));
  t.same(r.effects, [], 'C waits: two in flight');
  s = r.snapshot;
  t.same(s.context.queue.map((c) => c.symbol), ['C']);
  t.same(Object.keys(s.context.inFlight).sort(), ['A', 'B']);

  r = step(s, { type: 'SYMBOL_ACTIVATED', symbol: 'A', attempt: 1, position: 41 });
  t.same(r.effects, [
    ['subscribe', { symbol: 'A', position: 41 }],
    ['sendToWorker', { type: 'ACTIVATE_SYMBOL', symbol: 'C', attempt: 1 }],
  ]);
  t.same(r.snapshot.context.counters, { accepted: 3, rejected: 0, activated: 1, failed: 0, retries: 0 });
});

t.test('a failure is retried after the delay; after the last retry the symbol is abandoned', async (t) => {
  let s = step(start(), activate('A')).snapshot;
  let r = step(s, { type: 'SYMBOL_ACTIVATION_FAILED', symbol: 'A', attempt: 1, retryable: true, code: 'KLAGG_ERR_ACTIVATION_FAILED', error: 'boom' });
  t.same(r.effects, [['log', { level: 'warn', fields: { symbol: 'A', attempt: 1, code: 'KLAGG_ERR_ACTIVATION_FAILED', reason: 'boom' }, msg: 'activation attempt failed; retrying' }]]);
  t.same(r.delayed, [['RETRY', 'A', 200]]);
  t.equal(r.snapshot.context.inFlight['A']?.attempt, 2);
  r = step(r.snapshot, { type: 'RETRY', symbol: 'A' });
  t.same(r.effects, [['sendToWorker', { type: 'ACTIVATE_SYMBOL', symbol: 'A', attempt: 2 }]]);
  t.same(r.delayed, [['ACK_TIMEOUT', 'A', 1000]]);
  s = r.snapshot;

  r = step(s, { type: 'SYMBOL_ACTIVATION_FAILED', symbol: 'A', attempt: 1, retryable: true, code: 'KLAGG_ERR_ACTIVATION_FAILED', error: 'stale' });
  t.same(r.effects, [], 'an answer to an earlier attempt is ignored');
  t.same(r.delayed, []);

  r = step(s, { type: 'ACK_TIMEOUT', symbol: 'A', attempt: 2 });
  t.same(r.effects, [
    ['log', { level: 'error', fields: { symbol: 'A', attempts: 2, code: 'KLAGG_ERR_ACTIVATION_TIMEOUT', reason: 'no answer from the worker within 1000 ms' }, msg: 'activation failed after every retry; the symbol is left Failed' }],
    ['sendToWorker', { type: 'ABANDON_SYMBOL', symbol: 'A', attempt: undefined }],
  ]);
  t.same(r.snapshot.context.inFlight, {});
  t.same(r.snapshot.context.counters, { accepted: 1, rejected: 0, activated: 0, failed: 1, retries: 1 });
});

t.test('a refusal that retrying cannot help is not retried and not abandoned', async (t) => {
  const s = step(start(), activate('A')).snapshot;
  const r = step(s, { type: 'SYMBOL_ACTIVATION_FAILED', symbol: 'A', attempt: 1, retryable: false, code: 'KLAGG_ERR_ACTIVATION_REFUSED', error: 'A is Failed' });
  t.same(r.effects, [['log', { level: 'warn', fields: { symbol: 'A', code: 'KLAGG_ERR_ACTIVATION_REFUSED', reason: 'A is Failed' }, msg: 'activation refused' }]]);
  t.same(r.delayed, []);
  t.equal(r.snapshot.context.counters.failed, 1);
});

t.test('a full queue rejects with an error log; deactivation unsubscribes and tells the worker', async (t) => {
  let s = start();
  for (const symbol of ['A', 'B', 'C', 'D', 'E']) s = step(s, activate(symbol)).snapshot;
  t.equal(s.context.queue.length, 3, 'two in flight, three queued: full');
  const r = step(s, activate('F'));
  t.same(r.effects, [['log', { level: 'error', fields: { symbol: 'F', capacity: 3 }, msg: 'activation queue is full; command rejected' }]]);
  t.equal(r.snapshot.context.counters.rejected, 1);

  const off = step(s, { type: 'DEACTIVATE_SYMBOL', symbol: 'A', reason: 'delisted' });
  t.same(off.effects, [
    ['unsubscribe', { symbol: 'A' }],
    ['sendToWorker', { type: 'DEACTIVATE_SYMBOL', symbol: 'A', attempt: undefined }],
  ]);
});
