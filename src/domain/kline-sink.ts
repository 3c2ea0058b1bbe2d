import type { Kline } from './kline.ts';

/** A kline as it goes to storage: the key's venue and market, and its version (revision, source). */
export interface KlineRecord {
  readonly venue: string;
  readonly market: string;
  readonly kline: Kline;
  readonly revision: number;
  readonly source: 'live' | 'backfill' | 'repair';
}

/**
 * Where klines are stored. `write` resolves only once the rows are stored (so the writer knows what it may forget),
 * and rejects when they are not.
 */
export interface KlineSink {
  write(records: readonly KlineRecord[]): Promise<void>;
}
