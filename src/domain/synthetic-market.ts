/**
 * Seeded generator of realistic Binance USDⓈ-M futures aggTrade streams, for tests and benchmarks.
 *
 * - Symbols get Binance-like tick sizes ("0.10" … "0.0000001"), step sizes ("0.001" … "1") and start prices on
 *   their tick grid.
 * - Prices are random walks on the tick grid with a one-tick bid/ask spread (trades bounce between bid and ask by
 *   taker side) and occasional sweeps (several aggTrades in the same millisecond walking the book in one direction).
 *   A price never leaves the grid and never reaches 0.
 * - Quantities are whole multiples of the step size with a heavy (Pareto) tailed notional.
 * - Prices and quantities are scaled integers (exact doubles below 2^53) printed by string padding with exactly the
 *   decimals of the tick / step string; no float is ever formatted.
 * - Activity is Zipf-skewed across symbols, bursty in time (a regime-switching Poisson process with occasional
 *   short bursts), and symbols (except the most active few) fall asleep for 2 minutes or more at a time (mean ~4.5),
 *   the quieter ones more often, so empty klines occur.
 *   Some symbols also get "hot" for a while (several times their usual share of the flow, higher volatility).
 * - Per symbol: aggId increases by exactly 1, raw trade ids are contiguous (firstTradeId = previous lastTradeId + 1,
 *   1–20 raw trades per aggregate), trade times are non-decreasing; globally trade times are non-decreasing.
 *
 * Everything derives from `seed`: same seed and options ⇒ identical output.
 */

import type { AggTrade } from './agg-trade.ts';
import { SeededRandom, hashSeed } from './seeded-random.ts';

export interface SyntheticSymbol {
  readonly symbol: string;
  readonly tickSize: string;
  readonly stepSize: string;
  readonly startPrice: string;
}

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
}

/** Tick sizes used, coarsest first (as Binance prints them: a 0.1 tick is "0.10"). */
export const SYNTHETIC_TICK_SIZES: readonly string[] = [
  '0.10',
  '0.01',
  '0.001',
  '0.0001',
  '0.00001',
  '0.000001',
  '0.0000001',
];

/** Step sizes used, finest first. */
export const SYNTHETIC_STEP_SIZES: readonly string[] = ['0.001', '0.01', '0.1', '1'];

/**
 * Real-looking bases, roughly in order of futures activity, with a typical USDT price and, for the majors, the tick
 * and step sizes Binance uses (others get sizes derived from the price).
 */
const KNOWN_BASES: readonly (readonly [base: string, price: number, tickSize?: string, stepSize?: string])[] = [
  ['BTC', 67231.4, '0.10', '0.001'],
  ['ETH', 3480, '0.01', '0.001'],
  ['SOL', 152, '0.01', '1'],
  ['XRP', 0.52, '0.0001', '0.1'],
  ['DOGE', 0.124, '0.00001', '1'],
  ['BNB', 585, '0.01', '0.01'],
  ['1000PEPE', 0.0118, '0.0000001', '1'],
  ['SUI', 1.12, '0.0001', '0.1'],
  ['ADA', 0.45, '0.0001', '1'],
  ['WIF', 2.4, '0.0001', '0.1'],
  ['AVAX', 35.2, '0.001', '1'],
  ['LINK', 14.3, '0.001', '0.01'],
  ['LTC', 82, '0.01', '0.001'],
  ['ENA', 0.62, '0.0001', '1'],
  ['TRX', 0.121, '0.00001', '1'],
  ['DOT', 6.9, '0.001', '0.1'],
  ['BCH', 455, '0.01', '0.001'],
  ['NEAR', 5.8, '0.001', '1'],
  ['1000SHIB', 0.0234, '0.000001', '1'],
  ['APT', 8.9, '0.0001', '0.1'],
  ['ARB', 0.98],
  ['OP', 2.2],
  ['FIL', 5.1],
  ['UNI', 9.6],
  ['ATOM', 8.1],
  ['ETC', 25.7],
  ['INJ', 24.3],
  ['TIA', 7.9],
  ['SEI', 0.48],
  ['WLD', 2.6],
  ['ORDI', 38.5],
  ['1000BONK', 0.0261],
  ['FET', 1.45],
  ['RENDER', 7.3],
  ['JUP', 1.05],
  ['STX', 1.9],
  ['AAVE', 98],
  ['MKR', 2450],
  ['PENDLE', 4.8],
  ['TON', 6.7],
  ['ONDO', 1.02],
  ['1000FLOKI', 0.182],
  ['GALA', 0.0281],
  ['HBAR', 0.0872],
  ['ALGO', 0.171],
  ['XLM', 0.108],
  ['VET', 0.0279],
  ['SAND', 0.38],
  ['MANA', 0.39],
  ['CHZ', 0.092],
  ['CRV', 0.36],
  ['DYDX', 1.7],
  ['JASMY', 0.0231],
  ['LDO', 1.9],
  ['IMX', 1.6],
  ['KAS', 0.165],
  ['NOT', 0.0152],
  ['PEOPLE', 0.0925],
  ['BOME', 0.0098],
  ['1000SATS', 0.000268],
  ['SLP', 0.00342],
  ['SPELL', 0.00081],
];

