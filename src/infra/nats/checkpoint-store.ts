/**
 * Partition checkpoints in KV: the partition's state at a log position, written with compare-and-set on the key's
 * revision. A new owner first rewrites the checkpoint with its own epoch (the fencing write); every later write of
 * the old owner then fails CAS and fences it (scale-out.md §3.1 E). The checkpoint protects nothing but itself: data
 * sinks are protected by versions, so fencing is about cost, not correctness.
 */
import { deserialize, serialize } from 'node:v8';
import type { KV } from '@nats-io/kv';
import type { PartitionSnapshot } from '../../domain/partition-aggregate.ts';
import type { ClusterNames } from './cluster-layout.ts';

export interface StoredCheckpoint {
  readonly revision: number;
  /** The ownership epoch of the owner that wrote it. */
  readonly epoch: number;
  readonly node: string;
  /** Null for a fencing record written before any state existed. */
  readonly snapshot: PartitionSnapshot | null;
}

/** The write lost a compare-and-set: someone else owns the partition now. */
export class CheckpointFenced extends Error {
  constructor(partition: number, cause: unknown) {
    super(`checkpoint of partition ${partition} was written by another owner (${(cause as Error)?.message ?? String(cause)})`);
    this.name = 'CheckpointFenced';
  }
}

export class CheckpointStore {
  readonly #kv: KV;
  readonly #names: ClusterNames;
  lastBytes = 0;

  constructor(kv: KV, names: ClusterNames) {
    this.#kv = kv;
    this.#names = names;
  }

  async read(partition: number): Promise<StoredCheckpoint | null> {
    const entry = await this.#kv.get(this.#names.checkpointKey(partition));
    if (entry === null || entry.operation !== 'PUT' || entry.length === 0) return entry === null ? null : { revision: entry.revision, epoch: 0, node: '', snapshot: null };
    const value = deserialize(entry.value) as Omit<StoredCheckpoint, 'revision'>;
    return { revision: entry.revision, epoch: value.epoch, node: value.node, snapshot: value.snapshot };
  }

  /** Writes with CAS on `expectedRevision` (0: the key must not exist); returns the new revision or throws CheckpointFenced. */
  async write(partition: number, checkpoint: Omit<StoredCheckpoint, 'revision'>, expectedRevision: number): Promise<number> {
    const bytes = serialize(checkpoint);
    this.lastBytes = bytes.length;
    const key = this.#names.checkpointKey(partition);
    try {
      return expectedRevision === 0 ? await this.#kv.create(key, bytes) : await this.#kv.update(key, bytes, expectedRevision);
    } catch (error) {
      if (/wrong last sequence|key exists/i.test(String((error as Error)?.message))) throw new CheckpointFenced(partition, error);
      throw error;
    }
  }
}
