/**
 * ccxt 4.5 (`ccxt.pro.binanceusdm`) pointed at klagg with nothing but its documented URL overrides — `urls.api`
 * `fapiPublic` (REST) and `ws.future` (streams; ccxt turns `<ws>/ws` into `<ws>/market/ws/<n>` and SUBSCRIBEs there)
 * — plus `loadHttpProxyAgent()`, which ccxt asks for before it opens a plain `ws://` URL: loadMarkets, fetchOHLCV,
 * watchOHLCV through a minute's end, and an interval klagg does not aggregate rejected, not hanging.
 */
import t from 'tap';
import ccxt from 'ccxt';
import { startServedKlagg } from '../support/served-klagg.ts';
import { WsClient } from '../support/ws-client.ts';

type Candle = [number, number, number, number, number, number];

t.test('ccxt binanceusdm: markets, klines and the kline stream from klagg; an unserved interval rejects', async (t) => {
  const klagg = await startServedKlagg(t, { prefix: 'klagg_ccxt', intervals: ['1m', '5m', '1h'] });
  const exchange = new ccxt.pro.binanceusdm({ urls: { api: { fapiPublic: `${klagg.base}/fapi/v1`, ws: { future: `${klagg.wsBase}/ws` } } } });
  t.teardown(() => exchange.close());
  await exchange.loadHttpProxyAgent();
  const markets = await exchange.loadMarkets();
  const market = markets[`${klagg.symbol.replace(/USDT$/, '')}/USDT:USDT`];
  t.ok(market, `${klagg.symbol} listed as a linear perpetual (${Object.keys(markets).join(', ')})`);
  const symbol = market!.symbol;
  t.equal(market!.id, klagg.symbol);

  // A raw client beside ccxt sees the x:true event that ccxt's candles do not carry.
  const witness = await WsClient.open(`${klagg.wsBase}/market/ws/${klagg.symbol.toLowerCase()}@kline_1m`);
  t.teardown(() => witness.close());

  const first = (await exchange.watchOHLCV(symbol, '1m')) as Candle[];
  t.ok(first.length >= 1, 'an open update arrives');
  t.ok(first.at(-1)![0] >= klagg.firstFinalOpenTime, 'for the minute under way');
  // Watch on until the next minute's candle shows: by then the final of the one before has come.
  let candles = first;
  while (candles.at(-1)![0] <= klagg.firstFinalOpenTime) candles = (await exchange.watchOHLCV(symbol, '1m')) as Candle[];
  const final = await witness.next((m) => m.k?.x === true && m.k.t === klagg.firstFinalOpenTime, 30_000);
  const closed = candles.find((c) => c[0] === klagg.firstFinalOpenTime);
  t.ok(closed, 'ccxt holds the closed minute');

  const rest = (await exchange.fetchOHLCV(symbol, '1m', klagg.firstFinalOpenTime, 1)) as Candle[];
  t.same(rest, [closed], 'fetchOHLCV’s row of the closed minute equals the watched candle');
  const k = final.k as Record<string, string>;
  t.same(closed, [final.k.t, +k.o!, +k.h!, +k.l!, +k.c!, +k.v!], 'and the final event klagg sent');
  const rows = (await (await fetch(`${klagg.base}/fapi/v1/klines?symbol=${klagg.symbol}&interval=1m&startTime=${klagg.firstFinalOpenTime}&limit=1`)).json()) as unknown[][];
  t.same(rows[0]!.slice(0, 6), [final.k.t, k.o, k.h, k.l, k.c, k.v], 'and klagg’s REST row, as text');

  // 15m is a Binance interval klagg is not aggregating here: an error, not a silent stream.
  await t.rejects(exchange.watchOHLCV(symbol, '15m'), { name: 'ExchangeError', message: /invalid stream: .*@kline_15m.*served: 1m, 5m, 1h/ });
  await t.rejects(exchange.fetchOHLCV(symbol, '15m'), { name: 'BadRequest', message: /-1120/ });
  t.same((await exchange.watchOHLCV(symbol, '5m')).length > 0, true, 'a served interval still subscribes on the same connection');
});
