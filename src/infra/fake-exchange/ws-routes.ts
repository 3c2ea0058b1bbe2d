/**
 * The WebSocket side (the `ws` package, on the same HTTP server as REST).
 *
 * Routes: `/market/stream?streams=a/b` (combined), `/market/ws/<stream>[/<stream>…]` and bare `/market/ws` (raw). The
 * legacy routes `/ws…` and `/stream…` (and `/public/…`) accept connections and subscriptions but deliver no market
 * data — Binance's 2026 URL split — unless `legacySilent` is false (then they act like `/market`; `/public` never does).
 *
 * Streams: `<symbol lowercase>@aggTrade` and `!miniTicker@arr` (every second of the fake's clock, the symbols that
 * traded since the previous push). Protocol: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY
 * with Binance's replies and error shapes. Limits: streams per connection, incoming messages per second (→ close 1008),
 * server pings with a pong deadline, a maximum connection age.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { toAggTradeEvent, type AggTrade } from '../../domain/agg-trade.ts';
import type { Logger } from '../logger.ts';
import type { Faults, WsFaultTarget } from './faults.ts';
import type { Market } from './market.ts';
import type { Scheduler, Timer } from './scheduler.ts';
import { handleStreamRequest } from '../binance-ws/request-protocol.ts';

export interface WsRoutesOptions {
  readonly market: Market;
  readonly faults: Faults;
  readonly scheduler: Scheduler;
  readonly logger?: Logger;
  readonly legacySilent: boolean;
  readonly pingIntervalMs: number;
  readonly pongTimeoutMs: number;
  readonly maxConnectionAgeMs: number;
  readonly maxStreamsPerConnection: number;
  readonly maxMessagesPerSecond: number;
  /** Period of the `!miniTicker@arr` push; default 1000. */
  readonly miniTickerIntervalMs?: number;
  /** Called once, when the first `@aggTrade` stream is subscribed on a route that delivers market data. */
  readonly onFirstSubscription?: () => void;
}

export interface WsStats {
  connectionsOpen: number;
  connectionsTotal: number;
  /** Connections opened per route family. */
  byRoute: { market: number; legacy: number; public: number };
  /** Upgrades refused (unknown path, too many streams in the URL). */
  rejectedUpgrades: number;
  /** Market-data frames sent (aggTrade events and miniTicker arrays). */
  framesSent: number;
  /** Control requests received, and those answered with an error. */
  requests: number;
  requestErrors: number;
  pingsSent: number;
  pongsReceived: number;
  closedTooManyRequests: number;
  closedPongTimeout: number;
  closedMaxAge: number;
}

export const MINI_TICKER_STREAM = '!miniTicker@arr';

type RouteFamily = 'market' | 'legacy' | 'public';

interface Route {
  readonly family: RouteFamily;
  readonly combined: boolean;
  readonly streams: string[];
}

interface Connection {
  readonly ws: WebSocket;
  readonly family: RouteFamily;
  /** Gets no market data (legacy / public route). */
  readonly silent: boolean;
  combined: boolean;
  readonly streams: Set<string>;
  readonly messageTimes: number[];
  stalledUntil: number;
  pingTimer: Timer | undefined;
  pongDeadline: Timer | undefined;
  ageTimer: Timer | undefined;
  killTimer: NodeJS.Timeout | undefined;
  closing: boolean;
}

/** Waiting this long after a close frame, a socket that did not answer is destroyed. */
const CLOSE_GRACE_MS = 1000;
/** At speed 'max' the market waits while any connection has more than this queued. */
const BACKPRESSURE_BYTES = 4 << 20;
const STREAM_NAME = /^[^\s/]+$/;

