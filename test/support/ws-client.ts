/**
 * The one WebSocket client of the tests: opens a socket on a URL, keeps every JSON message it receives in order, and
 * waits (with a timeout) for a message matching a predicate. Used against the fake exchange, klagg's kline stream
 * server and a running `klagg demo` alike.
 */
import type { Test } from 'tap';
import { WebSocket, type ClientOptions } from 'ws';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface Closed {
  readonly code: number;
  readonly reason: string;
}

/** A refused upgrade: the HTTP status and body the server answered with instead. */
export interface RefusedUpgrade extends Error {
  readonly status: number;
  readonly body: string;
}

export class WsClient {
  readonly ws: WebSocket;
  /** Every text message received, parsed, in order. */
  readonly received: Json[] = [];
  /** Resolves once the socket has closed, with the close code and reason. */
  readonly closed: Promise<Closed>;
  /** Pings received from the server. */
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
    // A socket error also closes the socket; `closed` and the waits report it.
    ws.on('error', () => {});
  }

  /**
   * Opens `url` (no compression offered unless `options` says so: neither server here speaks it). A refused upgrade
   * rejects with `HTTP <status>` and carries the status and body.
   */
  static open(url: string, options: ClientOptions = {}): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, ...options });
      const client = new WsClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
      ws.once('unexpected-response', (_request, response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => reject(Object.assign(new Error(`HTTP ${response.statusCode}`), { status: response.statusCode, body })));
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
      if (left <= 0 || this.ws.readyState === WebSocket.CLOSED) throw new Error(`no matching message arrived within ${timeoutMs} ms`);
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
    return this.next((m) => m !== null && typeof m === 'object' && !Array.isArray(m) && 'id' in m && m.id === message.id);
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

  /** The kline events received so far (raw, or the `data` of a combined-stream message). */
  events(): Json[] {
    return this.received.filter((m) => m?.e === 'kline' || m?.data?.e === 'kline').map((m) => (m.e === 'kline' ? m : m.data));
  }

  /** Drops the connection at once (no closing handshake); nothing if it is already closed. */
  close(): void {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens clients on `base` + a path (another base if given), each one closed at `t`'s teardown. */
export function clientsOf(t: Pick<Test, 'teardown'>, base: string): (path: string, otherBase?: string) => Promise<WsClient> {
  const clients: WsClient[] = [];
  t.teardown(() => clients.forEach((client) => client.close()));
  return async (path, otherBase = base) => {
    const client = await WsClient.open(`${otherBase}${path}`);
    clients.push(client);
    return client;
  };
}
