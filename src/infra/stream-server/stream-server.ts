/**
 * Live push: a WebSocket server speaking Binance's market-stream protocol for `<symbol>@kline_<interval>`, so existing
 * Binance stream clients can point at klagg unchanged.
 *
 * Routes (on the 'upgrade' of a given node:http Server): `/market/ws`, `/market/ws/<stream>[/<stream>…]` (raw
 * payloads), `/market/stream?streams=a/b` (combined wrapper `{"stream":…,"data":…}`), and the same under `/ws…` and
 * `/stream…`. Other paths are left to other upgrade listeners (answered 404 when there are none).
 *
 * Protocol: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY / GET_PROPERTY `combined`, with Binance's reply
 * and error shapes. A name that is not `<lower-case symbol>@kline_<interval>` is "Invalid request: invalid stream"; an
 * unknown symbol is ACKed and stays silent, as on Binance.
 *
 * Delivery, per stream: an open kline's latest state at most every `throttleMs` (updates inside the window coalesce,
 * the last state wins; the first change after a quiet window goes out at once); a final (`x: true`) at once, once per
 * revision — a corrected final (a late trade, a repair) goes out again as a new `x: true` event with the corrected
 * values — and no open update of a kline after its final. Limits per connection: `maxStreamsPerConnection` streams,
 * `maxMessagesPerSecond` incoming messages (→ close 1008 "Too many requests"), `maxBufferedBytes` unsent bytes (→ close
 * 1008 "slow consumer: buffer exceeded" and dropped; nothing more is queued for it, so memory stays bounded).
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import type { PublishedBatch } from '../../domain/messages.ts';
import type { Kline } from '../../domain/kline.ts';
import type { SymbolScales } from '../../domain/kline-engine.ts';
import { formatKlineChecked } from '../../domain/kline-format.ts';
import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import { handleStreamRequest } from '../binance-ws/request-protocol.ts';
import { klineStreamName, parseKlineStream, toKlineEvent } from '../binance-ws/kline-event.ts';

export interface BatchSource {
  onBatch(listener: (batch: PublishedBatch) => void): () => void;
}

export interface KlineStreamServerOptions {
  readonly server: Server;
  readonly source: BatchSource;
  /** Event time `E` of the payloads. */
  readonly clock: Clock;
  readonly logger: Logger;
  /** Default 1024 (Binance USDⓈ-M). */
  readonly maxStreamsPerConnection?: number;
  /** Incoming messages (requests, pings, pongs) per second per connection; more closes it with 1008. Default 10. */
  readonly maxMessagesPerSecond?: number;
  /** Minimum spacing of open-kline updates per stream. Default 250 (Binance's kline stream). */
  readonly throttleMs?: number;
  /** Unsent bytes a connection may have queued before it is dropped as a slow consumer. Default 1 MiB. */
  readonly maxBufferedBytes?: number;
  /** Symbols klagg serves (upper-case). Unknown ones are still ACKed, silently, as on Binance; only counted. */
  readonly isKnownSymbol?: (symbol: string) => boolean;
  /** A peer that does not answer a close frame within this many ms is cut. Default 1000. */
  readonly closeGraceMs?: number;
  /**
   * A symbol's scales (from its tick and step sizes): every kline is sent with its decimals at them, as Binance
   * formats it. Klines of a symbol it does not know (undefined), or all when absent, are sent as they come.
   */
  readonly scalesOf?: (symbol: string) => SymbolScales | undefined;
}

export interface KlineStreamStats {
  /** Open connections. */
  connections: number;
  connectionsTotal: number;
  /** Stream subscriptions over all open connections. */
  subscriptions: number;
  /** Subscriptions (ever) to a symbol `isKnownSymbol` does not know. */
  unknownSymbolSubscriptions: number;
  /** Kline frames sent (a frame to n connections counts n). */
  messagesSent: number;
  finalsSent: number;
  /** Corrected finals (revision ≥ 1) sent, counted per subscriber. */
  revisionsSent: number;
  slowConsumersDropped: number;
  closedTooManyRequests: number;
  requests: number;
  requestErrors: number;
  /** Upgrades refused: bad path or stream in the URL, too many streams, server closed. */
  rejectedUpgrades: number;
  /** Kline fields sent with more decimals than the symbol's scale (kept exact, not rounded; see `scalesOf`). */
  overScaleFields: number;
}

interface Route {
  readonly combined: boolean;
  readonly streams: string[];
}

interface Connection {
  readonly ws: WebSocket;
  combined: boolean;
  readonly streams: Set<string>;
  readonly messageTimes: number[];
  closing: boolean;
  killTimer: NodeJS.Timeout | undefined;
}

