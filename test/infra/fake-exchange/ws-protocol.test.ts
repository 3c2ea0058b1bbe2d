/** The WebSocket side: routes, payloads, the subscribe protocol and its errors, stream and message-rate limits. */
import t from 'tap';
import { FakeExchange } from '../../../src/infra/fake-exchange/fake-exchange.ts';
import { ManualScheduler } from '../../../src/infra/fake-exchange/scheduler.ts';
import { type Json, clientsOf, sleep, type WsClient } from '../../support/ws-client.ts';
import { aggTradeOf, isAggTrade } from './helpers.ts';

const fx = await FakeExchange.start({ source: { kind: 'generated', symbols: 3, rate: 50, seed: 1, quietPeriods: false }, autoPublish: false });
t.teardown(() => fx.close());
const [A, B, C] = fx.market.symbols().map((s) => s.symbol) as [string, string, string];
const stream = (symbol: string) => `${symbol.toLowerCase()}@aggTrade`;
const open = clientsOf(t, fx.wsUrl);
/** Publishes until `count` trades of `symbol` have gone out; returns them. */
function publishFor(symbol: string, count: number) {
  const before = fx.market.trades(symbol).length;
  while (fx.market.trades(symbol).length < before + count) fx.market.publishNext(1);
  return fx.market.trades(symbol).slice(before);
}

t.test('combined route: {stream, data} frames of the subscribed symbols, in a order, exactly as Binance', async (t) => {
  const client = await open(`/market/stream?streams=${stream(A)}/${stream(B)}`);
  const tradesA = publishFor(A, 20);
  const tradesB = fx.market.trades(B).filter((trade) => trade.tradeTime >= tradesA[0]!.tradeTime);
  const frames = await client.waitCount(isAggTrade, tradesA.length + tradesB.length);
  const first = frames.find((f) => f.data.s === A);
  t.same(Object.keys(first), ['stream', 'data']);
  t.equal(first.stream, stream(A));
  t.same(Object.keys(first.data).sort(), ['E', 'T', 'a', 'e', 'f', 'l', 'm', 'nq', 'p', 'q', 's'].sort());
  const t0 = tradesA[0]!;
  t.same(first.data, { e: 'aggTrade', E: first.data.E, s: A, a: t0.aggId, p: t0.price, q: t0.qty, f: t0.firstTradeId, l: t0.lastTradeId, T: t0.tradeTime, m: t0.buyerIsMaker, nq: t0.qty });
  t.ok(first.data.E >= first.data.T);
  t.same(
    frames.filter((f) => f.data.s === A).map((f) => f.data.a),
    tradesA.map((trade) => trade.aggId),
    'every trade of A once, in a order',
  );
  t.ok(frames.every((f) => f.data.s !== C), 'nothing of an unsubscribed symbol');
});

t.test('raw route with several streams in the path: bare payloads', async (t) => {
  const client = await open(`/market/ws/${stream(A)}/${stream(C)}`);
  const trades = publishFor(C, 5);
  const frames = await client.waitCount((m) => isAggTrade(m) && m.s === C, 5);
  t.notOk('stream' in frames[0], 'not wrapped');
  t.same(
    frames.map((f) => f.a),
    trades.map((trade) => trade.aggId),
  );
});

t.test('bare /market/ws: SUBSCRIBE, LIST_SUBSCRIPTIONS, properties, UNSUBSCRIBE; only trades after the subscription', async (t) => {
  const client = await open('/market/ws');
  publishFor(A, 5);
  t.same(await client.request({ method: 'SUBSCRIBE', params: [stream(A), 'nopeusdt@aggTrade'], id: 1 }), { result: null, id: 1 }, 'an unknown symbol is ACKed');
  t.same(await client.request({ method: 'LIST_SUBSCRIPTIONS', id: 2 }), { result: [stream(A), 'nopeusdt@aggTrade'], id: 2 });
  const after = publishFor(A, 5);
  const frames = await client.waitCount(isAggTrade, 5);
  t.same(
    frames.map((f) => f.a),
    after.map((trade) => trade.aggId),
    'a new subscription gets only trades published after it',
  );
  t.same(await client.request({ method: 'GET_PROPERTY', params: ['combined'], id: 3 }), { result: false, id: 3 });
  t.same(await client.request({ method: 'SET_PROPERTY', params: ['combined', true], id: 4 }), { result: null, id: 4 });
  t.same(await client.request({ method: 'GET_PROPERTY', params: ['combined'], id: 5 }), { result: true, id: 5 });
  publishFor(A, 1);
  const wrapped = await client.next((m) => aggTradeOf(m) !== undefined);
  t.equal(wrapped.stream, stream(A), 'combined after SET_PROPERTY');
  t.same(await client.request({ method: 'UNSUBSCRIBE', params: [stream(A)], id: 6 }), { result: null, id: 6 });
  t.same(await client.request({ method: 'LIST_SUBSCRIPTIONS', id: 7 }), { result: ['nopeusdt@aggTrade'], id: 7 });
  const count = client.received.filter(isAggTrade).length;
  publishFor(A, 5);
  await client.request({ method: 'LIST_SUBSCRIPTIONS', id: 8 });
  t.equal(client.received.filter(isAggTrade).length, count, 'nothing after UNSUBSCRIBE');
  t.notOk(client.received.some((m) => aggTradeOf(m)?.s === 'NOPEUSDT'), 'the unknown symbol stays silent');
});

