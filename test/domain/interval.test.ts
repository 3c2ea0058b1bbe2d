import t from 'tap';
import { unitSource } from '../support/random.ts';
import {
  DEFAULT_INTERVALS,
  INTERVALS,
  InvalidIntervalError,
  closeTimeOf,
  fixedLengthMs,
  isIntervalName,
  nextOpenTime,
  openTimeOf,
  parseInterval,
  parseIntervalList,
  type IntervalName,
} from '../../src/domain/interval.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;

/** The fixed lengths, written out independently of the module under test. */
const EXPECTED_LENGTH: Readonly<Record<Exclude<IntervalName, '1M'>, number>> = {
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
  '1w': WEEK,
};
const FIXED: readonly Exclude<IntervalName, '1w' | '1M'>[] = ['1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d', '3d'];

/** Independent oracles: derived from calendar fields, not from the module's arithmetic. */
function expectedOpen(interval: IntervalName, time: number): number {
  const d = new Date(time);
  if (interval === '1M') return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  if (interval === '1w') {
    const sinceMonday = (d.getUTCDay() + 6) % 7;
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - sinceMonday);
  }
  const length = EXPECTED_LENGTH[interval];
  return time - (((time % length) + length) % length);
}

function expectedNextOpen(interval: IntervalName, open: number): number {
  if (interval === '1M') {
    const d = new Date(open);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  }
  return open + EXPECTED_LENGTH[interval];
}

const iso = (time: number): string => new Date(time).toISOString();

/** The error `fn` throws, or undefined when it returns. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** Hand-picked sample times: the epoch, boundaries and their neighbours, leap days, year ends, far past and future. */
const SAMPLES: readonly number[] = [
  0,
  1,
  -1,
  Date.UTC(1969, 11, 29),
  Date.UTC(1970, 0, 5) - 1,
  Date.UTC(1970, 0, 5),
  1502668800000,
  1502668800000 - 1,
  Date.UTC(2017, 7, 17, 13, 45, 12, 345),
  1570752011620,
  Date.UTC(2019, 1, 28, 23, 59, 59, 999),
  Date.UTC(2019, 2, 1),
  Date.UTC(2020, 1, 29, 12),
  Date.UTC(2020, 11, 31, 23, 59, 59, 999),
  Date.UTC(2021, 0, 1),
  Date.UTC(2000, 1, 29, 23, 59, 59, 999),
  Date.UTC(2100, 1, 28, 23, 59, 59, 999),
  Date.UTC(2100, 2, 1),
  Date.UTC(2024, 4, 31, 23, 59, 59, 999),
  Date.UTC(2026, 6, 15, 7, 3, 1, 2),
  Date.UTC(1999, 11, 31, 23, 59, 59, 999),
  Date.UTC(2038, 0, 19, 3, 14, 8),
  Date.UTC(1950, 5, 15, 8),
];

t.test('INTERVALS lists the Binance intervals; fixedLengthMs matches', async (t) => {
  t.same([...INTERVALS], ['1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d', '3d', '1w', '1M']);
  for (const interval of INTERVALS) {
    if (interval === '1M') t.equal(fixedLengthMs(interval), undefined, '1M has no fixed length');
    else t.equal(fixedLengthMs(interval), EXPECTED_LENGTH[interval], `${interval} length`);
  }
  for (const interval of DEFAULT_INTERVALS) t.ok(isIntervalName(interval), `default ${interval} is a valid interval`);
  t.same([...DEFAULT_INTERVALS], ['1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d', '3d', '1w', '1M'], 'all 15 of Binance’s');
});

