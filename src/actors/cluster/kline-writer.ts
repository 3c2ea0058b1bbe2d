/**
 * A DB writer process's loop, one per kline stream: fetch a batch of durable kline messages, keep the newest version
 * of each kline among them, upsert them with the version guard, and only then acknowledge. The guard makes writers
 * idempotent and order-insensitive (two writers, redeliveries, a zombie aggregator's older versions: the table only
 * moves forward). While the database is down the messages stay unacknowledged — `working()` keeps them from being
 * redelivered meanwhile — and the backlog waits in the stream.
 */
import type { JsMsg } from '@nats-io/jetstream';
import { decodeKlineBatch, type RebuildRange } from '../../domain/cluster-messages.ts';
import type { KlineRow, KlineStore } from '../../infra/db/kline-store.ts';
import type { KlineBatchConsumer } from '../../infra/nats/kline-batch-consumer.ts';
import type { Logger } from '../../infra/logger.ts';

export interface KlineWriterOptions {
  readonly consumer: KlineBatchConsumer;
  readonly store: Pick<KlineStore, 'upsert'>;
  readonly streams: number;
  readonly maxMessages: number;
  readonly fetchExpiresMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly logger: Logger;
  readonly now: () => number;
  /** Ranges the aggregators could not make exact (rebuilt from the exchange's klines); called once they are stored. */
  readonly onRebuilds?: (venue: string, market: string, ranges: readonly RebuildRange[]) => void;
}

export interface KlineWriterStats {
  messages: number;
  rows: number;
  written: number;
  malformed: number;
  failures: number;
  /** True while the last upsert failed (the database is unreachable). */
  stalled: boolean;
  lastWriteAt: number;
}

export class KlineWriter {
  readonly stats: KlineWriterStats = { messages: 0, rows: 0, written: 0, malformed: 0, failures: 0, stalled: false, lastWriteAt: 0 };
  readonly #o: KlineWriterOptions;
  #running = false;
  #loops: Promise<void>[] = [];

  constructor(options: KlineWriterOptions) {
    this.#o = options;
  }

  start(): void {
    this.#running = true;
    this.#loops = Array.from({ length: this.#o.streams }, (_, i) => this.#loop(i));
  }

  /** Stops fetching; what was fetched is stored (or left unacknowledged for another writer) first. */
  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
  }

  async #loop(index: number): Promise<void> {
    const o = this.#o;
    while (this.#running) {
      let messages: JsMsg[];
      try {
        messages = await o.consumer.fetch(index, o.maxMessages, o.fetchExpiresMs);
      } catch (error) {
        o.logger.warn({ stream: index, err: (error as Error)?.message }, 'fetching kline batches failed; retrying');
        await sleep(500);
        continue;
      }
      if (messages.length === 0) continue;
      await this.#store(messages);
    }
  }

  async #store(messages: JsMsg[]): Promise<void> {
    const o = this.#o;
    const rows: KlineRow[] = [];
    const rebuilds: { venue: string; market: string; ranges: readonly RebuildRange[] }[] = [];
    for (const m of messages) {
      const batch = decodeKlineBatch(m.data);
      if (batch === null) {
        this.stats.malformed++;
        o.logger.error({ subject: m.subject, seq: m.seq }, 'malformed kline batch: acknowledged and dropped (it can never be stored)');
        continue;
      }
      if (batch.rebuilds !== undefined && batch.rebuilds.length > 0) rebuilds.push({ venue: batch.venue, market: batch.market, ranges: batch.rebuilds });
      for (const kline of batch.klines) {
        rows.push({ venue: batch.venue, market: batch.market, kline, revision: kline.revision ?? 0, source: kline.revisionCause === 'rebuild' ? 'repair' : 'live' });
      }
    }
    // One key order for every writer: two writers' upserts then lock shared rows in the same order (no deadlocks).
    rows.sort((a, b) => compareKeys(a, b));
    let delay = o.backoffInitialMs;
    for (;;) {
      try {
        this.stats.written += await o.store.upsert(rows);
        break;
      } catch (error) {
        this.stats.failures++;
        // Stopping: leave the batch unacknowledged; the server hands it to another writer (or to us after a restart).
        if (!this.#running) return;
        if (!this.stats.stalled) o.logger.error({ err: (error as Error)?.message, rows: rows.length }, 'storing klines failed; holding the batch and retrying');
        this.stats.stalled = true;
        // Keep the batch ours while we retry (otherwise the server redelivers it after ack_wait).
        for (const m of messages) m.working();
        await sleep(delay);
        delay = Math.min(delay * 2, o.backoffMaxMs);
      }
    }
    if (this.stats.stalled) o.logger.info({ rows: rows.length }, 'storing klines works again');
    this.stats.stalled = false;
    this.stats.messages += messages.length;
    this.stats.rows += rows.length;
    this.stats.lastWriteAt = o.now();
    for (const m of messages) m.ack();
    for (const r of rebuilds) o.onRebuilds?.(r.venue, r.market, r.ranges);
  }
}

function compareKeys(a: KlineRow, b: KlineRow): number {
  const x = a.kline;
  const y = b.kline;
  if (a.venue !== b.venue) return a.venue < b.venue ? -1 : 1;
  if (a.market !== b.market) return a.market < b.market ? -1 : 1;
  if (x.symbol !== y.symbol) return x.symbol < y.symbol ? -1 : 1;
  if (x.interval !== y.interval) return x.interval < y.interval ? -1 : 1;
  return x.openTime - y.openTime;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
