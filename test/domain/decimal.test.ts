import t from 'tap';
import { uint32Source } from '../support/random.ts';
import {
  DecimalError,
  LIMB,
  MAX_SCALE,
  POW10,
  addWide,
  addWideProduct,
  bigIntToWide,
  formatScaled,
  formatWide,
  parseDecimal,
  parseWide,
  rescaleMantissa,
  scaleOf,
  scaleWide,
  toScaled,
  wideToBigInt,
} from '../../src/domain/decimal.ts';

const TWO_53 = 2 ** 53;

/** A uniformly drawn integer in [0, 2^53). */
function random53(next: () => number): number {
  return (next() >>> 11) * 2 ** 32 + next();
}

/** A random integer with up to `maxDigits` decimal digits (maxDigits ≤ 15, so below 2^53). */
function randomDigits(next: () => number, maxDigits: number): number {
  const digits = 1 + (next() % maxDigits);
  return random53(next) % 10 ** digits;
}

/** Independent formatter: BigInt division, not string padding as in the module. */
function bigToDecimal(value: bigint, scale: number): string {
  if (scale === 0) return value.toString();
  const unit = 10n ** BigInt(scale);
  return `${value / unit}.${(value % unit).toString().padStart(scale, '0')}`;
}

/** The error `fn` throws, or undefined when it returns. */
/** The type of the `t` a subtest callback receives (the last overload of `t.test` takes only the callback). */
type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

function assertDecimalError(t: TapTest, fn: () => unknown, mentions: string, pattern: RegExp, label: string): void {
  const error = thrown(fn);
  t.ok(error instanceof DecimalError, `${label}: throws DecimalError`);
  if (error instanceof DecimalError) {
    t.equal(error.code, 'KLAGG_BAD_DECIMAL', `${label}: code`);
    t.ok(error.message.includes(mentions), `${label}: message ${JSON.stringify(error.message)} mentions ${mentions}`);
    t.match(error.message, pattern, `${label}: message explains`);
  }
}

t.test('constants', async (t) => {
  t.equal(LIMB, 4503599627370496);
  t.equal(MAX_SCALE, 18);
  t.equal(POW10.length, 23);
  for (let i = 0; i < POW10.length; i++) t.equal(BigInt(POW10[i]!), 10n ** BigInt(i), `10^${i} exact`);
});

t.test('parseDecimal', async (t) => {
  const valid: [string, number, number][] = [
    ['0', 0, 0],
    ['1', 1, 0],
    ['0.00141342', 141342, 8],
    ['23.00000000', 2300000000, 8],
    ['67231.40', 6723140, 2],
    ['9999999.99', 999999999, 2],
    ['1000000000', 1000000000, 0],
    ['0.00000001', 1, 8],
    ['0.0000000001', 1, 10],
    ['0.000000000000000001', 1, 18],
    ['9007199254740991', 9007199254740991, 0],
    ['90071992.54740991', 9007199254740991, 8],
    ['0.000', 0, 3],
  ];
  for (const [text, mantissa, decimals] of valid) t.same(parseDecimal(text), { mantissa, decimals }, `parseDecimal(${text})`);

  for (const text of ['-1', '1e5', '1E5', '1.', '.5', 'abc', '', ' 1', '1 ', '+1', '1,5', '1.2.3', '0x10', 'Infinity', 'NaN', '--1', '1_000', '٣']) {
    assertDecimalError(t, () => parseDecimal(text), JSON.stringify(text), /not a plain decimal/, `parseDecimal(${JSON.stringify(text)})`);
  }
  for (const text of ['12345678901234567890', '9007199254740992', '9007199254740993', '90071992.54740992', '0.12345678901234567890']) {
    assertDecimalError(t, () => parseDecimal(text), JSON.stringify(text), /too many digits/, `parseDecimal(${text})`);
  }
  assertDecimalError(t, () => parseDecimal('0.0000000000000000001'), '"0.0000000000000000001"', /more than 18 decimals/, '19 decimals');
});

t.test('scaleOf', async (t) => {
  t.equal(scaleOf('0.10'), 2);
  t.equal(scaleOf('1'), 0);
  t.equal(scaleOf('0.00001000'), 8);
  t.equal(scaleOf('0.01'), 2);
  t.equal(scaleOf('0.000000000000000001'), 18);
  t.equal(scaleOf('10'), 0);
  assertDecimalError(t, () => scaleOf('1e-8'), '"1e-8"', /not a plain decimal/, 'scaleOf(1e-8)');
});