t.test('every interval: open ≤ t ≤ close, close = next open − 1, open is a fixed point, periods are contiguous', async (t) => {
  const random = unitSource(20240501);
  const times = [...SAMPLES];
  // Random times across decades, 1960 .. 2110.
  const from = Date.UTC(1960, 0, 1);
  const to = Date.UTC(2110, 0, 1);
  for (let i = 0; i < 300; i++) times.push(from + Math.floor(random() * (to - from)));
  for (const interval of INTERVALS) {
    let failures = 0;
    for (const time of times) {
      const open = openTimeOf(interval, time);
      const close = closeTimeOf(interval, time);
      const next = nextOpenTime(interval, open);
      const problems: string[] = [];
      if (open !== expectedOpen(interval, time)) problems.push(`open ${iso(open)} ≠ expected ${iso(expectedOpen(interval, time))}`);
      if (next !== expectedNextOpen(interval, open)) problems.push(`next ${iso(next)} ≠ expected ${iso(expectedNextOpen(interval, open))}`);
      if (!(open <= time && time <= close)) problems.push(`time outside [${iso(open)}, ${iso(close)}]`);
      if (close !== next - 1) problems.push(`close ${close} ≠ next open − 1 (${next - 1})`);
      if (openTimeOf(interval, open) !== open) problems.push('openTimeOf(open) ≠ open');
      if (openTimeOf(interval, close) !== open) problems.push('openTimeOf(close) ≠ open');
      if (closeTimeOf(interval, open) !== close) problems.push('closeTimeOf(open) ≠ close');
      if (openTimeOf(interval, close + 1) !== next) problems.push('close + 1 does not open the next period');
      if (openTimeOf(interval, open - 1) === open) problems.push('open − 1 is in the same period');
      if (nextOpenTime(interval, openTimeOf(interval, open - 1)) !== open) problems.push('previous period does not end at open');
      if (!Number.isInteger(open) || !Number.isInteger(close)) problems.push('non-integer times');
      if (problems.length > 0) {
        failures++;
        t.fail(`${interval} at ${time} (${iso(time)}): ${problems.join('; ')}`);
      }
    }
    t.equal(failures, 0, `${interval}: ${times.length} sample times consistent`);
  }
});

t.test('walking consecutive periods leaves no gap and no overlap', async (t) => {
  for (const interval of INTERVALS) {
    let open = openTimeOf(interval, Date.UTC(1999, 10, 3, 5));
    let broken = '';
    for (let i = 0; i < 400 && broken === ''; i++) {
      const next = nextOpenTime(interval, open);
      if (!(next > open)) broken = `next ${next} not after ${open}`;
      else if (openTimeOf(interval, next - 1) !== open) broken = `next − 1 not in period ${iso(open)}`;
      else if (openTimeOf(interval, next) !== next) broken = `next ${iso(next)} is not an open time`;
      else if (closeTimeOf(interval, open) !== next - 1) broken = `close of ${iso(open)} ≠ ${next - 1}`;
      open = next;
    }
    t.equal(broken, '', `${interval}: 400 consecutive periods`);
  }
});

