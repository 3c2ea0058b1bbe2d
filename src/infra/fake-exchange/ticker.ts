/**
 * Rolling 24-hour statistics of one symbol (for `!miniTicker@arr` and `/fapi/v1/ticker/24hr`), exact: prices as
 * scaled integers, sums as BigInt, high and low kept by monotonic deques so each trade costs O(1) amortized.
 */
import type { AggTrade } from '../../domain/agg-trade.ts';
import type { TradeLogView } from './trade-log.ts';
import { formatScaled, toScaled } from '../../domain/decimal.ts';

export const TICKER_WINDOW_MS = 86_400_000;

export interface TickerStats {
  readonly symbol: string;
  readonly openTime: number;
  readonly closeTime: number;
  readonly open: string;
  readonly high: string;
  readonly low: string;
  readonly last: string;
  readonly lastQty: string;
  readonly volume: string;
  readonly quoteVolume: string;
  readonly weightedAvgPrice: string;
  readonly priceChange: string;
  readonly priceChangePercent: string;
  /** First and last aggregate id in the window (−1 when it is empty), and how many. */
  readonly firstId: number;
  readonly lastId: number;
  readonly count: number;
}

export class RollingTicker {
  readonly #symbol: string;
  readonly #trades: TradeLogView;
  readonly #priceScale: number;
  readonly #qtyScale: number;
  readonly #windowMs: number;
  /** Per trade, price and quantity as scaled integers (numbers, not BigInts: 30 minutes at the soak's rate is 32 M). */
  readonly #prices: number[] = [];
  readonly #qtys: number[] = [];
  #start = 0;
  #volume = 0n;
  #quote = 0n;
  #maxQ: number[] = [];
  #maxHead = 0;
  #minQ: number[] = [];
  #minHead = 0;

  /** `trades` is the symbol's published trades; call `added(trade)` after each push to it. */
  constructor(symbol: string, trades: TradeLogView, priceScale: number, qtyScale: number, windowMs = TICKER_WINDOW_MS) {
    this.#symbol = symbol;
    this.#trades = trades;
    this.#priceScale = priceScale;
    this.#qtyScale = qtyScale;
    this.#windowMs = windowMs;
  }

  added(trade: AggTrade): void {
    const i = this.#prices.length;
    const price = toScaled(trade.price, this.#priceScale);
    const scaledQty = toScaled(trade.qty, this.#qtyScale);
    const qty = BigInt(scaledQty);
    this.#prices.push(price);
    this.#qtys.push(scaledQty);
    this.#volume += qty;
    this.#quote += BigInt(price) * qty;
    while (this.#maxQ.length > this.#maxHead && this.#prices[this.#maxQ[this.#maxQ.length - 1]!]! <= price) this.#maxQ.pop();
    this.#maxQ.push(i);
    while (this.#minQ.length > this.#minHead && this.#prices[this.#minQ[this.#minQ.length - 1]!]! >= price) this.#minQ.pop();
    this.#minQ.push(i);
  }

  #evict(now: number): void {
    const from = now - this.#windowMs;
    while (this.#start < this.#prices.length && this.#trades.timeAt(this.#start) < from) {
      const qty = BigInt(this.#qtys[this.#start]!);
      this.#volume -= qty;
      this.#quote -= BigInt(this.#prices[this.#start]!) * qty;
      if (this.#maxQ[this.#maxHead] === this.#start) this.#maxHead++;
      if (this.#minQ[this.#minHead] === this.#start) this.#minHead++;
      this.#start++;
    }
    if (this.#maxHead > 1024 && this.#maxHead * 2 > this.#maxQ.length) {
      this.#maxQ = this.#maxQ.slice(this.#maxHead);
      this.#maxHead = 0;
    }
    if (this.#minHead > 1024 && this.#minHead * 2 > this.#minQ.length) {
      this.#minQ = this.#minQ.slice(this.#minHead);
      this.#minHead = 0;
    }
  }

  /** The window ending at `now`; undefined while the symbol has never traded. */
  stats(now: number): TickerStats | undefined {
    const total = this.#prices.length;
    if (total === 0) return undefined;
    this.#evict(now);
    const ps = this.#priceScale;
    const last = this.#prices[total - 1]!;
    const empty = this.#start === total;
    const open = empty ? last : this.#prices[this.#start]!;
    const high = empty ? last : this.#prices[this.#maxQ[this.#maxHead]!]!;
    const low = empty ? last : this.#prices[this.#minQ[this.#minHead]!]!;
    const change = last - open;
    const percent = open === 0 ? 0 : (change / open) * 100;
    return {
      symbol: this.#symbol,
      openTime: now - this.#windowMs,
      closeTime: now,
      open: formatScaled(open, ps),
      high: formatScaled(high, ps),
      low: formatScaled(low, ps),
      last: formatScaled(last, ps),
      lastQty: this.#trades.at(total - 1).qty,
      volume: formatScaled(this.#volume, this.#qtyScale),
      quoteVolume: formatScaled(this.#quote, ps + this.#qtyScale),
      weightedAvgPrice: this.#volume === 0n ? formatScaled(0, ps) : formatScaled(this.#quote / this.#volume, ps),
      priceChange: change < 0 ? `-${formatScaled(-change, ps)}` : formatScaled(change, ps),
      priceChangePercent: percent.toFixed(3),
      firstId: empty ? -1 : this.#trades.aggIdAt(this.#start),
      lastId: empty ? -1 : this.#trades.aggIdAt(total - 1),
      count: total - this.#start,
    };
  }
}
