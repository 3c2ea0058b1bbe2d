/**
 * The WebSocket side (the `ws` package, on the same HTTP server as REST).
 *
 * Routes: `/market/stream?streams=a/b` (combined), `/market/ws/<stream>[/<stream>…]` and bare `/market/ws` (raw). The
 * legacy routes `/ws…` and `/stream…` (and `/public/…`) accept connections and subscriptions but deliver no market
 * data — Binance's 2026 URL split — unless `legacySilent` is false (then they act like `/market`; `/public` never does).
 *
 * Streams: `<symbol lowercase>@aggTrade`, `<symbol lowercase>@kline_<interval>` (every Binance interval) and
 * `!miniTicker@arr` (every second of the fake's clock, the symbols that traded since the previous push). Protocol:
 * SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY with Binance's replies and error shapes.
 * Limits: streams per connection, incoming messages per second (→ close 1008), server pings with a pong deadline, a
 * maximum connection age.
 *
 * Kline streams come from the market's kline book, i.e. from every trade the exchange published — also those a fault
 * kept off the aggTrade stream (skipIds, withholdTail) — as on Binance, where the two streams are independent. They
 * tick every 250 ms of the fake's clock, at multiples of 250 ms: each tick sends the current kline of a stream when it
 * changed (or to a connection that has not had it yet), and once the exchange's time has passed a period's end, that
 * period's final (`x: true`) once, before the next period's first update. So a final goes out at the first tick at
 * or after the period's end — on a ManualScheduler at exactly the next open time (E = T + 1) when the clock is
 * aligned, never more than 250 ms after it. Periods without trades get their final too (flat at the previous close,
 * n 0, f and L −1). Before a symbol's first trade a kline stream is silent.
 *
 * Every market-data frame goes through a per-connection outbox so that `lag` can deliver frames late in order.
 */
import { toKlineEvent } from '../binance-ws/kline-event.ts';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { toAggTradeEvent, type AggTrade } from '../../domain/agg-trade.ts';
import type { Logger } from '../logger.ts';
import { isIntervalName, nextOpenTime, openTimeOf, type IntervalName } from '../../domain/interval.ts';
import type { Kline } from '../../domain/kline.ts';
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
  /** Market-data frames sent (aggTrade, kline events and miniTicker arrays). */
  framesSent: number;
  /** Kline events sent, and how many of them were finals (x: true). */
  klineFrames: number;
  klineFinals: number;
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

interface OutboxFrame {
  readonly due: number;
  readonly text: string;
}

interface Connection {
  readonly ws: WebSocket;
  /** Market-data frames waiting to be sent (lag), in order; `outboxHead` is the first unsent one. */
  outbox: OutboxFrame[];
  outboxHead: number;
  flushTimer: Timer | undefined;
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

/** One subscribed kline stream (state shared by its subscribers). */
interface KlineStream {
  readonly name: string;
  readonly symbol: string;
  readonly interval: IntervalName;
  /** Open time of the period followed (its final not sent yet); undefined before the first tick. */
  openTime: number | undefined;
  /** The last update sent for that period (the `k` object as JSON, without `x`). */
  lastSent: string | undefined;
  /** The symbol's published-trade count at the last tick (no change, no work). */
  lastCount: number;
  /** Subscribers that have not had the current kline yet. */
  readonly fresh: Set<Connection>;
}

/** A trade held back by `delay`. */
interface HeldTrade {
  readonly trade: AggTrade;
  readonly eventTime: number;
}

/** Binance's kline stream update period. */
export const KLINE_PUSH_MS = 250;
/** Finals sent per stream and tick at most (a clock far ahead catches up over the next ticks). */
const MAX_KLINES_PER_TICK = 1500;
const ALL_SYMBOLS = '*';
const KLINE_STREAM = /^([a-z0-9]+)@kline_(\w+)$/;

/** The symbol (upper case) and interval of a `<symbol lowercase>@kline_<interval>` stream name, or undefined. */
export function parseKlineStream(name: string): { symbol: string; interval: IntervalName } | undefined {
  const match = KLINE_STREAM.exec(name);
  if (match === null || !isIntervalName(match[2]!)) return undefined;
  return { symbol: match[1]!.toUpperCase(), interval: match[2] };
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
    klineFrames: 0,
    klineFinals: 0,
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
  readonly #klineStreams = new Map<string, KlineStream>();
  #klineTimer: Timer | undefined;
  /** The running lag: frames made before `until` are delivered `ms` late. */
  #lag: { readonly ms: number; readonly until: number } | undefined;
  /** Symbol (or ALL_SYMBOLS) → until when its aggTrade frames are held. */
  readonly #holds = new Map<string, number>();
  /** Per symbol, the aggTrade events held, in order. */
  readonly #held = new Map<string, HeldTrade[]>();
  readonly #holdTimers = new Set<Timer>();
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
    this.#klineTimer?.cancel();
    this.#klineTimer = undefined;
    for (const timer of this.#holdTimers) timer.cancel();
    this.#holdTimers.clear();
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

  lag(ms: number, durationMs: number): number {
    this.#lag = { ms, until: this.#options.scheduler.now() + durationMs };
    this.#options.logger?.info({ ms, durationMs }, 'fake exchange: market data lags');
    return this.#connections.size;
  }

  delay(symbol: string | undefined, ms: number): void {
    const key = symbol ?? ALL_SYMBOLS;
    const until = this.#options.scheduler.now() + ms;
    this.#holds.set(key, Math.max(this.#holds.get(key) ?? Number.NEGATIVE_INFINITY, until));
    const timer = this.#options.scheduler.setTimer(ms, () => {
      this.#holdTimers.delete(timer);
      this.#releaseHeld();
    });
    this.#holdTimers.add(timer);
    this.#options.logger?.info({ symbol, ms }, 'fake exchange: aggTrade frames held');
  }

