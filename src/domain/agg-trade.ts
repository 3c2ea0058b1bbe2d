/**
 * One aggregate trade as Binance's `<symbol>@aggTrade` stream and `/fapi/v1/aggTrades` deliver it.
 * Prices and quantities stay decimal strings: they are only ever turned into scaled integers, never floats.
 */
export interface AggTrade {
  /** Symbol, upper case, e.g. `BTCUSDT`. */
  readonly symbol: string;
  /** Aggregate trade id; per symbol it increases by exactly 1. */
  readonly aggId: number;
  /** Price as the exchange's decimal string. */
  readonly price: string;
  /** Quantity as the exchange's decimal string. */
  readonly qty: string;
  /** First and last raw trade id covered by this aggregate trade. */
  readonly firstTradeId: number;
  readonly lastTradeId: number;
  /** Trade time, ms since the epoch. */
  readonly tradeTime: number;
  /** True when the buyer was the maker, i.e. the taker sold. */
  readonly buyerIsMaker: boolean;
}

/** The payload of one aggTrade stream event, as Binance sends it (unknown extra fields allowed). */
export interface AggTradeEvent {
  e: 'aggTrade';
  E: number;
  s: string;
  a: number;
  p: string;
  q: string;
  f: number;
  l: number;
  T: number;
  m: boolean;
}

export function toAggTradeEvent(trade: AggTrade, eventTime: number = trade.tradeTime): AggTradeEvent {
  return {
    e: 'aggTrade',
    E: eventTime,
    s: trade.symbol,
    a: trade.aggId,
    p: trade.price,
    q: trade.qty,
    f: trade.firstTradeId,
    l: trade.lastTradeId,
    T: trade.tradeTime,
    m: trade.buyerIsMaker,
  };
}

/** A combined-stream frame (`{"stream":"btcusdt@aggTrade","data":{…}}`) as the socket would carry it. */
export function toCombinedFrame(trade: AggTrade, eventTime: number = trade.tradeTime): string {
  return JSON.stringify({ stream: `${trade.symbol.toLowerCase()}@aggTrade`, data: toAggTradeEvent(trade, eventTime) });
}
