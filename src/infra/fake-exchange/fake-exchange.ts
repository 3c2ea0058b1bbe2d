/**
 * A local Binance USDⓈ-M futures exchange for tests, benchmarks and the demo: REST and WebSocket on one HTTP server
 * bound to loopback, serving a recorded or generated market with Binance's routes, payloads, limits and errors, plus
 * fault injection (in-process via `faults`, or `POST /_fake/faults` from another process).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import { FaultError, Faults, type FaultEffects, type FaultSpec, type FaultType } from './faults.ts';
import { Market, type MarketCounters, type MarketSource } from './market.ts';
import { RateLimiter } from './rate-limiter.ts';
import { RestRoutes, type RestStats } from './rest-routes.ts';
import { toScheduler, type Scheduler } from './scheduler.ts';
import { WsRoutes, type WsStats } from './ws-routes.ts';

export type { MarketSource, RecordingSource, GeneratedSource, ListingSpec, DelistingSpec, SymbolInfo, SymbolStatus } from './market.ts';
export type { FaultSpec, FaultType } from './faults.ts';
export { Market } from './market.ts';
export { Faults } from './faults.ts';
export { ManualScheduler, type Scheduler } from './scheduler.ts';

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
  /** Time; a Scheduler (e.g. ManualScheduler) also runs the fake's timers, a plain Clock gets real timers. */
  readonly clock?: Clock;
  readonly logger?: Logger;
}

export interface FakeExchangeStats {
  readonly market: MarketCounters & { readonly symbols: number; readonly done: boolean };
  readonly rest: RestStats & { readonly bans: number };
  readonly ws: WsStats;
  readonly faults: { readonly injected: Record<FaultType, number>; readonly effects: FaultEffects };
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
  readonly #server: Server;
  readonly #rest: RestRoutes;
  readonly #ws: WsRoutes;
  readonly #logger: Logger | undefined;
  #closing: Promise<void> | undefined;

  private constructor(init: { server: Server; rest: RestRoutes; ws: WsRoutes; market: Market; faults: Faults; limiter: RateLimiter; scheduler: Scheduler; host: string; logger: Logger | undefined }) {
    this.#server = init.server;
    this.#rest = init.rest;
    this.#ws = init.ws;
    this.market = init.market;
    this.faults = init.faults;
    this.limiter = init.limiter;
    this.scheduler = init.scheduler;
    this.#logger = init.logger;
    this.port = (init.server.address() as AddressInfo).port;
    const host = init.host.includes(':') ? `[${init.host}]` : init.host;
    this.restUrl = `http://${host}:${this.port}`;
    this.wsUrl = `ws://${host}:${this.port}`;
  }

  static async start(options: FakeExchangeOptions): Promise<FakeExchange> {
    const scheduler = toScheduler(options.clock);
    const logger = options.logger?.child({ component: 'fake-exchange' });
    const market = await Market.create(options.source, { scheduler, logger });
    const faults = new Faults();
    const limiter = new RateLimiter({ limit: options.weightLimit ?? 2400, banMs: options.banMs ?? 120_000, clock: scheduler });
    const server = createServer();
    server.keepAliveTimeout = 5_000;
    let exchange: FakeExchange | undefined;
    const rest = new RestRoutes({
      market,
      limiter,
      faults,
      scheduler,
      aggTradesHistoryMs: options.aggTradesHistoryMs,
      logger,
      admin: (req, res, path) => {
        if (exchange === undefined) res.writeHead(503).end();
        else exchange.#admin(req, res, path);
      },
    });
    server.on('request', rest.handle);
    const ws = new WsRoutes(server, {
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
      onFirstSubscription: options.startOnSubscribe && options.autoPublish !== false ? () => market.start() : undefined,
    });
    faults.attach(ws);
    faults.attachMarket(market);
    const host = options.host ?? '127.0.0.1';
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port ?? 0, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      await ws.close();
      rest.close();
      throw error;
    }
    exchange = new FakeExchange({ server, rest, ws, market, faults, limiter, scheduler, host, logger });
    if (options.autoPublish !== false && !options.startOnSubscribe) market.start();
    logger?.info({ restUrl: exchange.restUrl, wsUrl: exchange.wsUrl, source: options.source.kind, symbols: market.symbols().length }, 'fake exchange listening');
    return exchange;
  }

  stats(): FakeExchangeStats {
    return {
      market: { ...this.market.counters, symbols: this.market.symbols().length, done: this.market.isDone },
      rest: { ...this.#rest.stats, byStatus: { ...this.#rest.stats.byStatus }, byPath: { ...this.#rest.stats.byPath }, bans: this.limiter.bans },
      ws: { ...this.#ws.stats, byRoute: { ...this.#ws.stats.byRoute } },
      faults: { injected: { ...this.faults.injected }, effects: { ...this.faults.effects } },
    };
  }

  /** Stops publishing, cuts every connection and closes the server; nothing is left running. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.market.stop();
      this.#rest.close();
      await this.#ws.close();
      await new Promise<void>((resolve) => {
        this.#server.close(() => resolve());
        this.#server.closeAllConnections();
      });
      this.#logger?.info('fake exchange closed');
    })();
    return this.#closing;
  }

  // ---- admin routes ----------------------------------------------------------------------------------------------

  #admin(req: IncomingMessage, res: ServerResponse, path: string): void {
    const send = (status: number, body: unknown): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
      res.end(text);
    };
    if (req.method === 'GET' && path === '/_fake/stats') return send(200, this.stats());
    if (req.method === 'GET' && path === '/_fake/faults') {
      return send(200, { injected: this.faults.injected, effects: this.faults.effects, pending: this.faults.pending() });
    }
    if (req.method === 'POST' && (path === '/_fake/faults' || path === '/_fake/rate-limits/reset')) {
      readBody(req, MAX_ADMIN_BODY)
        .then((body) => {
          if (path === '/_fake/rate-limits/reset') {
            this.limiter.reset();
            return send(200, { ok: true });
          }
          let parsed: unknown;
          try {
            parsed = JSON.parse(body);
          } catch {
            return send(400, { ok: false, error: 'the body must be JSON: a fault object or an array of them' });
          }
          const specs = (Array.isArray(parsed) ? parsed : [parsed]) as FaultSpec[];
          try {
            const results = specs.map((spec) => this.faults.inject(spec));
            this.#logger?.info({ faults: specs }, 'fake exchange: faults injected over the admin route');
            return send(200, { ok: true, results });
          } catch (error) {
            if (error instanceof FaultError) return send(400, { ok: false, error: error.message });
            throw error;
          }
        })
        .catch((error: unknown) => {
          if (!res.headersSent) send(400, { ok: false, error: (error as Error).message });
        });
      return;
    }
    send(404, { ok: false, error: `no admin route ${req.method ?? ''} ${path}` });
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new Error(`the body is larger than ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
