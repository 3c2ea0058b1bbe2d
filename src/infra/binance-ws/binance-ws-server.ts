/**
 * The connection side of a Binance-protocol stream server, shared by klagg's kline streams and the fake exchange's
 * market streams: each server says which routes and stream names it serves and what a subscription means; this does
 * the rest, the same way for both.
 *
 * - Upgrades (on a given node:http Server's 'upgrade'): a path that is no stream route is left to other upgrade
 *   listeners (refused 404 when there are none, or always with `ownsAllUpgrades`); refusals carry Binance's
 *   `{code,msg}` bodies from the Binance table (invalid path, shutting down, the server's own route refusal, too many
 *   streams in the URL).
 * - Per connection: the subscription set (and the stream → subscribers index), the request protocol (SUBSCRIBE,
 *   UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET/GET_PROPERTY), at most `maxStreamsPerConnection` streams, at most
 *   `maxMessagesPerSecond` incoming messages, pings and pongs included (→ close 1008 "Too many requests"), incoming
 *   messages of at most `maxPayloadBytes` (→ close 1009 by `ws`), optional server pings and an age cut (Keepalive).
 * - Per client IP (PeerLimits): at most `maxConnectionsPerIp` open connections and `maxSubscriptionsPerIp` streams over
 *   them (→ upgrade refused 429 with Binance's -1003; a SUBSCRIBE past it gets an error reply).
 * - Closing: a close frame, then the socket is cut if the peer does not answer within `closeGraceMs`; the connection's
 *   subscriptions are released at once. `close()` sends 1001 "going away" to every client and waits (at most the
 *   grace) for them to go.
 */
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { BinanceError, invalidPath, shuttingDown, tooManyStreams } from '../binance/binance-replies.ts';
import type { Logger } from '../logger.ts';
import { peerKey } from '../peer-address.ts';
import { PeerLimits, type PeerLimitOptions } from './peer-limits.ts';
import { newWsStats, type BinanceWsStats } from './ws-stats.ts';
import { Keepalive, type KeepaliveOptions } from './keepalive.ts';
import { handleStreamRequest } from './request-protocol.ts';
import type { StreamRoute } from './stream-route.ts';
import type { WsTimers } from './ws-timers.ts';
import { Connection } from './ws-connection.ts';
import { PreparedMessage } from './prepared-message.ts';

export { combinedFrame, PreparedMessage } from './prepared-message.ts';
export type { BinanceWsStats } from './ws-stats.ts';

/** One client connection as a server sees it; `data` is the server's own per-connection state. */
export interface WsConnection<D> {
  readonly ws: WebSocket;
  /** The client's address as its per-IP limits count it (an IPv4 address, an IPv6 /64). */
  readonly peer: string;
  /** Payloads wrapped as `{"stream":…,"data":…}` (the route's default; SET_PROPERTY changes it). */
  combined: boolean;
  readonly streams: ReadonlySet<string>;
  /** Being closed or gone: it gets nothing more. */
  readonly closing: boolean;
  readonly data: D;
}

export interface BinanceWsHandlers<D, R extends StreamRoute> {
  /** The route of an upgrade; undefined: not a stream route; a BinanceError: refused with it. */
  route(url: URL): R | BinanceError | undefined;
  /** Whether SUBSCRIBE / UNSUBSCRIBE may name this stream. */
  isValidStream(name: string): boolean;
  /** The SUBSCRIBE error text for a stream isValidStream refused (default: Binance's `Invalid request: invalid stream`). */
  invalidStreamMessage?(name: string): string;
  /** The server's state for a new connection (before the URL's streams are subscribed). */
  createData(route: R): D;
  /** After the stream was added to the connection (and the index). */
  onSubscribe?(connection: WsConnection<D>, stream: string): void;
  /** After the stream was removed from the connection (and the index). */
  onUnsubscribe?(connection: WsConnection<D>, stream: string): void;
  /** Once, when the connection starts closing or is gone (after its streams were released). */
  onForget?(connection: WsConnection<D>): void;
}

