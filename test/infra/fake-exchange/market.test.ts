/**
 * The fake exchange's market on its own: recording and generated sources, publishing on an injected clock, listings
 * and delistings, and klines equal to the engine's.
 */
import t from 'tap';
import type { AggTrade } from '../../../src/domain/agg-trade.ts';
import { parseDecimal } from '../../../src/domain/decimal.ts';
import { KlineEngine } from '../../../src/domain/kline-engine.ts';
import type { Kline } from '../../../src/domain/kline.ts';
import { Market } from '../../../src/infra/fake-exchange/market.ts';
import { ManualScheduler } from '../../../src/infra/fake-exchange/scheduler.ts';
import { XRPETH_TRADES } from '../../support/fixtures.ts';
import { writeRecording } from './helpers.ts';

const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);

t.test('a recording: symbols and scales from the data, every trade published once in a order', async (t) => {
  const scheduler = new ManualScheduler(1_000);
  const market = await Market.create({ kind: 'recording', path: XRPETH_TRADES, speed: 'max' }, { scheduler });
  const [info] = market.symbols();
  t.match(info, { symbol: 'XRPETH', status: 'TRADING', contractType: 'PERPETUAL', quoteAsset: 'USDT', tickSize: '0.00000001', stepSize: '0.00000001', priceScale: 8, qtyScale: 8 });
  t.equal(market.published, 0, 'nothing is published before it is asked for');
  const seen: AggTrade[] = [];
  const off = market.onTrade((trade, eventTime) => {
    seen.push(trade);
    if (eventTime < trade.tradeTime) t.fail('event time before trade time');
  });
  t.equal(market.publishNext(10), 10);
  t.equal(market.now(), seen[9]!.tradeTime, "without a clock to follow, the exchange's time is the last trade's");
  t.equal(market.publishAll(), 12_467);
  t.ok(market.isDone);
  await market.done;
  off();
  t.equal(seen.length, 12_477, 'each trade reached the listener once');
  const ids = market.trades('XRPETH').map((trade) => trade.aggId);
  t.equal(ids[0], 13_519_807);
  t.ok(ids.every((id, i) => i === 0 || id === ids[i - 1]! + 1), 'in a order without a gap');
});

t.test('a recording with receive-time prefixes and junk lines, played at a speed on a manual clock', async (t) => {
  const { path, trades } = writeRecording({ seed: 7, symbols: 3, trades: 300, startTime: T0, rate: 20, receiveTimes: true });
  const scheduler = new ManualScheduler(5_000_000);
  const market = await Market.create({ kind: 'recording', path, speed: 10 }, { scheduler });
  t.equal(market.symbols().length, new Set(trades.map((trade) => trade.symbol)).size);
  market.start();
  t.equal(market.now(), T0, "the exchange's time starts at the first recorded trade");
  t.equal(market.published, trades.filter((trade) => trade.tradeTime === T0).length, 'the trades at the start are published at once');
  scheduler.advance(500); // 5 s of recorded time at speed 10
  t.equal(market.now(), T0 + 5_000);
  t.equal(market.published, trades.filter((trade) => trade.tradeTime <= T0 + 5_000).length, 'exactly the trades of the first 5 recorded seconds');
  const last = trades.at(-1)!.tradeTime;
  scheduler.advance(Math.ceil((last - T0) / 10));
  t.equal(market.published, 300);
  t.ok(market.isDone);
  market.stop();
  t.equal(scheduler.pending, 0, 'no timer is left behind');
});

t.test('speed max publishes by itself and resolves done', async (t) => {
  const { path } = writeRecording({ seed: 8, symbols: 2, trades: 5_000, startTime: T0 });
  const market = await Market.create({ kind: 'recording', path, speed: 'max' }, { scheduler: new ManualScheduler(0) });
  market.start();
  await market.done;
  t.equal(market.published, 5_000);
  market.stop();
});

t.test('a generated market publishes on its clock; listings and delistings change status and trading', async (t) => {
  const scheduler = new ManualScheduler(T0);
  const market = await Market.create(
    {
      kind: 'generated',
      symbols: 5,
      rate: 50,
      seed: 3,
      listings: [{ atMs: 10_000, pendingMs: 20_000, rate: 5 }],
      delistings: [{ symbol: 0, atMs: 40_000, closeAfterMs: 10_000 }],
      quietPeriods: false,
      burstiness: 0,
    },
    { scheduler },
  );
  const statuses: string[] = [];
  market.onStatus((info, previous) => statuses.push(`${info.symbol} ${previous ?? '-'}→${info.status}`));
  const first = market.symbols();
  t.equal(first.length, 5);
  t.ok(first.every((s) => s.status === 'TRADING'));
  const delisted = first[0]!.symbol;
  market.start();
  scheduler.advance(9_999);
  t.equal(market.symbols().length, 5, 'the listing is not visible before its time');
  t.ok(market.published > 300, `trades flow at about the rate (${market.published} in 10 s)`);
  for (const trade of market.trades(delisted)) t.ok(trade.tradeTime <= market.now());
  scheduler.advance(1);
  const listed = market.symbols()[5]!;
  t.match(listed, { status: 'PENDING_TRADING', onboardDate: T0 + 30_000 });
  scheduler.advance(20_000);
  t.equal(market.symbol(listed.symbol)!.status, 'TRADING');
  t.equal(market.trades(listed.symbol)[0]?.tradeTime, T0 + 30_000, 'the new symbol trades from its onboard moment');
  scheduler.advance(10_000);
  t.equal(market.symbol(delisted)!.status, 'SETTLING');
  t.equal(market.symbol(delisted)!.deliveryDate, T0 + 40_000);
  const before = market.trades(delisted).length;
  scheduler.advance(20_000);
  t.equal(market.symbol(delisted)!.status, 'CLOSE');
  t.equal(market.trades(delisted).length, before, 'a delisted symbol stops trading');
  t.ok(market.trades(delisted).every((trade) => trade.tradeTime < T0 + 40_000));
  t.ok(market.counters.notTrading > 0, 'its generated trades after the delisting were not published');
  t.same(statuses, [`${listed.symbol} -→PENDING_TRADING`, `${listed.symbol} PENDING_TRADING→TRADING`, `${delisted} TRADING→SETTLING`, `${delisted} SETTLING→CLOSE`]);
  for (const symbol of market.symbols()) {
    const ids = market.trades(symbol.symbol).map((trade) => trade.aggId);
    t.ok(
      ids.every((id, i) => i === 0 || id === ids[i - 1]! + 1),
      `${symbol.symbol}: ids contiguous`,
    );
  }
  market.stop();
  t.equal(scheduler.pending, 0);
  t.throws(() => market.publishAll(), /unlimited/);
});

