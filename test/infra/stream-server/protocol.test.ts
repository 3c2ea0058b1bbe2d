import t from 'tap';
import { type Json, sleep, WsClient } from '../../support/ws-client.ts';
import { kline, startHarness } from './helpers.ts';

t.test('routes: raw path streams, combined query streams, bare /market/ws, and the /ws /stream aliases', async (t) => {
  const h = await startHarness({ throttleMs: 0 });
  t.teardown(() => h.close());
  const raw = await WsClient.open(`${h.base}/market/ws/btcusdt@kline_1m/ethusdt@kline_5m`);
  const combined = await WsClient.open(`${h.base}/market/stream?streams=btcusdt@kline_1m/ethusdt@kline_5m`);
  const bare = await WsClient.open(`${h.base}/market/ws`);
  const legacyRaw = await WsClient.open(`${h.base}/ws/btcusdt@kline_1m`);
  const legacyCombined = await WsClient.open(`${h.base}/stream?streams=btcusdt@kline_1m`);
  t.equal(h.streams.stats.connections, 5);
  t.equal(h.streams.stats.subscriptions, 6);
  t.same((await raw.request({ method: 'LIST_SUBSCRIPTIONS', id: 1 })).result, ['btcusdt@kline_1m', 'ethusdt@kline_5m']);
  t.same(await bare.request({ method: 'LIST_SUBSCRIPTIONS', id: 2 }), { result: [], id: 2 });
  t.same(await raw.request({ method: 'GET_PROPERTY', params: ['combined'], id: 3 }), { result: false, id: 3 });
  t.same(await combined.request({ method: 'GET_PROPERTY', params: ['combined'], id: 4 }), { result: true, id: 4 });

  h.source.publish({ updates: [kline(), kline({ symbol: 'ETHUSDT', interval: '5m', closeTime: kline().openTime + 300_000 - 1 })] });
  const r = await raw.next((m) => m.e === 'kline' && m.s === 'BTCUSDT');
  t.equal(r.k.i, '1m');
  t.equal(r.k.c, '67249.50');
  const r2 = await raw.next((m) => m.e === 'kline' && m.s === 'ETHUSDT');
  t.equal(r2.k.i, '5m');
  const c = await combined.next((m) => m.stream === 'btcusdt@kline_1m');
  t.same(Object.keys(c), ['stream', 'data']);
  t.equal(c.data.e, 'kline');
  t.equal(c.data.k.o, '67245.90');
  t.equal((await combined.next((m) => m.stream === 'ethusdt@kline_5m')).data.s, 'ETHUSDT');
  t.equal((await legacyRaw.next()).e, 'kline');
  t.equal((await legacyCombined.next()).stream, 'btcusdt@kline_1m');
  await sleep(50);
  t.same(bare.received.filter((m: Json) => m.e === 'kline'), [], 'no subscription, no data');
  for (const client of [raw, combined, bare, legacyRaw, legacyCombined]) client.close();
});

t.test('SUBSCRIBE, LIST_SUBSCRIPTIONS, UNSUBSCRIBE, SET_PROPERTY switch the live feed', async (t) => {
  const h = await startHarness({ throttleMs: 0 });
  t.teardown(() => h.close());
  const client = await WsClient.open(`${h.base}/market/ws`);
  t.same(await client.request({ method: 'SUBSCRIBE', params: ['btcusdt@kline_1m', 'btcusdt@kline_1h'], id: 1 }), { result: null, id: 1 });
  t.same(await client.request({ method: 'SUBSCRIBE', params: ['btcusdt@kline_1m'], id: 2 }), { result: null, id: 2 }, 'subscribing twice is fine');
  t.same(await client.request({ method: 'LIST_SUBSCRIPTIONS', id: 3 }), { result: ['btcusdt@kline_1m', 'btcusdt@kline_1h'], id: 3 });
  t.equal(h.streams.stats.subscriptions, 2);
  h.source.publish({ updates: [kline()] });
  t.equal((await client.next((m) => m.e === 'kline')).k.i, '1m');

  t.same(await client.request({ method: 'SET_PROPERTY', params: ['combined', true], id: 4 }), { result: null, id: 4 });
  t.same(await client.request({ method: 'GET_PROPERTY', params: ['combined'], id: 5 }), { result: true, id: 5 });
  h.source.publish({ updates: [kline({ close: '67250.00' })] });
  const wrapped = await client.next((m) => m.stream !== undefined);
  t.equal(wrapped.stream, 'btcusdt@kline_1m');
  t.equal(wrapped.data.k.c, '67250.00');

  t.same(await client.request({ method: 'UNSUBSCRIBE', params: ['btcusdt@kline_1m', 'ethusdt@kline_1m'], id: 6 }), { result: null, id: 6 });
  t.same(await client.request({ method: 'LIST_SUBSCRIPTIONS', id: 7 }), { result: ['btcusdt@kline_1h'], id: 7 });
  t.equal(h.streams.stats.subscriptions, 1);
  const before = client.received.length;
  h.source.publish({ updates: [kline({ close: '67251.00' })] });
  await sleep(60);
  t.equal(client.received.length, before, 'no data after UNSUBSCRIBE');
  client.close();
});