t.test('rescaleMantissa', async (t) => {
  t.equal(rescaleMantissa(141342, 8, 8), 141342);
  t.equal(rescaleMantissa(141342, 8, 10), 14134200);
  t.equal(rescaleMantissa(1200, 4, 2), 12, 'trailing zeros dropped');
  t.ok(Number.isNaN(rescaleMantissa(1200, 4, 1)), 'a significant decimal below scale 1');
  t.ok(Number.isNaN(rescaleMantissa(1234, 4, 2)), 'significant decimals would be lost');
  t.equal(rescaleMantissa(0, 5, 0), 0);
  t.equal(rescaleMantissa(5, 0, 0), 5);
  t.equal(rescaleMantissa(1, 0, 15), 1e15);
  t.ok(Number.isNaN(rescaleMantissa(1, 0, 23)), 'more than 10^22 cannot be scaled exactly');
  t.equal(rescaleMantissa(9007199254740991, 0, 0), 9007199254740991);
  t.equal(rescaleMantissa(900719925474099, 0, 1), 9007199254740990, 'largest step below 2^53');
  t.ok(Number.isNaN(rescaleMantissa(900719925474100, 0, 1)), 'past 2^53 is refused');
  t.ok(Number.isNaN(rescaleMantissa(1, 0, 16)), '10^16 is past 2^53');
});

t.test('toScaled', async (t) => {
  t.equal(toScaled('0.120', 2), 12, 'a zero beyond the scale is fine');
  t.equal(toScaled('0.12', 2), 12);
  t.equal(toScaled('0.1', 2), 10);
  t.equal(toScaled('1', 8), 100000000);
  t.equal(toScaled('0.00000001', 8), 1);
  t.equal(toScaled('0.00141342', 8), 141342);
  t.equal(toScaled('9999999.99', 2), 999999999);
  t.equal(toScaled('1000000000', 0), 1000000000);
  t.equal(toScaled('1000000000', 3), 1000000000000);
  t.equal(toScaled('0.000000000000000001', 18), 1);
  t.equal(toScaled('0.0000000001', 10), 1);
  t.equal(toScaled('67231.4', 2), 6723140);
  t.equal(toScaled('0', 8), 0);
  t.equal(toScaled('0.000', 0), 0);
  assertDecimalError(t, () => toScaled('0.123', 2), '"0.123"', /cannot be held exactly at scale 2/, "toScaled('0.123', 2)");
  assertDecimalError(t, () => toScaled('0.00000001', 7), '"0.00000001"', /scale 7/, 'a tick below the scale');
  assertDecimalError(t, () => toScaled('1000000000', 8), '"1000000000"', /cannot be held exactly at scale 8/, '10^17 is past 2^53');
  assertDecimalError(t, () => toScaled('0.1', 18), '"0.1"', /scale 18/, '10^17 at scale 18 is past 2^53');
  assertDecimalError(t, () => toScaled('1.', 2), '"1."', /not a plain decimal/, "toScaled('1.')");
  assertDecimalError(t, () => toScaled('-0.5', 2), '"-0.5"', /not a plain decimal/, "toScaled('-0.5')");
});

t.test('formatScaled', async (t) => {
  t.equal(formatScaled(6723140, 2), '67231.40');
  t.equal(formatScaled(0, 2), '0.00');
  t.equal(formatScaled(0, 0), '0');
  t.equal(formatScaled(5, 3), '0.005');
  t.equal(formatScaled(123, 0), '123');
  t.equal(formatScaled(100, 2), '1.00');
  t.equal(formatScaled(99, 2), '0.99');
  t.equal(formatScaled(141342, 8), '0.00141342');
  t.equal(formatScaled(2300000000, 8), '23.00000000');
  t.equal(formatScaled(1, 18), '0.000000000000000001');
  t.equal(formatScaled(Number.MAX_SAFE_INTEGER, 8), '90071992.54740991');
  t.equal(formatScaled(2n ** 60n, 8), '11529215046.06846976', '2^60 = 1152921504606846976');
  t.equal(formatScaled(10n ** 30n, 18), '1000000000000.000000000000000000');
  t.equal(formatScaled(0n, 1), '0.0');
  t.equal(formatScaled(12345678901234567890123n, 10), '1234567890123.4567890123');
});

