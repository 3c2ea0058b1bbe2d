/**
 * The Clock: every `tickIntervalMs` it asks the system to advance the workers' time (`tick`, provided by the system:
 * the workers go to now minus the watermark's measured extra), which closes the periods of quiet symbols. Its delays
 * run on the actor system's clock, so a simulated clock drives it in tests.
 */
import { setup } from 'xstate';

export interface ClockInput {
  readonly tickIntervalMs: number;
}

export const clockMachine = setup({
  types: { context: {} as ClockInput, input: {} as ClockInput },
  delays: { tickInterval: ({ context }) => context.tickIntervalMs },
  actions: {
    /** Effect, provided by the system. */
    tick: () => {},
  },
}).createMachine({
  id: 'clock',
  context: ({ input }) => ({ tickIntervalMs: input.tickIntervalMs }),
  initial: 'ticking',
  states: {
    ticking: { after: { tickInterval: { target: 'ticking', reenter: true, actions: 'tick' } } },
  },
});
