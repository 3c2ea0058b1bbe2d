/**
 * JoinComposer against klagg's fake exchange over loopback REST: the composed open kline of every interval equals,
 * field by field, the one the exchange itself reports for that period, and the position is the exchange's last
 * aggregate id.
 *
 * The main market (3 generated symbols, seed 7, 0.5 trades/s) trades from Friday 2026-02-27 20:00 UTC on; its clock
 * is moved forward by hand (ManualScheduler) through the tests, in time order:
 *   Monday 2026-03-02 00:00:00.000  every period but 1M opens exactly at now (1M: 1d klines of Mar 1 + trades)
 *   Monday 2026-03-02 23:59:50      the minute (and the day) turns while the trades are read
 *   Tuesday 2026-03-03 10:37:25.500 mid-hour, mid-day, mid-week, mid-month: all three kline levels and trades
 *   Tuesday ~21:06 (found by replaying the generator): an hour that opened with flat minutes; the composition is then
 *                                   installed into a KlineEngine and the live trades after the position carry every
 *                                   joined period on to the exchange's kline, 3 h later
 * so 1d, 3d, 1w and 1M are composed from 1d + 1h + 1m klines + trades over real multi-day history. A second market
 * (one symbol, 40 trades/s) has more than 1000 trades in the current minute, and a listing that never traded.
 */
import t, { type Test } from 'tap';
import { JoinComposer, planJoin, type JoinComposition, type JoinRestPort } from '../../src/actors/join-composer.ts';
import { DEFAULT_INTERVALS, INTERVALS, openTimeOf, type IntervalName } from '../../src/domain/interval.ts';
import type { Kline } from '../../src/domain/kline.ts';
import { parseDecimal } from '../../src/domain/decimal.ts';
import { KlineEngine, TradeOutcome } from '../../src/domain/kline-engine.ts';
import type { RestKline } from '../../src/domain/exchange-api.ts';
import { BinanceRestClient } from '../../src/infra/binance/rest-client.ts';
import { FakeExchange, ManualScheduler } from '../../src/infra/fake-exchange/fake-exchange.ts';
import { planGeneratedMarket } from '../../src/infra/fake-exchange/generated-source.ts';
import { canonicalDecimal } from '../support/fixtures.ts';

const MINUTE = 60_000;
const START = Date.UTC(2026, 1, 27, 20, 0); // Friday
const MONDAY = Date.UTC(2026, 2, 2); // Monday 2026-03-02 00:00
const RACE = Date.UTC(2026, 2, 2, 23, 59, 50);
const RACE_TO = Date.UTC(2026, 2, 3, 0, 0, 20);
const NOW = Date.UTC(2026, 2, 3, 10, 37, 25, 500); // Tuesday
/** The defaults before all 15 became the default: a mix of levels without 1M. */
const SEVEN: readonly IntervalName[] = ['1m', '5m', '30m', '1h', '4h', '1d', '1w'];

const SOURCE = { kind: 'generated', symbols: 3, rate: 0.5, seed: 7, startTime: START } as const;
const scheduler = new ManualScheduler(START);
const fx = await FakeExchange.start({
  source: SOURCE,
  autoPublish: false,
  clock: scheduler,
  weightLimit: 1_000_000, // a weight minute never ends on a clock that stands still
});
t.teardown(() => fx.close());

/** Moves the exchange's clock to `time` and publishes every trade due by then. */
function moveTo(time: number): void {
  scheduler.set(time);
  fx.market.publishDue();
}

/** Reads the exchange's klines for the expectations (not counted by any test). */
const reader = new BinanceRestClient({ baseUrl: fx.restUrl, weightLimit: 1_000_000 });

function scalesOf(exchange: FakeExchange, symbol: string): { priceScale: number; qtyScale: number } {
  const info = exchange.market.symbol(symbol)!;
  return { priceScale: info.priceScale, qtyScale: info.qtyScale };
}

