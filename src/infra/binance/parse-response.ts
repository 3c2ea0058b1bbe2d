/**
 * Validating parsers for the bodies of Binance's REST answers. Anything off — not JSON, an object where an array
 * belongs, a short row, a number where a decimal string belongs — is a BinanceResponseError that names the request
 * and the exact place (`row 3: field 1 (open) …`). Unknown extra fields are ignored (Binance adds fields: `nq`, `st`).
 */
import type { AggTrade } from '../../domain/agg-trade.ts';
import { BinanceResponseError, snippet } from './binance-error.ts';
import type { ExchangeInfo, ExchangeSymbol, RateLimit, RestKline } from '../../domain/exchange-api.ts';

export interface ResponseContext {
  /** The path, `/fapi/v1/klines`. */
  readonly endpoint: string;
  /** Method, path and query, for messages. */
  readonly request: string;
}

type Fail = (problem: string) => never;

function failer(context: ResponseContext): Fail {
  return (problem) => {
    throw new BinanceResponseError(context.endpoint, context.request, problem);
  };
}

const DECIMAL = /^\d+(?:\.\d+)?$/;

/** A short description of a value, for messages. */
function describe(value: unknown): string {
  if (value === undefined) return 'nothing (missing)';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  return snippet(JSON.stringify(value) ?? String(value), 40);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function parseJsonBody(context: ResponseContext, text: string): unknown {
  if (text.trim() === '') failer(context)('empty body where JSON was expected');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const looksHtml = /^\s*</.test(text);
    return failer(context)(
      `body is not JSON${looksHtml ? ' (an HTML page, e.g. from a firewall or proxy)' : ''}: ${(error as Error).message}; ` +
        `body starts ${JSON.stringify(snippet(text, 80))}`,
    );
  }
}

/**
 * Where a value sits, for an error message: a string, or a function of the key that builds it — only on failure, so a
 * page of 1,000 trades or 1,500 klines does not build a string per field (7,000 and 16,500 of them per page).
 */
type Where = string | ((key: string | number) => string);
const at = (where: Where, key: string | number): string => (typeof where === 'string' ? where : where(key));

function integer(fail: Fail, where: Where, value: unknown, key: string | number = ''): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) fail(`${at(where, key)} must be an integer, got ${describe(value)}`);
  return value;
}

function nonNegativeInteger(fail: Fail, where: Where, value: unknown, key: string | number = ''): number {
  const result = integer(fail, where, value, key);
  if (result < 0) fail(`${at(where, key)} must not be negative, got ${result}`);
  return result;
}

function decimal(fail: Fail, where: Where, value: unknown, key: string | number = ''): string {
  if (typeof value !== 'string' || !DECIMAL.test(value)) fail(`${at(where, key)} must be a decimal string, got ${describe(value)}`);
  return value;
}

function text(fail: Fail, where: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') fail(`${where} must be a non-empty string, got ${describe(value)}`);
  return value;
}

function array(fail: Fail, where: string, value: unknown): unknown[] {
  if (!Array.isArray(value)) fail(`${where} must be an array, got ${describe(value)}`);
  return value;
}

export function parseServerTime(context: ResponseContext, body: unknown): number {
  const fail: Fail = failer(context);
  if (!isRecord(body)) fail(`expected an object {"serverTime":…}, got ${describe(body)}`);
  return nonNegativeInteger(fail, 'serverTime', body.serverTime);
}

const KLINE_FIELDS = [
  'openTime',
  'open',
  'high',
  'low',
  'close',
  'volume',
  'closeTime',
  'quoteVolume',
  'tradeCount',
  'takerBuyVolume',
  'takerBuyQuoteVolume',
] as const;

/** Rows of `/fapi/v1/klines`: at least 12 fields each (more are tolerated as schema drift), ascending open times. */
export function parseKlines(context: ResponseContext, body: unknown): RestKline[] {
  const fail: Fail = failer(context);
  const rows = array(fail, 'the body', body);
  const klines: RestKline[] = [];
  rows.forEach((row, index) => {
    const where = (field: string | number): string => `row ${index}: field ${field} (${KLINE_FIELDS[Number(field)] ?? 'ignore'})`;
    if (!Array.isArray(row)) fail(`row ${index} must be an array of 12 fields, got ${describe(row)}`);
    if (row.length < 12) fail(`row ${index} has ${row.length} fields, expected 12`);
    const kline: RestKline = {
      openTime: nonNegativeInteger(fail, where, row[0], 0),
      open: decimal(fail, where, row[1], 1),
      high: decimal(fail, where, row[2], 2),
      low: decimal(fail, where, row[3], 3),
      close: decimal(fail, where, row[4], 4),
      volume: decimal(fail, where, row[5], 5),
      closeTime: nonNegativeInteger(fail, where, row[6], 6),
      quoteVolume: decimal(fail, where, row[7], 7),
      tradeCount: nonNegativeInteger(fail, where, row[8], 8),
      takerBuyVolume: decimal(fail, where, row[9], 9),
      takerBuyQuoteVolume: decimal(fail, where, row[10], 10),
    };
    if (kline.closeTime < kline.openTime) fail(`row ${index}: closeTime ${kline.closeTime} is before openTime ${kline.openTime}`);
    const previous = klines[klines.length - 1];
    if (previous !== undefined && kline.openTime <= previous.openTime) {
      fail(`row ${index}: openTime ${kline.openTime} does not follow row ${index - 1}'s ${previous.openTime} (rows must ascend)`);
    }
    klines.push(kline);
  });
  return klines;
}

