/**
 * Flushing open klines to the store, the DB writer's steady state: 5,000 open klines whose keys are all stored
 * already, each flush carrying a newer last aggregate id, so every row is a conflict that the version guard lets
 * through (an UPDATE). Measured on PostgreSQL (a temp database on the local server, dropped afterwards) and on
 * PGlite (a temp directory). `node bench/db-flush.ts` runs it alone.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IntervalName } from '../src/domain/interval.ts';
import type { Kline } from '../src/domain/kline.ts';
import { KlineStore, type KlineRow } from '../src/infra/db/kline-store.ts';
import { openDatabase, type DatabaseHandle } from '../src/infra/db/open-database.ts';
import { createTestDatabase } from '../test/support/postgres.ts';
import { BenchReport, median } from './report.ts';

export interface DbFlushOptions {
  /**
   * A database to write into instead of a temp database on the local server; the bench writes under a venue of its
   * own and deletes those rows afterwards.
   */
  readonly postgresUrl?: string;
}

export const ROWS = 5_000;
const RUNS = 10;
const TARGET_POSTGRES_MS = 60;
const INTERVALS: readonly IntervalName[] = ['1m', '5m', '30m', '1h', '4h'];
/** 2026-01-01T00:00:00Z: aligned for every interval above. */
const OPEN_TIME = 1_767_225_600_000;

/** 1,000 symbols × 5 intervals of open klines, at typical scales, all at version `lastAggId` (a higher one passes the guard). */
export function openKlines(venue: string, lastAggId: number): KlineRow[] {
  const rows: KlineRow[] = [];
  for (let s = 0; rows.length < ROWS; s++) {
    for (const interval of INTERVALS) {
      const kline: Kline = {
        symbol: `SYM${s}USDT`,
        interval,
        openTime: OPEN_TIME,
        closeTime: OPEN_TIME + 59_999,
        open: '64012.30',
        high: '64100.00',
        low: '63950.10',
        close: `640${String(lastAggId % 100).padStart(2, '0')}.50`,
        volume: `${1_000 + lastAggId}.123`,
        quoteVolume: `${64_000_000 + lastAggId}.12345000`,
        tradeCount: 1_000 + lastAggId,
        takerBuyVolume: `${500 + lastAggId}.001`,
        takerBuyQuoteVolume: `${32_000_000 + lastAggId}.06400000`,
        firstTradeId: 5_000_000_000,
        lastTradeId: 5_000_000_000 + lastAggId,
        lastAggId: 2_000_000_000 + lastAggId,
        isFinal: false,
      };
      rows.push({ venue, market: 'usdm', kline, revision: 0, source: 'live' });
    }
  }
  return rows;
}

/** Median ms of RUNS flushes, each all-conflict, after one inserting flush (not timed). */
async function measure(handle: DatabaseHandle, venue: string): Promise<{ medianMs: number; runsMs: number[] }> {
  const store = new KlineStore(handle.db);
  await store.upsert(openKlines(venue, 0));
  const runsMs: number[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const rows = openKlines(venue, run);
    const started = performance.now();
    const written = await store.upsert(rows);
    runsMs.push(performance.now() - started);
    if (written !== ROWS) throw new Error(`db flush wrote ${written} of ${ROWS} rows on ${handle.kind}`);
  }
  return { medianMs: median(runsMs), runsMs };
}

async function measurePostgres(options: DbFlushOptions): Promise<{ medianMs: number; runsMs: number[] }> {
  if (options.postgresUrl !== undefined) {
    const venue = `bench_${randomBytes(4).toString('hex')}`;
    const handle = await openDatabase({ url: options.postgresUrl });
    try {
      return await measure(handle, venue);
    } finally {
      await handle.db.deleteFrom('klines').where('venue', '=', venue).execute();
      await handle.close();
    }
  }
  const database = await createTestDatabase('klagg_bench');
  try {
    const handle = await openDatabase({ url: database.url });
    try {
      return await measure(handle, 'bench');
    } finally {
      await handle.close();
    }
  } finally {
    await database.drop();
  }
}

async function measurePglite(): Promise<{ medianMs: number; runsMs: number[] }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'klagg-bench-pglite-'));
  try {
    const handle = await openDatabase({ dataDir });
    try {
      return await measure(handle, 'bench');
    } finally {
      await handle.close();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

export async function benchDbFlush(report: BenchReport, options: DbFlushOptions = {}): Promise<void> {
  const postgres = await measurePostgres(options);
  const pglite = await measurePglite();
  report.line(
    `db flush ${ROWS} open klines: postgres ${postgres.medianMs.toFixed(1)} ms (target ≤ ${TARGET_POSTGRES_MS}), ` +
      `pglite ${pglite.medianMs.toFixed(1)} ms`,
  );
  const round = (values: number[]): number[] => values.map((v) => Math.round(v * 10) / 10);
  report.record('dbFlush', {
    rows: ROWS,
    runs: RUNS,
    postgres: { medianMs: postgres.medianMs, runsMs: round(postgres.runsMs), targetMs: TARGET_POSTGRES_MS },
    pglite: { medianMs: pglite.medianMs, runsMs: round(pglite.runsMs) },
  });
}

if (import.meta.main) {
  const report = new BenchReport();
  await benchDbFlush(report, { postgresUrl: process.env['DATABASE_URL'] });
  report.line(JSON.stringify(report.records));
}