export class WsRoutes implements WsFaultTarget {
  readonly stats: WsStats = {
    connectionsOpen: 0,
    connectionsTotal: 0,
    byRoute: { market: 0, legacy: 0, public: 0 },
    rejectedUpgrades: 0,
    framesSent: 0,
    requests: 0,
    requestErrors: 0,
    pingsSent: 0,
    pongsReceived: 0,
    closedTooManyRequests: 0,
    closedPongTimeout: 0,
    closedMaxAge: 0,
  };
  readonly #options: WsRoutesOptions;
  readonly #server: Server;
  readonly #wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  readonly #connections = new Set<Connection>();
  readonly #subscribers = new Map<string, Set<Connection>>();
  readonly #streamNames = new Map<string, string>();
  readonly #tradedSinceTick = new Set<string>();
  readonly #unsubscribeMarket: () => void;
  #tickTimer: Timer | undefined;
  #closed = false;
  #firstSubscription: (() => void) | undefined;

  constructor(server: Server, options: WsRoutesOptions) {
    this.#server = server;
    this.#options = options;
    this.#firstSubscription = options.onFirstSubscription;
    server.on('upgrade', this.#onUpgrade);
    this.#unsubscribeMarket = options.market.onTrade((trade, eventTime) => this.#onTrade(trade, eventTime));
    options.market.setBackpressure(() => this.hasBackpressure());
    this.#scheduleTick();
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** True while some connection has a large backlog of unsent bytes. */
  hasBackpressure(): boolean {
    for (const connection of this.#connections) if (connection.ws.bufferedAmount > BACKPRESSURE_BYTES) return true;
    return false;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#tickTimer?.cancel();
    this.#unsubscribeMarket();
    this.#options.market.setBackpressure(() => false);
    this.#server.off('upgrade', this.#onUpgrade);
    for (const connection of [...this.#connections]) {
      this.#forget(connection);
      connection.ws.terminate();
    }
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  // ---- faults ----------------------------------------------------------------------------------------------------

  dropConnections(symbol?: string): number {
    const targets = symbol === undefined ? [...this.#connections] : [...(this.#subscribers.get(this.#streamOf(symbol)) ?? [])];
    for (const connection of targets) {
      this.#forget(connection);
      connection.ws.terminate();
    }
    this.#options.logger?.info({ symbol, dropped: targets.length }, 'fake exchange: dropped connections without a close frame');
    return targets.length;
  }

  stall(ms: number): number {
    const until = this.#options.scheduler.now() + ms;
    for (const connection of this.#connections) connection.stalledUntil = Math.max(connection.stalledUntil, until);
    return this.#connections.size;
  }

  duplicate(symbol: string, count: number): number {
    const trades = this.#options.market.trades(symbol);
    const again = trades.slice(Math.max(0, trades.length - count));
    const now = this.#options.market.now();
    for (const trade of again) this.#send(trade, Math.max(trade.tradeTime, now));
    return again.length;
  }

  // ---- market data -----------------------------------------------------------------------------------------------

  #streamOf(symbol: string): string {
    let name = this.#streamNames.get(symbol);
    if (name === undefined) {
      name = `${symbol.toLowerCase()}@aggTrade`;
      this.#streamNames.set(symbol, name);
    }
    return name;
  }

  #onTrade(trade: AggTrade, eventTime: number): void {
    this.#tradedSinceTick.add(trade.symbol);
    if (this.#options.faults.takeSkip(trade.symbol)) return;
    this.#send(trade, eventTime);
  }

  #send(trade: AggTrade, eventTime: number): void {
    const stream = this.#streamOf(trade.symbol);
    const subscribers = this.#subscribers.get(stream);
    if (subscribers === undefined || subscribers.size === 0) return;
    let raw: string | undefined;
    let combined: string | undefined;
    const now = this.#options.scheduler.now();
    for (const connection of subscribers) {
      if (connection.silent || connection.stalledUntil > now || connection.ws.readyState !== WebSocket.OPEN) continue;
      raw ??= JSON.stringify({ ...toAggTradeEvent(trade, eventTime), nq: trade.qty });
      if (connection.combined) {
        combined ??= `{"stream":"${stream}","data":${raw}}`;
        connection.ws.send(combined);
      } else connection.ws.send(raw);
      this.stats.framesSent++;
    }
  }

  #scheduleTick(): void {
    this.#tickTimer = this.#options.scheduler.setTimer(this.#options.miniTickerIntervalMs ?? 1000, () => {
      this.#tickTimer = undefined;
      if (this.#closed) return;
      this.#pushMiniTickers();
      this.#scheduleTick();
    });
  }

  #pushMiniTickers(): void {
    const traded = [...this.#tradedSinceTick];
    this.#tradedSinceTick.clear();
    const subscribers = this.#subscribers.get(MINI_TICKER_STREAM);
    if (traded.length === 0 || subscribers === undefined || subscribers.size === 0) return;
    const market = this.#options.market;
    const eventTime = market.now();
    const items = traded.flatMap((symbol) => {
      const s = market.ticker(symbol);
      return s === undefined ? [] : [{ e: '24hrMiniTicker', E: eventTime, s: symbol, c: s.last, o: s.open, h: s.high, l: s.low, v: s.volume, q: s.quoteVolume }];
    });
    const raw = JSON.stringify(items);
    const combined = `{"stream":"${MINI_TICKER_STREAM}","data":${raw}}`;
    const now = this.#options.scheduler.now();
    for (const connection of subscribers) {
      if (connection.silent || connection.stalledUntil > now || connection.ws.readyState !== WebSocket.OPEN) continue;
      connection.ws.send(connection.combined ? combined : raw);
      this.stats.framesSent++;
    }
  }

  // ---- connections -----------------------------------------------------------------------------------------------

  #onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const route = parseRoute(url);
    if (route === undefined || route.streams.length > this.#options.maxStreamsPerConnection || this.#closed) {
      this.stats.rejectedUpgrades++;
      const status = route === undefined ? '404 Not Found' : '400 Bad Request';
      const body = JSON.stringify(route === undefined ? { code: -5000, msg: `Path ${url.pathname} is invalid` } : { code: -1130, msg: 'Too many streams.' });
      socket.end(`HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, route));
  };

  #accept(ws: WebSocket, route: Route): void {
    if (this.#closed) {
      ws.terminate();
      return;
    }
    const o = this.#options;
    const connection: Connection = {
      ws,
      family: route.family,
      silent: route.family === 'public' || (route.family === 'legacy' && o.legacySilent),
      combined: route.combined,
      streams: new Set(),
      messageTimes: [],
      stalledUntil: 0,
      pingTimer: undefined,
      pongDeadline: undefined,
      ageTimer: undefined,
      killTimer: undefined,
      closing: false,
    };
    this.#connections.add(connection);
    this.stats.connectionsOpen = this.#connections.size;
    this.stats.connectionsTotal++;
    this.stats.byRoute[route.family]++;
    for (const stream of route.streams) this.#subscribe(connection, stream);

    ws.on('message', (data: RawData) => {
      if (this.#overRate(connection)) return;
      this.#request(connection, rawText(data));
    });
    ws.on('ping', () => {
      this.#overRate(connection);
    });
    ws.on('pong', () => {
      this.stats.pongsReceived++;
      connection.pongDeadline?.cancel();
      connection.pongDeadline = undefined;
      this.#overRate(connection);
    });
    ws.on('error', () => {
      // A broken socket: 'close' follows.
    });
    ws.on('close', () => {
      this.#forget(connection);
    });
    this.#schedulePing(connection);
    connection.ageTimer = o.scheduler.setTimer(o.maxConnectionAgeMs, () => {
      connection.ageTimer = undefined;
      this.stats.closedMaxAge++;
      this.#closeWith(connection, 1000, 'Connection max age reached');
    });
  }

  #schedulePing(connection: Connection): void {
    const o = this.#options;
    connection.pingTimer = o.scheduler.setTimer(o.pingIntervalMs, () => {
      connection.pingTimer = undefined;
      if (connection.closing || connection.ws.readyState !== WebSocket.OPEN) return;
      connection.ws.ping();
      this.stats.pingsSent++;
      connection.pongDeadline ??= o.scheduler.setTimer(o.pongTimeoutMs, () => {
        connection.pongDeadline = undefined;
        this.stats.closedPongTimeout++;
        this.#closeWith(connection, 1008, 'Pong timeout');
      });
      this.#schedulePing(connection);
    });
  }

  /** Counts one incoming message; closes the connection (1008) and returns true when it exceeds the rate. */
  #overRate(connection: Connection): boolean {
    if (connection.closing) return true;
    const now = this.#options.scheduler.now();
    const times = connection.messageTimes;
    times.push(now);
    while (times.length > 0 && times[0]! <= now - 1000) times.shift();
    if (times.length <= this.#options.maxMessagesPerSecond) return false;
    this.stats.closedTooManyRequests++;
    this.#closeWith(connection, 1008, 'Too many requests');
    return true;
  }

  /** Sends a close frame; a peer that does not complete the handshake is cut shortly after. */
  #closeWith(connection: Connection, code: number, reason: string): void {
    if (connection.closing) return;
    this.#stopTimers(connection);
    connection.closing = true;
    connection.ws.close(code, reason);
    connection.killTimer = setTimeout(() => connection.ws.terminate(), CLOSE_GRACE_MS);
    connection.killTimer.unref();
  }

  #stopTimers(connection: Connection): void {
    connection.pingTimer?.cancel();
    connection.pongDeadline?.cancel();
    connection.ageTimer?.cancel();
    connection.pingTimer = connection.pongDeadline = connection.ageTimer = undefined;
  }

  #forget(connection: Connection): void {
    this.#stopTimers(connection);
    connection.closing = true;
    if (connection.killTimer !== undefined) clearTimeout(connection.killTimer);
    connection.killTimer = undefined;
    for (const stream of connection.streams) this.#subscribers.get(stream)?.delete(connection);
    this.#connections.delete(connection);
    this.stats.connectionsOpen = this.#connections.size;
  }

  #subscribe(connection: Connection, stream: string): void {
    if (connection.streams.has(stream)) return;
    if (this.#firstSubscription !== undefined && !connection.silent && stream.endsWith('@aggTrade')) {
      const first = this.#firstSubscription;
      this.#firstSubscription = undefined;
      queueMicrotask(first);
    }
    connection.streams.add(stream);
    let set = this.#subscribers.get(stream);
    if (set === undefined) {
      set = new Set();
      this.#subscribers.set(stream, set);
    }
    set.add(connection);
  }

  #unsubscribe(connection: Connection, stream: string): void {
    if (!connection.streams.delete(stream)) return;
    const set = this.#subscribers.get(stream);
    set?.delete(connection);
    if (set !== undefined && set.size === 0) this.#subscribers.delete(stream);
  }

  // ---- the control protocol --------------------------------------------------------------------------------------

  #request(connection: Connection, text: string): void {
    this.stats.requests++;
    const outcome = handleStreamRequest(text, connection, { isValidStream: (name) => STREAM_NAME.test(name), maxStreams: this.#options.maxStreamsPerConnection });
    if (outcome.kind === 'subscribe') for (const stream of outcome.streams) this.#subscribe(connection, stream);
    if (outcome.kind === 'unsubscribe') for (const stream of outcome.streams) this.#unsubscribe(connection, stream);
    if (outcome.kind === 'error') this.stats.requestErrors++;
    if (connection.ws.readyState === WebSocket.OPEN) connection.ws.send(JSON.stringify(outcome.reply));
  }
}


function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

/** The route of an upgrade request, or undefined for a path that takes no WebSocket. */
export function parseRoute(url: URL): Route | undefined {
  const segments = url.pathname.split('/').filter((s) => s.length > 0);
  let family: RouteFamily = 'legacy';
  if (segments[0] === 'market' || segments[0] === 'public') {
    family = segments[0];
    segments.shift();
  }
  const kind = segments.shift();
  if (kind === 'stream') {
    if (segments.length > 0) return undefined;
    const streams = (url.searchParams.get('streams') ?? '').split('/').filter((s) => s.length > 0);
    return { family, combined: true, streams: [...new Set(streams)] };
  }
  if (kind === 'ws') {
    try {
      return { family, combined: false, streams: [...new Set(segments.map(decodeURIComponent))] };
    } catch {
      return undefined;
    }
  }
  return undefined;
}
