/**
 * The Worker: owns a set of partitions, spawns one lifecycle machine per symbol it owns (a few hundred at most:
 * spawning into one parent is quadratic beyond that), and answers the Gateway's pulls with coalesced deltas.
 * Trades reach its partition worker directly, never as events.
 *
 * Pure: it decides from the symbol's lifecycle state and keeps the lifecycle children; the work on the partition
 * worker is done by named effects with parameters — `installSymbol`, `replyActivePosition`, `releaseSymbol`,
 * `sendDeltas`, `advanceTime`, `finishInput` — provided by the system (`src/actors/worker-actor.ts`), which reports
 * an installation's outcome back as `INSTALLED` / `INSTALL_FAILED`.
 */
import { enqueueActions, setup } from 'xstate';
import { errorMessage, type ErrorCode } from '../domain/errors.ts';
import type { ActivateSymbol, DispatcherEvent, GatewayEvent, Mailbox, WorkerEvent } from '../domain/messages.ts';
import { symbolLifecycleMachine } from './symbol-lifecycle.ts';

export interface WorkerInput {
  /** Which partition worker this is (the effects act on that one). */
  readonly workerId: number;
  readonly maxAttempts: number;
}

export interface WorkerContext {
  readonly workerId: number;
  readonly maxAttempts: number;
  /** Fault injection: pulls are answered only from this time on. */
  readonly stalledUntil: number;
}

interface Activation {
  readonly command: ActivateSymbol;
  readonly attempt: number;
  readonly replyTo: Mailbox<DispatcherEvent>;
}

/** Internal and from the effects: the activation one macrostep after the lifecycle child was spawned; its outcome. */
export type WorkerInternalEvent =
  | ({ readonly type: 'ACTIVATE_STEP' } & Activation)
  | ({ readonly type: 'INSTALLED'; readonly position: number } & Activation)
  | ({ readonly type: 'INSTALL_FAILED'; readonly code: ErrorCode; readonly error: string } & Activation);

const workerSetup = setup({
  types: {
    context: {} as WorkerContext,
    input: {} as WorkerInput,
    events: {} as WorkerEvent | WorkerInternalEvent,
  },
  actors: {
    symbolLifecycle: symbolLifecycleMachine,
  },
  actions: {
    // Effects on the partition worker, provided by the system.
    /** Installs the symbol's initial data; answers with INSTALLED or INSTALL_FAILED. */
    installSymbol: (_, _params: Activation) => {},
    /** An Active symbol is never re-installed: the dispatcher gets its current position. */
    replyActivePosition: (_, _params: Activation) => {},
    releaseSymbol: (_, _params: { readonly symbol: string }) => {},
    /** Takes the deltas and sends them to the Gateway, not before `notBefore` (a stalled worker is late, never lossy). */
    sendDeltas: (_, _params: { readonly seq: number; readonly replyTo: Mailbox<GatewayEvent>; readonly notBefore: number }) => {},
    advanceTime: (_, _params: { readonly now: number }) => {},
    finishInput: () => {},
  },
});

export const workerMachine = workerSetup.createMachine({
  id: 'worker',
  context: ({ input }) => ({ workerId: input.workerId, maxAttempts: input.maxAttempts, stalledUntil: 0 }),
  on: {
    ACTIVATE_SYMBOL: {
      actions: enqueueActions(({ context, event, self, enqueue }) => {
        const symbol = event.command.symbol;
        if (self.getSnapshot().children[symbol] === undefined) {
          enqueue.spawnChild('symbolLifecycle', { id: symbol, input: { symbol, maxAttempts: context.maxAttempts } });
        }
        // Through the mailbox, not raise(): a raised event runs in this same macrostep, before the child is visible.
        enqueue.sendTo(self, { type: 'ACTIVATE_STEP', command: event.command, attempt: event.attempt, replyTo: event.replyTo });
      }),
    },
    /**
     * Decides from the symbol's lifecycle state. A Failed symbol is revived only by a forced activation; an Active
     * one is never re-installed (that would roll its live state back to the stored one).
     */
    ACTIVATE_STEP: {
      actions: enqueueActions(({ event, self, enqueue }) => {
        const { type: _type, ...activation } = event;
        const symbol = activation.command.symbol;
        const lifecycle = self.getSnapshot().children[symbol];
        const state = lifecycle?.getSnapshot().value;
        if (state === 'Active') {
          enqueue({ type: 'replyActivePosition', params: activation });
          return;
        }
        if (state === 'Failed' && !activation.command.force) {
          const error = errorMessage('KLAGG_ERR_ACTIVATION_REFUSED', { symbol });
          enqueue(() => activation.replyTo.send({ type: 'SYMBOL_ACTIVATION_FAILED', symbol, attempt: activation.attempt, retryable: false, code: 'KLAGG_ERR_ACTIVATION_REFUSED', error }));
          return;
        }
        enqueue.sendTo(symbol, { type: activation.command.force ? 'FORCE_ACTIVATE' : 'ACTIVATE' });
        enqueue({ type: 'installSymbol', params: activation });
      }),
    },
    INSTALLED: {
      actions: enqueueActions(({ event, enqueue }) => {
        const symbol = event.command.symbol;
        enqueue.sendTo(symbol, { type: 'ACTIVATED' });
        enqueue(() => event.replyTo.send({ type: 'SYMBOL_ACTIVATED', symbol, attempt: event.attempt, position: event.position }));
      }),
    },
    INSTALL_FAILED: {
      actions: enqueueActions(({ event, enqueue }) => {
        const symbol = event.command.symbol;
        enqueue({ type: 'releaseSymbol', params: { symbol } });
        enqueue.sendTo(symbol, { type: 'ACTIVATION_FAILED', error: event.error });
        enqueue(() => event.replyTo.send({ type: 'SYMBOL_ACTIVATION_FAILED', symbol, attempt: event.attempt, retryable: true, code: event.code, error: event.error }));
      }),
    },
    ABANDON_SYMBOL: {
      actions: enqueueActions(({ event, self, enqueue }) => {
        enqueue({ type: 'releaseSymbol', params: { symbol: event.symbol } });
        if (self.getSnapshot().children[event.symbol] !== undefined) enqueue.sendTo(event.symbol, { type: 'ABANDON', error: event.error });
      }),
    },
    DEACTIVATE_SYMBOL: {
      actions: enqueueActions(({ event, self, enqueue }) => {
        enqueue({ type: 'releaseSymbol', params: { symbol: event.symbol } });
        if (self.getSnapshot().children[event.symbol] !== undefined) enqueue.sendTo(event.symbol, { type: 'DEACTIVATE', reason: event.reason });
      }),
    },
    PULL_DELTAS: {
      actions: { type: 'sendDeltas', params: ({ context, event }) => ({ seq: event.seq, replyTo: event.replyTo, notBefore: context.stalledUntil }) },
    },
    TICK: { actions: { type: 'advanceTime', params: ({ event }) => ({ now: event.now }) } },
    FINISH: { actions: 'finishInput' },
    STALL: { actions: workerSetup.assign({ stalledUntil: ({ event }) => (event.type === 'STALL' ? event.until : 0) }) },
  },
});
