import t from 'tap';
import type { AggTrade } from '../../../src/domain/agg-trade.ts';
import { SeededRandom } from '../../../src/domain/seeded-random.ts';
import { TradeLog } from '../../../src/infra/fake-exchange/trade-log.ts';

function trades(n: number, seed: number): AggTrade[] {
  const random = new SeededRandom(seed);
  const list: AggTrade[] = [];
  let time = 1_796_668_200_000;
  let id = 5_000_000_000;
  for (let i = 0; i < n; i++) {
    time += random.int(3); // several trades per millisecond, as on a busy symbol
    id += 1 + (i % 1000 === 999 ? 2 : 0); // a recording may miss ids
    const first = id * 3;
    list.push({ symbol: 'HERUSDT', aggId: id, price: (0.1 + random.int(100_000) / 1e5).toFixed(5), qty: String(1 + random.int(5000)), firstTradeId: first, lastTradeId: first + random.int(4), tradeTime: time, buyerIsMaker: random.int(2) === 1 });
  }
  return list;
}

t.test('gives back every trade exactly as pushed, across chunks', async (t) => {
  const list = trades(20_000, 1);
  const log = new TradeLog('HERUSDT');
  for (const trade of list) log.push(trade);
  t.equal(log.length, list.length);
  t.same(log.slice(), list, 'every field, the decimal strings as they were');
  t.same(log.at(8191), list[8191], 'the last of the first chunk');
  t.same(log.at(8192), list[8192], 'the first of the second');
  t.same(log.slice(-3), list.slice(-3), 'negative indices count from the end, like Array.slice');
  t.same(log.slice(19_999, 30_000), list.slice(19_999, 30_000), 'an end past the length is clamped');
  t.throws(() => log.at(20_000), RangeError, 'no trade past the end');
  t.throws(() => log.at(-1), RangeError);
});

t.test('keeps text that would not come back the same from (mantissa, decimals)', async (t) => {
  const log = new TradeLog('X');
  const odd: AggTrade = { symbol: 'X', aggId: 1, price: '0012.50', qty: '1e3', firstTradeId: 1, lastTradeId: 1, tradeTime: 1, buyerIsMaker: false };
  const plain: AggTrade = { ...odd, aggId: 2, price: '12.50', qty: '1000.000', tradeTime: 2 };
  log.push(odd);
  log.push(plain);
  t.same(log.slice(), [odd, plain]);
});

t.test('searches by time and by id, within a bound', async (t) => {
  const list = trades(10_000, 2);
  const log = new TradeLog('HERUSDT');
  for (const trade of list) log.push(trade);
  const random = new SeededRandom(3);
  for (let k = 0; k < 500; k++) {
    const pick = list[random.int(list.length)]!;
    const end = random.int(list.length + 1);
    const time = pick.tradeTime + random.int(3) - 1;
    const byTime = list.findIndex((x, i) => i < end && x.tradeTime >= time);
    t.equal(log.firstAtOrAfterTime(time, end), byTime < 0 ? end : byTime);
    const id = pick.aggId + random.int(3) - 1;
    const byId = list.findIndex((x, i) => i < end && x.aggId >= id);
    t.equal(log.firstAtOrAfterId(id, end), byId < 0 ? end : byId);
  }
  t.equal(log.firstAtOrAfterTime(0), 0);
  t.equal(log.firstAtOrAfterTime(Number.MAX_SAFE_INTEGER), log.length);
});