t.test('0.1 + 0.2 is exactly 0.3', async (t) => {
  t.equal(formatScaled(toScaled('0.1', 1) + toScaled('0.2', 1), 1), '0.3');
  t.equal(formatScaled(toScaled('0.1', 8) + toScaled('0.2', 8), 8), '0.30000000');
  const cells = new Float64Array(2);
  addWide(cells, 0, toScaled('0.1', 1));
  addWide(cells, 0, toScaled('0.2', 1));
  t.equal(formatWide(cells[0]!, cells[1]!, 1), '0.3');
  t.equal(cells[0], 0);
  t.equal(cells[1], 3);
  // Ten times 0.1 is 1.0, exactly.
  const ten = new Float64Array(2);
  for (let i = 0; i < 10; i++) addWide(ten, 0, toScaled('0.1', 18 - 2));
  t.equal(formatWide(ten[0]!, ten[1]!, 16), '1.0000000000000000');
});

t.test('wide limbs: conversion and parsing', async (t) => {
  t.same(bigIntToWide(0n), [0, 0]);
  t.same(bigIntToWide(2n ** 52n - 1n), [0, LIMB - 1]);
  t.same(bigIntToWide(2n ** 52n), [1, 0]);
  t.same(bigIntToWide(2n ** 52n + 7n), [1, 7]);
  t.same(bigIntToWide(2n ** 104n + 2n ** 52n * 3n + 5n), [2 ** 52 + 3, 5]);
  t.equal(wideToBigInt(1, 0), 2n ** 52n);
  t.equal(wideToBigInt(3, 5), 3n * 2n ** 52n + 5n);
  assertDecimalError(t, () => bigIntToWide(-1n), 'negative', /negative sum -1/, 'bigIntToWide(-1n)');

  t.same(parseWide('0', 8), [0, 0]);
  t.same(parseWide('0.3', 1), [0, 3]);
  t.same(parseWide('0.120', 2), [0, 12]);
  t.same(parseWide('12.000', 0), [0, 12]);
  t.same(parseWide('5', 3), [0, 5000]);
  t.same(parseWide('45035996.27370496', 8), [1, 0], '2^52 at scale 8');
  t.same(parseWide('45035996.27370495', 8), [0, LIMB - 1], '2^52 − 1 at scale 8');
  const big = 123456789012345678901234567890n;
  t.same(parseWide(bigToDecimal(big, 12), 12), bigIntToWide(big));
  t.equal(wideToBigInt(...parseWide(bigToDecimal(big, 12), 12)), big);
  t.equal(formatWide(...parseWide('99999999999999999999.12345678', 8), 8), '99999999999999999999.12345678');

  assertDecimalError(t, () => parseWide('0.123', 2), '"0.123"', /cannot be held exactly at scale 2/, "parseWide('0.123', 2)");
  assertDecimalError(t, () => parseWide('0.5', 0), '"0.5"', /scale 0/, "parseWide('0.5', 0)");
  for (const text of ['-1', '1e5', '1.', '.5', 'abc', '', ' 1']) {
    assertDecimalError(t, () => parseWide(text, 4), JSON.stringify(text), /not a plain decimal/, `parseWide(${JSON.stringify(text)})`);
  }

  // formatWide / parseWide round trip for random values across the whole range (up to 2^104).
  const next = uint32Source(99);
  let mismatches = 0;
  for (let i = 0; i < 2000; i++) {
    const value = BigInt(random53(next)) * BigInt(next() % 2 === 0 ? 1 : random53(next) >>> 0) + BigInt(random53(next));
    const scale = next() % 19;
    const [hi, lo] = bigIntToWide(value);
    const text = formatWide(hi, lo, scale);
    if (text !== bigToDecimal(value, scale)) mismatches++;
    const [hi2, lo2] = parseWide(text, scale);
    if (hi2 !== hi || lo2 !== lo) mismatches++;
    if (!(Number.isInteger(lo) && lo >= 0 && lo < LIMB && Number.isInteger(hi) && hi >= 0)) mismatches++;
  }
  t.equal(mismatches, 0, '2000 random round trips');
});