  #isHeld(symbol: string, now: number): boolean {
    return (this.#holds.get(symbol) ?? Number.NEGATIVE_INFINITY) > now || (this.#holds.get(ALL_SYMBOLS) ?? Number.NEGATIVE_INFINITY) > now;
  }

  /** Sends, in order, what is held for symbols no longer held. */
  #releaseHeld(): void {
    if (this.#holds.size === 0) return;
    const now = this.#options.scheduler.now();
    for (const [symbol, queue] of this.#held) {
      if (this.#isHeld(symbol, now)) continue;
      this.#held.delete(symbol);
      for (const { trade, eventTime } of queue) this.#send(trade, eventTime);
    }
    for (const [key, until] of this.#holds) if (until <= now) this.#holds.delete(key);
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
    const faults = this.#options.faults;
    if (faults.takeWithheld(trade.symbol) || faults.takeSkip(trade.symbol)) return;
    if (this.#holds.size > 0) {
      this.#releaseHeld();
      if (this.#isHeld(trade.symbol, this.#options.scheduler.now())) {
        let queue = this.#held.get(trade.symbol);
        if (queue === undefined) {
          queue = [];
          this.#held.set(trade.symbol, queue);
        }
        queue.push({ trade, eventTime });
        faults.noteDelayed();
        return;
      }
    }
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
      if (!this.#receives(connection, now)) continue;
      raw ??= JSON.stringify({ ...toAggTradeEvent(trade, eventTime), nq: trade.qty });
      if (connection.combined) {
        combined ??= `{"stream":"${stream}","data":${raw}}`;
        this.#deliver(connection, combined, now);
      } else this.#deliver(connection, raw, now);
    }
  }

  /** Whether market data made now goes to this connection at all (stalled, silent and closed ones get none). */
  #receives(connection: Connection, now: number): boolean {
    return !connection.silent && connection.stalledUntil <= now && connection.ws.readyState === WebSocket.OPEN && !connection.closing;
  }

  /** Sends a market-data frame now, or queues it behind earlier ones / for the running lag. */
  #deliver(connection: Connection, text: string, now: number): void {
    const lag = this.#lag !== undefined && now < this.#lag.until ? this.#lag.ms : 0;
    const queued = connection.outbox.length - connection.outboxHead;
    if (lag === 0 && queued === 0) {
      connection.ws.send(text);
      this.stats.framesSent++;
      return;
    }
    const due = Math.max(now + lag, queued > 0 ? connection.outbox[connection.outbox.length - 1]!.due : Number.NEGATIVE_INFINITY);
    connection.outbox.push({ due, text });
    this.#options.faults.noteLagged();
    if (connection.flushTimer === undefined) this.#scheduleFlush(connection, now);
  }

