/** The faults that act on time: lag, delay, withholdTail — on the fake clock, as a client sees them. */
import t, { type Test } from 'tap';
import type { AggTrade } from '../../../src/domain/agg-trade.ts';
import { FakeExchange, Market } from '../../../src/infra/fake-exchange/fake-exchange.ts';
import { FaultError } from '../../../src/infra/fake-exchange/faults.ts';
import { ManualScheduler } from '../../../src/infra/fake-exchange/scheduler.ts';
import { type Json, WsClient } from '../../support/ws-client.ts';
import { aggTradeOf, getJson, isAggTrade, startManualExchange, writeRecording } from './helpers.ts';

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const MINUTE = 60_000;
const source = { kind: 'generated', symbols: 2, rate: 20, seed: 57, quietPeriods: false } as const;

const dataOf = (message: Json): Json => (message && typeof message === 'object' && 'stream' in message ? message.data : message);
const klineOf = (message: Json): Json | undefined => (dataOf(message)?.e === 'kline' ? dataOf(message) : undefined);
const isKline = (message: Json): boolean => klineOf(message) !== undefined;
const isMiniTicker = (message: Json): boolean => Array.isArray(dataOf(message));

async function setup(t: Test, options: { autoPublish: boolean }) {
  const base = await startManualExchange(t, source, { autoPublish: options.autoPublish, startTime: T0 });
  const { fx } = base;
  return {
    ...base,
    /** Publishes by hand until `count` trades of `symbol` have gone out; returns them. */
    publishFor(symbol: string, count: number): AggTrade[] {
      const before = fx.market.trades(symbol).length;
      while (fx.market.trades(symbol).length < before + count) fx.market.publishNext(1);
      return fx.market.trades(symbol).slice(before);
    },
    admin: async (body: unknown) => {
      const response = await fetch(`${fx.restUrl}/_fake/faults`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
      return { status: response.status, body: (await response.json()) as Json };
    },
  };
}
const lower = (symbol: string) => symbol.toLowerCase();
const aggIds = (client: WsClient, symbol: string): number[] => client.received.map(aggTradeOf).filter((a) => a?.s === symbol).map((a) => a.a);
/** The ids of `trades` from the first one the client got (a market publishing on its own may start before it subscribes). */
const idsSeenFrom = (client: WsClient, trades: readonly AggTrade[]): number[] => {
  const first = aggIds(client, trades[0]?.symbol ?? '')[0] ?? Number.POSITIVE_INFINITY;
  return trades.filter((trade) => trade.aggId >= first).map((trade) => trade.aggId);
};

t.test('withholdTail: the tail never comes as aggTrades, the kline stream and REST have it, then the symbol is quiet', async (t) => {
  const s = await setup(t, { autoPublish: true });
  const client = await s.open(`/market/stream?streams=${lower(s.A)}@aggTrade/${lower(s.A)}@kline_1m/${lower(s.B)}@aggTrade`);
  s.scheduler.advance(20_000);
  const before = s.fx.market.trades(s.A).length;
  s.fx.faults.withholdTail({ symbol: s.A, count: 3, quietMs: 90_000 });
  t.same(s.fx.faults.pending().withholds, { [s.A]: 3 });
  s.scheduler.set(T0 + MINUTE);
  await s.flush(client);

  const trades = s.fx.market.trades(s.A);
  const withheld = trades.slice(before, before + 3);
  t.equal(withheld.length, 3);
  t.equal(trades.length, before + 3, 'nothing of the symbol after the withheld tail (quiet)');
  const seen = aggIds(client, s.A);
  t.equal(seen.at(-1), trades[before - 1]!.aggId, 'the aggTrade stream ends right before the tail');
  t.ok(
    seen.every((id, i) => i === 0 || id === seen[i - 1]! + 1),
    'with no gap before it',
  );
  const final = client.received.map(klineOf).find((k) => k?.k.x === true);
  t.ok(final, 'the final of the minute arrived');
  t.equal(final.k.L, withheld[2]!.lastTradeId, 'its L is the l of the last withheld trade');
  t.equal(
    final.k.n,
    trades.reduce((n, trade) => n + trade.lastTradeId - trade.firstTradeId + 1, 0),
    'its n counts the withheld trades',
  );
  const lastSeen = client.received.map(aggTradeOf).filter((a) => a?.s === s.A).at(-1);
  t.ok(lastSeen.l < final.k.L, 'the client can tell from the kline stream that trades are missing');
  const rest = await getJson(`${s.fx.restUrl}/fapi/v1/aggTrades?symbol=${s.A}&fromId=${withheld[0]!.aggId}`);
  t.same(
    rest.body.map((a: Json) => a.a),
    withheld.map((trade) => trade.aggId),
    'REST aggTrades has the tail',
  );
  t.ok(aggIds(client, s.B).length > 0, 'other symbols go on');
  t.same(s.fx.stats().faults.effects, { ...s.fx.stats().faults.effects, withheldTrades: 3, quietSpells: 1 });
  t.equal(s.fx.faults.injected.withholdTail, 1);
  t.equal(s.fx.faults.pending().withholds, undefined);

  // After the quiet spell: the next trade continues the ids, timed at its publication, as REST says.
  const quietUntil = withheld[2]!.tradeTime + 90_000;
  s.scheduler.set(quietUntil - 1);
  t.equal(s.fx.market.trades(s.A).length, before + 3, 'still quiet just before the spell ends');
  s.scheduler.advance(5_000);
  await s.flush(client);
  const after = s.fx.market.trades(s.A).slice(before + 3);
  t.ok(after.length > 0, 'trading again');
  t.equal(after[0]!.aggId, withheld[2]!.aggId + 1, 'ids contiguous');
  t.equal(after[0]!.tradeTime, quietUntil, 'the first deferred trade is timed at its publication');
  t.ok(
    after.every((trade, i) => i === 0 || trade.tradeTime >= after[i - 1]!.tradeTime),
    'times keep increasing',
  );
  const restAfter = await getJson(`${s.fx.restUrl}/fapi/v1/aggTrades?symbol=${s.A}&fromId=${after[0]!.aggId}&limit=5`);
  t.same(
    restAfter.body.map((a: Json) => [a.a, a.T]),
    after.slice(0, 5).map((trade) => [trade.aggId, trade.tradeTime]),
    'REST shows the publication times',
  );
  const streamed = client.received.map(aggTradeOf).filter((a) => a?.s === s.A && a.a >= after[0]!.aggId);
  t.same(
    streamed.map((a: Json) => [a.a, a.T]),
    after.map((trade) => [trade.aggId, trade.tradeTime]),
    'the stream carries the same times',
  );
  const klineRest = await getJson(`${s.fx.restUrl}/fapi/v1/klines?symbol=${s.A}&interval=1m&startTime=${T0}`);
  const published = s.fx.market.trades(s.A);
  t.same(
    klineRest.body.map((row: Json) => row[8]),
    klineRest.body.map((row: Json) => published.filter((trade) => trade.tradeTime >= row[0] && trade.tradeTime <= row[6]).reduce((n, trade) => n + trade.lastTradeId - trade.firstTradeId + 1, 0)),
    'REST klines agree with the re-timed trades',
  );
  t.equal(klineRest.body[0][8], final.k.n);

  // The same market without the fault: the other symbol is unchanged, this one only shifted in time.
  const reference = await Market.create(source, { scheduler: new ManualScheduler(T0) });
  while (reference.trades(s.A).length < before + 3 + after.length) reference.publishNext(1);
  const common = Math.min(reference.trades(s.B).length, s.fx.market.trades(s.B).length);
  t.ok(common > 100);
  t.same(reference.trades(s.B).slice(0, common), s.fx.market.trades(s.B).slice(0, common), 'the other symbol is unaffected');
  const shifted = reference.trades(s.A).slice(before + 3, before + 3 + after.length);
  const offset = after[0]!.tradeTime - shifted[0]!.tradeTime;
  t.ok(offset > 0);
  t.same(
    after,
    shifted.map((trade) => ({ ...trade, tradeTime: trade.tradeTime + offset })),
    'the deferred trades: the same trades, later by one offset',
  );
});

t.test('withholdTail on a recording, with count 0, and its validation', async (t) => {
  const recording = writeRecording({ seed: 4, symbols: 2, trades: 200, startTime: T0 });
  const scheduler = new ManualScheduler(T0);
  const fx = await FakeExchange.start({ source: { kind: 'recording', path: recording.path }, autoPublish: false, clock: scheduler });
  t.teardown(() => fx.close());
  const symbol = recording.trades[0]!.symbol;
  fx.faults.withholdTail({ symbol, count: 2, quietMs: 5_000 });
  while (fx.market.trades(symbol).length < 2) fx.market.publishNext(1);
  const last = fx.market.trades(symbol).at(-1)!;
  fx.market.publishAll();
  const trades = fx.market.trades(symbol);
  t.equal(trades.length, recording.trades.filter((trade) => trade.symbol === symbol).length, 'every recorded trade is published');
  t.ok(
    trades.every((trade, i) => i === 0 || trade.aggId === trades[i - 1]!.aggId + 1),
    'ids contiguous',
  );
  const next = trades[trades.findIndex((trade) => trade.aggId === last.aggId) + 1]!;
  t.ok(next.tradeTime >= last.tradeTime + 5_000, `quiet for 5 s after the tail (${next.tradeTime - last.tradeTime} ms)`);
  t.equal(fx.faults.effects.withheldTrades, 2);

  fx.faults.withholdTail({ symbol, count: 0 });
  t.equal(fx.faults.effects.quietSpells, 2, 'count 0: quiet at once');
  t.throws(() => fx.faults.withholdTail({ symbol: 'NOPEUSDT', count: 1 }), FaultError);
  t.throws(() => fx.faults.withholdTail({ symbol, count: 1, quietMs: -1 }), FaultError);
});

t.test('lag: every market-data frame arrives `ms` late, in order, nothing lost', async (t) => {
  const s = await setup(t, { autoPublish: false });
  const client = await s.open(`/market/stream?streams=${lower(s.A)}@aggTrade/${lower(s.A)}@kline_1m/!miniTicker@arr`);
  const quiet = await s.open(`/market/ws/${lower(s.B)}@aggTrade`);
  t.equal(s.fx.faults.lag({ ms: 2_000, durationMs: 5_000 }), 2, 'every open connection');
  s.publishFor(s.A, 5);
  s.publishFor(s.B, 2);
  const first = [...s.fx.market.trades(s.A)];
  await s.flush(client);
  await s.flush(quiet);
  t.equal(client.received.filter(isAggTrade).length, 0, 'nothing yet');
  t.equal(quiet.received.filter(isAggTrade).length, 0, 'on every connection');
  s.scheduler.advance(1_999);
  await s.flush(client);
  t.equal(client.received.filter(isAggTrade).length + client.received.filter(isKline).length, 0, 'still nothing 1 ms before the lag is over');
  s.scheduler.advance(1);
  await s.flush(client);
  await s.flush(quiet);
  t.same(aggIds(client, s.A), first.map((trade) => trade.aggId), 'then all of them, in order');
  t.equal(quiet.received.filter(isAggTrade).length, s.fx.market.trades(s.B).length);
  t.equal(client.received.filter(isKline).length, 0, 'the kline and miniTicker frames made later are still on their way');

  s.scheduler.set(T0 + 4_999);
  s.publishFor(s.A, 3);
  s.scheduler.set(T0 + 5_500);
  s.publishFor(s.A, 3);
  await s.flush(client);
  t.equal(aggIds(client, s.A).length, first.length, 'after the window, frames wait behind the lagged ones');
  const klinesBefore = client.received.filter(isKline).length;
  t.ok(klinesBefore > 0 && client.received.some(isMiniTicker), 'kline and miniTicker frames lagged too');
  s.scheduler.set(T0 + 7_000);
  await s.flush(client);
  t.same(
    aggIds(client, s.A),
    s.fx.market.trades(s.A).map((trade) => trade.aggId),
    'everything, once, in order',
  );
  s.scheduler.advance(1_000);
  const sent = s.fx.stats().ws.framesSent;
  await s.flush(client);
  await s.flush(quiet);
  const received = [...client.received, ...quiet.received].filter((m) => isAggTrade(m) || isKline(m) || isMiniTicker(m)).length;
  t.equal(received, sent, 'every frame made was delivered');
  const klineTimes = client.received.filter(isKline).map((m) => m.data.E);
  t.same(
    klineTimes,
    [...klineTimes].sort((a, b) => a - b),
    'kline events in order',
  );
  t.ok(s.fx.faults.effects.laggedFrames >= 10, `counted (${s.fx.faults.effects.laggedFrames})`);
  const direct = s.fx.faults.effects.laggedFrames;
  s.publishFor(s.A, 1);
  await client.next((m) => isAggTrade(m));
  t.equal(s.fx.faults.effects.laggedFrames, direct, 'after the backlog, frames go out directly again');
});

t.test('delay: a symbol’s aggTrades held across a minute boundary, then all delivered in order; klines run on', async (t) => {
  const s = await setup(t, { autoPublish: true });
  const client = await s.open(`/market/stream?streams=${lower(s.A)}@aggTrade/${lower(s.A)}@kline_1m/${lower(s.B)}@aggTrade`);
  s.scheduler.set(T0 + 50_000);
  const before = s.fx.market.trades(s.A).length;
  const bBefore = s.fx.market.trades(s.B).length;
  s.fx.faults.delay({ symbol: s.A, ms: 20_000 });
  s.scheduler.set(T0 + 69_999);
  await s.flush(client);
  const trades = s.fx.market.trades(s.A);
  t.ok(trades.length > before + 5, 'the symbol kept trading');
  t.same(aggIds(client, s.A), idsSeenFrom(client, trades.slice(0, before)), 'held: nothing of it since the delay began');
  t.ok(aggIds(client, s.B).length > bBefore, 'the other symbol is not held');
  const final = client.received.map(klineOf).find((k) => k?.k.x === true);
  t.ok(final, 'the minute’s final went out meanwhile');
  t.equal(final.k.L, trades.filter((trade) => trade.tradeTime < T0 + MINUTE).at(-1)!.lastTradeId, 'with the held trades in it');
  s.scheduler.advance(1);
  await s.flush(client);
  const now = s.fx.market.trades(s.A);
  t.same(aggIds(client, s.A), idsSeenFrom(client, now), 'released: every trade once, in order');
  const held = now.filter((trade) => trade.tradeTime >= T0 + 50_000 && trade.tradeTime < T0 + 70_000).length;
  t.equal(s.fx.faults.effects.delayedFrames, held, 'counted per held trade');
  const event = client.received.map(aggTradeOf).find((a) => a?.s === s.A && a.a === now[before]!.aggId);
  t.ok(event.E < T0 + MINUTE, 'a held event keeps its event time');
  s.scheduler.advance(2_000);
  await s.flush(client);
  t.same(aggIds(client, s.A), idsSeenFrom(client, s.fx.market.trades(s.A)), 'then live again');
  t.equal(s.fx.faults.effects.delayedFrames, held, 'nothing held after the delay');
});

t.test('delay of every symbol, lag and withholdTail through the admin route; validation', async (t) => {
  const s = await setup(t, { autoPublish: false });
  const client = await s.open(`/market/stream?streams=${lower(s.A)}@aggTrade/${lower(s.B)}@aggTrade`);
  t.same(await s.admin({ type: 'delay', ms: 1_000 }), { status: 200, body: { ok: true, results: [{ type: 'delay', result: null }] } });
  s.publishFor(s.A, 2);
  s.publishFor(s.B, 2);
  await s.flush(client);
  t.equal(client.received.filter(isAggTrade).length, 0, 'every symbol held');
  s.scheduler.advance(1_000);
  await s.flush(client);
  t.same(aggIds(client, s.A), s.fx.market.trades(s.A).map((trade) => trade.aggId));
  t.same(aggIds(client, s.B), s.fx.market.trades(s.B).map((trade) => trade.aggId));

  t.same(await s.admin({ type: 'lag', ms: 100, durationMs: 100 }), { status: 200, body: { ok: true, results: [{ type: 'lag', result: 1 }] } });
  t.same(await s.admin({ type: 'withholdTail', symbol: s.A, count: 1 }), { status: 200, body: { ok: true, results: [{ type: 'withholdTail', result: null }] } });
  t.same((await getJson(`${s.fx.restUrl}/_fake/faults`)).body.pending.withholds, { [s.A]: 1 });
  t.match(await s.admin({ type: 'lag', ms: 100 }), { status: 400, body: { ok: false, error: /durationMs/ } });
  t.match(await s.admin({ type: 'delay', symbol: 5, ms: 100 }), { status: 400, body: { ok: false, error: /symbol/ } });
  t.match(await s.admin({ type: 'withholdTail', symbol: 'NOPEUSDT', count: 1 }), { status: 400, body: { ok: false, error: /unknown symbol/ } });
  t.match(await s.admin({ type: 'withholdTail', symbol: s.A, count: 1, quietMs: 'long' }), { status: 400, body: { ok: false, error: /quietMs/ } });
  t.match(s.fx.faults.injected, { lag: 1, delay: 1, withholdTail: 1 });
});
