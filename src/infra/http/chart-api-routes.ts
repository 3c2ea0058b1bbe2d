/**
 * klagg's own read routes for the chart page, beside the Binance-shaped ones (which must keep Binance's exact shape,
 * so what Binance has no field for is served here):
 * - `GET /api/intervals`: the intervals klagg aggregates and serves, in its configured order;
 * - `GET /api/klines`: the same selection as `/fapi/v1/klines` (same parameters, limits and errors; the stored klines
 *   merged with the live open one, at the symbol's scales) as named objects that also say whether a kline is final
 *   and its revision (0 as first emitted; each correction of a final kline — a late trade, a repair — a higher one).
 */
import type { FastifyInstance } from 'fastify';
import type { Kline } from '../../domain/kline.ts';
import { formatServedKlines, parseKlinesQuery, selectKlines } from './binance-routes.ts';
import type { HttpContext } from './context.ts';
import type { HttpMetrics } from './metrics.ts';

/** One kline of `/api/klines`: Binance's REST fields by name (decimals as exact strings), plus final and revision. */
export interface ChartKline {
  readonly openTime: number;
  readonly closeTime: number;
  readonly open: string;
  readonly high: string;
  readonly low: string;
  readonly close: string;
  readonly volume: string;
  readonly quoteVolume: string;
  readonly tradeCount: number;
  readonly takerBuyVolume: string;
  readonly takerBuyQuoteVolume: string;
  readonly final: boolean;
  readonly revision: number;
  /** Why it was revised, when klagg knows (a stored revision does not keep its cause). */
  readonly revisionCause?: string;
}

export function toChartKline(k: Kline): ChartKline {
  return {
    openTime: k.openTime,
    closeTime: k.closeTime,
    open: k.open,
    high: k.high,
    low: k.low,
    close: k.close,
    volume: k.volume,
    quoteVolume: k.quoteVolume,
    tradeCount: k.tradeCount,
    takerBuyVolume: k.takerBuyVolume,
    takerBuyQuoteVolume: k.takerBuyQuoteVolume,
    final: k.isFinal,
    revision: k.revision ?? 0,
    ...(k.revisionCause !== undefined ? { revisionCause: k.revisionCause } : {}),
  };
}

export function registerChartApiRoutes(app: FastifyInstance, context: HttpContext, metrics?: Pick<HttpMetrics, 'countOverScale'>): void {
  app.get('/api/intervals', async () => ({ intervals: [...context.intervals] }));
  app.get('/api/klines', async (request) => {
    const q = parseKlinesQuery(context, request.query as URLSearchParams);
    const klines = formatServedKlines(context, q.symbol, await selectKlines(context, q), metrics);
    return { symbol: q.symbol, interval: q.interval, klines: klines.map(toChartKline) };
  });
}
