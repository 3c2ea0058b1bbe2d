/** The fake exchange's REST routes over real loopback sockets: payloads, selections, every error code, weights. */
import t, { type Test } from 'tap';
import { FakeExchange } from '../../../src/infra/fake-exchange/fake-exchange.ts';
import { ManualScheduler } from '../../../src/infra/fake-exchange/scheduler.ts';
import { XRPETH_TRADES } from '../../support/fixtures.ts';
import type { Json } from '../../support/ws-client.ts';
import { getJson } from './helpers.ts';

const MINUTE = 60_000;
const scheduler = new ManualScheduler(Date.UTC(2026, 0, 5, 12, 0, 0));
const fx = await FakeExchange.start({ source: { kind: 'recording', path: XRPETH_TRADES, speed: 'max' }, autoPublish: false, clock: scheduler, weightLimit: 100_000 });
fx.market.publishAll();
t.teardown(() => fx.close());
const api = (path: string) => getJson(`${fx.restUrl}${path}`);
const FIRST_ID = 13_519_807;
const LAST_ID = 13_532_283;
const FIRST_T = 1_570_752_011_620;
const LAST_T = fx.market.trades('XRPETH').at(-1)!.tradeTime;

async function expectError(t: Test, path: string, status: number, code: number, msg?: RegExp): Promise<void> {
  const { status: got, body, headers } = await api(path);
  t.equal(got, status, `${path} → HTTP ${status}`);
  t.equal(body.code, code, `${path} → ${code}`);
  t.type(body.msg, 'string');
  if (msg) t.match(body.msg, msg);
  t.ok(headers.get('x-mbx-used-weight-1m'), 'errors carry the weight header too');
}

t.test('time, ping and exchangeInfo', async (t) => {
  const time = await api('/fapi/v1/time');
  t.equal(time.status, 200);
  t.same(time.body, { serverTime: LAST_T }, "a recording's exchange time is its last published trade's");
  t.same((await api('/fapi/v1/ping')).body, {});
  const info = await api('/fapi/v1/exchangeInfo');
  t.equal(info.status, 200);
  t.equal(info.body.timezone, 'UTC');
  t.equal(info.body.serverTime, LAST_T);
  t.match(info.body.rateLimits[0], { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 100_000 });
  const [symbol] = info.body.symbols as Json[];
  t.match(symbol, { symbol: 'XRPETH', status: 'TRADING', contractType: 'PERPETUAL', quoteAsset: 'USDT', onboardDate: FIRST_T, deliveryDate: 4_133_404_800_000 });
  t.match(symbol.filters.find((f: Json) => f.filterType === 'PRICE_FILTER'), { tickSize: '0.00000001' });
  t.match(symbol.filters.find((f: Json) => f.filterType === 'LOT_SIZE'), { stepSize: '0.00000001' });
});