/** Delivery state of one subscribed stream (exists while it has subscribers). */
interface StreamState {
  readonly name: string;
  readonly subscribers: Set<Connection>;
  /** Open time of the newest final sent; no open update at or before it is sent again. */
  lastFinalOpenTime: number;
  /**
   * Revision sent per open time of the recent finals: a final goes out once per revision — a correction (a higher
   * revision of a kline already final) is sent again as a new `x: true` event; the same revision never twice.
   */
  readonly finalRevisions: Map<number, number>;
  /** The latest open state not yet sent. */
  pending: Kline | undefined;
  /** Monotonic time (performance.now) of the last update sent. */
  lastUpdateAt: number;
  timer: NodeJS.Timeout | undefined;
}

/** Finals remembered per stream for revision checks (a revision concerns one of the last few periods). */
const MAX_REMEMBERED_FINALS = 16;

export const SLOW_CONSUMER_REASON = 'slow consumer: buffer exceeded';

export class KlineStreamServer {
  readonly stats: KlineStreamStats = {
    connections: 0,
    connectionsTotal: 0,
    subscriptions: 0,
    unknownSymbolSubscriptions: 0,
    messagesSent: 0,
    finalsSent: 0,
    revisionsSent: 0,
    slowConsumersDropped: 0,
    closedTooManyRequests: 0,
    requests: 0,
    requestErrors: 0,
    rejectedUpgrades: 0,
    overScaleFields: 0,
  };
  readonly #server: Server;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #maxStreams: number;
  readonly #maxRate: number;
  readonly #throttleMs: number;
  readonly #maxBuffered: number;
  readonly #closeGraceMs: number;
  readonly #isKnownSymbol: ((symbol: string) => boolean) | undefined;
  readonly #scalesOf: ((symbol: string) => SymbolScales | undefined) | undefined;
  readonly #wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 });
  readonly #connections = new Set<Connection>();
  readonly #streams = new Map<string, StreamState>();
  readonly #unsubscribeSource: () => void;
  #closed = false;

