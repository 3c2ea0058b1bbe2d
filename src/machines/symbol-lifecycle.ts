/**
 * One symbol's lifecycle, spawned inside the worker that owns the symbol:
 * Pending → Activating → Active; Activating → Failed once its attempts are used up; Active → Pending on deactivation
 * or delisting; Failed → Activating only when forced. Trades are aggregated only while Active.
 */
import { assign, setup } from 'xstate';

export type SymbolLifecycleState = 'Pending' | 'Activating' | 'Active' | 'Failed';

export interface SymbolLifecycleContext {
  readonly symbol: string;
  /** Attempts made in the current activation (the first one included). */
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly lastError: string | null;
  /** Why the symbol last left Active, if it did. */
  readonly deactivatedFor: 'deactivated' | 'delisted' | null;
}

export interface SymbolLifecycleInput {
  readonly symbol: string;
  /** 1 + the dispatcher's retries (5 by default). */
  readonly maxAttempts: number;
}

export type SymbolLifecycleEvent =
  | { readonly type: 'ACTIVATE' }
  | { readonly type: 'FORCE_ACTIVATE' }
  | { readonly type: 'ACTIVATED' }
  | { readonly type: 'ACTIVATION_FAILED'; readonly error: string }
  /** The dispatcher gave up (no answer from the worker in time, attempts used up): straight to Failed. */
  | { readonly type: 'ABANDON'; readonly error: string }
  | { readonly type: 'DEACTIVATE'; readonly reason: 'deactivated' | 'delisted' };

export const symbolLifecycleMachine = setup({
  types: {
    context: {} as SymbolLifecycleContext,
    input: {} as SymbolLifecycleInput,
    events: {} as SymbolLifecycleEvent,
  },
  guards: {
    attemptsLeft: ({ context }) => context.attempts < context.maxAttempts,
  },
  actions: {
    startAttempts: assign({ attempts: 1 }),
    countAttempt: assign({ attempts: ({ context }) => context.attempts + 1 }),
    recordError: assign({ lastError: ({ event }) => (event.type === 'ACTIVATION_FAILED' || event.type === 'ABANDON' ? event.error : null) }),
    clearError: assign({ lastError: null, deactivatedFor: null }),
    recordDeactivation: assign({ deactivatedFor: ({ event }) => (event.type === 'DEACTIVATE' ? event.reason : null) }),
  },
}).createMachine({
  id: 'symbol',
  context: ({ input }) => ({ symbol: input.symbol, attempts: 0, maxAttempts: input.maxAttempts, lastError: null, deactivatedFor: null }),
  initial: 'Pending',
  states: {
    Pending: {
      on: {
        ACTIVATE: { target: 'Activating', actions: 'startAttempts' },
        FORCE_ACTIVATE: { target: 'Activating', actions: 'startAttempts' },
      },
    },
    Activating: {
      on: {
        ACTIVATED: { target: 'Active', actions: 'clearError' },
        ACTIVATION_FAILED: [
          { guard: 'attemptsLeft', actions: ['recordError', 'countAttempt'] },
          { target: 'Failed', actions: 'recordError' },
        ],
        ABANDON: { target: 'Failed', actions: 'recordError' },
        DEACTIVATE: { target: 'Pending', actions: 'recordDeactivation' },
      },
    },
    Active: {
      on: {
        DEACTIVATE: { target: 'Pending', actions: 'recordDeactivation' },
      },
    },
    Failed: {
      on: {
        FORCE_ACTIVATE: { target: 'Activating', actions: 'startAttempts' },
        DEACTIVATE: { target: 'Pending', actions: 'recordDeactivation' },
      },
    },
  },
});