t.test('request errors', async (t) => {
  const cases: [unknown, Json][] = [
    ['{not json', { error: { code: 3, msg: /^Invalid JSON: / }, id: null }],
    ['[1,2]', { error: { code: 2, msg: /^Invalid request: / }, id: null }],
    [{ method: 'SUBSCRIBE', params: [stream(A)] }, { error: { code: 2, msg: 'Invalid request: request ID must be an unsigned integer' }, id: null }],
    [{ method: 'SUBSCRIBE', params: [stream(A)], id: -1 }, { error: { code: 2, msg: 'Invalid request: request ID must be an unsigned integer' }, id: null }],
    // A string id is accepted (Binance's own connectors send one); an object id is not.
    [{ method: 'SUBSCRIBE', params: [stream(A)], id: { n: 1 } }, { error: { code: 2, msg: 'Invalid request: request ID must be an unsigned integer' }, id: null }],
    [{ params: [], id: 9 }, { error: { code: 2, msg: 'Invalid request: missing field `method`' }, id: 9 }],
    [
      { method: 'SUBSCRIBED', params: [], id: 10 },
      { error: { code: 2, msg: 'Invalid request: unknown variant `SUBSCRIBED`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`' }, id: 10 },
    ],
    [{ method: 'SUBSCRIBE', id: 11 }, { error: { code: 2, msg: /^Invalid request: / }, id: 11 }],
    [{ method: 'SUBSCRIBE', params: [42], id: 12 }, { error: { code: 2, msg: 'Invalid request: invalid stream' }, id: 12 }],
    [{ method: 'SET_PROPERTY', params: ['speed', true], id: 13 }, { error: { code: 0, msg: 'Unknown property' }, id: 13 }],
    [{ method: 'SET_PROPERTY', params: ['combined', 'yes'], id: 14 }, { error: { code: 1, msg: 'Invalid value type: expected Boolean' }, id: 14 }],
    [{ method: 'SET_PROPERTY', params: [1, true], id: 15 }, { error: { code: 2, msg: 'Invalid request: property name must be a string' }, id: 15 }],
    [{ method: 'SET_PROPERTY', params: ['combined', true, 1], id: 16 }, { error: { code: 2, msg: 'Invalid request: too many parameters' }, id: 16 }],
    [{ method: 'GET_PROPERTY', params: ['nope'], id: 17 }, { error: { code: 0, msg: 'Unknown property' }, id: 17 }],
  ];
  for (let i = 0; i < cases.length; i += 7) {
    const client = await open('/market/ws');
    for (const [request, expected] of cases.slice(i, i + 7)) {
      client.send(request);
      t.match(await client.next(), expected, JSON.stringify(request));
    }
    t.equal(client.ws.readyState, 1, 'errors do not close the connection');
  }
});

t.test('at most 1024 streams per connection: a SUBSCRIBE that would exceed it is refused and not applied', async (t) => {
  const client = await open('/market/ws');
  const names = Array.from({ length: 1025 }, (_, i) => `sym${i}usdt@aggTrade`);
  t.same(await client.request({ method: 'SUBSCRIBE', params: names.slice(0, 1000), id: 1 }), { result: null, id: 1 });
  const refused = await client.request({ method: 'SUBSCRIBE', params: names.slice(1000), id: 2 });
  t.match(refused, { error: { code: 2, msg: /1024/ }, id: 2 });
  t.equal((await client.request({ method: 'LIST_SUBSCRIPTIONS', id: 3 })).result.length, 1000, 'nothing of it applied');
  t.same(await client.request({ method: 'SUBSCRIBE', params: [...names.slice(1000, 1024), names[0]], id: 4 }), { result: null, id: 4 }, 'up to 1024 is fine (repeats do not count)');
  t.equal((await client.request({ method: 'LIST_SUBSCRIPTIONS', id: 5 })).result.length, 1024);
  const short = Array.from({ length: 1025 }, (_, i) => `s${i}@t`);
  await t.rejects(open(`/market/stream?streams=${short.join('/')}`), /HTTP 400/, 'a URL with 1025 streams is refused');
  const full = await open(`/market/stream?streams=${short.slice(0, 1024).join('/')}`);
  t.equal((await full.request({ method: 'LIST_SUBSCRIPTIONS', id: 1 })).result.length, 1024, 'a URL with 1024 is fine');
});

