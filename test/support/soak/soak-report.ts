/**
 * The soak's numbers and how they are printed: per-minute lines (RSS, heap, event-loop lag p99, DB writer backlog,
 * trades/s), the recovery table by fault kind, revisions by cause, the totals, and the last line in the issue's shape:
 * `soak <minutes> min: <n> trades, lost <n>, klines differ <n>, clients stale <n>, rss drift <pct>%, loop p99 <ms> ms`.
 */
import { LOOP_DELAY_BOUNDS_MS, type MetricsSample } from './metrics-scraper.ts';
import type { FaultRecord } from './recovery-tracker.ts';

export interface SoakResult {
  readonly minutes: number;
  /** When the market started (wall ms): the report's times are from it. */
  readonly startedAt: number;
  readonly tradesEmitted: number;
  readonly rawTradesEmitted: number;
  /** Σ over the service's lives of trades applied (metrics; see MetricsScraper). */
  readonly tradesApplied: number;
  readonly lost: number;
  readonly klinesCompared: number;
  readonly klinesDiffer: number;
  readonly differExamples: readonly string[];
  readonly clientStreams: number;
  readonly clientsStale: number;
  readonly staleExamples: readonly string[];
  readonly clientEvents: number;
  readonly clientReconnects: number;
  /** Streams read over REST after a (re)connect. */
  readonly clientResyncs: number;
  readonly serviceReconnects: number;
  readonly lateDropped: number;
  readonly revisionsByCause: Readonly<Record<string, number>>;
  /** RSS drift of the service life that ran to the end, from its baseline sample to its last, in %. */
  readonly rssDriftPct: number;
  readonly rssDriftFrom: string;
  /**
   * Event-loop lag p99 over the run, warm-ups excluded (ms): from klagg_event_loop_delay_seconds, the counts each
   * life added after its warm-up, summed, interpolated within the p99's bucket as Prometheus's histogram_quantile does.
   */
  readonly loopP99Ms: number;
  /** The run's loop-delay distribution: samples, the p99's bucket, p50/p90/p99.9 and the share past 50 ms. */
  readonly loopDelay: string;
  /** Where the loop lag came from: the per-scrape p99s' spread and the worst scrapes with their time in the run. */
  readonly loopDetail: string;
  readonly backlogPeakRows: number;
  readonly faults: readonly FaultRecord[];
  /** Exchange faults injected, by fault type (every type must be there). */
  readonly faultTypesInjected: Readonly<Record<string, number>>;
  readonly sigkills: number;
  readonly dbOutages: number;
  readonly serviceLives: number;
  readonly serviceErrors: number;
  readonly serviceExitCode: number | null;
  readonly restBans: number;
  readonly oracleSeconds: number;
  readonly notes: readonly string[];
}

const MB = 1024 * 1024;

