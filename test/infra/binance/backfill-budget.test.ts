/**
 * A backfill of 700 symbols against the fake exchange (which answers 429 over 2,400 weight a minute and bans an IP
 * that keeps sending after a 429) never receives a 429. Time is simulated on both sides, so the ~9 minutes of
 * weight budget pass in a moment.
 */
import t from 'tap';
import { BinanceRestClient } from '../../../src/infra/binance/rest-client.ts';
import { FakeExchange } from '../../../src/infra/fake-exchange/fake-exchange.ts';
import { FakeTime } from './support.ts';

t.test('700 symbols backfilled concurrently: no 429, no 418, every request answered', async (t) => {
  const time = new FakeTime(Date.UTC(2026, 10, 2, 0, 0, 30));
  const exchange = await FakeExchange.start({
    source: { kind: 'generated', symbols: 700, rate: 1000, seed: 5, trades: 7_000, startTime: Date.UTC(2026, 10, 1) },
    autoPublish: false,
    clock: time.clock,
  });
  t.teardown(() => exchange.close());
  exchange.market.publishAll();
  const client = new BinanceRestClient({ baseUrl: exchange.restUrl, clock: time.clock, sleep: time.sleep });
  time.busyWhen(() => client.stats.inFlight > 0);

  const info = await client.exchangeInfo();
  const symbols = info.symbols.map((s) => s.symbol);
  t.equal(symbols.length, 700);
  let next = 0;
  let klines = 0;
  let trades = 0;
  // 16 concurrent fetchers, each taking the next symbol: two pages of 1m klines (weight 2 each) and the trades
  // (weight 20): about 16,800 weight in all, seven times the per-minute limit.
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let i = next++; i < symbols.length; i = next++) {
        const symbol = symbols[i]!;
        // (`x += await y` would read x before the await and lose the other fetchers' additions.)
        const recent = await client.klines(symbol, '1m', { limit: 499 });
        const earlier = await client.klines(symbol, '1m', { limit: 499, endTime: Date.UTC(2026, 10, 1, 12) });
        const latestTrades = await client.aggTrades(symbol, { limit: 1000 });
        klines += recent.length + earlier.length;
        trades += latestTrades.length;
      }
    }),
  );
  const stats = exchange.stats().rest;
  t.equal(stats.byStatus[429] ?? 0, 0, 'the exchange never answered 429');
  t.equal(stats.byStatus[418] ?? 0, 0, 'nor 418');
  t.equal(client.stats.http429, 0);
  t.equal(client.stats.requests, 1 + 700 * 3, 'every request was sent once (no retries needed)');
  t.ok(stats.weightUsed >= 700 * 24, `weight used: ${stats.weightUsed}`);
  t.ok(time.clock.now() - Date.UTC(2026, 10, 2, 0, 0, 30) >= 6 * 60_000, 'the budget spread the backfill over several minutes');
  const expected = symbols.reduce((sum, symbol) => sum + Math.min(1000, exchange.market.trades(symbol).length), 0);
  t.equal(trades, expected, `every symbol’s latest trades (up to 1,000) fetched (${trades} of ${expected})`);
  t.ok(klines > 0);
});