t.test('addWide carries exactly at the 2^52 limb boundary', async (t) => {
  const cells = new Float64Array(6);
  cells.fill(-7); // neighbours must stay untouched
  cells[2] = 0;
  cells[3] = 0;
  addWide(cells, 2, LIMB - 1);
  t.same([cells[2], cells[3]], [0, LIMB - 1], 'just below the limb: no carry');
  addWide(cells, 2, 1);
  t.same([cells[2], cells[3]], [1, 0], 'lo reaches the limb exactly: carry, lo back to 0');
  addWide(cells, 2, LIMB - 1);
  addWide(cells, 2, LIMB - 1);
  t.same([cells[2], cells[3]], [2, LIMB - 2], '(2^52 − 1) twice more');
  addWide(cells, 2, 2);
  t.same([cells[2], cells[3]], [3, 0]);
  addWide(cells, 2, 0);
  t.same([cells[2], cells[3]], [3, 0], 'adding 0');
  t.equal(wideToBigInt(cells[2]!, cells[3]!), 3n * 2n ** 52n);
  t.same([cells[0], cells[1], cells[4], cells[5]], [-7, -7, -7, -7], 'cells outside [at, at + 1] untouched');

  // x at or above the limb (up to 2^53 − 1) goes through the exact BigInt path.
  const big = new Float64Array(2);
  addWide(big, 0, LIMB);
  t.same([big[0], big[1]], [1, 0], 'adding exactly 2^52');
  addWide(big, 0, TWO_53 - 1);
  t.same([big[0], big[1]], [2, LIMB - 1], 'adding 2^53 − 1');
  addWide(big, 0, 1);
  t.same([big[0], big[1]], [3, 0]);
  t.equal(formatWide(big[0]!, big[1]!, 0), (3n * 2n ** 52n).toString());

  // lo just below the limb plus a value that lands exactly on 2^53 − 2 (largest possible lo + x).
  const edge = new Float64Array([5, LIMB - 1]);
  addWide(edge, 0, LIMB - 1);
  t.same([edge[0], edge[1]], [6, LIMB - 2]);
  t.equal(wideToBigInt(edge[0]!, edge[1]!), 5n * 2n ** 52n + 2n * (2n ** 52n - 1n));
});

