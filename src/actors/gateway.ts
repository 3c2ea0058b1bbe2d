/**
 * The Gateway: every `pullIntervalMs` it pulls deltas from all workers at once and waits at most `pullTimeoutMs`.
 * A worker that does not answer in time keeps its last good state in the global view and is counted; after
 * `timeoutAlertThreshold` consecutive misses its health turns to error. Its answer is not lost: whenever it arrives it
 * is merged and goes out with the next publication. Each publication is one immutable batch, shared by every live
 * subscriber and the DB writer.
 */
import { assign, enqueueActions, setup, type ActorRefFrom } from 'xstate';
import type { Kline } from '../domain/kline.ts';
import type { DeltaBatch } from '../domain/messages.ts';
import type { GatewayEvent, Mailbox, PublishedBatch, WorkerEvent } from '../domain/messages.ts';

export interface GatewayPorts {
  readonly workers: readonly Mailbox<WorkerEvent>[];
  publish(batch: PublishedBatch): void;
  /** Per-worker health as the gateway sees it (answers in time or not). */
  reportWorker(workerId: number, status: 'ok' | 'degraded' | 'error', detail: string): void;
  /** Last trade times per symbol, as workers report them. */
  tradesSeen(lastTradeTimes: Readonly<Record<string, number>>): void;
}

export interface GatewayInput {
  readonly ports: GatewayPorts;
  readonly pullIntervalMs: number;
  readonly pullTimeoutMs: number;
  readonly timeoutAlertThreshold: number;
}

export interface GatewayCounters {
  readonly pulls: number;
  readonly timeouts: number;
  readonly lateAnswers: number;
  readonly published: number;
}

interface GatewayContext extends GatewayInput {
  readonly seq: number;
  /** Workers whose answer to the current pull has not come. */
  readonly waitingFor: readonly number[];
  /** Deltas received and not yet published: finals in order, updates coalesced by key. */
  readonly finals: readonly Kline[];
  readonly updates: ReadonlyMap<string, Kline>;
  readonly consecutiveTimeouts: readonly number[];
  readonly counters: GatewayCounters;
}

export function klineKey(kline: Kline): string {
  return `${kline.symbol}|${kline.interval}|${kline.openTime}`;
}

function merge(context: GatewayContext, batch: DeltaBatch): Pick<GatewayContext, 'finals' | 'updates'> {
  const updates = new Map(context.updates);
  for (const kline of batch.finals) updates.delete(klineKey(kline));
  for (const kline of batch.updates) updates.set(klineKey(kline), kline);
  return { finals: batch.finals.length > 0 ? [...context.finals, ...batch.finals] : context.finals, updates };
}

export const gatewayMachine = setup({
  types: {
    context: {} as GatewayContext,
    input: {} as GatewayInput,
    events: {} as GatewayEvent,
  },
  delays: {
    pullInterval: ({ context }) => context.pullIntervalMs,
    pullTimeout: ({ context }) => context.pullTimeoutMs,
  },
  guards: {
    allAnswered: ({ context }) => context.waitingFor.length === 0,
  },
  actions: {
    pull: enqueueActions(({ context, self, enqueue }) => {
      const seq = context.seq + 1;
      enqueue.assign({
        seq,
        waitingFor: context.ports.workers.map((_, id) => id),
        counters: { ...context.counters, pulls: context.counters.pulls + 1 },
      });
      enqueue(() => context.ports.workers.forEach((worker) => worker.send({ type: 'PULL_DELTAS', seq, replyTo: self })));
    }),
    receive: assign(({ context, event }) => {
      if (event.type !== 'DELTAS') return {};
      const { batch } = event;
      const late = batch.seq !== context.seq || !context.waitingFor.includes(batch.workerId);
      context.ports.tradesSeen(batch.lastTradeTimes);
      const consecutiveTimeouts = [...context.consecutiveTimeouts];
      if (!late) {
        if ((consecutiveTimeouts[batch.workerId] ?? 0) > 0) context.ports.reportWorker(batch.workerId, 'ok', 'answering pulls again');
        consecutiveTimeouts[batch.workerId] = 0;
      }
      return {
        ...merge(context, batch),
        waitingFor: late ? context.waitingFor : context.waitingFor.filter((id) => id !== batch.workerId),
        consecutiveTimeouts,
        counters: late ? { ...context.counters, lateAnswers: context.counters.lateAnswers + 1 } : context.counters,
      };
    }),
    countTimeouts: assign(({ context }) => {
      const consecutiveTimeouts = [...context.consecutiveTimeouts];
      for (const id of context.waitingFor) {
        const misses = (consecutiveTimeouts[id] ?? 0) + 1;
        consecutiveTimeouts[id] = misses;
        const status = misses >= context.timeoutAlertThreshold ? 'error' : 'degraded';
        context.ports.reportWorker(id, status, `no answer to ${misses} consecutive pull(s) within ${context.pullTimeoutMs} ms`);
      }
      return { consecutiveTimeouts, counters: { ...context.counters, timeouts: context.counters.timeouts + context.waitingFor.length } };
    }),
    publish: enqueueActions(({ context, enqueue }) => {
      const batch: PublishedBatch = Object.freeze({
        seq: context.seq,
        finals: Object.freeze([...context.finals]),
        updates: Object.freeze([...context.updates.values()]),
        missingWorkers: Object.freeze([...context.waitingFor]),
      });
      enqueue.assign({ finals: [], updates: new Map(), counters: { ...context.counters, published: context.counters.published + 1 } });
      enqueue(() => context.ports.publish(batch));
    }),
  },
}).createMachine({
  id: 'gateway',
  context: ({ input }) => ({
    ...input,
    seq: 0,
    waitingFor: [],
    finals: [],
    updates: new Map(),
    consecutiveTimeouts: input.ports.workers.map(() => 0),
    counters: { pulls: 0, timeouts: 0, lateAnswers: 0, published: 0 },
  }),
  initial: 'waiting',
  on: {
    // Answers are merged in every state: a late one goes out with the next publication.
    DELTAS: { actions: 'receive' },
  },
  states: {
    waiting: {
      after: { pullInterval: 'pulling' },
      on: { PULL_NOW: 'pulling' },
    },
    pulling: {
      entry: 'pull',
      always: { guard: 'allAnswered', target: 'waiting', actions: 'publish' },
      after: { pullTimeout: { target: 'waiting', actions: ['countTimeouts', 'publish'] } },
    },
  },
});

export type GatewayRef = ActorRefFrom<typeof gatewayMachine>;
