/**
 * klagg_event_loop_delay_seconds: a loop blocked for 150 ms shows one sample in a bucket past 100 ms, a free loop's
 * samples sit in the low buckets, the counts only grow (cumulative, unlike prom-client's per-scrape p99), and stop()
 * ends the sampling.
 */
import t from 'tap';
import client from 'prom-client';
import { EventLoopDelayHistogram } from '../../../src/infra/http/event-loop-delay.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function buckets(registry: client.Registry): Promise<{ le: Map<string, number>; count: number }> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === 'klagg_event_loop_delay_seconds')!;
  const le = new Map<string, number>();
  let count = 0;
  for (const v of metric.values as { metricName?: string; labels: Record<string, string | number>; value: number }[]) {
    if (v.metricName?.endsWith('_bucket')) le.set(String(v.labels.le), v.value);
    if (v.metricName?.endsWith('_count')) count = v.value;
  }
  return { le, count };
}

function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

t.test('a blocked loop is one slow sample; a free loop reads low; counts are cumulative; stop ends sampling', async (t) => {
  const registry = new client.Registry();
  const delay = new EventLoopDelayHistogram(registry, 'klagg_');
  delay.start();
  await sleep(300);
  const free = await buckets(registry);
  t.ok(free.count >= 10, `a free loop samples every 10 ms (${free.count} samples in 300 ms)`);
  t.ok(free.le.get('0.05')! >= free.count - 1, 'a free loop: every sample (but at most one) under 50 ms');
  t.equal(free.le.get('0.1'), free.count, 'a free loop: no sample past 100 ms');

  block(150);
  await sleep(50);
  const blocked = await buckets(registry);
  t.ok(blocked.count > free.count, 'counts grow');
  t.equal(blocked.count - blocked.le.get('0.1')!, 1, 'the 150 ms block is exactly one sample past 100 ms');
  t.equal(blocked.le.get('0.2'), blocked.count, 'and under 200 ms');

  delay.stop();
  await sleep(100);
  t.equal((await buckets(registry)).count, blocked.count, 'stopped: no more samples');
});
