/**
 * The NATS harness itself (scale-out.md §5): a single node serves JetStream; a 3-node cluster forms, survives the
 * SIGKILL of a stream's leader without losing or doubling a deduplicated publish, takes the killed node back with
 * its data, and leaves no process or directory behind.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type PubAck } from '@nats-io/jetstream';
import { isAlive } from './child-reaper.ts';
import { startNatsCluster, startNatsServer, type NatsServer } from './nats-cluster.ts';

interface StreamDetail {
  name: string;
  cluster?: { leader?: string };
  state: { messages: number; last_seq: number };
}

/** What one server itself holds of a stream (its own replica), read from its monitor port, not through the leader. */
async function replicaState(server: NatsServer, stream: string): Promise<StreamDetail['state'] | undefined> {
  const jsz = await server.monitor<{ account_details?: { stream_detail?: StreamDetail[] }[] }>('/jsz?accounts=true&streams=true');
  return jsz.account_details?.flatMap((a) => a.stream_detail ?? []).find((s) => s.name === stream)?.state;
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Publishes until JetStream acks, as a producer that must not lose the message does; the Nats-Msg-Id makes retries safe. */
async function publishUntilAcked(js: JetStreamClient, subject: string, msgID: string, timeoutMs: number): Promise<{ ack: PubAck; attempts: number }> {
  const deadline = Date.now() + timeoutMs;
  for (let attempts = 1; ; attempts++) {
    try {
      return { ack: await js.publish(subject, 'after-kill', { msgID, timeout: 1_000 }), attempts };
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

t.test('a single node starts with JetStream on its own ports and leaves nothing behind', async (t) => {
  const server = await startNatsServer();
  t.teardown(() => server.stop());
  t.not(server.ports.client, 4222, 'never the machine service port');
  t.match(server.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
  const varz = await server.monitor<{ server_name: string; version: string; jetstream?: { config?: { store_dir?: string } } }>('/varz');
  t.equal(varz.server_name, 'n1');
  t.ok(varz.jetstream?.config?.store_dir?.startsWith(server.dir), 'JetStream stores in the temp directory');

  const nc = await connect({ servers: server.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'SINGLE', subjects: ['single.>'] });
  const ack = await jetstream(nc).publish('single.a', 'x');
  t.equal(ack.seq, 1, 'the stream stores a message');
  await nc.close();

  const pid = server.pid!;
  t.ok(isAlive(pid));
  await server.stop();
  t.notOk(isAlive(pid), 'the process is gone');
  t.notOk(existsSync(server.dir), 'the directory is removed');
});

t.test('a 3-node cluster: R3 stream, leader SIGKILLed, exactly-once retry, the node rejoins with its data', async (t) => {
  const startedAt = performance.now();
  const cluster = await startNatsCluster({ size: 3 });
  t.teardown(() => cluster.stop());
  t.comment(`cluster of 3 ready (meta leader agreed) in ${Math.round(performance.now() - startedAt)} ms`);
  t.same(cluster.servers.map((s) => s.name), ['n1', 'n2', 'n3']);
  t.equal(new Set(cluster.servers.map((s) => s.pid)).size, 3, 'three processes');
  for (const server of cluster.servers) {
    const routez = await server.monitor<{ num_routes: number }>('/routez');
    t.equal(routez.num_routes, 2, `${server.name} has routes to both others`);
  }

  let nc: NatsConnection | undefined;
  t.teardown(() => nc?.close());
  nc = await connect({ servers: cluster.urls, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const jsm = await jetstreamManager(nc, { timeout: 2_000 });
  const js = jetstream(nc, { timeout: 2_000 });
  const stream = 'HARNESS_R3';
  const info = await jsm.streams.add({ name: stream, subjects: ['harness.>'], num_replicas: 3, duplicate_window: nanos(120_000) });
  t.equal(info.config.num_replicas, 3);
  t.equal(info.cluster?.replicas?.length, 2, 'a leader and two replicas');
  for (let i = 1; i <= 10; i++) t.equal((await js.publish('harness.before', String(i), { msgID: `before-${i}` })).seq, i);

  const leader = await cluster.waitForStreamLeader(stream);
  const oldPid = leader.pid!;
  t.comment(`stream ${stream} led by ${leader.name} (pid ${oldPid}); SIGKILL`);
  const killedAt = performance.now();
  leader.kill('SIGKILL');
  await leader.exited();
  t.notOk(leader.running);

  const { ack, attempts } = await publishUntilAcked(js, 'harness.after', 'after-kill', 30_000);
  const failoverMs = Math.round(performance.now() - killedAt);
  const newLeader = await cluster.waitForStreamLeader(stream, leader);
  t.not(newLeader.name, leader.name, 'another server leads the stream');
  t.comment(`first ack after the kill: ${failoverMs} ms, ${attempts} attempt(s), new leader ${newLeader.name}`);
  t.equal(ack.duplicate, false);
  const again = await js.publish('harness.after', 'after-kill', { msgID: 'after-kill' });
  t.equal(again.duplicate, true, 'the same Nats-Msg-Id again is a duplicate');
  t.equal(again.seq, ack.seq);
  const state = (await jsm.streams.info(stream, { subjects_filter: 'harness.after' })).state;
  t.equal(state.messages, 11, 'ten before, one after: the retried publish is stored once');
  t.same(state.subjects, { 'harness.after': 1 });

  const restartAt = performance.now();
  await leader.restart();
  const restartMs = Math.round(performance.now() - restartAt);
  t.ok(leader.running);
  t.not(leader.pid, oldPid, 'a new process');
  t.notOk(isAlive(oldPid), 'the killed process is gone');
  t.equal(leader.url, cluster.urls[leader.index], 'the same client port');
  // Its replica had messages 1..10 in its store and must catch up with the 11th from the new leader.
  const rejoined = await eventually(`${leader.name} holds 11 messages`, async () => {
    const s = await replicaState(leader, stream);
    return s?.messages === 11 ? s : undefined;
  }, 20_000);
  t.equal(rejoined.last_seq, 11, 'the restarted node rejoined the stream with its data');
  t.comment(`restart: healthy in ${restartMs} ms, replica caught up ${Math.round(performance.now() - restartAt)} ms after the restart began`);
  await publishUntilAcked(js, 'harness.after', 'after-restart', 10_000);
  t.equal((await jsm.streams.info(stream)).state.messages, 12);

  // A frozen server must not stop the cluster's stop(): SIGSTOP one, then stop everything.
  const frozen = cluster.servers.find((s) => s !== newLeader)!;
  frozen.kill('SIGSTOP');
  const pids = cluster.servers.map((s) => s.pid!);
  await nc.close();
  nc = undefined;
  const stopStarted = performance.now();
  await cluster.stop();
  t.comment(`cluster stopped in ${Math.round(performance.now() - stopStarted)} ms (one server SIGSTOPped)`);
  for (const pid of pids) t.notOk(isAlive(pid), `pid ${pid} is gone`);
  for (const server of cluster.servers) t.notOk(existsSync(server.dir), `${server.name}'s directory is removed`);
});
