/**
 * `/fapi/v1/klines` over a real socket: the recording replayed through the actor system into PostgreSQL, then a
 * live system continuing it; the API's rows are the stored klines merged with the live open one, in Binance's
 * 12-field format, equal to Binance's published klines as decimals. And every Binance error code.
 */
import t, { type Test } from 'tap';
import { replaySystem } from '../../../src/app/system-replay.ts';
import { toBinanceRow, type BinanceKlineRow } from '../../../src/domain/kline.ts';
import { openDatabase } from '../../../src/infra/db/open-database.ts';
import { canonicalDecimal, readPublishedKlines, readTradeFrames, XRPETH_TRADES } from '../../support/fixtures.ts';
import { MemorySink } from '../../support/memory-sink.ts';
import { createTestDatabase } from '../../support/postgres.ts';
import { getJson, newSystem, serve, silentLogger } from './helpers.ts';

const published = readPublishedKlines();
const frames = readTradeFrames();
const tradeTime = (frame: Buffer): number => (JSON.parse(frame.toString()) as { T: number }).T;
const minuteOf = (time: number): number => Math.floor(time / 60_000) * 60_000;
/** A split inside a minute past the 2,000th kline: the replay stops there, mid-minute. */
const SPLIT = (() => {
  const from = published[2000]!.openTime;
  for (let i = 1; i < frames.length; i++) {
    if (tradeTime(frames[i - 1]!) >= from && minuteOf(tradeTime(frames[i - 1]!)) === minuteOf(tradeTime(frames[i]!))) return i;
  }
  throw new Error('no split found');
})();
const FAST = { gateway: { pullIntervalMs: 50, pullTimeoutMs: 30, timeoutAlertThreshold: 5 }, dbWriter: { flushIntervalMs: 50, maxBatchRows: 2000, backoffInitialMs: 20, backoffMaxMs: 200, maxBufferedRows: 1_000_000 } };

type Row = BinanceKlineRow;

function assertRowsMatchPublished(t: Test, rows: readonly Row[], from: number, label: string): void {
  let mismatches = 0;
  rows.forEach((row, i) => {
    const want = published[from + i];
    const ok =
      want !== undefined &&
      row.length === 12 &&
      row[0] === want.openTime &&
      row[6] === want.openTime + 59_999 &&
      [row[1], row[2], row[3], row[4], row[5]].map(canonicalDecimal).join() === [want.open, want.high, want.low, want.close, want.volume].map(canonicalDecimal).join() &&
      typeof row[7] === 'string' && typeof row[8] === 'number' && typeof row[9] === 'string' && typeof row[10] === 'string' && row[11] === '0';
    if (!ok && mismatches++ < 3) t.fail(`${label}: row ${i} differs from the published kline`, { row, want });
  });
  t.equal(mismatches, 0, `${label}: every row equals Binance's published kline`);
}


