/** The exchange's own `<symbol>@kline_<interval>` streams: payloads, timing on the fake clock, finals, all intervals. */
import t, { type Test } from 'tap';
import { INTERVALS, nextOpenTime, openTimeOf } from '../../../src/domain/interval.ts';
import type { Json } from '../../support/ws-client.ts';
import { getJson, isAggTrade, startManualExchange } from './helpers.ts';

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const MINUTE = 60_000;
const source = { kind: 'generated', symbols: 2, rate: 20, seed: 33, quietPeriods: false } as const;

const klineOf = (message: Json): Json | undefined => {
  const data = message && typeof message === 'object' && 'stream' in message ? message.data : message;
  return data && typeof data === 'object' && data.e === 'kline' ? data : undefined;
};
const isKline = (message: Json): boolean => klineOf(message) !== undefined;
/** A kline event's `k` as a REST /fapi/v1/klines row. */
const asRow = (k: Json): Json[] => [k.t, k.o, k.h, k.l, k.c, k.v, k.T, k.q, k.n, k.V, k.Q, k.B];

async function setup(t: Test, options: { autoPublish: boolean }) {
  const base = await startManualExchange(t, source, { autoPublish: options.autoPublish, startTime: T0 });
  const { fx } = base;
  return {
    ...base,
    restRow: async (symbol: string, interval: string, openTime: number): Promise<Json[]> => {
      const rest = await getJson(`${fx.restUrl}/fapi/v1/klines?symbol=${symbol}&interval=${interval}&startTime=${openTime}&limit=1`);
      return rest.body[0];
    },
  };
}

t.test('kline events: Binance payload (raw, combined, SUBSCRIBE), values equal to the REST row of the period', async (t) => {
  const s = await setup(t, { autoPublish: true });
  const name = `${s.A.toLowerCase()}@kline_1m`;
  const combined = await s.open(`/market/stream?streams=${name}`);
  const raw = await s.open(`/market/ws/${name}`);
  const subscribed = await s.open('/market/ws');
  t.same(await subscribed.request({ method: 'SUBSCRIBE', params: [name], id: 1 }), { result: null, id: 1 });

  s.scheduler.advance(30_000);
  await Promise.all([s.flush(combined), s.flush(raw), s.flush(subscribed)]);
  const frame = combined.received.filter(isKline).at(-1);
  t.same(Object.keys(frame), ['stream', 'data']);
  t.equal(frame.stream, name);
  t.same(Object.keys(frame.data), ['e', 'E', 's', 'k']);
  t.same(Object.keys(frame.data.k), ['t', 'T', 's', 'i', 'f', 'L', 'o', 'c', 'h', 'l', 'v', 'n', 'x', 'q', 'V', 'Q', 'B']);
  const k = frame.data.k;
  t.match(frame.data, { e: 'kline', E: T0 + 30_000, s: s.A });
  t.match(k, { t: T0, T: T0 + MINUTE - 1, s: s.A, i: '1m', x: false, B: '0' });
  t.same(asRow(k), await s.restRow(s.A, '1m', T0), 'the same numbers as REST /fapi/v1/klines');
  const trades = s.fx.market.trades(s.A);
  t.ok(trades.length > 0);
  t.equal(k.f, trades[0]!.firstTradeId, 'f: first raw trade id');
  t.equal(k.L, trades.at(-1)!.lastTradeId, 'L: the l of the last aggTrade in it');
  t.same(raw.received.filter(isKline).at(-1), frame.data, 'raw route: the bare payload');
  t.same(subscribed.received.filter(isKline).at(-1), frame.data, 'subscribed: the same');

  const updates = combined.received.filter(isKline).map((m) => m.data);
  t.ok(updates.length > 10, `updates every 250 ms while trading (${updates.length})`);
  t.ok(
    updates.every((u: Json) => (u.E - T0) % 250 === 0),
    'on 250 ms ticks of the fake clock',
  );
  t.equal(new Set(updates.map((u: Json) => JSON.stringify(u.k))).size, updates.length, 'sent only when changed');
});

t.test('the final: once, at the first tick at or after the period end, equal to REST; the next period follows', async (t) => {
  const s = await setup(t, { autoPublish: true });
  const client = await s.open(`/market/stream?streams=${s.A.toLowerCase()}@kline_1m/${s.A.toLowerCase()}@aggTrade`);
  s.scheduler.advance(MINUTE - 250);
  await s.flush(client);
  t.notOk(client.received.some((m) => klineOf(m)?.k.x), 'no final before the end');
  s.scheduler.advance(250);
  await s.flush(client);
  const finals = client.received.filter((m) => klineOf(m)?.k.x === true).map((m) => m.data);
  t.equal(finals.length, 1);
  const final = finals[0];
  t.equal(final.E, T0 + MINUTE, 'E = T + 1: just after the period end');
  t.same(asRow(final.k), await s.restRow(s.A, '1m', T0), 'equal to the REST row');
  const inPeriod = s.fx.market.trades(s.A).filter((trade) => trade.tradeTime < T0 + MINUTE);
  t.equal(final.k.L, inPeriod.at(-1)!.lastTradeId);
  t.equal(final.k.n, inPeriod.reduce((n, trade) => n + trade.lastTradeId - trade.firstTradeId + 1, 0));
  const aggTrades = client.received.filter(isAggTrade).map((m) => m.data);
  t.equal(aggTrades.filter((a: Json) => a.T < T0 + MINUTE).at(-1).l, final.k.L, 'L is the l of the last aggTrade of the period');
  const klines = client.received.filter(isKline).map((m) => m.data);
  const finalAt = klines.indexOf(final);
  t.equal(klines[finalAt + 1]?.k.t, T0 + MINUTE, 'the next period right after its predecessor’s final');

  s.scheduler.advance(3 * MINUTE);
  await s.flush(client);
  const all = client.received.filter(isKline).map((m) => m.data);
  const finalOpens = all.filter((d: Json) => d.k.x).map((d: Json) => d.k.t);
  t.same(finalOpens, [T0, T0 + MINUTE, T0 + 2 * MINUTE, T0 + 3 * MINUTE], 'one final per period, in order');
  for (const d of all.filter((d: Json) => d.k.x)) {
    t.ok(d.E > d.k.T && d.E <= d.k.T + 250, `final of ${d.k.t} within 250 ms after its end`);
    t.same(asRow(d.k), await s.restRow(s.A, '1m', d.k.t));
  }
  t.equal(s.fx.stats().ws.klineFinals, 4);
});

