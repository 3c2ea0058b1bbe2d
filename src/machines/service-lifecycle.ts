/**
 * The service's own lifecycle: starting → running → draining → stopped. A failure while starting or running goes
 * to draining too (flush what can be flushed) and ends in stopped with a non-zero exit code.
 */
import { assign, setup } from 'xstate';

export interface ServiceLifecycleContext {
  /** The reason of the first fatal error, if any: the process exits non-zero when set. */
  readonly fatal: string | null;
}

export type ServiceLifecycleEvent =
  | { readonly type: 'STARTED' }
  | { readonly type: 'STOP'; readonly signal: string }
  | { readonly type: 'FATAL'; readonly error: string }
  | { readonly type: 'DRAINED' };

export const serviceLifecycleMachine = setup({
  types: {
    context: {} as ServiceLifecycleContext,
    events: {} as ServiceLifecycleEvent,
  },
  actions: {
    // Provided by the supervisor: spawn the children; begin the orderly drain (it answers DRAINED when done).
    spawnChildren: () => {},
    beginDrain: () => {},
    recordFatal: assign({ fatal: ({ context, event }) => context.fatal ?? (event.type === 'FATAL' ? event.error : null) }),
  },
}).createMachine({
  id: 'service',
  context: { fatal: null },
  initial: 'starting',
  states: {
    starting: {
      entry: 'spawnChildren',
      on: {
        STARTED: 'running',
        STOP: 'draining',
        FATAL: { target: 'draining', actions: 'recordFatal' },
      },
    },
    running: {
      on: {
        STOP: 'draining',
        FATAL: { target: 'draining', actions: 'recordFatal' },
      },
    },
    draining: {
      entry: 'beginDrain',
      on: {
        DRAINED: 'stopped',
        FATAL: { actions: 'recordFatal' },
      },
    },
    stopped: { type: 'final' },
  },
});
