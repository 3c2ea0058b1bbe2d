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
 *
 * This file holds the generator itself (the clock, the price walk, sweeps and trade sizing); its parts live beside it:
 * the symbols in synthetic-symbols.ts, the options in synthetic-market-options.ts, the activity cycle in
 * synthetic-symbol-activity.ts, the weighted symbol choice in weighted-symbol-picker.ts, the rate regimes in
 * market-rate-regimes.ts and the scaled-integer printing in synthetic-units.ts.
 */

import type { AggTrade } from './agg-trade.ts';
import { RateRegimes } from './market-rate-regimes.ts';
import { SeededRandom, hashSeed } from './seeded-random.ts';
import { resolveMarketOptions, type SyntheticMarketOptions } from './synthetic-market-options.ts';
import { advanceActivities, createSymbolStates, desynchronise, type SymbolState } from './synthetic-symbol-activity.ts';
import { formatUnits } from './synthetic-units.ts';
import { WeightedSymbolPicker } from './weighted-symbol-picker.ts';

/** Upper bound on a single trade's quantity in steps: keeps scaled integers far below 2^53. */
const MAX_QTY_STEPS = 1e12;
const MAX_RAW_TRADES = 20;
/** Pareto tail index of a trade's notional, and its cap (as a multiple of the symbol's minimum notional). */
const QTY_TAIL_ALPHA = 1.1;
const MAX_QTY_TAIL = 50_000;
const PRICE_MOVE_PROBABILITY = 0.35;
const MIN_TICK_MOVE_PROBABILITY = 0.015;
const SWEEP_PERMANENT_IMPACT = 0.25;

/** One aggTrade of the symbol at `priceTicks`, sized from a Pareto notional; advances the symbol's ids. */
function makeTrade(random: SeededRandom, state: SymbolState, priceTicks: number, buyerIsMaker: boolean, tradeTime: number, sizeMultiplier: number): AggTrade {
  let tail = random.pareto(1, QTY_TAIL_ALPHA);
  if (tail > MAX_QTY_TAIL) tail = MAX_QTY_TAIL;
  const notional = state.notionalScale * tail * sizeMultiplier;
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

/**
 * Yields `options.trades` aggTrades across `options.symbols` symbols in non-decreasing trade-time order, the first
 * at exactly `options.startTime`. Options are validated (RangeError) when iteration starts, as for any generator.
 */
export function* generateTrades(options: SyntheticMarketOptions): Generator<AggTrade> {
  const { meanRate, sweepProbability, specs, startTime, zipf, quietPeriods, burstiness, historyUntil, historyRate } = resolveMarketOptions(options);
  // The quieter past's trades are bigger and move the price further, so volume and variance per unit of time match.
  const historySize = meanRate / historyRate;
  const historyVolatility = Math.sqrt(historySize);

  const random = new SeededRandom(hashSeed(options.seed, 0x7a3d));
  const states = createSymbolStates(specs, random, zipf, quietPeriods);
  desynchronise(random, states, startTime);
  const picker = new WeightedSymbolPicker(states, random);
  const regimes = new RateRegimes(random, burstiness);

  const total = options.trades;
  let emitted = 0;
  let now = startTime;
  regimes.next(now, random.nextOpen());
  picker.rebuild();

  while (emitted < total) {
    if (emitted > 0) {
      // Piecewise-constant-rate Poisson process: redraw the wait when a regime (or the past) ends before the next trade.
      for (;;) {
        const past = now < historyUntil;
        const wait = random.exponential(1000 / ((past ? historyRate : meanRate) * regimes.multiplier));
        const end = past && historyUntil < regimes.end ? historyUntil : regimes.end;
        if (now + wait < end) {
          now += wait;
          break;
        }
        now = end;
        if (end === regimes.end) regimes.next(now, 1);
      }
    }
    if (now >= picker.nextActivityChange) {
      advanceActivities(random, states, now);
      picker.rebuild();
    }

    const state = picker.pick();
    const tradeTime = Math.floor(now);
    const past = now < historyUntil;
    const size = past ? historySize : 1;

    if (random.next() < sweepProbability) {
      // A market order walking the book: same millisecond, same side, one tick further each fill.
      let levels = 2 + Math.floor(random.exponential(2.5));
      if (levels > 12) levels = 12;
      if (levels > total - emitted) levels = total - emitted;
      const takerBuys = random.chance(0.5);
      const bidBefore = state.bidTicks;
      let priceTicks = takerBuys ? bidBefore + 1 : bidBefore;
      for (let level = 0; level < levels; level++) {
        yield makeTrade(random, state, priceTicks, !takerBuys, tradeTime, size);
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
    const sigmaTicks = state.bidTicks * state.sigmaRel * state.volatilityMultiplier * (past ? historyVolatility : 1);
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
    yield makeTrade(random, state, takerBuys ? state.bidTicks + 1 : state.bidTicks, !takerBuys, tradeTime, size);
    emitted++;
  }
}
