/**
 * Binance's `<symbol>@kline_<interval>` stream: names and payloads, byte-compatible with the exchange's own — one
 * definition for klagg's stream server and the fake exchange's kline streams.
 */
import { isIntervalName, type IntervalName } from '../../domain/interval.ts';
import type { Kline } from '../../domain/kline.ts';

export interface KlineEventBody {
  readonly t: number;
  readonly T: number;
  readonly s: string;
  readonly i: string;
  readonly f: number;
  readonly L: number;
  readonly o: string;
  readonly c: string;
  readonly h: string;
  readonly l: string;
  readonly v: string;
  readonly n: number;
  readonly x: boolean;
  readonly q: string;
  readonly V: string;
  readonly Q: string;
  readonly B: string;
}

export interface KlineEvent {
  readonly e: 'kline';
  readonly E: number;
  readonly s: string;
  readonly k: KlineEventBody;
}

/** The kline event as Binance sends it (field order as on the wire). */
export function toKlineEvent(kline: Kline, eventTime: number): KlineEvent {
  return {
    e: 'kline',
    E: eventTime,
    s: kline.symbol,
    k: {
      t: kline.openTime,
      T: kline.closeTime,
      s: kline.symbol,
      i: kline.interval,
      f: kline.firstTradeId,
      L: kline.lastTradeId,
      o: kline.open,
      c: kline.close,
      h: kline.high,
      l: kline.low,
      v: kline.volume,
      n: kline.tradeCount,
      x: kline.isFinal,
      q: kline.quoteVolume,
      V: kline.takerBuyVolume,
      Q: kline.takerBuyQuoteVolume,
      B: '0',
    },
  };
}

/** `btcusdt@kline_1m`: lower-case symbol, interval exactly as named (`1M` is a month, `1m` a minute). */
export function klineStreamName(symbol: string, interval: IntervalName): string {
  return `${symbol.toLowerCase()}@kline_${interval}`;
}

export interface KlineStream {
  /** Upper-case, as in payloads and in klagg. */
  readonly symbol: string;
  readonly interval: IntervalName;
}

const KLINE_STREAM = /^([a-z0-9_]{1,40})@kline_([0-9]{1,2}[mhdwM])$/;

/** Parses `<symbol lower-case>@kline_<interval>`; undefined for anything else (other stream types, bad interval, upper-case symbol). */
export function parseKlineStream(name: string): KlineStream | undefined {
  const match = KLINE_STREAM.exec(name);
  if (match === null) return undefined;
  const interval = match[2]!;
  if (!isIntervalName(interval)) return undefined;
  return { symbol: match[1]!.toUpperCase(), interval };
}
