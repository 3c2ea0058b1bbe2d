/**
 * The audit against the real fake exchange serving the real XRPETH data and a real PostgreSQL database the recording
 * was replayed into: a faithful store audits clean, and each kind of damage is reported once, with its details.
 */
import t from 'tap';
import { sql } from 'kysely';
import { auditKlines, canonicalDecimal, sameDecimal, type AuditOptions, type KlineDifference } from '../../src/actors/kline-auditor.ts';
import { replaySystem } from '../../src/app/system-replay.ts';
import type { IntervalName } from '../../src/domain/interval.ts';
import { BinanceRestClient } from '../../src/infra/binance/rest-client.ts';
import { KlineStore } from '../../src/infra/db/kline-store.ts';
import { openDatabase, type DatabaseHandle } from '../../src/infra/db/open-database.ts';
import { FakeExchange } from '../../src/infra/fake-exchange/fake-exchange.ts';
import { createRootLogger } from '../../src/infra/logger.ts';
import { readPublishedKlines, XRPETH_TRADES } from '../support/fixtures.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';

const logger = createRootLogger({ level: 'silent' });
const published = readPublishedKlines();
const MINUTE = 60_000;

t.test('decimals compare exactly, as decimals', async (t) => {
  t.ok(sameDecimal('1482.0', '1482.00000000'));
  t.ok(sameDecimal('1482', '1482.00000000'));
  t.ok(sameDecimal('0.00141342', '0.001413420000'));
  t.ok(sameDecimal('00.5', '.50'));
  t.ok(sameDecimal('0', '-0.000'));
  t.notOk(sameDecimal('0.1', '0.10000001'));
  t.notOk(sameDecimal('1482', '14820'));
  t.notOk(sameDecimal('-1', '1'));
  // 2^53 + 1 and 2^53 are the same double, not the same decimal.
  t.notOk(sameDecimal('9007199254740993.0000000000000001', '9007199254740993'));
  t.notOk(sameDecimal('1e3', '1000'), 'a text that is not a plain decimal equals only itself');
  t.equal(canonicalDecimal('-0012.3400'), '-12.34');
  t.equal(canonicalDecimal('1e5'), undefined);
  t.equal(canonicalDecimal('.'), undefined);
});

let database: TestDatabase;
let fx: FakeExchange;
let handle: DatabaseHandle;
let store: KlineStore;
let rest: BinanceRestClient;

// Setup inside `before`, so the root test does not end (and tear down) while the top level still awaits it.
t.before(async () => {
  database = await createTestDatabase('klagg_audit');
  const replay = await replaySystem({
    input: XRPETH_TRADES,
    intervals: ['1m', '1h'],
    graceMs: 1000,
    databaseUrl: database.url,
    logger,
    tuning: { gateway: { pullIntervalMs: 50, pullTimeoutMs: 30, timeoutAlertThreshold: 5 }, dbWriter: { flushIntervalMs: 50, maxBatchRows: 1000, backoffInitialMs: 20, backoffMaxMs: 200, maxBufferedRows: 1_000_000 } },
  });
  if (replay.exitCode !== 0) throw new Error(`the replay into ${database.name} failed (exit code ${replay.exitCode})`);
  fx = await FakeExchange.start({ source: { kind: 'recording', path: XRPETH_TRADES, speed: 'max' }, autoPublish: false, logger });
  fx.market.publishAll();
  handle = await openDatabase({ url: database.url });
  store = new KlineStore(handle.db);
  rest = new BinanceRestClient({ baseUrl: fx.restUrl, logger });
});
t.teardown(async () => {
  await handle?.close();
  await fx?.close();
  await database?.drop();
});

const first = published[0]!.openTime;
const last = published.at(-1)!.openTime;

async function audit(options: Partial<AuditOptions> = {}): Promise<{ summary: Awaited<ReturnType<typeof auditKlines>>; differences: KlineDifference[] }> {
  const differences: KlineDifference[] = [];
  const summary = await auditKlines({
    rest,
    store,
    venue: 'binance',
    market: 'usdm',
    symbols: ['XRPETH'],
    intervals: ['1m'],
    since: first - 60 * MINUTE,
    until: Date.now(),
    onDifference: (difference) => void differences.push(difference),
    ...options,
  });
  return { summary, differences };
}

