/**
 * Per-symbol state of the synthetic market and its activity cycle: a symbol is NORMAL, HOT (several times its usual
 * share of the flow, higher volatility) or ASLEEP (no trades for 2 minutes or more, so empty klines occur). The
 * quieter a symbol, the more often it sleeps; the most active few never do. Kept apart from the trade generator so
 * the cycle's timings can be read in one place.
 *
 * Every function draws from the generator's one SeededRandom, in a fixed order: output depends on that order.
 */

import type { SeededRandom } from './seeded-random.ts';
import type { SyntheticSymbol } from './synthetic-symbols.ts';
import { parseUnits } from './synthetic-units.ts';

export const ASLEEP = 0;
export const NORMAL = 1;
export const HOT = 2;

export interface SymbolState {
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

/**
 * One state per spec (rank = position: earlier is more active), checked against its tick grid (RangeError). The
 * activity is not set yet: see `desynchronise`.
 */
export function createSymbolStates(
  specs: readonly SyntheticSymbol[],
  random: SeededRandom,
  zipf: number,
  quietPeriods: boolean,
): SymbolState[] {
  const count = specs.length;
  // The most active symbols (BTC, ETH, … ; at least the first) never go quiet.
  const alwaysAwake = Math.max(1, Math.min(10, Math.floor(count / 10)));
  return specs.map((spec, rank): SymbolState => {
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
}

/** Puts the symbol in `activity` from `now`; `fraction` (0–1] of its drawn duration remains. */
function enter(random: SeededRandom, state: SymbolState, activity: number, now: number, fraction: number): void {
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

/** After ASLEEP or HOT comes NORMAL; after NORMAL, sleep, a hot spell or more of the same. */
function transition(random: SeededRandom, state: SymbolState, now: number): void {
  if (state.activity !== NORMAL) {
    enter(random, state, NORMAL, now, 1);
    return;
  }
  const r = random.next();
  if (r < state.sleepProbability) enter(random, state, ASLEEP, now, 1);
  else if (r < state.sleepProbability + 0.12) enter(random, state, HOT, now, 1);
  else enter(random, state, NORMAL, now, 1);
}

/** Desynchronised initial states: some symbols start asleep, part-way through their current state. */
export function desynchronise(random: SeededRandom, states: readonly SymbolState[], startTime: number): void {
  for (const state of states) {
    const r = random.next();
    const initial = r < state.sleepProbability * 0.4 ? ASLEEP : r > 0.97 ? HOT : NORMAL;
    enter(random, state, initial, startTime, random.nextOpen());
  }
}

/** Moves every symbol whose activity has ended by `now` on to its next one (several, if `now` skipped some). */
export function advanceActivities(random: SeededRandom, states: readonly SymbolState[], now: number): void {
  for (const state of states) {
    while (state.activityEnd <= now) transition(random, state, now);
  }
}
