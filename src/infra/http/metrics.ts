/**
 * Prometheus metrics on a registry of klagg's own (never prom-client's global one, so several services or tests in
 * one process do not collide). System counters are read at scrape time from the system's read models; HTTP request
 * counters are counted as requests are answered. The exchange streams' lag and reconnects are read from the
 * StreamManager (`streams`, or `attachStreams` once it exists) at scrape time too.
 */
import client from 'prom-client';
import type { KlaggSystem } from '../../actors/klagg-system.ts';
import { countByState } from '../../actors/symbol-registry.ts';
import type { LagHistogramSnapshot } from '../../domain/lag-tracker.ts';
import type { Clock } from '../clock.ts';

export const METRICS_CONTENT_TYPE = client.Registry.PROMETHEUS_CONTENT_TYPE;

/** What the metrics read from the exchange streams (the StreamManager has it). */
export interface StreamMetricsSource {
  readonly stats: { readonly reconnects: number };
  /** Lag samples since the start, per bucket. */
  lagHistogram(): LagHistogramSnapshot;
  /** The overall p99 lag (ms) over the recent window. */
  watermarkLagMs(): number;
}

export interface MetricsOptions {
  readonly system: KlaggSystem;
  readonly clock: Clock;
  /** The exchange streams (absent: a replay, or attached later with `attachStreams`). */
  readonly streams?: StreamMetricsSource;
  /** Node's default process metrics (event-loop lag, heap, GC…). Default true. */
  readonly defaultMetrics?: boolean;
  readonly prefix?: string;
}

export class HttpMetrics {
  readonly registry = new client.Registry();
  readonly #requests: client.Counter<'method' | 'route' | 'status'>;
  readonly #rejected: client.Counter<'route' | 'reason'>;
  readonly #overScale: client.Counter<'field'>;
  readonly #prefix: string;
  #streams: StreamMetricsSource | undefined;