t.test('unknown symbols are ACKed and silent', async (t) => {
  const h = await startHarness({ throttleMs: 0, isKnownSymbol: (s) => s === 'BTCUSDT' });
  t.teardown(() => h.close());
  const client = await WsClient.open(`${h.base}/market/ws`);
  t.same(await client.request({ method: 'SUBSCRIBE', params: ['nosuchusdt@kline_1m'], id: 1 }), { result: null, id: 1 });
  t.equal(h.streams.stats.unknownSymbolSubscriptions, 1);
  h.source.publish({ updates: [kline()] });
  await sleep(50);
  t.same(client.events(), []);
  client.close();
});

t.test('each malformed request gets Binance’s error shape', async (t) => {
  const h = await startHarness({ maxMessagesPerSecond: 1000 });
  t.teardown(() => h.close());
  const client = await WsClient.open(`${h.base}/market/ws`);
  const cases: [unknown, number, RegExp, unknown][] = [
    ['{not json', 3, /^Invalid JSON/, null],
    ['[1,2]', 2, /^Invalid request/, null],
    [{ params: [], id: 7 }, 2, /missing field `method`/, 7],
    [{ method: 'SUBSCRIBE', params: ['btcusdt@kline_1m'], id: -1 }, 2, /request ID must be an unsigned integer/, null],
    // A string id is accepted (Binance's own connectors send one); an object, a negative or a fraction is not.
    [{ method: 'SUBSCRIBE', params: ['btcusdt@kline_1m'], id: { n: 1 } }, 2, /request ID must be an unsigned integer/, null],
    [{ method: 'SUBSCRIBE', params: ['btcusdt@kline_1m'], id: 1.5 }, 2, /request ID must be an unsigned integer/, null],
    [{ method: 'PING', id: 8 }, 2, /unknown variant `PING`, expected one of `SUBSCRIBE`/, 8],
    [{ method: 'SUBSCRIBE', id: 9 }, 2, /missing field `params`/, 9],
    [{ method: 'SUBSCRIBE', params: 'btcusdt@kline_1m', id: 10 }, 2, /missing field `params`/, 10],
    [{ method: 'SUBSCRIBE', params: ['btcusdt@aggTrade'], id: 11 }, 2, /^Invalid request: invalid stream$/, 11],
    [{ method: 'SUBSCRIBE', params: ['btcusdt@kline_2m'], id: 12 }, 2, /^Invalid request: invalid stream$/, 12],
    [{ method: 'SUBSCRIBE', params: ['btcusdt@kline_1m', 42], id: 13 }, 2, /^Invalid request: invalid stream$/, 13],
    [{ method: 'UNSUBSCRIBE', params: ['BTCUSDT@kline_1m'], id: 14 }, 2, /^Invalid request: invalid stream$/, 14],
    [{ method: 'SET_PROPERTY', params: ['combined'], id: 15 }, 2, /missing parameters/, 15],
    [{ method: 'SET_PROPERTY', params: ['combined', true, 1], id: 16 }, 2, /too many parameters/, 16],
    [{ method: 'SET_PROPERTY', params: [1, true], id: 17 }, 2, /property name must be a string/, 17],
    [{ method: 'SET_PROPERTY', params: ['compressed', true], id: 18 }, 0, /^Unknown property$/, 18],
    [{ method: 'SET_PROPERTY', params: ['combined', 'yes'], id: 19 }, 1, /^Invalid value type: expected Boolean$/, 19],
    [{ method: 'GET_PROPERTY', params: [], id: 20 }, 2, /missing parameters/, 20],
    [{ method: 'GET_PROPERTY', params: ['combined', 1], id: 21 }, 2, /too many parameters/, 21],
    [{ method: 'GET_PROPERTY', params: ['other'], id: 22 }, 0, /^Unknown property$/, 22],
  ];
  for (const [request, code, msg, id] of cases) {
    client.send(request);
    const reply = await client.next((m) => m.error !== undefined);
    t.same(Object.keys(reply), ['error', 'id'], JSON.stringify(request));
    t.equal(reply.error.code, code, JSON.stringify(request));
    t.match(reply.error.msg, msg, JSON.stringify(request));
    t.equal(reply.id, id, JSON.stringify(request));
  }
  t.equal(h.streams.stats.requestErrors, cases.length);
  t.same(await client.request({ method: 'LIST_SUBSCRIPTIONS', id: 99 }), { result: [], id: 99 }, 'a failed SUBSCRIBE subscribes nothing');
  client.close();
});

