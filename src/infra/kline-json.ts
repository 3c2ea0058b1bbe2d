import { toBinanceRow, type Kline } from '../domain/kline.ts';

/** One final kline as a JSON line: `{"symbol":…,"interval":…,"kline":[…the 12 fields of Binance's REST klines…]}`. */
export function klineJsonLine(kline: Kline): string {
  return `${JSON.stringify({ symbol: kline.symbol, interval: kline.interval, kline: toBinanceRow(kline) })}\n`;
}
