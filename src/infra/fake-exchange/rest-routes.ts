/**
 * The REST side (Fastify routes): `/fapi/v1/ping`, `/time`, `/exchangeInfo`, `/klines`, `/aggTrades`,
 * `/ticker/24hr`, with Binance's parameters, limits, error codes and IP weight accounting (`x-mbx-used-weight-1m` on
 * every response, 429 + Retry-After over the limit, 418 ban when a 429 is ignored). Injected REST faults apply first.
 * Any other path or method is Binance's 404 -5000 (Binance has no 405), except the fake's own `/_fake/…` namespace.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AggTrade } from '../../domain/agg-trade.ts';
import { isIntervalName } from '../../domain/interval.ts';
import { toBinanceRow } from '../../domain/kline.ts';
import type { Logger } from '../logger.ts';
import {
  banned,
  BinanceError,
  illegalChars,
  invalidInterval,
  invalidParameter,
  invalidSymbol,
  mandatoryParam,
  moreThanHours,
  serverError,
  startAfterEnd,
  tooManyRequests,
  unknownRoute,
} from '../binance/binance-replies.ts';
import { exchangeInfoBody } from './exchange-info.ts';
import type { Faults } from './faults.ts';
import type { Market, TickerStats } from './market.ts';
import type { RateLimiter } from './rate-limiter.ts';
import type { Scheduler, Timer } from './scheduler.ts';

export interface RestStats {
  /** Requests to Binance routes (admin routes not included). */
  requests: number;
  byStatus: { 200: number; 400: number; 404: number; 418: number; 429: number; '5xx': number };
  /** Total weight charged (all IPs, all minutes). */
  weightUsed: number;
  /** Requests per path. */
  byPath: Record<string, number>;
}

export interface RestContext {
  readonly market: Market;
  readonly limiter: RateLimiter;
  readonly faults: Faults;
  readonly scheduler: Scheduler;
  /** Trades older than this (exchange time) are absent from /fapi/v1/aggTrades; undefined: all history. */
  readonly aggTradesHistoryMs: number | undefined;
  readonly logger?: Logger;
}

type Params = URLSearchParams;

interface Route {
  weight(params: Params): number;
  handle(params: Params): unknown;
}

const HOUR = 3_600_000;
/** The fake's own routes (stats, faults) live under this prefix; they are not Binance's and are not counted. */
export const ADMIN_PREFIX = '/_fake/';

export class RestRoutes {
  readonly stats: RestStats = { requests: 0, byStatus: { 200: 0, 400: 0, 404: 0, 418: 0, 429: 0, '5xx': 0 }, weightUsed: 0, byPath: {} };
  readonly #ctx: RestContext;
  readonly #routes: Map<string, Route>;
  readonly #delayed = new Set<Timer>();

