/**
 * A KlineSink that keeps rows in memory with the store's own version rule: for actor tests that are about the
 * actors, not the database (the database paths are tested against PostgreSQL and PGlite).
 */
import type { KlineRecord, KlineSink } from '../../src/domain/kline-sink.ts';
import { isNewerVersion } from '../../src/infra/db/kline-store.ts';

export class MemorySink implements KlineSink {
  readonly rows = new Map<string, KlineRecord>();
  writes = 0;

  async write(records: readonly KlineRecord[]): Promise<void> {
    this.writes++;
    for (const record of records) {
      const key = `${record.kline.symbol}|${record.kline.interval}|${record.kline.openTime}`;
      const current = this.rows.get(key);
      if (current === undefined || isNewerVersion(record, current)) this.rows.set(key, record);
    }
  }

  klines(filter: { final?: boolean; interval?: string } = {}): KlineRecord['kline'][] {
    return [...this.rows.values()]
      .map((record) => record.kline)
      .filter((k) => (filter.final === undefined || k.isFinal === filter.final) && (filter.interval === undefined || k.interval === filter.interval))
      .sort((a, b) => a.symbol.localeCompare(b.symbol) || a.interval.localeCompare(b.interval) || a.openTime - b.openTime);
  }
}
