/**
 * Settings shared by the fuzz tests (test/fuzz): a fixed seed by default, so every run draws the same inputs and a
 * failure reproduces; `KLAGG_FUZZ_SEED` to draw others and `KLAGG_FUZZ_RUNS` (a multiplier, e.g. 10) to draw more.
 * fast-check prints the seed and the shrunk counterexample of a failure; `fuzzTitle` states the run count in each
 * test's name.
 */
import fc from 'fast-check';

const DEFAULT_SEED = 20261207;

function envNumber(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return value;
}

/** The seed of every fuzz property in this process. */
export const FUZZ_SEED: number = envNumber('KLAGG_FUZZ_SEED') ?? DEFAULT_SEED;

/** `base` runs scaled by `KLAGG_FUZZ_RUNS` (at least 1). */
export function fuzzRuns(base: number): number {
  return Math.max(1, Math.round(base * (envNumber('KLAGG_FUZZ_RUNS') ?? 1)));
}

/** fast-check parameters for `runs` runs (already scaled) on the shared seed. */
export function fuzzParameters<T>(runs: number): fc.Parameters<T> {
  return { numRuns: runs, seed: FUZZ_SEED };
}

/** `10000 random frames …`: the run count a test performs, in its name. */
export function fuzzTitle(runs: number, what: string): string {
  return `${runs} ${what}`;
}
