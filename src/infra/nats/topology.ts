/**
 * Creates (or brings up to date) the streams and KV buckets a cluster uses: idempotent, so every role can run it at
 * start. Every created stream's config is read back: a 2.9 server silently drops fields it does not know
 * (scale-out.md §1.4), and a cluster that runs on a config it did not ask for must refuse to start, not drift.
 */
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { KlaggError } from '../../domain/errors.ts';
import type { ClusterNames } from './cluster-layout.ts';

export interface ClusterBuckets {
  /** `own.<p>` → the partition's owner record; its revision is the ownership epoch. */
  readonly ownership: KV;
  /** `ckpt.<p>` → the partition's checkpoint (engine snapshot + stream position), written with CAS. */
  readonly checkpoints: KV;
  /** `coord` → the coordinator's lease (the bucket's TTL is the lease length). */
  readonly coordinator: KV;
  /** `<venue>.<market>.<symbol>` → the symbol's exchange description (tick and step sizes…), written by ingest. */
  readonly symbols: KV;
}

export interface TopologyOptions {
  /** Length of the coordinator lease (the coordinator bucket's TTL). */
  readonly coordinatorLeaseMs: number;
}

/** Creating replicated streams takes a Raft round each, and several roles may create the same ones at once. */
const ADMIN_TIMEOUT_MS = 15_000;
const ATTEMPTS = 4;

/** Retries an idempotent admin step that timed out (a busy or electing server), a bounded number of times. */
async function retrying<T>(what: string, step: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (error) {
      const transient = /timeout|no responders|leadership|not enabled|unavailable/i.test(String((error as Error)?.message));
      if (!transient || attempt >= ATTEMPTS) throw new KlaggError('KLAGG_ERR_START_NATS_UNREACHABLE', { servers: 'JetStream', reason: `creating ${what} failed ${attempt} times: ${(error as Error)?.message ?? String(error)}` });
      await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
    }
  }
}

export async function ensureTopology(nc: NatsConnection, names: ClusterNames, options: TopologyOptions): Promise<ClusterBuckets> {
  const jsm = await jetstreamManager(nc, { timeout: ADMIN_TIMEOUT_MS });
  const layout = names.layout;
  // Both kinds are Limits streams (a successor replays from its checkpoint; writers catch up after an outage).
  const limits = (name: string, subjects: string[], maxAgeMs: number): Partial<StreamConfig> & { name: string } => ({
    name,
    subjects,
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: layout.replicas,
    max_age: nanos(maxAgeMs),
    duplicate_window: nanos(layout.duplicateWindowMs),
    discard: DiscardPolicy.Old,
  });
  for (let i = 0; i < layout.tradeStreams; i++) {
    const subjects = names.tradePartitions(i).map((p) => names.partitionFilter(p));
    // allow_direct: a restarted ingest reads where a symbol's history ends (Direct Get).
    await ensureStreamRetrying(jsm, { ...limits(names.tradeStream(i), subjects, layout.tradeMaxAgeMs), allow_direct: true });
  }
  for (let i = 0; i < layout.klineStreams; i++) {
    await ensureStreamRetrying(jsm, limits(names.klineStream(i), names.klinePartitions(i).map((p) => names.durableKlineSubject(p)), layout.klineMaxAgeMs));
  }
  const kvm = new Kvm(jetstream(nc, { timeout: ADMIN_TIMEOUT_MS }));
  const replicas = layout.replicas;
  const bucket = (name: string, opts: Parameters<Kvm['create']>[1]): Promise<KV> => retrying(`KV bucket ${name}`, () => kvm.create(name, opts));
  return {
    ownership: await bucket(names.ownershipBucket, { history: 5, replicas, storage: StorageType.File }),
    checkpoints: await bucket(names.checkpointBucket, { history: 1, replicas, storage: StorageType.File, maxValueSize: 8 * 1024 * 1024 }),
    coordinator: await bucket(names.coordinatorBucket, { history: 1, replicas, storage: StorageType.File, ttl: options.coordinatorLeaseMs }),
    symbols: await bucket(names.symbolsBucket, { history: 1, replicas, storage: StorageType.File }),
  };
}

function ensureStreamRetrying(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  return retrying(`stream ${config.name}`, () => ensureStream(jsm, config));
}

async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  let applied: StreamConfig;
  try {
    applied = (await jsm.streams.info(config.name)).config;
    const sameSubjects = JSON.stringify([...(applied.subjects ?? [])].sort()) === JSON.stringify([...(config.subjects ?? [])].sort());
    if (!sameSubjects || applied.num_replicas !== config.num_replicas || applied.max_age !== config.max_age) {
      applied = (await jsm.streams.update(config.name, { ...applied, ...config } as StreamConfig)).config;
    }
  } catch (error) {
    if (!isNotFound(error)) throw error;
    applied = (await jsm.streams.add(config)).config;
  }
  for (const [key, wanted] of Object.entries(config)) {
    const got = (applied as unknown as Record<string, unknown>)[key];
    if (JSON.stringify(Array.isArray(got) ? [...got].sort() : got) !== JSON.stringify(Array.isArray(wanted) ? [...wanted].sort() : wanted)) {
      throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: `stream ${config.name}: the server did not apply ${key} = ${JSON.stringify(wanted)} (it holds ${JSON.stringify(got)})` });
    }
  }
}

function isNotFound(error: unknown): boolean {
  const e = error as { code?: unknown; api_error?: { err_code?: number }; message?: string };
  return e?.api_error?.err_code === 10059 || /stream not found/i.test(String(e?.message));
}
