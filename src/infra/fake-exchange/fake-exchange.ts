/**
 * A local Binance USDⓈ-M futures exchange for tests, benchmarks and the demo: REST and WebSocket on one HTTP server
 * bound to loopback, serving a recorded or generated market with Binance's routes, payloads, limits and errors, plus
 * fault injection (in-process via `faults`, or `POST /_fake/faults` from another process).
 */
import { stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import { FaultError, Faults, type FaultEffects, type FaultSpec, type FaultType } from './faults.ts';
import { Market, type MarketCounters, type MarketSource } from './market.ts';
import { RateLimiter } from './rate-limiter.ts';
import { serverError } from '../binance/binance-replies.ts';
import { ADMIN_PREFIX, RestRoutes, type RestStats } from './rest-routes.ts';
import { toScheduler, type Scheduler } from './scheduler.ts';
import { WsRoutes, type WsStats } from './ws-routes.ts';
import { publishAllAsFrames, type BlastFrames } from './blast-frames.ts';
import type { Blaster, BlastOptions, BlastStats } from './ws-blast.ts';
import { KlaggError } from '../../domain/errors.ts';

export type { MarketSource, RecordingSource, GeneratedSource, ListingSpec, DelistingSpec, SymbolInfo, SymbolStatus } from './market.ts';
export type { FaultSpec, FaultType } from './faults.ts';
export { Market } from './market.ts';
export { Faults } from './faults.ts';
export { ManualScheduler, type Scheduler } from './scheduler.ts';
export type { BlastEvent, BlastStart, BlastEnd, BlastOptions, BlastStats } from './ws-blast.ts';

export interface FakeExchangeOptions {
  readonly source: MarketSource;
  /** Default 0: a free port. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** IP weight per minute; default 2400. */
  readonly weightLimit?: number;
  /** Ban length after an ignored 429; default 120 000 (2 min). */
  readonly banMs?: number;
  /** Server ping period; default 180 000. */
  readonly pingIntervalMs?: number;
  /** Close a connection whose ping is not answered within this; default 600 000. */
  readonly pongTimeoutMs?: number;
  /** Connections are cut at this age; default 24 h. */
  readonly maxConnectionAgeMs?: number;
  /** Default 1024. */
  readonly maxStreamsPerConnection?: number;
  /** Incoming messages (requests, pings, pongs) per second per connection before a 1008 close; default 10. */
  readonly maxMessagesPerSecond?: number;
  /** Legacy `/ws` and `/stream` routes deliver no market data; default true. */
  readonly legacySilent?: boolean;
  /** `/fapi/v1/aggTrades` keeps only this much history (exchange time); default unlimited. */
  readonly aggTradesHistoryMs?: number;
  /**
   * Default true: the market publishes on its own from the start. False: nothing is published until
   * `market.start()` or `market.publishNext/publishDue/publishAll`.
   */
  readonly autoPublish?: boolean;
  /**
   * Default false. True: the market starts publishing on its own only when a first `@aggTrade` stream is subscribed
   * on a `/market` route (so a replay at speed 'max' waits for its consumer).
   */
  readonly startOnSubscribe?: boolean;
  /**
   * The blast mode (a recording only; see ws-blast.ts): the whole recording is published at startup (its speed,
   * `autoPublish` and `startOnSubscribe` do not matter) and made into WebSocket frames once; when the connections not
   * blasted yet subscribe every recorded symbol's `@aggTrade` stream, each gets its symbols' frames as fast as TCP
   * takes them. REST aggTrades and klines show what the stream has sent. Kline streams send nothing, and the faults
   * on published trades (skipIds, withholdTail, delay, lag, stall) do not apply to the blast.
   */
  readonly blast?: boolean | BlastOptions;
  /** Time; a Scheduler (e.g. ManualScheduler) also runs the fake's timers, a plain Clock gets real timers. */
  readonly clock?: Clock;
  readonly logger?: Logger;
}

export interface FakeExchangeStats {
  readonly market: MarketCounters & { readonly symbols: number; readonly done: boolean };
  readonly rest: RestStats & { readonly bans: number };
  readonly ws: WsStats;
  readonly faults: { readonly injected: Record<FaultType, number>; readonly effects: FaultEffects };
  /** The blast mode's rounds and what they wrote (absent in the normal modes). */
  readonly blast?: BlastStats;
}

const MAX_ADMIN_BODY = 1 << 20;

export class FakeExchange {
  /** http://127.0.0.1:port */
  readonly restUrl: string;
  /** ws://127.0.0.1:port */
  readonly wsUrl: string;
  readonly port: number;
  readonly market: Market;
  readonly faults: Faults;
  readonly limiter: RateLimiter;
  readonly scheduler: Scheduler;
  readonly #app: FastifyInstance;
  readonly #rest: RestRoutes;
  readonly #ws: WsRoutes;
  readonly #logger: Logger | undefined;
  #closing: Promise<void> | undefined;

  private constructor(init: { app: FastifyInstance; rest: RestRoutes; ws: WsRoutes; market: Market; faults: Faults; limiter: RateLimiter; scheduler: Scheduler; host: string; logger: Logger | undefined }) {
    this.#app = init.app;
    this.#rest = init.rest;
    this.#ws = init.ws;
    this.market = init.market;
    this.faults = init.faults;
    this.limiter = init.limiter;
    this.scheduler = init.scheduler;
    this.#logger = init.logger;
    this.port = (init.app.server.address() as AddressInfo).port;
    const host = init.host.includes(':') ? `[${init.host}]` : init.host;
    this.restUrl = `http://${host}:${this.port}`;
    this.wsUrl = `ws://${host}:${this.port}`;
  }

  static async start(options: FakeExchangeOptions): Promise<FakeExchange> {
    const scheduler = toScheduler(options.clock);
    const logger = options.logger?.child({ component: 'fake-exchange' });
    let blastFrames: BlastFrames | undefined;
    let market: Market;
    if (options.blast) {
      if (options.source.kind !== 'recording') throw new RangeError('the blast mode serves a recording (source kind "recording")');
      market = await Market.create({ ...options.source, speed: 'max' }, { scheduler, logger });
      // The frames take about as many bytes as the recording's lines (sized up front: no regrowing a big buffer).
      blastFrames = publishAllAsFrames(market, Math.ceil((await stat(options.source.path)).size * 1.1));
      logger?.info({ trades: blastFrames.count, bytes: blastFrames.bytes.length, symbols: blastFrames.symbols.length }, 'fake exchange: blast frames built');
    } else market = await Market.create(options.source, { scheduler, logger });
    const faults = new Faults();
    const limiter = new RateLimiter({ limit: options.weightLimit ?? 2400, banMs: options.banMs ?? 120_000, clock: scheduler });
    const app = Fastify({
      keepAliveTimeout: 5_000,
      // close() cuts every connection (a test's exchange stops at once; nothing waits on a client).
      forceCloseConnections: true,
      bodyLimit: MAX_ADMIN_BODY,
      routerOptions: { querystringParser: (text) => new URLSearchParams(text) as unknown as Record<string, unknown> },
    }) as unknown as FastifyInstance;
    let exchange: FakeExchange | undefined;
    const rest = new RestRoutes({ market, limiter, faults, scheduler, aggTradesHistoryMs: options.aggTradesHistoryMs, logger });
    rest.register(app);
    registerAdmin(app, () => exchange, logger);
    const ws = new WsRoutes(app.server, {
      market,
      faults,
      scheduler,
      logger,
      legacySilent: options.legacySilent ?? true,
      pingIntervalMs: options.pingIntervalMs ?? 180_000,
      pongTimeoutMs: options.pongTimeoutMs ?? 600_000,
      maxConnectionAgeMs: options.maxConnectionAgeMs ?? 86_400_000,
      maxStreamsPerConnection: options.maxStreamsPerConnection ?? 1024,
      maxMessagesPerSecond: options.maxMessagesPerSecond ?? 10,
      onFirstSubscription: options.startOnSubscribe && options.autoPublish !== false && blastFrames === undefined ? () => market.start() : undefined,
      blast: blastFrames === undefined ? undefined : { frames: blastFrames, options: typeof options.blast === 'object' ? options.blast : {} },
    });
    const blaster = ws.blast;
    if (blaster !== undefined) market.setShown((symbol) => blaster.shownCount(symbol));
    faults.attach(ws);
    faults.attachMarket(market);
    const host = options.host ?? '127.0.0.1';
    try {
      await app.listen({ port: options.port ?? 0, host });
    } catch (error) {
      await ws.close();
      rest.close();
      throw error;
    }
    exchange = new FakeExchange({ app, rest, ws, market, faults, limiter, scheduler, host, logger });
    if (options.autoPublish !== false && !options.startOnSubscribe) market.start();
    logger?.info({ restUrl: exchange.restUrl, wsUrl: exchange.wsUrl, source: options.source.kind, symbols: market.symbols().length }, 'fake exchange listening');
    return exchange;
  }

  /** The blast mode's sender (undefined in the normal modes). */
  get blast(): Blaster | undefined {
    return this.#ws.blast;
  }

  stats(): FakeExchangeStats {
    const blast = this.#ws.blast;
    return {
      market: { ...this.market.counters, symbols: this.market.symbols().length, done: this.market.isDone },
      rest: { ...this.#rest.stats, byStatus: { ...this.#rest.stats.byStatus }, byPath: { ...this.#rest.stats.byPath }, bans: this.limiter.bans },
      ws: { ...this.#ws.stats, byRoute: { ...this.#ws.stats.byRoute } },
      faults: { injected: { ...this.faults.injected }, effects: { ...this.faults.effects } },
      ...(blast === undefined ? {} : { blast: { ...blast.stats } }),
    };
  }

  /** Stops publishing, cuts every connection and closes the server; nothing is left running. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.market.stop();
      this.#rest.close();
      await this.#ws.close();
      await this.#app.close();
      this.#logger?.info('fake exchange closed');
    })();
    return this.#closing;
  }
}

/**
 * The fake's admin routes (not Binance's): stats, pending faults, fault injection from another process, rate-limit
 * reset. Bodies are read as text and parsed here, so a body that is not JSON gets the fake's own answer.
 */
function registerAdmin(app: FastifyInstance, exchange: () => FakeExchange | undefined, logger: Logger | undefined): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
  app.setErrorHandler((error, request, reply) => {
    const status = (error as { statusCode?: number }).statusCode;
    if (request.url.startsWith(ADMIN_PREFIX) && status !== undefined && status < 500) {
      const message = (error as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? `the body is larger than ${MAX_ADMIN_BODY} bytes` : (error as Error).message;
      return reply.code(400).type('application/json').send({ ok: false, error: message });
    }
    logger?.error({ err: error, url: request.url.slice(0, 500) }, 'fake exchange: request failed');
    return reply.code(500).type('application/json;charset=UTF-8').send(JSON.stringify(serverError(500).body));
  });
  const running = (): FakeExchange => {
    const fx = exchange();
    if (fx === undefined) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: 'the fake exchange is not started yet' });
    return fx;
  };
  app.get(`${ADMIN_PREFIX}stats`, async (_request, reply) => reply.type('application/json').send(running().stats()));
  app.get(`${ADMIN_PREFIX}faults`, async (_request, reply) => {
    const { faults } = running();
    return reply.type('application/json').send({ injected: faults.injected, effects: faults.effects, pending: faults.pending() });
  });
  app.post(`${ADMIN_PREFIX}rate-limits/reset`, async (_request, reply) => {
    running().limiter.reset();
    return reply.type('application/json').send({ ok: true });
  });
  app.post(`${ADMIN_PREFIX}faults`, async (request, reply) => {
    const { faults } = running();
    let parsed: unknown;
    try {
      parsed = JSON.parse(typeof request.body === 'string' ? request.body : '');
    } catch {
      return reply.code(400).type('application/json').send({ ok: false, error: 'the body must be JSON: a fault object or an array of them' });
    }
    const specs = (Array.isArray(parsed) ? parsed : [parsed]) as FaultSpec[];
    try {
      const results = specs.map((spec) => faults.inject(spec));
      logger?.info({ faults: specs }, 'fake exchange: faults injected over the admin route');
      return reply.type('application/json').send({ ok: true, results });
    } catch (error) {
      if (error instanceof FaultError) return reply.code(400).type('application/json').send({ ok: false, error: error.message });
      throw error;
    }
  });
}
