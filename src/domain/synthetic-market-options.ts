/**
 * The synthetic market's options and their checks: what a caller may ask for, with defaults filled in and every value
 * validated (RangeError) before any random number is drawn, so a bad option fails the same way whatever the seed.
 */

import { syntheticSymbols, type SyntheticSymbol } from './synthetic-symbols.ts';

export interface SyntheticMarketOptions {
  /** Same seed + options ⇒ identical output. */
  readonly seed: number;
  /** How many symbols. */
  readonly symbols: number;
  /** ms epoch of the first trade (the first trade has exactly this time). */
  readonly startTime: number;
  /** Total trades to generate across all symbols. */
  readonly trades: number;
  /** Whole-market long-run average trade rate per second; default 2000. */
  readonly meanRatePerSecond?: number;
  /** Exponent of the Zipf activity weights across symbols (weight of rank r ∝ 1/r^s); default 1.1. */
  readonly zipfExponent?: number;
  /** Whether symbols (other than the most active ~10%, at most 10) have multi-minute quiet periods; default true. */
  readonly quietPeriods?: boolean;
  /**
   * σ of the log of the market-rate multiplier between regimes (each regime lasts ~5–60 s), plus short bursts at
   * ~8× the mean rate; default 0.9. 0 gives a plain Poisson process at `meanRatePerSecond` without bursts.
   */
  readonly burstiness?: number;
  /** Probability that a pick becomes a sweep of 2–12 same-millisecond aggTrades; default 0.03. */
  readonly sweepProbability?: number;
  /**
   * Symbols to use instead of `syntheticSymbols(seed, symbols)`; its length must equal `symbols`. Earlier entries
   * are more active.
   */
  readonly symbolSpecs?: readonly SyntheticSymbol[];
  /**
   * A quieter past: before this time (ms) trades come at `historyRatePerSecond` instead of `meanRatePerSecond`, each
   * one bigger and moving the price further (by the rate ratio, and its square root), so volume and volatility per
   * unit of time stay alike. Days of history then cost a bounded number of trades. Default: no such past.
   */
  readonly historyUntil?: number;
  /** The past's whole-market mean rate (see `historyUntil`); default `meanRatePerSecond`. */
  readonly historyRatePerSecond?: number;
}

/** The options with defaults applied and checked. */
export interface ResolvedMarketOptions {
  readonly seed: number;
  readonly startTime: number;
  readonly trades: number;
  readonly meanRate: number;
  readonly zipf: number;
  readonly quietPeriods: boolean;
  readonly burstiness: number;
  readonly sweepProbability: number;
  /** Before this time (−∞: never) the rate is `historyRate`. */
  readonly historyUntil: number;
  readonly historyRate: number;
  /** One per symbol, unique names, most active first. */
  readonly specs: readonly SyntheticSymbol[];
}

function requireWhole(value: number, name: string, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) throw new RangeError(`${name} must be a whole number ≥ ${min}: ${value}`);
}

/** Applies the defaults and checks every option (RangeError on the first bad one, in declaration order). */
export function resolveMarketOptions(options: SyntheticMarketOptions): ResolvedMarketOptions {
  requireWhole(options.symbols, 'symbols', 1);
  requireWhole(options.trades, 'trades', 0);
  requireWhole(options.startTime, 'startTime', 0);
  const meanRate = options.meanRatePerSecond ?? 2000;
  if (!(meanRate > 0) || !Number.isFinite(meanRate)) throw new RangeError(`meanRatePerSecond must be > 0: ${meanRate}`);
  const zipf = options.zipfExponent ?? 1.1;
  if (!(zipf >= 0) || !Number.isFinite(zipf)) throw new RangeError(`zipfExponent must be ≥ 0: ${zipf}`);
  const quietPeriods = options.quietPeriods ?? true;
  const burstiness = options.burstiness ?? 0.9;
  if (!(burstiness >= 0) || !Number.isFinite(burstiness)) throw new RangeError(`burstiness must be ≥ 0: ${burstiness}`);
  const sweepProbability = options.sweepProbability ?? 0.03;
  if (!(sweepProbability >= 0 && sweepProbability <= 1)) throw new RangeError(`sweepProbability must be in [0, 1]: ${sweepProbability}`);
  const historyUntil = options.historyUntil ?? Number.NEGATIVE_INFINITY;
  if (options.historyUntil !== undefined) requireWhole(options.historyUntil, 'historyUntil', 0);
  const historyRate = options.historyRatePerSecond ?? meanRate;
  if (!(historyRate > 0) || !Number.isFinite(historyRate)) throw new RangeError(`historyRatePerSecond must be > 0: ${historyRate}`);
  const specs = options.symbolSpecs ?? syntheticSymbols(options.seed, options.symbols);
  if (specs.length !== options.symbols) {
    throw new RangeError(`symbolSpecs has ${specs.length} entries but symbols is ${options.symbols}`);
  }
  const seen = new Set<string>();
  for (const spec of specs) {
    if (seen.has(spec.symbol)) throw new RangeError(`duplicate symbol ${spec.symbol}`);
    seen.add(spec.symbol);
  }
  return {
    seed: options.seed,
    startTime: options.startTime,
    trades: options.trades,
    meanRate,
    zipf,
    quietPeriods,
    burstiness,
    sweepProbability,
    historyUntil,
    historyRate,
    specs,
  };
}