const NAME_ONSETS: readonly string[] = [
  'B', 'C', 'D', 'F', 'G', 'H', 'J', 'K', 'L', 'M', 'N', 'P', 'Q', 'R', 'S', 'T', 'V', 'W', 'X', 'Z',
  'BL', 'BR', 'CR', 'DR', 'FL', 'GL', 'GR', 'KR', 'PL', 'PR', 'SK', 'SP', 'ST', 'TR', 'ZK',
];
const NAME_VOWELS: readonly string[] = ['A', 'E', 'I', 'O', 'U', 'Y', 'AI', 'EO', 'OO'];
const NAME_CODAS: readonly string[] = ['', '', '', 'N', 'X', 'R', 'T', 'K', 'S', 'M', 'L'];

/** Prints `units · 10^-decimals` with exactly `decimals` decimals; `units` a non-negative safe integer. */
function formatUnits(units: number, decimals: number): string {
  const digits = String(units);
  if (decimals === 0) return digits;
  const padded = digits.length > decimals ? digits : '0'.repeat(decimals + 1 - digits.length) + digits;
  const cut = padded.length - decimals;
  return padded.slice(0, cut) + '.' + padded.slice(cut);
}

interface Scaled {
  readonly units: number;
  readonly decimals: number;
}

const PLAIN_DECIMAL = /^(\d+)(?:\.(\d+))?$/;

function parseUnits(text: string, what: string): Scaled {
  const match = PLAIN_DECIMAL.exec(text);
  if (!match) throw new RangeError(`${what} is not a plain decimal: ${JSON.stringify(text)}`);
  const fraction = match[2] ?? '';
  const units = Number((match[1] ?? '') + fraction);
  if (!Number.isSafeInteger(units)) throw new RangeError(`${what} has too many digits: ${text}`);
  return { units, decimals: fraction.length };
}

function tickSizeFor(exponent: number): string {
  return SYNTHETIC_TICK_SIZES[-1 - exponent] as string;
}

function stepSizeFor(exponent: number): string {
  return SYNTHETIC_STEP_SIZES[3 + exponent] as string;
}

function inventBase(random: SeededRandom, used: ReadonlySet<string>, index: number): string {
  for (let attempt = 0; attempt < 64; attempt++) {
    let name = random.pick(NAME_ONSETS) + random.pick(NAME_VOWELS);
    if (random.chance(0.55)) name += random.pick(NAME_ONSETS) + random.pick(NAME_VOWELS);
    name += random.pick(NAME_CODAS);
    if (name.length >= 3 && name.length <= 8 && !used.has(name)) return name;
  }
  let fallback = `SYM${String(index).padStart(3, '0')}`;
  while (used.has(fallback)) fallback += 'X';
  return fallback;
}

