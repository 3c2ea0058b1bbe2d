/**
 * The Binance-compatible REST subset: `/fapi/v1/klines` (stored klines merged with the live open one, Binance's
 * 12-field rows, Binance's error codes), `/fapi/v1/exchangeInfo` (the symbols klagg serves), `/fapi/v1/time`,
 * `/fapi/v1/ping`. Existing Binance clients can point their base URL here.
 */
import { isIntervalName, type IntervalName } from '../../domain/interval.ts';
import { toBinanceRow, type Kline } from '../../domain/kline.ts';
import { formatKlineChecked } from '../../domain/kline-format.ts';
import type { FastifyInstance } from 'fastify';
import { illegalChars, invalidInterval, invalidParameter, invalidSymbol, mandatoryParam, startAfterEnd } from '../binance/binance-replies.ts';
import { isServed, servedScales, type HttpContext, type ServedSymbol } from './context.ts';
import type { HttpMetrics } from './metrics.ts';

export const KLINES_DEFAULT_LIMIT = 500;
export const KLINES_MAX_LIMIT = 1500;

/** A non-negative integer parameter, or undefined when absent; -1100 when it is not digits or beyond 2^53. */
function integerParam(query: URLSearchParams, name: string): number | undefined {
  const raw = query.get(name);
  if (raw === null || raw === '') return undefined;
  if (!/^[0-9]{1,20}$/.test(raw)) throw illegalChars(name);
  const value = Number(raw);
  if (!Number.isSafeInteger(value)) throw invalidParameter(name);
  return value;
}

export interface KlinesQuery {
  readonly symbol: string;
  readonly interval: IntervalName;
  readonly startTime?: number;
  readonly endTime?: number;
  readonly limit: number;
}

/** Validates a klines request in Binance's order: mandatory parameters, then their values, then their combination. */
export function parseKlinesQuery(context: HttpContext, query: URLSearchParams): KlinesQuery {
  const symbolRaw = query.get('symbol');
  if (symbolRaw === null || symbolRaw.trim() === '') throw mandatoryParam('symbol');
  const intervalRaw = query.get('interval');
  if (intervalRaw === null || intervalRaw.trim() === '') throw mandatoryParam('interval');
  const startTime = integerParam(query, 'startTime');
  const endTime = integerParam(query, 'endTime');
  const limitParam = integerParam(query, 'limit');
  // Exactly as listed, as on Binance: `btcusdt` is -1121 there, not BTCUSDT (stream names are the lower-case ones).
  const symbol = symbolRaw;
  if (!/^[A-Z0-9_]{1,32}$/.test(symbol) || !isServed(context, symbol)) throw invalidSymbol();
  if (!isIntervalName(intervalRaw) || !context.intervals.includes(intervalRaw)) throw invalidInterval();
  const limit = limitParam ?? KLINES_DEFAULT_LIMIT;
  if (limit < 1 || limit > KLINES_MAX_LIMIT) throw invalidParameter('limit');
  if (startTime !== undefined && endTime !== undefined && startTime > endTime) throw startAfterEnd();
  return { symbol, interval: intervalRaw, startTime, endTime, limit };
}

/**
 * Stored klines with the live ones merged in, as Binance selects them: ascending by openTime, within
 * [startTime, endTime]; with a startTime the first `limit`, otherwise the latest `limit`. The live open kline
 * replaces a stored open row of the same openTime (the store lags); a stored final row is never replaced by it. The
 * latest final replaces a stored open row, or a stored final of a lower revision (not written yet).
 */