t.test('klines: rows, selection and limits', async (t) => {
  const latest = await api('/fapi/v1/klines?symbol=XRPETH&interval=1m');
  t.equal(latest.status, 200);
  t.equal(latest.body.length, 500, 'default limit 500, most recent first... last');
  const last = latest.body.at(-1);
  t.equal(last.length, 12);
  t.equal(last[0], Math.floor(LAST_T / MINUTE) * MINUTE, 'the open (last) kline is included');
  t.equal(last[6], last[0] + MINUTE - 1);
  t.ok([1, 2, 3, 4, 5, 7, 9, 10, 11].every((i) => typeof last[i] === 'string'), 'decimals are strings');
  t.ok([0, 6, 8].every((i) => Number.isInteger(last[i])), 'times and the count are integers');
  t.ok(latest.body.every((row: Json, i: number) => i === 0 || row[0] === latest.body[i - 1][0] + MINUTE), 'ascending and contiguous');

  const early = await api('/fapi/v1/klines?symbol=XRPETH&interval=1m&startTime=1570752000000&limit=200');
  const emptyAt = early.body.findIndex((row: Json) => row[8] === 0);
  t.ok(emptyAt > 0, 'the data has an empty minute');
  const previous = early.body[emptyAt - 1];
  const inside = await api(`/fapi/v1/klines?symbol=XRPETH&interval=1m&startTime=${previous[0] + 1}&limit=1`);
  t.same(
    inside.body[0],
    [previous[0] + MINUTE, previous[4], previous[4], previous[4], previous[4], '0.00000000', previous[0] + 2 * MINUTE - 1, '0.0000000000000000', 0, '0.00000000', '0.0000000000000000', '0'],
    'openTime ≥ startTime: the period holding startTime is skipped; an empty period is flat at the previous close',
  );
  const aligned = await api(`/fapi/v1/klines?symbol=XRPETH&interval=1m&startTime=1570752000000&limit=1`);
  t.same(aligned.body, [[1_570_752_000_000, '0.00141342', '0.00141557', '0.00141266', '0.00141418', '1482.00000000', 1_570_752_059_999, '2.0955056400000000', 9, '1182.00000000', '1.6711193600000000', '0']]);
  const window = await api('/fapi/v1/klines?symbol=XRPETH&interval=5m&startTime=1570752000000&endTime=1570753200000&limit=1500');
  t.same(
    window.body.map((row: Json) => row[0]),
    [0, 1, 2, 3, 4].map((i) => 1_570_752_000_000 + i * 300_000),
    'openTime ≤ endTime: a kline opening exactly at endTime is included',
  );
  const endOnly = await api('/fapi/v1/klines?symbol=XRPETH&interval=1h&endTime=1570755600000&limit=2');
  t.same(endOnly.body.map((row: Json) => row[0]), [1_570_752_000_000, 1_570_755_600_000], 'only endTime: the last `limit` up to it');
  const month = await api('/fapi/v1/klines?symbol=XRPETH&interval=1M');
  t.equal(month.body.length, 1);
  t.equal(month.body[0][0], Date.UTC(2019, 9, 1));
  t.equal(month.body[0][6], Date.UTC(2019, 10, 1) - 1);
  const before = await api('/fapi/v1/klines?symbol=XRPETH&interval=1m&endTime=1000');
  t.same(before.body, [], 'nothing before the first trade');
  const max = await api(`/fapi/v1/klines?symbol=XRPETH&interval=1m&startTime=0&limit=1500`);
  t.equal(max.body.length, 1500);
});

t.test('klines errors', async (t) => {
  await expectError(t, '/fapi/v1/klines?interval=1m', 400, -1102, /'symbol'/);
  await expectError(t, '/fapi/v1/klines?symbol=XRPETH', 400, -1102, /'interval'/);
  await expectError(t, '/fapi/v1/klines?symbol=NOPE&interval=1m', 400, -1121, /^Invalid symbol\.$/);
  await expectError(t, '/fapi/v1/klines?symbol=xrpeth&interval=1m', 400, -1121);
  await expectError(t, '/fapi/v1/klines?symbol=XRPETH&interval=1s', 400, -1120, /^Invalid interval\.$/);
  await expectError(t, '/fapi/v1/klines?symbol=XRPETH&interval=1H', 400, -1120);
  await expectError(t, '/fapi/v1/klines?symbol=XRPETH&interval=1m&limit=1501', 400, -1130, /'limit'/);
  await expectError(t, '/fapi/v1/klines?symbol=XRPETH&interval=1m&limit=0', 400, -1130);
  await expectError(t, '/fapi/v1/klines?symbol=XRPETH&interval=1m&startTime=2000&endTime=1000', 400, -1023, /^Start time is greater than end time\.$/);
  await expectError(t, '/fapi/v1/klines?symbol=XRPETH&interval=1m&startTime=abc', 400, -1100, /'startTime'/);
});

