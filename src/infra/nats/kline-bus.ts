/**
 * The aggregators' outputs: durable kline batches to JetStream (`kl.db.<p>`, for the writers; resolves only once
 * the stream acknowledged them — the outbox rule: a checkpoint covering an input is written only after the outputs
 * derived from it are durable), and live klines on Core NATS (`kl.live.<p>.<venue>.<market>.<symbol>`, at most once,
 * for the stream servers; a lost one heals with the next version).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { JetStreamClient } from '@nats-io/jetstream';
import { encodeKlineBatch, type KlineBatchMessage } from '../../domain/cluster-messages.ts';
import type { Kline } from '../../domain/kline.ts';
import type { ClusterNames } from './cluster-layout.ts';

export interface KlineBusStats {
  durableBatches: number;
  durableKlines: number;
  durableRetries: number;
  liveMessages: number;
}

/** Klines per durable message at most: ~400 B each as JSON, so a message stays well under NATS's 1 MB default. */
const DURABLE_CHUNK_KLINES = 1000;

export class KlineBus {
  readonly stats: KlineBusStats = { durableBatches: 0, durableKlines: 0, durableRetries: 0, liveMessages: 0 };
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #names: ClusterNames;
  readonly #node: string;
  #counter = 0;
  #closed = false;

  constructor(nc: NatsConnection, js: JetStreamClient, names: ClusterNames, node: string) {
    this.#nc = nc;
    this.#js = js;
    this.#names = names;
    this.#node = node;
  }

  /**
   * Resolves once the batch is durable; retries (same message id) until it is, or until `close`. A large batch (a
   * replay's catch-up) goes out in chunks that stay far below the server's maximum payload.
   */
  async publishDurable(batch: KlineBatchMessage, onRetry?: (error: unknown) => void): Promise<boolean> {
    if (batch.klines.length <= DURABLE_CHUNK_KLINES) return this.#publishChunk(batch, onRetry);
    for (let start = 0; start < batch.klines.length; start += DURABLE_CHUNK_KLINES) {
      // Rebuild requests travel with the first chunk.
      const chunk = { ...batch, klines: batch.klines.slice(start, start + DURABLE_CHUNK_KLINES), ...(start > 0 ? { rebuilds: undefined } : {}) };
      if (!(await this.#publishChunk(chunk, onRetry))) return false;
    }
    return true;
  }

  async #publishChunk(batch: KlineBatchMessage, onRetry?: (error: unknown) => void): Promise<boolean> {
    const payload = encodeKlineBatch(batch);
    const msgID = `${this.#node}.${batch.partition}.${batch.epoch}.${++this.#counter}`;
    for (let attempt = 1; !this.#closed; attempt++) {
      try {
        await this.#js.publish(this.#names.durableKlineSubject(batch.partition), payload, { msgID, timeout: 5000 });
        this.stats.durableBatches++;
        this.stats.durableKlines += batch.klines.length;
        return true;
      } catch (error) {
        this.stats.durableRetries++;
        onRetry?.(error);
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 100 * attempt)));
      }
    }
    return false;
  }

  /** Fire and forget: one message per symbol with its changed klines. */
  publishLive(partition: number, epoch: number, position: number, venue: string, market: string, klines: readonly Kline[]): void {
    if (this.#closed || this.#nc.isClosed()) return;
    const bySymbol = new Map<string, Kline[]>();
    for (const kline of klines) {
      const list = bySymbol.get(kline.symbol);
      if (list === undefined) bySymbol.set(kline.symbol, [kline]);
      else list.push(kline);
    }
    for (const [symbol, list] of bySymbol) {
      try {
        this.#nc.publish(this.#names.liveKlineSubject(partition, venue, market, symbol), encodeKlineBatch({ partition, epoch, position, venue, market, klines: list }));
        this.stats.liveMessages++;
      } catch {
        // The connection is closing or reconnecting: live klines are at most once; the next version heals it.
      }
    }
  }

  close(): void {
    this.#closed = true;
  }
}
