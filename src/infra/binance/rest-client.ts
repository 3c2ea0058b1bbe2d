/**
 * Client for Binance USDⓈ-M futures' public market-data REST API (`/fapi/v1/time`, `exchangeInfo`, `klines`,
 * `aggTrades`), with the request-weight budget in front of every request.
 *
 * Failures: network errors, timeouts, 408 and 5xx are retried with exponential backoff and jitter (at most
 * `maxRetries` times, then BinanceRetriesExhaustedError); a 429 pauses every request until Retry-After and is then
 * retried; a 418 pauses everything until the ban ends (BinanceBannedError if that is too far off); any other 4xx is
 * the request's own fault and throws BinanceApiError at once. A 2xx body that is not what the endpoint returns throws
 * BinanceResponseError, not retried.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { pino } from 'pino';
import type { AggTrade } from '../../domain/agg-trade.ts';
import type { IntervalName } from '../../domain/interval.ts';
import { systemClock, type Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import { BinanceRetriesExhaustedError } from './binance-error.ts';
import { parseAggTrades, parseExchangeInfo, parseJsonBody, parseKlines, parseServerTime, type ResponseContext } from './parse-response.ts';
import { aggTradesFrom, klinesRange } from './rest-paging.ts';
import { attempt, banEnd, requestContext, retryAfterMs, toApiError, type QueryValue } from './rest-request.ts';
import { AGG_TRADES_MAX_LIMIT, AGG_TRADES_WEIGHT, KLINES_MAX_LIMIT, klinesWeight, type ExchangeInfo, type RestKline } from '../../domain/exchange-api.ts';
import { WeightBudget } from './weight-budget.ts';

export interface BinanceRestClientOptions {
  /** `https://fapi.binance.com`, or a fake exchange's address. */
  readonly baseUrl: string;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Share of the weight limit to use, (0, 1]. Default 0.8. Ignored when `budget` is given. */
  readonly budgetShare?: number;
  /** Weight limit per minute. Default 2400. Ignored when `budget` is given. */
  readonly weightLimit?: number;
  /** Retries after the first attempt. Default 5. */
  readonly maxRetries?: number;
  /** Per attempt, until the whole body is read. Default 10 000 ms (real time). */
  readonly timeoutMs?: number;
  /** Waits on the clock's time line (budget waits and backoff). Default: a real timer. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** A budget shared with other clients of the same IP. Default: one of this client's own. */
  readonly budget?: WeightBudget;
  /** First backoff delay before jitter. Default 250 ms; doubles per retry up to `backoffMaxMs` (default 10 000). */
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  /** Longest 418 ban to wait out. Default 10 minutes. Ignored when `budget` is given. */
  readonly maxBanWaitMs?: number;
  /** Jitter source in [0, 1). Default Math.random. */
  readonly random?: () => number;
}

export interface KlinesQuery {
  readonly startTime?: number;
  readonly endTime?: number;
  /** 1–1500, Binance's default 500. Weight 1 below 100, 2 below 500, 5 up to 1000, 10 above. */
  readonly limit?: number;
}

export interface AggTradesQuery {
  /** Inclusive. Do not combine with a time range (Binance may time out). */
  readonly fromId?: number;
  /** Inclusive; with endTime the span must be under 1 hour. */
  readonly startTime?: number;
  readonly endTime?: number;
  /** 1–1000, Binance's default 500. */
  readonly limit?: number;
}

/** Counters for metrics; all monotonic except `inFlight`. */
export interface BinanceRestStats {
  /** Requests sent (every attempt). */
  readonly requests: number;
  readonly retries: number;
  readonly http429: number;
  readonly http418: number;
  /** Sum of the weights of the requests sent. */
  readonly weightUsed: number;
  /** Requests sent and not yet answered. */
  readonly inFlight: number;
}

interface Timed<T> {
  readonly value: T;
  readonly sentAt: number;
  readonly receivedAt: number;
}

