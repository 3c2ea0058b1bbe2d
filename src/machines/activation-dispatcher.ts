/**
 * The ActivationDispatcher: a bounded queue of activation commands (2048 by default). Each goes to the worker that
 * owns the symbol; only after the worker's ack is the symbol's stream subscribed — from the position its initial
 * data ends at — so no trade falls into the gap between the two and none is counted twice. A failed or unanswered
 * activation is retried (5 times by default); then the symbol is left Failed and an error is logged.
 *
 * Pure: data in the context, effects as named actions with parameters — `sendToWorker`, `subscribe`, `unsubscribe`,
 * `log` — provided by the system (`src/actors/dispatcher-actor.ts`); `transition()` shows them without running them.
 */
import { and, assign, enqueueActions, setup } from 'xstate';
import { errorMessage, type ErrorCode } from '../domain/errors.ts';
import type { ActivateSymbol, DispatcherEvent, WorkerEvent } from '../domain/messages.ts';

export interface DispatcherInput {
  readonly queueCapacity: number;
  /** Retries after the first attempt. */
  readonly maxRetries: number;
  readonly retryDelayMs: number;
  readonly ackTimeoutMs: number;
  /** Activations in flight at once. */
  readonly concurrency: number;
}

export interface DispatcherCounters {
  readonly accepted: number;
  readonly rejected: number;
  readonly activated: number;
  readonly failed: number;
  readonly retries: number;
}

interface InFlight {
  readonly command: ActivateSymbol;
  readonly attempt: number;
}

export interface DispatcherContext extends Omit<DispatcherInput, 'maxRetries'> {
  readonly maxAttempts: number;
  readonly queue: readonly ActivateSymbol[];
  readonly inFlight: Readonly<Record<string, InFlight>>;
  readonly counters: DispatcherCounters;
}

export interface DispatcherLogLine {
  readonly level: 'warn' | 'error';
  readonly fields: Readonly<Record<string, unknown>>;
  readonly msg: string;
}

type SymbolEvent = Extract<DispatcherEvent, { symbol: string }>;

/** Why an attempt failed: the worker's code and message, or the ack timeout. */
function failure(context: DispatcherContext, event: DispatcherEvent): { readonly code: ErrorCode; readonly reason: string } {
  if (event.type === 'SYMBOL_ACTIVATION_FAILED') return { code: event.code, reason: event.error };
  return { code: 'KLAGG_ERR_ACTIVATION_TIMEOUT', reason: errorMessage('KLAGG_ERR_ACTIVATION_TIMEOUT', { ms: context.ackTimeoutMs }) };
}

function withoutSymbol(inFlight: Readonly<Record<string, InFlight>>, symbol: string): Record<string, InFlight> {
  const { [symbol]: _done, ...rest } = inFlight;
  return rest;
}

const dispatcherSetup = setup({
  types: {
    context: {} as DispatcherContext,
    input: {} as DispatcherInput,
    events: {} as DispatcherEvent,
  },
  guards: {
    queueFull: ({ context }) => context.queue.length >= context.queueCapacity,
    isCurrentAttempt: ({ context, event }) => 'attempt' in event && context.inFlight[event.symbol]?.attempt === event.attempt,
    attemptsLeft: ({ context, event }) =>
      'symbol' in event && (event.type !== 'SYMBOL_ACTIVATION_FAILED' || event.retryable) && (context.inFlight[event.symbol]?.attempt ?? Infinity) < context.maxAttempts,
  },
  actions: {
    // Effects, provided by the system.
    sendToWorker: (_, _params: { readonly symbol: string; readonly event: WorkerEvent }) => {},
    subscribe: (_, _params: { readonly symbol: string; readonly position: number }) => {},
    unsubscribe: (_, _params: { readonly symbol: string }) => {},
    log: (_, _params: DispatcherLogLine) => {},

    enqueue: assign(({ context, event }) =>
      event.type === 'ACTIVATE_SYMBOL'
        ? { queue: [...context.queue, event.command], counters: { ...context.counters, accepted: context.counters.accepted + 1 } }
        : {},
    ),
    countRejected: assign(({ context }) => ({ counters: { ...context.counters, rejected: context.counters.rejected + 1 } })),
    completeActivation: assign(({ context, event }) => ({
      inFlight: withoutSymbol(context.inFlight, (event as SymbolEvent).symbol),
      counters: { ...context.counters, activated: context.counters.activated + 1 },
    })),
  },
});

