/**
 * The Watchdog: every `checkIntervalMs` it looks at the health board (`fatalEntry`, provided by the system) and, on
 * the first fatal entry, tells its parent (`FATAL`, which drains and stops the service with a non-zero exit code).
 */
import { sendParent, setup } from 'xstate';

export interface WatchdogInput {
  readonly checkIntervalMs: number;
}

export const watchdogMachine = setup({
  types: { context: {} as WatchdogInput, input: {} as WatchdogInput },
  delays: { checkInterval: ({ context }) => context.checkIntervalMs },
  guards: {
    /** Provided by the system: whether an actor reported a fatal health entry. */
    anyFatal: () => false,
  },
  actions: {
    /** Provided by the system: the fatal entry as text (`actor: detail`), sent to the parent. */
    reportFatal: sendParent({ type: 'FATAL', error: 'fatal health entry' }),
  },
}).createMachine({
  id: 'watchdog',
  context: ({ input }) => ({ checkIntervalMs: input.checkIntervalMs }),
  initial: 'watching',
  states: {
    watching: {
      after: {
        checkInterval: [
          { guard: 'anyFatal', target: 'reported', actions: 'reportFatal' },
          { target: 'watching', reenter: true },
        ],
      },
    },
    reported: { type: 'final' },
  },
});