/** One line per minute of the run from the metrics samples of that minute and the trades emitted in it. */
export function minuteLine(minute: number, samples: readonly MetricsSample[], tradesInMinute: number, seconds: number, harness: string): string {
  if (samples.length === 0) return `minute ${minute}: no metrics (service down), ${Math.round(tradesInMinute / seconds)} trades/s emitted; ${harness}`;
  const last = samples.at(-1)!;
  const max = (pick: (s: MetricsSample) => number): number => Math.max(...samples.map(pick).filter(Number.isFinite));
  const ofLast = samples.filter((s) => s.life === last.life && s.loopDelayCounts.length > 0);
  const minuteP99 = ofLast.length < 2 ? Number.NaN : delayQuantile(delta(ofLast[0]!, ofLast.at(-1)!), 0.99);
  return (
    `minute ${minute}: rss ${(last.rssBytes / MB).toFixed(0)} MB, heap ${(last.heapUsedBytes / MB).toFixed(0)} MB, threads' heaps ${(last.threadHeapBytes / MB).toFixed(0)} MB, loop p99 ${minuteP99.toFixed(0)} ms (worst scrape ${max((s) => s.loopP99Ms).toFixed(0)}), ` +
    `db backlog ${max((s) => s.dbBacklogRows)} rows, stream lag p99 ≤ ${max((s) => s.streamLagMs).toFixed(0)} ms, ${Math.round(tradesInMinute / seconds)} trades/s emitted (life ${last.life}); ${harness}`
  );
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Recovery by fault kind: injected, recovered, median and max seconds, not recovered. */
export function recoveryTable(faults: readonly FaultRecord[]): string[] {
  const kinds = [...new Set(faults.map((f) => f.kind))].sort();
  const lines = [
    'recovery by fault kind (s from the fault’s end until every trade published by then is stored; "never ended": the',
    'trades it held back were never published — a symbol quiet until the end):',
    '  kind                  n  recovered   p50    max   not recovered   never ended',
  ];
  for (const kind of kinds) {
    const of = faults.filter((f) => f.kind === kind);
    const times = of.filter((f) => f.recoveredAt !== undefined && f.endAt !== undefined).map((f) => f.recoveredAt! - f.endAt!);
    const neverEnded = of.filter((f) => f.endAt === undefined).length;
    const missing = of.length - times.length - neverEnded;
    lines.push(`  ${kind.padEnd(20)} ${String(of.length).padStart(3)}  ${String(times.length).padStart(9)}  ${seconds(percentile(times, 50)).padStart(5)}  ${seconds(times.length === 0 ? Number.NaN : Math.max(...times)).padStart(5)}   ${String(missing).padStart(13)}   ${String(neverEnded).padStart(11)}`);
  }
  return lines;
}

/** The whole report; the last line is the issue's. */
export function reportLines(r: SoakResult): string[] {
  const singles = r.faults.filter((f) => f.kind === 'db outage' || f.kind === 'sigkill+restart');
  const causes = Object.entries(r.revisionsByCause).map(([cause, n]) => `${cause} ${n}`).join(', ') || 'none';
  const lines = [
    ...recoveryTable(r.faults),
    ...singles.map((f) => `${f.kind} at +${seconds(f.injectedAt - r.startedAt)} s: ended ${f.endAt === undefined ? '-' : `${seconds(f.endAt - f.injectedAt)} s after it began`}, recovered ${f.recoveredAt === undefined ? 'NOT' : `${seconds(f.recoveredAt - f.endAt!)} s after its end`}`),
    `exchange fault types injected: ${Object.entries(r.faultTypesInjected).map(([t, n]) => `${t} ${n}`).join(', ')}`,
    `revisions by cause: ${causes}`,
    `trades: ${r.tradesEmitted} emitted (${r.rawTradesEmitted} raw), ${r.tradesApplied} applied (Σ over ${r.serviceLives} lives; a restart applies again what it had not stored), late dropped ${r.lateDropped}, lost ${r.lost} raw`,
    `klines: ${r.klinesCompared} compared with the fault-free replay (${r.oracleSeconds.toFixed(0)} s), ${r.klinesDiffer} differ`,
    ...r.differExamples.map((e) => `  differs: ${e}`),
    `clients: ${r.clientStreams} streams, ${r.clientEvents} events, ${r.clientReconnects} reconnects (${r.clientResyncs} streams resynced over REST), ${r.clientsStale} stale`,
    ...r.staleExamples.map((e) => `  stale: ${e}`),
    `loop lag over the run: ${r.loopDelay}`,
    `loop lag per scrape (prom-client's nodejs_eventloop_lag_p99_seconds: p99 of a 20 ms timer's ticks over each 2 s scrape; idle reads 20): ${r.loopDetail}`,
    `service: ${r.serviceReconnects} exchange reconnects, db backlog peak ${r.backlogPeakRows} rows, rss drift ${r.rssDriftPct.toFixed(1)}% (${r.rssDriftFrom}), loop p99 ${r.loopP99Ms.toFixed(0)} ms, ${r.serviceErrors} error lines logged, exit code ${r.serviceExitCode}, REST bans ${r.restBans}`,
    ...r.notes.map((n) => `note: ${n}`),
    `soak ${r.minutes} min: ${r.tradesEmitted} trades, lost ${r.lost}, klines differ ${r.klinesDiffer}, clients stale ${r.clientsStale}, rss drift ${r.rssDriftPct.toFixed(1)}%, loop p99 ${Math.round(r.loopP99Ms)} ms`,
  ];
  return lines;
}

/** The RSS drift of the life that ran to the end: its sample 5 min after its start (or halfway through a shorter life) against its last. */
export function rssDrift(samples: readonly MetricsSample[], warmupMs = 5 * 60_000): { pct: number; from: string } {
  const lastLife = samples.at(-1)?.life;
  const life = samples.filter((s) => s.life === lastLife && Number.isFinite(s.rssBytes));
  if (life.length < 2) return { pct: Number.NaN, from: 'too few samples' };
  const start = life[0]!.at;
  const span = life.at(-1)!.at - start;
  const from = start + Math.min(warmupMs, span / 2);
  const base = life.find((s) => s.at >= from)!;
  const last = life.at(-1)!;
  return { pct: ((last.rssBytes - base.rssBytes) / base.rssBytes) * 100, from: `life ${lastLife}: ${(base.rssBytes / MB).toFixed(0)} MB at +${seconds(base.at - start)} s → ${(last.rssBytes / MB).toFixed(0)} MB at +${seconds(last.at - start)} s` };
}

/** Per-bucket counts (not cumulative) added between two samples of one life. */
function delta(from: MetricsSample, to: MetricsSample): number[] {
  const added = to.loopDelayCounts.map((count, i) => count - from.loopDelayCounts[i]!);
  return added.map((count, i) => count - (i === 0 ? 0 : added[i - 1]!));
}

/**
 * The q-quantile (ms) of per-bucket counts over LOOP_DELAY_BOUNDS_MS and the index of its bucket, interpolated
 * linearly within the bucket (as Prometheus's histogram_quantile; in the +Inf bucket, the last finite bound).
 */
function quantileAt(counts: readonly number[], q: number): { value: number; bucket: number } {
  const total = counts.reduce((a, b) => a + b, 0);
  if (!(total > 0)) return { value: Number.NaN, bucket: -1 };
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i]!;
    if (below + n >= rank && n > 0) {
      const upper = LOOP_DELAY_BOUNDS_MS[i]!;
      const lower = i === 0 ? 0 : LOOP_DELAY_BOUNDS_MS[i - 1]!;
      return { value: Number.isFinite(upper) ? lower + (upper - lower) * ((rank - below) / n) : lower, bucket: i };
    }
    below += n;
  }
  return { value: LOOP_DELAY_BOUNDS_MS.at(-2)!, bucket: counts.length - 1 };
}