export class BinanceRestClient {
  readonly budget: WeightBudget;
  readonly #baseUrl: URL;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #maxRetries: number;
  readonly #timeoutMs: number;
  readonly #backoffBaseMs: number;
  readonly #backoffMaxMs: number;
  readonly #random: () => number;
  #requests = 0;
  #retries = 0;
  #http429 = 0;
  #http418 = 0;
  #weightUsed = 0;
  #inFlight = 0;

  constructor(options: BinanceRestClientOptions) {
    this.#baseUrl = new URL(options.baseUrl);
    this.#clock = options.clock ?? systemClock;
    this.#logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'binance-rest' });
    this.#sleep = options.sleep ?? ((ms) => delay(ms));
    this.#maxRetries = options.maxRetries ?? 5;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#backoffBaseMs = options.backoffBaseMs ?? 250;
    this.#backoffMaxMs = options.backoffMaxMs ?? 10_000;
    this.#random = options.random ?? Math.random;
    if (!(Number.isInteger(this.#maxRetries) && this.#maxRetries >= 0)) throw new RangeError(`maxRetries must be a non-negative integer, got ${this.#maxRetries}`);
    if (!(this.#timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${this.#timeoutMs}`);
    this.budget =
      options.budget ??
      new WeightBudget({
        clock: this.#clock,
        sleep: this.#sleep,
        share: options.budgetShare,
        limit: options.weightLimit,
        maxBanWaitMs: options.maxBanWaitMs,
        logger: this.#logger,
      });
  }

  get stats(): BinanceRestStats {
    return {
      requests: this.#requests,
      retries: this.#retries,
      http429: this.#http429,
      http418: this.#http418,
      weightUsed: this.#weightUsed,
      inFlight: this.#inFlight,
    };
  }

  /** Adopts the exchange's weight limit (exchangeInfo's REQUEST_WEIGHT per minute; see requestWeightLimitPerMinute). */
  setWeightLimit(limit: number): void {
    this.budget.setLimit(limit);
  }

  /** The exchange's time, ms since the epoch. Weight 1. */
  async time(): Promise<number> {
    return (await this.#get('/fapi/v1/time', {}, 1, parseServerTime)).value;
  }

  /** The exchange's clock minus ours, against the midpoint of the round trip of one `/fapi/v1/time`. */
  async measureTimeOffset(): Promise<{ offsetMs: number; rttMs: number }> {
    const { value: serverTime, sentAt, receivedAt } = await this.#get('/fapi/v1/time', {}, 1, parseServerTime);
    return { offsetMs: Math.round(serverTime - (sentAt + receivedAt) / 2), rttMs: receivedAt - sentAt };
  }

  /** Symbols and rate limits. Weight 1. */
  async exchangeInfo(): Promise<ExchangeInfo> {
    return (await this.#get('/fapi/v1/exchangeInfo', {}, 1, parseExchangeInfo)).value;
  }

  /** Klines with `startTime ≤ openTime ≤ endTime`, ascending, at most `limit` (default 500). The open period included. */
  async klines(symbol: string, interval: IntervalName, query: KlinesQuery = {}): Promise<RestKline[]> {
    checkTime('startTime', query.startTime);
    checkTime('endTime', query.endTime);
    checkLimit(query.limit, KLINES_MAX_LIMIT);
    const params = { symbol, interval, startTime: query.startTime, endTime: query.endTime, limit: query.limit };
    return (await this.#get('/fapi/v1/klines', params, klinesWeight(query.limit), parseKlines)).value;
  }

  /** Aggregate trades, ascending ids. Weight 20. */
  async aggTrades(symbol: string, query: AggTradesQuery = {}): Promise<AggTrade[]> {
    checkTime('fromId', query.fromId);
    checkTime('startTime', query.startTime);
    checkTime('endTime', query.endTime);
    checkLimit(query.limit, AGG_TRADES_MAX_LIMIT);
    const params = { symbol, fromId: query.fromId, startTime: query.startTime, endTime: query.endTime, limit: query.limit };
    const parse = (context: ResponseContext, body: unknown): AggTrade[] => parseAggTrades(context, symbol, body);
    return (await this.#get('/fapi/v1/aggTrades', params, AGG_TRADES_WEIGHT, parse)).value;
  }

  /**
   * Every kline with `startTime ≤ openTime ≤ endTime`, each once, paging forward. 499 per page is the cheapest weight
   * per kline (2 per page). Stops at the first short page: the exchange has nothing more in the range.
   */
  async klinesRange(symbol: string, interval: IntervalName, startTime: number, endTime: number, pageLimit = 499): Promise<RestKline[]> {
    checkTime('startTime', startTime);
    checkTime('endTime', endTime);
    checkLimit(pageLimit, KLINES_MAX_LIMIT);
    if (startTime > endTime) throw new RangeError(`startTime ${startTime} is after endTime ${endTime}`);
    return klinesRange(this, symbol, interval, startTime, endTime, pageLimit);
  }

  /**
   * Every aggregate trade with `fromId ≤ id ≤ toId`, each once, in order, paging by id (1000 per page). Stops early when
   * the exchange has no more (a short page), so the last id returned can be below `toId`.
   */
  async aggTradesFrom(symbol: string, fromId: number, toId: number): Promise<AggTrade[]> {
    checkTime('fromId', fromId);
    checkTime('toId', toId);
    return aggTradesFrom(this, symbol, fromId, toId);
  }

  async #get<T>(
    path: string,
    params: Record<string, QueryValue>,
    weight: number,
    parse: (context: ResponseContext, body: unknown) => T,
  ): Promise<Timed<T>> {
    const context = requestContext(path, params);
    for (let attemptNo = 0; ; attemptNo += 1) {
      const ticket = await this.budget.reserve(weight);
      this.#requests += 1;
      this.#weightUsed += weight;
      this.#inFlight += 1;
      const sentAt = this.#clock.now();
      const outcome = await attempt(this.#baseUrl, context, this.#timeoutMs).finally(() => void (this.#inFlight -= 1));
      const receivedAt = this.#clock.now();

      let failure: Error;
      let backoff = true;
      if (outcome.kind === 'network') {
        failure = outcome.error;
      } else {
        const { status, headers, text } = outcome;
        const used = Number(headers.get('x-mbx-used-weight-1m') ?? Number.NaN);
        if (Number.isFinite(used)) this.budget.observe(used, ticket);
        if (status >= 200 && status < 300) return { value: parse(context, parseJsonBody(context, text)), sentAt, receivedAt };
        const apiError = toApiError(context, status, text);
        failure = apiError;
        if (status === 429) {
          this.#http429 += 1;
          backoff = false; // the budget holds every request until Retry-After
          this.budget.rateLimited(retryAfterMs(headers), Number.isFinite(used) ? used : undefined, ticket);
        } else if (status === 418) {
          this.#http418 += 1;
          backoff = false; // the budget holds every request until the ban ends
          this.budget.banned(banEnd(headers, apiError.binanceMsg, receivedAt));
        } else if (!apiError.retryable) {
          throw apiError;
        }
      }
      if (attemptNo >= this.#maxRetries) throw new BinanceRetriesExhaustedError(path, context.request, attemptNo + 1, failure);
      this.#retries += 1;
      const waitMs = backoff ? this.#backoffMs(attemptNo) : 0;
      this.#logger.warn({ request: context.request, attempt: attemptNo + 1, waitMs, err: failure.message }, 'Binance request failed; retrying');
      if (waitMs > 0) await this.#sleep(waitMs);
    }
  }

  /** Exponential (base · 2^n for the n-th retry from 0, capped) with jitter over the upper half, to spread a herd. */
  #backoffMs(retry: number): number {
    const ceiling = Math.min(this.#backoffMaxMs, this.#backoffBaseMs * 2 ** retry);
    return Math.round(ceiling * (0.5 + 0.5 * this.#random()));
  }
}

function checkTime(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
}

function checkLimit(limit: number | undefined, max: number): void {
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1 && limit <= max)) throw new RangeError(`limit must be an integer from 1 to ${max}, got ${limit}`);
}
