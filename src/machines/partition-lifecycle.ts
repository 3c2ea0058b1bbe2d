/**
 * One partition's lifecycle on an aggregator (scale-out.md §3): Unassigned → Restoring (read the checkpoint, write
 * it back with the new epoch: the fencing write) → Replaying (read the log from the checkpoint's position) → Active
 * (caught up) → Draining (a planned move: stop at a message boundary, flush, checkpoint) → Released; and Fenced when
 * a checkpoint write loses its compare-and-set or the ownership record names another node. These are per-second
 * events at most, so the lifecycle is a machine; the per-trade work never passes through it. Pure: every effect is
 * a named action the partition owner provides.
 */
import { assign, setup } from 'xstate';

export type PartitionLifecycleState = 'Unassigned' | 'Restoring' | 'Replaying' | 'Active' | 'Draining' | 'Released' | 'Fenced';

export interface PartitionLifecycleContext {
  readonly partition: number;
  /** The ownership epoch this node holds the partition at (0: none yet). */
  readonly epoch: number;
  /** The log position restored from (the checkpoint's). */
  readonly restoredAt: number;
  readonly lastError: string | null;
}

export type PartitionLifecycleEvent =
  | { readonly type: 'ASSIGN'; readonly epoch: number }
  | { readonly type: 'RESTORED'; readonly position: number }
  | { readonly type: 'RESTORE_FAILED'; readonly error: string }
  | { readonly type: 'CAUGHT_UP' }
  | { readonly type: 'REVOKE' }
  | { readonly type: 'DRAINED' }
  /** A checkpoint write lost its CAS, or the ownership record names another node: stop, emit nothing more. */
  | { readonly type: 'FENCED'; readonly error: string };

export const partitionLifecycleMachine = setup({
  types: {
    context: {} as PartitionLifecycleContext,
    input: {} as { readonly partition: number },
    events: {} as PartitionLifecycleEvent,
  },
  actions: {
    /** Effect: read the checkpoint, fence-write it with `epoch`, rebuild the state; answers RESTORED or RESTORE_FAILED. */
    restore: (_, _params: { epoch: number }) => {},
    /** Effect: schedule another restore attempt (the store was unreachable). */
    restoreLater: (_, _params: { epoch: number }) => {},
    /** Effect: read the log from the restored position on; answers CAUGHT_UP once at its head. */
    startReading: () => {},
    /** Effect: stop reading at a message boundary, flush outputs, checkpoint, write `released`; answers DRAINED. */
    drain: () => {},
    /** Effect: stop reading and drop the state (nothing more is emitted). */
    stopReading: () => {},
    takeEpoch: assign({ epoch: ({ event }) => (event.type === 'ASSIGN' ? event.epoch : 0), lastError: null }),
    recordRestore: assign({ restoredAt: ({ event }) => (event.type === 'RESTORED' ? event.position : 0) }),
    recordError: assign({ lastError: ({ event }) => (event.type === 'FENCED' || event.type === 'RESTORE_FAILED' ? event.error : null) }),
  },
}).createMachine({
  id: 'partition',
  context: ({ input }) => ({ partition: input.partition, epoch: 0, restoredAt: 0, lastError: null }),
  initial: 'Unassigned',
  states: {
    Unassigned: {
      on: { ASSIGN: { target: 'Restoring', actions: ['takeEpoch', { type: 'restore', params: ({ event }) => ({ epoch: event.epoch }) }] } },
    },
    Restoring: {
      on: {
        RESTORED: { target: 'Replaying', actions: ['recordRestore', 'startReading'] },
        RESTORE_FAILED: { actions: ['recordError', { type: 'restoreLater', params: ({ context }) => ({ epoch: context.epoch }) }] },
        FENCED: { target: 'Fenced', actions: ['recordError', 'stopReading'] },
      },
    },
    Replaying: {
      on: {
        CAUGHT_UP: { target: 'Active' },
        REVOKE: { target: 'Draining', actions: 'drain' },
        FENCED: { target: 'Fenced', actions: ['recordError', 'stopReading'] },
      },
    },
    Active: {
      on: {
        REVOKE: { target: 'Draining', actions: 'drain' },
        FENCED: { target: 'Fenced', actions: ['recordError', 'stopReading'] },
      },
    },
    Draining: {
      on: {
        DRAINED: { target: 'Released' },
        FENCED: { target: 'Fenced', actions: ['recordError', 'stopReading'] },
      },
    },
    Released: {
      on: { ASSIGN: { target: 'Restoring', actions: ['takeEpoch', { type: 'restore', params: ({ event }) => ({ epoch: event.epoch }) }] } },
    },
    Fenced: {
      on: { ASSIGN: { target: 'Restoring', actions: ['takeEpoch', { type: 'restore', params: ({ event }) => ({ epoch: event.epoch }) }] } },
    },
  },
});
