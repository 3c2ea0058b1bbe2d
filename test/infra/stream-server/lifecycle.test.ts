import t from 'tap';
import { WebSocketServer } from 'ws';
import { WsClient } from '../../support/ws-client.ts';
import { kline, startHarness } from './helpers.ts';

t.test('paths that are not stream routes are left to other upgrade listeners on the same server', async (t) => {
  const h = await startHarness({ throttleMs: 0 });
  t.teardown(() => h.close());
  const other = new WebSocketServer({ noServer: true });
  h.http.on('upgrade', (req, socket, head) => {
    if (req.url === '/inspector/ws') other.handleUpgrade(req, socket, head, (ws) => ws.send(JSON.stringify({ hello: 'inspector' })));
  });
  t.teardown(() => new Promise<void>((resolve) => other.close(() => resolve())));
  const inspector = await WsClient.open(`${h.base}/inspector/ws`);
  t.same(await inspector.next(), { hello: 'inspector' });
  const market = await WsClient.open(`${h.base}/market/ws/btcusdt@kline_1m`);
  h.source.publish({ updates: [kline()] });
  t.equal((await market.next()).e, 'kline');
  t.equal(h.streams.stats.connections, 1, 'the inspector connection is not ours');
  inspector.close();
  market.close();
});

t.test('close() disconnects every client, stops listening to the source, detaches from the server', async (t) => {
  const h = await startHarness();
  const a = await WsClient.open(`${h.base}/market/ws/btcusdt@kline_1m`);
  const b = await WsClient.open(`${h.base}/market/stream?streams=btcusdt@kline_1M`);
  t.equal(h.source.listenerCount, 1);
  await h.streams.close();
  t.equal(h.source.listenerCount, 0);
  t.equal(h.http.listenerCount('upgrade'), 0);
  t.ok((await a.closed).code > 0);
  t.ok((await b.closed).code > 0);
  t.equal(h.streams.stats.connections, 0);
  t.equal(h.streams.stats.subscriptions, 0);
  await h.close(); // idempotent
});