t.test('fixed intervals are aligned to the epoch', async (t) => {
  for (const interval of FIXED) {
    const length = EXPECTED_LENGTH[interval];
    t.equal(openTimeOf(interval, 0), 0, `${interval}: epoch opens a period`);
    t.equal(closeTimeOf(interval, 0), length - 1, `${interval}: first period closes at length − 1`);
    t.equal(openTimeOf(interval, -1), -length, `${interval}: 1 ms before the epoch is in the previous period`);
    t.equal(openTimeOf(interval, length), length, `${interval}: boundary opens the next period`);
    t.equal(openTimeOf(interval, length - 1), 0, `${interval}: boundary − 1 belongs to the previous period`);
    const boundary = 1_000_003 * length; // far into the future, still a multiple of the length
    t.equal(openTimeOf(interval, boundary), boundary, `${interval}: at a far boundary`);
    t.equal(openTimeOf(interval, boundary - 1), boundary - length, `${interval}: just before a far boundary`);
    t.equal(openTimeOf(interval, boundary + length - 1), boundary, `${interval}: last ms of the period`);
    t.equal(nextOpenTime(interval, boundary), boundary + length, `${interval}: next open`);
  }
  // 3d: multiples of 259200000 ms since the epoch, whatever the weekday.
  t.equal(EXPECTED_LENGTH['3d'], 259_200_000);
  t.equal(openTimeOf('3d', 259_200_000), 259_200_000);
  t.equal(openTimeOf('3d', 259_199_999), 0);
  t.equal(openTimeOf('3d', Date.UTC(2024, 0, 1, 12)), Math.floor(Date.UTC(2024, 0, 1, 12) / 259_200_000) * 259_200_000);
  t.equal(openTimeOf('3d', Date.UTC(2024, 0, 1, 12)) % 259_200_000, 0);
  t.equal(iso(1570752011620), '2019-10-11T00:00:11.620Z');
  t.equal(openTimeOf('3d', 1570752011620), Date.UTC(2019, 9, 11), '2019-10-11 is day 18180 = 6060 × 3 since the epoch: a 3d open');
  t.equal(openTimeOf('3d', Date.UTC(2019, 9, 10, 23, 59, 59, 999)), Date.UTC(2019, 9, 8), 'the day before is in the period opening 2019-10-08');
  t.equal(closeTimeOf('3d', 1570752011620), Date.UTC(2019, 9, 14) - 1);
  // 1d opens at midnight UTC.
  t.equal(openTimeOf('1d', Date.UTC(2024, 1, 29, 23, 59, 59, 999)), Date.UTC(2024, 1, 29));
  t.equal(openTimeOf('1d', Date.UTC(2024, 2, 1)), Date.UTC(2024, 2, 1));
  t.equal(closeTimeOf('1d', Date.UTC(2024, 1, 29, 5)), Date.UTC(2024, 2, 1) - 1);
  const random = unitSource(7);
  let notMidnight = 0;
  for (let i = 0; i < 500; i++) {
    const d = new Date(openTimeOf('1d', Math.floor(random() * Date.UTC(2100, 0, 1))));
    if (d.getUTCHours() !== 0 || d.getUTCMinutes() !== 0 || d.getUTCSeconds() !== 0 || d.getUTCMilliseconds() !== 0) notMidnight++;
  }
  t.equal(notMidnight, 0, '1d opens are all midnight UTC');
  // Hours: 4h and 8h open at hours that are multiples of 4 and 8.
  t.equal(openTimeOf('4h', Date.UTC(2024, 5, 1, 11, 30)), Date.UTC(2024, 5, 1, 8));
  t.equal(openTimeOf('8h', Date.UTC(2024, 5, 1, 23, 59)), Date.UTC(2024, 5, 1, 16));
  t.equal(openTimeOf('12h', Date.UTC(2024, 5, 1, 11, 59, 59, 999)), Date.UTC(2024, 5, 1, 0));
  t.equal(openTimeOf('12h', Date.UTC(2024, 5, 1, 12)), Date.UTC(2024, 5, 1, 12));
  t.equal(openTimeOf('15m', Date.UTC(2024, 5, 1, 10, 44, 59, 999)), Date.UTC(2024, 5, 1, 10, 30));
  t.equal(openTimeOf('1m', 1570752011620), 1570752000000);
  t.equal(closeTimeOf('1m', 1570752011620), 1570752059999);
  t.equal(openTimeOf('5m', 1570752011620), 1570752000000);
  t.equal(closeTimeOf('5m', 1570752011620), 1570752299999);
  t.equal(openTimeOf('1m', Date.UTC(2019, 9, 11, 13, 7, 59, 999)), Date.UTC(2019, 9, 11, 13, 7));
  t.equal(openTimeOf('5m', Date.UTC(2019, 9, 11, 13, 9, 59, 999)), Date.UTC(2019, 9, 11, 13, 5));
  t.equal(openTimeOf('5m', Date.UTC(2019, 9, 11, 13, 10)), Date.UTC(2019, 9, 11, 13, 10));
});

t.test('1w opens Monday 00:00 UTC', async (t) => {
  t.equal(openTimeOf('1w', 0), -259_200_000, 'the epoch (a Thursday) is in the week of Monday 1969-12-29');
  t.equal(iso(openTimeOf('1w', 0)), '1969-12-29T00:00:00.000Z');
  t.equal(closeTimeOf('1w', 0), Date.UTC(1970, 0, 5) - 1);
  t.equal(openTimeOf('1w', Date.UTC(1970, 0, 5)), Date.UTC(1970, 0, 5), 'Monday 1970-01-05 opens a week');
  t.equal(openTimeOf('1w', Date.UTC(1970, 0, 5) - 1), -259_200_000, 'Sunday 23:59:59.999 belongs to the week before');

  // Binance BTCUSDT 1w kline open time.
  t.equal(new Date(1502668800000).getUTCDay(), 1, '1502668800000 is a Monday');
  t.equal(openTimeOf('1w', 1502668800000), 1502668800000);
  t.equal(openTimeOf('1w', 1502668800000 + 3 * DAY + 5), 1502668800000);
  t.equal(closeTimeOf('1w', 1502668800000), 1502668800000 + WEEK - 1);
  t.equal(openTimeOf('1w', 1502668800000 - 1), 1502668800000 - WEEK);

  const random = unitSource(1234567);
  const from = Date.UTC(1965, 0, 1);
  const to = Date.UTC(2105, 0, 1);
  let bad = 0;
  let checked = 0;
  for (let i = 0; i < 2000; i++) {
    const time = from + Math.floor(random() * (to - from));
    const open = openTimeOf('1w', time);
    const d = new Date(open);
    checked++;
    if (d.getUTCDay() !== 1 || d.getUTCHours() !== 0 || d.getUTCMinutes() !== 0 || d.getUTCSeconds() !== 0 || d.getUTCMilliseconds() !== 0) {
      bad++;
      t.fail(`1w open for ${iso(time)} is ${iso(open)}`);
    } else if (!(open <= time && time - open < WEEK)) {
      bad++;
      t.fail(`1w open for ${iso(time)} is ${iso(open)}, not within the week`);
    }
  }
  t.equal(checked, 2000);
  t.equal(bad, 0, '2000 random times across 140 years open on Monday 00:00 UTC');

  // Around Monday midnight, for many Mondays.
  let wrong = 0;
  let monday = Date.UTC(1970, 0, 5);
  for (let i = 0; i < 200; i++) {
    monday += Math.floor(random() * 3000) * WEEK;
    if (new Date(monday).getUTCDay() !== 1) wrong++;
    if (openTimeOf('1w', monday) !== monday) wrong++;
    if (openTimeOf('1w', monday + 1) !== monday) wrong++;
    if (openTimeOf('1w', monday - 1) !== monday - WEEK) wrong++;
    if (closeTimeOf('1w', monday - 1) !== monday - 1) wrong++;
    if (closeTimeOf('1w', monday) !== monday + WEEK - 1) wrong++;
    monday %= Date.UTC(2100, 0, 1);
    monday -= (monday - Date.UTC(1970, 0, 5)) % WEEK;
  }
  t.equal(wrong, 0, 'Monday 00:00 and its neighbouring milliseconds');
  // A Sunday and the following Monday belong to different weeks.
  t.equal(openTimeOf('1w', Date.UTC(2024, 5, 2, 23, 59, 59, 999)), Date.UTC(2024, 4, 27));
  t.equal(openTimeOf('1w', Date.UTC(2024, 5, 3)), Date.UTC(2024, 5, 3));
});

