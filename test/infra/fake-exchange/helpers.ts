/** Test helpers for the fake exchange: a WebSocket client that queues what it receives, and small REST helpers. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { WebSocket, type ClientOptions } from 'ws';
import { FakeExchange, type MarketSource } from '../../../src/infra/fake-exchange/fake-exchange.ts';
import { ManualScheduler } from '../../../src/infra/fake-exchange/scheduler.ts';
import { generateTrades } from '../../../src/domain/synthetic-market.ts';
import type { AggTrade } from '../../../src/domain/agg-trade.ts';
import { toAggTradeEvent } from '../../../src/domain/agg-trade.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface Closed {
  readonly code: number;
  readonly reason: string;
}

export class Client {
  readonly ws: WebSocket;
  /** Every text message received, parsed, in order. */
  readonly received: Json[] = [];
  readonly closed: Promise<Closed>;
  pings = 0;
  #read = 0;
  #wake: (() => void) | undefined;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      this.received.push(JSON.parse(String(data)));
      this.#wake?.();
    });
    ws.on('ping', () => {
      this.pings++;
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.#wake?.();
        resolve({ code, reason: reason.toString() });
      });
    });
    ws.on('error', () => {});
  }

  static open(url: string, options?: ClientOptions): Promise<Client> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, options);
      const client = new Client(ws);
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
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

  /** Sends a request and waits for the reply with its id. */
  async request(message: { id: number; [key: string]: unknown }): Promise<Json> {
    this.send(message);
    return this.next((m) => m !== null && typeof m === 'object' && !Array.isArray(m) && m.id === message.id);
  }

  /** Waits until `count` messages matching `predicate` have been received in total (read or not). */
  async waitCount(predicate: (message: Json) => boolean, count: number, timeoutMs = 3000): Promise<Json[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const matching = this.received.filter(predicate);
      if (matching.length >= count) return matching;
      if (Date.now() > deadline) throw new Error(`only ${matching.length} of ${count} messages arrived`);
      await sleep(5);
    }
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The aggTrade payload of a message (raw or combined), or undefined. */
export function aggTradeOf(message: Json): Json | undefined {
  const data = message && typeof message === 'object' && 'stream' in message ? message.data : message;
  return data && typeof data === 'object' && data.e === 'aggTrade' ? data : undefined;
}

export const isAggTrade = (message: Json): boolean => aggTradeOf(message) !== undefined;

export async function getJson(url: string): Promise<{ status: number; body: Json; headers: Headers }> {
  const response = await fetch(url);
  const text = await response.text();
  return { status: response.status, body: text.length > 0 ? JSON.parse(text) : undefined, headers: response.headers };
}

/** Writes a recording of generated trades (one aggTrade frame per line) and returns its path and the trades. */
export function writeRecording(options: { seed: number; symbols: number; trades: number; startTime: number; rate?: number; receiveTimes?: boolean }): {
  path: string;
  trades: AggTrade[];
} {
  const trades = [...generateTrades({ seed: options.seed, symbols: options.symbols, trades: options.trades, startTime: options.startTime, meanRatePerSecond: options.rate ?? 50 })];
  const dir = mkdtempSync(join(tmpdir(), 'klagg-fake-'));
  const path = join(dir, 'recording.jsonl');
  const lines = trades.map((trade) => {
    const frame = JSON.stringify(toAggTradeEvent(trade));
    return options.receiveTimes ? `${trade.tradeTime + 3}\t${frame}` : frame;
  });
  writeFileSync(path, `${lines.join('\n')}\n`);
  return { path, trades };
}

/**
 * A fake exchange on a ManualScheduler (time moves only when the test says) with the clients a test opens, all closed
 * at teardown; `flush` round-trips a request so every frame sent before it has arrived.
 */
export async function startManualExchange(t: Test, source: MarketSource, options: { autoPublish: boolean; startTime: number }) {
  const scheduler = new ManualScheduler(options.startTime);
  const fx = await FakeExchange.start({ source, autoPublish: options.autoPublish, clock: scheduler });
  const clients: Client[] = [];
  t.teardown(async () => {
    clients.forEach((c) => c.close());
    await fx.close();
  });
  const [A, B] = fx.market.symbols().map((s) => s.symbol) as [string, string];
  let requestId = 1;
  return {
    scheduler,
    fx,
    A,
    B,
    async open(path: string): Promise<Client> {
      const client = await Client.open(`${fx.wsUrl}${path}`);
      clients.push(client);
      return client;
    },
    flush: (client: Client) => client.request({ method: 'LIST_SUBSCRIPTIONS', id: requestId++ }),
  };
}