/** A composer on a client of its own, whose stats and the fake's are checked against the composer's own count. */
async function composeCounted(
  t: Test,
  exchange: FakeExchange,
  symbol: string,
  intervals: readonly IntervalName[],
  now: number,
  options: { settleMs?: number; wrap?: (rest: JoinRestPort) => JoinRestPort } = {},
): Promise<JoinComposition> {
  const client = new BinanceRestClient({ baseUrl: exchange.restUrl, weightLimit: 1_000_000 });
  const rest = options.wrap ? options.wrap(client) : client;
  const before = exchange.stats().rest;
  const composition = await new JoinComposer({ rest, settleMs: options.settleMs }).compose({ symbol, scales: scalesOf(exchange, symbol), intervals, now });
  const after = exchange.stats().rest;
  t.equal(client.stats.weightUsed, composition.weight, 'the weight it reports is what the client spent');
  t.equal(client.stats.requests, composition.requests, 'and so are the requests');
  t.equal(after.weightUsed - before.weightUsed, composition.weight, 'and what the exchange charged');
  t.equal(after.requests - before.requests, composition.requests, 'and the requests the exchange saw');
  return composition;
}

/** The eleven REST fields, decimals canonical. */
function toRest(k: RestKline | Kline): unknown[] {
  const d = canonicalDecimal;
  return [k.openTime, d(k.open), d(k.high), d(k.low), d(k.close), d(k.volume), k.closeTime, d(k.quoteVolume), k.tradeCount, d(k.takerBuyVolume), d(k.takerBuyQuoteVolume)];
}

function decimals(text: string): number {
  return (text.split('.')[1] ?? '').length;
}

/**
 * Each composed kline equals the exchange's kline of the same period (REST, and the fake's own kline for the trade
 * ids), as decimal values, formatted at the symbol's scales; lastAggId is the position.
 */
async function assertEqualsExchange(t: Test, exchange: FakeExchange, symbol: string, composition: JoinComposition, intervals: readonly IntervalName[], tradesFrom: number): Promise<void> {
  const { priceScale, qtyScale } = scalesOf(exchange, symbol);
  const trades = exchange.market.trades(symbol);
  t.equal(composition.position, trades.at(-1)!.aggId, 'the position is the exchange’s last aggregate id');
  t.same(
    composition.klines.map((k) => k.interval),
    intervals,
    'one kline per interval, in the order asked',
  );
  const client = new BinanceRestClient({ baseUrl: exchange.restUrl, weightLimit: 1_000_000 });
  for (const got of composition.klines) {
    const label = `${symbol} ${got.interval} ${new Date(got.openTime).toISOString()}`;
    const [latest] = await client.klines(symbol, got.interval, { limit: 1 });
    t.equal(got.openTime, latest!.openTime, `${label}: the period under way on the exchange`);
    const [want] = await client.klines(symbol, got.interval, { startTime: got.openTime, limit: 1 });
    t.ok(want !== undefined && want.openTime === got.openTime, `${label}: the exchange has that period`);
    if (want === undefined) continue;
    t.equal(got.closeTime, want.closeTime, `${label}: closeTime`);
    for (const field of ['open', 'high', 'low', 'close', 'volume', 'quoteVolume', 'takerBuyVolume', 'takerBuyQuoteVolume'] as const) {
      t.equal(canonicalDecimal(got[field]), canonicalDecimal(want[field]), `${label}: ${field} ${got[field]} = ${want[field]}`);
    }
    t.equal(got.tradeCount, want.tradeCount, `${label}: tradeCount`);
    t.same(
      [got.open, got.high, got.low, got.close, got.volume, got.takerBuyVolume, got.quoteVolume, got.takerBuyQuoteVolume].map(decimals),
      [priceScale, priceScale, priceScale, priceScale, qtyScale, qtyScale, priceScale + qtyScale, priceScale + qtyScale],
      `${label}: formatted at the symbol's scales`,
    );
    // The trade ids, against the fake's own kline (REST klines carry none).
    const own = exchange.market.klines(symbol, got.interval, { startTime: got.openTime, limit: 1 })[0]!;
    t.equal(got.lastTradeId, own.lastTradeId, `${label}: lastTradeId`);
    const firstTrade = trades.find((trade) => trade.firstTradeId === own.firstTradeId);
    const knowable = own.firstTradeId === -1 || (firstTrade !== undefined && firstTrade.tradeTime >= tradesFrom);
    t.equal(got.firstTradeId, knowable ? own.firstTradeId : -1, `${label}: firstTradeId ${knowable ? 'from the trades' : 'unknown (-1): its first trade is in a closed kline'}`);
    t.equal(got.lastAggId, composition.position, `${label}: lastAggId is the position`);
    t.equal(got.isFinal, false, `${label}: open`);
  }
}