t.test('1M opens on the 1st 00:00 UTC and lasts the calendar month', async (t) => {
  const monthLength = (year: number, month: number): number => {
    const open = openTimeOf('1M', Date.UTC(year, month, 15, 12));
    return (closeTimeOf('1M', Date.UTC(year, month, 15, 12)) + 1 - open) / DAY;
  };
  t.equal(monthLength(2019, 1), 28, 'Feb 2019 has 28 days');
  t.equal(monthLength(2020, 1), 29, 'Feb 2020 has 29 days (leap)');
  t.equal(monthLength(2100, 1), 28, 'Feb 2100 has 28 days (century, not leap)');
  t.equal(monthLength(2000, 1), 29, 'Feb 2000 has 29 days (divisible by 400)');
  t.equal(monthLength(2024, 3), 30, 'April has 30 days');
  t.equal(monthLength(2024, 0), 31, 'January has 31 days');
  t.equal(monthLength(2023, 11), 31, 'December has 31 days');

  t.equal(openTimeOf('1M', Date.UTC(2020, 1, 29, 23, 59, 59, 999)), Date.UTC(2020, 1, 1));
  t.equal(closeTimeOf('1M', Date.UTC(2020, 1, 29, 23, 59, 59, 999)), Date.UTC(2020, 2, 1) - 1);
  t.equal(openTimeOf('1M', Date.UTC(2020, 2, 1)), Date.UTC(2020, 2, 1));
  t.equal(openTimeOf('1M', Date.UTC(2020, 2, 1) - 1), Date.UTC(2020, 1, 1));

  // December → January rolls the year.
  t.equal(nextOpenTime('1M', Date.UTC(2023, 11, 1)), Date.UTC(2024, 0, 1));
  t.equal(iso(nextOpenTime('1M', Date.UTC(2023, 11, 1))), '2024-01-01T00:00:00.000Z');
  t.equal(closeTimeOf('1M', Date.UTC(2023, 11, 31, 23, 59, 59, 999)), Date.UTC(2024, 0, 1) - 1);
  t.equal(openTimeOf('1M', Date.UTC(2024, 0, 1)), Date.UTC(2024, 0, 1));
  t.equal(openTimeOf('1M', Date.UTC(2024, 0, 1) - 1), Date.UTC(2023, 11, 1));

  // Binance BTCUSDT 1M kline containing 2017-08-17.
  t.equal(openTimeOf('1M', Date.UTC(2017, 7, 17, 4)), 1501545600000);
  t.equal(closeTimeOf('1M', Date.UTC(2017, 7, 17, 4)), 1504223999999);
  t.equal(nextOpenTime('1M', 1501545600000), 1504224000000);
  t.equal(openTimeOf('1M', 0), 0, 'January 1970 opens at the epoch');
  t.equal(openTimeOf('1M', -1), Date.UTC(1969, 11, 1), 'the last ms of 1969 is in December 1969');

  // Every month from 1999 through 2101: open is the 1st at midnight, close is the last ms of the last day.
  let bad = 0;
  for (let year = 1999; year <= 2101; year++) {
    for (let month = 0; month < 12; month++) {
      const mid = Date.UTC(year, month, 10, 7, 30);
      const open = openTimeOf('1M', mid);
      const close = closeTimeOf('1M', mid);
      const o = new Date(open);
      const c = new Date(close);
      const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
      if (o.getUTCFullYear() !== year || o.getUTCMonth() !== month || o.getUTCDate() !== 1 || o.getUTCHours() !== 0 || open % MINUTE !== 0) bad++;
      if (c.getUTCMonth() !== month || c.getUTCDate() !== lastDay || c.getUTCHours() !== 23 || c.getUTCMilliseconds() !== 999) bad++;
      if (openTimeOf('1M', close + 1) !== close + 1 || new Date(close + 1).getUTCDate() !== 1) bad++;
    }
  }
  t.equal(bad, 0, '1236 months from 1999 to 2101');
});