  constructor(ctx: RestContext) {
    this.#ctx = ctx;
    this.#routes = new Map<string, Route>([
      ['/fapi/v1/ping', { weight: () => 1, handle: () => ({}) }],
      ['/fapi/v1/time', { weight: () => 1, handle: () => ({ serverTime: ctx.market.now() }) }],
      ['/fapi/v1/exchangeInfo', { weight: () => 1, handle: () => exchangeInfoBody(ctx.market.symbols(), ctx.market.now(), ctx.limiter.limit) }],
      ['/fapi/v1/klines', { weight: klinesWeight, handle: (params) => this.#klines(params) }],
      ['/fapi/v1/aggTrades', { weight: () => 20, handle: (params) => this.#aggTrades(params) }],
      ['/fapi/v1/ticker/24hr', { weight: (params) => (params.has('symbol') ? 1 : 40), handle: (params) => this.#ticker(params) }],
    ]);
  }

  /** Cancels responses still held back by slowRest. */
  close(): void {
    for (const timer of this.#delayed) timer.cancel();
    this.#delayed.clear();
  }

  /** Adds the Binance routes, and the 404 for everything else, to the fake's server. */
  register(app: FastifyInstance): void {
    for (const [path, route] of this.#routes) {
      app.get(path, (request, reply) => this.#handle(request, reply, path, route));
    }
    app.setNotFoundHandler((request, reply) => {
      const path = pathOf(request.url);
      const method = request.method;
      if (path.startsWith(ADMIN_PREFIX)) return reply.code(404).type('application/json').send({ ok: false, error: `no admin route ${method} ${path}` });
      this.#count(path);
      return this.#send(reply, 404, unknownRoute(method, path).body, { used: this.#ctx.limiter.used(clientIp(request.raw)) });
    });
  }

  #count(path: string): void {
    this.stats.requests++;
    this.stats.byPath[path] = (this.stats.byPath[path] ?? 0) + 1;
  }

  #handle(request: FastifyRequest, reply: FastifyReply, path: string, route: Route): FastifyReply | Promise<FastifyReply> {
    this.#count(path);
    const ip = clientIp(request.raw);
    const params = request.query as URLSearchParams;
    const delay = this.#ctx.faults.takeRestDelay(path);
    if (delay <= 0) return this.#answer(reply, ip, path, route, params);
    return new Promise((resolve) => {
      const timer = this.#ctx.scheduler.setTimer(delay, () => {
        this.#delayed.delete(timer);
        resolve(this.#answer(reply, ip, path, route, params));
      });
      this.#delayed.add(timer);
    });
  }

  #answer(reply: FastifyReply, ip: string, path: string, route: Route, params: Params): FastifyReply {
    // The client left while the answer was held back: nothing to send.
    if (reply.raw.destroyed) return reply.hijack();
    const { limiter, faults, market } = this.#ctx;
    const failure = faults.takeRestFailure(path);
    if (failure !== undefined) {
      const used = limiter.used(ip);
      if (failure.status === 429) return this.#send(reply, 429, tooManyRequests(ip, limiter.limit).body, { used, retryAfter: 1 });
      if (failure.status === 418) {
        const until = this.#ctx.scheduler.now() + limiter.banMs;
        return this.#send(reply, 418, banned(ip, until).body, { used, retryAfter: Math.max(1, Math.ceil(limiter.banMs / 1000)) });
      }
      return this.#send(reply, failure.status, serverError(failure.status).body, { used });
    }
    let weight: number;
    try {
      weight = route.weight(params);
    } catch {
      weight = 1;
    }
    const admission = limiter.admit(ip, weight);
    if (admission.kind === 'banned') return this.#send(reply, 418, banned(ip, admission.until).body, { used: admission.used, retryAfter: admission.retryAfterSeconds });
    this.stats.weightUsed += weight;
    if (admission.kind === 'limited') return this.#send(reply, 429, tooManyRequests(ip, limiter.limit).body, { used: admission.used, retryAfter: admission.retryAfterSeconds });
    try {
      market.sync();
      return this.#send(reply, 200, route.handle(params), { used: admission.used });
    } catch (error) {
      if (error instanceof BinanceError) return this.#send(reply, error.status, error.body, { used: admission.used });
      this.#ctx.logger?.error({ err: error, path }, 'fake exchange: REST handler failed');
      return this.#send(reply, 500, serverError(500).body, { used: admission.used });
    }
  }

  #send(reply: FastifyReply, status: number, body: unknown, extra: { used?: number; retryAfter?: number }): FastifyReply {
    if (status >= 500) this.stats.byStatus['5xx']++;
    else if (status in this.stats.byStatus) this.stats.byStatus[status as 200 | 400 | 404 | 418 | 429]++;
    const headers: Record<string, string> = { 'content-type': 'application/json;charset=UTF-8' };
    if (extra.used !== undefined) {
      headers['x-mbx-used-weight-1m'] = String(extra.used);
      headers['x-mbx-used-weight'] = String(extra.used);
    }
    if (extra.retryAfter !== undefined) headers['retry-after'] = String(extra.retryAfter);
    // Serialized here: the body goes out as Binance writes it, whatever Fastify's serializer would do.
    return reply.code(status).headers(headers).send(JSON.stringify(body));
  }

  // ---- routes ----------------------------------------------------------------------------------------------------

  #klines(params: Params): unknown {
    const symbol = required(params, 'symbol');
    const interval = required(params, 'interval');
    const limit = optionalInteger(params, 'limit') ?? 500;
    const startTime = optionalInteger(params, 'startTime');
    const endTime = optionalInteger(params, 'endTime');
    if (this.#ctx.market.symbol(symbol) === undefined) throw invalidSymbol();
    if (!isIntervalName(interval)) throw invalidInterval();
    if (limit < 1 || limit > 1500) throw invalidParameter('limit');
    if (startTime !== undefined && endTime !== undefined && startTime > endTime) throw startAfterEnd();
    return this.#ctx.market.klines(symbol, interval, { startTime, endTime, limit }).map(toBinanceRow);
  }

  #aggTrades(params: Params): unknown {
    const symbol = required(params, 'symbol');
    const limit = optionalInteger(params, 'limit') ?? 500;
    const fromId = optionalInteger(params, 'fromId');
    const startTime = optionalInteger(params, 'startTime');
    const endTime = optionalInteger(params, 'endTime');
    const market = this.#ctx.market;
    if (market.symbol(symbol) === undefined) throw invalidSymbol();
    if (limit < 1 || limit > 1000) throw invalidParameter('limit');
    if (startTime !== undefined && endTime !== undefined) {
      if (startTime > endTime) throw startAfterEnd();
      if (endTime - startTime >= HOUR) throw moreThanHours(1);
    }
    // What the exchange shows: every published trade, or in the blast mode those its stream has sent so far.
    const trades = market.tradeLog(symbol);
    const shown = market.shownCount(symbol);
    const history = this.#ctx.aggTradesHistoryMs;
    const oldest = history === undefined ? 0 : trades.firstAtOrAfterTime(market.now() - history, shown);
    let selected: readonly AggTrade[];
    if (fromId !== undefined || startTime !== undefined) {
      let i = oldest;
      if (fromId !== undefined) i = Math.max(i, trades.firstAtOrAfterId(fromId, shown));
      if (startTime !== undefined) i = Math.max(i, trades.firstAtOrAfterTime(startTime, shown));
      let j = Math.min(shown, i + limit);
      if (endTime !== undefined) j = Math.min(j, trades.firstAtOrAfterTime(endTime + 1, shown));
      selected = trades.slice(i, Math.max(i, j));
    } else {
      const j = endTime === undefined ? shown : trades.firstAtOrAfterTime(endTime + 1, shown);
      selected = trades.slice(Math.max(oldest, j - limit), Math.max(oldest, j));
    }
    return selected.map((t) => ({ a: t.aggId, p: t.price, q: t.qty, nq: t.qty, f: t.firstTradeId, l: t.lastTradeId, T: t.tradeTime, m: t.buyerIsMaker }));
  }