/** Items of `/fapi/v1/aggTrades` (`{a,p,q,f,l,T,m}`, extra fields such as `nq` ignored), ascending aggregate ids. */
export function parseAggTrades(context: ResponseContext, symbol: string, body: unknown): AggTrade[] {
  const fail: Fail = failer(context);
  const items = array(fail, 'the body', body);
  const trades: AggTrade[] = [];
  items.forEach((item, index) => {
    if (!isRecord(item)) fail(`item ${index} must be an object {a,p,q,f,l,T,m}, got ${describe(item)}`);
    const where = (key: string | number): string => `item ${index}: ${key}`;
    if (typeof item.m !== 'boolean') fail(`${where('m')} must be a boolean, got ${describe(item.m)}`);
    const trade: AggTrade = {
      symbol,
      aggId: nonNegativeInteger(fail, where, item.a, 'a'),
      price: decimal(fail, where, item.p, 'p'),
      qty: decimal(fail, where, item.q, 'q'),
      firstTradeId: nonNegativeInteger(fail, where, item.f, 'f'),
      lastTradeId: nonNegativeInteger(fail, where, item.l, 'l'),
      tradeTime: nonNegativeInteger(fail, where, item.T, 'T'),
      buyerIsMaker: item.m,
    };
    if (trade.lastTradeId < trade.firstTradeId) fail(`item ${index}: l ${trade.lastTradeId} is below f ${trade.firstTradeId}`);
    const previous = trades[trades.length - 1];
    if (previous !== undefined && trade.aggId <= previous.aggId) {
      fail(`item ${index}: a ${trade.aggId} does not follow item ${index - 1}'s ${previous.aggId} (ids must ascend)`);
    }
    trades.push(trade);
  });
  return trades;
}

function filterValue(fail: Fail, where: string, filters: unknown[], filterType: string, key: string): string | undefined {
  const filter = filters.find((candidate) => isRecord(candidate) && candidate.filterType === filterType);
  if (filter === undefined) return undefined;
  return decimal(fail, `${where}: ${filterType}.${key}`, (filter as Record<string, unknown>)[key]);
}

function parseSymbol(fail: Fail, index: number, value: unknown): ExchangeSymbol {
  if (!isRecord(value)) fail(`symbols[${index}] must be an object, got ${describe(value)}`);
  const name = typeof value.symbol === 'string' ? ` (${value.symbol})` : '';
  const where = `symbols[${index}]${name}`;
  const filters = value.filters === undefined ? [] : array(fail, `${where}.filters`, value.filters);
  return {
    symbol: text(fail, `${where}.symbol`, value.symbol),
    pair: text(fail, `${where}.pair`, value.pair),
    contractType: text(fail, `${where}.contractType`, value.contractType),
    status: text(fail, `${where}.status`, value.status),
    baseAsset: text(fail, `${where}.baseAsset`, value.baseAsset),
    quoteAsset: text(fail, `${where}.quoteAsset`, value.quoteAsset),
    onboardDate: nonNegativeInteger(fail, `${where}.onboardDate`, value.onboardDate),
    deliveryDate: nonNegativeInteger(fail, `${where}.deliveryDate`, value.deliveryDate),
    tickSize: filterValue(fail, where, filters, 'PRICE_FILTER', 'tickSize'),
    stepSize: filterValue(fail, where, filters, 'LOT_SIZE', 'stepSize'),
  };
}

function parseRateLimit(fail: Fail, index: number, value: unknown): RateLimit {
  const where = `rateLimits[${index}]`;
  if (!isRecord(value)) fail(`${where} must be an object, got ${describe(value)}`);
  return {
    rateLimitType: text(fail, `${where}.rateLimitType`, value.rateLimitType),
    interval: text(fail, `${where}.interval`, value.interval),
    intervalNum: nonNegativeInteger(fail, `${where}.intervalNum`, value.intervalNum),
    limit: nonNegativeInteger(fail, `${where}.limit`, value.limit),
  };
}

export function parseExchangeInfo(context: ResponseContext, body: unknown): ExchangeInfo {
  const fail: Fail = failer(context);
  if (!isRecord(body)) fail(`expected an object {"symbols":[…],"rateLimits":[…],…}, got ${describe(body)}`);
  const symbols = array(fail, 'symbols', body.symbols).map((value, index) => parseSymbol(fail, index, value));
  const rateLimits = array(fail, 'rateLimits', body.rateLimits).map((value, index) => parseRateLimit(fail, index, value));
  const serverTime = body.serverTime === undefined ? undefined : nonNegativeInteger(fail, 'serverTime', body.serverTime);
  return { serverTime, rateLimits, symbols };
}
