/**
 * The symbols of the synthetic market: unique names (real-looking ones first, then invented), Binance-like tick sizes
 * ("0.10" … "0.0000001") and step sizes ("0.001" … "1"), and start prices on their tick grid. Kept apart from the
 * trade generator because callers (the fake exchange's generated market, benchmarks) use the symbol list on its own.
 */

import { SeededRandom, hashSeed } from './seeded-random.ts';
import { formatUnits, parseUnits } from './synthetic-units.ts';

export interface SyntheticSymbol {
  readonly symbol: string;
  readonly tickSize: string;
  readonly stepSize: string;
  readonly startPrice: string;
}

/** Tick sizes used, coarsest first (as Binance prints them: a 0.1 tick is "0.10"). */
export const SYNTHETIC_TICK_SIZES: readonly string[] = [
  '0.10',
  '0.01',
  '0.001',
  '0.0001',
  '0.00001',
  '0.000001',
  '0.0000001',
];

/** Step sizes used, finest first. */
export const SYNTHETIC_STEP_SIZES: readonly string[] = ['0.001', '0.01', '0.1', '1'];

/**
 * Real-looking bases, roughly in order of futures activity, with a typical USDT price and, for the majors, the tick
 * and step sizes Binance uses (others get sizes derived from the price).
 */
const KNOWN_BASES: readonly (readonly [base: string, price: number, tickSize?: string, stepSize?: string])[] = [
  ['BTC', 67231.4, '0.10', '0.001'],
  ['ETH', 3480, '0.01', '0.001'],
  ['SOL', 152, '0.01', '1'],
  ['XRP', 0.52, '0.0001', '0.1'],
  ['DOGE', 0.124, '0.00001', '1'],
  ['BNB', 585, '0.01', '0.01'],
  ['1000PEPE', 0.0118, '0.0000001', '1'],
  ['SUI', 1.12, '0.0001', '0.1'],
  ['ADA', 0.45, '0.0001', '1'],
  ['WIF', 2.4, '0.0001', '0.1'],
  ['AVAX', 35.2, '0.001', '1'],
  ['LINK', 14.3, '0.001', '0.01'],
  ['LTC', 82, '0.01', '0.001'],
  ['ENA', 0.62, '0.0001', '1'],
  ['TRX', 0.121, '0.00001', '1'],
  ['DOT', 6.9, '0.001', '0.1'],
  ['BCH', 455, '0.01', '0.001'],
  ['NEAR', 5.8, '0.001', '1'],
  ['1000SHIB', 0.0234, '0.000001', '1'],
  ['APT', 8.9, '0.0001', '0.1'],
  ['ARB', 0.98],
  ['OP', 2.2],
  ['FIL', 5.1],
  ['UNI', 9.6],
  ['ATOM', 8.1],
  ['ETC', 25.7],
  ['INJ', 24.3],
  ['TIA', 7.9],
  ['SEI', 0.48],
  ['WLD', 2.6],
  ['ORDI', 38.5],
  ['1000BONK', 0.0261],
  ['FET', 1.45],
  ['RENDER', 7.3],
  ['JUP', 1.05],
  ['STX', 1.9],
  ['AAVE', 98],
  ['MKR', 2450],
  ['PENDLE', 4.8],
  ['TON', 6.7],
  ['ONDO', 1.02],
  ['1000FLOKI', 0.182],
  ['GALA', 0.0281],
  ['HBAR', 0.0872],
  ['ALGO', 0.171],
  ['XLM', 0.108],
  ['VET', 0.0279],
  ['SAND', 0.38],
  ['MANA', 0.39],
  ['CHZ', 0.092],
  ['CRV', 0.36],
  ['DYDX', 1.7],
  ['JASMY', 0.0231],
  ['LDO', 1.9],
  ['IMX', 1.6],
  ['KAS', 0.165],
  ['NOT', 0.0152],
  ['PEOPLE', 0.0925],
  ['BOME', 0.0098],
  ['1000SATS', 0.000268],
  ['SLP', 0.00342],
  ['SPELL', 0.00081],
];

