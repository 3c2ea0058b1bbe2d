/** The kline stream sends every kline at its symbol's scales (`scalesOf`); unknown symbols and no `scalesOf`: as they come. */
import t from 'tap';
import { type Json, WsClient } from '../../support/ws-client.ts';
import { kline, MINUTE, startHarness, T0 } from './helpers.ts';

/** A kline whose decimals are the exchange's minimal strings, not the engine's. */
const minimal = (symbol = 'BTCUSDT', overrides = {}) =>
  kline({ symbol, open: '67245.9', high: '67251.3', low: '67240', close: '67249.5', volume: '41.2', quoteVolume: '2771020.3', takerBuyVolume: '0', takerBuyQuoteVolume: '1607542', isFinal: true, ...overrides });
const fields = (e: Json): string[] => [e.k.o, e.k.h, e.k.l, e.k.c, e.k.v, e.k.q, e.k.V, e.k.Q];

t.test('klines are sent at the symbol scales; unknown symbols unchanged; over-scale values exact and counted', async (t) => {
  const h = await startHarness({ scalesOf: (symbol) => (symbol === 'BTCUSDT' ? { priceScale: 2, qtyScale: 3 } : undefined) });
  t.teardown(() => h.close());
  const client = await WsClient.open(`${h.base}/market/stream?streams=btcusdt@kline_1m/ethusdt@kline_1m`);
  t.teardown(() => client.close());
  h.source.publish({ finals: [minimal(), minimal('ETHUSDT')] });
  const btc = await client.next((m) => m.data?.s === 'BTCUSDT');
  t.same(fields(btc.data), ['67245.90', '67251.30', '67240.00', '67249.50', '41.200', '2771020.30000', '0.000', '1607542.00000']);
  const eth = await client.next((m) => m.data?.s === 'ETHUSDT');
  t.same(fields(eth.data), ['67245.9', '67251.3', '67240', '67249.5', '41.2', '2771020.3', '0', '1607542'], 'no scales known: as it came');
  t.equal(h.streams.stats.overScaleFields, 0);

  h.source.publish({ finals: [minimal('BTCUSDT', { openTime: T0 + MINUTE, closeTime: T0 + 2 * MINUTE - 1, high: '67251.333', volume: '41.2005' })] });
  const over = await client.next((m) => m.data?.s === 'BTCUSDT' && m.data.k.t === T0 + MINUTE);
  t.equal(over.data.k.h, '67251.333', 'not rounded');
  t.equal(over.data.k.v, '41.2005');
  t.equal(over.data.k.o, '67245.90', 'the other fields formatted');
  t.equal(h.streams.stats.overScaleFields, 2);
});

t.test('without scalesOf the stream sends klines as they come', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const client = await WsClient.open(`${h.base}/market/ws/btcusdt@kline_1m`);
  t.teardown(() => client.close());
  h.source.publish({ finals: [minimal()] });
  const event = await client.next((m) => m.e === 'kline');
  t.same(fields(event), ['67245.9', '67251.3', '67240', '67249.5', '41.2', '2771020.3', '0', '1607542']);
});