t.test('the ladder plan: which closed klines each interval set needs (the documented cost)', async (t) => {
  const cost = (intervals: readonly IntervalName[], now: number, settleMs?: number): [number, number, string] => {
    const plan = planJoin(intervals, now, settleMs);
    const levels = plan.fetches.map((f) => `${f.interval}×${f.count}`).join(' ');
    return [20 + plan.fetches.reduce((sum, f) => sum + f.weight, 0), 1 + plan.fetches.length, levels];
  };
  // Tuesday 10:37:25.5 (the documented example).
  t.same(cost(['1m'], NOW), [20, 1, ''], '1m: the aggTrades request alone');
  t.same(cost(['1h'], NOW), [21, 2, '1m×37'], '1h: + 1m klines 10:00…10:36');
  t.same(cost(['1m', '3m', '5m', '15m', '30m', '1h'], NOW), [21, 2, '1m×37'], 'sub-hour intervals share the 1m klines');
  t.same(cost(['4h'], NOW), [22, 3, '1h×2 1m×37'], '4h: + 1h klines 08:00, 09:00');
  t.same(cost(['1d'], NOW), [22, 3, '1h×10 1m×37'], '1d: 1h klines 00:00…09:00 + 1m');
  t.same(cost(['1w'], NOW), [23, 4, '1d×1 1h×10 1m×37'], '1w: + 1d klines since Monday');
  t.same(cost(['1M'], NOW), [23, 4, '1d×2 1h×10 1m×37'], '1M: + 1d klines since the 1st');
  t.same(cost(DEFAULT_INTERVALS, NOW), [23, 4, '1d×2 1h×10 1m×37'], 'the default intervals (all 15)');
  t.same(cost(SEVEN, NOW), [23, 4, '1d×1 1h×10 1m×37'], '1m 5m 30m 1h 4h 1d 1w');
  t.same(cost(INTERVALS, NOW), [23, 4, '1d×2 1h×10 1m×37'], 'all 15');
  t.same(cost(SEVEN, MONDAY + 10 * 3_600_000 + 37 * MINUTE + 25_500), [22, 3, '1h×10 1m×37'], 'without 1M, on a Monday: no 1d klines');
  t.same(cost(INTERVALS, Date.UTC(2026, 2, 31, 23, 59, 30)), [23, 4, '1d×30 1h×23 1m×59'], 'the largest plan: the last minute of a 31-day month');
  t.same(cost(INTERVALS, MONDAY, 0), [21, 2, '1d×1'], 'Monday 00:00:00 without settling: only 1M needs klines');
  t.same(cost(INTERVALS, MONDAY), [22, 3, '1h×23 1m×59'], 'Monday 00:00:00 settling: the previous minute from trades');
  t.same(cost(['1m', '5m', '1h'], NOW - 25_500 + 400), [21, 2, '1m×36'], 'within settleMs of the minute: its predecessor from trades');
  for (const interval of INTERVALS) {
    for (const now of [NOW, MONDAY, RACE, Date.UTC(2026, 2, 31, 23, 59, 30)]) {
      const plan = planJoin([interval], now);
      t.ok(plan.fetches.every((f) => f.count >= 1 && f.count < 100 && f.weight === 1), `${interval} at ${new Date(now).toISOString()}: every request < 100 klines (weight 1)`);
    }
  }
});