const NAME_ONSETS: readonly string[] = [
  'B', 'C', 'D', 'F', 'G', 'H', 'J', 'K', 'L', 'M', 'N', 'P', 'Q', 'R', 'S', 'T', 'V', 'W', 'X', 'Z',
  'BL', 'BR', 'CR', 'DR', 'FL', 'GL', 'GR', 'KR', 'PL', 'PR', 'SK', 'SP', 'ST', 'TR', 'ZK',
];
const NAME_VOWELS: readonly string[] = ['A', 'E', 'I', 'O', 'U', 'Y', 'AI', 'EO', 'OO'];
const NAME_CODAS: readonly string[] = ['', '', '', 'N', 'X', 'R', 'T', 'K', 'S', 'M', 'L'];

function tickSizeFor(exponent: number): string {
  return SYNTHETIC_TICK_SIZES[-1 - exponent] as string;
}

function stepSizeFor(exponent: number): string {
  return SYNTHETIC_STEP_SIZES[3 + exponent] as string;
}

function inventBase(random: SeededRandom, used: ReadonlySet<string>, index: number): string {
  for (let attempt = 0; attempt < 64; attempt++) {
    let name = random.pick(NAME_ONSETS) + random.pick(NAME_VOWELS);
    if (random.chance(0.55)) name += random.pick(NAME_ONSETS) + random.pick(NAME_VOWELS);
    name += random.pick(NAME_CODAS);
    if (name.length >= 3 && name.length <= 8 && !used.has(name)) return name;
  }
  let fallback = `SYM${String(index).padStart(3, '0')}`;
  while (used.has(fallback)) fallback += 'X';
  return fallback;
}

/**
 * `count` unique symbols (upper case, ending in USDT), most active first. Deterministic in `seed`; a shorter list is a
 * prefix of a longer one for the same seed. The first ones carry real-looking names (BTCUSDT, ETHUSDT, …) with prices
 * near real ones, the rest invented names with log-uniform prices from ~0.0005 to ~80.
 */
export function syntheticSymbols(seed: number, count: number): SyntheticSymbol[] {
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`symbol count must be a whole number ≥ 0: ${count}`);
  const result: SyntheticSymbol[] = [];
  const usedBases = new Set<string>();
  for (let i = 0; i < count; i++) {
    const random = new SeededRandom(hashSeed(seed, 0x5157, i));
    const known = KNOWN_BASES[i];
    let base: string;
    let price: number;
    if (known !== undefined) {
      base = known[0];
      price = known[1] * random.logNormal(0, 0.15);
    } else {
      base = inventBase(random, usedBases, i);
      price = Math.pow(10, random.uniform(-3.3, 1.9));
    }
    usedBases.add(base);

    // Derived sizes: ~10^3.5–10^5 ticks per price and coarser steps for cheaper coins, as on Binance.
    const magnitude = Math.floor(Math.log10(price));
    const tickExponent = Math.min(-1, Math.max(-7, magnitude - 4 + (random.chance(0.4) ? 1 : 0)));
    let stepExponent = price >= 1000 ? -3 : price >= 50 ? -2 : price >= 5 ? -1 : 0;
    if (random.chance(0.25)) stepExponent = Math.max(-3, stepExponent - 1);
    const tickSize = known?.[2] ?? tickSizeFor(tickExponent);
    const stepSize = known?.[3] ?? stepSizeFor(stepExponent);

    const tick = parseUnits(tickSize, 'tick size');
    const ticks = Math.max(1, Math.round((price * Math.pow(10, tick.decimals)) / tick.units));
    result.push({
      symbol: `${base}USDT`,
      tickSize,
      stepSize,
      startPrice: formatUnits(ticks * tick.units, tick.decimals),
    });
  }
  return result;
}
