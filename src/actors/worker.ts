/**
 * The Worker actor: owns a set of partitions, spawns one lifecycle machine per symbol it owns (a few hundred at most:
 * spawning into one parent is quadratic beyond that), and answers the Gateway's pulls with coalesced deltas.
 * Trades reach its PartitionWorker directly (`core.ingestFrame`), never as events.
 */
import { assign, enqueueActions, sendTo, setup, type ActorRefFrom } from 'xstate';
import { symbolLifecycleMachine } from '../machines/symbol-lifecycle.ts';
import type { ActivateSymbol, DispatcherEvent, Mailbox, WorkerEvent } from './messages.ts';
import type { PartitionWorker } from './partition-worker.ts';
import type { Clock } from '../infra/clock.ts';

export interface WorkerInput {
  readonly core: PartitionWorker;
  readonly maxAttempts: number;
  readonly clock: Clock;
}

interface WorkerContext {
  readonly core: PartitionWorker;
  readonly maxAttempts: number;
  readonly clock: Clock;
  /** Fault injection: pulls are answered only after this time. */
  readonly stalledUntil: number;
}

type InstallResult =
  | { readonly type: 'INSTALLED'; readonly symbol: string; readonly attempt: number; readonly position: number; readonly replyTo: Mailbox<DispatcherEvent> }
  | { readonly type: 'INSTALL_FAILED'; readonly symbol: string; readonly attempt: number; readonly error: string; readonly replyTo: Mailbox<DispatcherEvent> };

export const workerMachine = setup({
  types: {
    context: {} as WorkerContext,
    input: {} as WorkerInput,
    events: {} as WorkerEvent | InstallResult,
  },
  actors: {
    symbolLifecycle: symbolLifecycleMachine,
  },
  actions: {
    ensureLifecycle: enqueueActions(({ context, event, self, enqueue }) => {
      if (event.type !== 'ACTIVATE_SYMBOL') return;
      const symbol = event.command.symbol;
      if (self.getSnapshot().children[symbol] === undefined) {
        enqueue.spawnChild('symbolLifecycle', { id: symbol, input: { symbol, maxAttempts: context.maxAttempts } });
      }
    }),
    startActivation: sendTo(
      ({ event }) => (event as { command: ActivateSymbol }).command.symbol,
      ({ event }) => ({ type: (event as { command: ActivateSymbol }).command.force ? ('FORCE_ACTIVATE' as const) : ('ACTIVATE' as const) }),
    ),
    /** Installs the initial data into the engine; the outcome comes back to this worker as an event. */
    install: ({ context, event, self }) => {
      if (event.type !== 'ACTIVATE_SYMBOL') return;
      const { command, attempt, replyTo } = event;
      try {
        const position = context.core.activate(command.symbol, command.scales, command.initialData);
        self.send({ type: 'INSTALLED', symbol: command.symbol, attempt, position, replyTo });
      } catch (error) {
        self.send({ type: 'INSTALL_FAILED', symbol: command.symbol, attempt, error: (error as Error).message, replyTo });
      }
    },
    markActivated: sendTo(({ event }) => (event as InstallResult).symbol, { type: 'ACTIVATED' }),
    markFailed: sendTo(
      ({ event }) => (event as InstallResult).symbol,
      ({ event }) => ({ type: 'ACTIVATION_FAILED' as const, error: (event as { error: string }).error }),
    ),
    ack: ({ event }) => {
      if (event.type === 'INSTALLED') event.replyTo.send({ type: 'SYMBOL_ACTIVATED', symbol: event.symbol, attempt: event.attempt, position: event.position });
    },
    nack: ({ context, event }) => {
      if (event.type !== 'INSTALL_FAILED') return;
      context.core.deactivate(event.symbol);
      event.replyTo.send({ type: 'SYMBOL_ACTIVATION_FAILED', symbol: event.symbol, attempt: event.attempt, error: event.error });
    },
    abandon: enqueueActions(({ context, event, self, enqueue }) => {
      if (event.type !== 'ABANDON_SYMBOL') return;
      context.core.deactivate(event.symbol);
      if (self.getSnapshot().children[event.symbol] !== undefined) enqueue.sendTo(event.symbol, { type: 'ABANDON', error: event.error });
    }),
    deactivate: enqueueActions(({ context, event, self, enqueue }) => {
      if (event.type !== 'DEACTIVATE_SYMBOL') return;
      context.core.deactivate(event.symbol);
      if (self.getSnapshot().children[event.symbol] !== undefined) enqueue.sendTo(event.symbol, { type: 'DEACTIVATE', reason: event.reason });
    }),
    replyDeltas: ({ context, event }) => {
      if (event.type !== 'PULL_DELTAS') return;
      const wait = context.stalledUntil - context.clock.now();
      // Deltas are taken when the answer is sent, so a stalled worker's deltas are late, never lost.
      const answer = (): void => event.replyTo.send({ type: 'DELTAS', batch: context.core.takeDeltas(event.seq) });
      if (wait > 0) setTimeout(answer, wait);
      else answer();
    },
    advance: ({ context, event }) => {
      if (event.type === 'TICK') context.core.advanceTo(event.now);
    },
    finish: ({ context }) => context.core.finish(),
    stall: assign({ stalledUntil: ({ context, event }) => (event.type === 'STALL' ? context.clock.now() + event.ms : context.stalledUntil) }),
  },
}).createMachine({
  id: 'worker',
  context: ({ input }) => ({ core: input.core, maxAttempts: input.maxAttempts, clock: input.clock, stalledUntil: 0 }),
  on: {
    ACTIVATE_SYMBOL: { actions: ['ensureLifecycle', 'startActivation', 'install'] },
    INSTALLED: { actions: ['markActivated', 'ack'] },
    INSTALL_FAILED: { actions: ['markFailed', 'nack'] },
    ABANDON_SYMBOL: { actions: 'abandon' },
    DEACTIVATE_SYMBOL: { actions: 'deactivate' },
    PULL_DELTAS: { actions: 'replyDeltas' },
    TICK: { actions: 'advance' },
    FINISH: { actions: 'finish' },
    STALL: { actions: 'stall' },
  },
});

export type WorkerRef = ActorRefFrom<typeof workerMachine>;