t.test('now exactly at a period open (Monday 00:00:00.000): every interval equals the exchange', async (t) => {
  moveTo(MONDAY);
  for (const symbol of ['BTCUSDT', 'SOLUSDT']) {
    const bare = await composeCounted(t, fx, symbol, INTERVALS, MONDAY, { settleMs: 0 });
    t.same([bare.weight, bare.requests], [21, 2], `${symbol} settleMs 0: 20 + 1 (the 1d kline of Mar 1 for 1M)`);
    t.equal(bare.tradesFrom, MONDAY);
    await assertEqualsExchange(t, fx, symbol, bare, INTERVALS, bare.tradesFrom);
    const settled = await composeCounted(t, fx, symbol, INTERVALS, MONDAY);
    t.same([settled.weight, settled.requests], [22, 3], `${symbol} settling: 20 + 1h + 1m klines (for 1M)`);
    t.equal(settled.tradesFrom, MONDAY - MINUTE);
    await assertEqualsExchange(t, fx, symbol, settled, INTERVALS, settled.tradesFrom);
    t.same(settled.klines, bare.klines, `${symbol}: both ways give the same klines`);
  }
});

t.test('the minute turns while fetching: the period is the one holding the last trade read', async (t) => {
  moveTo(RACE);
  const symbol = 'BTCUSDT';
  const lateTrades = fx.market.trades(symbol).length;
  let moved = false;
  const composition = await composeCounted(t, fx, symbol, INTERVALS, RACE, {
    wrap: (rest) => ({
      klines: (s, i, q) => rest.klines(s, i, q),
      aggTrades: (s, q) => {
        if (!moved) {
          moved = true;
          moveTo(RACE_TO); // the exchange's clock passes midnight before the trades are read
        }
        return rest.aggTrades(s, q);
      },
    }),
  });
  const crossed = fx.market.trades(symbol).slice(lateTrades).filter((trade) => trade.tradeTime >= Date.UTC(2026, 2, 3));
  t.ok(crossed.length > 0, `the market traded ${crossed.length} times after midnight (the test needs it)`);
  t.equal(composition.klines.find((k) => k.interval === '1d')!.openTime, Date.UTC(2026, 2, 3), 'the 1d kline is the new day’s');
  t.equal(composition.klines.find((k) => k.interval === '1M')!.openTime, Date.UTC(2026, 2, 1), '1M still March (1d + 1h + 1m klines before the turn, trades after)');
  await assertEqualsExchange(t, fx, symbol, composition, INTERVALS, composition.tradesFrom);
});

t.test('mid-hour, mid-day, mid-week: every interval equals the exchange; the cost is the documented one', async (t) => {
  moveTo(NOW);
  const symbol = 'BTCUSDT';
  const inMinute = fx.market.trades(symbol).filter((trade) => trade.tradeTime >= openTimeOf('1m', NOW)).length;
  t.ok(inMinute > 0 && inMinute < 1000, `${inMinute} trades in the current minute`);
  const all = await composeCounted(t, fx, symbol, INTERVALS, NOW);
  t.same([all.weight, all.requests], [23, 4], 'all 15: 20 (aggTrades) + 1d + 1h + 1m klines');
  await assertEqualsExchange(t, fx, symbol, all, INTERVALS, all.tradesFrom);
  const seven = await composeCounted(t, fx, symbol, SEVEN, NOW);
  t.same([seven.weight, seven.requests], [23, 4], '1m 5m 30m 1h 4h 1d 1w: 23 weight in 4 requests');
  t.same(seven.klines, SEVEN.map((interval) => all.klines.find((k) => k.interval === interval)), 'the same klines as with all 15');
  for (const [intervals, weight, requests] of [
    [['1m'], 20, 1],
    [['1h'], 21, 2],
    [['1m', '5m', '30m', '1h'], 21, 2],
    [['4h'], 22, 3],
    [['1d'], 22, 3],
    [['1w'], 23, 4],
  ] as const) {
    const composed = await composeCounted(t, fx, symbol, intervals, NOW);
    t.same([composed.weight, composed.requests], [weight, requests], `${intervals.join(' ')}: ${weight} weight, ${requests} requests`);
    await assertEqualsExchange(t, fx, symbol, composed, intervals, composed.tradesFrom);
  }
});

