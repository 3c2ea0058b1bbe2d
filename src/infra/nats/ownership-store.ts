/**
 * Who owns which partition, in KV: `own.<p>` → `{node, phase, next}`, written by the coordinator with
 * compare-and-set. The record's revision is the owner's epoch. A planned move is break-before-make: `revoking` (the
 * owner drains and checkpoints), `released` (written by the old owner), then `active` for the new one.
 */
import type { KV, KvEntry } from '@nats-io/kv';
import type { ClusterNames } from './cluster-layout.ts';

export type OwnershipPhase = 'active' | 'revoking' | 'released';

export interface OwnershipRecord {
  readonly node: string;
  readonly phase: OwnershipPhase;
  /** The node a planned move goes to. */
  readonly next?: string;
}

export interface Ownership {
  readonly partition: number;
  readonly record: OwnershipRecord;
  /** The KV revision: the epoch. */
  readonly revision: number;
}

export class OwnershipStore {
  readonly #kv: KV;
  readonly #names: ClusterNames;

  constructor(kv: KV, names: ClusterNames) {
    this.#kv = kv;
    this.#names = names;
  }

  static partitionOfKey(key: string): number {
    return Number(key.slice(key.indexOf('.') + 1));
  }

  async get(partition: number): Promise<Ownership | null> {
    return toOwnership(await this.#kv.get(this.#names.ownershipKey(partition)));
  }

  /** Every partition's current record. */
  async all(): Promise<Map<number, Ownership>> {
    const result = new Map<number, Ownership>();
    const keys = await this.#kv.keys('own.>');
    const wanted: string[] = [];
    for await (const key of keys) wanted.push(key);
    await Promise.all(
      wanted.map(async (key) => {
        const own = toOwnership(await this.#kv.get(key));
        if (own) result.set(own.partition, own);
      }),
    );
    return result;
  }

  /** CAS write (`revision` 0: create); returns the new revision, or null when someone else wrote first. */
  async write(partition: number, record: OwnershipRecord, revision: number): Promise<number | null> {
    const key = this.#names.ownershipKey(partition);
    const data = Buffer.from(JSON.stringify(record));
    try {
      return revision === 0 ? await this.#kv.create(key, data) : await this.#kv.update(key, data, revision);
    } catch (error) {
      if (/wrong last sequence|key exists/i.test(String((error as Error)?.message))) return null;
      throw error;
    }
  }

  /** Every change (after the current values), until `stop`. */
  async watch(onChange: (own: Ownership) => void): Promise<{ stop(): void }> {
    const iterator = await this.#kv.watch({ key: 'own.>' });
    void (async () => {
      for await (const entry of iterator) {
        const own = toOwnership(entry);
        if (own) onChange(own);
      }
    })().catch(() => undefined);
    return { stop: () => iterator.stop() };
  }
}

function toOwnership(entry: KvEntry | null): Ownership | null {
  if (entry === null || entry.operation !== 'PUT') return null;
  try {
    return { partition: OwnershipStore.partitionOfKey(entry.key), record: JSON.parse(Buffer.from(entry.value).toString('utf8')) as OwnershipRecord, revision: entry.revision };
  } catch {
    return null;
  }
}
