/**
 * The contract between an exchange connection's machine (`src/machines/stream-connection.ts`) and the socket that
 * carries it (`src/infra/exchange-stream/exchange-socket.ts`): the events the socket reports and the commands it takes.
 */

export type StreamConnectionEvent =
  | { readonly type: 'OPENED' }
  | { readonly type: 'CLOSED'; readonly reason: string }
  | { readonly type: 'SILENT'; readonly silentForMs: number }
  | { readonly type: 'SUBSCRIBE'; readonly streams: readonly string[] }
  | { readonly type: 'UNSUBSCRIBE'; readonly streams: readonly string[] }
  | { readonly type: 'STOP' };

/** What the machine tells its socket: subscribe the whole current set (after every connect), or a change of it. */
export type SocketCommand =
  | { readonly type: 'SUBSCRIBE_ALL'; readonly streams: readonly string[] }
  | { readonly type: 'SUBSCRIBE'; readonly streams: readonly string[] }
  | { readonly type: 'UNSUBSCRIBE'; readonly streams: readonly string[] };