/** The q-quantile (ms) of per-bucket counts (see quantileAt); NaN without samples. */
export function delayQuantile(counts: readonly number[], q: number): number {
  return quantileAt(counts, q).value;
}

/** The loop-delay counts the lives added after their first `warmupMs` (their start: activation, joins), summed. */
export function runLoopDelay(samples: readonly MetricsSample[], warmupMs: number): number[] {
  const sum = LOOP_DELAY_BOUNDS_MS.map(() => 0);
  const lives = new Map<number, MetricsSample[]>();
  for (const s of samples) {
    if (s.loopDelayCounts.length === 0 || !s.loopDelayCounts.every(Number.isFinite)) continue;
    const life = lives.get(s.life);
    if (life === undefined) lives.set(s.life, [s]);
    else life.push(s);
  }
  for (const life of lives.values()) {
    const from = life.find((s) => s.at - life[0]!.at >= warmupMs);
    if (from === undefined || from === life.at(-1)) continue;
    delta(from, life.at(-1)!).forEach((n, i) => (sum[i]! += n));
  }
  return sum;
}

/** The run's event-loop lag p99 (ms), warm-ups excluded: see SoakResult.loopP99Ms. */
export function loopP99(samples: readonly MetricsSample[], warmupMs: number): number {
  return delayQuantile(runLoopDelay(samples, warmupMs), 0.99);
}

/** One line on the run's loop-delay distribution (warm-ups excluded). */
export function loopDelaySummary(samples: readonly MetricsSample[], warmupMs: number): string {
  const counts = runLoopDelay(samples, warmupMs);
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return 'no samples';
  const { bucket: i } = quantileAt(counts, 0.99);
  const bucket = `(${i === 0 ? 0 : LOOP_DELAY_BOUNDS_MS[i - 1]}, ${LOOP_DELAY_BOUNDS_MS[i]}] ms`;
  const past50 = counts.slice(LOOP_DELAY_BOUNDS_MS.indexOf(50) + 1).reduce((a, b) => a + b, 0);
  const q = (p: number): string => delayQuantile(counts, p).toFixed(1);
  return `${total} samples of a 10 ms timer (klagg_event_loop_delay_seconds), p50 ${q(0.5)}, p90 ${q(0.9)}, p99 ${q(0.99)} (bucket ${bucket}), p99.9 ${q(0.999)} ms; ${past50} samples past 50 ms (${((past50 / total) * 100).toFixed(2)}%)`;
}

/** The per-scrape loop p99s' p50/p90/p99/max and the 8 worst scrapes (time since `startedAt`). */
export function loopDetail(samples: readonly MetricsSample[], warmupMs: number, startedAt: number): string {
  const warm = warmSamples(samples, warmupMs);
  const values = warm.map((s) => s.loopP99Ms);
  const worst = [...warm].sort((a, b) => b.loopP99Ms - a.loopP99Ms).slice(0, 8);
  const at = (pct: number): string => percentile(values, pct).toFixed(0);
  return `${values.length} scrapes, p50 ${at(50)}, p90 ${at(90)}, p99 ${at(99)}, max ${Math.max(...values).toFixed(0)} ms; worst at ${worst.map((s) => `+${seconds(s.at - startedAt)} s ${s.loopP99Ms.toFixed(0)} ms`).join(', ')}`;
}

function warmSamples(samples: readonly MetricsSample[], warmupMs: number): MetricsSample[] {
  const firstOf = new Map<number, number>();
  for (const s of samples) if (!firstOf.has(s.life)) firstOf.set(s.life, s.at);
  return samples.filter((s) => s.at - firstOf.get(s.life)! >= warmupMs && Number.isFinite(s.loopP99Ms));
}
