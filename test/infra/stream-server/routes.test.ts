/**
 * Every route shape Binance accepts opens a connection on klagg's stream server, and SUBSCRIBE works on it; a stream
 * klagg cannot serve (an interval it does not aggregate, an upper-case name, another stream type) is refused clearly —
 * in a URL with a 400, by SUBSCRIBE with Binance's error reply — instead of staying silent.
 */
import t from 'tap';
import { KlineStreamRules } from '../../../src/infra/stream-server/kline-stream-rules.ts';
import { BinanceError } from '../../../src/infra/binance/binance-replies.ts';
import { WsClient, type RefusedUpgrade } from '../../support/ws-client.ts';
import { kline, startHarness } from './helpers.ts';

const SERVED = ['1m', '5m', '1h'] as const;

async function refused(url: string): Promise<RefusedUpgrade> {
  try {
    (await WsClient.open(url)).close();
  } catch (error) {
    return error as RefusedUpgrade;
  }
  throw new Error(`${url} was accepted`);
}

t.test('rules: connection ids, served streams and refusals in a URL', async (t) => {
  const rules = new KlineStreamRules(SERVED);
  const route = (path: string) => rules.route(new URL(path, 'ws://klagg'));
  t.same(route('/market/ws/0'), { prefix: 'market', combined: false, streams: [] }, 'ccxt’s counter is a connection id');
  t.same(route('/ws/pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1'), { prefix: undefined, combined: false, streams: [] }, 'a listen key too');
  t.same(route('/public/ws/7/btcusdt@kline_1m'), { prefix: 'public', combined: false, streams: ['btcusdt@kline_1m'] }, 'an id beside a stream');
  t.same(route('/private/stream?streams=btcusdt@kline_5m'), { prefix: 'private', combined: true, streams: ['btcusdt@kline_5m'] });
  t.equal(route('/api/symbols'), undefined, 'not a stream route');
  for (const [path, code] of [
    ['/market/ws/btcusdt@kline_15m', -1120],
    ['/ws/btcusdt@kline_1M', -1120],
    ['/market/stream?streams=btcusdt@kline_1m/btcusdt@kline_4h', -1120],
    ['/market/ws/BTCUSDT@kline_1m', -1100],
    ['/market/ws/btcusdt@aggTrade', -1100],
    ['/market/ws/btcusdt@kline_7m', -1100],
    ['/stream?streams=0', -1100],
  ] as const) {
    const refusal = route(path);
    t.ok(refusal instanceof BinanceError, `${path} refused`);
    t.equal((refusal as BinanceError).code, code, path);
    t.equal((refusal as BinanceError).status, 400, path);
  }
  t.equal((route('/ws/btcusdt@kline_15m') as BinanceError).message, 'Invalid interval: btcusdt@kline_15m is not aggregated here (served: 1m, 5m, 1h).');
  t.ok(rules.isServed('btcusdt@kline_1h'));
  t.notOk(rules.isServed('btcusdt@kline_15m'));
  t.equal(rules.refusalMessage('btcusdt@kline_15m'), 'Invalid request: invalid stream: btcusdt@kline_15m: interval 15m is not aggregated here (served: 1m, 5m, 1h)');
  t.equal(rules.refusalMessage('btcusdt@depth'), 'Invalid request: invalid stream', 'Binance’s text for a name that is no kline stream');
});

t.test('every Binance route shape connects, and SUBSCRIBE on it delivers', async (t) => {
  const h = await startHarness({ throttleMs: 0, intervals: SERVED });
  t.teardown(() => h.close());
  const paths = ['/ws', '/ws/0', '/stream', '/stream?streams=', '/market/ws', '/market/ws/0', '/market/ws/abc123', '/market/stream', '/public/ws/1', '/public/stream', '/private/ws'];
  const clients = await Promise.all(paths.map((path) => WsClient.open(`${h.base}${path}`)));
  t.equal(h.streams.stats.connections, paths.length);
  t.equal(h.streams.stats.subscriptions, 0, 'nothing subscribed by a connection id');
  for (const [i, client] of clients.entries()) {
    t.same(await client.request({ method: 'SUBSCRIBE', params: ['btcusdt@kline_1m'], id: i + 1 }), { result: null, id: i + 1 }, paths[i]!);
  }
  h.source.publish({ updates: [kline()] });
  for (const [i, client] of clients.entries()) {
    const event = await client.next((m) => m.e === 'kline' || m.data?.e === 'kline');
    t.equal((event.data ?? event).k.i, '1m', `${paths[i]}: ${paths[i]!.includes('/stream') ? 'combined' : 'raw'} kline event`);
    t.equal(event.stream !== undefined, paths[i]!.includes('/stream'), `${paths[i]}: combined only on /stream`);
  }
  for (const client of clients) client.close();

  const both = await WsClient.open(`${h.base}/market/ws/3/ethusdt@kline_5m`);
  t.same((await both.request({ method: 'LIST_SUBSCRIPTIONS', id: 1 })).result, ['ethusdt@kline_5m'], 'a real stream in the path still subscribes');
  both.close();
});

t.test('a stream klagg does not aggregate is refused, never silent', async (t) => {
  const h = await startHarness({ throttleMs: 0, intervals: SERVED });
  t.teardown(() => h.close());
  const url = await refused(`${h.base}/market/ws/btcusdt@kline_15m`);
  t.equal(url.status, 400);
  t.same(JSON.parse(url.body), { code: -1120, msg: 'Invalid interval: btcusdt@kline_15m is not aggregated here (served: 1m, 5m, 1h).' });
  const upper = await refused(`${h.base}/market/stream?streams=BTCUSDT@kline_1m`);
  t.same([upper.status, JSON.parse(upper.body).code], [400, -1100], 'an upper-case stream name');

  const client = await WsClient.open(`${h.base}/market/ws`);
  t.same(await client.request({ method: 'SUBSCRIBE', params: ['btcusdt@kline_1m', 'btcusdt@kline_15m'], id: 4 }), {
    error: { code: 2, msg: 'Invalid request: invalid stream: btcusdt@kline_15m: interval 15m is not aggregated here (served: 1m, 5m, 1h)' },
    id: 4,
  });
  t.same(await client.request({ method: 'SUBSCRIBE', params: ['BTCUSDT@kline_1m'], id: 5 }), { error: { code: 2, msg: 'Invalid request: invalid stream' }, id: 5 });
  t.same(await client.request({ method: 'LIST_SUBSCRIPTIONS', id: 6 }), { result: [], id: 6 }, 'a refused SUBSCRIBE subscribes nothing');
  t.same(await client.request({ method: 'SUBSCRIBE', params: ['nosuchusdt@kline_1h'], id: 7 }), { result: null, id: 7 }, 'an unknown symbol is ACKed, as on Binance');
  client.close();
});
