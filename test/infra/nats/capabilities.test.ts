/**
 * Capability checks (src/infra/nats/capabilities.ts): the version table, the error that names what is missing, and
 * what real servers report: the machine's 2.9.10 on 127.0.0.1:4222 (used with unique names only, everything created
 * is deleted), a server of the test's own without JetStream, and a 3-node cluster of the test's own.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { connect, nanos } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { KlaggError } from '../../../src/domain/errors.ts';
import { assertStreamConfigApplied, capabilitiesOf, checkCapabilities, configDifferences, requireCapabilities } from '../../../src/infra/nats/capabilities.ts';
import { startNatsCluster, startNatsServer } from '../../support/nats-cluster.ts';

const SERVICE = 'nats://127.0.0.1:4222';
const unique = (prefix: string): string => `${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`;
const NONE = { multiFilterConsumers: false, streamCompression: false, subjectTransforms: false, perKeyTtl: false, priorityGroups: false, atomicBatch: false };

t.test('the version table: each feature from its first server version, none without JetStream', async (t) => {
  t.same(capabilitiesOf('2.9.10', true).features, NONE);
  t.same(capabilitiesOf('2.10.0', true).features, { ...NONE, multiFilterConsumers: true, streamCompression: true, subjectTransforms: true });
  t.same(capabilitiesOf('2.11.4', true).features, { ...NONE, multiFilterConsumers: true, streamCompression: true, subjectTransforms: true, perKeyTtl: true, priorityGroups: true });
  t.same(Object.values(capabilitiesOf('2.12.0', true).features), [true, true, true, true, true, true]);
  t.same(capabilitiesOf('2.12.0', false).features, NONE, 'JetStream off: no JetStream feature');
  t.same(Object.values(capabilitiesOf('3.0.0', true).features), [true, true, true, true, true, true]);
  t.same(capabilitiesOf('2.11.0-RC.2', true).features.perKeyTtl, true, 'a release candidate counts as its release');
  t.throws(() => capabilitiesOf('unknown', true), { code: 'KLAGG_ERR_NATS_CAPABILITY', message: 'cannot read the nats-server version "unknown"' });
});

t.test('requireCapabilities names every missing need and the version', async (t) => {
  const old = capabilitiesOf('2.9.10', true);
  t.doesNotThrow(() => requireCapabilities(old, ['jetstream']));
  t.doesNotThrow(() => requireCapabilities(capabilitiesOf('2.11.0', true), ['jetstream', 'perKeyTtl', 'multiFilterConsumers']));
  const error = t.throws(() => requireCapabilities(old, ['jetstream', 'multiFilterConsumers', 'atomicBatch'])) as KlaggError;
  t.ok(error instanceof KlaggError);
  t.equal(error.code, 'KLAGG_ERR_NATS_CAPABILITY');
  t.equal(error.message, 'nats-server 2.9.10 lacks multiFilterConsumers (needs nats-server ≥ 2.10.0), atomicBatch (needs nats-server ≥ 2.12.0)');
  const off = t.throws(() => requireCapabilities(capabilitiesOf('2.12.0', false), ['jetstream', 'priorityGroups'])) as KlaggError;
  t.equal(off.message, 'nats-server 2.12.0 lacks JetStream (not enabled for this account), priorityGroups (needs JetStream)');
});

t.test('configDifferences: dropped and changed fields; defaults the server adds are not differences', async (t) => {
  t.same(configDifferences({ compression: 's2', max_msgs: 10 }, { max_msgs: 10, max_bytes: -1 }), ['compression dropped (asked "s2", absent)']);
  t.same(configDifferences({ max_msgs: 10 }, { max_msgs: 20 }), ['max_msgs changed (asked 10, got 20)']);
  t.same(configDifferences({ allow_msg_ttl: false, subjects: [], description: undefined }, {}), [], 'falsy asks match absent');
  t.same(configDifferences({ subject_transform: { src: 'a.>', dest: 'b.>' } }, { subject_transform: { src: 'a.>', dest: 'b.>', extra: 1 } }), []);
  t.same(configDifferences({ subjects: ['a', 'b'] }, { subjects: ['a'] }), ['subjects changed (asked ["a","b"], got ["a"])']);
});

t.test('the machine server (127.0.0.1:4222): 2.9.10 with JetStream, no 2.10+ feature', async (t) => {
  const nc = await connect({ servers: SERVICE });
  t.teardown(() => nc.close());
  const caps = await checkCapabilities(nc);
  t.equal(caps.version, '2.9.10');
  t.equal(caps.jetstream, true);
  t.same(caps.features, NONE);
  t.equal(caps.cluster, undefined, 'a single server');
  t.doesNotThrow(() => requireCapabilities(caps, ['jetstream']));
  t.throws(() => requireCapabilities(caps, ['perKeyTtl']), { code: 'KLAGG_ERR_NATS_CAPABILITY', message: /nats-server 2\.9\.10 lacks perKeyTtl/ });

  // A config the server applies in full reads back clean.
  const jsm = await jetstreamManager(nc);
  const name = unique('KLAGG_T_CAPS');
  const config = { name, subjects: [`${name}.>`], max_msgs_per_subject: 5, allow_direct: true, duplicate_window: nanos(60_000) };
  await jsm.streams.add(config);
  t.teardown(() => jsm.streams.delete(name));
  const info = await assertStreamConfigApplied(jsm, name, config);
  t.equal(info.config.max_msgs_per_subject, 5);
  await t.rejects(assertStreamConfigApplied(jsm, name, { max_msgs_per_subject: 6 }), { code: 'KLAGG_ERR_NATS_CAPABILITY', message: /max_msgs_per_subject changed \(asked 6, got 5\)/ });
});

t.test('a server without JetStream: reported off, and requiring it fails', async (t) => {
  const server = await startNatsServer({ jetstream: false });
  t.teardown(() => server.stop());
  const nc = await connect({ servers: server.url });
  t.teardown(() => nc.close());
  const caps = await checkCapabilities(nc);
  t.equal(caps.jetstream, false);
  t.same(caps.features, NONE);
  t.throws(() => requireCapabilities(caps, ['jetstream']), { code: 'KLAGG_ERR_NATS_CAPABILITY', message: /lacks JetStream/ });
});

t.test('a 3-node cluster: its name and the three servers it advertises', async (t) => {
  const cluster = await startNatsCluster({ size: 3 });
  t.teardown(() => cluster.stop());
  const nc = await connect({ servers: cluster.urls[0] });
  t.teardown(() => nc.close());
  const caps = await checkCapabilities(nc);
  t.equal(caps.jetstream, true);
  t.same(caps.cluster, { name: cluster.name, servers: 3 });
});