t.test('aggTrades: items, paging by fromId, time windows', async (t) => {
  const recent = await api('/fapi/v1/aggTrades?symbol=XRPETH');
  t.equal(recent.status, 200);
  t.equal(recent.body.length, 500, 'default limit 500, the most recent');
  t.equal(recent.body.at(-1).a, LAST_ID);
  t.same(Object.keys(recent.body[0]), ['a', 'p', 'q', 'nq', 'f', 'l', 'T', 'm']);
  t.same((await api(`/fapi/v1/aggTrades?symbol=XRPETH&fromId=${FIRST_ID}&limit=1`)).body, [
    { a: FIRST_ID, p: '0.00141342', q: '23.00000000', nq: '23.00000000', f: 15_373_518, l: 15_373_518, T: FIRST_T, m: true },
  ]);

  const ids: number[] = [];
  let fromId = FIRST_ID;
  for (;;) {
    const page = await api(`/fapi/v1/aggTrades?symbol=XRPETH&fromId=${fromId}&limit=1000`);
    t.equal(page.headers.get('x-mbx-used-weight-1m') !== null, true);
    if (page.body.length === 0) break;
    for (const trade of page.body) ids.push(trade.a);
    fromId = page.body.at(-1).a + 1;
  }
  t.equal(ids.length, 12_477, 'paging by fromId returns every trade');
  t.ok(
    ids.every((id, i) => id === FIRST_ID + i),
    'exactly once and in order',
  );

  const start = FIRST_T + 3_600_000;
  const window = await api(`/fapi/v1/aggTrades?symbol=XRPETH&startTime=${start}&endTime=${start + 600_000}&limit=1000`);
  t.ok(window.body.length > 0);
  t.ok(window.body.every((trade: Json) => trade.T >= start && trade.T <= start + 600_000), 'startTime and endTime are inclusive bounds');
  const startOnly = await api(`/fapi/v1/aggTrades?symbol=XRPETH&startTime=${start}&limit=5`);
  t.same(startOnly.body, window.body.slice(0, 5), 'only startTime: the first `limit` from it');
  const endOnly = await api(`/fapi/v1/aggTrades?symbol=XRPETH&endTime=${start + 600_000}&limit=5`);
  t.same(endOnly.body, window.body.slice(-5), 'only endTime: the last `limit` up to it');
  const both = await api(`/fapi/v1/aggTrades?symbol=XRPETH&fromId=${window.body[3].a}&startTime=${start}&endTime=${start + 600_000}&limit=2`);
  t.same(both.body, window.body.slice(3, 5), 'fromId with a time range filters by both');
  const almostHour = await api(`/fapi/v1/aggTrades?symbol=XRPETH&startTime=${start}&endTime=${start + 3_599_999}`);
  t.equal(almostHour.status, 200, 'a window just under an hour is fine');
});

t.test('aggTrades errors', async (t) => {
  await expectError(t, '/fapi/v1/aggTrades', 400, -1102, /'symbol'/);
  await expectError(t, '/fapi/v1/aggTrades?symbol=NOPE', 400, -1121);
  await expectError(t, '/fapi/v1/aggTrades?symbol=XRPETH&startTime=0&endTime=3600000', 400, -1127, /^More than 1 hours between startTime and endTime\.$/);
  await expectError(t, '/fapi/v1/aggTrades?symbol=XRPETH&startTime=5&endTime=4', 400, -1023);
  await expectError(t, '/fapi/v1/aggTrades?symbol=XRPETH&limit=1001', 400, -1130);
  await expectError(t, '/fapi/v1/aggTrades?symbol=XRPETH&fromId=-1', 400, -1100);
});

t.test('aggTrades keep only aggTradesHistoryMs of history: older trades are absent', async (t) => {
  const short = await FakeExchange.start({ source: { kind: 'recording', path: XRPETH_TRADES, speed: 'max' }, autoPublish: false, clock: new ManualScheduler(0), aggTradesHistoryMs: 3_600_000 });
  t.teardown(() => short.close());
  short.market.publishAll();
  const { body } = await getJson(`${short.restUrl}/fapi/v1/aggTrades?symbol=XRPETH&fromId=${FIRST_ID}&limit=1000`);
  t.ok(body.length > 0);
  t.ok(body[0].a > FIRST_ID, 'the page starts past the requested id: the first trades are too old');
  t.ok(body[0].T >= LAST_T - 3_600_000);
  const old = await getJson(`${short.restUrl}/fapi/v1/aggTrades?symbol=XRPETH&startTime=${FIRST_T}&endTime=${FIRST_T + 60_000}`);
  t.same(old.body, []);
  const klines = await getJson(`${short.restUrl}/fapi/v1/klines?symbol=XRPETH&interval=1m&startTime=${FIRST_T - 60_000}&limit=1`);
  t.equal(klines.body.length, 1, 'klines keep their whole history');
});