  constructor(options: MetricsOptions) {
    const { system, clock } = options;
    const prefix = options.prefix ?? 'klagg_';
    this.#prefix = prefix;
    const registers = [this.registry];
    if (options.defaultMetrics ?? true) client.collectDefaultMetrics({ register: this.registry, prefix, eventLoopMonitoringPrecision: 20 });

    this.#requests = new client.Counter({ name: `${prefix}http_requests_total`, help: 'HTTP requests answered, by route pattern and status', labelNames: ['method', 'route', 'status'], registers });
    this.#overScale = new client.Counter({
      name: `${prefix}served_over_scale_fields_total`,
      help: "Kline decimals served with more decimals than the symbol's scale (kept exact, not rounded), by field",
      labelNames: ['field'],
      registers,
    });
    this.#rejected = new client.Counter({ name: `${prefix}http_rejected_requests_total`, help: 'HTTP requests refused (4xx), by route and reason (a Binance error code or the status)', labelNames: ['route', 'reason'], registers });

    // Values that live in the system: a counter mirrors a monotonic total at scrape time.
    const mirror = (name: string, help: string, read: () => number | Promise<number>): void => {
      new client.Counter({
        name: `${prefix}${name}`,
        help,
        registers,
        async collect() {
          this.reset();
          this.inc(await read());
        },
      });
    };
    const gauge = (name: string, help: string, read: () => number | Promise<number>): void => {
      new client.Gauge({
        name: `${prefix}${name}`,
        help,
        registers,
        async collect() {
          this.set(await read());
        },
      });
    };

    // One stats() call per worker per scrape, shared by every worker metric of that scrape.
    type Summed = { applied: number; duplicates: number; gaps: number; late: number; amended: number; lateBeyondMemory: number; catchUps: number; rejectedFrames: number; repairedGaps: number; unrepairedGaps: number; pendingRepairs: number };
    let workerStats: Promise<Summed> | undefined;
    const workers = (): NonNullable<typeof workerStats> => {
      if (workerStats === undefined) {
        workerStats = Promise.all(system.workers.map((worker) => worker.stats())).then((all) => {
          const sum: Summed = { applied: 0, duplicates: 0, gaps: 0, late: 0, amended: 0, lateBeyondMemory: 0, catchUps: 0, rejectedFrames: 0, repairedGaps: 0, unrepairedGaps: 0, pendingRepairs: 0 };
          for (const s of all) for (const key of Object.keys(sum) as (keyof Summed)[]) sum[key] += s[key];
          return sum;
        });
        setImmediate(() => (workerStats = undefined));
      }
      return workerStats;
    };

    mirror('frames_routed_total', 'Trade frames routed to the worker owning their symbol', () => system.counters.framesRouted);
    mirror('frames_unrouted_total', 'Trade frames for symbols not subscribed (dropped)', () => system.counters.framesUnrouted);
    mirror('frames_rejected_total', 'Malformed or unusable trade frames', async () => (await workers()).rejectedFrames);
    mirror('trades_applied_total', 'Trades applied to klines', async () => (await workers()).applied);
    mirror('trades_duplicate_total', 'Duplicate trades ignored', async () => (await workers()).duplicates);
    mirror('trades_late_total', 'Trades dropped as too late for their kline (always 0: late trades amend it)', async () => (await workers()).late);
    mirror('trades_late_amended_total', 'Late trades applied to a final kline, which went out again as a revision', async () => (await workers()).amended);
    mirror('trades_late_beyond_memory_total', 'Late trades older than the last final kept in memory: those klines rebuilt from the exchange', async () => (await workers()).lateBeyondMemory);
    mirror('catch_ups_total', 'Catch-ups to the exchange’s latest trade (activation from a stored position, trailing gaps)', async () => (await workers()).catchUps);
    new client.Counter({
      name: `${prefix}kline_revisions_total`,
      help: 'Corrected final klines emitted (stored and pushed to stream clients), by cause',
      labelNames: ['cause'],
      registers,
      collect() {
        this.reset();
        for (const [cause, count] of Object.entries(system.revisionsByCause)) this.inc({ cause }, count);
      },
    });
    gauge('finalization_watermark_extra_seconds', 'How much later than the grace quiet periods are finalized (the stream’s measured lag)', () => system.watermarkExtraMs() / 1000);
    mirror('gaps_total', 'Gaps in aggregate trade ids seen', async () => (await workers()).gaps);
    mirror('gaps_repaired_total', 'Gaps repaired from the exchange', async () => (await workers()).repairedGaps);
    mirror('gaps_unrepaired_total', 'Gaps the exchange could no longer fill', async () => (await workers()).unrepairedGaps);
    gauge('gap_repairs_pending', 'Gap repairs in progress', async () => (await workers()).pendingRepairs);

    gauge('db_writer_buffered_rows', 'Kline rows buffered for writing', () => system.dbWriter.stats.bufferedRows);
    gauge('db_writer_buffered_finals', 'Final kline rows buffered for writing', () => system.dbWriter.stats.bufferedFinals);
    mirror('db_writer_written_rows_total', 'Kline rows written to the database', () => system.dbWriter.stats.writtenRows);
    mirror('db_writer_failed_flushes_total', 'Flushes that failed (retried)', () => system.dbWriter.stats.failedFlushes);
    gauge('db_writer_lag_seconds', 'Age of the oldest buffered final kline (by its open time; 0 when none)', () => {
      const oldest = system.dbWriter.stats.oldestBufferedFinal;
      return oldest === null ? 0 : Math.max(0, (clock.now() - oldest) / 1000);
    });

    mirror('gateway_pulls_total', 'Pulls of the workers by the Gateway', () => system.counters.gateway.pulls);
    mirror('gateway_pull_timeouts_total', 'Pulls a worker did not answer in time', () => system.counters.gateway.timeouts);
    mirror('gateway_published_total', 'Batches published by the Gateway', () => system.counters.gateway.published);
    mirror('activations_total', 'Symbol activations that succeeded', () => system.counters.dispatcher.activated);
    mirror('activation_failures_total', 'Symbol activations that failed for good', () => system.counters.dispatcher.failed);
    mirror('activation_retries_total', 'Symbol activation retries', () => system.counters.dispatcher.retries);

    new client.Gauge({
      name: `${prefix}symbols`,
      help: 'Symbols by lifecycle state',
      labelNames: ['state'],
      registers,
      collect() {
        for (const [state, count] of Object.entries(countByState(system.registry))) this.set({ state }, count);
      },
    });
    new client.Gauge({
      name: `${prefix}actor_health`,
      help: 'Health board: 0 ok, 1 degraded, 2 error, per actor',
      labelNames: ['actor'],
      registers,
      collect() {
        this.reset();
        for (const entry of Object.values(system.health.getSnapshot().context.actors)) {
          this.set({ actor: entry.actor }, entry.status === 'ok' ? 0 : entry.status === 'degraded' ? 1 : 2);
        }
      },
    });
    if (options.streams) this.attachStreams(options.streams);
  }

  /** Trailing-gap counters of the exchange watch (read at every scrape). */
  attachTrailingGaps(stats: { readonly suspected: number; readonly found: number; readonly falseAlarms: number }): void {
    const registers = [this.registry];
    const counter = (name: string, help: string, read: () => number): void => {
      new client.Counter({
        name: `${this.#prefix}${name}`,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    };
    counter('trailing_gaps_suspected_total', 'REST checks because the exchange’s last trade id stayed ahead of klagg’s', () => stats.suspected);
    counter('trailing_gaps_found_total', 'Trailing gaps found: trades lost before a quiet spell, fetched over REST', () => stats.found);
    counter('trailing_gaps_false_alarms_total', 'Checks that found nothing (ids of trades the exchange never aggregates)', () => stats.falseAlarms);
  }

  /**
   * Reads the exchange streams' lag and reconnects from `streams` at every scrape (the metrics appear from the first
   * call; a later call swaps the source).
   */
  attachStreams(streams: StreamMetricsSource): void {
    const registered = this.#streams !== undefined;
    this.#streams = streams;
    if (registered) return;
    const prefix = this.#prefix;
    const registers = [this.registry];
    const source = (): StreamMetricsSource => this.#streams!;
    new client.Histogram({
      name: `${prefix}stream_lag_seconds`,
      help: 'Exchange stream lag: receive time minus trade time (T) of every aggTrade frame',
      buckets: streams.lagHistogram().boundsMs.map((ms) => ms / 1000),
      registers,
      collect() {
        setHistogram(this, source().lagHistogram());
      },
    });
    new client.Counter({
      name: `${prefix}stream_reconnects_total`,
      help: 'Exchange stream connections lost and reconnected (rotations not included)',
      registers,
      collect() {
        this.reset();
        this.inc(source().stats.reconnects);
      },
    });
    new client.Gauge({
      name: `${prefix}stream_watermark_lag_seconds`,
      help: 'p99 exchange stream lag over the recent window (0 without samples)',
      registers,
      collect() {
        this.set(source().watermarkLagMs() / 1000);
      },
    });
  }

  countRequest(method: string, route: string, status: number, reason?: string): void {
    this.#requests.inc({ method, route, status: String(status) });
    if (status >= 400 && status < 500) this.#rejected.inc({ route, reason: reason ?? String(status) });
  }

  /** A served kline kept these fields beyond the symbol's scale (see formatKlineChecked). */
  countOverScale(fields: readonly string[]): void {
    for (const field of fields) this.#overScale.inc({ field });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

interface HistogramEntry {
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

/**
 * Makes an unlabelled histogram show `snapshot`'s counts. Why not `observe()` per frame: it costs ~200 ns (label
 * hashing, an object per call), several times the rest of the lag measure, on the path of every frame; the
 * StreamManager counts per bucket itself instead. prom-client has no public setter for a histogram's counts, so this
 * writes its (15.x) internal entry, the one `zero({})` creates; test/infra/http/metrics.test.ts checks the
 * exposition line by line, so a prom-client change that breaks this fails there.
 */
function setHistogram(histogram: client.Histogram, snapshot: LagHistogramSnapshot): void {
  histogram.zero({});
  const entries = Object.values((histogram as unknown as { hashMap: Record<string, HistogramEntry> }).hashMap ?? {});
  const entry = entries[0];
  if (entries.length !== 1 || entry === undefined || typeof entry.bucketValues !== 'object') throw new Error('prom-client histogram internals changed: cannot mirror the lag histogram');
  snapshot.boundsMs.forEach((ms, i) => {
    entry.bucketValues[ms / 1000] = snapshot.counts[i] ?? 0;
  });
  entry.count = snapshot.count;
  entry.sum = snapshot.sumMs / 1000;
}
