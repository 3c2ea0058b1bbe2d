/**
 * What the scale-out design relies on, checked against the server dev and CI machines really run: Debian's
 * nats-server 2.9.10 on 127.0.0.1:4222, through nats.js 3.4 (scale-out.md §1.3, §1.4, §1.6, §9). Each test uses
 * streams and buckets with unique names and deletes them; the server itself is never reconfigured.
 *
 * If the machine's server or the client library changes, these say which assumption broke.
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { DeliverPolicy, jetstream, jetstreamManager, StorageType, StoreCompression, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { assertStreamConfigApplied, checkCapabilities } from '../../../src/infra/nats/capabilities.ts';

const SERVICE = 'nats://127.0.0.1:4222';
const unique = (prefix: string): string => `${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`;

async function setup(t: Test): Promise<{ nc: NatsConnection; jsm: JetStreamManager }> {
  const nc = await connect({ servers: SERVICE });
  t.teardown(() => nc.close());
  return { nc, jsm: await jetstreamManager(nc) };
}

/** A stream (memory storage: nothing on the shared server's disk) that the test's teardown deletes. */
async function tempStream(t: Test, jsm: JetStreamManager, prefix: string, extra: { allow_direct?: boolean } = {}): Promise<string> {
  const name = unique(prefix);
  await jsm.streams.add({ name, subjects: [`${name}.>`], storage: StorageType.Memory, ...extra });
  t.teardown(() => jsm.streams.delete(name).catch(() => false));
  return name;
}

t.test('the server is 2.9.10: the compatibility facts below are about it', async (t) => {
  const { nc } = await setup(t);
  const caps = await checkCapabilities(nc);
  t.equal(caps.version, '2.9.10');
  t.equal(caps.features.multiFilterConsumers, false);
});

t.test('an ordered consumer with one string filter from a stream sequence reads exactly the expected messages', async (t) => {
  const { nc, jsm } = await setup(t);
  const js = jetstream(nc);
  const stream = await tempStream(t, jsm, 'KLAGG_T_ORDERED');
  // Seq 1..12, subjects alternating a, b: the a's are the odd sequences.
  for (let i = 1; i <= 12; i++) await js.publish(`${stream}.${i % 2 === 1 ? 'a' : 'b'}`, String(i));

  const consumer = await js.consumers.get(stream, { filter_subjects: `${stream}.a`, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 6 });
  const got: { seq: number; subject: string; data: string }[] = [];
  for await (const m of await consumer.fetch({ max_messages: 20, expires: 1_000 })) got.push({ seq: m.seq, subject: m.subject, data: m.string() });
  t.same(got.map((m) => m.seq), [7, 9, 11], 'only subject a, from sequence 6 on');
  t.ok(got.every((m) => m.subject === `${stream}.a` && m.data === String(m.seq)));

  // The array form maps to 2.10's filter_subjects, which nats.js refuses against this server (§1.3, measured).
  await t.rejects(
    (async () => {
      const multi = await js.consumers.get(stream, { filter_subjects: [`${stream}.a`], deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 6 });
      for await (const m of await multi.fetch({ max_messages: 1, expires: 1_000 })) m.seq;
    })(),
    /'filter_subjects' requires server 2\.10\.0/,
  );
});

t.test('KV: create succeeds once and fails on an existing key; update with a stale revision fails', async (t) => {
  const { nc } = await setup(t);
  const bucket = unique('klagg_t_kv');
  const kv = await new Kvm(nc).create(bucket, { history: 1, storage: StorageType.Memory });
  t.teardown(() => kv.destroy().catch(() => false));

  const first = await kv.create('owner', 'a');
  t.ok(first > 0, `created at revision ${first}`);
  await t.rejects(kv.create('owner', 'b'), /wrong last sequence/, 'a second create of the key fails');
  const second = await kv.update('owner', 'c', first);
  t.ok(second > first, 'update with the current revision succeeds (CAS)');
  await t.rejects(kv.update('owner', 'd', first), /wrong last sequence/, 'update with a stale revision fails');
  t.equal((await kv.get('owner'))?.string(), 'c', 'the stale write left nothing');
  t.equal((await kv.get('owner'))?.revision, second);
});

