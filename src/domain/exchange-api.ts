/** What the Binance REST client returns: typed subsets of the exchange's answers, decimals kept as exact strings. */

/** One row of `/fapi/v1/klines`, the 12th ("ignore") field dropped. */
export interface RestKline {
  readonly openTime: number;
  readonly open: string;
  readonly high: string;
  readonly low: string;
  readonly close: string;
  readonly volume: string;
  /** Next open time minus 1 ms. */
  readonly closeTime: number;
  readonly quoteVolume: string;
  /** Raw trades in the period. */
  readonly tradeCount: number;
  readonly takerBuyVolume: string;
  readonly takerBuyQuoteVolume: string;
}

export interface ExchangeSymbol {
  readonly symbol: string;
  readonly pair: string;
  /** `PERPETUAL`, `CURRENT_QUARTER`, `NEXT_QUARTER`, `TRADIFI_PERPETUAL`, … (kept open: new values appear). */
  readonly contractType: string;
  /** `TRADING`, `PENDING_TRADING`, `SETTLING`, `CLOSE`, … */
  readonly status: string;
  readonly baseAsset: string;
  readonly quoteAsset: string;
  readonly onboardDate: number;
  /** 4133404800000 (2100-12-25) for perpetuals until a delisting is scheduled. */
  readonly deliveryDate: number;
  /** PRICE_FILTER tickSize, undefined if the symbol has no such filter. */
  readonly tickSize: string | undefined;
  /** LOT_SIZE stepSize, undefined if the symbol has no such filter. */
  readonly stepSize: string | undefined;
}

export interface RateLimit {
  /** `REQUEST_WEIGHT`, `ORDERS`, … */
  readonly rateLimitType: string;
  /** `MINUTE`, `SECOND`, … */
  readonly interval: string;
  readonly intervalNum: number;
  readonly limit: number;
}

export interface ExchangeInfo {
  readonly serverTime: number | undefined;
  readonly rateLimits: readonly RateLimit[];
  readonly symbols: readonly ExchangeSymbol[];
}

/** The REQUEST_WEIGHT limit per 1 minute from exchangeInfo, undefined when it lists none. */
export function requestWeightLimitPerMinute(info: ExchangeInfo): number | undefined {
  return info.rateLimits.find((limit) => limit.rateLimitType === 'REQUEST_WEIGHT' && limit.interval === 'MINUTE' && limit.intervalNum === 1)
    ?.limit;
}

/** Weight of `/fapi/v1/klines` by `limit` (Binance's default limit is 500). */
export function klinesWeight(limit = 500): number {
  if (limit < 100) return 1;
  if (limit < 500) return 2;
  if (limit <= 1000) return 5;
  return 10;
}

export const AGG_TRADES_WEIGHT = 20;
export const KLINES_MAX_LIMIT = 1500;
export const AGG_TRADES_MAX_LIMIT = 1000;
