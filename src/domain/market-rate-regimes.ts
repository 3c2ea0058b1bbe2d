/**
 * The synthetic market's whole-market trade rate: piecewise constant, switching between regimes of ~5–60 s whose
 * multiplier is log-normal (σ = burstiness), with occasional short bursts at ~8× the mean rate. Multipliers are
 * normalised by their time-weighted mean so the long-run rate stays the requested mean. Burstiness 0 gives a plain
 * Poisson process at the mean rate, without bursts.
 */

import type { SeededRandom } from './seeded-random.ts';

const REGIME_BURST_PROBABILITY = 0.08;
const REGIME_NORMAL_MIN_MS = 5_000;
const REGIME_NORMAL_MEAN_EXTRA_MS = 30_000;
const REGIME_BURST_MIN_MS = 2_000;
const REGIME_BURST_MEAN_EXTRA_MS = 3_000;
const REGIME_BURST_MEAN_MULTIPLIER = 8; // uniform 4–12

const normalShare = (1 - REGIME_BURST_PROBABILITY) * (REGIME_NORMAL_MIN_MS + REGIME_NORMAL_MEAN_EXTRA_MS);
const burstShare = REGIME_BURST_PROBABILITY * (REGIME_BURST_MIN_MS + REGIME_BURST_MEAN_EXTRA_MS);
// Time-weighted mean of the raw multipliers, so the long-run rate is meanRate.
const regimeNorm = (normalShare + burstShare * REGIME_BURST_MEAN_MULTIPLIER) / (normalShare + burstShare);

export class RateRegimes {
  readonly #random: SeededRandom;
  readonly #burstiness: number;
  /** Current rate ÷ mean rate. */
  multiplier = 1;
  /** Market time the current regime ends at. */
  end = Infinity;

  constructor(random: SeededRandom, burstiness: number) {
    this.#random = random;
    this.#burstiness = burstiness;
  }

  /** Starts the next regime at `now`; `fraction` (0–1] of its drawn duration remains. */
  next(now: number, fraction: number): void {
    const random = this.#random;
    const burstiness = this.#burstiness;
    if (burstiness === 0) {
      this.multiplier = 1;
      this.end = Infinity;
    } else if (random.chance(REGIME_BURST_PROBABILITY)) {
      this.multiplier = (4 + 8 * random.next()) / regimeNorm;
      this.end = now + fraction * (REGIME_BURST_MIN_MS + random.exponential(REGIME_BURST_MEAN_EXTRA_MS));
    } else {
      this.multiplier = random.logNormal(-0.5 * burstiness * burstiness, burstiness) / regimeNorm;
      this.end = now + fraction * (REGIME_NORMAL_MIN_MS + random.exponential(REGIME_NORMAL_MEAN_EXTRA_MS));
    }
  }
}
