/**
 * The bundled real data served at speed max: the 1m klines the fake exchange serves over REST are exactly the ones
 * the project's Replayer computes from the same recording (and so Binance's own).
 */
import t from 'tap';
import { toBinanceRow, type Kline } from '../../../src/domain/kline.ts';
import { Replayer, ScaleInference } from '../../../src/domain/replay.ts';
import { FakeExchange } from '../../../src/infra/fake-exchange/fake-exchange.ts';
import { readTradeFrames, XRPETH_TRADES } from '../../support/fixtures.ts';
import { type Json, sleep, WsClient } from '../../support/ws-client.ts';
import { getJson, isAggTrade } from './helpers.ts';

function replayerKlines(interval: '1m' | '1h'): Kline[] {
  const frames = readTradeFrames();
  const inference = new ScaleInference();
  for (const frame of frames) inference.feed(frame);
  const klines: Kline[] = [];
  const replayer = new Replayer({ intervals: [interval], graceMs: 1000, scales: inference.scales }, { onFinal: (k) => klines.push(k) });
  for (const frame of frames) replayer.feed(frame);
  replayer.end();
  return klines;
}

t.test('REST 1m klines of XRPETH at speed max equal the Replayer klines, every field', async (t) => {
  const fx = await FakeExchange.start({ source: { kind: 'recording', path: XRPETH_TRADES, speed: 'max' } });
  t.teardown(() => fx.close());
  await fx.market.done;
  for (const interval of ['1m', '1h'] as const) {
    const expected = replayerKlines(interval).map(toBinanceRow);
    const rows: Json[] = [];
    let startTime = 0;
    for (;;) {
      const page = await getJson(`${fx.restUrl}/fapi/v1/klines?symbol=XRPETH&interval=${interval}&startTime=${startTime}&limit=1500`);
      t.equal(page.status, 200);
      if (page.body.length === 0) break;
      rows.push(...page.body);
      startTime = page.body.at(-1)[0] + 1;
    }
    t.equal(rows.length, interval === '1m' ? 3_560 : 60, `${interval}: one row per kline`);
    t.same(rows, expected, `${interval}: identical rows (strings, counts, taker volumes, close times)`);
  }
});

t.test('startOnSubscribe: a speed-max replay waits for its consumer, which then gets every trade once, in a order', async (t) => {
  const fx = await FakeExchange.start({ source: { kind: 'recording', path: XRPETH_TRADES, speed: 'max' }, startOnSubscribe: true });
  t.teardown(() => fx.close());
  const legacy = await WsClient.open(`${fx.wsUrl}/ws/xrpeth@aggTrade`);
  t.teardown(() => legacy.close());
  await sleep(50);
  t.equal(fx.market.published, 0, 'nothing is published before a /market subscription');
  const client = await WsClient.open(`${fx.wsUrl}/market/ws`);
  t.teardown(() => client.close());
  t.same(await client.request({ method: 'SUBSCRIBE', params: ['xrpeth@aggTrade'], id: 1 }), { result: null, id: 1 });
  const frames = await client.waitCount(isAggTrade, 12_477, 10_000);
  t.same(client.received[0], { result: null, id: 1 }, 'first the ACK, then the trades');
  t.same(
    frames.map((f) => f.a),
    fx.market.trades('XRPETH').map((trade) => trade.aggId),
    'every trade once, in a order',
  );
  t.equal(frames.at(-1).a, 13_532_283);
  t.same(frames[0], { e: 'aggTrade', E: 1_570_752_011_620, s: 'XRPETH', a: 13_519_807, p: '0.00141342', q: '23.00000000', f: 15_373_518, l: 15_373_518, T: 1_570_752_011_620, m: true, nq: '23.00000000' });
});
