/**
 * The kline stream server's limits over real loopback sockets, each with its refusal or close code, its message, its
 * counter (the server's stats and the `klagg_limits_ws_…` metrics) — and a well-behaved client beside it that keeps
 * being served: connections and subscriptions per IP (429 at the upgrade, an error reply to SUBSCRIBE), incoming
 * message size (1009 with a reason), and a slow reader on a raw TCP socket that completes the upgrade and never reads
 * (dropped once its backlog passes the limit; the backlog never grows past the limit plus one batch).
 */
import { connect, type Socket } from 'node:net';
import client from 'prom-client';
import t, { type Test } from 'tap';
import type { Kline } from '../../../src/domain/kline.ts';
import { LimitMetrics } from '../../../src/infra/http/limit-metrics.ts';
import { type RefusedUpgrade, sleep, WsClient } from '../../support/ws-client.ts';
import { kline, MINUTE, startHarness, T0, type Harness } from './helpers.ts';

async function harness(t: Test, options: Parameters<typeof startHarness>[0]): Promise<{ h: Harness; metrics: () => Promise<string> }> {
  const h = await startHarness(options);
  t.teardown(() => h.close());
  const registry = new client.Registry();
  new LimitMetrics(registry, 'klagg_').attachStreams(() => h.streams.stats);
  return { h, metrics: () => registry.metrics() };
}

function refusal(url: string): Promise<RefusedUpgrade> {
  return WsClient.open(url).then(
    (opened) => {
      opened.close();
      throw new Error(`${url}: expected a refusal, the upgrade succeeded`);
    },
    (error: RefusedUpgrade) => error,
  );
}

/** A final of btcusdt@kline_1m at `openTime`. */
const final = (openTime: number): Kline => kline({ openTime, closeTime: openTime + MINUTE - 1, isFinal: true });

t.test('connections per IP: one more is refused with 429 and Binance -1003; the others keep being served', async (t) => {
  const { h, metrics } = await harness(t, { maxConnectionsPerIp: 3, throttleMs: 0 });
  const open = await Promise.all([1, 2, 3].map(() => WsClient.open(`${h.base}/market/ws/btcusdt@kline_1m`)));
  t.teardown(() => open.forEach((c) => c.close()));
  const refused = await refusal(`${h.base}/market/ws/btcusdt@kline_1m`);
  t.equal(refused.status, 429);
  t.same(JSON.parse(refused.body), {
    code: -1003,
    msg: 'Too many connections; current limit of IP(127.0.0.1) is 3 open connections. Please subscribe to more streams on a connection you have.',
  });
  t.equal(h.streams.stats.refusedConnectionsPerIp, 1);
  t.equal(h.streams.stats.connections, 3);
  h.source.publish({ finals: [final(T0)] });
  for (const c of open) t.equal((await c.next((m) => m.k?.t === T0)).k.x, true, 'an open client still receives');
  open[0]!.ws.close(1000);
  await open[0]!.closed;
  await sleep(20);
  const again = await WsClient.open(`${h.base}/market/ws/btcusdt@kline_1m`);
  t.pass('a connection closed makes room for another');
  again.close();
  t.match(await metrics(), /klagg_limits_ws_refused_total\{limit="connections_per_ip"\} 1/);
});

t.test('subscriptions per IP: URL streams past it 429, SUBSCRIBE past it an error reply; released streams make room', async (t) => {
  const { h, metrics } = await harness(t, { maxSubscriptionsPerIp: 3 });
  const a = await WsClient.open(`${h.base}/market/ws/btcusdt@kline_1m/ethusdt@kline_1m`);
  t.teardown(() => a.close());
  const refused = await refusal(`${h.base}/market/stream?streams=xrpusdt@kline_1m/solusdt@kline_1m`);
  t.equal(refused.status, 429);
  t.same(JSON.parse(refused.body), { code: -1003, msg: 'Too many streams; current limit of IP(127.0.0.1) is 3 streams over all its connections.' });
  const b = await WsClient.open(`${h.base}/market/ws`);
  t.teardown(() => b.close());
  t.same(await b.request({ method: 'SUBSCRIBE', params: ['xrpusdt@kline_1m'], id: 1 }), { result: null, id: 1 });
  t.same(await b.request({ method: 'SUBSCRIBE', params: ['solusdt@kline_1m'], id: 2 }), {
    error: { code: 2, msg: 'Invalid request: too many streams: at most 3 per IP over all its connections' },
    id: 2,
  });
  t.same(await b.request({ method: 'SUBSCRIBE', params: ['xrpusdt@kline_1m'], id: 3 }), { result: null, id: 3 }, 'a stream it holds does not count twice');
  t.same(await a.request({ method: 'UNSUBSCRIBE', params: ['ethusdt@kline_1m'], id: 4 }), { result: null, id: 4 });
  t.same(await b.request({ method: 'SUBSCRIBE', params: ['solusdt@kline_1m'], id: 5 }), { result: null, id: 5 }, 'room again');
  t.equal(h.streams.stats.subscriptions, 3);
  t.equal(h.streams.stats.refusedSubscriptionsPerIp, 2);
  t.match(await metrics(), /klagg_limits_ws_refused_total\{limit="subscriptions_per_ip"\} 2/);
});

