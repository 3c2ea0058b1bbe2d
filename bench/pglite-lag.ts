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
import type { IntervalName } from '../src/domain/interval.ts';
import { KlineStore, type KlineRow } from '../src/infra/db/kline-store.ts';
import { openDatabase } from '../src/infra/db/open-database.ts';
import { BenchReport, median } from './report.ts';

const ROWS = 5_000;
const RUNS = 10;
/** The sampler's period: fine enough to see a stall of a few ms, coarse enough not to load the loop itself. */
const RESOLUTION_MS = 1;
/** Sampled time before and after each flush (see below). */
const PAD_MS = 5;
const INTERVALS: readonly IntervalName[] = ['1m', '5m', '30m', '1h', '4h'];
/** 2026-01-01T00:00:00Z: aligned for every interval above. */
const OPEN_TIME = 1_767_225_600_000;

/** 1,000 symbols × 5 intervals of open klines at version `version` (a higher version passes the guard). */
function openKlines(version: number): KlineRow[] {
  const rows: KlineRow[] = [];
  for (let s = 0; rows.length < ROWS; s++) {
    for (const interval of INTERVALS) {
      rows.push({
        venue: 'bench',
        market: 'usdm',
        revision: 0,
        source: 'live',
        kline: {
          symbol: `SYM${s}USDT`,
          interval,
          openTime: OPEN_TIME,
          closeTime: OPEN_TIME + 59_999,
          open: '64012.30',
          high: '64100.00',
          low: '63950.10',
          close: `640${String(version % 100).padStart(2, '0')}.50`,
          volume: `${1_000 + version}.123`,
          quoteVolume: `${64_000_000 + version}.12345000`,
          tradeCount: 1_000 + version,
          takerBuyVolume: `${500 + version}.001`,
          takerBuyQuoteVolume: `${32_000_000 + version}.06400000`,
          firstTradeId: 5_000_000_000,
          lastTradeId: 5_000_000_000 + version,
          lastAggId: 2_000_000_000 + version,
          isFinal: false,
        },
      });
    }
  }
  return rows;
}

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
      await store.upsert(openKlines(0)); // inserts every key; the timed flushes are the steady state's updates
      // The histogram records each period of its own timer (≥ RESOLUTION_MS); it runs only around a flush, so the
      // figure is the lag a flush causes, not the idle loop's. It starts a few ms before the flush (its timer must be
      // armed) and stops a few ms after (a timer the flush delayed fires, and is recorded, only once the loop is
      // free again). The rows are built before it starts: that is the aggregator's cost, not the database's.
      const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
      const flushRunsMs: number[] = [];
      for (let run = 1; run <= RUNS; run++) {
        const rows = openKlines(run);
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