/**
 * `count` unique symbols (upper case, ending in USDT), most active first. Deterministic in `seed`; a shorter list is a
 * prefix of a longer one for the same seed. The first ones carry real-looking names (BTCUSDT, ETHUSDT, …) with prices
 * near real ones, the rest invented names with log-uniform prices from ~0.0005 to ~80.
 */
export function syntheticSymbols(seed: number, count: number): SyntheticSymbol[] {
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`symbol count must be a whole number ≥ 0: ${count}`);
  const result: SyntheticSymbol[] = [];
  const usedBases = new Set<string>();
  for (let i = 0; i < count; i++) {
    const random = new SeededRandom(hashSeed(seed, 0x5157, i));
    const known = KNOWN_BASES[i];
    let base: string;
    let price: number;
    if (known !== undefined) {
      base = known[0];
      price = known[1] * random.logNormal(0, 0.15);
    } else {
      base = inventBase(random, usedBases, i);
      price = Math.pow(10, random.uniform(-3.3, 1.9));
    }
    usedBases.add(base);

    // Derived sizes: ~10^3.5–10^5 ticks per price and coarser steps for cheaper coins, as on Binance.
    const magnitude = Math.floor(Math.log10(price));
    const tickExponent = Math.min(-1, Math.max(-7, magnitude - 4 + (random.chance(0.4) ? 1 : 0)));
    let stepExponent = price >= 1000 ? -3 : price >= 50 ? -2 : price >= 5 ? -1 : 0;
    if (random.chance(0.25)) stepExponent = Math.max(-3, stepExponent - 1);
    const tickSize = known?.[2] ?? tickSizeFor(tickExponent);
    const stepSize = known?.[3] ?? stepSizeFor(stepExponent);

    const tick = parseUnits(tickSize, 'tick size');
    const ticks = Math.max(1, Math.round((price * Math.pow(10, tick.decimals)) / tick.units));
    result.push({
      symbol: `${base}USDT`,
      tickSize,
      stepSize,
      startPrice: formatUnits(ticks * tick.units, tick.decimals),
    });
  }
  return result;
}

const ASLEEP = 0;
const NORMAL = 1;
const HOT = 2;

interface SymbolState {
  readonly symbol: string;
  readonly tickUnits: number;
  readonly priceDecimals: number;
  readonly stepUnits: number;
  readonly qtyDecimals: number;
  /** Value of one tick / one step as a double: used for magnitudes only (sizing), never for printing. */
  readonly tickValue: number;
  readonly stepValue: number;
  readonly baseWeight: number;
  /** Per-trade relative volatility of the bid. */
  readonly sigmaRel: number;
  readonly sleepProbability: number;
  /** Pareto minimum of a trade's notional in USDT. */
  readonly notionalScale: number;
  /** Current bid in ticks (≥ 1); the ask is one tick above. */
  bidTicks: number;
  nextAggId: number;
  nextTradeId: number;
  activity: number;
  activityEnd: number;
  weight: number;
  volatilityMultiplier: number;
}

const MINUTE = 60_000;
/** Upper bound on a single trade's quantity in steps: keeps scaled integers far below 2^53. */
const MAX_QTY_STEPS = 1e12;
const MAX_RAW_TRADES = 20;
/** Pareto tail index of a trade's notional, and its cap (as a multiple of the symbol's minimum notional). */
const QTY_TAIL_ALPHA = 1.1;
const MAX_QTY_TAIL = 50_000;
const PRICE_MOVE_PROBABILITY = 0.35;
const MIN_TICK_MOVE_PROBABILITY = 0.015;
const SWEEP_PERMANENT_IMPACT = 0.25;

const REGIME_BURST_PROBABILITY = 0.08;
const REGIME_NORMAL_MIN_MS = 5_000;
const REGIME_NORMAL_MEAN_EXTRA_MS = 30_000;
const REGIME_BURST_MIN_MS = 2_000;
const REGIME_BURST_MEAN_EXTRA_MS = 3_000;
const REGIME_BURST_MEAN_MULTIPLIER = 8; // uniform 4–12

function requireWhole(value: number, name: string, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) throw new RangeError(`${name} must be a whole number ≥ ${min}: ${value}`);
}