t.test('ticker/24hr', async (t) => {
  const one = await api('/fapi/v1/ticker/24hr?symbol=XRPETH');
  t.equal(one.status, 200);
  t.match(one.body, { symbol: 'XRPETH', lastPrice: fx.market.trades('XRPETH').at(-1)!.price, closeTime: LAST_T, lastId: LAST_ID });
  t.equal(one.body.count, one.body.lastId - one.body.firstId + 1);
  const all = await api('/fapi/v1/ticker/24hr');
  t.same(all.body, [one.body]);
  await expectError(t, '/fapi/v1/ticker/24hr?symbol=NOPE', 400, -1121);
});

t.test('unknown routes: 404 with a JSON body', async (t) => {
  await expectError(t, '/fapi/v1/nothing', 404, -5000);
  await expectError(t, '/', 404, -5000);
  const post = await fetch(`${fx.restUrl}/fapi/v1/time`, { method: 'POST' });
  t.equal(post.status, 404);
  t.equal(((await post.json()) as Json).code, -5000);
});

t.test('weights per route on x-mbx-used-weight-1m, counted per calendar minute', async (t) => {
  scheduler.set(Math.ceil((scheduler.now() + 1) / MINUTE) * MINUTE + 1_000);
  const used = async (path: string): Promise<number> => Number((await api(path)).headers.get('x-mbx-used-weight-1m'));
  t.equal(await used('/fapi/v1/time'), 1, 'a fresh minute starts from 0');
  t.equal(await used('/fapi/v1/exchangeInfo'), 2);
  t.equal(await used('/fapi/v1/klines?symbol=XRPETH&interval=1m&limit=99'), 3, 'klines limit 1–99: 1');
  t.equal(await used('/fapi/v1/klines?symbol=XRPETH&interval=1m&limit=100'), 5, 'limit 100–499: 2');
  t.equal(await used('/fapi/v1/klines?symbol=XRPETH&interval=1m&limit=499'), 7);
  t.equal(await used('/fapi/v1/klines?symbol=XRPETH&interval=1m&limit=500'), 12, 'limit 500–1000: 5');
  t.equal(await used('/fapi/v1/klines?symbol=XRPETH&interval=1m&limit=1000'), 17);
  t.equal(await used('/fapi/v1/klines?symbol=XRPETH&interval=1m&limit=1001'), 27, 'limit > 1000: 10');
  t.equal(await used('/fapi/v1/klines?symbol=XRPETH&interval=1m'), 32, 'the default limit 500 weighs 5');
  t.equal(await used('/fapi/v1/aggTrades?symbol=XRPETH&limit=1'), 52, 'aggTrades: 20');
  t.equal(await used('/fapi/v1/ticker/24hr?symbol=XRPETH'), 53);
  t.equal(await used('/fapi/v1/ticker/24hr'), 93, 'ticker/24hr without a symbol: 40');
  t.equal(await used('/fapi/v1/klines?symbol=NOPE&interval=1m&limit=5'), 94, 'a rejected request still costs its weight');
  scheduler.advance(MINUTE);
  t.equal(await used('/fapi/v1/time'), 1, 'the next calendar minute starts over');
  const stats = fx.stats().rest;
  t.ok(stats.requests > 50);
  t.ok(stats.byStatus[200] > 30);
  t.ok(stats.byStatus[400] >= 18);
  t.ok(stats.byStatus[404] >= 3);
  t.ok(stats.weightUsed > 100);
});
