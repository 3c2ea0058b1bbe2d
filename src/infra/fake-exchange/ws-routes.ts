/**
 * The WebSocket side (the `ws` package, on the same HTTP server as REST).
 *
 * Routes: `/market/stream?streams=a/b` (combined), `/market/ws/<stream>[/<stream>…]` and bare `/market/ws` (raw). The
 * legacy routes `/ws…` and `/stream…` (and `/public/…`) accept connections and subscriptions but deliver no market
 * data — Binance's 2026 URL split — unless `legacySilent` is false (then they act like `/market`; `/public` never does).
 *
 * Streams: `<symbol lowercase>@aggTrade` and `!miniTicker@arr` (MarketFeed), `<symbol lowercase>@kline_<interval>`
 * (KlineFeed). Connection handling — the request protocol (SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY,
 * GET_PROPERTY), streams per connection, incoming messages per second (→ close 1008), message size (→ close 1009),
 * server pings with a pong deadline, a maximum connection age, refusals, 1001 "going away" on close — is
 * BinanceWsServer's, shared with klagg's own stream server.
 *
 * Every market-data frame goes through a per-connection outbox (WsDelivery) so that `lag` can deliver frames late in
 * order. The other WebSocket faults land here too (WsFaultTarget).
 *
 * With a Blaster (the blast mode, ws-blast.ts) the aggTrade streams are its: the market has published everything
 * before the first connection, so nothing reaches the MarketFeed, and the kline streams send nothing (the book is
 * complete: its klines would run ahead of the blast).
 */
import type { Server } from 'node:http';
import { invalidPath, type BinanceError } from '../binance/binance-replies.ts';
import { BinanceWsServer } from '../binance-ws/binance-ws-server.ts';
import { parseStreamRoute, type StreamRoute } from '../binance-ws/stream-route.ts';
import type { Logger } from '../logger.ts';
import type { Faults, WsFaultTarget } from './faults.ts';
import type { Market } from './market.ts';
import type { Scheduler } from './scheduler.ts';
import type { BlastFrames } from './blast-frames.ts';
import { Blaster, type BlastOptions } from './ws-blast.ts';
import { newConnectionData, WsDelivery, type FakeConnectionData, type RouteFamily } from './ws-delivery.ts';
import { KlineFeed } from './ws-kline-feed.ts';
import { MarketFeed } from './ws-market-feed.ts';

export { MINI_TICKER_STREAM } from './ws-market-feed.ts';
export { KLINE_PUSH_MS } from './ws-kline-feed.ts';

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
  /** Largest incoming message; bigger closes the connection with 1009. Default 64 KiB. */
  readonly maxPayloadBytes?: number;
  /** Period of the `!miniTicker@arr` push; default 1000. */
  readonly miniTickerIntervalMs?: number;
  /** Called once, when the first `@aggTrade` stream is subscribed on a route that delivers market data. */
  readonly onFirstSubscription?: () => void;
  /** The blast mode: these frames are the aggTrade streams (see ws-blast.ts). */
  readonly blast?: { readonly frames: BlastFrames; readonly options?: BlastOptions };
}

export interface WsStats {
  connectionsOpen: number;
  connectionsTotal: number;
  /** Connections opened per route family. */
  byRoute: { market: number; legacy: number; public: number };
  /** Upgrades refused (unknown path, too many streams in the URL, shutting down). */
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
  /** Closed (1009) for an incoming message over `maxPayloadBytes`. */
  closedMessageTooBig: number;
  /** Closes a client started with a close frame, and how many of them said 1001 "going away". */
  clientCloses: number;
  clientGoingAway: number;
  /** Client sockets that ended without a close frame (1006). */
  clientVanished: number;
}

interface Route extends StreamRoute {
  readonly family: RouteFamily;
}

/** At speed 'max' the market waits while any connection has more than this queued. */
const BACKPRESSURE_BYTES = 4 << 20;
const STREAM_NAME = /^[^\s/]+$/;

export class WsRoutes implements WsFaultTarget {
  readonly #options: WsRoutesOptions;
  readonly #byRoute = { market: 0, legacy: 0, public: 0 };
  readonly #ws: BinanceWsServer<FakeConnectionData, Route>;
  readonly #delivery: WsDelivery;
  readonly #feed: MarketFeed;
  readonly #klines: KlineFeed;
  readonly #blast: Blaster | undefined;
  #firstSubscription: (() => void) | undefined;

