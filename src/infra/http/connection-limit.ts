/**
 * Open connections per client address on the HTTP server (`server.maxConnectionsPerIp`): a connection that takes its
 * address past the limit is marked when it opens, and its first request is refused (429, `Connection: close`) in the
 * shape of its path — at the connection itself there is no request to answer yet. WebSocket upgrades count (they
 * came as HTTP connections), and are refused by the stream server's own per-IP limits. A marked connection that sends
 * nothing is closed by the headers timeout like any other.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { peerKey } from '../peer-address.ts';

export class ConnectionLimit {
  readonly max: number;
  readonly #open = new Map<string, number>();
  readonly #over = new WeakMap<Socket, string>();

  /** `max` 0: no limit (nothing is counted). */
  constructor(server: Server, max: number) {
    this.max = max;
    if (max > 0) server.on('connection', this.#onConnection);
  }

  /** The peer key of the socket's client when the socket took it past the limit, else undefined. */
  overLimit(socket: Socket): string | undefined {
    return this.#over.get(socket);
  }

  /** Connections open per peer (for tests and logs). */
  openOf(peer: string): number {
    return this.#open.get(peer) ?? 0;
  }

  readonly #onConnection = (socket: Socket): void => {
    const peer = peerKey(socket.remoteAddress);
    const open = (this.#open.get(peer) ?? 0) + 1;
    this.#open.set(peer, open);
    if (open > this.max) this.#over.set(socket, peer);
    socket.once('close', () => {
      const left = (this.#open.get(peer) ?? 1) - 1;
      if (left <= 0) this.#open.delete(peer);
      else this.#open.set(peer, left);
    });
  };
}
