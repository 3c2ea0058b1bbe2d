/**
 * Weighted choice of the next trading symbol of the synthetic market: a Fenwick tree over the symbols' current
 * weights, so a pick costs O(log n) even with thousands of symbols. Weights change only when a symbol's activity does,
 * so the tree is rebuilt then (the generator watches `nextActivityChange`), not per trade.
 */

import type { SeededRandom } from './seeded-random.ts';
import type { SymbolState } from './synthetic-symbol-activity.ts';

export class WeightedSymbolPicker {
  readonly #states: readonly SymbolState[];
  readonly #random: SeededRandom;
  readonly #count: number;
  readonly #tree: Float64Array;
  readonly #topBit: number;
  #totalWeight = 0;
  #nextActivityChange = Infinity;

  constructor(states: readonly SymbolState[], random: SeededRandom) {
    this.#states = states;
    this.#random = random;
    this.#count = states.length;
    this.#tree = new Float64Array(this.#count + 1);
    let topBit = 1;
    while (topBit * 2 <= this.#count) topBit *= 2;
    this.#topBit = topBit;
  }

  /** The earliest end of any symbol's current activity, as of the last `rebuild`. */
  get nextActivityChange(): number {
    return this.#nextActivityChange;
  }

  /** Re-reads every symbol's weight and activity end. */
  rebuild(): void {
    const tree = this.#tree;
    const count = this.#count;
    this.#totalWeight = 0;
    this.#nextActivityChange = Infinity;
    tree[0] = 0;
    for (let i = 0; i < count; i++) {
      const state = this.#states[i]!;
      tree[i + 1] = state.weight;
      this.#totalWeight += state.weight;
      if (state.activityEnd < this.#nextActivityChange) this.#nextActivityChange = state.activityEnd;
    }
    for (let i = 1; i <= count; i++) {
      const parent = i + (i & -i);
      if (parent <= count) tree[parent]! += tree[i]!;
    }
  }

  /** A symbol drawn with probability proportional to its weight (one draw from the random source). */
  pick(): SymbolState {
    const tree = this.#tree;
    const count = this.#count;
    const states = this.#states;
    let remaining = this.#random.next() * this.#totalWeight;
    let position = 0;
    for (let bit = this.#topBit; bit > 0; bit >>= 1) {
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
}
