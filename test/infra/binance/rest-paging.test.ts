import t from 'tap';
import { BinanceResponseError } from '../../../src/infra/binance/binance-error.ts';
import { BinanceRestClient } from '../../../src/infra/binance/rest-client.ts';
import { MINUTE_START, rejectionOf, sendJson, startServer } from './support.ts';

const MINUTE = 60_000;

/** A klines route with Binance's range semantics: startTime ≤ openTime ≤ endTime, ascending, first `limit` (500). */
function klinesRoute(openTimes: number[]) {
  return (query: URLSearchParams): unknown[] => {
    const start = Number(query.get('startTime') ?? 0);
    const end = Number(query.get('endTime') ?? Number.MAX_SAFE_INTEGER);
    const limit = Number(query.get('limit') ?? 500);
    return openTimes
      .filter((open) => open >= start && open <= end)
      .slice(0, limit)
      .map((open) => [open, '1.0', '1.0', '1.0', '1.0', '0', open + MINUTE - 1, '0', 0, '0', '0', '0']);
  };
}

/** An aggTrades route by fromId: ids ≥ fromId, ascending, first `limit` (500). */
function aggTradesRoute(firstId: number, lastId: number) {
  return (query: URLSearchParams): unknown[] => {
    const from = Math.max(firstId, Number(query.get('fromId')));
    const limit = Number(query.get('limit') ?? 500);
    const items: unknown[] = [];
    for (let id = from; id <= lastId && items.length < limit; id += 1) {
      items.push({ a: id, p: '0.5', q: '2', nq: '2', f: id * 3, l: id * 3 + 2, T: MINUTE_START + id, m: id % 2 === 0 });
    }
    return items;
  };
}

t.test('klinesRange pages forward at 499 per page and returns every kline once', async (t) => {
  const openTimes = Array.from({ length: 1200 }, (_, i) => MINUTE_START + i * MINUTE);
  const route = klinesRoute(openTimes);
  const server = await startServer((request, response) => sendJson(response, 200, route(request.query)));
  t.teardown(() => server.close());
  const client = new BinanceRestClient({ baseUrl: server.baseUrl });

  const start = MINUTE_START + 5 * MINUTE;
  const end = MINUTE_START + 1104 * MINUTE; // 1100 klines: pages of 499, 499, 102
  const klines = await client.klinesRange('BTCUSDT', '1m', start, end);
  t.same(
    klines.map((kline) => kline.openTime),
    openTimes.slice(5, 1105),
    'all 1100, in order, none twice',
  );
  t.same(
    server.requests.map((request) => [request.query.get('startTime'), request.query.get('endTime'), request.query.get('limit')]),
    [
      [String(start), String(end), '499'],
      [String(openTimes[503]! + 1), String(end), '499'],
      [String(openTimes[1002]! + 1), String(end), '499'],
    ],
    'each page starts just after the last kline received',
  );
  t.equal(client.stats.weightUsed, 3 * 2, 'three pages of weight 2');
});

t.test('klinesRange: exactly a full last page costs one more (empty) request; a range past the data ends early', async (t) => {
  const openTimes = Array.from({ length: 998 }, (_, i) => MINUTE_START + i * MINUTE);
  const route = klinesRoute(openTimes);
  const server = await startServer((request, response) => sendJson(response, 200, route(request.query)));
  t.teardown(() => server.close());
  const client = new BinanceRestClient({ baseUrl: server.baseUrl });
  const all = await client.klinesRange('BTCUSDT', '1m', MINUTE_START - 10 * MINUTE, MINUTE_START + 5000 * MINUTE);
  t.equal(all.length, 998);
  t.same(all.map((kline) => kline.openTime), openTimes);
  t.equal(server.requests.length, 3, '499 + 499 + an empty page');

  const mid = await client.klinesRange('BTCUSDT', '1m', MINUTE_START + 30_000, MINUTE_START + 3 * MINUTE);
  t.same(mid.map((kline) => kline.openTime), [MINUTE_START + MINUTE, MINUTE_START + 2 * MINUTE, MINUTE_START + 3 * MINUTE], 'a startTime inside a kline skips it');
  t.equal(server.requests.length, 4);
});

t.test('klinesRange refuses a page that ignores its startTime instead of looping', async (t) => {
  const server = await startServer((_request, response) =>
    sendJson(response, 200, [[MINUTE_START, '1', '1', '1', '1', '0', MINUTE_START + MINUTE - 1, '0', 0, '0', '0', '0']]),
  );
  t.teardown(() => server.close());
  const client = new BinanceRestClient({ baseUrl: server.baseUrl });
  const error = await rejectionOf(client.klinesRange('BTCUSDT', '1m', MINUTE_START, MINUTE_START + 10 * MINUTE, 1));
  t.ok(error instanceof BinanceResponseError);
  t.equal(
    (error as Error).message,
    `GET /fapi/v1/klines?symbol=BTCUSDT&interval=1m&startTime=${MINUTE_START + 1}&endTime=${MINUTE_START + 10 * MINUTE}&limit=1: ` +
      `unexpected response: kline openTime ${MINUTE_START} is outside the requested ${MINUTE_START + 1}…${MINUTE_START + 10 * MINUTE}`,
  );
  t.equal(server.requests.length, 2);
});

t.test('aggTradesFrom pages by fromId and returns each trade once, in order, up to toId', async (t) => {
  const route = aggTradesRoute(100, 2600);
  const server = await startServer((request, response) => sendJson(response, 200, route(request.query)));
  t.teardown(() => server.close());
  const client = new BinanceRestClient({ baseUrl: server.baseUrl });

  const trades = await client.aggTradesFrom('XRPUSDT', 150, 2345);
  t.same(
    trades.map((trade) => trade.aggId),
    Array.from({ length: 2196 }, (_, i) => 150 + i),
  );
  t.same(trades[0], { symbol: 'XRPUSDT', aggId: 150, price: '0.5', qty: '2', firstTradeId: 450, lastTradeId: 452, tradeTime: MINUTE_START + 150, buyerIsMaker: true });
  t.same(
    server.requests.map((request) => `${request.query.get('fromId')}/${request.query.get('limit')}`),
    ['150/1000', '1150/1000', '2150/196'],
    'the last page asks only for what is left',
  );
  t.equal(client.stats.weightUsed, 60);
});

t.test('aggTradesFrom stops early when the exchange has no more', async (t) => {
  const route = aggTradesRoute(100, 2600);
  const server = await startServer((request, response) => sendJson(response, 200, route(request.query)));
  t.teardown(() => server.close());
  const client = new BinanceRestClient({ baseUrl: server.baseUrl });

  const tail = await client.aggTradesFrom('XRPUSDT', 2000, 5000);
  t.same(
    tail.map((trade) => trade.aggId),
    Array.from({ length: 601 }, (_, i) => 2000 + i),
  );
  t.equal(server.requests.length, 1, 'a short page means there is no more');
  t.same(await client.aggTradesFrom('XRPUSDT', 2601, 9000), []);
  t.equal(server.requests.length, 2);
  t.same(await client.aggTradesFrom('XRPUSDT', 10, 5), [], 'fromId above toId: nothing, nothing sent');
  t.equal(server.requests.length, 2);

  const exact = await client.aggTradesFrom('XRPUSDT', 1601, 2600);
  t.equal(exact.length, 1000);
  t.equal(server.requests.length, 3, 'toId reached with a full page: no extra request');
});
