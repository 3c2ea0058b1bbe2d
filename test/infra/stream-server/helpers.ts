/** Test helpers for the kline stream server: a batch source port driven by hand, a server on loopback, a kline. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PublishedBatch } from '../../../src/domain/messages.ts';
import type { Kline } from '../../../src/domain/kline.ts';
import { createRootLogger } from '../../../src/infra/logger.ts';
import { systemClock } from '../../../src/infra/clock.ts';
import { INTERVALS } from '../../../src/domain/interval.ts';
import { KlineStreamServer, type KlineStreamServerOptions } from '../../../src/infra/stream-server/stream-server.ts';

/** The batch port as the Gateway offers it, driven by hand. */
export class BatchSource {
  readonly #listeners = new Set<(batch: PublishedBatch) => void>();
  #seq = 0;
  onBatch(listener: (batch: PublishedBatch) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  publish(batch: { finals?: Kline[]; updates?: Kline[] }): void {
    const full: PublishedBatch = { seq: ++this.#seq, finals: batch.finals ?? [], updates: batch.updates ?? [], missingWorkers: [] };
    for (const listener of this.#listeners) listener(full);
  }
  get listenerCount(): number {
    return this.#listeners.size;
  }
}

export const MINUTE = 60_000;
export const T0 = 1784550840000;

export function kline(overrides: Partial<Kline> = {}): Kline {
  return {
    symbol: 'BTCUSDT',
    interval: '1m',
    openTime: T0,
    closeTime: T0 + MINUTE - 1,
    open: '67245.90',
    high: '67251.30',
    low: '67240.00',
    close: '67249.50',
    volume: '41.207',
    quoteVolume: '2771020.31522',
    tradeCount: 812,
    takerBuyVolume: '23.905',
    takerBuyQuoteVolume: '1607542.07154',
    firstTradeId: 7012340001,
    lastTradeId: 7012345675,
    lastAggId: 3250112346,
    isFinal: false,
    ...overrides,
  };
}

export interface Harness {
  readonly http: Server;
  readonly source: BatchSource;
  readonly streams: KlineStreamServer;
  readonly base: string;
  close(): Promise<void>;
}

/** A stream server on a fresh loopback HTTP server, fed by `h.source` unless `options.source` names another port. */
export async function startHarness(options: Partial<Omit<KlineStreamServerOptions, 'server'>> = {}): Promise<Harness> {
  const http = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const source = new BatchSource();
  const streams = new KlineStreamServer({ clock: systemClock, logger: createRootLogger({ level: 'silent' }), intervals: INTERVALS, ...options, server: http, source: options.source ?? source });
  const { port } = http.address() as AddressInfo;
  return {
    http,
    source,
    streams,
    base: `ws://127.0.0.1:${port}`,
    async close() {
      await streams.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