export interface BinanceWsServerOptions<D, R extends StreamRoute> extends PeerLimitOptions {
  readonly server: Server;
  readonly timers: WsTimers;
  readonly handlers: BinanceWsHandlers<D, R>;
  readonly maxStreamsPerConnection: number;
  readonly maxMessagesPerSecond: number;
  /** Largest incoming message; default 64 KiB. */
  readonly maxPayloadBytes?: number;
  /** Default 1000. */
  readonly closeGraceMs?: number;
  /** Server pings, pong deadline, age cut; none when absent. */
  readonly keepalive?: KeepaliveOptions;
  /** Refuse every path that is not ours (404), even when other upgrade listeners exist. */
  readonly ownsAllUpgrades?: boolean;
  readonly logger?: Logger;
}

export const DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024;
export const GOING_AWAY = 1001;
export const SHUTDOWN_REASON = 'Server is shutting down';

export class BinanceWsServer<D, R extends StreamRoute> {
  readonly stats: BinanceWsStats = newWsStats();
  readonly #o: BinanceWsServerOptions<D, R>;
  readonly #h: BinanceWsHandlers<D, R>;
  readonly #wss: WebSocketServer;
  readonly #connections = new Set<Connection<D>>();
  readonly #subscribers = new Map<string, Set<WsConnection<D>>>();
  readonly #graceMs: number;
  readonly #peers: PeerLimits;
  #closing: Promise<void> | undefined;
  /** Nesting depth of `batch` calls, and the connections corked by the running batch. */
  #batchDepth = 0;
  #corked: Connection<D>[] = [];

