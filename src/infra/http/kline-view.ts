/**
 * The live read model for the HTTP API: the latest OPEN kline and the latest FINAL per (symbol, interval), fed by the
 * Gateway's published batches. Binance includes the in-progress kline in `/fapi/v1/klines`; the store may hold an
 * older version of it (or none yet), so the API merges this one in. A final for a key drops its open kline and is kept
 * itself: the store lags the stream (its writes are batched, and wait out a database outage), and an answer that gave
 * the stored open row of a period already sent final left a client that resynced over REST on it — a stale kline
 * (found by the soak: a client reconnecting during an outage missed the final and read back the open row).
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
  readonly #final = new Map<string, Kline>();
  readonly #unsubscribe: () => void;

  constructor(source: BatchSource) {
    this.#unsubscribe = source.onBatch((batch) => this.apply(batch));
  }

  /** The latest open kline of a symbol and interval, if one is in progress. */
  open(symbol: string, interval: IntervalName): Kline | undefined {
    return this.#open.get(keyOf(symbol, interval));
  }

  /** The latest final of a symbol and interval published since the start (its highest revision). */
  final(symbol: string, interval: IntervalName): Kline | undefined {
    return this.#final.get(keyOf(symbol, interval));
  }

  /** How many open klines are held (for metrics and tests). */
  get size(): number {
    return this.#open.size;
  }

  apply(batch: PublishedBatch): void {
    for (const kline of batch.updates) {
      const key = keyOf(kline.symbol, kline.interval);
      if (kline.isFinal) {
        this.#onFinal(key, kline);
        continue;
      }
      const held = this.#open.get(key);
      // An older period's state arriving late never replaces a newer one; the same period's later state does.
      if (held === undefined || kline.openTime > held.openTime || (kline.openTime === held.openTime && kline.lastAggId >= held.lastAggId)) {
        this.#open.set(key, kline);
      }
    }
    for (const kline of batch.finals) this.#onFinal(keyOf(kline.symbol, kline.interval), kline);
  }

  /** Stops listening and forgets everything. */
  close(): void {
    this.#unsubscribe();
    this.#open.clear();
    this.#final.clear();
  }

  #onFinal(key: string, kline: Kline): void {
    const open = this.#open.get(key);
    if (open !== undefined && open.openTime <= kline.openTime) this.#open.delete(key);
    const held = this.#final.get(key);
    if (held === undefined || kline.openTime > held.openTime || (kline.openTime === held.openTime && (kline.revision ?? 0) >= (held.revision ?? 0))) this.#final.set(key, kline);
  }
}
