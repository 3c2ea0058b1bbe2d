/**
 * Scaled-integer decimals for the synthetic market: a price or quantity is `units · 10^-decimals` with `units` a safe
 * integer, so the random walks stay exact (no float ever accumulates error) and printing is plain string padding with
 * exactly the decimals of the tick / step string — no float is ever formatted.
 */

export interface Scaled {
  readonly units: number;
  readonly decimals: number;
}

/** Prints `units · 10^-decimals` with exactly `decimals` decimals; `units` a non-negative safe integer. */
export function formatUnits(units: number, decimals: number): string {
  const digits = String(units);
  if (decimals === 0) return digits;
  const padded = digits.length > decimals ? digits : '0'.repeat(decimals + 1 - digits.length) + digits;
  const cut = padded.length - decimals;
  return padded.slice(0, cut) + '.' + padded.slice(cut);
}

const PLAIN_DECIMAL = /^(\d+)(?:\.(\d+))?$/;

/** Reads a plain non-negative decimal ("0.010") as scaled units; RangeError naming `what` when it cannot. */
export function parseUnits(text: string, what: string): Scaled {
  const match = PLAIN_DECIMAL.exec(text);
  if (!match) throw new RangeError(`${what} is not a plain decimal: ${JSON.stringify(text)}`);
  const fraction = match[2] ?? '';
  const units = Number((match[1] ?? '') + fraction);
  if (!Number.isSafeInteger(units)) throw new RangeError(`${what} has too many digits: ${text}`);
  return { units, decimals: fraction.length };
}
