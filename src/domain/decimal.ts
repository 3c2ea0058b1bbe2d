/**
 * Exact decimals as scaled integers.
 *
 * A price `67231.40` at scale 2 is the integer 6723140. Prices and single quantities fit a double exactly (integers
 * below 2^53). Sums do not always: a month of quote volume at scale 8+8 passes 2^53 easily. Sums are therefore
 * kept in two doubles, `hi · 2^52 + lo` with `0 ≤ lo < 2^52`: adding an integer below 2^52 to `lo` stays below 2^53
 * and so stays exact, and a carry moves 2^52 into `hi`. That keeps the per-trade path on plain double arithmetic
 * (no BigInt allocation) while sums stay exact up to 2^105. BigInt is used only for rare large products and when
 * a sum is printed.
 */

export const LIMB = 2 ** 52;
const LIMB_BIG = 2n ** 52n;
export const MAX_SCALE = 18;

/** Powers of ten as doubles; exact up to 10^22. */
export const POW10: readonly number[] = Array.from({ length: 23 }, (_, i) => 10 ** i);

export class DecimalError extends Error {
  readonly code = 'KLAGG_BAD_DECIMAL';
  constructor(message: string) {
    super(message);
    this.name = 'DecimalError';
  }
}

export interface ParsedDecimal {
  /** The digits as an integer (exact: below 2^53). */
  readonly mantissa: number;
  /** How many of those digits are after the decimal point. */
  readonly decimals: number;
}

const DECIMAL_PATTERN = /^(\d+)(?:\.(\d+))?$/;

/** Parses a plain non-negative decimal string such as `0.00141342` (no sign, no exponent). */
export function parseDecimal(text: string): ParsedDecimal {
  const match = DECIMAL_PATTERN.exec(text);
  if (!match) throw new DecimalError(`not a plain decimal: ${JSON.stringify(text)}`);
  const fraction = match[2] ?? '';
  const mantissa = Number((match[1] ?? '') + fraction);
  if (!Number.isSafeInteger(mantissa)) throw new DecimalError(`too many digits to hold exactly: ${JSON.stringify(text)}`);
  if (fraction.length > MAX_SCALE) throw new DecimalError(`more than ${MAX_SCALE} decimals: ${JSON.stringify(text)}`);
  return { mantissa, decimals: fraction.length };
}

/** Number of decimals a tick or step size string carries (`"0.10"` → 2, `"1"` → 0), as Binance prints with it. */
export function scaleOf(sizeText: string): number {
  return parseDecimal(sizeText).decimals;
}

/**
 * Brings `mantissa · 10^-decimals` to `scale`: the integer at that scale, or NaN when it cannot be held exactly
 * (more significant decimals than the scale, or too large).
 */
export function rescaleMantissa(mantissa: number, decimals: number, scale: number): number {
  while (decimals > scale) {
    if (mantissa % 10 !== 0) return Number.NaN;
    mantissa /= 10;
    decimals--;
  }
  const scaled = mantissa * (POW10[scale - decimals] ?? Number.NaN);
  return scaled <= Number.MAX_SAFE_INTEGER ? scaled : Number.NaN;
}

/** The exact integer at `scale` for a decimal string; throws when it has more significant decimals. */
export function toScaled(text: string, scale: number): number {
  const { mantissa, decimals } = parseDecimal(text);
  const scaled = rescaleMantissa(mantissa, decimals, scale);
  if (Number.isNaN(scaled)) throw new DecimalError(`${JSON.stringify(text)} cannot be held exactly at scale ${scale}`);
  return scaled;
}

/** Formats a non-negative integer (number below 2^53, or bigint) at `scale`: (6723140, 2) → `67231.40`. */
export function formatScaled(value: number | bigint, scale: number): string {
  const digits = value.toString();
  if (scale === 0) return digits;
  const padded = digits.length > scale ? digits : '0'.repeat(scale - digits.length + 1) + digits;
  return `${padded.slice(0, padded.length - scale)}.${padded.slice(padded.length - scale)}`;
}

/** The exact value of a two-limb sum. */
export function wideToBigInt(hi: number, lo: number): bigint {
  return BigInt(hi) * LIMB_BIG + BigInt(lo);
}

/** Formats a two-limb sum at `scale`. */
export function formatWide(hi: number, lo: number, scale: number): string {
  return formatScaled(hi === 0 ? lo : wideToBigInt(hi, lo), scale);
}

/** Splits an exact non-negative integer into the two limbs `[hi, lo]`. */
export function bigIntToWide(value: bigint): [number, number] {
  if (value < 0n) throw new DecimalError(`negative sum ${value}`);
  return [Number(value / LIMB_BIG), Number(value % LIMB_BIG)];
}

/** Parses a decimal string at `scale` into the two limbs (for sums restored from storage). */
export function parseWide(text: string, scale: number): [number, number] {
  const match = DECIMAL_PATTERN.exec(text);
  if (!match) throw new DecimalError(`not a plain decimal: ${JSON.stringify(text)}`);
  let fraction = match[2] ?? '';
  if (fraction.length > scale) {
    if (!/^0*$/.test(fraction.slice(scale))) throw new DecimalError(`${JSON.stringify(text)} cannot be held exactly at scale ${scale}`);
    fraction = fraction.slice(0, scale);
  }
  return bigIntToWide(BigInt((match[1] ?? '') + fraction.padEnd(scale, '0')));
}

/**
 * Adds the exact integer `x` (0 ≤ x < 2^53) to the two-limb sum stored at `cells[at]` (hi) and `cells[at + 1]` (lo).
 */
export function addWide(cells: Float64Array, at: number, x: number): void {
  if (x < LIMB) {
    let lo = cells[at + 1]! + x;
    if (lo >= LIMB) {
      lo -= LIMB;
      cells[at]! += 1;
    }
    cells[at + 1] = lo;
  } else {
    addWideBig(cells, at, BigInt(x));
  }
}

/** Adds the exact product `a · b` of two integers below 2^53 to the two-limb sum at `cells[at]`. */
export function addWideProduct(cells: Float64Array, at: number, a: number, b: number): void {
  const product = a * b;
  // Rounding is monotonic: a computed product below 2^52 means the true product is below 2^52 and exact.
  if (product < LIMB) addWide(cells, at, product);
  else addWideBig(cells, at, BigInt(a) * BigInt(b));
}

function addWideBig(cells: Float64Array, at: number, x: bigint): void {
  const [hi, lo] = bigIntToWide(wideToBigInt(cells[at]!, cells[at + 1]!) + x);
  cells[at] = hi;
  cells[at + 1] = lo;
}

/** Multiplies the two-limb sum at `cells[at]` by 10^k (used when a symbol's scale grows). */
export function scaleWide(cells: Float64Array, at: number, k: number): void {
  const [hi, lo] = bigIntToWide(wideToBigInt(cells[at]!, cells[at + 1]!) * 10n ** BigInt(k));
  cells[at] = hi;
  cells[at + 1] = lo;
}
