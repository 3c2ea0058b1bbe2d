/**
 * Prometheus metrics on a registry of klagg's own (never prom-client's global one, so several services or tests in
 * one process do not collide). HTTP request counters are counted as requests are answered. The exchange streams' lag
 * and reconnects are read from the StreamManager (`streams`, or `attachStreams` once it exists) at scrape time. The
 * running system's own metrics are registered on `registry` by the composition root (`src/app/system-metrics.ts`),
 * so this file knows nothing of the actors.
 */
import client from 'prom-client';
import type { LagHistogramSnapshot } from '../../domain/lag-tracker.ts';
import { KlaggError } from '../../domain/errors.ts';
import { EventLoopDelayHistogram } from './event-loop-delay.ts';

export const METRICS_CONTENT_TYPE = client.Registry.PROMETHEUS_CONTENT_TYPE;

/** What the metrics read from the exchange streams (the StreamManager has it). */
export interface StreamMetricsSource {
  readonly stats: { readonly reconnects: number };
  /** Lag samples since the start, per bucket. */
  lagHistogram(): LagHistogramSnapshot;
  /** The overall p99 lag (ms) over the recent window. */
  watermarkLagMs(): number;
}

/** What the metrics read from klagg's kline stream server about its clients' messages. */
export interface StreamClientStats {
  readonly requests: number;
  readonly requestErrors: number;
  readonly closedMessageTooBig: number;
  readonly closedTooManyRequests: number;
  readonly rejectedUpgrades: number;
}

export interface MetricsOptions {
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
  readonly #loopDelay: EventLoopDelayHistogram | undefined;

  constructor(options: MetricsOptions) {
    const prefix = options.prefix ?? 'klagg_';
    this.#prefix = prefix;
    const registers = [this.registry];
    if (options.defaultMetrics ?? true) {
      client.collectDefaultMetrics({ register: this.registry, prefix, eventLoopMonitoringPrecision: 20 });
      this.#loopDelay = new EventLoopDelayHistogram(this.registry, prefix);
      this.#loopDelay.start();
    }

    this.#requests = new client.Counter({ name: `${prefix}http_requests_total`, help: 'HTTP requests answered, by route pattern and status', labelNames: ['method', 'route', 'status'], registers });
    this.#overScale = new client.Counter({
      name: `${prefix}served_over_scale_fields_total`,
      help: "Kline decimals served with more decimals than the symbol's scale (kept exact, not rounded), by field",
      labelNames: ['field'],
      registers,
    });
    this.#rejected = new client.Counter({ name: `${prefix}http_rejected_requests_total`, help: 'HTTP requests refused (4xx), by route and reason (a Binance error code or the status)', labelNames: ['route', 'reason'], registers });

    if (options.streams) this.attachStreams(options.streams);
  }

  /** The metric name prefix (`klagg_`), for metrics other components register on `registry`. */
  get prefix(): string {
    return this.#prefix;
  }

  /** Trailing-gap counters of the exchange watch (read at every scrape). */
  attachTrailingGaps(stats: { readonly suspected: number; readonly found: number; readonly falseAlarms: number }): void {
    this.#mirror('trailing_gaps_suspected_total', 'REST checks because the exchange’s last trade id stayed ahead of klagg’s', () => stats.suspected);
    this.#mirror('trailing_gaps_found_total', 'Trailing gaps found: trades lost before a quiet spell, fetched over REST', () => stats.found);
    this.#mirror('trailing_gaps_false_alarms_total', 'Checks that found nothing (ids of trades the exchange never aggregates)', () => stats.falseAlarms);
  }

  /** The kline stream server's counters of what its clients sent (read at every scrape). */
  attachStreamClients(stats: () => StreamClientStats): void {
    this.#mirror('ws_requests_total', 'Control messages (SUBSCRIBE, LIST_SUBSCRIPTIONS…) received from kline stream clients', () => stats().requests);
    this.#mirror('ws_request_errors_total', 'Control messages answered with an error (not JSON, unknown method, bad params or id, invalid stream)', () => stats().requestErrors);
    // Clients closed for a message over the size or rate limit are counted by limit in
    // klagg_limits_ws_clients_dropped_total{reason} (limit-metrics.ts), not twice.
    this.#mirror('ws_rejected_upgrades_total', 'Stream connections refused (bad path or stream in the URL, too many streams, shutting down)', () => stats().rejectedUpgrades);
  }

  /** A counter that mirrors a monotonic total kept elsewhere, read at every scrape. */
  #mirror(name: string, help: string, read: () => number): void {
    new client.Counter({
      name: `${this.#prefix}${name}`,
      help,
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
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

  /** Stops the event-loop delay timer (the registry can still be read). */
  close(): void {
    this.#loopDelay?.stop();
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
  if (entries.length !== 1 || entry === undefined || typeof entry.bucketValues !== 'object') throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: 'prom-client histogram internals changed: cannot mirror the lag histogram' });
  snapshot.boundsMs.forEach((ms, i) => {
    entry.bucketValues[ms / 1000] = snapshot.counts[i] ?? 0;
  });
  entry.count = snapshot.count;
  entry.sum = snapshot.sumMs / 1000;
}
