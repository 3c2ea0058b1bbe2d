/**
 * Binance's own USDⓈ-M connector (@binance/derivatives-trading-usds-futures), pointed at klagg instead of Binance:
 * its REST klines call and its kline stream work unchanged.
 */
import t from 'tap';
import {
  DerivativesTradingUsdsFutures,
  DerivativesTradingUsdsFuturesRestAPI,
  DerivativesTradingUsdsFuturesWebsocketStreams,
} from '@binance/derivatives-trading-usds-futures';
import { startDemo } from '../support/demo.ts';

t.test('the official Binance connector reads klagg’s klines and subscribes to its kline stream', async (t) => {
  const { base, symbol } = await startDemo(t, { prefix: 'klagg_connector', symbols: 3, rate: 60 });

  const client = new DerivativesTradingUsdsFutures({
    configurationRestAPI: { apiKey: '', apiSecret: '', basePath: base },
    configurationWebsocketStreams: { wsURL: base.replace(/^http/, 'ws') },
  });
  const connection = await client.websocketStreams.connect();
  const stream = connection.klineCandlestickStreams({ symbol: symbol.toLowerCase(), interval: DerivativesTradingUsdsFuturesWebsocketStreams.KlineCandlestickStreamsIntervalEnum.INTERVAL_1m });
  const event = await new Promise<{ e?: string; s?: string; k?: { i?: string } }>((resolve, reject) => {
    stream.on('message', (data) => resolve(data as { e?: string; s?: string; k?: { i?: string } }));
    setTimeout(() => reject(new Error('no kline event through the connector within 10 s')), 10_000);
  });
  await connection.disconnect();
  t.equal(event.e, 'kline');
  t.equal(event.s, symbol);
  t.equal(event.k?.i, '1m');

  // Now that the symbol has traded, its klines through the connector's REST call.
  const response = await client.restAPI.klineCandlestickData({ symbol, interval: DerivativesTradingUsdsFuturesRestAPI.KlineCandlestickDataIntervalEnum.INTERVAL_1m, limit: 5 });
  const rows = (await response.data()) as unknown as unknown[][];
  t.ok(rows.length >= 1, `${rows.length} klines through the connector`);
  t.equal(rows[0]!.length, 12, 'Binance’s 12 fields');
  t.match(String(rows[0]![1]), /^\d+(\.\d+)?$/, 'open as a decimal string');
});
