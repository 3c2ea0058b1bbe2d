/** One client connection of a BinanceWsServer: its socket, subscriptions, rate window, keepalive and batch state. */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Keepalive } from './keepalive.ts';
import type { WsConnection } from './binance-ws-server.ts';

export class Connection<D> implements WsConnection<D> {
  readonly ws: WebSocket;
  /** The socket under `ws` (the one its upgrade came on): corked while a batch holds its messages back. */
  readonly socket: Duplex;
  readonly peer: string;
  combined: boolean;
  readonly streams = new Set<string>();
  closing = false;
  readonly data: D;
  readonly messageTimes: number[] = [];
  keepalive: Keepalive | undefined;
  killTimer: NodeJS.Timeout | undefined;
  /** Corked by the running batch; `queuedAtCork` is what was queued (unsent) when it was corked. */
  corked = false;
  queuedAtCork = 0;
  constructor(ws: WebSocket, socket: Duplex, peer: string, combined: boolean, data: D) {
    this.ws = ws;
    this.socket = socket;
    this.peer = peer;
    this.combined = combined;
    this.data = data;
  }
}
