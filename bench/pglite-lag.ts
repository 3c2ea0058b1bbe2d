/**
 * What a PGlite flush costs everyone else in the process: the main thread's event-loop lag while the DB writer's
 * statement (KlineStore.upsert, 5,000 open klines, every row an all-conflict UPDATE) runs against the embedded
 * database, repeated RUNS times. PGlite is PostgreSQL compiled to WebAssembly; wherever it runs, its work is
 * synchronous, so on the main thread every flush is a stall of the whole service (streams, HTTP, timers).
 * `node bench/pglite-lag.ts` runs it alone.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { KlineStore } from '../src/infra/db/kline-store.ts';
import { openDatabase } from '../src/infra/db/open-database.ts';
import { openKlines, ROWS } from './db-flush.ts';
import { BenchReport, median } from './report.ts';

const RUNS = 10;
/** The sampler's period: fine enough to see a stall of a few ms, coarse enough not to load the loop itself. */
const RESOLUTION_MS = 1;
/** Sampled time before and after each flush (see below). */
const PAD_MS = 5;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface PgliteLagResult {
  /** p99 of the event-loop delay beyond the sampler's own period, over every flush, ms. */
  readonly lagP99Ms: number;
  readonly lagMaxMs: number;
  /** Median wall time of one flush, ms. */
  readonly flushMs: number;
  readonly flushRunsMs: number[];
}

export async function measurePgliteLag(): Promise<PgliteLagResult> {
  const dataDir = await mkdtemp(join(tmpdir(), 'klagg-bench-pglite-lag-'));
  try {
    const handle = await openDatabase({ dataDir });
    try {
      const store = new KlineStore(handle.db);
      await store.upsert(openKlines('bench', 0)); // inserts every key; the timed flushes are the steady state's updates
      // The histogram records each period of its own timer (≥ RESOLUTION_MS); it runs only around a flush, so the
      // figure is the lag a flush causes, not the idle loop's. It starts a few ms before the flush (its timer must be
      // armed) and stops a few ms after (a timer the flush delayed fires, and is recorded, only once the loop is
      // free again). The rows are built before it starts: that is the aggregator's cost, not the database's.
      const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
      const flushRunsMs: number[] = [];
      for (let run = 1; run <= RUNS; run++) {
        const rows = openKlines('bench', run);
        histogram.enable();
        await sleep(PAD_MS);
        const started = performance.now();
        const written = await store.upsert(rows);
        flushRunsMs.push(performance.now() - started);
        await sleep(PAD_MS);
        histogram.disable();
        if (written !== ROWS) throw new Error(`pglite flush wrote ${written} of ${ROWS} rows`);
        // Let the loop settle between flushes (a real writer flushes about once a second).
        await sleep(50);
      }
      const ms = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
      return { lagP99Ms: ms(histogram.percentile(99)), lagMaxMs: ms(histogram.max), flushMs: median(flushRunsMs), flushRunsMs };
    } finally {
      await handle.close();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

export async function benchPgliteLag(report: BenchReport): Promise<void> {
  const result = await measurePgliteLag();
  report.line(`pglite flush ${ROWS} rows: event-loop lag p99 ${Math.round(result.lagP99Ms)} ms, flush ${Math.round(result.flushMs)} ms`);
  report.record('pgliteLag', {
    rows: ROWS,
    runs: RUNS,
    resolutionMs: RESOLUTION_MS,
    lagP99Ms: Math.round(result.lagP99Ms * 10) / 10,
    lagMaxMs: Math.round(result.lagMaxMs * 10) / 10,
    flushMs: Math.round(result.flushMs * 10) / 10,
    flushRunsMs: result.flushRunsMs.map((v) => Math.round(v * 10) / 10),
  });
}

if (import.meta.main) {
  const report = new BenchReport();
  await benchPgliteLag(report);
  report.line(JSON.stringify(report.records));
}
