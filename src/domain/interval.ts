/**
 * Binance kline intervals and their UTC alignment.
 *
 * Every rule about where a period opens lives here, and only here: intervals up to 1d open at multiples of
 * their length since the epoch, `1w` opens Monday 00:00 UTC, `1M` opens on the 1st of each calendar month.
 * `3d` is taken as epoch-aligned; that is the least certain rule (no source confirms it), so it is kept in
 * this one place.
 */
import { KlaggError } from './errors.ts';

export const INTERVALS = ['1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d', '3d', '1w', '1M'] as const;

export type IntervalName = (typeof INTERVALS)[number];

/**
 * Every interval Binance serves, so that any kline stream or REST interval a Binance client may ask for is served. The
 * cost over the 7 once chosen (1m 5m 30m 1h 4h 1d 1w) is measured in bench/hot-path.ts (docs/configuration.md has the
 * figures); a deployment that needs fewer lists them in `intervals`.
 */
export const DEFAULT_INTERVALS: readonly IntervalName[] = INTERVALS;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
/** 1970-01-01 was a Thursday; Monday 1970-01-05 00:00 UTC is four days later. */
const FIRST_MONDAY = 4 * DAY;

const FIXED_LENGTH_MS: Readonly<Record<Exclude<IntervalName, '1w' | '1M'>, number>> = {
  '1m': MINUTE,
  '3m': 3 * MINUTE,
  '5m': 5 * MINUTE,
  '15m': 15 * MINUTE,
  '30m': 30 * MINUTE,
  '1h': HOUR,
  '2h': 2 * HOUR,
  '4h': 4 * HOUR,
  '6h': 6 * HOUR,
  '8h': 8 * HOUR,
  '12h': 12 * HOUR,
  '1d': DAY,
  '3d': 3 * DAY,
};

export class InvalidIntervalError extends Error {
  readonly code = 'KLAGG_INVALID_INTERVAL';
  readonly input: string;
  constructor(input: string) {
    super(`invalid interval ${JSON.stringify(input)}: expected one of ${INTERVALS.join(' ')} (case-sensitive: 1m is a minute, 1M a month)`);
    this.name = 'InvalidIntervalError';
    this.input = input;
  }
}

export function isIntervalName(value: string): value is IntervalName {
  return (INTERVALS as readonly string[]).includes(value);
}

export function parseInterval(value: string): IntervalName {
  if (!isIntervalName(value)) throw new InvalidIntervalError(value);
  return value;
}

/** Parses a comma-separated list (`1m,5m,1h`), rejecting unknown and repeated names. */
export function parseIntervalList(value: string): IntervalName[] {
  const names = value.split(',').map((part) => part.trim());
  const result: IntervalName[] = [];
  for (const name of names) {
    const interval = parseInterval(name);
    if (result.includes(interval)) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: `interval ${interval} is listed twice in ${JSON.stringify(value)}` });
    result.push(interval);
  }
  return result;
}

function floorTo(time: number, length: number, offset: number): number {
  return Math.floor((time - offset) / length) * length + offset;
}

/** Open time of the period of `interval` that contains `time` (ms since the epoch, UTC). */
export function openTimeOf(interval: IntervalName, time: number): number {
  switch (interval) {
    case '1w':
      return floorTo(time, WEEK, FIRST_MONDAY);
    case '1M': {
      const date = new Date(time);
      return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
    }
    default:
      return floorTo(time, FIXED_LENGTH_MS[interval], 0);
  }
}

/** Open time of the period that follows the one opening at `openTime`. */
export function nextOpenTime(interval: IntervalName, openTime: number): number {
  switch (interval) {
    case '1w':
      return openTime + WEEK;
    case '1M': {
      const date = new Date(openTime);
      return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
    }
    default:
      return openTime + FIXED_LENGTH_MS[interval];
  }
}

/** Close time of the period that contains `time`: the next open time minus 1 ms, as Binance reports it. */
export function closeTimeOf(interval: IntervalName, time: number): number {
  return nextOpenTime(interval, openTimeOf(interval, time)) - 1;
}

/** Length of a fixed-length interval in ms, or undefined for `1M` (calendar months vary). */
export function fixedLengthMs(interval: IntervalName): number | undefined {
  if (interval === '1M') return undefined;
  if (interval === '1w') return WEEK;
  return FIXED_LENGTH_MS[interval];
}
