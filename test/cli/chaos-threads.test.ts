/**
 * The chaos runs of chaos.test.ts with the workers in worker threads, each thread owning the exchange connections of
 * its symbols (per-worker I/O): the same faults on ids and on time, the shared clock finalizing — and the same klines
 * as the exchange's (real data) and as a fault-free run in one thread (generated market).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runChaos } from '../../src/app/chaos.ts';
import { toCombinedFrame } from '../../src/domain/agg-trade.ts';
import { generateTrades } from '../../src/domain/synthetic-market.ts';
import { createRootLogger } from '../../src/infra/logger.ts';
import { XRPETH_TRADES } from '../support/fixtures.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { assertMatchesExchange, storedKlineValues, storedKlines } from '../support/stored-klines.ts';

const logger = createRootLogger({ level: 'silent' });

t.test('worker threads with their own connections: chaos on the real data — exactly the exchange’s 3,560 1m klines', async (t) => {
  const database = await createTestDatabase('klagg_chaos_threads');
  t.teardown(() => database.drop());
  const summary = await runChaos({ source: { kind: 'recording', path: XRPETH_TRADES, speed: 40_000 }, intervals: ['1m'], databaseUrl: database.url, faults: true, faultEveryMs: 200, threads: true, logger });
  t.equal(summary.exitCode, 0);
  t.equal(summary.aggregated, 12_477, 'every trade aggregated exactly once');
  t.equal(summary.lateDropped, 0, 'no trade dropped as late');
  t.ok(summary.gapsRepaired > 0, `gaps repaired over REST (${summary.gapsRepaired})`);
  t.ok(summary.reconnects > 0, `the threads' connections were dropped and replaced (${summary.reconnects})`);
  t.ok(summary.trailingGapsFound >= 1, `the withheld last trades were found (${summary.trailingGapsFound})`);
  assertMatchesExchange(t, await storedKlines({ url: database.url }, 'XRPETH', '1m'));
});

t.test('worker threads with their own connections: chaos on a generated market equals a fault-free run in one thread', async (t) => {
  const faulty = await createTestDatabase('klagg_chaos_threads_faulty');
  const clean = await createTestDatabase('klagg_chaos_threads_clean');
  t.teardown(async () => {
    await faulty.drop();
    await clean.drop();
  });
  const path = join(mkdtempSync(join(tmpdir(), 'klagg-chaos-threads-')), 'market.jsonl');
  const lines = [...generateTrades({ seed: 11, symbols: 24, startTime: Date.UTC(2026, 10, 2), trades: 24_000, meanRatePerSecond: 20 })].map((trade) => toCombinedFrame(trade));
  writeFileSync(path, `${lines.join('\n')}\n`);
  const common = { source: { kind: 'recording' as const, path, speed: 200 }, intervals: ['1m', '5m', '1h'], logger, faultEveryMs: 150 } as const;
  const withFaults = await runChaos({ ...common, intervals: [...common.intervals], databaseUrl: faulty.url, faults: true, threads: true });
  const reference = await runChaos({ ...common, intervals: [...common.intervals], databaseUrl: clean.url, faults: false, threads: false });
  t.equal(withFaults.aggregated, 24_000, 'every trade aggregated despite the faults');
  t.equal(withFaults.lateDropped, 0, 'no trade dropped as late');
  t.ok(withFaults.gapsRepaired > 0, `gaps repaired (${withFaults.gapsRepaired})`);
  const a = await storedKlineValues(faulty.url);
  const b = await storedKlineValues(clean.url);
  t.ok(a.length > 600, `${a.length} klines stored`);
  t.same(a, b, 'identical klines, field for field, to the fault-free run without threads');
});