  constructor(options: KlineStreamServerOptions) {
    this.#server = options.server;
    this.#clock = options.clock;
    this.#log = options.logger.child({ component: 'stream-server' });
    this.#maxStreams = options.maxStreamsPerConnection ?? 1024;
    this.#maxRate = options.maxMessagesPerSecond ?? 10;
    this.#throttleMs = options.throttleMs ?? 250;
    this.#maxBuffered = options.maxBufferedBytes ?? 1 << 20;
    this.#closeGraceMs = options.closeGraceMs ?? 1000;
    this.#isKnownSymbol = options.isKnownSymbol;
    this.#scalesOf = options.scalesOf;
    this.#server.on('upgrade', this.#onUpgrade);
    this.#unsubscribeSource = options.source.onBatch((batch) => this.#onBatch(batch));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribeSource();
    this.#server.off('upgrade', this.#onUpgrade);
    for (const connection of [...this.#connections]) {
      this.#forget(connection);
      connection.ws.terminate();
    }
    for (const state of this.#streams.values()) if (state.timer !== undefined) clearTimeout(state.timer);
    this.#streams.clear();
    for (const ws of this.#wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  // ---- delivery --------------------------------------------------------------------------------------------------

  #onBatch(batch: PublishedBatch): void {
    if (this.#closed || this.#streams.size === 0) return;
    if (batch.finals.length > 0) {
      const finals = [...batch.finals].sort((a, b) => a.openTime - b.openTime);
      for (const kline of finals) {
        const state = this.#streams.get(klineStreamName(kline.symbol, kline.interval));
        if (state === undefined) continue;
        const revision = kline.revision ?? 0;
        const sent = state.finalRevisions.get(kline.openTime) ?? (kline.openTime <= state.lastFinalOpenTime ? 0 : -1);
        if (revision <= sent) continue;
        state.finalRevisions.set(kline.openTime, revision);
        if (state.finalRevisions.size > MAX_REMEMBERED_FINALS) state.finalRevisions.delete(state.finalRevisions.keys().next().value!);
        if (revision > 0) this.stats.revisionsSent += state.subscribers.size;
        if (kline.openTime > state.lastFinalOpenTime) state.lastFinalOpenTime = kline.openTime;
        if (state.pending !== undefined && state.pending.openTime <= kline.openTime) state.pending = undefined;
        if (state.pending === undefined && state.timer !== undefined) {
          clearTimeout(state.timer);
          state.timer = undefined;
        }
        this.#deliver(state, kline);
        this.stats.finalsSent += state.subscribers.size;
      }
    }
    for (const kline of batch.updates) {
      const state = this.#streams.get(klineStreamName(kline.symbol, kline.interval));
      if (state === undefined || kline.openTime <= state.lastFinalOpenTime) continue;
      if (kline.isFinal) continue; // finals travel in batch.finals
      if (state.pending !== undefined && kline.openTime < state.pending.openTime) continue;
      state.pending = kline;
      this.#schedule(state);
    }
  }

  /** Sends the pending update now if the window is over, or arms the timer for when it is. */
  #schedule(state: StreamState): void {
    if (state.timer !== undefined) return;
    const wait = state.lastUpdateAt + this.#throttleMs - performance.now();
    if (wait <= 0) {
      this.#flush(state);
      return;
    }
    state.timer = setTimeout(() => {
      state.timer = undefined;
      this.#flush(state);
    }, wait);
  }

  #flush(state: StreamState): void {
    const kline = state.pending;
    state.pending = undefined;
    if (kline === undefined || this.#closed || kline.openTime <= state.lastFinalOpenTime) return;
    state.lastUpdateAt = performance.now();
    this.#deliver(state, kline);
  }

  /** The kline at its symbol's scales (unchanged when they are unknown). */
  #format(kline: Kline): Kline {
    const scales = this.#scalesOf?.(kline.symbol);
    if (scales === undefined) return kline;
    const checked = formatKlineChecked(kline, scales);
    this.stats.overScaleFields += checked.overScale.length;
    return checked.kline;
  }

  #deliver(state: StreamState, kline: Kline): void {
    if (state.subscribers.size === 0) return;
    const raw = JSON.stringify(toKlineEvent(this.#format(kline), this.#clock.now()));
    let combined: string | undefined;
    for (const connection of state.subscribers) {
      if (connection.closing || connection.ws.readyState !== WebSocket.OPEN) continue;
      if (connection.ws.bufferedAmount > this.#maxBuffered) {
        this.#dropSlow(connection);
        continue;
      }
      if (connection.combined) {
        combined ??= `{"stream":"${state.name}","data":${raw}}`;
        connection.ws.send(combined);
      } else connection.ws.send(raw);
      this.stats.messagesSent++;
      if (connection.ws.bufferedAmount > this.#maxBuffered) this.#dropSlow(connection);
    }
  }

  #dropSlow(connection: Connection): void {
    if (connection.closing) return;
    this.stats.slowConsumersDropped++;
    this.#log.warn({ bufferedAmount: connection.ws.bufferedAmount, limit: this.#maxBuffered }, 'stream server: dropping a slow consumer');
    this.#closeWith(connection, 1008, SLOW_CONSUMER_REASON);
    // Its queue is not going to drain: release the subscriptions (and their memory) now.
    this.#forget(connection);
  }

  // ---- connections -----------------------------------------------------------------------------------------------

  #onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(req.url ?? '/', 'http://klagg');
    const route = parseStreamRoute(url);
    if (route === 'not-ours') {
      // Another upgrade listener (an inspector, say) may own this path; refuse it only when nobody else listens.
      if (this.#server.listenerCount('upgrade') <= 1) this.#refuse(socket, '404 Not Found', { code: -5000, msg: `Path ${url.pathname} is invalid` });
      return;
    }
    if (this.#closed) {
      this.#refuse(socket, '503 Service Unavailable', { code: -1001, msg: 'Server is shutting down.' });
      return;
    }
    if (route === 'bad-stream') {
      this.#refuse(socket, '400 Bad Request', { code: -1100, msg: 'Invalid stream: expected <symbol>@kline_<interval>.' });
      return;
    }
    if (route.streams.length > this.#maxStreams) {
      this.#refuse(socket, '400 Bad Request', { code: -1130, msg: 'Too many streams.' });
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, route));
  };

  #refuse(socket: Duplex, status: string, body: unknown): void {
    this.stats.rejectedUpgrades++;
    const text = JSON.stringify(body);
    socket.end(`HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
  }

  #accept(ws: WebSocket, route: Route): void {
    if (this.#closed) {
      ws.terminate();
      return;
    }
    const connection: Connection = { ws, combined: route.combined, streams: new Set(), messageTimes: [], closing: false, killTimer: undefined };
    this.#connections.add(connection);
    this.stats.connections = this.#connections.size;
    this.stats.connectionsTotal++;
    for (const stream of route.streams) this.#subscribe(connection, stream);
    ws.on('message', (data: RawData) => {
      if (this.#overRate(connection)) return;
      this.#request(connection, rawText(data));
    });
    ws.on('ping', () => void this.#overRate(connection));
    ws.on('pong', () => void this.#overRate(connection));
    ws.on('error', () => {
      // A broken socket: 'close' follows.
    });
    ws.on('close', () => {
      this.#forget(connection);
      if (connection.killTimer !== undefined) clearTimeout(connection.killTimer);
    });
  }

  /** Counts one incoming message; closes the connection (1008) and returns true when it is over the rate. */
  #overRate(connection: Connection): boolean {
    if (connection.closing) return true;
    const now = performance.now();
    const times = connection.messageTimes;
    times.push(now);
    while (times.length > 0 && times[0]! <= now - 1000) times.shift();
    if (times.length <= this.#maxRate) return false;
    this.stats.closedTooManyRequests++;
    this.#closeWith(connection, 1008, 'Too many requests');
    this.#forget(connection);
    return true;
  }

  /** Sends a close frame; a peer that does not complete the handshake is cut shortly after. */
  #closeWith(connection: Connection, code: number, reason: string): void {
    if (connection.killTimer !== undefined || connection.ws.readyState !== WebSocket.OPEN) return;
    connection.ws.close(code, reason);
    connection.killTimer = setTimeout(() => connection.ws.terminate(), this.#closeGraceMs);
    connection.killTimer.unref();
  }

  #forget(connection: Connection): void {
    connection.closing = true;
    for (const stream of [...connection.streams]) this.#unsubscribe(connection, stream);
    if (this.#connections.delete(connection)) this.stats.connections = this.#connections.size;
  }

  #subscribe(connection: Connection, stream: string): void {
    if (connection.streams.has(stream)) return;
    connection.streams.add(stream);
    this.stats.subscriptions++;
    let state = this.#streams.get(stream);
    if (state === undefined) {
      state = { name: stream, subscribers: new Set(), lastFinalOpenTime: -Infinity, finalRevisions: new Map(), pending: undefined, lastUpdateAt: -Infinity, timer: undefined };
      this.#streams.set(stream, state);
      const parsed = parseKlineStream(stream);
      if (parsed !== undefined && this.#isKnownSymbol !== undefined && !this.#isKnownSymbol(parsed.symbol)) this.stats.unknownSymbolSubscriptions++;
    }
    state.subscribers.add(connection);
  }

  #unsubscribe(connection: Connection, stream: string): void {
    if (!connection.streams.delete(stream)) return;
    this.stats.subscriptions--;
    const state = this.#streams.get(stream);
    if (state === undefined) return;
    state.subscribers.delete(connection);
    if (state.subscribers.size === 0) {
      if (state.timer !== undefined) clearTimeout(state.timer);
      this.#streams.delete(stream);
    }
  }

  // ---- the control protocol --------------------------------------------------------------------------------------

  #request(connection: Connection, text: string): void {
    this.stats.requests++;
    const outcome = handleStreamRequest(text, connection, { isValidStream: (name) => parseKlineStream(name) !== undefined, maxStreams: this.#maxStreams });
    if (outcome.kind === 'subscribe') for (const stream of outcome.streams) this.#subscribe(connection, stream);
    if (outcome.kind === 'unsubscribe') for (const stream of outcome.streams) this.#unsubscribe(connection, stream);
    if (outcome.kind === 'error') this.stats.requestErrors++;
    if (!connection.closing && connection.ws.readyState === WebSocket.OPEN) connection.ws.send(JSON.stringify(outcome.reply));
  }
}


function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

/**
 * The route of an upgrade request: `/market/ws[/<stream>…]`, `/market/stream?streams=…`, or the same without
 * `/market`. 'not-ours' for any other path; 'bad-stream' when a stream in the URL is not a kline stream.
 */
export function parseStreamRoute(url: URL): Route | 'not-ours' | 'bad-stream' {
  const segments = url.pathname.split('/').filter((s) => s.length > 0);
  // Binance splits its streams over /market, /public and /private (2026); clients such as the official connector
  // open all three. klagg serves only kline streams, so every prefix reaches the same routes.
  if (segments[0] === 'market' || segments[0] === 'public' || segments[0] === 'private') segments.shift();
  const kind = segments.shift();
  let streams: string[];
  if (kind === 'stream' && segments.length === 0) {
    streams = (url.searchParams.get('streams') ?? '').split('/').filter((s) => s.length > 0);
  } else if (kind === 'ws') {
    try {
      streams = segments.map(decodeURIComponent);
    } catch {
      return 'bad-stream';
    }
  } else return 'not-ours';
  if (!streams.every((s) => parseKlineStream(s) !== undefined)) return 'bad-stream';
  return { combined: kind === 'stream', streams: [...new Set(streams)] };
}
