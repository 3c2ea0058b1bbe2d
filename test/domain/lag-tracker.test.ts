import t from 'tap';
import { EMPTY_LAG, LagHistogram, LagTracker } from '../../src/domain/lag-tracker.ts';

/** Nearest-rank quantile of the exact values. */
function exactQuantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

const T0 = 1_700_000_000_000;

t.test('no samples: zeros', async (t) => {
  const lag = new LagTracker();
  t.same(lag.summary(T0), EMPTY_LAG);
  t.equal(lag.quantile(T0, 0.99), 0);
});

t.test('equal samples answer exactly', async (t) => {
  const lag = new LagTracker();
  for (let i = 0; i < 100; i++) lag.record(T0 + i * 10, 1500);
  t.same(lag.summary(T0 + 1000), { p50: 1500, p99: 1500, max: 1500, samples: 100 });
});

t.test('a mixed set: p99 by nearest rank', async (t) => {
  const one = new LagTracker();
  for (let i = 0; i < 99; i++) one.record(T0, 100);
  one.record(T0, 2000);
  t.same(one.summary(T0), { p50: 100, p99: 100, max: 2000, samples: 100 }, '1 in 100 slow: p99 is the 99th value');
  const two = new LagTracker();
  for (let i = 0; i < 98; i++) two.record(T0, 100);
  two.record(T0, 2000);
  two.record(T0, 1800);
  const summary = two.summary(T0);
  t.equal(summary.p99, 1800, '2 in 100 slow: p99 is the 99th value');
  t.equal(summary.max, 2000);
  t.equal(summary.p50, 100);
});

t.test('quantiles: a sample actually seen, never under the exact value, within 0.8 % (+1 ms) over it', async (t) => {
  let seed = 7;
  const random = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (const spread of [50, 300, 2500, 20_000, 130_000]) {
    const lag = new LagTracker();
    const values: number[] = [];
    for (let i = 0; i < 5000; i++) {
      const v = Math.floor(random() ** 3 * spread);
      values.push(v);
      lag.record(T0 + i, v);
    }
    for (const q of [0.01, 0.5, 0.9, 0.99, 0.999, 1]) {
      const exact = exactQuantile(values, q);
      const answer = lag.quantile(T0 + 5000, q);
      t.ok(answer >= exact && answer <= exact * (1 + 1 / 128) + 1 && values.includes(answer), `spread ${spread}, q ${q}: ${answer} vs exact ${exact}`);
    }
    t.equal(lag.summary(T0 + 5000).max, Math.max(...values), 'max is exact');
  }
});

t.test('the window: old samples leave it whole slots at a time', async (t) => {
  const lag = new LagTracker({ windowMs: 60_000, slots: 12 });
  const start = 1_000_000_000; // a multiple of the 5 s slot
  lag.record(start, 2500); // a spike
  for (let s = 1; s <= 59; s++) lag.record(start + s * 1000, 200);
  t.equal(lag.summary(start + 59_999).max, 2500, 'the spike is in the last 60 s');
  t.equal(lag.summary(start + 59_999).samples, 60);
  const later = lag.summary(start + 60_000);
  t.equal(later.max, 200, 'a minute on, the spike’s slot has left the window');
  t.equal(later.samples, 55, 'with the rest of its 5 s slot');
  t.same(lag.summary(start + 59_000 + 60_000), EMPTY_LAG, 'everything has left a minute after the last sample');
  t.equal(lag.recorded, 60);
});

t.test('a slot is reused when time comes round to it again', async (t) => {
  const lag = new LagTracker({ windowMs: 10_000, slots: 2 });
  lag.record(0, 9000);
  lag.record(10_000, 10); // the same slot index, the next lap
  t.same(lag.summary(10_000), { p50: 10, p99: 10, max: 10, samples: 1 });
});

t.test('samples older than the kept window are dropped; negative lags count as 0', async (t) => {
  const lag = new LagTracker({ windowMs: 10_000, slots: 2 });
  lag.record(20_000, 100);
  lag.record(10_000, 5000); // its slot already holds a later lap
  t.equal(lag.dropped, 1);
  lag.record(20_001, -40); // the local clock behind the exchange's
  t.equal(lag.early, 1);
  t.same(lag.summary(20_001), { p50: 0, p99: 100, max: 100, samples: 2 });
  lag.record(20_002, Number.NaN);
  t.equal(lag.summary(20_002).samples, 2, 'NaN ignored');
});

t.test('lags past the top bin (131 s): the bin’s largest sample answers', async (t) => {
  const lag = new LagTracker();
  lag.record(T0, 400_000);
  lag.record(T0, 1_000_000);
  t.same(lag.summary(T0), { p50: 1_000_000, p99: 1_000_000, max: 1_000_000, samples: 2 }, 'both share the top bin: the largest answers');
  const below = new LagTracker();
  for (let i = 0; i < 99; i++) below.record(T0, 130_000);
  below.record(T0, 1_000_000);
  t.equal(below.summary(T0).p99, 130_000, 'just under the top bin: exact');
});

t.test('clear forgets the window', async (t) => {
  const lag = new LagTracker();
  lag.record(T0, 10);
  lag.clear();
  t.same(lag.summary(T0), EMPTY_LAG);
  lag.record(T0, 20);
  t.same(lag.summary(T0), { p50: 20, p99: 20, max: 20, samples: 1 });
});

t.test('bad options are refused', async (t) => {
  t.throws(() => new LagTracker({ windowMs: 0 }));
  t.throws(() => new LagTracker({ slots: 0 }));
  t.throws(() => new LagTracker({ slots: 1.5 }));
});

t.test('LagHistogram: counts per bucket (upper bounds inclusive), overflow, sum', async (t) => {
  const histogram = new LagHistogram([10, 100, 1000]);
  for (const v of [0, 10, 11, 100, 999, 1000, 1001, 50_000, -5]) histogram.record(v);
  histogram.record(Number.NaN);
  const snapshot = histogram.snapshot();
  t.same(snapshot.boundsMs, [10, 100, 1000]);
  t.same(snapshot.counts, [3, 2, 2, 2], '≤10: 0, 10, −5→0; ≤100: 11, 100; ≤1000: 999, 1000; above: 1001, 50 000');
  t.equal(snapshot.count, 9);
  t.equal(snapshot.sumMs, 0 + 10 + 11 + 100 + 999 + 1000 + 1001 + 50_000);
  t.throws(() => new LagHistogram([10, 10]));
});
