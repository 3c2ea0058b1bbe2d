/** Test helpers for the kline stream server: a batch source port, a server on loopback, a queuing ws client. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import type { PublishedBatch } from '../../../src/domain/messages.ts';
import type { Kline } from '../../../src/domain/kline.ts';
import { createRootLogger } from '../../../src/infra/logger.ts';
import { systemClock } from '../../../src/infra/clock.ts';
import { KlineStreamServer, type KlineStreamServerOptions } from '../../../src/infra/stream-server/stream-server.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

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
  const streams = new KlineStreamServer({ clock: systemClock, logger: createRootLogger({ level: 'silent' }), ...options, server: http, source: options.source ?? source });
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

export interface Closed {
  readonly code: number;
  readonly reason: string;
}

export class Client {
  readonly ws: WebSocket;
  readonly received: Json[] = [];
  readonly closed: Promise<Closed>;
  #read = 0;
  #wake: (() => void) | undefined;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      this.received.push(JSON.parse(String(data)));
      this.#wake?.();
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.#wake?.();
        resolve({ code, reason: reason.toString() });
      });
    });
    ws.on('error', () => {});
  }

  static open(url: string): Promise<Client> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      const client = new Client(ws);
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body })));
      });
    });
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The next unread message matching `predicate` (earlier non-matching ones are skipped). */
  async next(predicate: (message: Json) => boolean = () => true, timeoutMs = 3000): Promise<Json> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.#read < this.received.length) {
        const message = this.received[this.#read++];
        if (predicate(message)) return message;
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.ws.readyState === WebSocket.CLOSED) throw new Error('no matching message arrived');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          this.#wake = undefined;
          resolve();
        };
      });
    }
  }

  /** Sends a request and waits for the reply carrying its id. */
  async request(message: { id?: unknown; [key: string]: unknown }): Promise<Json> {
    this.send(message);
    return this.next((m) => m !== null && typeof m === 'object' && 'id' in m && m.id === message.id);
  }

  /** The kline events received so far (raw or combined `data`). */
  events(): Json[] {
    return this.received.filter((m) => m?.e === 'kline' || m?.data?.e === 'kline').map((m) => (m.e === 'kline' ? m : m.data));
  }

  close(): void {
    this.ws.terminate();
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