t.test('a symbol with no trades in the current minute: flat short periods at the previous close', async (t) => {
  const symbol = 'ETHUSDT';
  const trades = fx.market.trades(symbol);
  const last = trades.at(-1)!;
  t.ok(last.tradeTime < openTimeOf('5m', NOW), `its last trade (${new Date(last.tradeTime).toISOString()}) is before the current 5m period`);
  t.ok(last.tradeTime >= openTimeOf('1h', NOW), 'and inside the current hour');
  const composition = await composeCounted(t, fx, symbol, INTERVALS, NOW);
  t.same([composition.weight, composition.requests], [23, 4], 'the same cost as a trading symbol');
  await assertEqualsExchange(t, fx, symbol, composition, INTERVALS, composition.tradesFrom);
  const { priceScale } = scalesOf(fx, symbol);
  for (const interval of ['1m', '3m', '5m'] as const) {
    const k = composition.klines.find((kline) => kline.interval === interval)!;
    t.match(k, { tradeCount: 0, firstTradeId: -1, lastTradeId: -1, lastAggId: last.aggId }, `${interval}: no trades`);
    t.same([k.open, k.high, k.low, k.close].map(canonicalDecimal), Array(4).fill(canonicalDecimal(last.price)), `${interval}: flat at the last price`);
    t.equal(decimals(k.open), priceScale);
  }
  const hour = composition.klines.find((kline) => kline.interval === '1h')!;
  t.equal(hour.lastTradeId, last.lastTradeId, '1h: its last trade id is known although the current minute has none');
});

t.test('a period whose first minutes had no trade: their flat klines do not count for open, high or low', async (t) => {
  // Find, in the same generated market after NOW, an hour whose first trade comes minutes in at a price other than
  // the previous close, and a now some minutes after that trade (the plan replays the fake's exact trade sequence).
  const feed = planGeneratedMarket(SOURCE, START).feed;
  const lastPrice = new Map<string, string>();
  const firstInHour = new Map<string, { hour: number; time: number; price: string; previous: string | undefined }>();
  let found: { symbol: string; hour: number; now: number; previous: string } | undefined;
  for (let trade = feed.take(); trade !== undefined && trade.tradeTime < NOW + 24 * 3_600_000 && found === undefined; trade = feed.take()) {
    const hour = openTimeOf('1h', trade.tradeTime);
    const seen = firstInHour.get(trade.symbol);
    if (seen === undefined || seen.hour !== hour) {
      const candidate = { hour, time: trade.tradeTime, price: trade.price, previous: lastPrice.get(trade.symbol) };
      firstInHour.set(trade.symbol, candidate);
      const now = openTimeOf('1m', trade.tradeTime) + 2 * MINUTE + 30_000;
      if (hour > NOW && trade.tradeTime >= hour + 2 * MINUTE && now < hour + 3_600_000 && candidate.previous !== undefined && candidate.previous !== trade.price) {
        found = { symbol: trade.symbol, hour, now, previous: candidate.previous };
      }
    }
    lastPrice.set(trade.symbol, trade.price);
  }
  t.ok(found, 'the market has such an hour');
  if (found === undefined) return;
  moveTo(found.now);
  const { symbol, hour } = found;
  const [firstMinute] = await reader.klines(symbol, '1m', { startTime: hour, limit: 1 });
  const [wholeHour] = await reader.klines(symbol, '1h', { startTime: hour, limit: 1 });
  t.match(firstMinute, { tradeCount: 0, open: found.previous }, `${symbol} ${new Date(hour).toISOString()}: its first minute is flat at the previous close`);
  t.not(canonicalDecimal(wholeHour!.open), canonicalDecimal(found.previous), 'and the hour opens at its first trade, not at that close');
  const composition = await composeCounted(t, fx, symbol, INTERVALS, found.now);
  await assertEqualsExchange(t, fx, symbol, composition, INTERVALS, composition.tradesFrom);

  // Installed into the engine, the live trades after the position carry every joined period on to the exchange's.
  const finals: Kline[] = [];
  const engine = new KlineEngine({ intervals: INTERVALS, graceMs: 0 }, { onFinal: (kline) => finals.push(kline) });
  const index = engine.addSymbol(symbol, scalesOf(fx, symbol));
  for (const kline of composition.klines) engine.installKline(kline);
  const later = found.now + 3 * 3_600_000;
  moveTo(later);
  const live = fx.market.trades(symbol).filter((trade) => trade.aggId > composition.position);
  t.ok(live.length > 0 && live[0]!.aggId === composition.position + 1, `${live.length} live trades continue at position + 1`);
  for (const trade of live) {
    const price = parseDecimal(trade.price);
    const qty = parseDecimal(trade.qty);
    const outcome = engine.applyTrade(index, trade.aggId, price.mantissa, price.decimals, qty.mantissa, qty.decimals, trade.firstTradeId, trade.lastTradeId, trade.tradeTime, trade.buyerIsMaker);
    if (outcome !== TradeOutcome.Applied) t.fail(`trade ${trade.aggId}: outcome ${outcome}`);
  }
  engine.advanceTo(later);
  for (const joined of composition.klines) {
    const label = `${joined.interval} ${new Date(joined.openTime).toISOString()}`;
    const closed = finals.find((k) => k.interval === joined.interval && k.openTime === joined.openTime);
    const mine = closed ?? engine.openKline(index, joined.interval)!;
    t.equal(mine.openTime, joined.openTime, `${label}: the engine carried the joined period ${closed ? 'to its close' : 'on (still open)'}`);
    const [want] = await reader.klines(symbol, joined.interval, { startTime: joined.openTime, limit: 1 });
    t.same(toRest(mine), toRest(want!), `${label}: equal to the exchange's`);
  }
});

