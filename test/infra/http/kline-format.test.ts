/**
 * One number format per symbol, whatever produced the row: a row stored before klines were formatted (the exchange's
 * minimal strings, as PostgreSQL's `numeric` gives them back), a row the KlineBackfiller wrote, a row the
 * KlineRebuilder wrote and the live engine's klines (stored final and open in the view) all come out of REST
 * `/fapi/v1/klines` and the kline stream with exactly tick / step / tick+step decimals, and with their exact values.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { KlineBackfiller } from '../../../src/actors/kline-backfiller.ts';
import { KlineRebuilder } from '../../../src/actors/kline-rebuilder.ts';
import type { BinanceKlineRow, Kline } from '../../../src/domain/kline.ts';
import { scalesFromSizes } from '../../../src/domain/kline-format.ts';
import type { RestKline } from '../../../src/domain/exchange-api.ts';
import { systemClock } from '../../../src/infra/clock.ts';
import { openDatabase } from '../../../src/infra/db/open-database.ts';
import { servedScales, type ServedSymbol } from '../../../src/infra/http/context.ts';
import { KlineStreamServer } from '../../../src/infra/stream-server/stream-server.ts';
import { type Json, WsClient } from '../../support/ws-client.ts';
import { getJson, newSystem, serve, silentLogger, type Served } from './helpers.ts';

const BTC: ServedSymbol = { symbol: 'BTCUSDT', status: 'TRADING', tickSize: '0.10', stepSize: '0.001', baseAsset: 'BTC', quoteAsset: 'USDT' };
const SCALES = scalesFromSizes(BTC)!;
const MINUTE = 60_000;
const M = (i: number): number => Date.UTC(2025, 0, 1, 0, i);

/** An exchange kline with minimal decimals ("134090", "0.5"), as REST and PostgreSQL can give them. */
function restKline(openTime: number, values: Partial<RestKline> = {}): RestKline {
  return {
    openTime,
    closeTime: openTime + MINUTE - 1,
    open: '134090',
    high: '134100.5',
    low: '134000.1',
    close: '134050',
    volume: '0.5',
    quoteVolume: '67045',
    tradeCount: 3,
    takerBuyVolume: '0',
    takerBuyQuoteVolume: '0',
    ...values,
  };
}

/** The exact value of a plain decimal, scaled by 10^40 (so values compare whatever their written decimals). */
function exact(text: string): bigint {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) throw new Error(`not a plain decimal: ${text}`);
  const fraction = match[2] ?? '';
  return BigInt(match[1]! + fraction) * 10n ** BigInt(40 - fraction.length);
}

const decimals = (text: string): number => (text.includes('.') ? text.length - text.indexOf('.') - 1 : 0);

/** Prices, quantities and quote volumes of a REST row, with the decimals each must have. */
function rowFields(row: BinanceKlineRow): [string, string, number][] {
  const p = SCALES.priceScale;
  const q = SCALES.qtyScale;
  return [
    ['open', row[1], p], ['high', row[2], p], ['low', row[3], p], ['close', row[4], p],
    ['volume', row[5], q], ['quoteVolume', row[7], p + q], ['takerBuyVolume', row[9], q], ['takerBuyQuoteVolume', row[10], p + q],
  ];
}

function eventFields(k: Json): [string, string, number][] {
  const p = SCALES.priceScale;
  const q = SCALES.qtyScale;
  return [['o', k.o, p], ['h', k.h, p], ['l', k.l, p], ['c', k.c, p], ['v', k.v, q], ['q', k.q, p + q], ['V', k.V, q], ['Q', k.Q, p + q]];
}

function aggTrade(a: number, time: number, price: string, qty: string, buyerIsMaker: boolean): Buffer {
  return Buffer.from(JSON.stringify({ e: 'aggTrade', E: time, s: 'BTCUSDT', a, p: price, q: qty, f: a * 10, l: a * 10, T: time, m: buyerIsMaker, M: true }));
}

