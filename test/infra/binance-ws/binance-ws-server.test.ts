/** The shared connection side, on a minimal server: refusals, the route hook, limits, closes and their counters. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { WebSocket, WebSocketServer } from 'ws';
import { invalidPath, invalidStream, tooManyStreams } from '../../../src/infra/binance/binance-replies.ts';
import { BinanceWsServer, PreparedMessage, type BinanceWsServerOptions } from '../../../src/infra/binance-ws/binance-ws-server.ts';
import { parseStreamRoute, type StreamRoute } from '../../../src/infra/binance-ws/stream-route.ts';
import { realWsTimers } from '../../../src/infra/binance-ws/ws-timers.ts';
import { ManualScheduler } from '../../../src/infra/fake-exchange/scheduler.ts';
import { WsClient } from '../../support/ws-client.ts';

interface Events {
  subscribed: string[];
  unsubscribed: string[];
  forgotten: number;
}

async function start(t: Test, options: Partial<BinanceWsServerOptions<string, StreamRoute>> = {}) {
  const http: Server = createServer((_req, res) => res.writeHead(404).end());
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const events: Events = { subscribed: [], unsubscribed: [], forgotten: 0 };
  const ws = new BinanceWsServer<string, StreamRoute>({
    server: http,
    timers: realWsTimers,
    maxStreamsPerConnection: 2,
    maxMessagesPerSecond: 5,
    closeGraceMs: 200,
    handlers: {
      route: (url) => {
        const route = parseStreamRoute(url, ['market']);
        if (route === 'not-ours') return undefined;
        if (route === 'malformed' || route.streams.some((s) => !s.startsWith('s'))) return invalidStream();
        return route;
      },
      isValidStream: (name) => name.startsWith('s'),
      createData: (route) => `data of ${route.streams.length}`,
      onSubscribe: (_c, stream) => events.subscribed.push(stream),
      onUnsubscribe: (_c, stream) => events.unsubscribed.push(stream),
      onForget: () => events.forgotten++,
    },
    ...options,
  });
  const base = `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
  t.teardown(async () => {
    await ws.close();
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });
  return { http, ws, base, events };
}

const refused = (url: string) => WsClient.open(url).then(
  () => ({ status: 101, body: undefined as unknown }),
  (error: { status: number; body: string }) => ({ status: error.status, body: JSON.parse(error.body) as unknown }),
);

t.test('refusals carry the Binance table bodies', async (t) => {
  const { ws, base } = await start(t);
  t.same(await refused(`${base}/nope`), { status: 404, body: invalidPath('/nope').body });
  t.same(await refused(`${base}/market/ws/x1`), { status: 400, body: invalidStream().body }, "the route hook's refusal");
  t.same(await refused(`${base}/market/ws/s1/s2/s3`), { status: 400, body: tooManyStreams().body });
  t.equal(ws.stats.rejectedUpgrades, 3);
});

t.test('a path that is not ours is left to another upgrade listener, unless the server owns all upgrades', async (t) => {
  const { http, base } = await start(t);
  const other = new WebSocketServer({ noServer: true });
  t.teardown(() => new Promise<void>((resolve) => other.close(() => resolve())));
  http.on('upgrade', (req, socket, head) => {
    if (req.url === '/other') other.handleUpgrade(req, socket, head, (ws) => ws.close(4000, 'other'));
  });
  const client = await WsClient.open(`${base}/other`);
  t.equal((await client.closed).code, 4000, 'the other listener took it');

  const owner = await start(t, { ownsAllUpgrades: true });
  owner.http.on('upgrade', () => {});
  t.match(await refused(`${owner.base}/other`), { status: 404 });
});

t.test('subscriptions through the hooks; forgetting a connection releases them once', async (t) => {
  const { ws, base, events } = await start(t);
  const client = await WsClient.open(`${base}/market/stream?streams=s1`);
  t.same(await client.request({ method: 'SUBSCRIBE', params: ['s2'], id: 1 }), { result: null, id: 1 });
  t.same(await client.request({ method: 'SUBSCRIBE', params: ['s3'], id: 2 }), { error: { code: 2, msg: 'Invalid request: too many streams: at most 2 per connection' }, id: 2 });
  t.same(await client.request({ method: 'SUBSCRIBE', params: ['x'], id: 3 }), { error: { code: 2, msg: 'Invalid request: invalid stream' }, id: 3 });
  t.same(events.subscribed, ['s1', 's2']);
  const [connection] = [...ws.connections()];
  t.equal(connection!.data, 'data of 1');
  t.equal(connection!.combined, true);
  t.equal(ws.subscribers('s1')?.size, 1);
  t.equal(ws.stats.subscriptions, 2);
  t.same({ requests: ws.stats.requests, requestErrors: ws.stats.requestErrors }, { requests: 3, requestErrors: 2 });
  client.ws.close(1001, 'bye');
  await client.closed;
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.same(events.unsubscribed.sort(), ['s1', 's2']);
  t.equal(events.forgotten, 1);
  t.equal(ws.subscribers('s1'), undefined, 'an empty stream leaves the index');
  t.same({ open: ws.stats.connectionsOpen, subs: ws.stats.subscriptions, closes: ws.stats.clientCloses, away: ws.stats.clientGoingAway }, { open: 0, subs: 0, closes: 1, away: 1 });
});

t.test('the message rate runs on the given timers; pings count', async (t) => {
  const scheduler = new ManualScheduler(0);
  const { ws, base } = await start(t, { timers: scheduler });
  const client = await WsClient.open(`${base}/market/ws`);
  for (let i = 0; i < 4; i++) t.same(await client.request({ method: 'LIST_SUBSCRIPTIONS', id: i }), { result: [], id: i });
  scheduler.advance(1000);
  for (let i = 0; i < 4; i++) client.ws.ping();
  t.same(await client.request({ method: 'LIST_SUBSCRIPTIONS', id: 9 }), { result: [], id: 9 }, 'a second later the window is empty again');
  client.send({ method: 'LIST_SUBSCRIPTIONS', id: 10 });
  t.same(await client.closed, { code: 1008, reason: 'Too many requests' });
  t.equal(ws.stats.closedTooManyRequests, 1);
});

t.test('a socket that ends without a close frame counts as vanished', async (t) => {
  const { ws, base } = await start(t);
  const client = await WsClient.open(`${base}/market/ws`);
  client.ws.terminate();
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.same({ vanished: ws.stats.clientVanished, closes: ws.stats.clientCloses, open: ws.stats.connectionsOpen }, { vanished: 1, closes: 0, open: 0 });
});

t.test('messages over maxPayloadBytes close with 1009; one at the limit is read', async (t) => {
  const { ws, base } = await start(t, { maxPayloadBytes: 1024 });
  const client = await WsClient.open(`${base}/market/ws`);
  const fit = JSON.stringify({ method: 'LIST_SUBSCRIPTIONS', id: 1, pad: '' });
  t.same(await client.request({ method: 'LIST_SUBSCRIPTIONS', id: 1, pad: 'x'.repeat(1024 - fit.length) }), { result: [], id: 1 }, '1024 bytes: answered');
  client.send({ method: 'LIST_SUBSCRIPTIONS', id: 2, pad: 'x'.repeat(1025 - fit.length) });
  t.equal((await client.closed).code, 1009, '1025 bytes: closed, message too big');
  t.equal(ws.stats.closedMessageTooBig, 1);
  t.equal(ws.stats.connectionsOpen, 0);
});

t.test('close(): 1001 to every client; a client that never answers is cut after the grace', async (t) => {
  const { ws, base, http } = await start(t);
  const polite = await WsClient.open(`${base}/market/ws`);
  // A client whose event loop is stuck, as far as the server can tell: its socket stays open but never answers.
  const stuck = new WebSocket(`${base}/market/ws`);
  await new Promise((resolve) => stuck.once('open', resolve));
  stuck.on('error', () => {});
  t.teardown(() => stuck.terminate());
  (stuck as unknown as { _socket: { pause(): void } })._socket.pause();
  const started = Date.now();
  await ws.close();
  const took = Date.now() - started;
  t.same(await polite.closed, { code: 1001, reason: 'Server is shutting down' });
  t.ok(took >= 150 && took < 1000, `close() waited for the unanswered client about the grace, then cut it (${took} ms)`);
  t.equal(http.listenerCount('upgrade'), 0, 'detached from the server');
  t.equal(ws.connectionCount, 0);
  await ws.close();
  t.pass('close() twice is fine');
});

t.test('prepared messages: whole text frames at every length form, between the server’s own replies; a batch corks the socket', async (t) => {
  const { ws, base } = await start(t, { maxMessagesPerSecond: 100 });
  const received: { text: string; binary: boolean }[] = [];
  const client = new WebSocket(`${base}/market/ws/s1`, { perMessageDeflate: false, maxPayload: 1 << 20 });
  client.on('message', (data: Buffer, binary: boolean) => received.push({ text: data.toString('utf8'), binary }));
  await new Promise((resolve) => client.once('open', resolve));
  t.teardown(() => client.terminate());
  const [connection] = [...ws.connections()];
  // Lengths at each edge of the frame header's length forms (7-bit, 16-bit, 64-bit), and multi-byte characters.
  const texts = [0, 1, 125, 126, 127, 65_535, 65_536, 70_000].map((n) => 'x'.repeat(n)).concat(['ünïcödé €']);
  for (const text of texts.slice(0, 4)) ws.sendPrepared(connection!, new PreparedMessage(text));
  client.send(JSON.stringify({ method: 'LIST_SUBSCRIPTIONS', id: 7 }));
  await new Promise((resolve) => setTimeout(resolve, 50));
  const socket = (connection!.ws as unknown as { _socket: { writableCorked: number } })._socket;
  const corked: number[] = [];
  ws.batch(() => {
    corked.push(socket.writableCorked);
    for (const text of texts.slice(4)) ws.sendPrepared(connection!, new PreparedMessage(text));
    corked.push(socket.writableCorked);
    t.ok(ws.queuedBytes(connection!) < 1000, 'what the batch holds back is not counted as the client’s backlog');
  });
  corked.push(socket.writableCorked);
  t.same(corked, [0, 1, 0], 'corked from the first message of the batch to its end');
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.same(
    received.map((m) => m.text),
    [...texts.slice(0, 4), '{"result":["s1"],"id":7}', ...texts.slice(4)],
    'every frame whole and in order, the reply between them',
  );
  t.ok(received.every((m) => !m.binary), 'text frames');
  t.equal(new PreparedMessage('ü').payload.toString('utf8'), 'ü');
  t.equal(ws.queuedBytes(connection!), 0);
});