t.test('more than 1000 trades since the minute opened: the earlier ones are paged in', async (t) => {
  const start = Date.UTC(2026, 2, 3, 10, 0);
  const now = Date.UTC(2026, 2, 3, 10, 5, 50);
  const busyClock = new ManualScheduler(start);
  const busy = await FakeExchange.start({
    source: { kind: 'generated', symbols: 1, rate: 60, seed: 3, startTime: start, burstiness: 0, listings: [{ atMs: 0, pendingMs: 86_400_000 }] },
    autoPublish: false,
    clock: busyClock,
    weightLimit: 1_000_000,
  });
  t.teardown(() => busy.close());
  busyClock.set(now);
  busy.market.publishDue();
  const [listed, fresh] = busy.market.symbols().map((s) => s.symbol) as [string, string];
  const inWindow = busy.market.trades(listed).filter((trade) => trade.tradeTime >= openTimeOf('1m', now)).length;
  t.ok(inWindow > 2000, `${inWindow} trades since the minute opened`);
  const pages = Math.max(2, Math.ceil(inWindow / 1000));
  const composition = await composeCounted(t, busy, listed, INTERVALS, now);
  t.same([composition.weight, composition.requests], [20 * pages + 3, pages + 3], `aggTrades in ${pages} requests + three kline levels`);
  await assertEqualsExchange(t, busy, listed, composition, INTERVALS, composition.tradesFrom);

  t.equal(busy.market.trades(fresh).length, 0, `${fresh} is listed and has never traded`);
  const none = await composeCounted(t, busy, fresh, INTERVALS, now);
  t.same({ klines: none.klines, position: none.position }, { klines: [], position: -1 }, 'a symbol that never traded has no klines, position -1');
  t.same(await new BinanceRestClient({ baseUrl: busy.restUrl }).klines(fresh, '1m', { limit: 1 }), [], 'as the exchange has none');
});

t.test('aggregate ids that skip (the exchange no longer has them all) fail the join instead of composing a wrong kline', async (t) => {
  const trade = (aggId: number, tradeTime: number) => ({ symbol: 'XUSDT', aggId, price: '1.00', qty: '1', firstTradeId: aggId, lastTradeId: aggId, tradeTime, buyerIsMaker: false });
  const rest: JoinRestPort = {
    klines: async () => [],
    aggTrades: async () => [trade(7, NOW - 2_000), trade(9, NOW - 1_000)],
  };
  await t.rejects(new JoinComposer({ rest }).compose({ symbol: 'XUSDT', scales: { priceScale: 2, qtyScale: 0 }, intervals: ['1m'], now: NOW }), /not contiguous \(7 then 9\)/);
});