t.test('one format per symbol: legacy, backfilled, repaired and live rows on REST and the stream', async (t) => {
  t.equal(SCALES.priceScale, 2, 'tick "0.10" is scale 2, as the engine counts it');
  t.equal(SCALES.qtyScale, 3);
  const dataDir = await mkdtemp(join(tmpdir(), 'klagg-format-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const handle = await openDatabase({ dataDir });
  t.teardown(() => handle.close());

  let served: Served | undefined;
  const system = newSystem({ write: async (records) => void (await served!.store.upsert(records)) }, ['1m']);
  t.teardown(() => system.stop('test over'));
  served = await serve(system, handle, ['1m'], { symbols: () => [BTC] });
  t.teardown(() => served!.close());
  const store = served.store;
  const streams = new KlineStreamServer({ server: served.http.server, source: system, clock: systemClock, logger: silentLogger, intervals: system.intervals, scalesOf: (symbol) => servedScales(served!.context, symbol) });
  t.teardown(() => streams.close());

  // M0: a row stored before klines were formatted, the exchange's minimal strings as they came.
  const legacy = restKline(M(0));
  const { openTime: _o, closeTime: _c, tradeCount: _n, ...legacyDecimals } = legacy;
  await store.upsert([{ venue: 'binance', market: 'usdm', revision: 0, source: 'backfill', kline: { symbol: 'BTCUSDT', interval: '1m', openTime: M(0), closeTime: M(1) - 1, tradeCount: 3, ...legacyDecimals, firstTradeId: -1, lastTradeId: -1, lastAggId: -1, isFinal: true } }]);

  // M1: the KlineBackfiller, scales from the exchange's tick and step sizes.
  const backfilled = restKline(M(1), { open: '134050.5', close: '134060', volume: '2', quoteVolume: '268110', takerBuyVolume: '1.25', takerBuyQuoteVolume: '167568.75' });
  const backfiller = new KlineBackfiller({
    rest: { klinesRange: async (_symbol, _interval, start, end) => [backfilled].filter((k) => k.openTime >= start && k.openTime <= end) },
    store,
    venue: 'binance',
    market: 'usdm',
    intervals: ['1m'],
    fullHistory: [],
    clock: systemClock,
    logger: silentLogger,
    scalesOf: (symbol) => (symbol === 'BTCUSDT' ? SCALES : undefined),
  });
  t.same(await backfiller.backfillSymbol('BTCUSDT', M(1), M(2) + 1), { fetched: 1, written: 1, ranges: 1 });

  // M2: the KlineRebuilder (a repair of a period whose trades are gone).
  const repaired = restKline(M(2), { open: '134060', high: '134070.3', low: '134060', close: '134070', volume: '0.001', quoteVolume: '134.0703', takerBuyVolume: '0.001', takerBuyQuoteVolume: '134.0703' });
  const writes: Promise<unknown>[] = [];
  const rebuilder = new KlineRebuilder({
    venue: 'binance',
    market: 'usdm',
    intervals: ['1m'],
    fetchKlines: async (_symbol, _interval, start, end) => [repaired].filter((k) => k.openTime >= start && k.openTime <= end),
    write: (records) => void writes.push(store.upsert(records)),
    logger: silentLogger,
    scalesOf: (symbol) => (symbol === 'BTCUSDT' ? SCALES : undefined),
  });
  rebuilder.addRange('BTCUSDT', '1m', M(2), M(2));
  t.equal(await rebuilder.rebuildClosed(M(3)), 1);
  await Promise.all(writes);

  const stored = await store.range('binance', 'usdm', 'BTCUSDT', '1m', { startTime: M(0), endTime: M(2), limit: 10 });
  t.same(
    stored.map((k) => [k.open, k.volume, k.quoteVolume]),
    [
      ['134090', '0.5', '67045'],
      ['134050.50', '2.000', '268110.00000'],
      ['134060.00', '0.001', '134.07030'],
    ],
    'the store gives back what was written: the legacy row minimal, the backfilled and repaired rows formatted',
  );

  // M5 and M6: live, from trades through the engine; M5 becomes final and stored, M6 stays open in the view.
  const client = await WsClient.open(`${served.http.url.replace(/^http/, 'ws')}/market/ws/btcusdt@kline_1m`);
  t.teardown(() => client.close());
  system.activate({ symbol: 'BTCUSDT', scales: SCALES, initialData: [] });
  await system.whenSubscribed(['BTCUSDT']);
  system.ingestFrame(aggTrade(1, M(5) + 1_000, '134100.1', '0.5', false));
  system.ingestFrame(aggTrade(2, M(5) + 2_000, '134100', '1', true));
  system.ingestFrame(aggTrade(3, M(5) + 3_000, '134099.9', '0.001', false));
  system.ingestFrame(aggTrade(4, M(6) + 2_000, '134101', '0.25', false));
  await system.flush();
  const finalEvent = await client.next((m) => m.k?.t === M(5) && m.k.x === true);
  const openEvent = await client.next((m) => m.k?.t === M(6));
  // The DB writer stores the final on its own schedule: wait for it.
  for (let waited = 0; (await store.range('binance', 'usdm', 'BTCUSDT', '1m', { startTime: M(5), endTime: M(5), limit: 1 })).length === 0; waited += 20) {
    if (waited > 5_000) throw new Error('the live final was not stored');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const events = client.events();
  t.ok(events.length >= 2, `${events.length} stream events`);

  const rest = await getJson(`${served.http.url}/fapi/v1/klines?symbol=BTCUSDT&interval=1m&startTime=${M(0)}&endTime=${M(6)}`);
  t.equal(rest.status, 200);
  const rows = rest.body as BinanceKlineRow[];
  t.same(rows.map((r) => r[0]), [M(0), M(1), M(2), M(5), M(6)], 'legacy, backfilled, repaired, live final, live open');

  // Every decimal of every row and event has exactly its scale's decimals.
  const bad: unknown[] = [];
  for (const row of rows) for (const [field, text, scale] of rowFields(row)) if (decimals(text) !== scale) bad.push({ openTime: row[0], field, text, scale });
  for (const event of events) for (const [field, text, scale] of eventFields(event.k)) if (decimals(text) !== scale) bad.push({ event: event.k.t, field, text, scale });
  t.same(bad, [], 'prices at 2 decimals, quantities at 3, quote volumes at 5, on REST and the stream');

  // And every value is the value that was written.
  const want = (k: RestKline): string[] => [k.open, k.high, k.low, k.close, k.volume, k.quoteVolume, k.takerBuyVolume, k.takerBuyQuoteVolume];
  const values = (row: BinanceKlineRow): bigint[] => [row[1], row[2], row[3], row[4], row[5], row[7], row[9], row[10]].map(exact);
  t.same(values(rows[0]!), want(legacy).map(exact), 'legacy row: same values');
  t.same(values(rows[1]!), want(backfilled).map(exact), 'backfilled row: same values');
  t.same(values(rows[2]!), want(repaired).map(exact), 'repaired row: same values');
  t.same(rows[0]!.slice(1, 6), ['134090.00', '134100.50', '134000.10', '134050.00', '0.500'], 'the legacy row as the exchange formats it');
  t.same(rows[0]![7], '67045.00000');
  const live = (e: Json): string[] => [e.k.o, e.k.h, e.k.l, e.k.c, e.k.v, e.k.q, e.k.V, e.k.Q];
  const restLive = (row: BinanceKlineRow): string[] => [row[1], row[2], row[3], row[4], row[5], row[7], row[9], row[10]];
  t.same(restLive(rows[3]!), live(finalEvent), 'the stored live final reads the same on REST as on the stream');
  t.same(restLive(rows[3]!), ['134100.10', '134100.10', '134099.90', '134099.90', '1.501', '201284.14990', '0.501', '67184.14990']);
  t.same(restLive(rows[4]!), live(openEvent), 'the live open kline reads the same on REST as on the stream');
  t.equal(streams.stats.overScaleFields, 0);
});

t.test('REST: a stored value with more decimals than the scale is served exact, not rounded, and counted', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'klagg-format-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const handle = await openDatabase({ dataDir });
  t.teardown(() => handle.close());
  const system = newSystem({ write: async () => {} }, ['1m']);
  t.teardown(() => system.stop('test over'));
  const served = await serve(system, handle, ['1m'], { symbols: () => [BTC] });
  t.teardown(() => served.close());
  const k = restKline(M(0), { volume: '0.0005', quoteVolume: '67.0450275' });
  const kline: Kline = { symbol: 'BTCUSDT', interval: '1m', openTime: k.openTime, closeTime: k.closeTime, open: k.open, high: k.high, low: k.low, close: k.close, volume: k.volume, quoteVolume: k.quoteVolume, tradeCount: k.tradeCount, takerBuyVolume: k.takerBuyVolume, takerBuyQuoteVolume: k.takerBuyQuoteVolume, firstTradeId: -1, lastTradeId: -1, lastAggId: -1, isFinal: true };
  await served.store.upsert([{ venue: 'binance', market: 'usdm', revision: 0, source: 'backfill', kline }]);
  const rest = await getJson(`${served.http.url}/fapi/v1/klines?symbol=BTCUSDT&interval=1m&startTime=${M(0)}`);
  const [row] = rest.body as BinanceKlineRow[];
  t.same([row![1], row![5], row![7], row![9]], ['134090.00', '0.0005', '67.0450275', '0.000'], 'over-scale fields exact, the others formatted');
  const metrics = await getJson(`${served.http.url}/metrics`);
  t.match(String(metrics.body), /klagg_served_over_scale_fields_total\{field="volume"\} 1/);
  t.match(String(metrics.body), /klagg_served_over_scale_fields_total\{field="quoteVolume"\} 1/);
});