t.test('parseInterval accepts exactly the listed names', async (t) => {
  for (const interval of INTERVALS) {
    t.equal(parseInterval(interval), interval);
    t.ok(isIntervalName(interval));
  }
  t.equal(parseInterval('1m'), '1m');
  t.equal(parseInterval('1M'), '1M');
  t.not(parseInterval('1m'), parseInterval('1M'), '1m and 1M are different intervals');
  t.equal(fixedLengthMs(parseInterval('1m')), MINUTE, '1m is a minute');
  t.equal(fixedLengthMs(parseInterval('1M')), undefined, '1M is a month');

  for (const bad of ['2m', '1S', '', ' 1h', '1h ', '1H', '1D', '1W', '60m', '1min', 'm', '1', '1mo', '0m', '1m,5m', 'undefined']) {
    t.notOk(isIntervalName(bad), `${JSON.stringify(bad)} is not an interval name`);
    const error = thrown(() => parseInterval(bad));
    t.ok(error instanceof InvalidIntervalError, `parseInterval(${JSON.stringify(bad)}) throws InvalidIntervalError`);
    if (error instanceof InvalidIntervalError) {
      t.equal(error.input, bad);
      t.equal(error.code, 'KLAGG_INVALID_INTERVAL');
      t.ok(error.message.includes(`invalid interval ${JSON.stringify(bad)}`), `message names the input: ${error.message}`);
      t.ok(error.message.includes('1m 3m 5m 15m'), 'message lists the valid intervals');
    }
  }
  t.throws(() => parseInterval('2m'), { name: 'InvalidIntervalError', message: /invalid interval "2m"/ });
});

t.test('parseIntervalList', async (t) => {
  t.same(parseIntervalList('1m'), ['1m']);
  t.same(parseIntervalList('1m,5m,1h'), ['1m', '5m', '1h']);
  t.same(parseIntervalList('1M,1m'), ['1M', '1m'], '1M and 1m are distinct, not duplicates');
  t.same(parseIntervalList(' 1h'), ['1h'], 'surrounding spaces are trimmed in a list');
  t.same(parseIntervalList(' 1h , 5m ,\t1d '), ['1h', '5m', '1d']);
  t.same(parseIntervalList(INTERVALS.join(',')), [...INTERVALS]);

  for (const [input, bad] of [
    ['2m', '2m'],
    ['1m,1S', '1S'],
    ['', ''],
    ['1m,,5m', ''],
    ['1m,', ''],
    ['1m;5m', '1m;5m'],
    ['1h,1H', '1H'],
  ] as const) {
    const error = thrown(() => parseIntervalList(input));
    t.ok(error instanceof InvalidIntervalError, `parseIntervalList(${JSON.stringify(input)}) throws InvalidIntervalError`);
    if (error instanceof InvalidIntervalError) {
      t.equal(error.input, bad, `the bad part of ${JSON.stringify(input)} is ${JSON.stringify(bad)}`);
      t.ok(error.message.includes(`invalid interval ${JSON.stringify(bad)}`), `message names it: ${error.message}`);
    }
  }
  for (const input of ['1m,1m', '1m,5m,1m', '1h, 1h']) {
    const error = thrown(() => parseIntervalList(input));
    t.ok(error instanceof Error, `parseIntervalList(${JSON.stringify(input)}) throws`);
    if (error instanceof Error) {
      t.match(error.message, /listed twice/);
      t.ok(error.message.includes(JSON.stringify(input)), `message names the list: ${error.message}`);
    }
  }
  t.throws(() => parseIntervalList('1m,5m,1m'), { message: /interval 1m is listed twice/ });
});
