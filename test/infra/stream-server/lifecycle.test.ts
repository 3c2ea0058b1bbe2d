import t from 'tap';
import { WebSocketServer } from 'ws';
import { sleep, WsClient } from '../../support/ws-client.ts';
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
  t.same(await a.closed, { code: 1001, reason: 'Server is shutting down' }, 'a close frame: going away');
  t.same(await b.closed, { code: 1001, reason: 'Server is shutting down' });
  t.equal(h.streams.stats.connections, 0);
  t.equal(h.streams.stats.subscriptions, 0);
  await h.close(); // idempotent
});

t.test('an incoming message over maxPayloadBytes (default 64 KiB) closes the connection with 1009', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const client = await WsClient.open(`${h.base}/market/ws`);
  const pad = (bytes: number) => 'x'.repeat(bytes - JSON.stringify({ method: 'LIST_SUBSCRIPTIONS', id: 1, pad: '' }).length);
  t.same(await client.request({ method: 'LIST_SUBSCRIPTIONS', id: 1, pad: pad(64 * 1024) }), { result: [], id: 1 }, '64 KiB: answered');
  client.send({ method: 'LIST_SUBSCRIPTIONS', id: 1, pad: pad(64 * 1024 + 1) });
  t.equal((await client.closed).code, 1009, 'one byte more: closed, message too big');
  t.equal(h.streams.stats.closedMessageTooBig, 1);
  t.equal(h.streams.stats.connections, 0);
});

t.test('a client leaving with 1001 is counted as going away', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const client = await WsClient.open(`${h.base}/market/ws/btcusdt@kline_1m`);
  client.ws.close(1001, 'bye');
  await client.closed;
  await sleep(20);
  t.same({ closes: h.streams.stats.clientCloses, away: h.streams.stats.clientGoingAway, subscriptions: h.streams.stats.subscriptions }, { closes: 1, away: 1, subscriptions: 0 });
});
