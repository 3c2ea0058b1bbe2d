/**
 * The Worker actor: owns a set of partitions, spawns one lifecycle machine per symbol it owns (a few hundred at most:
 * spawning into one parent is quadratic beyond that), and answers the Gateway's pulls with coalesced deltas.
 * Trades reach its PartitionWorker directly (`core.ingestFrame`), never as events.
 */
import { assign, enqueueActions, setup, type ActorRefFrom } from 'xstate';
import { symbolLifecycleMachine, type SymbolLifecycleEvent, type SymbolLifecycleState } from '../machines/symbol-lifecycle.ts';
import type { ActivateSymbol, DispatcherEvent, Mailbox, WorkerEvent } from '../domain/messages.ts';
import type { PartitionWorkerPort } from './partition-worker-port.ts';
import type { Clock } from '../infra/clock.ts';

export interface WorkerInput {
  readonly core: PartitionWorkerPort;
  readonly maxAttempts: number;
  readonly clock: Clock;
}

interface WorkerContext {
  readonly core: PartitionWorkerPort;
  readonly maxAttempts: number;
  readonly clock: Clock;
  /** Fault injection: pulls are answered only after this time. */
  readonly stalledUntil: number;
}

/** Internal: the activation, one macrostep after the lifecycle child was spawned (so it is there to ask). */
type ActivateStep = { readonly type: 'ACTIVATE_STEP'; readonly command: ActivateSymbol; readonly attempt: number; readonly replyTo: Mailbox<DispatcherEvent> };

interface LifecycleRef {
  send(event: SymbolLifecycleEvent): void;
  getSnapshot(): { value: unknown };
}

export const workerMachine = setup({
  types: {
    context: {} as WorkerContext,
    input: {} as WorkerInput,
    events: {} as WorkerEvent | ActivateStep,
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
      // Through the mailbox, not raise(): a raised event runs in this same macrostep, before the child is visible.
      const step: ActivateStep = { type: 'ACTIVATE_STEP', command: event.command, attempt: event.attempt, replyTo: event.replyTo };
      enqueue(() => self.send(step));
    }),
    /**
     * Decides from the symbol's lifecycle state, installs the initial data into the engine, and answers the
     * dispatcher. A Failed symbol is revived only by a forced activation; an Active one is never re-installed (that
     * would roll its live state back to the stored one).
     */
    activate: ({ context, event, self }) => {
      if (event.type !== 'ACTIVATE_STEP') return;
      const { command, attempt, replyTo } = event;
      const symbol = command.symbol;
      const lifecycle = self.getSnapshot().children[symbol] as LifecycleRef;
      const state = lifecycle.getSnapshot().value as SymbolLifecycleState;
      if (state === 'Active') {
        void context.core.positionOf(symbol).then((position) => replyTo.send({ type: 'SYMBOL_ACTIVATED', symbol, attempt, position }));
        return;
      }
      if (state === 'Failed' && !command.force) {
        replyTo.send({ type: 'SYMBOL_ACTIVATION_FAILED', symbol, attempt, retryable: false, error: `${symbol} is Failed; only a forced activation revives it` });
        return;
      }
      lifecycle.send({ type: command.force ? 'FORCE_ACTIVATE' : 'ACTIVATE' });
      context.core.activate(symbol, command.scales, command.initialData, command.startAfterId).then(
        (position) => {
          lifecycle.send({ type: 'ACTIVATED' });
          replyTo.send({ type: 'SYMBOL_ACTIVATED', symbol, attempt, position });
        },
        (error: unknown) => {
          context.core.deactivate(symbol);
          const message = (error as Error).message;
          lifecycle.send({ type: 'ACTIVATION_FAILED', error: message });
          replyTo.send({ type: 'SYMBOL_ACTIVATION_FAILED', symbol, attempt, retryable: true, error: message });
        },
      );
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
      // A worker that cannot answer (its thread died) is left to the Gateway's timeouts and the health board.
      const answer = (): void => void context.core.takeDeltas(event.seq).then((batch) => event.replyTo.send({ type: 'DELTAS', batch }), () => {});
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
    ACTIVATE_SYMBOL: { actions: 'ensureLifecycle' },
    ACTIVATE_STEP: { actions: 'activate' },
    ABANDON_SYMBOL: { actions: 'abandon' },
    DEACTIVATE_SYMBOL: { actions: 'deactivate' },
    PULL_DELTAS: { actions: 'replyDeltas' },
    TICK: { actions: 'advance' },
    FINISH: { actions: 'finish' },
    STALL: { actions: 'stall' },
  },
});

export type WorkerRef = ActorRefFrom<typeof workerMachine>;
