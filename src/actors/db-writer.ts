/**
 * The DB writer: takes the Gateway's batches, coalesces them by (venue, market, symbol, interval, openTime) and
 * writes batched upserts through the KlineSink. A final kline is never dropped: while the database is slow or down
 * the writer backs off and keeps everything (a loud metric and log once the buffer passes its bound), then catches
 * up. An open kline may be coalesced into a newer state of itself. On shutdown it drains until the buffer is empty.
 */
import { createActor, fromPromise, type Actor } from 'xstate';
import { isNewerVersion } from '../domain/kline-version.ts';
import { dbWriterMachine } from '../machines/db-writer.ts';
import type { Logger } from '../infra/logger.ts';
import type { KlineRecord, KlineSink } from '../domain/kline-sink.ts';
import type { PublishedBatch } from '../domain/messages.ts';

export interface DbWriterOptions {
  readonly sink: KlineSink;
  readonly venue: string;
  readonly market: string;
  readonly logger: Logger;
  readonly flushIntervalMs: number;
  readonly maxBatchRows: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  /** Past this many buffered rows the writer logs an error and reports itself degraded; it still drops nothing. */
  readonly maxBufferedRows: number;
  readonly onHealth?: (status: 'ok' | 'degraded' | 'error', detail: string) => void;
}

export interface DbWriterStats {
  readonly bufferedRows: number;
  readonly bufferedFinals: number;
  readonly writtenRows: number;
  readonly failedFlushes: number;
  /** Open time of the oldest buffered final kline (how far storage lags), or null. */
  readonly oldestBufferedFinal: number | null;
}


export class DbWriter {
  readonly actor: Actor<typeof dbWriterMachine>;
  readonly #options: DbWriterOptions;
  readonly #buffer = new Map<string, KlineRecord>();
  #writtenRows = 0;
  #failedFlushes = 0;
  #overBound = false;
  #drained: Promise<void> | undefined;

  constructor(options: DbWriterOptions) {
    this.#options = options;
    const machine = dbWriterMachine.provide({
      actors: { flush: fromPromise(() => this.#flushOnce()) },
      guards: {
        hasPending: () => this.#buffer.size > 0,
        bufferFull: () => this.#buffer.size >= options.maxBatchRows,
      },
    });
    this.actor = createActor(machine, {
      input: { flushIntervalMs: options.flushIntervalMs, initialBackoffMs: options.backoffInitialMs, maxBackoffMs: options.backoffMaxMs },
    });
  }

  start(): void {
    this.actor.start();
  }

  /** Buffers a published batch (the Gateway's batches arrive here). */
  accept(batch: PublishedBatch): void {
    this.add([...batch.finals, ...batch.updates].map((kline) => ({ venue: this.#options.venue, market: this.#options.market, kline, revision: kline.revision ?? 0, source: kline.revisionCause === 'rebuild' ? ('repair' as const) : ('live' as const) })));
  }

  add(records: readonly KlineRecord[]): void {
    if (records.length === 0) return;
    for (const record of records) {
      const key = `${record.venue}|${record.market}|${record.kline.symbol}|${record.kline.interval}|${record.kline.openTime}`;
      const current = this.#buffer.get(key);
      if (current === undefined || isNewerVersion(record, current)) {
        this.#buffer.set(key, record);
      }
    }
    if (this.#buffer.size > this.#options.maxBufferedRows && !this.#overBound) {
      this.#overBound = true;
      this.#options.logger.error({ bufferedRows: this.#buffer.size, bound: this.#options.maxBufferedRows }, 'DB writer buffer is over its bound; storage is falling behind (nothing is dropped)');
      this.#options.onHealth?.('degraded', `buffer over ${this.#options.maxBufferedRows} rows`);
    }
    this.actor.send({ type: 'BUFFERED' });
  }

  get stats(): DbWriterStats {
    let finals = 0;
    let oldest: number | null = null;
    for (const record of this.#buffer.values()) {
      if (!record.kline.isFinal) continue;
      finals++;
      if (oldest === null || record.kline.openTime < oldest) oldest = record.kline.openTime;
    }
    return { bufferedRows: this.#buffer.size, bufferedFinals: finals, writtenRows: this.#writtenRows, failedFlushes: this.#failedFlushes, oldestBufferedFinal: oldest };
  }

  /** Writes everything buffered (retrying through outages) and stops. Resolves once the buffer is empty. */
  drain(): Promise<void> {
    this.#drained ??= new Promise<void>((resolve) => {
      const subscription = this.actor.subscribe((snapshot) => {
        if (snapshot.status === 'done') {
          subscription.unsubscribe();
          resolve();
        }
      });
      this.actor.send({ type: 'DRAIN' });
      if (this.actor.getSnapshot().status === 'done') resolve();
    });
    return this.#drained;
  }

  /** One flush: finals first, at most maxBatchRows rows; forgets only rows not replaced while they were written. */
  async #flushOnce(): Promise<void> {
    const batch: [string, KlineRecord][] = [];
    for (const entry of this.#buffer) if (entry[1].kline.isFinal && batch.length < this.#options.maxBatchRows) batch.push(entry);
    for (const entry of this.#buffer) if (!entry[1].kline.isFinal && batch.length < this.#options.maxBatchRows) batch.push(entry);
    if (batch.length === 0) return;
    try {
      await this.#options.sink.write(batch.map(([, record]) => record));
    } catch (error) {
      this.#failedFlushes++;
      this.#options.logger.warn({ err: error, rows: batch.length, bufferedRows: this.#buffer.size }, 'flush failed; backing off and keeping every row');
      this.#options.onHealth?.('degraded', `flush failed: ${(error as Error).message}`);
      throw error;
    }
    for (const [key, record] of batch) if (this.#buffer.get(key) === record) this.#buffer.delete(key);
    this.#writtenRows += batch.length;
    if (this.#overBound && this.#buffer.size <= this.#options.maxBufferedRows) this.#overBound = false;
    this.#options.onHealth?.('ok', `${this.#writtenRows} rows written`);
  }
}
