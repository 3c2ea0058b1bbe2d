/**
 * The klines the fake exchange serves, computed by the project's KlineEngine from the trades it has published.
 *
 * The engine rolls periods only on trades (no time advances), so it never sees a "late" trade; every period it closes
 * (flat ones included) is kept, and the open one is asked for on request. Periods after a symbol's last trade, up to
 * the exchange's current time, are served flat at the last close, as Binance does for a quiet symbol.
 */
import type { AggTrade } from '../../domain/agg-trade.ts';
import { formatScaled, parseDecimal } from '../../domain/decimal.ts';
import { fixedLengthMs, INTERVALS, nextOpenTime, openTimeOf, type IntervalName } from '../../domain/interval.ts';
import { KlineEngine, TradeOutcome, type SymbolScales } from '../../domain/kline-engine.ts';
import type { Kline } from '../../domain/kline.ts';
import { KlaggError } from '../../domain/errors.ts';

export interface KlineQuery {
  readonly startTime?: number;
  readonly endTime?: number;
  readonly limit: number;
}

export class KlineBook {
  readonly #engine: KlineEngine;
  readonly #intervalIndex = new Map<IntervalName, number>();
  /** Per symbol, per interval: every closed period, in order. */
  readonly #finals = new Map<string, Kline[][]>();

  constructor(intervals: readonly IntervalName[] = INTERVALS) {
    intervals.forEach((interval, i) => this.#intervalIndex.set(interval, i));
    this.#engine = new KlineEngine(
      { intervals, graceMs: 0 },
      { onFinal: (kline) => this.#finals.get(kline.symbol)![this.#intervalIndex.get(kline.interval)!]!.push(kline) },
    );
  }

  get counters(): KlineEngine['counters'] {
    return this.#engine.counters;
  }

  addSymbol(symbol: string, scales: SymbolScales): void {
    if (this.#finals.has(symbol)) return;
    this.#engine.addSymbol(symbol, scales);
    this.#finals.set(symbol, this.#engine.intervals.map(() => []));
  }

  add(trade: AggTrade): void {
    const index = this.#engine.symbolIndex(trade.symbol);
    if (index === undefined) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: `unknown symbol ${trade.symbol}` });
    const price = parseDecimal(trade.price);
    const qty = parseDecimal(trade.qty);
    const apply = (): TradeOutcome =>
      this.#engine.applyTrade(index, trade.aggId, price.mantissa, price.decimals, qty.mantissa, qty.decimals, trade.firstTradeId, trade.lastTradeId, trade.tradeTime, trade.buyerIsMaker);
    if (apply() === TradeOutcome.Gap) {
      // A recording may miss ids; the exchange's klines simply do not have those trades.
      this.#engine.acceptGap(index, trade.aggId);
      apply();
    }
  }

  /**
   * Binance's `/fapi/v1/klines` selection: openTime ≥ startTime and ≤ endTime, ascending, at most `limit`; with a
   * startTime the first `limit` from it, otherwise the last `limit` up to endTime (or now). `until` is the exchange's
   * current time for this symbol: the last period served is the one holding it.
   */
  query(symbol: string, interval: IntervalName, query: KlineQuery, until: number): Kline[] {
    const index = this.#engine.symbolIndex(symbol);
    const i = this.#intervalIndex.get(interval);
    if (index === undefined || i === undefined) return [];
    const open = this.#engine.openKline(index, interval);
    if (open === undefined) return [];
    const finals = this.#finals.get(symbol)![i]!;
    const lastOpen = Math.max(open.openTime, openTimeOf(interval, until));
    const size = finals.length + 1 + periodsBetween(interval, open.openTime, lastOpen);
    const openAt = (k: number): number => (k < finals.length ? finals[k]!.openTime : addPeriods(interval, open.openTime, k - finals.length));
    /** First position whose open time is ≥ time (size when none). */
    const lowerBound = (time: number): number => {
      let lo = 0;
      let hi = size;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (openAt(mid) < time) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    let from: number;
    let to: number;
    if (query.startTime !== undefined) {
      from = lowerBound(query.startTime);
      to = query.endTime !== undefined ? lowerBound(query.endTime + 1) - 1 : size - 1;
      to = Math.min(to, from + query.limit - 1);
    } else {
      to = query.endTime !== undefined ? lowerBound(query.endTime + 1) - 1 : size - 1;
      from = Math.max(0, to - query.limit + 1);
    }
    const scales = this.#engine.scalesOf(index);
    const result: Kline[] = [];
    for (let k = from; k <= to; k++) {
      if (k < finals.length) result.push(finals[k]!);
      else if (k === finals.length) result.push(open);
      else result.push(flatKline(open, interval, addPeriods(interval, open.openTime, k - finals.length), scales));
    }
    return result;
  }
}

function addPeriods(interval: IntervalName, openTime: number, count: number): number {
  const length = fixedLengthMs(interval);
  if (length !== undefined) return openTime + count * length;
  const date = new Date(openTime);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + count, 1);
}

function periodsBetween(interval: IntervalName, from: number, to: number): number {
  const length = fixedLengthMs(interval);
  if (length !== undefined) return Math.round((to - from) / length);
  const a = new Date(from);
  const b = new Date(to);
  return (b.getUTCFullYear() - a.getUTCFullYear()) * 12 + b.getUTCMonth() - a.getUTCMonth();
}

function flatKline(last: Kline, interval: IntervalName, openTime: number, scales: SymbolScales): Kline {
  const zeroQty = formatScaled(0, scales.qtyScale);
  const zeroQuote = formatScaled(0, scales.priceScale + scales.qtyScale);
  return {
    symbol: last.symbol,
    interval,
    openTime,
    closeTime: nextOpenTime(interval, openTime) - 1,
    open: last.close,
    high: last.close,
    low: last.close,
    close: last.close,
    volume: zeroQty,
    quoteVolume: zeroQuote,
    tradeCount: 0,
    takerBuyVolume: zeroQty,
    takerBuyQuoteVolume: zeroQuote,
    firstTradeId: -1,
    lastTradeId: -1,
    lastAggId: -1,
    isFinal: false,
  };
}
