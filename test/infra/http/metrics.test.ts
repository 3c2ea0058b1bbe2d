/**
 * The exchange streams' metrics in the Prometheus text: the lag histogram mirrored exactly from the StreamManager's
 * bucket counts (prom-client has no public setter; this catches a prom-client change that breaks the mirror), the
 * reconnect counter and the watermark gauge; absent until streams are attached.
 */
import t from 'tap';
import { LagHistogram } from '../../../src/domain/lag-tracker.ts';
import { LAG_BUCKETS_MS } from '../../../src/actors/stream-manager.ts';
import { HttpMetrics, type StreamMetricsSource } from '../../../src/infra/http/metrics.ts';

/** The value of one sample line (`name{labels} value`), or undefined. */
function sample(text: string, key: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    if (line.slice(0, space) === key) return Number(line.slice(space + 1));
  }
  return undefined;
}

class FakeStreams implements StreamMetricsSource {
  readonly histogram = new LagHistogram(LAG_BUCKETS_MS);
  stats = { reconnects: 0 };
  watermark = 0;
  lagHistogram() {
    return this.histogram.snapshot();
  }
  watermarkLagMs(): number {
    return this.watermark;
  }
}

t.test('stream lag histogram, reconnects and watermark in /metrics text', async (t) => {
  const metrics = new HttpMetrics({ defaultMetrics: false });
  const before = await metrics.text();
  t.notMatch(before, /klagg_stream_/, 'no stream metrics without streams (a replay has none)');

  const streams = new FakeStreams();
  metrics.attachStreams(streams);
  let text = await metrics.text();
  t.match(text, /# TYPE klagg_stream_lag_seconds histogram/);
  t.match(text, /# TYPE klagg_stream_reconnects_total counter/);
  t.match(text, /# TYPE klagg_stream_watermark_lag_seconds gauge/);
  t.equal(sample(text, 'klagg_stream_lag_seconds_count'), 0);
  t.equal(sample(text, 'klagg_stream_lag_seconds_bucket{le="+Inf"}'), 0);

  for (const lag of [5, 80, 80, 1500, 1501, 2400, 12_000, -3]) streams.histogram.record(lag);
  streams.stats = { reconnects: 3 };
  streams.watermark = 2400;
  text = await metrics.text();
  const expected: [string, number][] = [
    ['0.01', 2], // 5 and −3 (as 0)
    ['0.025', 2],
    ['0.05', 2],
    ['0.1', 4],
    ['0.25', 4],
    ['0.5', 4],
    ['0.75', 4],
    ['1', 4],
    ['1.5', 5],
    ['2', 6],
    ['3', 7],
    ['5', 7],
    ['10', 7],
    ['+Inf', 8],
  ];
  for (const [le, count] of expected) t.equal(sample(text, `klagg_stream_lag_seconds_bucket{le="${le}"}`), count, `le ${le}`);
  t.equal(sample(text, 'klagg_stream_lag_seconds_count'), 8);
  t.equal(sample(text, 'klagg_stream_lag_seconds_sum'), (5 + 80 + 80 + 1500 + 1501 + 2400 + 12_000) / 1000);
  t.equal(sample(text, 'klagg_stream_reconnects_total'), 3);
  t.equal(sample(text, 'klagg_stream_watermark_lag_seconds'), 2.4);

  // A second scrape shows the source's totals, not twice them.
  streams.histogram.record(40);
  text = await metrics.text();
  t.equal(sample(text, 'klagg_stream_lag_seconds_count'), 9);
  t.equal(sample(text, 'klagg_stream_lag_seconds_bucket{le="0.05"}'), 3);
  t.equal(sample(text, 'klagg_stream_reconnects_total'), 3);

  // Attaching again swaps the source (a service restarted in the same process), no duplicate registration.
  const other = new FakeStreams();
  other.stats = { reconnects: 1 };
  metrics.attachStreams(other);
  text = await metrics.text();
  t.equal(sample(text, 'klagg_stream_lag_seconds_count'), 0);
  t.equal(sample(text, 'klagg_stream_reconnects_total'), 1);
});

t.test('the streams option registers them at construction', async (t) => {
  const streams = new FakeStreams();
  streams.histogram.record(700);
  const metrics = new HttpMetrics({ defaultMetrics: false, streams });
  const text = await metrics.text();
  t.equal(sample(text, 'klagg_stream_lag_seconds_bucket{le="0.5"}'), 0);
  t.equal(sample(text, 'klagg_stream_lag_seconds_bucket{le="0.75"}'), 1);
});