t.test('streams per connection: the refusals are counted by limit', async (t) => {
  const { h, metrics } = await harness(t, { maxStreamsPerConnection: 2 });
  t.match(await refusal(`${h.base}/market/ws/a@kline_1m/b@kline_1m/c@kline_1m`), { status: 400 });
  const c = await WsClient.open(`${h.base}/market/ws/a@kline_1m`);
  t.teardown(() => c.close());
  t.match(await c.request({ method: 'SUBSCRIBE', params: ['b@kline_1m', 'c@kline_1m'], id: 1 }), { error: { code: 2, msg: /at most 2 per connection/ } });
  t.equal(h.streams.stats.refusedStreamsPerConnection, 2);
  t.match(await metrics(), /klagg_limits_ws_refused_total\{limit="streams_per_connection"\} 2/);
});

t.test('an incoming message over maxPayloadBytes: closed with 1009 and a reason, counted; another client unaffected', async (t) => {
  const { h, metrics } = await harness(t, { maxPayloadBytes: 4096 });
  const big = await WsClient.open(`${h.base}/market/ws`);
  const polite = await WsClient.open(`${h.base}/market/ws`);
  t.teardown(() => polite.close());
  big.send({ method: 'LIST_SUBSCRIPTIONS', id: 1, pad: 'x'.repeat(5000) });
  t.same(await big.closed, { code: 1009, reason: 'Message too big: over 4096 bytes' });
  t.equal(h.streams.stats.closedMessageTooBig, 1);
  t.same(await polite.request({ method: 'LIST_SUBSCRIPTIONS', id: 2 }), { result: [], id: 2 }, 'the other client is answered');
  t.match(await metrics(), /klagg_limits_ws_clients_dropped_total\{reason="message_too_big"\} 1/);
});

t.test('too many incoming messages a second: counted as a drop by reason', async (t) => {
  const { h, metrics } = await harness(t, { maxMessagesPerSecond: 3 });
  const chatty = await WsClient.open(`${h.base}/market/ws`);
  for (let i = 1; i <= 4; i++) chatty.send({ method: 'LIST_SUBSCRIPTIONS', id: i });
  t.same(await chatty.closed, { code: 1008, reason: 'Too many requests' });
  t.match(await metrics(), /klagg_limits_ws_clients_dropped_total\{reason="too_many_messages"\} 1/);
  t.equal(h.streams.stats.connections, 0);
});

/** Completes a WebSocket upgrade on a raw TCP socket and returns it paused: from then on it reads nothing. */
function rawUpgrade(port: number, path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      socket.pause();
      if (head.startsWith('HTTP/1.1 101')) resolve(socket);
      else reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
    };
    socket.on('data', onData);
    socket.on('error', reject);
  });
}

t.test('a raw TCP client that upgrades and never reads is dropped past maxBufferedBytes; its backlog stays bounded', async (t) => {
  const limit = 128 * 1024;
  const { h, metrics } = await harness(t, { throttleMs: 0, maxBufferedBytes: limit, closeGraceMs: 200 });
  const port = Number(new URL(h.base).port);
  const slow = await rawUpgrade(port, '/market/ws/btcusdt@kline_1m');
  const slowClosed = new Promise<void>((resolve) => slow.once('close', () => resolve()));
  t.teardown(() => slow.destroy());
  const normal = await WsClient.open(`${h.base}/market/ws/btcusdt@kline_1m`);
  t.teardown(() => normal.close());
  await sleep(20);
  t.equal(h.streams.stats.connections, 2);
  const perBatch = 500;
  let openTime = T0;
  let batches = 0;
  // Until the kernel buffers of the slow socket are full and the server's queue passes the limit.
  while (h.streams.stats.slowConsumersDropped === 0 && batches < 2000) {
    const finals: Kline[] = [];
    for (let i = 0; i < perBatch; i++, openTime += MINUTE) finals.push(final(openTime));
    h.source.publish({ finals });
    batches++;
    await new Promise((resolve) => setImmediate(resolve));
  }
  t.equal(h.streams.stats.slowConsumersDropped, 1, `dropped after ${batches} batches of ${perBatch} finals`);
  t.equal(h.streams.stats.connections, 1, 'only the normal client is left');
  t.equal(h.streams.stats.subscriptions, 1, 'the slow client’s subscription is released');
  // The backlog it reached: at most the limit plus one batch (checked before and after every batch).
  const frame = Buffer.byteLength(JSON.stringify(normal.events()[0])) + 4;
  const backlog = h.streams.stats.slowConsumerBacklogMax;
  t.ok(backlog > limit, `backlog at the drop ${backlog} B, over the ${limit} B limit`);
  t.ok(backlog <= limit + perBatch * (frame + 16), `backlog ${backlog} B ≤ limit + one batch (${perBatch} × ~${frame} B)`);
  // Nothing more is queued for it: later batches go to the normal client only.
  const sentBefore = h.streams.stats.messagesSent;
  for (let i = 0; i < 3; i++) {
    const finals: Kline[] = [];
    for (let j = 0; j < perBatch; j++, openTime += MINUTE) finals.push(final(openTime));
    h.source.publish({ finals });
  }
  t.equal(h.streams.stats.messagesSent - sentBefore, 3 * perBatch, 'three batches, one client');
  t.equal(h.streams.stats.slowConsumerBacklogMax, backlog);
  const lastOpen = openTime - MINUTE;
  t.equal((await normal.next((m) => m.k?.t === lastOpen, 20_000)).k.x, true, 'the normal client received everything');
  t.equal(normal.events().length, batches * perBatch + 3 * perBatch, 'and nothing was lost on the way');
  // The server cut the slow socket (it never read the close frame): reading again, the client finds it closed.
  slow.resume();
  slow.on('data', () => undefined);
  await slowClosed;
  t.pass('the slow socket was cut by the server');
  t.match(await metrics(), /klagg_limits_ws_clients_dropped_total\{reason="slow_consumer"\} 1/);
});
