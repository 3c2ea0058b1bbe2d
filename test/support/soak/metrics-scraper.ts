/**
 * Reads the service's Prometheus `/metrics` every few seconds. Names checked against what `klagg run` exposes
 * (src/infra/http/metrics.ts with prom-client's default metrics under the `klagg_` prefix, src/app/system-metrics.ts):
 * `klagg_process_resident_memory_bytes`, `klagg_nodejs_heap_size_used_bytes`, `klagg_nodejs_eventloop_lag_p99_seconds`
 * (prom-client resets its event-loop histogram at every scrape, so each sample is the p99 of the window since the
 * previous scrape, and its samples are a 20 ms timer's ticks: an idle loop reads 20 ms),
 * `klagg_event_loop_delay_seconds_bucket{le}` (cumulative: how late a 10 ms timer ran), `klagg_db_writer_buffered_rows`, `klagg_trades_applied_total`, `klagg_stream_reconnects_total`,
 * `klagg_kline_revisions_total{cause}`, `klagg_trades_late_total`, `klagg_stream_watermark_lag_seconds`.
 *
 * Counters restart at 0 with every life of the process: totals are summed over lives from each life's last sample
 * (what a SIGKILLed life counted after its last scrape is not seen — at most one scrape period).
 */

export interface MetricsSample {
  /** Wall time (ms) of the scrape. */
  readonly at: number;
  /** Which life of the service answered. */
  readonly life: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** The worker threads' own heaps, used + external, summed (NaN when not exposed). */
  readonly threadHeapBytes: number;
  readonly loopP99Ms: number;
  /** Cumulative counts of klagg_event_loop_delay_seconds by bucket, in LOOP_DELAY_BOUNDS_MS order (empty if absent). */
  readonly loopDelayCounts: readonly number[];
  readonly dbBacklogRows: number;
  readonly applied: number;
  readonly late: number;
  readonly reconnects: number;
  /** p99 of the exchange stream's lag (receive time − trade time) over the service's recent window. */
  readonly streamLagMs: number;
  readonly revisions: Readonly<Record<string, number>>;
}

/** klagg_event_loop_delay_seconds's bucket bounds (ms), src/infra/http/event-loop-delay.ts; +Inf last. */
export const LOOP_DELAY_BOUNDS_MS = [1, 2, 5, 10, 20, 30, 40, 50, 75, 100, 150, 200, 300, 500, 1000, 2000, 5000, Number.POSITIVE_INFINITY];

/** `name{labels} value` lines of a Prometheus text exposition, by name (labels kept as text). */
export function parseMetrics(text: string): Map<string, { labels: string; value: number }[]> {
  const out = new Map<string, { labels: string; value: number }[]>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const list = out.get(match[1]!) ?? [];
    list.push({ labels: match[2] ?? '', value: Number(match[3]) });
    out.set(match[1]!, list);
  }
  return out;
}

export class MetricsScraper {
  readonly samples: MetricsSample[] = [];
  readonly #url: () => string;
  readonly #life: () => number;
  #timer: NodeJS.Timeout | undefined;
  #busy = false;

  constructor(url: () => string, life: () => number) {
    this.#url = url;
    this.#life = life;
  }

  start(everyMs: number): void {
    this.#timer = setInterval(() => void this.scrape(), everyMs);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** One scrape; a service that is down (or too slow to answer in 3 s) leaves no sample. */
  async scrape(): Promise<MetricsSample | undefined> {
    if (this.#busy) return undefined;
    this.#busy = true;
    const life = this.#life();
    try {
      const response = await fetch(`${this.#url()}/metrics`, { signal: AbortSignal.timeout(3_000) });
      if (!response.ok) return undefined;
      const metrics = parseMetrics(await response.text());
      const one = (name: string): number => metrics.get(`klagg_${name}`)?.[0]?.value ?? Number.NaN;
      const revisions: Record<string, number> = {};
      for (const { labels, value } of metrics.get('klagg_kline_revisions_total') ?? []) {
        const cause = /cause="([^"]*)"/.exec(labels)?.[1];
        if (cause !== undefined) revisions[cause] = value;
      }
      const byLe = new Map<number, number>();
      for (const { labels, value } of metrics.get('klagg_event_loop_delay_seconds_bucket') ?? []) {
        const le = /le="([^"]*)"/.exec(labels)?.[1];
        if (le !== undefined) byLe.set(le === '+Inf' ? Number.POSITIVE_INFINITY : Math.round(Number(le) * 1000), value);
      }
      const sample: MetricsSample = {
        at: Date.now(),
        life,
        rssBytes: one('process_resident_memory_bytes'),
        heapUsedBytes: one('nodejs_heap_size_used_bytes'),
        threadHeapBytes: (metrics.get('klagg_worker_thread_heap_bytes') ?? []).reduce((sum, { value }) => sum + value, 0) || Number.NaN,
        loopP99Ms: one('nodejs_eventloop_lag_p99_seconds') * 1000,
        loopDelayCounts: byLe.size === 0 ? [] : LOOP_DELAY_BOUNDS_MS.map((ms) => byLe.get(ms) ?? Number.NaN),
        dbBacklogRows: one('db_writer_buffered_rows'),
        applied: one('trades_applied_total'),
        late: one('trades_late_total'),
        reconnects: one('stream_reconnects_total'),
        streamLagMs: one('stream_watermark_lag_seconds') * 1000,
        revisions,
      };
      this.samples.push(sample);
      return sample;
    } catch {
      return undefined;
    } finally {
      this.#busy = false;
    }
  }

  /** The last sample of each life. */
  lastOfEachLife(): MetricsSample[] {
    const last = new Map<number, MetricsSample>();
    for (const sample of this.samples) last.set(sample.life, sample);
    return [...last.values()];
  }

  /** A counter summed over lives (each life's last sample). */
  total(pick: (sample: MetricsSample) => number): number {
    return this.lastOfEachLife().reduce((sum, sample) => sum + (Number.isFinite(pick(sample)) ? pick(sample) : 0), 0);
  }

  revisionsByCause(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const sample of this.lastOfEachLife()) for (const [cause, n] of Object.entries(sample.revisions)) out[cause] = (out[cause] ?? 0) + n;
    return out;
  }
}
