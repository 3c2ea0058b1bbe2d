/**
 * Symbols are spread over a fixed number of partitions by a stable hash of the instrument key, and partitions over
 * workers by a table. Changing the number of workers moves whole partitions; it never rehashes a symbol (as
 * hash-modulo-workers would), so a partition's state can move with its snapshot.
 */
import { KlaggError } from './errors.ts';

export const DEFAULT_PARTITIONS = 256;

/** The instrument key: venue and market are part of every key so other exchanges and spot fit later. */
export function instrumentKey(venue: string, market: string, symbol: string): string {
  return `${venue}:${market}:${symbol}`;
}

/** FNV-1a over the key's UTF-8 bytes: stable across processes, hosts and versions of Node. */
export function stableHash(key: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(key, 'utf8')) hash = Math.imul(hash ^ byte, 0x01000193);
  return hash >>> 0;
}

export function partitionOf(key: string, partitions: number = DEFAULT_PARTITIONS): number {
  return stableHash(key) % partitions;
}

/** Partition → worker: contiguous ranges, as even as the numbers allow. */
export function assignPartitions(partitions: number, workers: number): number[] {
  if (!Number.isInteger(workers) || workers < 1) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: `workers must be a whole number ≥ 1, got ${workers}` });
  if (!Number.isInteger(partitions) || partitions < workers) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: `need at least one partition per worker (${partitions} partitions, ${workers} workers)` });
  return Array.from({ length: partitions }, (_, partition) => Math.floor((partition * workers) / partitions));
}
