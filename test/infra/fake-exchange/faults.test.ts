/** Every fault kind, as a client sees it; in-process and through the admin route. */
import t from 'tap';
import { FakeExchange } from '../../../src/infra/fake-exchange/fake-exchange.ts';
import { ManualScheduler } from '../../../src/infra/fake-exchange/scheduler.ts';
import { type Json, clientsOf, sleep, type WsClient } from '../../support/ws-client.ts';
import { getJson, isAggTrade } from './helpers.ts';

const scheduler = new ManualScheduler(Date.UTC(2026, 0, 5, 12, 0, 0));
const fx = await FakeExchange.start({ source: { kind: 'generated', symbols: 3, rate: 50, seed: 21, quietPeriods: false }, autoPublish: false, clock: scheduler });
t.teardown(() => fx.close());
const [A, B] = fx.market.symbols().map((s) => s.symbol) as [string, string];
const stream = (symbol: string) => `${symbol.toLowerCase()}@aggTrade`;
const open = clientsOf(t, fx.wsUrl);
function publishFor(symbol: string, count: number) {
  const before = fx.market.trades(symbol).length;
  while (fx.market.trades(symbol).length < before + count) fx.market.publishNext(1);
  return fx.market.trades(symbol).slice(before);
}
const ids = (client: WsClient, symbol: string): number[] => client.received.filter((m) => isAggTrade(m) && m.s === symbol).map((m) => m.a);
/** Round-trips a request so every frame sent before it has arrived. */
let requestId = 1000;
const flush = (client: WsClient) => client.request({ method: 'LIST_SUBSCRIPTIONS', id: requestId++ });
const admin = async (body: unknown) => {
  const response = await fetch(`${fx.restUrl}/_fake/faults`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  return { status: response.status, body: (await response.json()) as Json };
};

t.test('dropConnections: sockets destroyed without a close frame (all, or those of a symbol)', async (t) => {
  const onA = await open(`/market/ws/${stream(A)}`);
  const onB = await open(`/market/ws/${stream(B)}`);
  t.equal(fx.faults.dropConnections({ symbol: A }), 1);
  t.equal((await onA.closed).code, 1006, 'no close frame: the client sees an abnormal closure');
  await flush(onB);
  t.equal(onB.ws.readyState, 1, 'a connection without the symbol stays');
  const other = await open('/market/ws');
  const dropped = await admin({ type: 'dropConnections' });
  t.same(dropped, { status: 200, body: { ok: true, results: [{ type: 'dropConnections', result: 2 }] } });
  t.equal((await onB.closed).code, 1006);
  t.equal((await other.closed).code, 1006);
  t.equal(fx.faults.injected.dropConnections, 2);
  t.equal(fx.faults.effects.droppedConnections, 3);
});

t.test('stall: the connection stays open, frames published meanwhile are not sent, sending resumes after', async (t) => {
  const client = await open(`/market/ws/${stream(A)}`);
  const before = publishFor(A, 3);
  t.equal(fx.faults.stall({ ms: 5_000 }), 1);
  const during = publishFor(A, 4);
  await flush(client);
  t.equal(client.ws.readyState, 1, 'still open');
  scheduler.advance(5_000);
  const after = publishFor(A, 2);
  await client.waitCount((m) => isAggTrade(m), 5);
  await flush(client);
  t.same(ids(client, A), [...before, ...after].map((trade) => trade.aggId), 'the stalled frames are lost: a gap the client must repair');
  const rest = await getJson(`${fx.restUrl}/fapi/v1/aggTrades?symbol=${A}&fromId=${during[0]!.aggId}&limit=4`);
  t.same(
    rest.body.map((trade: Json) => trade.a),
    during.map((trade) => trade.aggId),
    'REST has them',
  );
});

t.test('skipIds: the next trades of a symbol are not sent over WS; REST has them', async (t) => {
  const client = await open(`/market/stream?streams=${stream(A)}/${stream(B)}`);
  fx.faults.skipIds({ symbol: A, count: 3 });
  const trades = publishFor(A, 8);
  publishFor(B, 2);
  await flush(client);
  const got = client.received.filter((m) => m.data?.s === A && m.data.a <= trades.at(-1)!.aggId).map((m) => m.data.a);
  t.same(got, trades.slice(3).map((trade) => trade.aggId), 'ids skipped: the first three are missing');
  t.ok(client.received.some((m) => m.data?.s === B), 'other symbols unaffected');
  const rest = await getJson(`${fx.restUrl}/fapi/v1/aggTrades?symbol=${A}&fromId=${trades[0]!.aggId}&limit=3`);
  t.same(
    rest.body.map((trade: Json) => trade.a),
    trades.slice(0, 3).map((trade) => trade.aggId),
  );
  t.equal(fx.faults.effects.skippedTrades, 3);
});

t.test('duplicate: the last trades are sent again', async (t) => {
  const client = await open(`/market/ws/${stream(A)}`);
  const trades = publishFor(A, 5);
  t.equal(fx.faults.duplicate({ symbol: A, count: 2 }), 2);
  await flush(client);
  const sent = trades.map((trade) => trade.aggId);
  t.same(ids(client, A), [...sent, ...sent.slice(3)], 'the last two again, after the originals');
});

t.test('REST faults: 429, 418, 5xx and slow answers, counted, optionally for one path', async (t) => {
  const time = () => getJson(`${fx.restUrl}/fapi/v1/time`);
  fx.faults.rest429({ count: 2 });
  const first = await time();
  t.equal(first.status, 429);
  t.equal(first.body.code, -1003);
  t.ok(first.headers.get('retry-after'));
  t.ok(first.headers.get('x-mbx-used-weight-1m'));
  t.equal((await time()).status, 429);
  t.equal((await time()).status, 200, 'only `count` requests are hit');

  fx.faults.rest418({ count: 1 });
  const banned = await time();
  t.equal(banned.status, 418);
  t.match(banned.body, { code: -1003, msg: /banned until \d+/ });
  t.ok(banned.headers.get('retry-after'));
  t.equal((await time()).status, 200, 'an injected 418 leaves no real ban');

  fx.faults.rest5xx({ count: 1 });
  const unavailable = await time();
  t.equal(unavailable.status, 503);
  t.equal(typeof unavailable.body.code, 'number', 'a JSON body');
  fx.faults.rest5xx({ count: 1, status: 502, path: '/fapi/v1/klines' });
  t.equal((await time()).status, 200, 'a fault for another path does not hit');
  t.equal((await getJson(`${fx.restUrl}/fapi/v1/klines?symbol=${A}&interval=1m`)).status, 502);

  fx.faults.slowRest({ ms: 2_000, count: 1 });
  let answered = false;
  const slow = time().then((r) => {
    answered = true;
    return r;
  });
  await sleep(100);
  t.notOk(answered, 'held back');
  scheduler.advance(2_000);
  t.equal((await slow).status, 200, 'answered once the delay passed (on the fake clock)');

  t.match(fx.stats().faults, { injected: { rest429: 1, rest418: 1, rest5xx: 2, slowRest: 1 }, effects: { rest429: 2, rest418: 1, rest5xx: 2, slowRest: 1 } });
  t.match(fx.stats().rest.byStatus, { 429: 2, 418: 1, '5xx': 2 });
});

t.test('the admin route: JSON faults (one or an array), validation, stats', async (t) => {
  const client = await open(`/market/ws/${stream(B)}`);
  const result = await admin([
    { type: 'skipIds', symbol: B, count: 1 },
    { type: 'rest5xx', count: 1, status: 500 },
  ]);
  t.same(result, { status: 200, body: { ok: true, results: [{ type: 'skipIds', result: null }, { type: 'rest5xx', result: null }] } });
  const pending = await getJson(`${fx.restUrl}/_fake/faults`);
  t.same(pending.body.pending, { skips: { [B]: 1 }, rest: [{ kind: 'rest5xx', remaining: 1 }] });
  const trades = publishFor(B, 2);
  await flush(client);
  t.same(ids(client, B), [trades[1]!.aggId]);
  t.equal((await getJson(`${fx.restUrl}/fapi/v1/time`)).status, 500);
  t.match(await admin({ type: 'stall', ms: 1 }), { status: 200, body: { ok: true } });
  t.match(await admin({ type: 'duplicate', symbol: B, count: 1 }), { status: 200, body: { results: [{ result: 1 }] } });
  t.match(await admin({ type: 'slowRest', ms: 1, count: 0 }), { status: 200 });
  t.match(await admin({ type: 'rest429', count: 0 }), { status: 200 });
  t.match(await admin({ type: 'rest418', count: 0 }), { status: 200 });
  t.match(await admin({ type: 'explode' }), { status: 400, body: { ok: false, error: /unknown fault type/ } });
  t.match(await admin({ type: 'skipIds', symbol: B }), { status: 400, body: { ok: false, error: /count/ } });
  t.match(await admin('{oops'), { status: 400, body: { ok: false } });
  const stats = await getJson(`${fx.restUrl}/_fake/stats`);
  t.equal(stats.status, 200);
  t.ok(stats.body.faults.injected.skipIds >= 2);
  t.ok(stats.body.ws.connectionsTotal >= 1);
  t.equal((await getJson(`${fx.restUrl}/_fake/nothing`)).status, 404);
});
