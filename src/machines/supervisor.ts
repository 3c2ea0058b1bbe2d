/**
 * The root supervisor: starting → running → draining → stopped. Its children — one Worker per partition worker, the
 * ActivationDispatcher, the Gateway, the Clock (when ticks are on) and the Watchdog — are declared here and spawned on
 * entry to `starting`; the system provides their effects (`src/actors/system-children.ts`). A failure while starting
 * or running goes to draining too (flush what can be flushed) and ends in stopped with a non-zero exit code.
 */
import { assign, enqueueActions, setup } from 'xstate';
import { activationDispatcherMachine, type DispatcherInput } from './activation-dispatcher.ts';
import { clockMachine } from './clock.ts';
import { gatewayMachine, type GatewayInput } from './gateway.ts';
import { watchdogMachine } from './watchdog.ts';
import { workerMachine } from './worker.ts';

export interface SupervisorInput {
  readonly workerCount: number;
  /** Activation attempts per symbol (the lifecycle machines count them). */
  readonly maxAttempts: number;
  readonly dispatcher: DispatcherInput;
  readonly gateway: Omit<GatewayInput, 'workerCount'>;
  /** Boundary ticks that close quiet symbols; 0: no Clock (replays clock themselves from trade times). */
  readonly tickIntervalMs: number;
  readonly watchdogIntervalMs: number;
}

export interface SupervisorContext {
  /** What to spawn (configuration data, no ports). */
  readonly config: SupervisorInput;
  /** The reason of the first fatal error, if any: the process exits non-zero when set. */
  readonly fatal: string | null;
}

export type SupervisorEvent =
  | { readonly type: 'STARTED' }
  | { readonly type: 'STOP'; readonly signal: string }
  | { readonly type: 'FATAL'; readonly error: string }
  | { readonly type: 'DRAINED' };

/** Child id → the actor it runs (typed children: no casts to reach them). */
type SupervisorChildren = {
  [workerId: `worker-${number}`]: 'worker';
  dispatcher: 'dispatcher';
  gateway: 'gateway';
  clock: 'clock';
  watchdog: 'watchdog';
};

export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    input: {} as SupervisorInput,
    events: {} as SupervisorEvent,
    children: {} as SupervisorChildren,
  },
  actors: {
    worker: workerMachine,
    dispatcher: activationDispatcherMachine,
    gateway: gatewayMachine,
    clock: clockMachine,
    watchdog: watchdogMachine,
  },
  actions: {
    /** Effect, provided by the system: the orderly drain (pull, write everything); it answers DRAINED when done. */
    beginDrain: (_, _params: { readonly fatal: string | null }) => {},
    recordFatal: assign({ fatal: ({ context, event }) => context.fatal ?? (event.type === 'FATAL' ? event.error : null) }),
  },
}).createMachine({
  id: 'service',
  context: ({ input }) => ({ config: input, fatal: null }),
  initial: 'starting',
  states: {
    starting: {
      entry: enqueueActions(({ context: { config }, enqueue }) => {
        for (let workerId = 0; workerId < config.workerCount; workerId++) {
          const id = `worker-${workerId}` as const;
          enqueue.spawnChild('worker', { id, systemId: id, input: { workerId, maxAttempts: config.maxAttempts } });
        }
        enqueue.spawnChild('dispatcher', { id: 'dispatcher', systemId: 'dispatcher', input: config.dispatcher });
        enqueue.spawnChild('gateway', { id: 'gateway', systemId: 'gateway', input: { ...config.gateway, workerCount: config.workerCount } });
        if (config.tickIntervalMs > 0) enqueue.spawnChild('clock', { id: 'clock', systemId: 'clock', input: { tickIntervalMs: config.tickIntervalMs } });
        enqueue.spawnChild('watchdog', { id: 'watchdog', systemId: 'watchdog', input: { checkIntervalMs: config.watchdogIntervalMs } });
      }),
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
      entry: { type: 'beginDrain', params: ({ context }) => ({ fatal: context.fatal }) },
      on: {
        DRAINED: 'stopped',
        FATAL: { actions: 'recordFatal' },
      },
    },
    stopped: { type: 'final' },
  },
});
