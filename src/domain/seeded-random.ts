/**
 * A small, fast, seeded pseudo-random generator (sfc32, seeded through splitmix32) for synthetic data in tests and
 * benchmarks. Same seed ⇒ same sequence on every platform: only 32-bit integer operations and IEEE doubles are used.
 * Not for anything security related.
 */

const TWO_POW_32 = 4294967296;

/** splitmix32 step: a good 32-bit mixer used for seeding and hashing. */
function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Folds any finite number (not only 32-bit integers) into 32 bits. */
function fold(value: number): number {
  if (!Number.isFinite(value)) throw new RangeError(`seed must be finite: ${value}`);
  const integer = Math.trunc(value);
  const lo = integer >>> 0;
  const hi = Math.floor(integer / TWO_POW_32) >>> 0;
  const fractionBits = Math.floor((value - integer) * TWO_POW_32) >>> 0;
  return splitmix32(lo ^ splitmix32(hi ^ splitmix32(fractionBits)));
}

/** Hashes a seed and any number of extra integers (stream ids, indices) into one 32-bit seed. */
export function hashSeed(seed: number, ...parts: readonly number[]): number {
  let h = fold(seed);
  for (const part of parts) h = splitmix32(h ^ fold(part));
  return h;
}

export class SeededRandom {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  /** Second Box–Muller deviate, or NaN when none is cached. */
  #spareNormal: number = Number.NaN;

  constructor(seed: number) {
    let s = fold(seed);
    s = splitmix32(s);
    this.#a = s;
    s = splitmix32(s);
    this.#b = s;
    s = splitmix32(s);
    this.#c = s;
    this.#d = 1;
    for (let i = 0; i < 15; i++) this.uint32();
  }

  /** Uniform 32-bit unsigned integer. */
  uint32(): number {
    const a = this.#a;
    const b = this.#b;
    const c = this.#c;
    const d = this.#d;
    const t = (((a + b) | 0) + d) | 0;
    this.#d = (d + 1) | 0;
    this.#a = b ^ (b >>> 9);
    this.#b = (c + (c << 3)) | 0;
    const r = (c << 21) | (c >>> 11);
    this.#c = (r + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.uint32() / TWO_POW_32;
  }

  /** Uniform in (0, 1]: safe to take the logarithm of. */
  nextOpen(): number {
    return (this.uint32() + 1) / TWO_POW_32;
  }

  /** Uniform integer in [0, maxExclusive); maxExclusive ≤ 2^32. */
  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }

  /** Uniform in [min, max). */
  uniform(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.int(items.length)] as T;
  }

  /** Exponential with the given mean. */
  exponential(mean: number): number {
    return -Math.log(this.nextOpen()) * mean;
  }

  /** Standard normal (Box–Muller, the second deviate is cached). */
  normal(): number {
    const spare = this.#spareNormal;
    if (spare === spare) {
      this.#spareNormal = Number.NaN;
      return spare;
    }
    const radius = Math.sqrt(-2 * Math.log(this.nextOpen()));
    const angle = 2 * Math.PI * this.next();
    this.#spareNormal = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  }

  /** exp(N(mu, sigma²)). */
  logNormal(mu: number, sigma: number): number {
    return Math.exp(mu + sigma * this.normal());
  }

  /** Pareto with minimum `scale` and tail index `alpha` (heavier tail for smaller alpha). */
  pareto(scale: number, alpha: number): number {
    return scale * Math.pow(this.nextOpen(), -1 / alpha);
  }
}
