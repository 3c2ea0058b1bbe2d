/**
 * The live read model of open klines for the HTTP API: the latest OPEN kline per (symbol, interval), fed by the
 * Gateway's published batches. Binance includes the in-progress kline in `/fapi/v1/klines`; the store may hold an
 * older version of it (or none yet), so the API merges this one in. A final for a key drops its open kline.
 */
import type { BatchListener, PublishedBatch } from '../../domain/messages.ts';
import type { IntervalName } from '../../domain/interval.ts';
import type { Kline } from '../../domain/kline.ts';

export interface BatchSource {
  onBatch(listener: BatchListener): () => void;
}

const keyOf = (symbol: string, interval: string): string => `${symbol}\u0000${interval}`;

export class LiveKlineView {
  readonly #open = new Map<string, Kline>();
  readonly #unsubscribe: () => void;

  constructor(source: BatchSource) {
    this.#unsubscribe = source.onBatch((batch) => this.apply(batch));
  }

  /** The latest open kline of a symbol and interval, if one is in progress. */
  open(symbol: string, interval: IntervalName): Kline | undefined {
    return this.#open.get(keyOf(symbol, interval));
  }

  /** How many open klines are held (for metrics and tests). */
  get size(): number {
    return this.#open.size;
  }

  apply(batch: PublishedBatch): void {
    for (const kline of batch.updates) {
      const key = keyOf(kline.symbol, kline.interval);
      if (kline.isFinal) {
        this.#dropUpTo(key, kline.openTime);
        continue;
      }
      const held = this.#open.get(key);
      // An older period's state arriving late never replaces a newer one; the same period's later state does.
      if (held === undefined || kline.openTime > held.openTime || (kline.openTime === held.openTime && kline.lastAggId >= held.lastAggId)) {
        this.#open.set(key, kline);
      }
    }
    for (const kline of batch.finals) this.#dropUpTo(keyOf(kline.symbol, kline.interval), kline.openTime);
  }

  /** Stops listening and forgets everything. */
  close(): void {
    this.#unsubscribe();
    this.#open.clear();
  }

  #dropUpTo(key: string, openTime: number): void {
    const held = this.#open.get(key);
    if (held !== undefined && held.openTime <= openTime) this.#open.delete(key);
  }
}
