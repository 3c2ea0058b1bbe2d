import t from 'tap';
import { aggTradeTime } from '../../src/domain/agg-trade-time.ts';

const frame = (text: string): Buffer => Buffer.from(text, 'latin1');

t.test('T of combined-stream aggTrade frames', async (t) => {
  t.equal(
    aggTradeTime(frame('{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1700000000123,"a":5933014,"s":"BTCUSDT","p":"0.001","q":"100","nq":"100","f":100,"l":105,"T":1700000000100,"m":true}}')),
    1700000000100,
    'Binance’s field order',
  );
  t.equal(
    aggTradeTime(frame('{"stream":"xrpeth@aggTrade","data":{"e":"aggTrade","E":1570752011620,"s":"XRPETH","a":13519807,"p":"0.00141342","q":"23.00000000","f":15373518,"l":15373518,"T":1570752011619,"m":true,"M":true,"nq":"23.0"}}')),
    1570752011619,
    'fields after T (the fake exchange’s nq)',
  );
  t.equal(aggTradeTime(frame('{"stream":"a@aggTrade","data":{"T":0,"t":5}}')), 0, 'any order; a lowercase t is another field');
  t.equal(aggTradeTime(frame('{"stream":"1000pepeusdt@aggTrade","data":{"T":12,"s":"1000PEPEUSDT","p":"1","q":"1"}}')), 12);
});

t.test('not an aggTrade frame, or no usable T: -1', async (t) => {
  const cases: [string, string][] = [
    ['kline frames carry a T (close time): not counted', '{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":1699999980000,"T":1700000039999,"s":"BTCUSDT"}}}'],
    ['ticker arrays', '{"stream":"!miniTicker@arr","data":[{"e":"24hrMiniTicker","E":1,"s":"BTCUSDT","c":"1"}]}'],
    ['a reply', '{"result":null,"id":1}'],
    ['a plain (not combined) aggTrade', '{"e":"aggTrade","E":1,"a":1,"s":"BTCUSDT","p":"1","q":"1","f":1,"l":1,"T":1700000000000,"m":true}'],
    ['no T', '{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1,"t":1700000000000,"m":true}}'],
    ['T not a number', '{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","T":"1700000000000","m":true}}'],
    ['T past exact doubles', '{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","T":1234567890123456,"m":true}}'],
    ['a stream name ending otherwise', '{"stream":"btcusdt@aggTradeX","data":{"T":1}}'],
    ['a stream name without @', '{"stream":"btcusdt_aggTrade","data":{"e":"aggTrade","T":1700000000000}}'],
    ['a T inside the stream name only', '{"stream":"t@aggTrade","data":{"e":"aggTrade","E":1,"t":1}}'],
    ['a name without its closing quote', '{"stream":"btcusdt@aggTrade'],
    ['empty', ''],
  ];
  for (const [what, text] of cases) t.equal(aggTradeTime(frame(text)), -1, what);
});
