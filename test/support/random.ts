/** Seeded number sources for tests, on the project's own PRNG, so every run draws the same numbers. */
import { SeededRandom } from '../../src/domain/seeded-random.ts';

/** Uniform unsigned 32-bit integers. */
export function uint32Source(seed: number): () => number {
  const random = new SeededRandom(seed);
  return () => random.uint32();
}

/** Uniform numbers in [0, 1). */
export function unitSource(seed: number): () => number {
  const random = new SeededRandom(seed);
  return () => random.next();
}
