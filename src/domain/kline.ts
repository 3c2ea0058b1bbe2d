import type { IntervalName } from './interval.ts';

/** A kline as klagg holds and emits it: every decimal an exact string at the symbol's scale. */
export interface Kline {
  readonly symbol: string;
  readonly interval: IntervalName;
  readonly openTime: number;
  /** Next open time minus 1 ms. */
  readonly closeTime: number;
  readonly open: string;
  readonly high: string;
  readonly low: string;
  readonly close: string;
  /** Σ quantity. */
  readonly volume: string;
  /** Σ price · quantity. */
  readonly quoteVolume: string;
  /** Raw trades, Σ (l − f + 1), not aggregate trades. */
  readonly tradeCount: number;
  readonly takerBuyVolume: string;
  readonly takerBuyQuoteVolume: string;
  /** First and last raw trade id, −1 for a period without trades (as Binance's kline stream reports). */
  readonly firstTradeId: number;
  readonly lastTradeId: number;
  /**
   * Aggregate id of the last trade the kline's values account for: its last trade, or for a period without trades the
   * trade whose price it carries (−1 if none). Stored rows and live views take an open kline only at a higher one, so a
   * late trade that moves a flat kline's price raises it.
   */
  readonly lastAggId: number;
  readonly isFinal: boolean;
  /**
   * 0 (or absent) for a kline as first emitted; each correction of a final kline (a late trade, a rebuild from the
   * exchange's klines) carries the next revision. Stored rows and stream clients take a higher revision over a lower.
   */
  readonly revision?: number;
  /** Why a revision was emitted (absent on revision 0): see `RevisionCause`. */
  readonly revisionCause?: RevisionCause;
}

/**
 * Why a final kline was emitted again: `late` — a stream trade arrived after the clock finalized its period (lag past
 * the grace); `repair` — a trade fetched over REST for a gap landed in a final period; `restart` — a stored final
 * received trades fetched while catching up after a restart; `rebuild` — rebuilt from the exchange's klines (trades
 * no longer available, or a late trade older than the engine's memory).
 */
export type RevisionCause = 'late' | 'repair' | 'restart' | 'rebuild';

/** The 12 fields of Binance's REST `/fapi/v1/klines` rows. */
export type BinanceKlineRow = [
  openTime: number,
  open: string,
  high: string,
  low: string,
  close: string,
  volume: string,
  closeTime: number,
  quoteVolume: string,
  tradeCount: number,
  takerBuyVolume: string,
  takerBuyQuoteVolume: string,
  ignore: string,
];

export function toBinanceRow(kline: Kline): BinanceKlineRow {
  return [
    kline.openTime,
    kline.open,
    kline.high,
    kline.low,
    kline.close,
    kline.volume,
    kline.closeTime,
    kline.quoteVolume,
    kline.tradeCount,
    kline.takerBuyVolume,
    kline.takerBuyQuoteVolume,
    '0',
  ];
}