t.test('the replayed store audits clean against the exchange', async (t) => {
  const intervals: IntervalName[] = ['1m', '1h'];
  const { summary, differences } = await audit({ intervals });
  t.same(differences, []);
  // The exchange's time is its last trade's, inside the last minute and hour: those periods are still open there, so
  // they are not audited; every earlier one is.
  const closedHours = (Math.floor(last / 3_600_000) - Math.floor(first / 3_600_000));
  t.match(summary, { symbols: 1, intervals: 2, compared: published.length - 1 + closedHours, missing: 0, extra: 0, differs: 0, notFinal: 0, ok: true });
  t.ok(summary.until > last && summary.until < last + MINUTE, 'until is capped at the exchange’s time');
});

t.test('a window covers only the periods wholly inside [since, until)', async (t) => {
  const { summary, differences } = await audit({ since: published[10]!.openTime + 1, until: published[20]!.openTime + 30_000 });
  t.same(differences, []);
  t.equal(summary.compared, 9, 'periods 11 to 19: 10 starts before since, 20 ends after until');
  const empty = await audit({ since: published[10]!.openTime, until: published[10]!.openTime + MINUTE - 1 });
  t.match(empty.summary, { compared: 0, ok: true }, 'no whole period in the window');
});

t.test('each kind of difference is reported once, with its details', async (t) => {
  const key = (openTime: number) => ({ venue: 'binance', market: 'usdm', symbol: 'XRPETH', interval: '1m' as const, openTime });
  const where = (openTime: number) => sql`venue = 'binance' and market = 'usdm' and symbol = 'XRPETH' and interval = '1m' and open_time = ${openTime}`;
  const one = async (openTime: number) => (await store.range('binance', 'usdm', 'XRPETH', '1m', { startTime: openTime, endTime: openTime, limit: 1 }))[0]!;
  const [deleted, changed, reopened, padded] = [published[100]!, published[200]!, published[300]!, published[400]!];
  const original = await one(changed.openTime);
  const beforeFirst = await one(first);

  await sql`delete from klines where ${where(deleted.openTime)}`.execute(handle.db);
  await store.upsert([{ venue: 'binance', market: 'usdm', revision: 0, source: 'backfill', kline: { ...beforeFirst, openTime: first - MINUTE, closeTime: first - 1 } }]);
  await sql`update klines set close = close + 0.00000001 where ${where(changed.openTime)}`.execute(handle.db);
  await sql`update klines set is_final = false where ${where(reopened.openTime)}`.execute(handle.db);
  // The same values at another scale (8 more decimal zeros) are not a difference.
  await sql`update klines set volume = volume + 0.0000000000000000, quote_volume = quote_volume + 0.0000000000000000 where ${where(padded.openTime)}`.execute(handle.db);
  const repadded = await one(padded.openTime);
  t.not(repadded.volume, padded.volume, `the stored volume now reads ${repadded.volume}`);
  const changedClose = (await one(changed.openTime)).close;

  for (const chunkPeriods of [undefined, 250]) {
    const { summary, differences } = await audit({ chunkPeriods });
    t.match(summary, { compared: published.length - 1 + 1, missing: 1, extra: 1, differs: 1, notFinal: 1, ok: false }, `chunks of ${chunkPeriods ?? 'default'} periods`);
    t.equal(differences.length, 4);
    const [extra, missing, differs, notFinal] = differences;
    t.match(extra, { ...key(first - MINUTE), kind: 'extra', stored: { close: beforeFirst.close, volume: beforeFirst.volume, isFinal: true } });
    t.match(missing, { ...key(deleted.openTime), kind: 'missing', exchange: { closeTime: deleted.openTime + MINUTE - 1, tradeCount: Number } });
    t.ok(missing?.kind === 'missing' && sameDecimal(missing.exchange.close, deleted.close) && sameDecimal(missing.exchange.volume, deleted.volume), 'the missing kline’s values are the exchange’s');
    t.same(differs, { ...key(changed.openTime), kind: 'differs', fields: [{ field: 'close', exchange: original.close, stored: changedClose }] });
    t.not(changedClose, original.close);
    t.same(notFinal, { ...key(reopened.openTime), kind: 'notFinal', fields: [] });
  }
  const later = await audit({ since: first });
  t.match(later.summary, { extra: 0, missing: 1 }, 'a row before since is outside the window');
});