t.test('a period without trades: a flat final at the previous close, n 0, f and L -1', async (t) => {
  const s = await setup(t, { autoPublish: false });
  const client = await s.open(`/market/ws/${s.A.toLowerCase()}@kline_1m`);
  s.scheduler.set(T0 + 50_000);
  s.fx.market.publishDue();
  const lastClose = s.fx.market.trades(s.A).at(-1)!.price;
  s.scheduler.set(T0 + 3 * MINUTE);
  await s.flush(client);
  const finals = client.received.filter((m) => klineOf(m)?.k.x === true);
  t.same(
    finals.map((f) => f.k.t),
    [T0, T0 + MINUTE, T0 + 2 * MINUTE],
  );
  for (const flat of finals.slice(1)) {
    t.match(flat.k, { o: lastClose, h: lastClose, l: lastClose, c: lastClose, n: 0, f: -1, L: -1, x: true });
    t.equal(Number(flat.k.v), 0);
    t.same(asRow(flat.k), await s.restRow(s.A, '1m', flat.k.t), 'as REST serves it');
  }
  const current = client.received.filter(isKline).at(-1);
  t.match(current.k, { t: T0 + 3 * MINUTE, x: false, n: 0, f: -1, L: -1 }, 'the next one opens flat too');
});

t.test('every Binance interval, aligned as REST aligns it; a new subscriber gets the current kline', async (t) => {
  const s = await setup(t, { autoPublish: true });
  const names = INTERVALS.map((interval) => `${s.B.toLowerCase()}@kline_${interval}`);
  const client = await s.open(`/market/stream?streams=${names.join('/')}`);
  s.scheduler.advance(5 * MINUTE + 1_000);
  await s.flush(client);
  const now = s.scheduler.now();
  for (const interval of INTERVALS) {
    const events = client.received.filter((m) => m.stream === `${s.B.toLowerCase()}@kline_${interval}`).map((m) => m.data);
    const last = events.at(-1);
    t.ok(last, `${interval}: events`);
    t.match(last.k, { i: interval, t: openTimeOf(interval, now), T: nextOpenTime(interval, openTimeOf(interval, now)) - 1, x: false });
    t.same(asRow(last.k), await s.restRow(s.B, interval, last.k.t), `${interval}: equal to REST`);
  }
  const finals = client.received.filter((m) => m.data?.k?.x).map((m) => `${m.data.k.i}@${m.data.k.t - T0}`);
  t.same(finals.sort(), ['1m@0', '1m@60000', '1m@120000', '1m@180000', '1m@240000', '3m@0', '5m@0'].sort(), 'finals only for periods that ended');

  const late = await s.open('/market/ws');
  await late.request({ method: 'SUBSCRIBE', params: [names[5]], id: 7 });
  s.scheduler.advance(250);
  await s.flush(late);
  t.equal(late.received.filter(isKline).length, 1, 'the late subscriber gets the current kline at the next tick');
});

t.test('streams that never send: unknown symbol, bad interval, legacy route; the tick timer stops when unused', async (t) => {
  const s = await setup(t, { autoPublish: true });
  const client = await s.open(`/market/stream?streams=nopeusdt@kline_1m/${s.A.toLowerCase()}@kline_7m/${s.A}@kline_1m`);
  const legacy = await s.open(`/stream?streams=${s.A.toLowerCase()}@kline_1m`);
  s.scheduler.advance(2 * MINUTE);
  await s.flush(client);
  await s.flush(legacy);
  t.equal(client.received.filter(isKline).length, 0);
  t.equal(legacy.received.filter(isKline).length, 0, 'the legacy route is silent');
  const name = `${s.A.toLowerCase()}@kline_1m`;
  t.same(await client.request({ method: 'SUBSCRIBE', params: [name], id: 9 }), { result: null, id: 9 });
  s.scheduler.advance(250);
  await s.flush(client);
  t.equal(client.received.filter(isKline).length, 1);
  t.same(await client.request({ method: 'UNSUBSCRIBE', params: [name], id: 10 }), { result: null, id: 10 });
  s.scheduler.advance(MINUTE);
  await s.flush(client);
  t.equal(client.received.filter(isKline).length, 1, 'nothing after UNSUBSCRIBE');
});
