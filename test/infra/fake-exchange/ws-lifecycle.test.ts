/** Connection lifetime: server pings, the pong deadline, the maximum connection age; and a clean close. */
import t from 'tap';
import { FakeExchange } from '../../../src/infra/fake-exchange/fake-exchange.ts';
import { ManualScheduler } from '../../../src/infra/fake-exchange/scheduler.ts';
import { sleep, WsClient } from '../../support/ws-client.ts';

const source = { kind: 'generated', symbols: 2, rate: 5, seed: 9, trades: 50 } as const;

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

t.test('on the fake clock: pings every pingIntervalMs, answered pongs keep the connection, no pong closes it', async (t) => {
  const scheduler = new ManualScheduler(Date.UTC(2026, 0, 5));
  const fx = await FakeExchange.start({ source, autoPublish: false, clock: scheduler, pingIntervalMs: 180_000, pongTimeoutMs: 600_000 });
  t.teardown(() => fx.close());
  const polite = await WsClient.open(`${fx.wsUrl}/market/ws`);
  const silent = await WsClient.open(`${fx.wsUrl}/market/ws`, { autoPong: false });
  t.teardown(() => {
    polite.close();
    silent.close();
  });
  for (let i = 1; i <= 3; i++) {
    scheduler.advance(180_000);
    await until(() => polite.pings === i && silent.pings === i, `ping ${i}`);
    await until(() => fx.stats().ws.pongsReceived === i, `pong ${i}`);
  }
  t.equal(fx.stats().ws.pingsSent, 6);
  scheduler.advance(240_000 - 1); // 10 min after the first unanswered ping (at 3 min), less 1 ms
  await sleep(30);
  t.equal(silent.ws.readyState, 1, 'still open just before the pong deadline');
  scheduler.advance(1);
  t.same(await silent.closed, { code: 1008, reason: 'Pong timeout' }, 'no pong within pongTimeoutMs: closed');
  t.equal(polite.ws.readyState, 1, 'the connection that answers stays');
  t.equal(fx.stats().ws.closedPongTimeout, 1);
});

t.test('on the fake clock: connections are cut at maxConnectionAgeMs', async (t) => {
  const scheduler = new ManualScheduler(Date.UTC(2026, 0, 5));
  // Pings off: a jump of hours on the fake clock would miss the (real-time) pongs.
  const fx = await FakeExchange.start({ source, autoPublish: false, clock: scheduler, pingIntervalMs: 30 * 86_400_000 });
  t.teardown(() => fx.close());
  const first = await WsClient.open(`${fx.wsUrl}/market/ws`);
  scheduler.advance(12 * 3_600_000);
  const second = await WsClient.open(`${fx.wsUrl}/market/ws`);
  t.teardown(() => second.close());
  scheduler.advance(12 * 3_600_000);
  t.same(await first.closed, { code: 1000, reason: 'Connection max age reached' }, 'cut at 24 h');
  await sleep(30);
  t.equal(second.ws.readyState, 1, 'a younger connection stays');
  t.equal(fx.stats().ws.closedMaxAge, 1);
});

t.test('on the real clock: short ping interval and maximum age', async (t) => {
  const fx = await FakeExchange.start({ source, autoPublish: false, pingIntervalMs: 100, maxConnectionAgeMs: 700 });
  t.teardown(() => fx.close());
  const started = Date.now();
  const client = await WsClient.open(`${fx.wsUrl}/market/stream?streams=`);
  const closed = await client.closed;
  const age = Date.now() - started;
  t.equal(closed.code, 1000);
  t.ok(age >= 650 && age < 2_000, `closed at about 700 ms (${age})`);
  t.ok(client.pings >= 4, `pinged every 100 ms (${client.pings})`);
});

t.test('close() ends connections and timers: nothing is left running', async (t) => {
  const scheduler = new ManualScheduler(0);
  const fx = await FakeExchange.start({ source: { kind: 'generated', symbols: 2, rate: 5, seed: 9 }, clock: scheduler, pingIntervalMs: 1_000 });
  const client = await WsClient.open(`${fx.wsUrl}/market/ws`);
  t.ok(scheduler.pending > 0);
  await fx.close();
  t.same(await client.closed, { code: 1001, reason: 'Server is shutting down' }, 'the client gets a close frame: going away');
  t.equal(scheduler.pending, 0, 'no timer left on the fake clock');
  await t.rejects(fetch(`${fx.restUrl}/fapi/v1/time`), 'the port is closed');
  await fx.close();
  t.pass('close() twice is fine');
});

t.test('an incoming message over maxPayloadBytes (default 64 KiB) closes the connection with 1009', async (t) => {
  const fx = await FakeExchange.start({ source, autoPublish: false });
  t.teardown(() => fx.close());
  const client = await WsClient.open(`${fx.wsUrl}/market/ws`);
  t.teardown(() => client.close());
  const pad = (bytes: number) => 'x'.repeat(bytes - JSON.stringify({ method: 'LIST_SUBSCRIPTIONS', id: 1, pad: '' }).length);
  t.same(await client.request({ method: 'LIST_SUBSCRIPTIONS', id: 1, pad: pad(64 * 1024) }), { result: [], id: 1 }, '64 KiB: answered');
  client.send({ method: 'LIST_SUBSCRIPTIONS', id: 2, pad: pad(64 * 1024 + 1) });
  t.equal((await client.closed).code, 1009, 'one byte more: closed, message too big');
  t.equal(fx.stats().ws.closedMessageTooBig, 1);
  t.equal(fx.stats().ws.connectionsOpen, 0);
});