t.test("klines are the engine's: finals, the open one, then flat periods up to the exchange's time", async (t) => {
  const scheduler = new ManualScheduler(T0);
  const market = await Market.create({ kind: 'generated', symbols: 3, rate: 10, seed: 11, trades: 10_000, quietPeriods: true }, { scheduler });
  market.publishAll();
  const engineKlines = new Map<string, Kline[]>();
  const engine = new KlineEngine({ intervals: ['1m', '5m'], graceMs: 0 }, { onFinal: (k) => engineKlines.set(`${k.symbol} ${k.interval}`, [...(engineKlines.get(`${k.symbol} ${k.interval}`) ?? []), k]) });
  for (const info of market.symbols()) engine.addSymbol(info.symbol, { priceScale: info.priceScale, qtyScale: info.qtyScale });
  const all = market.symbols().flatMap((info) => [...market.trades(info.symbol)]);
  all.sort((a, b) => a.tradeTime - b.tradeTime || a.aggId - b.aggId);
  for (const trade of all) {
    const p = parseDecimal(trade.price);
    const q = parseDecimal(trade.qty);
    engine.applyTrade(engine.symbolIndex(trade.symbol)!, trade.aggId, p.mantissa, p.decimals, q.mantissa, q.decimals, trade.firstTradeId, trade.lastTradeId, trade.tradeTime, trade.buyerIsMaker);
  }
  for (const info of market.symbols()) {
    for (const interval of ['1m', '5m'] as const) {
      const expected = [...(engineKlines.get(`${info.symbol} ${interval}`) ?? []), engine.openKline(engine.symbolIndex(info.symbol)!, interval)!];
      const got = market.klines(info.symbol, interval, { startTime: 0, limit: 1500 });
      t.same(
        got.map((k) => ({ ...k, isFinal: false })),
        expected.map((k) => ({ ...k, isFinal: false })),
        `${info.symbol} ${interval}`,
      );
    }
  }
  // Time passes without trades: the last kline is followed by flat ones up to now.
  const symbol = market.symbols()[0]!.symbol;
  const before = market.klines(symbol, '1m', { limit: 1500 });
  const lastClose = before.at(-1)!.close;
  scheduler.set(market.now() + 10 * 60_000);
  const after = market.klines(symbol, '1m', { limit: 1500 });
  t.equal(after.at(-1)!.openTime, Math.floor(scheduler.now() / 60_000) * 60_000, 'the last kline is the current period');
  const tail = after.slice(before.length);
  t.ok(tail.length >= 10);
  t.ok(tail.every((k) => k.open === lastClose && k.high === lastClose && k.volume === before[0]!.volume.replace(/[1-9]/g, '0') && k.tradeCount === 0), 'flat at the last close');
  t.equal(market.klines(symbol, '1m', { limit: 3 }).length, 3, 'limit counts from the end without startTime');
  t.same(
    market.klines(symbol, '1m', { endTime: before[4]!.openTime, limit: 2 }).map((k) => k.openTime),
    [before[3]!.openTime, before[4]!.openTime],
    'the last `limit` up to endTime',
  );
  t.same(
    market.klines(symbol, '1m', { startTime: before[2]!.openTime + 1, limit: 2 }).map((k) => k.openTime),
    [before[3]!.openTime, before[4]!.openTime],
    'a startTime inside a period skips that period',
  );
});

t.test('the rolling ticker', async (t) => {
  const scheduler = new ManualScheduler(T0);
  const market = await Market.create({ kind: 'generated', symbols: 1, rate: 10, seed: 5, trades: 100 }, { scheduler });
  const symbol = market.symbols()[0]!.symbol;
  t.equal(market.ticker(symbol), undefined, 'no ticker before the first trade');
  market.publishAll();
  const trades = market.trades(symbol);
  const stats = market.ticker(symbol)!;
  const prices = trades.map((trade) => parseDecimal(trade.price).mantissa);
  t.equal(parseDecimal(stats.high).mantissa, Math.max(...prices));
  t.equal(parseDecimal(stats.low).mantissa, Math.min(...prices));
  t.equal(stats.open, trades[0]!.price);
  t.equal(stats.last, trades.at(-1)!.price);
  t.equal(stats.count, 100);
  t.equal(
    BigInt(stats.volume.replace('.', '')),
    trades.reduce((sum, trade) => sum + BigInt(trade.qty.replace('.', '')), 0n),
  );
  scheduler.advance(86_400_000 + 60_000);
  const later = market.ticker(symbol)!;
  t.equal(later.count, 0, 'trades older than 24 h leave the window');
  t.equal(later.last, trades.at(-1)!.price);
});