  constructor(server: Server, options: WsRoutesOptions) {
    this.#options = options;
    this.#firstSubscription = options.onFirstSubscription;
    const { market, faults, scheduler } = options;
    this.#ws = new BinanceWsServer<FakeConnectionData, Route>({
      server,
      timers: scheduler,
      logger: options.logger,
      maxStreamsPerConnection: options.maxStreamsPerConnection,
      maxMessagesPerSecond: options.maxMessagesPerSecond,
      maxPayloadBytes: options.maxPayloadBytes,
      keepalive: { pingIntervalMs: options.pingIntervalMs, pongTimeoutMs: options.pongTimeoutMs, maxConnectionAgeMs: options.maxConnectionAgeMs },
      ownsAllUpgrades: true,
      handlers: {
        route: fakeRoute,
        isValidStream: (name) => STREAM_NAME.test(name),
        createData: (route) => {
          this.#byRoute[route.family]++;
          return newConnectionData(route.family, route.family === 'public' || (route.family === 'legacy' && options.legacySilent));
        },
        onSubscribe: (connection, stream) => {
          if (this.#firstSubscription !== undefined && !connection.data.silent && stream.endsWith('@aggTrade')) {
            const first = this.#firstSubscription;
            this.#firstSubscription = undefined;
            queueMicrotask(first);
          }
          if (this.#blast !== undefined) this.#blast.onSubscribe(connection, stream);
          else if (stream.includes('@kline_')) this.#klines.add(connection, stream);
        },
        onForget: (connection) => {
          this.#delivery.stop(connection);
          this.#blast?.forget(connection);
        },
      },
    });
    const subscribers = (stream: string) => this.#ws.subscribers(stream);
    this.#delivery = new WsDelivery(scheduler, faults);
    this.#feed = new MarketFeed({ market, faults, scheduler, delivery: this.#delivery, subscribers, miniTickerIntervalMs: options.miniTickerIntervalMs });
    this.#klines = new KlineFeed({ market, scheduler, delivery: this.#delivery, subscribers });
    market.setBackpressure(() => this.hasBackpressure());
    if (options.blast !== undefined) this.#blast = new Blaster(options.blast.frames, { connections: () => this.#ws.connections() }, options.blast.options);
  }

  /** The blast mode's state (undefined in the normal modes). */
  get blast(): Blaster | undefined {
    return this.#blast;
  }

  get stats(): WsStats {
    const ws = this.#ws.stats;
    return {
      connectionsOpen: ws.connectionsOpen,
      connectionsTotal: ws.connectionsTotal,
      byRoute: this.#byRoute,
      rejectedUpgrades: ws.rejectedUpgrades,
      framesSent: this.#delivery.framesSent,
      klineFrames: this.#klines.klineFrames,
      klineFinals: this.#klines.klineFinals,
      requests: ws.requests,
      requestErrors: ws.requestErrors,
      pingsSent: ws.pingsSent,
      pongsReceived: ws.pongsReceived,
      closedTooManyRequests: ws.closedTooManyRequests,
      closedPongTimeout: ws.closedPongTimeout,
      closedMaxAge: ws.closedMaxAge,
      closedMessageTooBig: ws.closedMessageTooBig,
      clientCloses: ws.clientCloses,
      clientGoingAway: ws.clientGoingAway,
      clientVanished: ws.clientVanished,
    };
  }

  get connectionCount(): number {
    return this.#ws.connectionCount;
  }

  /** True while some connection has a large backlog of unsent bytes. */
  hasBackpressure(): boolean {
    for (const connection of this.#ws.connections()) if (connection.ws.bufferedAmount > BACKPRESSURE_BYTES) return true;
    return false;
  }

  /** Stops the feeds, then says 1001 "going away" to every client and waits for them to go. */
  async close(): Promise<void> {
    if (!this.#ws.closed) {
      this.#blast?.close();
      this.#feed.close();
      this.#klines.close();
      this.#options.market.setBackpressure(() => false);
    }
    await this.#ws.close();
  }

  // ---- faults ----------------------------------------------------------------------------------------------------

  dropConnections(symbol?: string): number {
    const targets = [...(symbol === undefined ? this.#ws.connections() : (this.#ws.subscribers(this.#feed.streamOf(symbol)) ?? []))];
    for (const connection of targets) this.#ws.terminate(connection);
    this.#options.logger?.info({ symbol, dropped: targets.length }, 'fake exchange: dropped connections without a close frame');
    return targets.length;
  }

  stall(ms: number): number {
    const until = this.#options.scheduler.now() + ms;
    for (const connection of this.#ws.connections()) connection.data.stalledUntil = Math.max(connection.data.stalledUntil, until);
    return this.#ws.connectionCount;
  }

  duplicate(symbol: string, count: number): number {
    const trades = this.#options.market.tradeLog(symbol);
    const again = trades.slice(Math.max(0, trades.length - count));
    const now = this.#options.market.now();
    for (const trade of again) this.#feed.send(trade, Math.max(trade.tradeTime, now));
    return again.length;
  }

  lag(ms: number, durationMs: number): number {
    this.#delivery.lag(ms, durationMs);
    this.#options.logger?.info({ ms, durationMs }, 'fake exchange: market data lags');
    return this.#ws.connectionCount;
  }

  delay(symbol: string | undefined, ms: number): void {
    this.#feed.holds.delay(symbol, ms);
    this.#options.logger?.info({ symbol, ms }, 'fake exchange: aggTrade frames held');
  }
}

/** The route of an upgrade request, undefined for a path that takes no WebSocket (refused 404). */
export function fakeRoute(url: URL): Route | BinanceError | undefined {
  const route = parseStreamRoute(url, ['market', 'public']);
  if (route === 'not-ours') return undefined;
  if (route === 'malformed') return invalidPath(url.pathname);
  return { ...route, family: (route.prefix as RouteFamily | undefined) ?? 'legacy' };
}
