/**
 * Paging over `/fapi/v1/klines` (forward by open time) and `/fapi/v1/aggTrades` (forward by aggregate id). Both stop
 * at the first short page (the exchange has nothing more) and refuse a page that ignores its cursor instead of looping.
 */
import type { AggTrade } from '../../domain/agg-trade.ts';
import type { IntervalName } from '../../domain/interval.ts';
import { BinanceResponseError } from './binance-error.ts';
import type { AggTradesQuery, KlinesQuery } from './rest-client.ts';
import { requestContext } from './rest-request.ts';
import { AGG_TRADES_MAX_LIMIT, type RestKline } from '../../domain/exchange-api.ts';

export interface PageSource {
  klines(symbol: string, interval: IntervalName, query: KlinesQuery): Promise<RestKline[]>;
  aggTrades(symbol: string, query: AggTradesQuery): Promise<AggTrade[]>;
}

function pagingError(path: string, params: Record<string, string | number>, problem: string): BinanceResponseError {
  const context = requestContext(path, params);
  return new BinanceResponseError(context.endpoint, context.request, problem);
}

export async function klinesRange(
  source: PageSource,
  symbol: string,
  interval: IntervalName,
  startTime: number,
  endTime: number,
  pageLimit: number,
): Promise<RestKline[]> {
  const result: RestKline[] = [];
  let cursor = startTime;
  while (cursor <= endTime) {
    const query = { startTime: cursor, endTime, limit: pageLimit };
    const page = await source.klines(symbol, interval, query);
    for (const kline of page) {
      if (kline.openTime < cursor || kline.openTime > endTime) {
        const problem = `kline openTime ${kline.openTime} is outside the requested ${cursor}…${endTime}`;
        throw pagingError('/fapi/v1/klines', { symbol, interval, ...query }, problem);
      }
      result.push(kline);
    }
    const last = page[page.length - 1];
    if (last === undefined || page.length < pageLimit) break;
    cursor = last.openTime + 1;
  }
  return result;
}

export async function aggTradesFrom(source: PageSource, symbol: string, fromId: number, toId: number): Promise<AggTrade[]> {
  const result: AggTrade[] = [];
  let cursor = fromId;
  while (cursor <= toId) {
    // The weight is 20 whatever the limit; asking only for what is left keeps the last answer small.
    const limit = Math.min(AGG_TRADES_MAX_LIMIT, toId - cursor + 1);
    const page = await source.aggTrades(symbol, { fromId: cursor, limit });
    for (const trade of page) {
      if (trade.aggId < cursor) {
        throw pagingError('/fapi/v1/aggTrades', { symbol, fromId: cursor, limit }, `aggregate id ${trade.aggId} is below the requested fromId ${cursor}`);
      }
      if (trade.aggId > toId) return result;
      result.push(trade);
    }
    const last = page[page.length - 1];
    if (last === undefined || page.length < limit) break;
    cursor = last.aggId + 1;
  }
  return result;
}