t.test('klines: stored + live open kline, exact, paginated like Binance; every error code', async (t) => {
  const database = await createTestDatabase('klagg_http_klines');
  t.teardown(() => database.drop());
  // The first SPLIT frames through the whole system into PostgreSQL, stopped mid-minute: the open minute is stored open.
  const first = await replaySystem({ input: XRPETH_TRADES, intervals: ['1m'], graceMs: 1000, databaseUrl: database.url, logger: silentLogger, tuning: FAST, maxFrames: SPLIT, finish: false });
  t.equal(first.exitCode, 0);
  const handle = await openDatabase({ url: database.url });
  t.teardown(() => handle.close());

  // A live system continues from the store; its DB writer holds everything until it stops, so the store lags.
  const lagging = { ...FAST.dbWriter, flushIntervalMs: 600_000, maxBatchRows: 100_000 };
  const system = newSystem({ write: async (records) => void (await served.store.upsert(records)) }, ['1m'], { dbWriter: lagging });
  const served = await serve(system, handle, ['1m']);
  t.teardown(() => served.close());
  const base = `${served.http.url}/fapi/v1/klines`;

  const openMinute = minuteOf(tradeTime(frames[SPLIT - 1]!));
  t.equal(minuteOf(tradeTime(frames[SPLIT]!)), openMinute, 'the split is mid-minute');
  const x = published.findIndex((k) => k.openTime === openMinute);
  t.ok(x > 1500, 'the open minute is far enough in to paginate');
  const storedOpen = (await served.store.range('binance', 'usdm', 'XRPETH', '1m', { startTime: openMinute, limit: 1 }))[0];
  t.equal(storedOpen?.isFinal, false, 'the store holds the open minute open');

  system.activate(await served.context.activationFor('XRPETH').then((a) => a!));
  await system.whenSubscribed(['XRPETH']);
  let end = SPLIT;
  while (end < frames.length && minuteOf(tradeTime(frames[end]!)) === openMinute) system.ingestFrame(frames[end++]!);
  await system.flush();
  const live = served.view.open('XRPETH', '1m');
  t.equal(live?.openTime, openMinute, 'the view holds the live open minute');
  t.ok(live!.tradeCount > storedOpen!.tradeCount, 'the live minute has trades the store does not have yet');

  // Pages of 1500 from the first kline: stored finals, then the live open minute (which is complete: it equals Binance's final).
  const rows: Row[] = [];
  let startTime = published[0]!.openTime;
  for (;;) {
    const page = await getJson(`${base}?symbol=XRPETH&interval=1m&startTime=${startTime}&limit=1500`);
    t.equal(page.status, 200);
    const batch = page.body as Row[];
    rows.push(...batch);
    if (batch.length < 1500) break;
    startTime = batch.at(-1)![0] + 1;
  }
  t.equal(rows.length, x + 1, 'every stored kline plus the live one, no duplicates');
  assertRowsMatchPublished(t, rows, 0, 'stored + live');
  t.same(rows.at(-1), toBinanceRow(live!), 'the last row is the live open kline (12 fields, exact)');
  t.not(rows.at(-1)![8], storedOpen!.tradeCount, 'not the stale stored open row');

  // Without startTime: the latest `limit`, ending with the live kline; with endTime only: the latest at or before it.
  const latest = await getJson(`${base}?symbol=XRPETH&interval=1m&limit=3`);
  t.same(latest.body, rows.slice(-3));
  const defaultLimit = await getJson(`${base}?symbol=XRPETH&interval=1m`);
  t.equal((defaultLimit.body as Row[]).length, 500, 'default limit 500');
  t.same(defaultLimit.body, rows.slice(-500));
  const beforeEnd = await getJson(`${base}?symbol=XRPETH&interval=1m&endTime=${published[100]!.openTime + 30_000}&limit=5`);
  t.same(beforeEnd.body, rows.slice(96, 101), 'endTime only: the 5 latest at or before it');
  const window = await getJson(`${base}?symbol=XRPETH&interval=1m&startTime=${published[10]!.openTime + 1}&endTime=${published[14]!.openTime}`);
  t.same(window.body, rows.slice(11, 15), 'a startTime inside a period skips it; endTime inclusive');
  const liveOnly = await getJson(`${base}?symbol=XRPETH&interval=1m&startTime=${openMinute}&endTime=${openMinute}`);
  t.same(liveOnly.body, [toBinanceRow(live!)], 'the live kline alone');
  const beyond = await getJson(`${base}?symbol=XRPETH&interval=1m&startTime=${openMinute + 60_000}`);
  t.same(beyond.body, [], 'nothing after the live kline');

  // The open minute ends: its final is published while the store (its writer holding everything) still has it open.
  // The API answers the final, not the stored open row a client resyncing over REST would be left on.
  while (end < frames.length && (served.view.final('XRPETH', '1m')?.openTime ?? 0) < openMinute) {
    system.ingestFrame(frames[end++]!);
    await system.flush();
  }
  await system.flush();
  t.equal(served.view.final('XRPETH', '1m')?.openTime, openMinute, 'the view holds the open minute\'s final');
  t.equal((await served.store.range('binance', 'usdm', 'XRPETH', '1m', { startTime: openMinute, limit: 1 }))[0]?.isFinal, false, 'the store still has it open');
  const afterFinal = (await getJson(`${base}?symbol=XRPETH&interval=1m&startTime=${openMinute}&endTime=${openMinute}`)).body as Row[];
  assertRowsMatchPublished(t, afterFinal, x, 'the final not yet stored');
  t.same(afterFinal, [toBinanceRow(served.view.final('XRPETH', '1m')!)], 'answered from the published final');

  // Every Binance error, as HTTP 400 {code, msg}.
  const errors: [string, number, string][] = [
    ['interval=1m', -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."],
    ['symbol=&interval=1m', -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."],
    ['symbol=XRPETH', -1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed."],
    ['symbol=BTCUSDT&interval=1m', -1121, 'Invalid symbol.'],
    ['symbol=xrpeth&interval=1m', -1121, 'Invalid symbol.'],
    ['symbol=XrpEth&interval=1m', -1121, 'Invalid symbol.'],
    ['symbol=XRP%00ETH&interval=1m', -1121, 'Invalid symbol.'],
    ['symbol=XRPETH&interval=7m', -1120, 'Invalid interval.'],
    ['symbol=XRPETH&interval=1M', -1120, 'Invalid interval.'],
    ['symbol=XRPETH&interval=1m&limit=0', -1130, "Data sent for parameter 'limit' is not valid."],
    ['symbol=XRPETH&interval=1m&limit=1501', -1130, "Data sent for parameter 'limit' is not valid."],
    ['symbol=XRPETH&interval=1m&limit=99999999999999999999', -1130, "Data sent for parameter 'limit' is not valid."],
    ['symbol=XRPETH&interval=1m&limit=ten', -1100, "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'."],
    ['symbol=XRPETH&interval=1m&startTime=-5', -1100, "Illegal characters found in parameter 'startTime'; legal range is '^[0-9]{1,20}$'."],
    ['symbol=XRPETH&interval=1m&endTime=1e12', -1100, "Illegal characters found in parameter 'endTime'; legal range is '^[0-9]{1,20}$'."],
    ['symbol=XRPETH&interval=1m&startTime=2000&endTime=1000', -1023, 'Start time is greater than end time.'],
  ];
  for (const [query, code, msg] of errors) {
    const answer = await getJson(`${base}?${query}`);
    t.equal(answer.status, 400, `${query}: HTTP 400`);
    t.same(answer.body, { code, msg }, `${query}: ${code}`);
  }
  t.equal((await getJson(`${base}?symbol=XRPETH&interval=1m&limit=1500`)).status, 200, 'limit 1500 is allowed');

  // The rest of the recording; stopping writes everything: the store alone now equals the exchange.
  for (let i = end; i < frames.length; i++) system.ingestFrame(frames[i]!);
  system.finishInput();
  t.equal(await system.stop('end of input'), 0);
  t.equal(served.view.open('XRPETH', '1m'), undefined, 'the final dropped the open kline from the view');
  const all: Row[] = [];
  for (let page = 0; page < 3; page++) {
    const answer = await getJson(`${base}?symbol=XRPETH&interval=1m&startTime=${published[page * 1500]!.openTime}&limit=1500`);
    all.push(...(answer.body as Row[]));
  }
  t.equal(all.length, published.length, 'all 3,560 klines');
  assertRowsMatchPublished(t, all, 0, 'after the live system stopped');

  // The other Binance routes.
  const time = await getJson(`${served.http.url}/fapi/v1/time`);
  t.equal(time.status, 200);
  t.ok(Math.abs((time.body as { serverTime: number }).serverTime - Date.now()) < 5_000);
  t.same((await getJson(`${served.http.url}/fapi/v1/ping`)).body, {});
  const info = (await getJson(`${served.http.url}/fapi/v1/exchangeInfo`)).body as { timezone: string; serverTime: number; rateLimits: unknown[]; symbols: { symbol: string; contractType: string; status: string; filters: Record<string, string>[] }[] };
  t.equal(info.timezone, 'UTC');
  t.equal(typeof info.serverTime, 'number');
  t.ok(info.rateLimits.length >= 1);
  t.equal(info.symbols.length, 1);
  t.match(info.symbols[0], { symbol: 'XRPETH', contractType: 'PERPETUAL', status: 'TRADING', baseAsset: 'XRP', quoteAsset: 'ETH', pricePrecision: 8 });
  t.match(info.symbols[0]!.filters.find((f) => f['filterType'] === 'PRICE_FILTER'), { tickSize: '0.00000001' });
  t.match(info.symbols[0]!.filters.find((f) => f['filterType'] === 'LOT_SIZE'), { stepSize: '0.00000001' });
});

t.test('the live view keeps the latest open kline per key and drops it on its final', async (t) => {
  const system = newSystem(new MemorySink(), ['1m']);
  t.teardown(() => system.stop());
  const { LiveKlineView } = await import('../../../src/infra/http/kline-view.ts');
  const view = new LiveKlineView(system);
  const k = (openTime: number, lastAggId: number, isFinal = false) => ({ symbol: 'S', interval: '1m' as const, openTime, closeTime: openTime + 59_999, open: '1', high: '1', low: '1', close: '1', volume: '1', quoteVolume: '1', tradeCount: 1, takerBuyVolume: '0', takerBuyQuoteVolume: '0', firstTradeId: 1, lastTradeId: 1, lastAggId, isFinal });
  view.apply({ seq: 1, finals: [], updates: [k(60_000, 5)], missingWorkers: [] });
  t.equal(view.open('S', '1m')?.lastAggId, 5);
  view.apply({ seq: 2, finals: [], updates: [k(0, 9)], missingWorkers: [] });
  t.equal(view.open('S', '1m')?.openTime, 60_000, 'an older period never replaces a newer one');
  view.apply({ seq: 3, finals: [], updates: [k(60_000, 7)], missingWorkers: [] });
  t.equal(view.open('S', '1m')?.lastAggId, 7);
  t.equal(view.open('S', '5m'), undefined);
  view.apply({ seq: 4, finals: [k(60_000, 8, true)], updates: [], missingWorkers: [] });
  t.equal(view.open('S', '1m'), undefined, 'the final drops it');
  t.equal(view.final('S', '1m')?.lastAggId, 8, 'and is kept (the store may not have it yet)');
  view.apply({ seq: 5, finals: [{ ...k(0, 3, true), revision: 4 }], updates: [], missingWorkers: [] });
  t.equal(view.final('S', '1m')?.openTime, 60_000, 'an older period\'s final never replaces a newer one');
  view.apply({ seq: 5, finals: [{ ...k(60_000, 9, true), revision: 1 }], updates: [], missingWorkers: [] });
  t.equal(view.final('S', '1m')?.revision, 1, 'a revision of the same period does');
  view.apply({ seq: 5, finals: [k(60_000, 8, true)], updates: [k(120_000, 9)], missingWorkers: [] });
  t.equal(view.open('S', '1m')?.openTime, 120_000, 'a final of the previous period keeps the next one');
  view.close();
  t.equal(view.size, 0);
});
