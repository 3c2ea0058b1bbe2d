/**
 * One exchange WebSocket connection: live (connecting → open) while its socket exists; reconnecting after a close, an
 * error, a silence or a failed connect, with a jittered backoff that grows until a connection opens again; stopped on
 * request. Leaving `live` stops the socket actor, which closes the socket. The set of streams is context, so every
 * (re)connection subscribes the current set. Frames never pass through here: the socket hands them on directly.
 */
import { assign, fromCallback, setup } from 'xstate';
import type { SocketCommand, StreamConnectionEvent } from '../domain/stream-connection-protocol.ts';

export interface StreamConnectionContext {
  readonly id: string;
  /** The streams this connection should carry (kept across reconnects). */
  readonly streams: readonly string[];
  readonly backoffMs: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly connectTimeoutMs: number;
  readonly reconnects: number;
  readonly lastCloseReason: string | null;
}

export interface StreamConnectionInput {
  readonly id: string;
  readonly streams: readonly string[];
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly connectTimeoutMs: number;
}

export const streamConnectionMachine = setup({
  types: {
    context: {} as StreamConnectionContext,
    input: {} as StreamConnectionInput,
    events: {} as StreamConnectionEvent,
  },
  actors: {
    // Provided by the actor: opens the socket, reports OPENED/CLOSED/SILENT, takes SUBSCRIBE_ALL/SUBSCRIBE/UNSUBSCRIBE.
    socket: fromCallback<SocketCommand, unknown, StreamConnectionEvent>(() => () => {}),
  },
  delays: {
    // The actor provides a jittered version; the definition itself stays deterministic.
    backoff: ({ context }) => context.backoffMs,
    connectTimeout: ({ context }) => context.connectTimeoutMs,
  },
  actions: {
    addStreams: assign({
      streams: ({ context, event }) => (event.type === 'SUBSCRIBE' ? [...new Set([...context.streams, ...event.streams])] : context.streams),
    }),
    removeStreams: assign({
      streams: ({ context, event }) => (event.type === 'UNSUBSCRIBE' ? context.streams.filter((s) => !event.streams.includes(s)) : context.streams),
    }),
    recordClose: assign({
      lastCloseReason: ({ event }) =>
        event.type === 'CLOSED' ? event.reason : event.type === 'SILENT' ? `silent for ${event.silentForMs} ms` : 'no connection within the connect timeout',
      reconnects: ({ context }) => context.reconnects + 1,
    }),
    growBackoff: assign({ backoffMs: ({ context }) => Math.min(context.maxBackoffMs, context.backoffMs * 2) }),
    resetBackoff: assign(({ context }) => ({ backoffMs: context.initialBackoffMs })),
    // Provided by the actor: tell the socket to subscribe the whole current set / a change of it.
    subscribeAll: () => {},
    forwardSubscribe: () => {},
    forwardUnsubscribe: () => {},
  },
}).createMachine({
  id: 'streamConnection',
  context: ({ input }) => ({
    id: input.id,
    streams: input.streams,
    backoffMs: input.initialBackoffMs,
    initialBackoffMs: input.initialBackoffMs,
    maxBackoffMs: input.maxBackoffMs,
    connectTimeoutMs: input.connectTimeoutMs,
    reconnects: 0,
    lastCloseReason: null,
  }),
  initial: 'live',
  states: {
    live: {
      invoke: { id: 'socket', src: 'socket' },
      initial: 'connecting',
      on: {
        CLOSED: { target: 'reconnecting', actions: 'recordClose' },
        SILENT: { target: 'reconnecting', actions: 'recordClose' },
        STOP: 'stopped',
      },
      states: {
        connecting: {
          on: {
            OPENED: 'open',
            SUBSCRIBE: { actions: 'addStreams' },
            UNSUBSCRIBE: { actions: 'removeStreams' },
          },
          after: { connectTimeout: { target: '#streamConnection.reconnecting', actions: 'recordClose' } },
        },
        open: {
          entry: ['resetBackoff', 'subscribeAll'],
          on: {
            SUBSCRIBE: { actions: ['addStreams', 'forwardSubscribe'] },
            UNSUBSCRIBE: { actions: ['removeStreams', 'forwardUnsubscribe'] },
          },
        },
      },
    },
    reconnecting: {
      on: {
        SUBSCRIBE: { actions: 'addStreams' },
        UNSUBSCRIBE: { actions: 'removeStreams' },
        STOP: 'stopped',
      },
      after: { backoff: { target: 'live', actions: 'growBackoff' } },
    },
    stopped: { type: 'final' },
  },
});