async function refused(url: string): Promise<unknown> {
  try {
    (await WsClient.open(url)).close();
  } catch (error) {
    return error;
  }
  throw new Error(`${url} was accepted`);
}

t.test('upgrade refusals: unknown path 404, bad stream in the URL 400, too many URL streams 400', async (t) => {
  const h = await startHarness({ maxStreamsPerConnection: 3 });
  t.teardown(() => h.close());
  t.match(await refused(`${h.base}/nope`), { status: 404 });
  t.match(await refused(`${h.base}/market/ws/btcusdt@aggTrade`), { status: 400 });
  t.match(await refused(`${h.base}/market/stream?streams=btcusdt@kline_1m/btcusdt@kline_7m`), { status: 400 });
  t.match(await refused(`${h.base}/market/ws/a@kline_1m/b@kline_1m/c@kline_1m/d@kline_1m`), { status: 400, body: /Too many streams/ });
  const ok = await WsClient.open(`${h.base}/market/ws/a@kline_1m/b@kline_1m/c@kline_1m`);
  t.equal(h.streams.stats.rejectedUpgrades, 4);
  ok.close();
});

t.test('at most 1024 streams per connection', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const client = await WsClient.open(`${h.base}/market/ws`);
  const names = (from: number, count: number): string[] => Array.from({ length: count }, (_, i) => `sym${from + i}usdt@kline_1m`);
  t.same(await client.request({ method: 'SUBSCRIBE', params: names(0, 1000), id: 1 }), { result: null, id: 1 });
  const over = await client.request({ method: 'SUBSCRIBE', params: names(1000, 25), id: 2 });
  t.equal(over.error.code, 2);
  t.match(over.error.msg, /too many streams/);
  t.same(await client.request({ method: 'SUBSCRIBE', params: [...names(990, 10), ...names(1000, 24)], id: 3 }), { result: null, id: 3 }, 'already-held streams do not count twice');
  t.equal((await client.request({ method: 'LIST_SUBSCRIPTIONS', id: 4 })).result.length, 1024);
  t.equal(h.streams.stats.subscriptions, 1024);
  t.equal((await client.request({ method: 'SUBSCRIBE', params: names(2000, 1), id: 5 })).error.code, 2);
  client.close();
  await sleep(30);
  t.equal(h.streams.stats.subscriptions, 0, 'a closed connection releases its streams');
  t.equal(h.streams.stats.connections, 0);
});

t.test('more than 10 incoming messages in a second closes the connection with 1008', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const client = await WsClient.open(`${h.base}/market/ws`);
  const polite = await WsClient.open(`${h.base}/market/ws`);
  for (let i = 1; i <= 10; i++) t.same(await polite.request({ method: 'LIST_SUBSCRIPTIONS', id: i }), { result: [], id: i });
  for (let i = 1; i <= 11; i++) client.send({ method: 'LIST_SUBSCRIPTIONS', id: i });
  const closed = await client.closed;
  t.equal(closed.code, 1008);
  t.equal(closed.reason, 'Too many requests');
  t.equal(client.received.length, 10, 'the first ten were answered');
  t.equal(h.streams.stats.closedTooManyRequests, 1);
  t.equal(polite.ws.readyState, polite.ws.OPEN, 'ten a second is allowed');
  polite.close();
});
