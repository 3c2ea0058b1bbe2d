/** The body of `GET /fapi/v1/exchangeInfo`, built from the market's symbols. */
import type { SymbolInfo } from './symbol-info.ts';

export function exchangeInfoBody(symbols: readonly SymbolInfo[], serverTime: number, weightLimit: number): unknown {
  return {
    timezone: 'UTC',
    serverTime,
    futuresType: 'U_MARGINED',
    rateLimits: [
      { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: weightLimit },
      { rateLimitType: 'ORDERS', interval: 'MINUTE', intervalNum: 1, limit: 1200 },
      { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 300 },
    ],
    exchangeFilters: [],
    assets: [{ asset: 'USDT', marginAvailable: true, autoAssetExchange: '-10000' }],
    symbols: symbols.map(symbolEntry),
  };
}

function symbolEntry(info: SymbolInfo): unknown {
  return {
    symbol: info.symbol,
    pair: info.symbol,
    contractType: info.contractType,
    deliveryDate: info.deliveryDate,
    onboardDate: info.onboardDate,
    status: info.status,
    maintMarginPercent: '2.5000',
    requiredMarginPercent: '5.0000',
    baseAsset: info.baseAsset,
    quoteAsset: info.quoteAsset,
    marginAsset: info.quoteAsset,
    pricePrecision: info.priceScale,
    quantityPrecision: info.qtyScale,
    baseAssetPrecision: 8,
    quotePrecision: 8,
    underlyingType: 'COIN',
    underlyingSubType: [],
    settlePlan: 0,
    triggerProtect: '0.0500',
    liquidationFee: '0.012500',
    marketTakeBound: '0.05',
    maxMoveOrderLimit: 10000,
    filters: [
      { filterType: 'PRICE_FILTER', minPrice: info.tickSize, maxPrice: '1000000', tickSize: info.tickSize },
      { filterType: 'LOT_SIZE', minQty: info.stepSize, maxQty: '1000000', stepSize: info.stepSize },
      { filterType: 'MARKET_LOT_SIZE', minQty: info.stepSize, maxQty: '100000', stepSize: info.stepSize },
      { filterType: 'MAX_NUM_ORDERS', limit: 200 },
      { filterType: 'MAX_NUM_ALGO_ORDERS', limit: 10 },
      { filterType: 'MIN_NOTIONAL', notional: '5' },
      { filterType: 'PERCENT_PRICE', multiplierUp: '1.0500', multiplierDown: '0.9500', multiplierDecimal: '4' },
    ],
    orderTypes: ['LIMIT', 'MARKET', 'STOP', 'STOP_MARKET', 'TAKE_PROFIT', 'TAKE_PROFIT_MARKET', 'TRAILING_STOP_MARKET'],
    timeInForce: ['GTC', 'IOC', 'FOK', 'GTX', 'GTD'],
  };
}