t.test('addWideProduct is exact on both sides of 2^52', async (t) => {
  const cells = new Float64Array(2);
  addWideProduct(cells, 0, 2 ** 26, 2 ** 26);
  t.same([cells[0], cells[1]], [1, 0], '2^26 · 2^26 = 2^52 exactly');
  addWideProduct(cells, 0, 3, 5);
  t.same([cells[0], cells[1]], [1, 15]);
  addWideProduct(cells, 0, LIMB - 1, 1);
  t.same([cells[0], cells[1]], [2, 14]);

  // Products far beyond 2^53, where a double product would round.
  const p = new Float64Array(2);
  const a = 999999999; // 9999999.99 at scale 2
  const b = 1000000000000; // 1000000000 at scale 3
  t.not(BigInt(a * b), BigInt(a) * BigInt(b), 'the double product is inexact (so the test can tell)');
  addWideProduct(p, 0, a, b);
  t.equal(formatWide(p[0]!, p[1]!, 5), '9999999990000000.00000', '999999999 · 10^12 = 999999999000000000000');
  addWideProduct(p, 0, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  t.equal(wideToBigInt(p[0]!, p[1]!), 999999999n * 1000000000000n + 9007199254740991n ** 2n);

  // Tiny tick × large quantity.
  const q = new Float64Array(2);
  addWideProduct(q, 0, toScaled('0.00000001', 8), toScaled('1000000000', 0));
  t.equal(formatWide(q[0]!, q[1]!, 8), '10.00000000');
  const r = new Float64Array(2);
  addWideProduct(r, 0, toScaled('0.000000000000000001', 18), toScaled('123456789', 0));
  t.equal(formatWide(r[0]!, r[1]!, 18), '0.000000000123456789');
  const s = new Float64Array(2);
  addWideProduct(s, 0, toScaled('0.0000000001', 10), toScaled('90071992.54740991', 8));
  t.equal(formatWide(s[0]!, s[1]!, 18), '0.009007199254740991');
  addWideProduct(s, 0, toScaled('99999.9999999999', 10), toScaled('90071992.54740991', 8));
  t.equal(formatWide(s[0]!, s[1]!, 18), bigToDecimal(9007199254740991n + 999999999999999n * 9007199254740991n, 18));
});

t.test('scaleWide multiplies the sum by 10^k exactly', async (t) => {
  const cells = new Float64Array([0, 3]);
  scaleWide(cells, 0, 1);
  t.same([cells[0], cells[1]], [0, 30]);
  t.equal(formatWide(cells[0]!, cells[1]!, 2), '0.30', '0.3 at scale 1 → scale 2');
  scaleWide(cells, 0, 0);
  t.same([cells[0], cells[1]], [0, 30], 'k = 0 leaves the sum unchanged');
  const wide = new Float64Array([12345, 6789]);
  const before = wideToBigInt(12345, 6789);
  scaleWide(wide, 0, 10);
  t.equal(wideToBigInt(wide[0]!, wide[1]!), before * 10n ** 10n);
  t.ok(wide[1]! >= 0 && wide[1]! < LIMB && Number.isInteger(wide[1]!), 'lo stays a limb');
  t.equal(formatWide(wide[0]!, wide[1]!, 10), `${before}.0000000000`);
  const pair = new Float64Array([9, 9, 0, 7]);
  scaleWide(pair, 2, 3);
  t.same([...pair], [9, 9, 0, 7000], 'only the addressed pair changes');
});

t.test('100,000 random products summed past 2^53 stay exact (checked against BigInt)', async (t) => {
  const cases: { name: string; seed: number; priceDigits: number; qtyDigits: number; scale: number; smallEvery: number }[] = [
    { name: 'large prices × large quantities (scale 2+3)', seed: 1, priceDigits: 9, qtyDigits: 13, scale: 5, smallEvery: 0 },
    { name: 'mixed small and huge products (scale 8+8)', seed: 2, priceDigits: 12, qtyDigits: 13, scale: 16, smallEvery: 2 },
    { name: 'tiny ticks (scale 10+8), every product below the limb', seed: 3, priceDigits: 5, qtyDigits: 10, scale: 18, smallEvery: 0 },
  ];
  for (const c of cases) {
    const next = uint32Source(c.seed);
    const cells = new Float64Array(4); // [0,1]: sum of products, [2,3]: sum of the plain quantities
    let expected = 0n;
    let expectedQty = 0n;
    let brokenInvariant = 0;
    let bigPath = 0;
    for (let i = 0; i < 100_000; i++) {
      const small = c.smallEvery > 0 && i % c.smallEvery === 0;
      const price = 1 + randomDigits(next, small ? 4 : c.priceDigits);
      const qty = 1 + randomDigits(next, small ? 4 : c.qtyDigits);
      addWideProduct(cells, 0, price, qty);
      addWide(cells, 2, qty);
      expected += BigInt(price) * BigInt(qty);
      expectedQty += BigInt(qty);
      if (BigInt(price) * BigInt(qty) >= 2n ** 52n) bigPath++;
      const lo = cells[1]!;
      const hi = cells[0]!;
      if (!(Number.isInteger(lo) && lo >= 0 && lo < LIMB && Number.isInteger(hi) && hi >= 0)) brokenInvariant++;
    }
    t.equal(brokenInvariant, 0, `${c.name}: 0 ≤ lo < 2^52 after every add`);
    t.ok(expected > 2n ** 53n, `${c.name}: the sum really passes 2^53 (${expected})`);
    t.ok(cells[0]! > 0, `${c.name}: the high limb is in use`);
    t.equal(wideToBigInt(cells[0]!, cells[1]!), expected, `${c.name}: exact sum`);
    t.equal(formatWide(cells[0]!, cells[1]!, c.scale), bigToDecimal(expected, c.scale), `${c.name}: formatted at scale ${c.scale}`);
    t.equal(formatWide(cells[2]!, cells[3]!, 8), bigToDecimal(expectedQty, 8), `${c.name}: plain sum`);
    if (c.priceDigits + c.qtyDigits <= 15) t.equal(bigPath, 0, `${c.name}: only the plain double path was used`);
    else t.ok(bigPath > 1000, `${c.name}: many products above the limb (${bigPath})`);
  }

  // Many adds of the same large price × quantity: 9999999.99 × 1000000000.
  const cells = new Float64Array(2);
  const price = toScaled('9999999.99', 2);
  const qty = toScaled('1000000000', 0);
  for (let i = 0; i < 100_000; i++) addWideProduct(cells, 0, price, qty);
  t.equal(formatWide(cells[0]!, cells[1]!, 2), '999999999000000000000.00', '100,000 × 9999999.99 × 1000000000 = 99999999900000000000000');

  // Many adds of one tiny tick: each lands in lo, the carries must be counted exactly.
  const ticks = new Float64Array([0, LIMB - 50_000]);
  for (let i = 0; i < 100_000; i++) addWide(ticks, 0, 1);
  t.same([ticks[0], ticks[1]], [1, 50_000], '100,000 single ticks across the carry');
  t.equal(formatWide(ticks[0]!, ticks[1]!, 18), bigToDecimal(2n ** 52n + 50_000n, 18));
});