  #ticker(params: Params): unknown {
    const market = this.#ctx.market;
    const symbol = params.get('symbol');
    if (symbol !== null) {
      if (market.symbol(symbol) === undefined) throw invalidSymbol();
      const stats = market.ticker(symbol);
      return stats === undefined ? emptyTicker(symbol, market.now()) : tickerBody(stats);
    }
    return market.symbols().flatMap((info) => {
      const stats = market.ticker(info.symbol);
      return stats === undefined ? [] : [tickerBody(stats)];
    });
  }
}

function klinesWeight(params: Params): number {
  const text = params.get('limit');
  const limit = text === null || text === '' ? 500 : Number(text);
  if (!Number.isFinite(limit) || limit < 100) return 1;
  if (limit < 500) return 2;
  if (limit <= 1000) return 5;
  return 10;
}

const pathOf = (url: string): string => {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
};

function clientIp(req: IncomingMessage): string {
  const address = req.socket.remoteAddress ?? 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

function required(params: Params, name: string): string {
  const value = params.get(name);
  if (value === null || value === '') throw mandatoryParam(name);
  return value;
}

const DIGITS = /^[0-9]{1,20}$/;

function optionalInteger(params: Params, name: string): number | undefined {
  const value = params.get(name);
  if (value === null || value === '') return undefined;
  if (!DIGITS.test(value)) throw illegalChars(name);
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed)) throw invalidParameter(name);
  return parsed;
}

function tickerBody(s: TickerStats): unknown {
  return {
    symbol: s.symbol,
    priceChange: s.priceChange,
    priceChangePercent: s.priceChangePercent,
    weightedAvgPrice: s.weightedAvgPrice,
    lastPrice: s.last,
    lastQty: s.lastQty,
    openPrice: s.open,
    highPrice: s.high,
    lowPrice: s.low,
    volume: s.volume,
    quoteVolume: s.quoteVolume,
    openTime: s.openTime,
    closeTime: s.closeTime,
    firstId: s.firstId,
    lastId: s.lastId,
    count: s.count,
  };
}

function emptyTicker(symbol: string, now: number): unknown {
  return {
    symbol,
    priceChange: '0',
    priceChangePercent: '0.000',
    weightedAvgPrice: '0',
    lastPrice: '0',
    lastQty: '0',
    openPrice: '0',
    highPrice: '0',
    lowPrice: '0',
    volume: '0',
    quoteVolume: '0',
    openTime: now - 86_400_000,
    closeTime: now,
    firstId: -1,
    lastId: -1,
    count: 0,
  };
}
