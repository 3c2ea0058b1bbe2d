import t from 'tap';
import { klineStreamName, parseKlineStream, toKlineEvent } from '../../../src/infra/binance-ws/kline-event.ts';
import { kline, MINUTE, T0 } from '../stream-server/helpers.ts';

t.test('the payload is byte-for-byte Binance’s kline event', async (t) => {
  const text = JSON.stringify(toKlineEvent(kline(), 1784550897000));
  t.equal(
    text,
    '{"e":"kline","E":1784550897000,"s":"BTCUSDT","k":{"t":1784550840000,"T":1784550899999,"s":"BTCUSDT","i":"1m","f":7012340001,"L":7012345675,"o":"67245.90","c":"67249.50","h":"67251.30","l":"67240.00","v":"41.207","n":812,"x":false,"q":"2771020.31522","V":"23.905","Q":"1607542.07154","B":"0"}}',
  );
  const final = toKlineEvent(kline({ isFinal: true }), 1784550900002);
  t.equal(final.k.x, true);
});

t.test('an empty period carries −1 trade ids and zero strings', async (t) => {
  const empty = toKlineEvent(kline({ firstTradeId: -1, lastTradeId: -1, tradeCount: 0, volume: '0', quoteVolume: '0', takerBuyVolume: '0', takerBuyQuoteVolume: '0' }), T0 + MINUTE);
  t.equal(empty.k.f, -1);
  t.equal(empty.k.L, -1);
  t.equal(empty.k.n, 0);
  t.equal(empty.k.v, '0');
});

t.test('stream names: lower-case symbol, interval case kept', async (t) => {
  t.equal(klineStreamName('BTCUSDT', '1m'), 'btcusdt@kline_1m');
  t.equal(klineStreamName('BTCUSDT', '1M'), 'btcusdt@kline_1M');
  t.same(parseKlineStream('btcusdt@kline_1M'), { symbol: 'BTCUSDT', interval: '1M' });
  t.same(parseKlineStream('xrpeth@kline_1m'), { symbol: 'XRPETH', interval: '1m' });
  t.same(parseKlineStream('1000pepeusdt@kline_4h'), { symbol: '1000PEPEUSDT', interval: '4h' });
  for (const bad of ['btcusdt@kline_2m', 'btcusdt@kline_1H', 'BTCUSDT@kline_1m', 'btcusdt@aggTrade', 'btcusdt@kline_', '@kline_1m', 'btcusdt@kline_1m ', 'btc usdt@kline_1m'])
    t.equal(parseKlineStream(bad), undefined, bad);
});
