/**
 * One symbol's published trades, kept compact: columns in fixed-size typed-array chunks, prices and quantities as
 * (mantissa, decimals), so a trade costs ~51 bytes and no object. The fake exchange keeps every trade it publishes (its
 * REST aggTrades and klines answer from them); as objects, the soak's 30 minutes at 20,000 trades/s held 6 GB of heap,
 * and collecting it stalled the harness for minutes. Trades come back as `AggTrade` objects made on read, with the
 * exact strings they were published with (a string that does not round-trip is kept as it is, beside the columns).
 */
import type { AggTrade } from '../../domain/agg-trade.ts';
import { formatScaled, parseDecimal } from '../../domain/decimal.ts';

const CHUNK = 8192;
// Number columns, per trade.
const AGG_ID = 0;
const PRICE = 1;
const QTY = 2;
const FIRST_ID = 3;
const LAST_ID = 4;
const TIME = 5;
const NUMS = 6;
// Byte columns, per trade.
const PRICE_DECIMALS = 0;
const QTY_DECIMALS = 1;
const MAKER = 2;
const BYTES = 3;

interface Chunk {
  readonly nums: Float64Array;
  readonly bytes: Uint8Array;
}

/** The read side, as the fake's routes and feeds use it. */
export interface TradeLogView {
  readonly length: number;
  at(index: number): AggTrade;
  slice(from?: number, to?: number): AggTrade[];
  aggIdAt(index: number): number;
  timeAt(index: number): number;
  /** The first index in [0, end) whose trade time is ≥ `time` (`end` if none); trade times never decrease. */
  firstAtOrAfterTime(time: number, end?: number): number;
  /** The first index in [0, end) whose aggregate id is ≥ `id` (`end` if none). */
  firstAtOrAfterId(id: number, end?: number): number;
}

export class TradeLog implements TradeLogView {
  readonly symbol: string;
  #length = 0;
  readonly #chunks: Chunk[] = [];
  /** Trades whose price or quantity text would not come back the same from (mantissa, decimals). */
  readonly #verbatim = new Map<number, { readonly price: string; readonly qty: string }>();

  constructor(symbol: string) {
    this.symbol = symbol;
  }

  get length(): number {
    return this.#length;
  }

  push(trade: AggTrade): void {
    const index = this.#length;
    const offset = index % CHUNK;
    if (offset === 0) this.#chunks.push({ nums: new Float64Array(CHUNK * NUMS), bytes: new Uint8Array(CHUNK * BYTES) });
    const { nums, bytes } = this.#chunks[this.#chunks.length - 1]!;
    const price = exact(trade.price);
    const qty = exact(trade.qty);
    const n = offset * NUMS;
    nums[n + AGG_ID] = trade.aggId;
    nums[n + PRICE] = price?.mantissa ?? 0;
    nums[n + QTY] = qty?.mantissa ?? 0;
    nums[n + FIRST_ID] = trade.firstTradeId;
    nums[n + LAST_ID] = trade.lastTradeId;
    nums[n + TIME] = trade.tradeTime;
    const b = offset * BYTES;
    bytes[b + PRICE_DECIMALS] = price?.decimals ?? 0;
    bytes[b + QTY_DECIMALS] = qty?.decimals ?? 0;
    bytes[b + MAKER] = trade.buyerIsMaker ? 1 : 0;
    if (price === undefined || qty === undefined) this.#verbatim.set(index, { price: trade.price, qty: trade.qty });
    this.#length = index + 1;
  }

  at(index: number): AggTrade {
    const { nums, bytes, n, b } = this.#locate(index);
    const verbatim = this.#verbatim.get(index);
    return {
      symbol: this.symbol,
      aggId: nums[n + AGG_ID]!,
      price: verbatim?.price ?? formatScaled(nums[n + PRICE]!, bytes[b + PRICE_DECIMALS]!),
      qty: verbatim?.qty ?? formatScaled(nums[n + QTY]!, bytes[b + QTY_DECIMALS]!),
      firstTradeId: nums[n + FIRST_ID]!,
      lastTradeId: nums[n + LAST_ID]!,
      tradeTime: nums[n + TIME]!,
      buyerIsMaker: bytes[b + MAKER] === 1,
    };
  }

  /** Trades [from, to), as Array.prototype.slice takes them (negative indices count from the end). */
  slice(from = 0, to = this.#length): AggTrade[] {
    const start = clampIndex(from, this.#length);
    const end = clampIndex(to, this.#length);
    const result: AggTrade[] = [];
    for (let i = start; i < end; i++) result.push(this.at(i));
    return result;
  }

  aggIdAt(index: number): number {
    const { nums, n } = this.#locate(index);
    return nums[n + AGG_ID]!;
  }

  timeAt(index: number): number {
    const { nums, n } = this.#locate(index);
    return nums[n + TIME]!;
  }

  firstAtOrAfterTime(time: number, end = this.#length): number {
    return this.#search(end, (i) => this.timeAt(i) >= time);
  }

  firstAtOrAfterId(id: number, end = this.#length): number {
    return this.#search(end, (i) => this.aggIdAt(i) >= id);
  }

  /** The first index in [0, end) where `reached` holds, given it holds from some index on. */
  #search(end: number, reached: (index: number) => boolean): number {
    let lo = 0;
    let hi = Math.min(end, this.#length);
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (reached(mid)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  #locate(index: number): { nums: Float64Array; bytes: Uint8Array; n: number; b: number } {
    if (!(index >= 0 && index < this.#length)) throw new RangeError(`no trade at index ${index} of ${this.#length}`);
    const chunk = this.#chunks[Math.floor(index / CHUNK)]!;
    const offset = index % CHUNK;
    return { nums: chunk.nums, bytes: chunk.bytes, n: offset * NUMS, b: offset * BYTES };
  }
}

/** (mantissa, decimals) when they give back exactly `text`; undefined when not (kept verbatim then). */
function exact(text: string): { mantissa: number; decimals: number } | undefined {
  try {
    const parsed = parseDecimal(text);
    return parsed.decimals <= 255 && formatScaled(parsed.mantissa, parsed.decimals) === text ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function clampIndex(index: number, length: number): number {
  if (index < 0) return Math.max(0, length + index);
  return Math.min(index, length);
}