t.test('KV: a bucket ttl expires a key', async (t) => {
  const { nc } = await setup(t);
  const bucket = unique('klagg_t_ttl');
  const kv = await new Kvm(nc).create(bucket, { history: 1, ttl: 1_000, storage: StorageType.Memory });
  t.teardown(() => kv.destroy().catch(() => false));
  await kv.put('lease', 'holder-1');
  t.equal((await kv.get('lease'))?.string(), 'holder-1');
  const putAt = performance.now();
  let expiredMs = -1;
  while (performance.now() - putAt < 10_000) {
    if ((await kv.get('lease')) === null) {
      expiredMs = Math.round(performance.now() - putAt);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.ok(expiredMs >= 900, `expired after the ttl, not before (${expiredMs} ms)`);
  t.comment(`a key in a bucket with ttl 1000 ms was gone after ${expiredMs} ms`);
});

t.test('Direct Get last_by_subj on a stream with allow_direct returns the last message of a subject', async (t) => {
  const { nc, jsm } = await setup(t);
  const js = jetstream(nc);
  const stream = await tempStream(t, jsm, 'KLAGG_T_DIRECT', { allow_direct: true });
  await js.publish(`${stream}.a`, 'one');
  await js.publish(`${stream}.b`, 'two');
  await js.publish(`${stream}.a`, 'three');
  await js.publish(`${stream}.b`, 'four');
  const last = await jsm.direct.getMessage(stream, { last_by_subj: `${stream}.a` });
  t.equal(last?.string(), 'three');
  t.equal(last?.seq, 3);
  t.equal(last?.subject, `${stream}.a`);
});

t.test('a 2.10-only stream field is dropped silently on 2.9 and assertStreamConfigApplied says so', async (t) => {
  const { nc, jsm } = await setup(t);
  const name = unique('KLAGG_T_DROPPED');
  // nats.js keeps its own table for compression and refuses it before sending (the client-side guard)...
  await t.rejects(jsm.streams.add({ name, subjects: [`${name}.>`], compression: StoreCompression.S2 }), /'compression' requires server 2\.10\.0/);
  // ...but a request that reaches the server (another client, or a field nats.js does not check) is accepted as is.
  const reply = await nc.request(`$JS.API.STREAM.CREATE.${name}`, JSON.stringify({ name, subjects: [`${name}.>`], storage: 'memory', compression: 's2' }), { timeout: 2_000 });
  t.teardown(() => jsm.streams.delete(name).catch(() => false));
  const created = reply.json<{ error?: unknown; config?: Record<string, unknown> }>();
  t.equal(created.error, undefined, 'the server accepted the create');
  t.equal(created.config?.compression, undefined, 'and its config has no compression');
  await t.rejects(assertStreamConfigApplied(jsm, name, { compression: StoreCompression.S2 }), {
    code: 'KLAGG_ERR_NATS_CAPABILITY',
    message: /stream KLAGG_T_DROPPED_\w+ not as asked: compression dropped \(asked "s2", absent\)/,
  });
});

t.test('KV markerTTL (2.11) on 2.9: the bucket is created without per-key TTL, and reading the config back shows it', async (t) => {
  const { nc, jsm } = await setup(t);
  const bucket = unique('klagg_t_marker');
  const kv = await new Kvm(nc).create(bucket, { history: 1, markerTTL: 2_000, storage: StorageType.Memory });
  t.teardown(() => kv.destroy().catch(() => false));
  const info = await jsm.streams.info(`KV_${bucket}`);
  t.notOk(info.config.allow_msg_ttl, 'allow_msg_ttl is not on');
  await t.rejects(assertStreamConfigApplied(jsm, `KV_${bucket}`, { allow_msg_ttl: true }), { code: 'KLAGG_ERR_NATS_CAPABILITY', message: /allow_msg_ttl dropped/ });
});