t.test('more than 10 incoming messages in a second: close 1008 "Too many requests"', async (t) => {
  const calm = await open('/market/ws');
  for (let i = 0; i < 10; i++) calm.send({ method: 'LIST_SUBSCRIPTIONS', id: i });
  await calm.waitCount((m) => m.result !== undefined, 10);
  await sleep(1_050);
  for (let i = 0; i < 10; i++) calm.send({ method: 'LIST_SUBSCRIPTIONS', id: 100 + i });
  await calm.waitCount((m) => m.result !== undefined, 20);
  t.equal(calm.ws.readyState, 1, '10 per second, twice, is within the limit');

  const eager = await open('/market/ws');
  for (let i = 0; i < 11; i++) eager.send({ method: 'LIST_SUBSCRIPTIONS', id: i });
  t.same(await eager.closed, { code: 1008, reason: 'Too many requests' });
  t.equal(eager.received.length, 10, 'the 11th request is not answered');
  t.ok(fx.stats().ws.closedTooManyRequests >= 1);
});

t.test('legacy routes accept connections and subscriptions but deliver no market data', async (t) => {
  const legacy = [await open(`/ws/${stream(A)}`), await open(`/stream?streams=${stream(A)}`), await open('/ws'), await open('/stream'), await open(`/public/ws/${stream(A)}`)];
  for (const [i, client] of legacy.entries()) {
    t.same(await client.request({ method: 'SUBSCRIBE', params: [stream(A)], id: i }), { result: null, id: i });
  }
  const market = await open(`/market/ws/${stream(A)}`);
  publishFor(A, 5);
  await market.waitCount(isAggTrade, 5);
  await sleep(50);
  for (const client of legacy) t.equal(client.received.filter(isAggTrade).length, 0, 'silent');
  t.same((await legacy[1]!.request({ method: 'LIST_SUBSCRIPTIONS', id: 9 })).result, [stream(A)]);
  await t.rejects(open('/nowhere'), /HTTP 404/, 'an unknown path takes no WebSocket');
  t.match(fx.stats().ws.byRoute, { legacy: 4, public: 1 });
});

t.test('legacySilent false: the legacy routes act like /market', async (t) => {
  const loud = await FakeExchange.start({ source: { kind: 'generated', symbols: 1, rate: 5, seed: 2, trades: 20 }, autoPublish: false, legacySilent: false });
  t.teardown(() => loud.close());
  const symbol = loud.market.symbols()[0]!.symbol;
  const client = await open(`/stream?streams=${stream(symbol)}`, loud.wsUrl);
  loud.market.publishAll();
  const frames = await client.waitCount(isAggTrade, 20);
  t.equal(frames[0].stream, stream(symbol));
});

t.test('!miniTicker@arr: every second of the fake clock, the symbols that traded since the last push', async (t) => {
  const scheduler = new ManualScheduler(Date.UTC(2026, 0, 5));
  const mini = await FakeExchange.start({ source: { kind: 'generated', symbols: 3, rate: 30, seed: 4, quietPeriods: false }, autoPublish: false, clock: scheduler });
  t.teardown(() => mini.close());
  const [x, y] = mini.market.symbols().map((s) => s.symbol) as [string, string];
  const client = await open('/market/stream?streams=!miniTicker@arr', mini.wsUrl);
  const raw = await open('/market/ws/!miniTicker@arr', mini.wsUrl);
  while (mini.market.trades(x).length < 3 || mini.market.trades(y).length < 3) mini.market.publishNext();
  scheduler.advance(1_000);
  const push = await client.next();
  t.equal(push.stream, '!miniTicker@arr');
  t.ok(Array.isArray(push.data));
  const traded = mini.market.symbols().filter((s) => mini.market.trades(s.symbol).length > 0).map((s) => s.symbol);
  t.same(push.data.map((item: Json) => item.s).sort(), traded.sort(), 'exactly the symbols that traded');
  const item = push.data.find((i: Json) => i.s === x);
  const stats = mini.market.ticker(x)!;
  t.same(item, { e: '24hrMiniTicker', E: mini.market.now(), s: x, c: stats.last, o: stats.open, h: stats.high, l: stats.low, v: stats.volume, q: stats.quoteVolume });
  t.ok(Array.isArray(await raw.next()), 'raw route: the bare array');
  scheduler.advance(1_000);
  await sleep(50);
  t.equal(client.received.length, 1, 'no push when nothing traded');
  const tradedNow = new Set<string>();
  const off = mini.market.onTrade((trade) => tradedNow.add(trade.symbol));
  const before = mini.market.trades(y).length;
  while (mini.market.trades(y).length === before) mini.market.publishNext();
  off();
  scheduler.advance(1_000);
  const second = await client.next();
  t.same(second.data.map((i: Json) => i.s).sort(), [...tradedNow].sort(), 'the next push: only what traded since');
});
