/**
 * The HTTP API merges the live open klines over the store from the service's first batch, not from when the HTTP
 * server started listening: a restart's catch-up, published before, must be what `/api/klines` and
 * `/fapi/v1/klines` answer while the store (its writer slower than the catch-up) still holds the old row. A client
 * resyncing over REST after a reconnect was otherwise left on a stale open kline for good (a quiet symbol sends no
 * further event) — found by the soak.
 */
import t from 'tap';
import { startServing } from '../../src/app/serving.ts';
import { KlineStore } from '../../src/infra/db/kline-store.ts';
import { openDatabase } from '../../src/infra/db/open-database.ts';
import { FakeExchange } from '../../src/infra/fake-exchange/fake-exchange.ts';
import { systemClock } from '../../src/infra/clock.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { REALTIME_SYSTEM, serviceOn, silentLogger } from '../support/system.ts';

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test('after a restart, the API answers the caught-up open kline the store does not have yet', async (t) => {
  const database = await createTestDatabase('klagg_serving_live_view');
  const exchange = await FakeExchange.start({ source: { kind: 'generated', symbols: 1, rate: 40, seed: 3, quietPeriods: false }, autoPublish: false });
  const handle = await openDatabase({ url: database.url });
  const store = new KlineStore(handle.db);
  t.teardown(async () => {
    await exchange.close();
    await handle.close();
    await database.drop();
  });
  exchange.market.start();
  const symbol = exchange.market.symbols()[0]!.symbol;

  // Life 1 runs a while and stops in order: its position and open klines are stored.
  const first = serviceOn(exchange, { intervals: ['1h'], store, system: { threads: false } });
  await first.start();
  await wait(1_500);
  t.equal(await first.stop('life 1 over'), 0);
  const stored = (await store.range('binance', 'usdm', symbol, '1h', { limit: 1 }))[0]!;
  t.ok(stored.tradeCount > 0 && !stored.isFinal, `life 1 stored the open hour (${stored.tradeCount} trades)`);
  // The exchange trades on while klagg is down, then goes quiet (no later trade would refresh the view).
  await wait(1_500);
  exchange.market.stop();
  const trades = exchange.market.trades(symbol);

  // Life 2: its writer holds everything (the store lags), its catch-up runs at start, before the API listens.
  const second = serviceOn(exchange, { intervals: ['1h'], store, system: { threads: false, dbWriter: { ...REALTIME_SYSTEM.dbWriter, flushIntervalMs: 600_000, maxBatchRows: 1_000_000 } } });
  await second.start();
  await second.system.whenSubscribed([symbol]);
  await second.system.repairsSettled(); // the catch-up to the exchange's latest trade
  await second.system.flush(); // and published
  const serving = await startServing({ service: second, store, venue: 'binance', market: 'usdm', host: '127.0.0.1', port: 0, clock: systemClock, logger: silentLogger });
  t.teardown(async () => {
    await serving.close();
    await second.stop('test over');
  });
  t.equal((await store.range('binance', 'usdm', symbol, '1h', { limit: 1 }))[0]!.tradeCount, stored.tradeCount, 'the store still has life 1\'s row');

  const hour = stored.openTime;
  const expected = trades.filter((trade) => trade.tradeTime >= hour && trade.tradeTime < hour + 3_600_000).reduce((n, trade) => n + trade.lastTradeId - trade.firstTradeId + 1, 0);
  t.ok(expected > stored.tradeCount, 'the exchange has more trades in the hour than life 1 stored');
  const chart = (await (await fetch(`${serving.url}/api/klines?symbol=${symbol}&interval=1h&limit=1`)).json()) as { klines: { openTime: number; tradeCount: number; final: boolean }[] };
  t.match(chart.klines.at(-1), { openTime: hour, tradeCount: expected, final: false }, '/api/klines: the caught-up open hour');
  const rows = (await (await fetch(`${serving.url}/fapi/v1/klines?symbol=${symbol}&interval=1h&limit=1`)).json()) as unknown[][];
  t.equal(rows.at(-1)![8], expected, '/fapi/v1/klines: the same');
});
