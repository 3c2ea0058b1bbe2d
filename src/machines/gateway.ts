/**
 * The Gateway: every `pullIntervalMs` it pulls deltas from all workers at once and waits at most `pullTimeoutMs`.
 * A worker that does not answer in time keeps its last good state in the global view and is counted; after
 * `timeoutAlertThreshold` consecutive misses its health turns to error. Its answer is not lost: whenever it arrives it
 * is merged and goes out with the next publication. Each publication is one immutable batch, shared by every live
 * subscriber and the DB writer.
 *
 * Finals go out at once: a worker with new finals asks for `PULL_NOW` (the system coalesces the asks), and one that
 * comes while a round is still out is kept (`pullAgain`) and starts the next round the moment this one is published —
 * so a final never waits for the next `pullIntervalMs`. Open updates ride along; their throttle is the stream server's.
 *
 * Pure: the context holds data only, `assign` computes it, and every effect is a named action with parameters —
 * `pullWorkers`, `publishBatch`, `reportWorker`, `tradesSeen` — that the system provides (`src/actors/gateway-actor.ts`).
 * `transition()` therefore shows what a step would do without doing it (test/machines/gateway.test.ts).
 */
import { assign, enqueueActions, setup } from 'xstate';
import type { Kline } from '../domain/kline.ts';
import type { DeltaBatch, GatewayEvent, PublishedBatch } from '../domain/messages.ts';

export interface GatewayInput {
  readonly workerCount: number;
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

export type WorkerHealth = 'ok' | 'degraded' | 'error';

export interface GatewayContext extends GatewayInput {
  readonly seq: number;
  /** Workers whose answer to the current pull has not come. */
  readonly waitingFor: readonly number[];
  /** Deltas received and not yet published: finals in order, updates coalesced by key. */
  readonly finals: readonly Kline[];
  readonly updates: ReadonlyMap<string, Kline>;
  readonly consecutiveTimeouts: readonly number[];
  readonly counters: GatewayCounters;
  /** A PULL_NOW came while pulling: pull again as soon as this round is published. */
  readonly pullAgain: boolean;
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

/** The publication of what was merged: immutable, shared by every subscriber and the DB writer. */
function batchOf(context: GatewayContext): PublishedBatch {
  return Object.freeze({
    seq: context.seq,
    finals: Object.freeze([...context.finals]),
    updates: Object.freeze([...context.updates.values()]),
    missingWorkers: Object.freeze([...context.waitingFor]),
  });
}

function isLate(context: GatewayContext, batch: DeltaBatch): boolean {
  return batch.seq !== context.seq || !context.waitingFor.includes(batch.workerId);
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
    pullAgain: ({ context }) => context.pullAgain,
  },
  actions: {
    // Effects, provided by the system.
    pullWorkers: (_, _params: { readonly seq: number }) => {},
    publishBatch: (_, _params: { readonly batch: PublishedBatch }) => {},
    reportWorker: (_, _params: { readonly workerId: number; readonly status: WorkerHealth; readonly detail: string }) => {},
    tradesSeen: (_, _params: { readonly lastTradeTimes: Readonly<Record<string, number>> }) => {},
    /** Starts the next round empty (after `publishBatch` took what was merged). */
    clearPending: assign(({ context }) => ({ finals: [], updates: new Map(), counters: { ...context.counters, published: context.counters.published + 1 } })),

  },
}).createMachine({
  id: 'gateway',
  context: ({ input }) => ({
    ...input,
    seq: 0,
    waitingFor: [],
    finals: [],
    updates: new Map(),
    consecutiveTimeouts: Array.from({ length: input.workerCount }, () => 0),
    counters: { pulls: 0, timeouts: 0, lateAnswers: 0, published: 0 },
    pullAgain: false,
  }),
  initial: 'waiting',
  on: {
    // Answers are merged in every state: a late one goes out with the next publication.
    DELTAS: {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const { batch } = event;
        const late = isLate(context, batch);
        enqueue({ type: 'tradesSeen', params: { lastTradeTimes: batch.lastTradeTimes } });
        if (!late && (context.consecutiveTimeouts[batch.workerId] ?? 0) > 0) {
          enqueue({ type: 'reportWorker', params: { workerId: batch.workerId, status: 'ok', detail: 'answering pulls again' } });
        }
        const consecutiveTimeouts = [...context.consecutiveTimeouts];
        if (!late) consecutiveTimeouts[batch.workerId] = 0;
        enqueue.assign({
          ...merge(context, batch),
          waitingFor: late ? context.waitingFor : context.waitingFor.filter((id) => id !== batch.workerId),
          consecutiveTimeouts,
          counters: late ? { ...context.counters, lateAnswers: context.counters.lateAnswers + 1 } : context.counters,
        });
      }),
    },
  },
  states: {
    waiting: {
      always: { guard: 'pullAgain', target: 'pulling' },
      after: { pullInterval: 'pulling' },
      on: { PULL_NOW: 'pulling' },
    },
    pulling: {
      entry: enqueueActions(({ context, enqueue }) => {
        const seq = context.seq + 1;
        enqueue.assign({
          seq,
          pullAgain: false,
          waitingFor: Array.from({ length: context.workerCount }, (_, id) => id),
          counters: { ...context.counters, pulls: context.counters.pulls + 1 },
        });
        enqueue({ type: 'pullWorkers', params: { seq } });
      }),
      on: { PULL_NOW: { actions: assign({ pullAgain: true }) } },
      always: { guard: 'allAnswered', target: 'waiting', actions: [{ type: 'publishBatch', params: ({ context }) => ({ batch: batchOf(context) }) }, 'clearPending'] },
      after: {
        pullTimeout: {
          target: 'waiting',
          actions: [
            enqueueActions(({ context, enqueue }) => {
              const consecutiveTimeouts = [...context.consecutiveTimeouts];
              for (const workerId of context.waitingFor) {
                const misses = (consecutiveTimeouts[workerId] ?? 0) + 1;
                consecutiveTimeouts[workerId] = misses;
                const status = misses >= context.timeoutAlertThreshold ? 'error' : 'degraded';
                enqueue({ type: 'reportWorker', params: { workerId, status, detail: `no answer to ${misses} consecutive pull(s) within ${context.pullTimeoutMs} ms` } });
              }
              enqueue.assign({ consecutiveTimeouts, counters: { ...context.counters, timeouts: context.counters.timeouts + context.waitingFor.length } });
            }),
            { type: 'publishBatch', params: ({ context }) => ({ batch: batchOf(context) }) },
            'clearPending',
          ],
        },
      },
    },
  },
});