const dispatcher = dispatcherSetup.extend({
  actions: {
    /** Starts as many queued activations as concurrency allows (never two for the same symbol at once). */
    pump: dispatcherSetup.enqueueActions(({ context, self, enqueue }) => {
      const inFlight: Record<string, InFlight> = { ...context.inFlight };
      const queue: ActivateSymbol[] = [];
      let running = Object.keys(inFlight).length;
      for (const command of context.queue) {
        if (running >= context.concurrency || inFlight[command.symbol] !== undefined) {
          queue.push(command);
          continue;
        }
        inFlight[command.symbol] = { command, attempt: 1 };
        running++;
        enqueue({ type: 'sendToWorker', params: { symbol: command.symbol, event: { type: 'ACTIVATE_SYMBOL', command, attempt: 1, replyTo: self } } });
        enqueue.raise({ type: 'ACK_TIMEOUT', symbol: command.symbol, attempt: 1 }, { delay: context.ackTimeoutMs });
      }
      enqueue.assign({ queue, inFlight });
    }),
    scheduleRetry: dispatcherSetup.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SYMBOL_ACTIVATION_FAILED' && event.type !== 'ACK_TIMEOUT') return;
      const current = context.inFlight[event.symbol]!;
      enqueue({
        type: 'log',
        params: { level: 'warn', fields: { symbol: event.symbol, attempt: current.attempt, ...failure(context, event) }, msg: 'activation attempt failed; retrying' },
      });
      enqueue.assign({
        inFlight: { ...context.inFlight, [event.symbol]: { command: current.command, attempt: current.attempt + 1 } },
        counters: { ...context.counters, retries: context.counters.retries + 1 },
      });
      enqueue.raise({ type: 'RETRY', symbol: event.symbol }, { delay: context.retryDelayMs });
    }),
    giveUp: dispatcherSetup.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SYMBOL_ACTIVATION_FAILED' && event.type !== 'ACK_TIMEOUT') return;
      const symbol = event.symbol;
      const current = context.inFlight[symbol]!;
      const { code, reason } = failure(context, event);
      if (event.type === 'SYMBOL_ACTIVATION_FAILED' && !event.retryable) {
        enqueue({ type: 'log', params: { level: 'warn', fields: { symbol, code, reason }, msg: 'activation refused' } });
      } else {
        enqueue({ type: 'log', params: { level: 'error', fields: { symbol, attempts: current.attempt, code, reason }, msg: 'activation failed after every retry; the symbol is left Failed' } });
        enqueue({ type: 'sendToWorker', params: { symbol, event: { type: 'ABANDON_SYMBOL', symbol, code, error: reason } } });
      }
      enqueue.assign({ inFlight: withoutSymbol(context.inFlight, symbol), counters: { ...context.counters, failed: context.counters.failed + 1 } });
    }),
  },
});

export const activationDispatcherMachine = dispatcher.createMachine({
  id: 'activationDispatcher',
  context: ({ input }) => ({
    queueCapacity: input.queueCapacity,
    maxAttempts: 1 + input.maxRetries,
    retryDelayMs: input.retryDelayMs,
    ackTimeoutMs: input.ackTimeoutMs,
    concurrency: input.concurrency,
    queue: [],
    inFlight: {},
    counters: { accepted: 0, rejected: 0, activated: 0, failed: 0, retries: 0 },
  }),
  on: {
    ACTIVATE_SYMBOL: [
      {
        guard: 'queueFull',
        actions: [
          { type: 'log', params: ({ context, event }) => ({ level: 'error', fields: { symbol: event.command.symbol, capacity: context.queueCapacity }, msg: 'activation queue is full; command rejected' }) },
          'countRejected',
        ],
      },
      { actions: ['enqueue', 'pump'] },
    ],
    DEACTIVATE_SYMBOL: {
      actions: [
        { type: 'unsubscribe', params: ({ event }) => ({ symbol: event.symbol }) },
        { type: 'sendToWorker', params: ({ event }) => ({ symbol: event.symbol, event: { type: 'DEACTIVATE_SYMBOL', symbol: event.symbol, reason: event.reason } }) },
      ],
    },
    SYMBOL_ACTIVATED: {
      guard: 'isCurrentAttempt',
      actions: [{ type: 'subscribe', params: ({ event }) => ({ symbol: event.symbol, position: event.position }) }, 'completeActivation', 'pump'],
    },
    SYMBOL_ACTIVATION_FAILED: [
      { guard: and(['isCurrentAttempt', 'attemptsLeft']), actions: 'scheduleRetry' },
      { guard: 'isCurrentAttempt', actions: ['giveUp', 'pump'] },
    ],
    ACK_TIMEOUT: [
      { guard: and(['isCurrentAttempt', 'attemptsLeft']), actions: 'scheduleRetry' },
      { guard: 'isCurrentAttempt', actions: ['giveUp', 'pump'] },
    ],
    RETRY: {
      actions: enqueueActions(({ context, event, self, enqueue }) => {
        const current = context.inFlight[event.symbol];
        if (current === undefined) return;
        const activate: WorkerEvent = { type: 'ACTIVATE_SYMBOL', command: current.command, attempt: current.attempt, replyTo: self };
        enqueue({ type: 'sendToWorker', params: { symbol: event.symbol, event: activate } });
        enqueue.raise({ type: 'ACK_TIMEOUT', symbol: event.symbol, attempt: current.attempt }, { delay: context.ackTimeoutMs });
      }),
    },
  },
});