/**
 * Yields `options.trades` aggTrades across `options.symbols` symbols in non-decreasing trade-time order, the first
 * at exactly `options.startTime`. Options are validated (RangeError) when iteration starts, as for any generator.
 */
export function* generateTrades(options: SyntheticMarketOptions): Generator<AggTrade> {
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
  const specs = options.symbolSpecs ?? syntheticSymbols(options.seed, options.symbols);
  if (specs.length !== options.symbols) {
    throw new RangeError(`symbolSpecs has ${specs.length} entries but symbols is ${options.symbols}`);
  }
  const seen = new Set<string>();
  for (const spec of specs) {
    if (seen.has(spec.symbol)) throw new RangeError(`duplicate symbol ${spec.symbol}`);
    seen.add(spec.symbol);
  }

  const random = new SeededRandom(hashSeed(options.seed, 0x7a3d));
  const count = specs.length;
  const startTime = options.startTime;
  // The most active symbols (BTC, ETH, … ; at least the first) never go quiet.
  const alwaysAwake = Math.max(1, Math.min(10, Math.floor(count / 10)));

  // ---- per-symbol state -------------------------------------------------------------------------------------------
  const states: SymbolState[] = specs.map((spec, rank): SymbolState => {
    const tick = parseUnits(spec.tickSize, `${spec.symbol} tick size`);
    const step = parseUnits(spec.stepSize, `${spec.symbol} step size`);
    const start = parseUnits(spec.startPrice, `${spec.symbol} start price`);
    if (tick.units <= 0 || step.units <= 0) throw new RangeError(`${spec.symbol}: tick and step sizes must be > 0`);
    if (start.decimals > tick.decimals) throw new RangeError(`${spec.symbol}: start price ${spec.startPrice} is off the tick grid`);
    const startUnits = start.units * Math.pow(10, tick.decimals - start.decimals);
    if (!Number.isSafeInteger(startUnits) || startUnits % tick.units !== 0 || startUnits <= 0) {
      throw new RangeError(`${spec.symbol}: start price ${spec.startPrice} is not a positive multiple of ${spec.tickSize}`);
    }
    const relativeRank = count > 1 ? rank / (count - 1) : 0;
    const aggStart = 1_000_000 + random.int(2_000_000_000);
    return {
      symbol: spec.symbol,
      tickUnits: tick.units,
      priceDecimals: tick.decimals,
      stepUnits: step.units,
      qtyDecimals: step.decimals,
      tickValue: tick.units / Math.pow(10, tick.decimals),
      stepValue: step.units / Math.pow(10, step.decimals),
      baseWeight: Math.pow(rank + 1, -zipf) * random.logNormal(0, 0.3),
      sigmaRel: 1.2e-5 * (1 + 3 * relativeRank) * random.logNormal(0, 0.3),
      sleepProbability: quietPeriods && rank >= alwaysAwake ? 0.05 + 0.55 * Math.pow(relativeRank, 0.7) : 0,
      notionalScale: (rank < 10 ? 40 : 12) * random.logNormal(0, 0.4),
      bidTicks: startUnits / tick.units,
      nextAggId: aggStart,
      nextTradeId: aggStart * 3 + random.int(1_000_000_000),
      activity: NORMAL,
      activityEnd: 0,
      weight: 0,
      volatilityMultiplier: 1,
    };
  });

  function enter(state: SymbolState, activity: number, now: number, fraction: number): void {
    state.activity = activity;
    if (activity === ASLEEP) {
      state.activityEnd = now + fraction * (2 * MINUTE + random.exponential(2.5 * MINUTE));
      state.weight = 0;
      state.volatilityMultiplier = 1;
    } else if (activity === HOT) {
      state.activityEnd = now + fraction * (10_000 + random.exponential(30_000));
      state.weight = state.baseWeight * (3 + 12 * random.next());
      state.volatilityMultiplier = 2.5;
    } else {
      state.activityEnd = now + fraction * (20_000 + random.exponential(4 * MINUTE));
      state.weight = state.baseWeight;
      state.volatilityMultiplier = 1;
    }
  }

  function transition(state: SymbolState, now: number): void {
    if (state.activity !== NORMAL) {
      enter(state, NORMAL, now, 1);
      return;
    }
    const r = random.next();
    if (r < state.sleepProbability) enter(state, ASLEEP, now, 1);
    else if (r < state.sleepProbability + 0.12) enter(state, HOT, now, 1);
    else enter(state, NORMAL, now, 1);
  }

  // Desynchronised initial states: some symbols start asleep, part-way through their current state.
  for (const state of states) {
    const r = random.next();
    const initial = r < state.sleepProbability * 0.4 ? ASLEEP : r > 0.97 ? HOT : NORMAL;
    enter(state, initial, startTime, random.nextOpen());
  }

  // ---- weighted symbol choice: Fenwick tree over the current weights, rebuilt whenever activity changes ----------
  const tree = new Float64Array(count + 1);
  let topBit = 1;
  while (topBit * 2 <= count) topBit *= 2;
  let totalWeight = 0;
  let nextActivityChange = Infinity;

  function rebuild(): void {
    totalWeight = 0;
    nextActivityChange = Infinity;
    tree[0] = 0;
    for (let i = 0; i < count; i++) {
      const state = states[i]!;
      tree[i + 1] = state.weight;
      totalWeight += state.weight;
      if (state.activityEnd < nextActivityChange) nextActivityChange = state.activityEnd;
    }
    for (let i = 1; i <= count; i++) {
      const parent = i + (i & -i);
      if (parent <= count) tree[parent]! += tree[i]!;
    }
  }

  function pickSymbol(): SymbolState {
    let remaining = random.next() * totalWeight;
    let position = 0;
    for (let bit = topBit; bit > 0; bit >>= 1) {
      const next = position + bit;
      if (next <= count && tree[next]! <= remaining) {
        position = next;
        remaining -= tree[next]!;
      }
    }
    let state = states[position];
    if (state === undefined || state.weight <= 0) {
      // Rounding at the very end of the cumulative range: take the last symbol with weight.
      position = count - 1;
      while (position > 0 && states[position]!.weight <= 0) position--;
      state = states[position]!;
    }
    return state;
  }

  function updateActivity(now: number): void {
    for (const state of states) {
      while (state.activityEnd <= now) transition(state, now);
    }
    rebuild();
  }

  // ---- market-wide rate regimes ----------------------------------------------------------------------------------
  const normalShare = (1 - REGIME_BURST_PROBABILITY) * (REGIME_NORMAL_MIN_MS + REGIME_NORMAL_MEAN_EXTRA_MS);
  const burstShare = REGIME_BURST_PROBABILITY * (REGIME_BURST_MIN_MS + REGIME_BURST_MEAN_EXTRA_MS);
  // Time-weighted mean of the raw multipliers, so the long-run rate is meanRate.
  const regimeNorm = (normalShare + burstShare * REGIME_BURST_MEAN_MULTIPLIER) / (normalShare + burstShare);
  let regimeMultiplier = 1;
  let regimeEnd = Infinity;

  function nextRegime(now: number, fraction: number): void {
    if (burstiness === 0) {
      regimeMultiplier = 1;
      regimeEnd = Infinity;
    } else if (random.chance(REGIME_BURST_PROBABILITY)) {
      regimeMultiplier = (4 + 8 * random.next()) / regimeNorm;
      regimeEnd = now + fraction * (REGIME_BURST_MIN_MS + random.exponential(REGIME_BURST_MEAN_EXTRA_MS));
    } else {
      regimeMultiplier = random.logNormal(-0.5 * burstiness * burstiness, burstiness) / regimeNorm;
      regimeEnd = now + fraction * (REGIME_NORMAL_MIN_MS + random.exponential(REGIME_NORMAL_MEAN_EXTRA_MS));
    }
  }

  // ---- trades ----------------------------------------------------------------------------------------------------
  function makeTrade(state: SymbolState, priceTicks: number, buyerIsMaker: boolean, tradeTime: number): AggTrade {
    let tail = random.pareto(1, QTY_TAIL_ALPHA);
    if (tail > MAX_QTY_TAIL) tail = MAX_QTY_TAIL;
    const notional = state.notionalScale * tail;
    let steps = Math.round(notional / (priceTicks * state.tickValue * state.stepValue));
    if (steps < 1) steps = 1;
    else if (steps > MAX_QTY_STEPS) steps = MAX_QTY_STEPS;
    // Bigger orders fill against more resting orders.
    let raw = 1 + Math.floor(random.exponential(0.7 + 0.8 * Math.log10(tail)));
    if (raw > MAX_RAW_TRADES) raw = MAX_RAW_TRADES;
    const firstTradeId = state.nextTradeId;
    state.nextTradeId = firstTradeId + raw;
    return {
      symbol: state.symbol,
      aggId: state.nextAggId++,
      price: formatUnits(priceTicks * state.tickUnits, state.priceDecimals),
      qty: formatUnits(steps * state.stepUnits, state.qtyDecimals),
      firstTradeId,
      lastTradeId: firstTradeId + raw - 1,
      tradeTime,
      buyerIsMaker,
    };
  }

  const total = options.trades;
  let emitted = 0;
  let now = startTime;
  nextRegime(now, random.nextOpen());
  rebuild();

  while (emitted < total) {
    if (emitted > 0) {
      // Piecewise-constant-rate Poisson process: redraw the wait when a regime ends before the next trade.
      for (;;) {
        const wait = random.exponential(1000 / (meanRate * regimeMultiplier));
        if (now + wait < regimeEnd) {
          now += wait;
          break;
        }
        now = regimeEnd;
        nextRegime(now, 1);
      }
    }
    if (now >= nextActivityChange) updateActivity(now);

    const state = pickSymbol();
    const tradeTime = Math.floor(now);

    if (random.next() < sweepProbability) {
      // A market order walking the book: same millisecond, same side, one tick further each fill.
      let levels = 2 + Math.floor(random.exponential(2.5));
      if (levels > 12) levels = 12;
      if (levels > total - emitted) levels = total - emitted;
      const takerBuys = random.chance(0.5);
      const bidBefore = state.bidTicks;
      let priceTicks = takerBuys ? bidBefore + 1 : bidBefore;
      for (let level = 0; level < levels; level++) {
        yield makeTrade(state, priceTicks, !takerBuys, tradeTime);
        emitted++;
        if (level + 1 < levels) {
          if (takerBuys) priceTicks++;
          else if (priceTicks > 1) priceTicks--;
        }
      }
      // The book refills behind the sweep: only about a quarter of its reach is permanent impact.
      const impact = Math.round((levels - 1) * SWEEP_PERMANENT_IMPACT);
      state.bidTicks = takerBuys ? bidBefore + impact : Math.max(1, bidBefore - impact);
      continue;
    }

    // Bid random walk with per-trade variance PRICE_MOVE_PROBABILITY · sigma²: Gaussian jumps when sigma is a tick or
    // more, single-tick moves with matching probability (floored, so coarse-tick coins still move) below that.
    let move = 0;
    const sigmaTicks = state.bidTicks * state.sigmaRel * state.volatilityMultiplier;
    if (sigmaTicks >= 1) {
      if (random.next() < PRICE_MOVE_PROBABILITY) move = Math.round(random.normal() * sigmaTicks);
    } else {
      const u = random.next();
      const p = Math.max(MIN_TICK_MOVE_PROBABILITY, PRICE_MOVE_PROBABILITY * sigmaTicks * sigmaTicks);
      if (u < p) move = u < 0.5 * p ? 1 : -1;
    }
    if (move !== 0) {
      const bid = state.bidTicks + move;
      state.bidTicks = bid >= 1 ? bid : 1;
    }
    // Takers lift the ask on up-moves more often than they hit the bid, and vice versa.
    const takerBuys = random.next() < (move > 0 ? 0.72 : move < 0 ? 0.28 : 0.5);
    yield makeTrade(state, takerBuys ? state.bidTicks + 1 : state.bidTicks, !takerBuys, tradeTime);
    emitted++;
  }
}
