/**
 * How far behind the exchange's stream runs: samples of (receive time − trade time) in milliseconds, kept over a
 * recent time window, answering p50 / p99 / max for a finalization watermark. Pure and deterministic: every time is
 * passed in, nothing reads a clock.
 *
 * Why a time window of histogram slots and not a ring of raw samples: the watermark must mean "the lag of the last
 * minute" whatever the trade rate. A ring of the last N samples covers under a second when the whole market trades
 * (thousands of frames a second) and hours on a quiet connection, so a spike would vanish at once in the first case
 * and linger forever in the second. Here the window is `slots` slots of `windowMs / slots` each (default 12 × 5 s);
 * a slot is a histogram of fixed log-linear bins. Recording is O(1) and allocation-free (one bin increment; a slot
 * is cleared when time moves into it again), memory is fixed whatever the rate, and a query adds up at most `slots`
 * bin ranges (O(slots × bins), independent of the sample count) — fine at about once a second.
 *
 * Precision: bins are 1 ms wide below 256 ms, then 128 per power of two (≤ 0.8 % wide) up to 131 s; larger lags
 * share the last bin. Each bin also keeps its largest sample, and a quantile answers that: a lag actually seen,
 * never under the true (nearest-rank) value — conservative for a watermark — and over it by less than the bin's
 * width (exact whenever the bin holds one distinct value; the max is always exact). The window holds between
 * `windowMs − slotMs` and `windowMs` of history (whole slots).
 */
import { KlaggError } from './errors.ts';

export interface LagSummary {
  /** Median lag in the window (ms; 0 when there are no samples). */
  readonly p50: number;
  /** 99th percentile lag in the window (ms, nearest rank; 0 when there are no samples). */
  readonly p99: number;
  /** Largest lag in the window (ms, exact; 0 when there are no samples). */
  readonly max: number;
  /** Samples in the window. */
  readonly samples: number;
}

export interface LagTrackerOptions {
  /** How much recent history counts (default 60 000 ms). */
  readonly windowMs?: number;
  /** How many slots the window is cut into (default 12: the window moves in 5 s steps). */
  readonly slots?: number;
}

export const EMPTY_LAG: LagSummary = Object.freeze({ p50: 0, p99: 0, max: 0, samples: 0 });

// Bins: value v (integer ms) → v below LINEAR; above, SUB bins per power of two.
const LINEAR = 256;
const SUB = 128;
const SUB_BITS = 7; // log2(SUB)
const LINEAR_BITS = 8; // log2(LINEAR)
const MAX_BITS = 17; // values ≥ 2^17 ms (131 s) share the last bin
const CAP = 2 ** MAX_BITS - 1;
const BINS = LINEAR + (MAX_BITS - LINEAR_BITS) * SUB;

/** The bin of an integer value in [0, CAP]. */
function binOf(v: number): number {
  if (v < LINEAR) return v;
  const e = 31 - Math.clz32(v); // v in [2^e, 2^(e+1)), e ≥ LINEAR_BITS
  return LINEAR + (e - LINEAR_BITS) * SUB + ((v >>> (e - SUB_BITS)) - SUB);
}

export class LagTracker {
  readonly windowMs: number;
  readonly slotMs: number;
  readonly #slots: number;
  /** slots × BINS: samples per bin. */
  readonly #counts: Uint32Array;
  /** slots × BINS: the largest sample per bin (a quantile answers it: a value actually seen). */
  readonly #binMax: Float64Array;
  /** The slot period (floor(time / slotMs)) each slot holds; -Infinity: never used. */
  readonly #epochs: Float64Array;
  readonly #samples: Float64Array;
  /** The lowest and highest bin used in each slot (clearing and queries touch only that range). */
  readonly #lowBin: Int32Array;
  readonly #highBin: Int32Array;
  /** Query scratch: the window's counts and maxima per bin. */
  readonly #sum: Float64Array;
  readonly #sumMax: Float64Array;
  #recorded = 0;
  #early = 0;
  #dropped = 0;

