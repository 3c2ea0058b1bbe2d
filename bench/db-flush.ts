/**
 * Flushing open klines to the store, the DB writer's steady state: 5,000 open klines whose keys are all stored
 * already, each flush carrying a newer last aggregate id, so every row is a conflict that the version guard lets
 * through (an UPDATE). Measured on PostgreSQL (a temp database on the local server, dropped afterwards) and on
 * PGlite (a temp directory), through `KlineStore.forDatabase` as the service writes; on PostgreSQL the other ways
 * of flushing (db-flush-alternatives.ts) are measured in the same rounds for comparison. `node bench/db-flush.ts`
 * runs it alone.
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
import { openFlushAlternatives } from './db-flush-alternatives.ts';
import { BenchReport, median } from './report.ts';

export interface DbFlushOptions {
  /**
   * A database to write into instead of a temp database on the local server; the bench writes under a venue of its
   * own and deletes those rows afterwards.
   */
  readonly postgresUrl?: string;
}

export const ROWS = 5_000;
const RUNS = 5;
const WARMUP_RUNS = 2;
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

interface Contender {
  readonly name: string;
  readonly venue: string;
  flush(rows: readonly KlineRow[]): Promise<number>;
}

interface Timing {
  readonly medianMs: number;
  readonly runsMs: number[];
}

/**
 * Every contender writes its own venue's 5,000 keys: one inserting flush and WARMUP_RUNS updating flushes (not
 * timed), then RUNS timed flushes. Rounds interleave the contenders in a new random order each time, so a burst of
 * other work on the machine falls on all of them alike. Each flush carries a fresh version (a higher last aggregate
 * id and new values), so every row is an UPDATE the guard lets through: the flush must report 5,000 rows written,
 * the venue must still hold exactly 5,000 rows (nothing was inserted), and a sample read back must be the last
 * version written, field for field.
 */
async function measure(handle: DatabaseHandle, contenders: readonly Contender[]): Promise<Map<string, Timing>> {
  const reader = new KlineStore(handle.db);
  for (const c of contenders) {
    const inserted = await c.flush(openKlines(c.venue, 0));
    if (inserted !== ROWS) throw new Error(`db flush (${c.name}) inserted ${inserted} of ${ROWS} rows on ${handle.kind}`);
  }
  const runs = new Map(contenders.map((c) => [c.name, [] as number[]]));
  for (let round = 1; round <= WARMUP_RUNS + RUNS; round++) {
    for (const c of shuffled(contenders)) {
      const rows = openKlines(c.venue, round);
      const started = performance.now();
      const written = await c.flush(rows);
      const ms = performance.now() - started;
      if (written !== ROWS) throw new Error(`db flush (${c.name}) wrote ${written} of ${ROWS} rows on ${handle.kind}`);
      if (round > WARMUP_RUNS) runs.get(c.name)!.push(ms);
    }
  }
  for (const c of contenders) await verify(reader, handle.kind, c, WARMUP_RUNS + RUNS);
  return new Map([...runs].map(([name, runsMs]) => [name, { medianMs: median(runsMs), runsMs }]));
}

/** The venue holds exactly its ROWS keys, and every 97th of them reads back as the version of the last flush. */
async function verify(store: KlineStore, kind: string, c: Contender, lastRun: number): Promise<void> {
  const count = await store.count(c.venue, 'usdm');
  if (count !== ROWS) throw new Error(`db flush (${c.name}) left ${count} rows, expected ${ROWS}, on ${kind}`);
  const expected = openKlines(c.venue, lastRun);
  for (let i = 0; i < expected.length; i += 97) {
    const want = expected[i]!.kline;
    const [got] = await store.range(c.venue, 'usdm', want.symbol, want.interval, { startTime: want.openTime, endTime: want.openTime, limit: 1 });
    if (got === undefined || canonical(got) !== canonical(want)) {
      throw new Error(`db flush (${c.name}) read back ${JSON.stringify(got)}, expected ${JSON.stringify(want)}, on ${kind}`);
    }
  }
}

/** JSON with keys sorted, so equal klines compare equal whatever order their fields were set in. */
function canonical(kline: Kline): string {
  return JSON.stringify(kline, Object.keys(kline).sort());
}

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const STORE = 'KlineStore.upsert';

async function measurePostgresOn(handle: DatabaseHandle, url: string, venuePrefix: string): Promise<Map<string, Timing>> {
  const store = KlineStore.forDatabase(handle);
  const others = openFlushAlternatives(handle.db, url);
  try {
    const contenders: Contender[] = [
      { name: STORE, venue: `${venuePrefix}store`, flush: (rows) => store.upsert(rows) },
      ...others.alternatives.map((a, i) => ({ name: a.name, venue: `${venuePrefix}alt${i}`, flush: a.flush })),
    ];
    return await measure(handle, contenders);
  } finally {
    await others.close();
  }
}

async function measurePostgres(options: DbFlushOptions): Promise<Map<string, Timing>> {
  if (options.postgresUrl !== undefined) {
    const prefix = `bench_${randomBytes(4).toString('hex')}_`;
    const handle = await openDatabase({ url: options.postgresUrl });
    try {
      return await measurePostgresOn(handle, options.postgresUrl, prefix);
    } finally {
      await handle.db.deleteFrom('klines').where('venue', 'like', `${prefix}%`).execute();
      await handle.close();
    }
  }
  const database = await createTestDatabase('klagg_bench');
  try {
    const handle = await openDatabase({ url: database.url });
    try {
      return await measurePostgresOn(handle, database.url, 'bench_');
    } finally {
      await handle.close();
    }
  } finally {
    await database.drop();
  }
}

async function measurePglite(): Promise<Timing> {
  const dataDir = await mkdtemp(join(tmpdir(), 'klagg-bench-pglite-'));
  try {
    const handle = await openDatabase({ dataDir });
    try {
      const store = KlineStore.forDatabase(handle);
      const timings = await measure(handle, [{ name: STORE, venue: 'bench', flush: (rows) => store.upsert(rows) }]);
      return timings.get(STORE)!;
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
  const store = postgres.get(STORE)!;
  report.line(
    `db flush ${ROWS} open klines: postgres ${Math.round(store.medianMs)} ms (target ≤ ${TARGET_POSTGRES_MS}), ` +
      `pglite ${Math.round(pglite.medianMs)} ms (median of ${RUNS} after ${WARMUP_RUNS} warm-up flushes)`,
  );
  report.line(
    `db flush alternatives (${ROWS} rows, postgres, median of ${RUNS}): ` +
      [...postgres].map(([name, t]) => `${name === STORE ? 'projectset ×2 parallel (KlineStore.upsert)' : name} ${Math.round(t.medianMs)} ms`).join(', '),
  );
  const round = (values: number[]): number[] => values.map((v) => Math.round(v * 10) / 10);
  report.record('dbFlush', {
    rows: ROWS,
    runs: RUNS,
    warmupRuns: WARMUP_RUNS,
    postgres: { medianMs: store.medianMs, runsMs: round(store.runsMs), targetMs: TARGET_POSTGRES_MS },
    pglite: { medianMs: pglite.medianMs, runsMs: round(pglite.runsMs) },
    postgresAlternatives: Object.fromEntries([...postgres].filter(([name]) => name !== STORE).map(([name, t]) => [name, { medianMs: t.medianMs, runsMs: round(t.runsMs) }])),
  });
}

if (import.meta.main) {
  const report = new BenchReport();
  await benchDbFlush(report, { postgresUrl: process.env['DATABASE_URL'] });
  report.line(JSON.stringify(report.records));
}