  #scheduleFlush(connection: Connection, now: number): void {
    const next = connection.outbox[connection.outboxHead];
    if (next === undefined) return;
    connection.flushTimer = this.#options.scheduler.setTimer(Math.max(0, next.due - now), () => {
      connection.flushTimer = undefined;
      this.#flush(connection);
    });
  }

  #flush(connection: Connection): void {
    if (connection.closing) return;
    const now = this.#options.scheduler.now();
    const open = connection.ws.readyState === WebSocket.OPEN;
    while (connection.outboxHead < connection.outbox.length && connection.outbox[connection.outboxHead]!.due <= now) {
      const frame = connection.outbox[connection.outboxHead++]!;
      if (!open) continue;
      connection.ws.send(frame.text);
      this.stats.framesSent++;
    }
    if (connection.outboxHead === connection.outbox.length) {
      connection.outbox = [];
      connection.outboxHead = 0;
    } else if (connection.outboxHead > 1024 && connection.outboxHead * 2 > connection.outbox.length) {
      connection.outbox = connection.outbox.slice(connection.outboxHead);
      connection.outboxHead = 0;
    }
    this.#scheduleFlush(connection, now);
  }

  // ---- kline streams ---------------------------------------------------------------------------------------------

  #addKlineStream(connection: Connection, name: string): void {
    if (connection.silent) return;
    const parsed = parseKlineStream(name);
    if (parsed === undefined) return;
    let stream = this.#klineStreams.get(name);
    if (stream === undefined) {
      stream = { name, symbol: parsed.symbol, interval: parsed.interval, openTime: undefined, lastSent: undefined, lastCount: -1, fresh: new Set() };
      this.#klineStreams.set(name, stream);
    }
    stream.fresh.add(connection);
    this.#scheduleKlineTick();
  }

  /** Ticks at the next multiple of KLINE_PUSH_MS of the fake's clock, while some kline stream is subscribed. */
  #scheduleKlineTick(): void {
    if (this.#klineTimer !== undefined || this.#closed || this.#klineStreams.size === 0) return;
    const now = this.#options.scheduler.now();
    const wait = KLINE_PUSH_MS - (((now % KLINE_PUSH_MS) + KLINE_PUSH_MS) % KLINE_PUSH_MS);
    this.#klineTimer = this.#options.scheduler.setTimer(wait, () => {
      this.#klineTimer = undefined;
      if (this.#closed) return;
      this.#pushKlines();
      this.#scheduleKlineTick();
    });
  }

  #pushKlines(): void {
    const market = this.#options.market;
    market.sync();
    const now = market.now();
    for (const [name, stream] of this.#klineStreams) {
      const subscribers = this.#subscribers.get(name);
      if (subscribers === undefined || subscribers.size === 0) {
        this.#klineStreams.delete(name);
        continue;
      }
      for (const connection of stream.fresh) if (!subscribers.has(connection)) stream.fresh.delete(connection);
      this.#pushKline(stream, subscribers, now);
    }
  }

  #pushKline(stream: KlineStream, subscribers: Set<Connection>, now: number): void {
    const market = this.#options.market;
    const current = openTimeOf(stream.interval, now);
    stream.openTime ??= current;
    const count = market.trades(stream.symbol).length;
    if (stream.openTime === current && count === stream.lastCount && stream.fresh.size === 0) return;
    stream.lastCount = count;
    const klines = market.klines(stream.symbol, stream.interval, { startTime: stream.openTime, limit: MAX_KLINES_PER_TICK });
    if (klines.length === 0) {
      // Not traded yet (or delisted and done): follow the clock.
      stream.openTime = current;
      return;
    }
    for (const kline of klines) {
      if (kline.closeTime < now) {
        this.#sendKline(stream, subscribers, kline, now, true);
        stream.openTime = nextOpenTime(stream.interval, kline.openTime);
        stream.lastSent = undefined;
        stream.lastCount = -1;
        continue;
      }
      stream.openTime = kline.openTime;
      const body = JSON.stringify(toKlineEvent({ ...kline, isFinal: false }, 0).k);
      if (body !== stream.lastSent) {
        stream.lastSent = body;
        this.#sendKline(stream, subscribers, kline, now, false);
      } else if (stream.fresh.size > 0) this.#sendKline(stream, stream.fresh, kline, now, false);
      stream.fresh.clear();
    }
  }

  #sendKline(stream: KlineStream, to: Set<Connection>, kline: Kline, eventTime: number, isFinal: boolean): void {
    const now = this.#options.scheduler.now();
    let raw: string | undefined;
    let combined: string | undefined;
    for (const connection of to) {
      if (!this.#receives(connection, now)) continue;
      raw ??= JSON.stringify(toKlineEvent({ ...kline, isFinal }, eventTime));
      if (connection.combined) {
        combined ??= `{"stream":"${stream.name}","data":${raw}}`;
        this.#deliver(connection, combined, now);
      } else this.#deliver(connection, raw, now);
      this.stats.klineFrames++;
      if (isFinal) this.stats.klineFinals++;
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
      if (this.#receives(connection, now)) this.#deliver(connection, connection.combined ? combined : raw, now);
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
      outbox: [],
      outboxHead: 0,
      flushTimer: undefined,
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
    connection.flushTimer?.cancel();
    connection.pingTimer = connection.pongDeadline = connection.ageTimer = connection.flushTimer = undefined;
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
    if (stream.includes('@kline_')) this.#addKlineStream(connection, stream);
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
