/**
 * A stream server's live klines: a Core NATS subscription to every partition's live subject of a venue-market
 * (the wildcard on the partition token needs no hash), decoded and passed through the monotone filter, then handed
 * on as published batches — the shape the Binance-compatible stream server and the REST view already take.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { decodeKlineBatch } from '../../domain/cluster-messages.ts';
import type { BatchListener, PublishedBatch } from '../../domain/messages.ts';
import { MonotoneKlineFilter } from '../../domain/monotone-klines.ts';
import type { Kline } from '../../domain/kline.ts';
import type { ClusterNames } from './cluster-layout.ts';

export interface LiveFeedStats {
  messages: number;
  klines: number;
  /** Klines dropped as not newer than what was already passed (re-emissions after a failover, a zombie's output). */
  stale: number;
  malformed: number;
}

export class LiveKlineFeed {
  readonly stats: LiveFeedStats = { messages: 0, klines: 0, stale: 0, malformed: 0 };
  readonly #listeners = new Set<BatchListener>();
  readonly #filter = new MonotoneKlineFilter();
  #subscription: Subscription | null = null;
  #seq = 0;

  start(nc: NatsConnection, names: ClusterNames, venue: string, market: string): void {
    this.#subscription = nc.subscribe(names.liveKlineWildcard(venue, market), {
      callback: (error, msg) => {
        if (error) return;
        this.stats.messages++;
        const batch = decodeKlineBatch(msg.data);
        if (batch === null) {
          this.stats.malformed++;
          return;
        }
        const finals: Kline[] = [];
        const updates: Kline[] = [];
        for (const kline of batch.klines) {
          if (!this.#filter.accept(kline)) {
            this.stats.stale++;
            continue;
          }
          this.stats.klines++;
          (kline.isFinal ? finals : updates).push(kline);
        }
        if (finals.length + updates.length === 0) return;
        const published: PublishedBatch = Object.freeze({ seq: ++this.#seq, finals, updates, missingWorkers: [] });
        for (const listener of this.#listeners) listener(published);
      },
    });
  }

  onBatch(listener: BatchListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#subscription?.unsubscribe();
    this.#subscription = null;
    this.#listeners.clear();
  }
}
