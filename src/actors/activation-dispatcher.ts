/**
 * The ActivationDispatcher: a bounded queue of activation commands (2048 by default). Each goes to the worker that
 * owns the symbol; only after the worker's ack is the symbol's stream subscribed — from the position its initial
 * data ends at — so no trade falls into the gap between the two and none is counted twice. A failed or unanswered
 * activation is retried (5 times by default); then the symbol is left Failed and an error is logged.
 */
import { and, assign, enqueueActions, setup, type ActorRefFrom } from 'xstate';
import type { Logger } from '../infra/logger.ts';
import type { ActivateSymbol, DispatcherEvent, Mailbox, WorkerEvent } from '../domain/messages.ts';

/** Where the dispatcher sends work and asks for subscriptions (the supervisor wires these). */
export interface DispatcherPorts {
  workerFor(symbol: string): Mailbox<WorkerEvent>;
  /** Subscribe the symbol's trade stream, starting after aggregate id `position` (−1: from now). */
  subscribe(symbol: string, position: number): void;
  unsubscribe(symbol: string): void;
}

export interface DispatcherInput {
  readonly ports: DispatcherPorts;
  readonly logger: Logger;
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

interface DispatcherContext extends Omit<DispatcherInput, 'maxRetries'> {
  readonly maxAttempts: number;
  readonly queue: readonly ActivateSymbol[];
  readonly inFlight: Readonly<Record<string, InFlight>>;
  readonly counters: DispatcherCounters;
}

export const activationDispatcherMachine = setup({
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
    enqueue: assign(({ context, event }) =>
      event.type === 'ACTIVATE_SYMBOL'
        ? { queue: [...context.queue, event.command], counters: { ...context.counters, accepted: context.counters.accepted + 1 } }
        : {},
    ),
    reject: assign(({ context, event }) => {
      if (event.type === 'ACTIVATE_SYMBOL') {
        context.logger.error({ symbol: event.command.symbol, capacity: context.queueCapacity }, 'activation queue is full; command rejected');
      }
      return { counters: { ...context.counters, rejected: context.counters.rejected + 1 } };
    }),
    /** Starts as many queued activations as concurrency allows (never two for the same symbol at once). */
    pump: enqueueActions(({ context, self, enqueue }) => {
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
        enqueue(() => context.ports.workerFor(command.symbol).send({ type: 'ACTIVATE_SYMBOL', command, attempt: 1, replyTo: self }));
        enqueue.raise({ type: 'ACK_TIMEOUT', symbol: command.symbol, attempt: 1 }, { delay: context.ackTimeoutMs });
      }
      enqueue.assign({ queue, inFlight });
    }),
    subscribe: ({ context, event }) => {
      if (event.type === 'SYMBOL_ACTIVATED') context.ports.subscribe(event.symbol, event.position);
    },
    completeActivation: assign(({ context, event }) => {
      const { [(event as { symbol: string }).symbol]: _done, ...rest } = context.inFlight;
      return { inFlight: rest, counters: { ...context.counters, activated: context.counters.activated + 1 } };
    }),
    scheduleRetry: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SYMBOL_ACTIVATION_FAILED' && event.type !== 'ACK_TIMEOUT') return;
      const current = context.inFlight[event.symbol]!;
      const reason = event.type === 'ACK_TIMEOUT' ? `no answer from the worker within ${context.ackTimeoutMs} ms` : event.error;
      context.logger.warn({ symbol: event.symbol, attempt: current.attempt, reason }, 'activation attempt failed; retrying');
      enqueue.assign({
        inFlight: { ...context.inFlight, [event.symbol]: { command: current.command, attempt: current.attempt + 1 } },
        counters: { ...context.counters, retries: context.counters.retries + 1 },
      });
      enqueue.raise({ type: 'RETRY', symbol: event.symbol }, { delay: context.retryDelayMs });
    }),
    resend: enqueueActions(({ context, event, self, enqueue }) => {
      if (event.type !== 'RETRY') return;
      const current = context.inFlight[event.symbol];
      if (current === undefined) return;
      enqueue(() => context.ports.workerFor(event.symbol).send({ type: 'ACTIVATE_SYMBOL', command: current.command, attempt: current.attempt, replyTo: self }));
      enqueue.raise({ type: 'ACK_TIMEOUT', symbol: event.symbol, attempt: current.attempt }, { delay: context.ackTimeoutMs });
    }),
    giveUp: assign(({ context, event }) => {
      const symbol = (event as { symbol: string }).symbol;
      const current = context.inFlight[symbol]!;
      const reason = event.type === 'SYMBOL_ACTIVATION_FAILED' ? event.error : `no answer from the worker within ${context.ackTimeoutMs} ms`;
      if (event.type === 'SYMBOL_ACTIVATION_FAILED' && !event.retryable) {
        context.logger.warn({ symbol, reason }, 'activation refused');
      } else {
        context.logger.error({ symbol, attempts: current.attempt, reason }, 'activation failed after every retry; the symbol is left Failed');
        context.ports.workerFor(symbol).send({ type: 'ABANDON_SYMBOL', symbol, error: reason });
      }
      const { [symbol]: _failed, ...rest } = context.inFlight;
      return { inFlight: rest, counters: { ...context.counters, failed: context.counters.failed + 1 } };
    }),
    deactivate: ({ context, event }) => {
      if (event.type !== 'DEACTIVATE_SYMBOL') return;
      context.ports.unsubscribe(event.symbol);
      context.ports.workerFor(event.symbol).send({ type: 'DEACTIVATE_SYMBOL', symbol: event.symbol, reason: event.reason });
    },
  },
}).createMachine({
  id: 'activationDispatcher',
  context: ({ input }) => ({
    ports: input.ports,
    logger: input.logger,
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
    ACTIVATE_SYMBOL: [{ guard: 'queueFull', actions: 'reject' }, { actions: ['enqueue', 'pump'] }],
    DEACTIVATE_SYMBOL: { actions: 'deactivate' },
    SYMBOL_ACTIVATED: { guard: 'isCurrentAttempt', actions: ['subscribe', 'completeActivation', 'pump'] },
    SYMBOL_ACTIVATION_FAILED: [
      { guard: and(['isCurrentAttempt', 'attemptsLeft']), actions: 'scheduleRetry' },
      { guard: 'isCurrentAttempt', actions: ['giveUp', 'pump'] },
    ],
    ACK_TIMEOUT: [
      { guard: and(['isCurrentAttempt', 'attemptsLeft']), actions: 'scheduleRetry' },
      { guard: 'isCurrentAttempt', actions: ['giveUp', 'pump'] },
    ],
    RETRY: { actions: 'resend' },
  },
});

export type DispatcherRef = ActorRefFrom<typeof activationDispatcherMachine>;
