/**
 * The soak's event-loop lag figure: the p99 over the run comes from the cumulative klagg_event_loop_delay_seconds
 * buckets — what each life added after its warm-up, summed over lives — interpolated within the p99's bucket.
 */
import t from 'tap';
import { LOOP_DELAY_BOUNDS_MS, type MetricsSample } from '../support/soak/metrics-scraper.ts';
import { delayQuantile, loopDelaySummary, loopP99, runLoopDelay } from '../support/soak/soak-report.ts';

/** A sample whose cumulative bucket counts are `perBucket` (per bucket, by bound in ms) accumulated. */
function sample(at: number, life: number, perBucket: Record<number, number>): MetricsSample {
  let running = 0;
  const loopDelayCounts = LOOP_DELAY_BOUNDS_MS.map((ms) => (running += perBucket[ms] ?? 0));
  return { at, life, rssBytes: 1, heapUsedBytes: 1, threadHeapBytes: 1, loopP99Ms: 20, loopDelayCounts, dbBacklogRows: 0, applied: 0, late: 0, reconnects: 0, streamLagMs: 0, revisions: {} };
}

t.test('delayQuantile interpolates within the bucket, like histogram_quantile', async (t) => {
  const counts = LOOP_DELAY_BOUNDS_MS.map(() => 0);
  counts[0] = 980; // ≤ 1 ms
  counts[LOOP_DELAY_BOUNDS_MS.indexOf(50)] = 20; // (40, 50]
  t.equal(delayQuantile(counts, 0.5), 0.5 / 0.98 * 1, 'the median within the first bucket');
  t.equal(delayQuantile(counts, 0.99), 45, 'rank 990 is halfway through the (40, 50] bucket');
  counts[LOOP_DELAY_BOUNDS_MS.length - 1] = 1000; // +Inf
  t.equal(delayQuantile(counts, 0.99), 5000, 'in +Inf: the last finite bound');
  t.ok(Number.isNaN(delayQuantile(LOOP_DELAY_BOUNDS_MS.map(() => 0), 0.99)), 'no samples: NaN');
});

t.test('the run p99 counts what each life added after its warm-up, summed over lives', async (t) => {
  const samples = [
    // life 1: a slow start (100 samples at (150, 200] ms in the warm-up), then 1,000 fast samples and 5 slow ones
    sample(0, 1, { 200: 100 }),
    sample(20_000, 1, { 1: 0, 200: 100 }),
    sample(40_000, 1, { 1: 1000, 75: 5, 200: 100 }),
    // life 2 (a restart): its own counters from 0, 2,000 fast and 20 at (40, 50]
    sample(60_000, 2, { 2: 10 }),
    sample(80_000, 2, { 2: 10 }),
    sample(100_000, 2, { 2: 2010, 50: 20 }),
  ];
  const counts = runLoopDelay(samples, 15_000);
  t.equal(counts.reduce((a, b) => a + b), 3025, 'the warm-ups (life 1: 100 slow, life 2: 10) are left out');
  t.equal(counts[LOOP_DELAY_BOUNDS_MS.indexOf(200)], 0, 'no warm-up sample counted');
  t.equal(counts[LOOP_DELAY_BOUNDS_MS.indexOf(75)], 5, 'life 1’s slow samples after its warm-up are');
  t.equal(counts[LOOP_DELAY_BOUNDS_MS.indexOf(50)], 20, 'so are life 2’s');
  // rank 0.99 × 3025 = 2994.75 falls among the 3,000 fast samples
  t.ok(loopP99(samples, 15_000) <= 2, 'p99 within the fast samples');
  const slow = [...samples, sample(120_000, 2, { 2: 2010, 50: 20, 300: 60 })];
  t.equal(loopP99(slow, 15_000), 200 + 100 * ((0.99 * 3085 - 3025) / 60), 'sixty more at (200, 300] move the p99 into that bucket');
  t.match(loopDelaySummary(slow, 15_000), /3085 samples .* p99 [\d.]+ \(bucket \(200, 300\] ms\).* 65 samples past 50 ms/);
});
