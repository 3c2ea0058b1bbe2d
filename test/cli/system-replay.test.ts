/**
 * The recording through the whole actor system into real databases: the exchange's 3,560 klines end up stored, a
 * restart continues open klines from the store, and a database outage in the middle loses no final kline.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { replaySystem, type SystemReplayOptions } from '../../src/app/system-replay.ts';
import { createRootLogger } from '../../src/infra/logger.ts';
import type { Kline } from '../../src/domain/kline.ts';
import type { IntervalName } from '../../src/domain/interval.ts';
import { readPublishedKlines, XRPETH_TRADES } from '../support/fixtures.ts';
import { assertMatchesExchange, storedKlines as stored } from '../support/stored-klines.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

const logger = createRootLogger({ level: 'silent' });
const published = readPublishedKlines();
const FAST = { gateway: { pullIntervalMs: 50, pullTimeoutMs: 30, timeoutAlertThreshold: 5 }, dbWriter: { flushIntervalMs: 50, maxBatchRows: 500, backoffInitialMs: 20, backoffMaxMs: 200, maxBufferedRows: 1_000_000 } };

const storedKlines = (location: { url?: string; dataDir?: string }, interval: IntervalName): Promise<Kline[]> => stored(location, 'XRPETH', interval);
const matchesExchange = assertMatchesExchange;

function replay(extra: Partial<SystemReplayOptions>): ReturnType<typeof replaySystem> {
  return replaySystem({ input: XRPETH_TRADES, intervals: ['1m'], graceMs: 1000, logger, tuning: FAST, ...extra });
}

t.test('replay --system into the embedded PGlite stores exactly the exchange’s klines', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'klagg-pglite-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const summary = await replay({ dataDir });
  t.equal(summary.exitCode, 0);
  t.same(summary.failedSymbols, []);
  matchesExchange(t, await storedKlines({ dataDir }, '1m'));
});

t.test('replay --system into PostgreSQL stores exactly the exchange’s klines', async (t) => {
  const database = await createTestDatabase('klagg_replay');
  t.teardown(() => database.drop());
  const summary = await replay({ databaseUrl: database.url });
  t.equal(summary.exitCode, 0);
  matchesExchange(t, await storedKlines({ url: database.url }, '1m'));
});

t.test('a restart continues the open klines from the store', async (t) => {
  const intervals: IntervalName[] = ['1m', '1h', '1d'];
  const once = await createTestDatabase('klagg_once');
  const twice = await createTestDatabase('klagg_twice');
  t.teardown(async () => {
    await once.drop();
    await twice.drop();
  });
  await replay({ databaseUrl: once.url, intervals });
  // Stopped mid-stream (mid-minute, mid-hour, mid-day): open klines are stored open, nothing is finalized early.
  const first = await replay({ databaseUrl: twice.url, intervals, maxFrames: 6_001, finish: false });
  t.equal(first.exitCode, 0);
  const openAfterFirst = (await storedKlines({ url: twice.url }, '1h')).filter((k) => !k.isFinal);
  t.equal(openAfterFirst.length, 1, 'the shutdown stored the open hour as open, not final');
  await replay({ databaseUrl: twice.url, intervals, skipFrames: 6_001 });
  for (const interval of intervals) {
    const reference = await storedKlines({ url: once.url }, interval);
    const resumed = await storedKlines({ url: twice.url }, interval);
    t.same(resumed, reference, `${interval}: the restarted run stored exactly what one uninterrupted run stores`);
  }
});

t.test('a database outage in the middle of a replay loses no final kline', async (t) => {
  const database = await createTestDatabase('klagg_outage');
  const proxy = await TcpProxy.forUrl(database.url);
  t.teardown(async () => {
    await proxy.close();
    await database.drop();
  });
  let failedFlushes = 0;
  const summary = await replay({
    databaseUrl: proxy.url(database.url),
    onRunning: (system) => {
      proxy.cut();
      setTimeout(() => {
        failedFlushes = system.dbWriter.stats.failedFlushes;
        proxy.restore();
      }, 1_500);
    },
  });
  t.ok(failedFlushes > 0, `the outage really hit the writer (${failedFlushes} failed flushes before the database came back)`);
  t.equal(summary.exitCode, 0, 'the replay ends cleanly once the database is back');
  matchesExchange(t, await storedKlines({ url: database.url }, '1m'));
});

t.test('SIGINT/SIGTERM: intake stops, nothing open is finalized, everything received is written, exit 0', async (t) => {
  const database = await createTestDatabase('klagg_signal');
  t.teardown(() => database.drop());
  const stop = new AbortController();
  const summary = await replay({
    databaseUrl: database.url,
    intervals: ['1m', '1d'],
    signal: stop.signal,
    onRunning: (system) => {
      // The signal arrives mid-recording: once some thousands of frames are in.
      const timer = setInterval(() => {
        if (system.counters.framesRouted < 4_096) return;
        clearInterval(timer);
        stop.abort();
      }, 0);
    },
  });
  t.equal(summary.exitCode, 0, 'exit code 0');
  t.ok(summary.interrupted, 'the signal ended the replay');
  t.ok(summary.frames > 0 && summary.frames < 12_477, `only part of the recording was taken in (${summary.frames} frames)`);
  const days = await storedKlines({ url: database.url }, '1d');
  t.equal(days.at(-1)?.isFinal, false, 'the day in progress is stored, and stored open: a signal finalizes nothing');
  t.ok(days.slice(0, -1).every((k) => k.isFinal), 'the days before it are final');
  const minutes = await storedKlines({ url: database.url }, '1m');
  t.equal(minutes.filter((k) => !k.isFinal).length, 1, 'one open minute');
  t.equal(
    minutes.filter((k) => k.isFinal).length,
    published.filter((k) => k.openTime < minutes.at(-1)!.openTime).length,
    'every minute before it is stored final',
  );
});
