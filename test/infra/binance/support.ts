/**
 * Test helpers for the Binance REST client: a minimal node:http server on 127.0.0.1 (port 0) whose handler plays the
 * exchange, and simulated time that only moves when the client has nothing in flight.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { ManualClock } from '../../../src/infra/clock.ts';

export interface SeenRequest {
  readonly path: string;
  readonly query: URLSearchParams;
}

export type Handler = (request: SeenRequest, response: ServerResponse, raw: IncomingMessage) => void | Promise<void>;

export interface TestServer {
  readonly baseUrl: string;
  readonly port: number;
  readonly requests: SeenRequest[];
  close(): Promise<void>;
}

export async function startServer(handler: Handler): Promise<TestServer> {
  const requests: SeenRequest[] = [];
  const server = createServer((raw, response) => {
    const url = new URL(raw.url ?? '/', 'http://127.0.0.1');
    const request = { path: url.pathname, query: url.searchParams };
    requests.push(request);
    Promise.resolve(handler(request, response, raw)).catch((error: unknown) => {
      response.statusCode = 599;
      response.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string | number> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(typeof body === 'string' ? body : JSON.stringify(body));
}

/**
 * Simulated time. `sleep(ms)` registers a timer; when nothing is in flight (`busy()` false) the clock jumps to the
 * earliest timer and fires it. So no simulated time passes while a request travels: a request's arrival time on the
 * server (read from the same clock) is its send time.
 */
export class FakeTime {
  readonly clock: ManualClock;
  /** Every sleep asked for, in ms, in order. */
  readonly sleeps: number[] = [];
  #timers: { at: number; resolve: () => void }[] = [];
  #scheduled = false;
  #busy: () => boolean = () => false;

  constructor(start: number) {
    this.clock = new ManualClock(start);
  }

  busyWhen(busy: () => boolean): void {
    this.#busy = busy;
  }

  readonly sleep = (ms: number): Promise<void> => {
    this.sleeps.push(ms);
    return new Promise<void>((resolve) => {
      this.#timers.push({ at: this.clock.now() + Math.max(0, ms), resolve });
      this.#schedule();
    });
  };

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#tick());
  }

  #tick(): void {
    this.#scheduled = false;
    if (this.#timers.length === 0) return;
    if (this.#busy()) {
      this.#schedule();
      return;
    }
    this.#timers.sort((a, b) => a.at - b.at);
    const at = this.#timers[0]!.at;
    if (at > this.clock.now()) this.clock.set(at);
    const due = this.#timers.filter((timer) => timer.at <= at);
    this.#timers = this.#timers.filter((timer) => timer.at > at);
    for (const timer of due) timer.resolve();
    if (this.#timers.length > 0) this.#schedule();
  }
}

/** A pino logger whose lines land in `lines` (parsed). */
export function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

/** The rejection of a promise, or undefined if it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

/** 2026-07-20 12:34:00 UTC, a minute boundary. */
export const MINUTE_START = 1_784_550_840_000;
