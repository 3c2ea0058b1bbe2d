/**
 * The TCP proxy with a NATS client behind it (scale-out.md §5: cutting one process's NATS link). A responder on a
 * direct connection answers requests; the client goes through the proxy. A refused cut is seen at once; a blackhole
 * only by the client's pings; both heal into a reconnect. The server is the test's own (nats-cluster.ts).
 */
import t, { type Test } from 'tap';
import { connect, type NatsConnection, type Status } from '@nats-io/transport-node';
import { startNatsServer } from './nats-cluster.ts';
import { TcpProxy } from './tcp-proxy.ts';

/** Every status event of a connection, in order, with a way to wait for the next one of a type. */
function watchStatus(nc: NatsConnection) {
  const seen: Status['type'][] = [];
  const waiters: { type: Status['type']; from: number; resolve: () => void }[] = [];
  void (async () => {
    for await (const status of nc.status()) {
      seen.push(status.type);
      for (const w of [...waiters]) {
        if (seen.indexOf(w.type, w.from) >= 0) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    }
  })();
  return {
    seen,
    /** Resolves on the first `type` event after this call; rejects after `timeoutMs`. */
    next(type: Status['type'], timeoutMs: number): Promise<number> {
      const started = performance.now();
      return new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no '${type}' status within ${timeoutMs} ms (seen: ${seen.join(', ')})`)), timeoutMs);
        waiters.push({ type, from: seen.length, resolve: () => (clearTimeout(timer), resolve(Math.round(performance.now() - started))) });
      });
    },
  };
}

async function setup(t: Test) {
  const server = await startNatsServer();
  t.teardown(() => server.stop());
  const proxy = await TcpProxy.forUrl(server.url);
  t.teardown(() => proxy.close());
  const responder = await connect({ servers: server.url });
  t.teardown(() => responder.close());
  responder.subscribe('echo', {
    callback: (_err, msg) => {
      msg.respond(msg.data);
    },
  });
  await responder.flush();
  return { server, proxy };
}

const echo = async (nc: NatsConnection, text: string): Promise<string> => (await nc.request('echo', text, { timeout: 1_000 })).string();

t.test("refuse: the client sees the disconnect at once, its reconnects are refused, and it reconnects on restore", async (t) => {
  const { proxy } = await setup(t);
  const nc = await connect({ servers: proxy.url('nats://127.0.0.1'), maxReconnectAttempts: -1, reconnectTimeWait: 100, reconnectJitter: 0 });
  t.teardown(() => nc.close());
  const status = watchStatus(nc);
  t.equal(await echo(nc, 'one'), 'one', 'a request through the proxy');
  t.equal(proxy.connections, 1);

  const disconnect = status.next('disconnect', 2_000);
  proxy.cut();
  t.equal(proxy.mode, 'refuse');
  const disconnectMs = await disconnect;
  t.ok(disconnectMs < 1_000, `disconnect seen in ${disconnectMs} ms`);
  await t.rejects(echo(nc, 'two'), 'no request gets through while cut');
  t.ok(proxy.stats.refused >= 1, `reconnect attempts refused (${proxy.stats.refused})`);

  const reconnect = status.next('reconnect', 3_000);
  proxy.restore();
  const reconnectMs = await reconnect;
  t.comment(`refuse: disconnect seen in ${disconnectMs} ms, reconnect ${reconnectMs} ms after restore`);
  t.equal(await echo(nc, 'three'), 'three', 'requests work again');
  t.ok(proxy.stats.bytesUp > 0 && proxy.stats.bytesDown > 0);
});

t.test('blackhole for a bounded time: only pings notice, and the link heals by itself', async (t) => {
  const { proxy } = await setup(t);
  // Fast pings so the stale link is noticed in about a second; a short connect timeout so blackholed reconnects fail.
  const nc = await connect({ servers: proxy.url('nats://127.0.0.1'), maxReconnectAttempts: -1, reconnectTimeWait: 100, pingInterval: 300, maxPingOut: 2, timeout: 500 });
  t.teardown(() => nc.close());
  const status = watchStatus(nc);
  t.equal(await echo(nc, 'one'), 'one');

  const stale = status.next('staleConnection', 3_000);
  const reconnect = status.next('reconnect', 8_000);
  const cutAt = performance.now();
  proxy.cut(2_500, 'blackhole');
  t.equal(proxy.connections, 1, 'the blackholed connection stays open');
  await t.rejects(echo(nc, 'two'), 'a request into the blackhole times out');
  const staleMs = await stale;
  t.ok(proxy.stats.bytesDropped > 0, `bytes dropped (${proxy.stats.bytesDropped})`);
  await reconnect;
  const healedMs = Math.round(performance.now() - cutAt);
  t.equal(proxy.mode, undefined, 'restored by itself');
  t.ok(healedMs >= 2_500, `no reconnect before the cut ends (${healedMs} ms)`);
  t.comment(`blackhole: stale after ${staleMs} ms, reconnected ${healedMs} ms after the cut (2500 ms long)`);
  t.equal(await echo(nc, 'three'), 'three');
});
