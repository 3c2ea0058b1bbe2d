/**
 * The soak's numbers and how they are printed: per-minute lines (RSS, heap, event-loop lag p99, DB writer backlog,
 * trades/s), the recovery table by fault kind, revisions by cause, the totals, and the last line in the issue's shape:
 * `soak <minutes> min: <n> trades, lost <n>, klines differ <n>, clients stale <n>, rss drift <pct>%, loop p99 <ms> ms`.
 */
import type { MetricsSample } from './metrics-scraper.ts';
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
  /** p99 of the per-scrape event-loop lag p99s, warm-ups excluded (ms). */
  readonly loopP99Ms: number;
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
  return (
    `minute ${minute}: rss ${(last.rssBytes / MB).toFixed(0)} MB, heap ${(last.heapUsedBytes / MB).toFixed(0)} MB, loop p99 ${max((s) => s.loopP99Ms).toFixed(0)} ms, ` +
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
    `loop lag per scrape: ${r.loopDetail}`,
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

/** p99 of the per-scrape loop p99s, leaving out each life's first `warmupMs` (its start: activation, joins). */
export function loopP99(samples: readonly MetricsSample[], warmupMs: number): number {
  return percentile(warmSamples(samples, warmupMs).map((s) => s.loopP99Ms), 99);
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
