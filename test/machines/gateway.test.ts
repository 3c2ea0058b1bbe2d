/**
 * The Gateway machine step by step with `transition()`: what each event does to the context and which effects it
 * asks for (pull, publish, health, trade times), without running any of them.
 */
import t from 'tap';
import { initialTransition, transition, type EventFromLogic, type SnapshotFrom } from 'xstate';
import type { Kline } from '../../src/domain/kline.ts';
import type { DeltaBatch } from '../../src/domain/messages.ts';
import { gatewayMachine } from '../../src/machines/gateway.ts';

type Snapshot = SnapshotFrom<typeof gatewayMachine>;
type Event = EventFromLogic<typeof gatewayMachine>;
const INPUT = { workerCount: 2, pullIntervalMs: 1000, pullTimeoutMs: 500, timeoutAlertThreshold: 2 };
const TIMEOUT = { type: 'xstate.after.pullTimeout.gateway.pulling' } as unknown as Event;

function kline(symbol: string, openTime: number, close: string, isFinal: boolean): Kline {
  return {
    symbol, interval: '1m', openTime, closeTime: openTime + 59_999, open: close, high: close, low: close, close,
    volume: '1', quoteVolume: close, tradeCount: 1, takerBuyVolume: '0', takerBuyQuoteVolume: '0', firstTradeId: 1, lastTradeId: 1, lastAggId: 1, isFinal,
  };
}

function deltas(workerId: number, seq: number, finals: Kline[] = [], updates: Kline[] = []): Event {
  const batch: DeltaBatch = { workerId, seq, finals, updates, lastTradeTimes: { [`W${workerId}`]: seq } };
  return { type: 'DELTAS', batch };
}

/** The effects of a step (XState's own scheduling actions left out), as [type, params]. */
function effects(actions: readonly { type: string; params?: unknown }[]): [string, unknown][] {
  return actions.filter((action) => !action.type.startsWith('xstate.')).map((action) => [action.type, action.params]);
}

function step(snapshot: Snapshot, event: Event): [Snapshot, [string, unknown][]] {
  const [next, actions] = transition(gatewayMachine, snapshot, event);
  return [next, effects(actions)];
}

t.test('a round: PULL_NOW pulls every worker; both answers publish one batch and empty the pending deltas', async (t) => {
  let [s] = initialTransition(gatewayMachine, INPUT);
  t.equal(s.value, 'waiting');
  let out: [string, unknown][];
  [s, out] = step(s, { type: 'PULL_NOW' });
  t.equal(s.value, 'pulling');
  t.same(out, [['pullWorkers', { seq: 1 }]]);
  t.same(s.context.waitingFor, [0, 1]);

  const open = kline('A', 0, '1.0', false);
  [s, out] = step(s, deltas(0, 1, [], [open]));
  t.equal(s.value, 'pulling', 'still waiting for worker 1');
  t.same(out, [['tradesSeen', { lastTradeTimes: { W0: 1 } }]]);
  t.same(s.context.waitingFor, [1]);

  const final = kline('A', 0, '1.1', true);
  [s, out] = step(s, deltas(1, 1, [final]));
  t.equal(s.value, 'waiting');
  t.equal(out.length, 2);
  t.same(out[0], ['tradesSeen', { lastTradeTimes: { W1: 1 } }]);
  const [type, params] = out[1]!;
  t.equal(type, 'publishBatch');
  const { batch } = params as { batch: { seq: number; finals: Kline[]; updates: Kline[]; missingWorkers: number[] } };
  t.equal(batch.seq, 1);
  t.same(batch.finals, [final]);
  t.same(batch.updates, [], 'the final replaced the open update of the same kline');
  t.same(batch.missingWorkers, []);
  t.ok(Object.isFrozen(batch) && Object.isFrozen(batch.finals), 'the published batch is immutable');
  t.same(s.context.finals, []);
  t.equal(s.context.updates.size, 0);
  t.equal(s.context.counters.published, 1);
});