  constructor(options: LagTrackerOptions = {}) {
    this.windowMs = options.windowMs ?? 60_000;
    this.#slots = options.slots ?? 12;
    if (!(this.windowMs > 0) || !Number.isInteger(this.#slots) || this.#slots < 1) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: 'a lag window needs windowMs > 0 and at least one slot' });
    this.slotMs = this.windowMs / this.#slots;
    this.#counts = new Uint32Array(this.#slots * BINS);
    this.#binMax = new Float64Array(this.#slots * BINS);
    this.#epochs = new Float64Array(this.#slots).fill(-Infinity);
    this.#samples = new Float64Array(this.#slots);
    this.#lowBin = new Int32Array(this.#slots).fill(BINS);
    this.#highBin = new Int32Array(this.#slots).fill(-1);
    this.#sum = new Float64Array(BINS);
    this.#sumMax = new Float64Array(BINS);
  }

  /** Samples recorded since creation (window or not). */
  get recorded(): number {
    return this.#recorded;
  }

  /** Samples with a negative lag (the local clock behind the exchange's), counted as 0. */
  get early(): number {
    return this.#early;
  }

  /** Samples dropped for being older than the window already kept (the clock went back by a whole window). */
  get dropped(): number {
    return this.#dropped;
  }

  /** One sample: `lagMs` (receive time − trade time) observed at `at` (the receive time). */
  record(at: number, lagMs: number): void {
    if (lagMs !== lagMs) return; // NaN
    let v = lagMs;
    if (v < 0) {
      this.#early++;
      v = 0;
    }
    const epoch = Math.floor(at / this.slotMs);
    const n = this.#slots;
    const slot = ((epoch % n) + n) % n;
    const held = this.#epochs[slot]!;
    if (held !== epoch) {
      if (held > epoch) {
        this.#dropped++;
        return;
      }
      this.#reset(slot, epoch);
    }
    const bin = binOf(v < CAP ? Math.floor(v) : CAP);
    const cell = slot * BINS + bin;
    this.#counts[cell]!++;
    if (v > this.#binMax[cell]!) this.#binMax[cell] = v;
    this.#samples[slot]!++;
    if (bin < this.#lowBin[slot]!) this.#lowBin[slot] = bin;
    if (bin > this.#highBin[slot]!) this.#highBin[slot] = bin;
    this.#recorded++;
  }

  /** p50, p99 and max of the samples in the window ending at `now`. */
  summary(now: number): LagSummary {
    const window = this.#gather(now);
    if (window.samples === 0) return EMPTY_LAG;
    return { p50: this.#rank(window, 0.5), p99: this.#rank(window, 0.99), max: this.#sumMax[window.high]!, samples: window.samples };
  }

  /** One quantile (0 < q ≤ 1, nearest rank) of the window ending at `now`; 0 when there are no samples. */
  quantile(now: number, q: number): number {
    const window = this.#gather(now);
    return window.samples === 0 ? 0 : this.#rank(window, q);
  }

  /** Forgets every sample (the counters since creation stay). */
  clear(): void {
    for (let slot = 0; slot < this.#slots; slot++) this.#reset(slot, -Infinity);
  }

  #reset(slot: number, epoch: number): void {
    const base = slot * BINS;
    const low = this.#lowBin[slot]!;
    const high = this.#highBin[slot]!;
    if (low <= high) {
      this.#counts.fill(0, base + low, base + high + 1);
      this.#binMax.fill(0, base + low, base + high + 1);
    }
    this.#epochs[slot] = epoch;
    this.#samples[slot] = 0;
    this.#lowBin[slot] = BINS;
    this.#highBin[slot] = -1;
  }

  /** Adds up the window's slots into the scratch bins (only the range of bins they use). */
  #gather(now: number): { samples: number; low: number; high: number } {
    const oldest = Math.floor(now / this.slotMs) - this.#slots + 1;
    let samples = 0;
    let low = BINS;
    let high = -1;
    for (let slot = 0; slot < this.#slots; slot++) {
      if (this.#epochs[slot]! < oldest || this.#samples[slot] === 0) continue;
      samples += this.#samples[slot]!;
      if (this.#lowBin[slot]! < low) low = this.#lowBin[slot]!;
      if (this.#highBin[slot]! > high) high = this.#highBin[slot]!;
    }
    if (samples === 0) return { samples, low, high };
    const sum = this.#sum;
    const sumMax = this.#sumMax;
    sum.fill(0, low, high + 1);
    sumMax.fill(0, low, high + 1);
    for (let slot = 0; slot < this.#slots; slot++) {
      if (this.#epochs[slot]! < oldest || this.#samples[slot] === 0) continue;
      const base = slot * BINS;
      const to = this.#highBin[slot]!;
      for (let bin = this.#lowBin[slot]!; bin <= to; bin++) {
        sum[bin]! += this.#counts[base + bin]!;
        if (this.#binMax[base + bin]! > sumMax[bin]!) sumMax[bin] = this.#binMax[base + bin]!;
      }
    }
    return { samples, low, high };
  }

  /** The nearest-rank quantile's bin, answered by the largest sample in it. */
  #rank(window: { samples: number; low: number; high: number }, q: number): number {
    const rank = Math.max(1, Math.ceil(q * window.samples));
    const sum = this.#sum;
    let seen = 0;
    for (let bin = window.low; bin <= window.high; bin++) {
      seen += sum[bin]!;
      if (seen >= rank) return this.#sumMax[bin]!;
    }
    return this.#sumMax[window.high]!;
  }
}

/**
 * Lag counts since the start over fixed bucket bounds, as a Prometheus histogram wants them (cumulative, never
 * windowed). Recording is a short scan from the smallest bound (most lags are small) and allocation-free.
 */
export interface LagHistogramSnapshot {
  /** Upper bounds (ms, ascending, inclusive). */
  readonly boundsMs: readonly number[];
  /** Samples per bucket (not cumulative): `counts[i]` in (boundsMs[i−1], boundsMs[i]]; the last entry is above every bound. */
  readonly counts: readonly number[];
  readonly count: number;
  /** Sum of the samples (ms; negative lags count as 0). */
  readonly sumMs: number;
}

export class LagHistogram {
  readonly boundsMs: readonly number[];
  readonly #bounds: Float64Array;
  readonly #counts: Float64Array;
  #count = 0;
  #sumMs = 0;

  constructor(boundsMs: readonly number[]) {
    for (let i = 1; i < boundsMs.length; i++) if (!(boundsMs[i]! > boundsMs[i - 1]!)) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: 'histogram bounds must ascend' });
    this.boundsMs = Object.freeze([...boundsMs]);
    this.#bounds = Float64Array.from(boundsMs);
    this.#counts = new Float64Array(boundsMs.length + 1);
  }

  record(lagMs: number): void {
    if (lagMs !== lagMs) return;
    const v = lagMs < 0 ? 0 : lagMs;
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && v > bounds[i]!) i++;
    this.#counts[i]!++;
    this.#count++;
    this.#sumMs += v;
  }

  snapshot(): LagHistogramSnapshot {
    return { boundsMs: this.boundsMs, counts: [...this.#counts], count: this.#count, sumMs: this.#sumMs };
  }
}
