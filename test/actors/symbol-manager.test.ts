/**
 * The SymbolManager against the fake exchange over loopback, in real time: a listing that appears mid-run is live
 * within seconds of its first trade with klines equal to the exchange's; a delisting deactivates without deleting.
 */
import t from 'tap';
import { KlineStore } from '../../src/infra/db/kline-store.ts';
import { openDatabase } from '../../src/infra/db/open-database.ts';
import { FakeExchange } from '../../src/infra/fake-exchange/fake-exchange.ts';
import { canonicalDecimal } from '../support/fixtures.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { serviceOn } from '../support/system.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test('a listing mid-run goes live within 5 s of its first trade; a delisting is deactivated, its data kept', async (t) => {
  const database = await createTestDatabase('klagg_symbol_manager');
  const exchange = await FakeExchange.start({
    source: {
      kind: 'generated',
      symbols: 4,
      rate: 40,
      seed: 8,
      quietPeriods: false,
      listings: [{ atMs: 1_500, pendingMs: 1_000, rate: 5 }],
      delistings: [{ symbol: 3, atMs: 5_000 }],
    },
  });
  const handle = await openDatabase({ url: database.url });
  const store = new KlineStore(handle.db);
  // How many symbols' stored klines are read at once when the service starts.
  const readLatest = store.latest.bind(store);
  let reading = 0;
  let mostReading = 0;
  store.latest = async (...args) => {
    mostReading = Math.max(mostReading, ++reading);
    try {
      return await readLatest(...args);
    } finally {
      reading--;
    }
  };
  t.teardown(async () => {
    await exchange.close();
    await handle.close();
    await database.drop();
  });
  const startSymbols = exchange.market.symbols().map((s) => s.symbol);
  const service = serviceOn(exchange, {
    intervals: ['1m'],
    store,
    detectNewSymbols: true,
    exchangeInfoPollMs: 1_000,
    system: { graceMs: 500 },
  });
  await service.start();
  t.same([...service.symbols].sort(), [...startSymbols].sort(), 'the universe at start');
  t.equal(mostReading, startSymbols.length, `the start read the store for its ${startSymbols.length} symbols at once, not one after another`);

  // The listing: PENDING_TRADING at 1.5 s, TRADING (and its first trade) at 2.5 s.
  let listed: string | undefined;
  let firstTradeAt = 0;
  for (let i = 0; i < 100 && listed === undefined; i++) {
    await wait(100);
    listed = exchange.market.symbols().find((s) => !startSymbols.includes(s.symbol) && s.status === 'TRADING')?.symbol;
  }
  t.ok(listed, 'the exchange listed a new symbol');
  for (let i = 0; i < 100 && firstTradeAt === 0; i++) {
    firstTradeAt = exchange.market.trades(listed!)[0]?.tradeTime ?? 0;
    if (firstTradeAt === 0) await wait(50);
  }
  let liveAt = 0;
  for (let i = 0; i < 200 && liveAt === 0; i++) {
    if (service.system.isSubscribed(listed!) && service.system.symbolState(listed!) === 'Active') liveAt = Date.now();
    else await wait(25);
  }
  t.ok(liveAt > 0 && liveAt - firstTradeAt < 5_000, `live ${liveAt - firstTradeAt} ms after its first trade (≤ 5 s)`);

  // The delisting at 5 s: deactivated, history kept.
  const delisted = startSymbols[3]!;
  for (let i = 0; i < 100 && service.system.symbolState(delisted) !== 'Pending'; i++) await wait(100);
  t.equal(service.system.symbolState(delisted), 'Pending', 'the delisted symbol left Active');
  t.notOk(service.system.isSubscribed(delisted), 'and its stream is unsubscribed');
  await wait(1_500); // let the listed symbol trade for a while

  service.system.finishInput();
  t.equal(await service.stop('test'), 0);
  t.ok((await store.count('binance', 'usdm', delisted)) > 0, 'the delisted symbol’s klines are still stored');

  const stored = await store.range('binance', 'usdm', listed!, '1m', { limit: 1000 });
  t.ok(stored.length > 0, 'the listing’s klines are stored');
  const first = stored[0]!;
  // The exchange's kline for that minute may still be growing (the minute can outlast the run), so the expectation
  // is built from the exchange's own trades up to the last one the stored kline holds.
  const trades = exchange.market.trades(listed!).filter((trade) => trade.tradeTime < first.closeTime + 1 && trade.aggId <= first.lastAggId);
  t.equal(first.firstTradeId, exchange.market.trades(listed!)[0]!.firstTradeId, 'its first kline starts at the listing’s very first trade');
  t.equal(canonicalDecimal(first.open), canonicalDecimal(trades[0]!.price), 'opens at the first trade’s price');
  const sum = (values: readonly string[]): string => {
    const scale = Math.max(...values.map((v) => (v.split('.')[1] ?? '').length));
    const total = values.reduce((acc, v) => acc + BigInt(v.replace('.', '') + '0'.repeat(scale - (v.split('.')[1] ?? '').length)), 0n);
    const digits = total.toString().padStart(scale + 1, '0');
    return canonicalDecimal(scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`);
  };
  t.equal(canonicalDecimal(first.volume), sum(trades.map((trade) => trade.qty)), 'volume is exactly the sum of its trades');
  t.equal(first.tradeCount, trades.reduce((n, trade) => n + trade.lastTradeId - trade.firstTradeId + 1, 0), 'trade count from f/l of its trades');
});

t.test('a listing during a database outage, its first trades lost on the stream: no crash; active once the database is back, from its very first trade', async (t) => {
  const database = await createTestDatabase('klagg_symbol_manager_outage');
  const proxy = await TcpProxy.forUrl(database.url);
  const exchange = await FakeExchange.start({
    source: { kind: 'generated', symbols: 3, rate: 30, seed: 9, quietPeriods: false, listings: [{ atMs: 1_500, pendingMs: 1_500, rate: 8 }] },
  });
  const handle = await openDatabase({ url: proxy.url(database.url) });
  const store = new KlineStore(handle.db);
  t.teardown(async () => {
    await exchange.close();
    await handle.close();
    await proxy.close();
    await database.drop();
  });
  const startSymbols = exchange.market.symbols().map((s) => s.symbol);
  const service = serviceOn(exchange, { intervals: ['1m'], store, detectNewSymbols: true, exchangeInfoPollMs: 500, system: { graceMs: 500 } });
  await service.start();

  let listed: string | undefined;
  for (let i = 0; i < 100 && listed === undefined; i++) {
    await wait(50);
    listed = exchange.market.symbols().find((s) => !startSymbols.includes(s.symbol))?.symbol;
  }
  t.ok(listed, 'the exchange announced a listing');
  t.equal(exchange.market.trades(listed!).length, 0, 'before its first trade');
  exchange.faults.inject({ type: 'skipIds', symbol: listed!, count: 3 }); // its first 3 trades never reach the stream
  proxy.cut(6_000);
  // TRADING at 3 s, during the outage: the manager's activations (one per refresh) cannot read the store.
  await wait(3_500);
  t.equal(exchange.market.symbols().find((s) => s.symbol === listed)?.status, 'TRADING', 'the listing trades');
  t.notOk(service.system.symbolState(listed!) === 'Active', 'not active while its stored klines cannot be read');
  let activeAt = 0;
  for (let i = 0; i < 200 && activeAt === 0; i++) {
    if (service.system.symbolState(listed!) === 'Active') activeAt = Date.now();
    else await wait(50);
  }
  t.ok(activeAt > 0, 'active once the database is back (the service still runs)');
  await wait(2_000);
  service.system.finishInput();
  t.equal(await service.stop('test'), 0, 'stops in order');

  const stored = await store.range('binance', 'usdm', listed!, '1m', { limit: 1000 });
  const trades = exchange.market.trades(listed!);
  t.ok(trades.length > 10, `the listing traded (${trades.length} trades)`);
  t.equal(stored[0]?.firstTradeId, trades[0]!.firstTradeId, 'its first kline starts at its very first trade, which the stream never sent');
  const applied = stored.reduce((n, k) => n + k.tradeCount, 0);
  const upTo = stored.at(-1)!.lastAggId;
  t.equal(applied, trades.filter((trade) => trade.aggId <= upTo).reduce((n, trade) => n + trade.lastTradeId - trade.firstTradeId + 1, 0), 'every trade up to its position counted');
});
