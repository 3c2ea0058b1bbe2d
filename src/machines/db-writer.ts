/**
 * The DB writer's lifecycle: writing (idle ⇄ flushing), backingOff after a failed flush (exponential delay, nothing
 * dropped), draining on shutdown (flush until empty, backing off through outages) and drained.
 *
 * The machine is pure control. Buffering, coalescing and the write itself belong to the actor that runs it
 * (`src/actors/db-writer.ts`), which provides the `flush` actor and the `hasPending` / `bufferFull` guards.
 */
import { assign, fromPromise, setup } from 'xstate';

export interface DbWriterContext {
  readonly backoffMs: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly flushIntervalMs: number;
  readonly consecutiveFailures: number;
  readonly lastError: string | null;
  /** DRAIN came while a flush was running: drain once it settles (never two flushes at once). */
  readonly drainRequested: boolean;
}

export interface DbWriterInput {
  readonly flushIntervalMs: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
}

export type DbWriterEvent =
  /** Rows were added to the buffer. */
  | { readonly type: 'BUFFERED' }
  /** Shutdown: write everything, then stop. */
  | { readonly type: 'DRAIN' };

export const dbWriterMachine = setup({
  types: {
    context: {} as DbWriterContext,
    input: {} as DbWriterInput,
    events: {} as DbWriterEvent,
  },
  actors: {
    flush: fromPromise<void>(async () => {
      throw new Error('the flush actor is provided by the DB writer actor');
    }),
  },
  guards: {
    hasPending: () => false,
    bufferFull: () => false,
    drainRequested: ({ context }) => context.drainRequested,
  },
  delays: {
    flushInterval: ({ context }) => context.flushIntervalMs,
    backoff: ({ context }) => context.backoffMs,
  },
  actions: {
    recordFailure: assign({
      consecutiveFailures: ({ context }) => context.consecutiveFailures + 1,
      lastError: ({ event }) => errorText((event as { error?: unknown }).error),
    }),
    growBackoff: assign({ backoffMs: ({ context }) => Math.min(context.maxBackoffMs, context.backoffMs * 2) }),
    recordSuccess: assign(({ context }) => ({ consecutiveFailures: 0, lastError: null, backoffMs: context.initialBackoffMs })),
    requestDrain: assign({ drainRequested: true }),
  },
}).createMachine({
  id: 'dbWriter',
  context: ({ input }) => ({
    backoffMs: input.initialBackoffMs,
    initialBackoffMs: input.initialBackoffMs,
    maxBackoffMs: input.maxBackoffMs,
    flushIntervalMs: input.flushIntervalMs,
    consecutiveFailures: 0,
    lastError: null,
    drainRequested: false,
  }),
  initial: 'writing',
  states: {
    writing: {
      initial: 'idle',
      states: {
        idle: {
          on: { BUFFERED: { guard: 'bufferFull', target: 'flushing' }, DRAIN: '#dbWriter.draining' },
          after: {
            flushInterval: [{ guard: 'hasPending', target: 'flushing' }, { target: 'idle', reenter: true }],
          },
        },
        flushing: {
          on: { DRAIN: { actions: 'requestDrain' } },
          invoke: {
            src: 'flush',
            onDone: [
              { guard: 'drainRequested', target: '#dbWriter.draining', actions: 'recordSuccess' },
              { guard: 'bufferFull', target: 'flushing', reenter: true, actions: 'recordSuccess' },
              { target: 'idle', actions: 'recordSuccess' },
            ],
            onError: [
              { guard: 'drainRequested', target: '#dbWriter.draining.backingOff', actions: 'recordFailure' },
              { target: '#dbWriter.backingOff', actions: 'recordFailure' },
            ],
          },
        },
      },
    },
    backingOff: {
      on: { DRAIN: 'draining' },
      after: { backoff: { target: 'writing.flushing', actions: 'growBackoff' } },
    },
    draining: {
      initial: 'checking',
      states: {
        checking: {
          always: [{ guard: 'hasPending', target: 'flushing' }, { target: '#dbWriter.drained' }],
        },
        flushing: {
          invoke: {
            src: 'flush',
            onDone: { target: 'checking', actions: 'recordSuccess' },
            onError: { target: 'backingOff', actions: 'recordFailure' },
          },
        },
        backingOff: {
          after: { backoff: { target: 'flushing', actions: 'growBackoff' } },
        },
      },
    },
    drained: { type: 'final' },
  },
});

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error ?? 'flush failed');
}