  constructor(options: BinanceWsServerOptions<D, R>) {
    this.#o = options;
    this.#h = options.handlers;
    this.#graceMs = options.closeGraceMs ?? 1000;
    this.#peers = new PeerLimits(options);
    this.#wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES });
    options.server.on('upgrade', this.#onUpgrade);
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** The open connections (those being closed are gone from here). */
  connections(): IterableIterator<WsConnection<D>> {
    return this.#connections.values();
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** The open connections subscribed to `stream` (live view: do not change it). */
  subscribers(stream: string): ReadonlySet<WsConnection<D>> | undefined {
    return this.#subscribers.get(stream);
  }

  /** Whether a frame sent now reaches the connection (open, not being closed). */
  isOpen(connection: WsConnection<D>): boolean {
    return !connection.closing && connection.ws.readyState === WebSocket.OPEN;
  }

  /**
   * Runs `send` with every connection's messages held back (its socket corked at the first one) and written together
   * when it returns: one socket write (system call) per connection for the whole batch instead of one per message.
   * A fan-out of n messages to m clients was n·m writes: 25 000 for 50 streams to 500 clients, ~0.5 s of one core
   * on the 2-core development machine, against ~0.05 s corked (measured with a plain `ws` server).
   * `flushed` is then called for each connection that was written to (its `ws.bufferedAmount` is current again).
   * Nested calls join the outer batch.
   */
  batch(send: () => void, flushed?: (connection: WsConnection<D>) => void): void {
    this.#batchDepth++;
    try {
      send();
    } finally {
      if (--this.#batchDepth === 0) {
        const corked = this.#corked;
        this.#corked = [];
        for (const connection of corked) {
          connection.corked = false;
          connection.socket.uncork();
        }
        if (flushed !== undefined) for (const connection of corked) flushed(connection);
      }
    }
  }

  /**
   * Sends a prepared text message; inside `batch`, it is held back until the batch ends. Nothing for a connection
   * that is not open (`isOpen`).
   *
   * The frame is written to the connection's socket directly: `ws.send` would frame the same bytes again for every
   * connection (options objects, a header, two writes); in bench/stream-latency.ts (500 clients) that made the
   * stream server's handling of a batch 2–3× slower. Safe because `ws` writes each of its own frames (replies,
   * pings, pongs, close) whole and at once — no compression (perMessageDeflate is off here) and no Blob sends — so a
   * frame written between two of its writes never splits one; it counts in `ws.bufferedAmount` like any other write.
   */
  sendPrepared(connection: WsConnection<D>, message: PreparedMessage): void {
    const c = connection as Connection<D>;
    if (!this.isOpen(c) || c.socket.destroyed) return;
    if (this.#batchDepth > 0 && !c.corked) {
      c.queuedAtCork = c.ws.bufferedAmount;
      c.corked = true;
      c.socket.cork();
      this.#corked.push(c);
    }
    c.socket.write(message.frame);
  }

  /**
   * The bytes queued for the connection that its socket has not taken (`ws.bufferedAmount`) — within a batch, those
   * queued before it: what the running batch holds back is not the client's backlog.
   */
  queuedBytes(connection: WsConnection<D>): number {
    const c = connection as Connection<D>;
    return c.corked ? c.queuedAtCork : c.ws.bufferedAmount;
  }

  /** Sends a close frame and releases the connection; a peer that does not answer is cut after the grace. */
  closeWith(connection: WsConnection<D>, code: number, reason: string): void {
    const c = connection as Connection<D>;
    if (c.closing) return;
    this.#forget(c);
    if (c.ws.readyState !== WebSocket.OPEN) return;
    c.ws.close(code, reason);
    this.#armKill(c);
  }

  /** Cuts the socket without a close frame (the client sees 1006). */
  terminate(connection: WsConnection<D>): void {
    this.#forget(connection as Connection<D>);
    connection.ws.terminate();
  }

  /** Detaches from the server, sends 1001 to every client and resolves once all are gone (within the grace). */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#o.server.off('upgrade', this.#onUpgrade);
      for (const connection of [...this.#connections]) this.closeWith(connection, GOING_AWAY, SHUTDOWN_REASON);
      // Sockets past our bookkeeping (closing after a protocol error, say) still get their frame and deadline.
      for (const ws of this.#wss.clients) {
        if (ws.readyState === WebSocket.OPEN) ws.close(GOING_AWAY, SHUTDOWN_REASON);
        setTimeout(() => ws.terminate(), this.#graceMs).unref();
      }
      await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    })();
    return this.#closing;
  }

  // ---- upgrades ----------------------------------------------------------------------------------------------------

  #onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(req.url ?? '/', 'http://binance-ws');
    const route = this.#h.route(url);
    if (route === undefined) {
      // Another upgrade listener (an inspector, say) may own this path; refuse it only when nobody else listens.
      if (this.#o.ownsAllUpgrades || this.#o.server.listenerCount('upgrade') <= 1) this.#refuse(socket, invalidPath(url.pathname));
      return;
    }
    if (this.closed) return this.#refuse(socket, shuttingDown());
    if (route instanceof BinanceError) return this.#refuse(socket, route);
    if (route.streams.length > this.#o.maxStreamsPerConnection) {
      this.stats.refusedStreamsPerConnection++;
      return this.#refuse(socket, tooManyStreams());
    }
    const peer = peerKey(req.socket.remoteAddress);
    const over = this.#peers.admit(peer, route.streams.length);
    if (over !== undefined) {
      if (over.limit === 'connections') this.stats.refusedConnectionsPerIp++;
      else this.stats.refusedSubscriptionsPerIp++;
      this.#o.logger?.info({ peer, limit: over.limit }, 'stream client refused: per-IP limit');
      return this.#refuse(socket, over.error);
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, socket, route, peer));
  };

  #refuse(socket: Duplex, error: BinanceError): void {
    this.stats.rejectedUpgrades++;
    const text = JSON.stringify(error.body);
    const status = `${error.status} ${STATUS_CODES[error.status] ?? ''}`.trim();
    socket.end(`HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
  }

  #accept(ws: WebSocket, socket: Duplex, route: R, peer: string): void {
    if (this.closed) {
      ws.terminate();
      return;
    }
    const connection = new Connection(ws, socket, peer, route.combined, this.#h.createData(route));
    this.#connections.add(connection);
    this.#peers.connected(peer);
    // `ws` closes on a message over maxPayload with a bare 1009, through this instance's close(): say why.
    const close = ws.close.bind(ws);
    const tooBig = `Message too big: over ${this.#o.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES} bytes`;
    ws.close = (code?: number, reason?: string | Buffer) => close(code, reason ?? (code === 1009 ? tooBig : undefined));
    this.stats.connectionsOpen = this.#connections.size;
    this.stats.connectionsTotal++;
    for (const stream of route.streams) this.#subscribe(connection, stream);
    ws.on('message', (data: RawData) => {
      if (!this.#overRate(connection)) this.#request(connection, rawText(data));
    });
    ws.on('ping', () => void this.#overRate(connection));
    ws.on('pong', () => {
      this.stats.pongsReceived++;
      connection.keepalive?.pong();
      this.#overRate(connection);
    });
    ws.on('error', (error: Error & { code?: string }) => {
      // `ws` answers a protocol error (a message over maxPayload, say) with its own close frame; 'close' follows.
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.stats.closedMessageTooBig++;
      this.#o.logger?.debug({ code: error.code, err: error.message }, 'stream client: protocol error; closing');
      if (!connection.closing) {
        this.#forget(connection);
        this.#armKill(connection);
      }
    });
    ws.on('close', (code: number) => {
      if (!connection.closing) {
        if (code === 1006) this.stats.clientVanished++;
        else {
          this.stats.clientCloses++;
          if (code === GOING_AWAY) this.stats.clientGoingAway++;
        }
      }
      this.#forget(connection);
      if (connection.killTimer !== undefined) clearTimeout(connection.killTimer);
    });
    const keepalive = this.#o.keepalive;
    if (keepalive !== undefined) {
      connection.keepalive = new Keepalive(ws, this.#o.timers, keepalive, {
        onPing: () => this.stats.pingsSent++,
        onPongTimeout: () => {
          this.stats.closedPongTimeout++;
          this.closeWith(connection, 1008, 'Pong timeout');
        },
        onMaxAge: () => {
          this.stats.closedMaxAge++;
          this.closeWith(connection, 1000, 'Connection max age reached');
        },
      });
    }
  }

  #armKill(connection: Connection<D>): void {
    if (connection.killTimer !== undefined) return;
    connection.killTimer = setTimeout(() => connection.ws.terminate(), this.#graceMs);
    connection.killTimer.unref();
  }

  /** Counts one incoming message; closes the connection (1008) and returns true when it is over the rate. */
  #overRate(connection: Connection<D>): boolean {
    if (connection.closing) return true;
    const now = this.#o.timers.now();
    const times = connection.messageTimes;
    times.push(now);
    while (times.length > 0 && times[0]! <= now - 1000) times.shift();
    if (times.length <= this.#o.maxMessagesPerSecond) return false;
    this.stats.closedTooManyRequests++;
    this.closeWith(connection, 1008, 'Too many requests');
    return true;
  }

  #forget(connection: Connection<D>): void {
    if (connection.closing) return;
    connection.closing = true;
    connection.keepalive?.stop();
    for (const stream of [...connection.streams]) this.#unsubscribe(connection, stream);
    this.#connections.delete(connection);
    this.#peers.disconnected(connection.peer);
    this.stats.connectionsOpen = this.#connections.size;
    this.#h.onForget?.(connection);
  }

  // ---- subscriptions and the request protocol ----------------------------------------------------------------------

  #subscribe(connection: Connection<D>, stream: string): void {
    if (connection.streams.has(stream)) return;
    connection.streams.add(stream);
    this.stats.subscriptions++;
    this.#peers.subscribed(connection.peer, 1);
    let set = this.#subscribers.get(stream);
    if (set === undefined) {
      set = new Set();
      this.#subscribers.set(stream, set);
    }
    set.add(connection);
    this.#h.onSubscribe?.(connection, stream);
  }

  #unsubscribe(connection: Connection<D>, stream: string): void {
    if (!connection.streams.delete(stream)) return;
    this.stats.subscriptions--;
    this.#peers.subscribed(connection.peer, -1);
    const set = this.#subscribers.get(stream);
    set?.delete(connection);
    if (set?.size === 0) this.#subscribers.delete(stream);
    this.#h.onUnsubscribe?.(connection, stream);
  }

  #request(connection: Connection<D>, text: string): void {
    this.stats.requests++;
    const h = this.#h;
    const limit = this.#peers.maxSubscriptions;
    const ipRoom = limit === Infinity ? undefined : { left: this.#peers.subscriptionRoom(connection.peer), limit };
    const rules = { isValidStream: (name: string) => h.isValidStream(name), invalidStreamMessage: h.invalidStreamMessage?.bind(h), maxStreams: this.#o.maxStreamsPerConnection, ipRoom };
    const outcome = handleStreamRequest(text, connection, rules);
    if (outcome.kind === 'subscribe') for (const stream of outcome.streams) this.#subscribe(connection, stream);
    if (outcome.kind === 'unsubscribe') for (const stream of outcome.streams) this.#unsubscribe(connection, stream);
    if (outcome.kind === 'error') {
      this.stats.requestErrors++;
      if (outcome.limit === 'streams_per_connection') this.stats.refusedStreamsPerConnection++;
      if (outcome.limit === 'subscriptions_per_ip') this.stats.refusedSubscriptionsPerIp++;
    }
    if (this.isOpen(connection)) connection.ws.send(JSON.stringify(outcome.reply));
  }
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}