export async function selectKlines(context: HttpContext, q: KlinesQuery): Promise<Kline[]> {
  const stored = await context.store.range(context.venue, context.market, q.symbol, q.interval, { startTime: q.startTime, endTime: q.endTime, limit: q.limit });
  const live = [context.view.final(q.symbol, q.interval), context.view.open(q.symbol, q.interval)].filter(
    (k): k is Kline => k !== undefined && (q.startTime === undefined || k.openTime >= q.startTime) && (q.endTime === undefined || k.openTime <= q.endTime),
  );
  if (live.length === 0) return stored;
  const merged = stored.slice();
  for (const kline of live) {
    const at = merged.findIndex((k) => k.openTime >= kline.openTime);
    if (at === -1) merged.push(kline);
    else if (merged[at]!.openTime === kline.openTime) {
      const row = merged[at]!;
      if (!row.isFinal || (kline.isFinal && (row.revision ?? 0) < (kline.revision ?? 0))) merged[at] = kline;
    } else merged.splice(at, 0, kline);
  }
  if (merged.length <= q.limit) return merged;
  return q.startTime !== undefined ? merged.slice(0, q.limit) : merged.slice(merged.length - q.limit);
}

/**
 * The klines at the symbol's scales (`servedScales`), whatever produced them — the engine, the backfiller, a repair
 * — and however the store gave their decimals back; unchanged when the scales are unknown. A value the scale cannot
 * hold is served exact with its own decimals and counted.
 */
export function formatServedKlines(context: HttpContext, symbol: string, klines: readonly Kline[], metrics?: Pick<HttpMetrics, 'countOverScale'>): Kline[] {
  const scales = servedScales(context, symbol);
  if (scales === undefined) return klines.slice();
  return klines.map((kline) => {
    const checked = formatKlineChecked(kline, scales);
    if (checked.overScale.length > 0) metrics?.countOverScale(checked.overScale);
    return checked.kline;
  });
}

function decimalsOf(step: string): number {
  const dot = step.indexOf('.');
  if (dot < 0) return 0;
  const fraction = step.slice(dot + 1).replace(/0+$/, '');
  return fraction.length;
}

export function exchangeSymbol(s: ServedSymbol): Record<string, unknown> {
  return {
    symbol: s.symbol,
    pair: s.symbol,
    contractType: 'PERPETUAL',
    deliveryDate: 4133404800000,
    onboardDate: 0,
    status: s.status,
    baseAsset: s.baseAsset,
    quoteAsset: s.quoteAsset,
    marginAsset: s.quoteAsset,
    pricePrecision: decimalsOf(s.tickSize),
    quantityPrecision: decimalsOf(s.stepSize),
    baseAssetPrecision: 8,
    quotePrecision: 8,
    underlyingType: 'COIN',
    filters: [
      { filterType: 'PRICE_FILTER', minPrice: s.minPrice ?? s.tickSize, maxPrice: s.maxPrice ?? '1000000', tickSize: s.tickSize },
      { filterType: 'LOT_SIZE', minQty: s.minQty ?? s.stepSize, maxQty: s.maxQty ?? '100000000', stepSize: s.stepSize },
    ],
    orderTypes: [],
    timeInForce: [],
  };
}

export function registerBinanceRoutes(app: FastifyInstance, context: HttpContext, metrics?: Pick<HttpMetrics, 'countOverScale'>): void {
  app.get('/fapi/v1/klines', async (request) => {
    const q = parseKlinesQuery(context, request.query as URLSearchParams);
    const klines = formatServedKlines(context, q.symbol, await selectKlines(context, q), metrics);
    return klines.map(toBinanceRow);
  });
  app.get('/fapi/v1/exchangeInfo', async () => ({
    timezone: 'UTC',
    serverTime: context.clock.now(),
    futuresType: 'U_MARGINED',
    rateLimits: [
      { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 2400 },
      { rateLimitType: 'ORDERS', interval: 'MINUTE', intervalNum: 1, limit: 1200 },
    ],
    exchangeFilters: [],
    assets: [],
    symbols: context.symbols().map(exchangeSymbol),
  }));
  app.get('/fapi/v1/time', async () => ({ serverTime: context.clock.now() }));
  app.get('/fapi/v1/ping', async () => ({}));
}