t.test('a timeout publishes what came, names the missing worker, reports it degraded then error; a late answer goes out next time', async (t) => {
  let [s] = initialTransition(gatewayMachine, INPUT);
  let out: [string, unknown][];
  [s] = step(s, { type: 'PULL_NOW' });
  [s] = step(s, deltas(0, 1, [], [kline('A', 0, '1', false)]));
  [s, out] = step(s, TIMEOUT);
  t.equal(s.value, 'waiting');
  t.same(out[0], ['reportWorker', { workerId: 1, status: 'degraded', detail: 'no answer to 1 consecutive pull(s) within 500 ms' }]);
  t.equal(out[1]![0], 'publishBatch');
  t.same((out[1]![1] as { batch: { missingWorkers: number[] } }).batch.missingWorkers, [1]);
  t.equal(s.context.counters.timeouts, 1);

  // The next pull starts; worker 1's answer to pull 1 arrives now: late, counted, kept for the next publication.
  [s] = step(s, { type: 'PULL_NOW' });
  const lateFinal = kline('B', 0, '2', true);
  [s, out] = step(s, deltas(1, 1, [lateFinal]));
  t.equal(s.context.counters.lateAnswers, 1);
  t.same(out, [['tradesSeen', { lastTradeTimes: { W1: 1 } }]], 'a late answer does not clear the timeout streak');
  t.same(s.context.finals, [lateFinal]);
  t.same(s.context.waitingFor, [0, 1], 'and does not count as an answer to pull 2');

  [s] = step(s, deltas(0, 2));
  [s, out] = step(s, TIMEOUT);
  t.same(out[0], ['reportWorker', { workerId: 1, status: 'error', detail: 'no answer to 2 consecutive pull(s) within 500 ms' }], 'the threshold turns it to error');
  t.same((out[1]![1] as { batch: { finals: Kline[] } }).batch.finals, [lateFinal], 'the late final is published');

  [s] = step(s, { type: 'PULL_NOW' });
  [s, out] = step(s, deltas(1, 3));
  t.same(out, [
    ['tradesSeen', { lastTradeTimes: { W1: 3 } }],
    ['reportWorker', { workerId: 1, status: 'ok', detail: 'answering pulls again' }],
  ]);
  t.same(s.context.consecutiveTimeouts, [0, 0]);
});

t.test('an answer to the current pull after its timeout, before the next pull, still counts as that answer', async (t) => {
  let [s] = initialTransition(gatewayMachine, INPUT);
  let out: [string, unknown][];
  [s] = step(s, { type: 'PULL_NOW' });
  [s] = step(s, deltas(0, 1));
  [s] = step(s, TIMEOUT);
  [s, out] = step(s, deltas(1, 1));
  t.equal(s.context.counters.lateAnswers, 0);
  t.same(out[1], ['reportWorker', { workerId: 1, status: 'ok', detail: 'answering pulls again' }]);
});

t.test('answers merge in waiting too, and updates coalesce by kline', async (t) => {
  let [s] = initialTransition(gatewayMachine, INPUT);
  [s] = step(s, deltas(0, 0, [], [kline('A', 0, '1', false)]));
  [s] = step(s, deltas(0, 0, [], [kline('A', 0, '2', false), kline('A', 60_000, '3', false)]));
  t.equal(s.value, 'waiting');
  t.same([...s.context.updates.values()].map((k) => k.close), ['2', '3']);
  t.equal(s.context.counters.lateAnswers, 2, 'answers to no pull are late by definition');
});

t.test('finals at once: a PULL_NOW during a round is kept and starts the next round the moment this one is published', async (t) => {
  let [s] = initialTransition(gatewayMachine, INPUT);
  let out: [string, unknown][];
  [s] = step(s, { type: 'PULL_NOW' });
  [s] = step(s, deltas(0, 1));
  [s, out] = step(s, { type: 'PULL_NOW' });
  t.equal(s.value, 'pulling', 'the round in flight goes on');
  t.same(out, [], 'no second pull while one is out');
  t.equal(s.context.pullAgain, true);
  const final = kline('A', 0, '2', true);
  [s, out] = step(s, deltas(1, 1, [final]));
  t.equal(s.value, 'pulling', 'published, then straight into the next round');
  t.same(
    out.map(([type]) => type),
    ['tradesSeen', 'publishBatch', 'pullWorkers'],
  );
  t.same(out[2], ['pullWorkers', { seq: 2 }]);
  t.equal(s.context.pullAgain, false);
  [s] = step(s, deltas(0, 2));
  [s, out] = step(s, deltas(1, 2));
  t.equal(s.value, 'waiting', 'without another ask it waits for its interval');
});
