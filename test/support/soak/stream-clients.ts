/**
 * The soak's stream clients: each opens klagg's combined stream (`/stream?streams=a/b/c`, Binance's form) on a few
 * `<symbol>@kline_<interval>` streams and keeps the last kline event of each. When the service goes away (SIGKILL,
 * restart) a client reconnects — with the streams in the URL, which is its resubscription — every 500 ms until it is
 * back, then reads each stream's current kline over REST (see #resync). A client that the service drops (a slow
 * consumer) reconnects the same way; both are counted.
 */
import { WebSocket } from 'ws';
import type { KlineEventBody as WireKlineEventBody } from '../../../src/infra/binance-ws/kline-event.ts';
import type { ChartKline } from '../../../src/infra/http/chart-api-routes.ts';

/** The part of a kline event's `k` the clients compare (what `/api/klines` can also give after a reconnect). */
export type KlineEventBody = Omit<WireKlineEventBody, 'f' | 'L' | 'B'>;

class StreamClient {
  readonly streams: readonly string[];
  /** The last kline event of each stream. */
  readonly last = new Map<string, KlineEventBody>();
  events = 0;
  reconnects = 0;
  connected = false;
  #ws: WebSocket | undefined;
  #stopped = false;
  #opened = false;
  resyncs = 0;
  readonly #url: string;
  readonly #httpBase: string;

  constructor(base: string, streams: readonly string[]) {
    this.streams = streams;
    this.#url = `${base}/stream?streams=${streams.join('/')}`;
    this.#httpBase = base.replace(/^ws/, 'http');
  }

  open(): void {
    if (this.#stopped) return;
    const ws = new WebSocket(this.#url, { perMessageDeflate: false });
    this.#ws = ws;
    const since = new Set<string>();
    ws.on('open', () => {
      if (this.#opened) this.reconnects++;
      this.#opened = true;
      this.connected = true;
      void this.#resync(ws, since);
    });
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as { stream?: string; data?: { e?: string; k?: KlineEventBody } };
      if (message.stream === undefined || message.data?.e !== 'kline' || message.data.k === undefined) return;
      this.events++;
      since.add(message.stream);
      this.last.set(message.stream, message.data.k);
    });
    ws.on('error', () => {});
    ws.on('close', () => {
      this.connected = false;
      if (!this.#stopped) setTimeout(() => this.open(), 500);
    });
  }

  /**
   * A stream sends no snapshot (Binance's neither): what changed while the client was away comes with the next change,
   * or never. So after every (re)connect it reads each stream's latest kline over klagg's REST (`/api/klines`, which
   * merges the live open kline and says whether it is final), as a Binance client must; an event that arrives on the
   * new connection before the answer is newer, and wins.
   */
  async #resync(ws: WebSocket, since: Set<string>): Promise<void> {
    for (const stream of this.streams) {
      const [symbol, interval] = [stream.slice(0, stream.indexOf('@')).toUpperCase(), stream.slice(stream.indexOf('_') + 1)];
      // Until it has an answer (a service just started, busy catching up, may be slow) or this connection is gone.
      while (this.#ws === ws && ws.readyState === WebSocket.OPEN) {
        try {
          const response = await fetch(`${this.#httpBase}/api/klines?symbol=${symbol}&interval=${interval}&limit=1`, { signal: AbortSignal.timeout(10_000) });
          if (!response.ok) throw new Error(`HTTP ${response.status}`);
          const k = ((await response.json()) as { klines: ChartKline[] }).klines.at(-1);
          if (k !== undefined && !since.has(stream) && this.#ws === ws) {
            this.resyncs++;
            this.last.set(stream, { t: k.openTime, T: k.closeTime, s: symbol, i: interval, o: k.open, c: k.close, h: k.high, l: k.low, v: k.volume, n: k.tradeCount, x: k.final, q: k.quoteVolume, V: k.takerBuyVolume, Q: k.takerBuyQuoteVolume });
          }
          break;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 1_000));
        }
      }
    }
  }

  close(): void {
    this.#stopped = true;
    this.#ws?.terminate();
  }
}

export class StreamClients {
  readonly clients: StreamClient[];

  /** `count` clients on `base` (ws://host:port), client i on `streamsOf(i)`. */
  constructor(base: string, count: number, streamsOf: (i: number) => readonly string[]) {
    this.clients = Array.from({ length: count }, (_, i) => new StreamClient(base, streamsOf(i)));
  }

  open(): void {
    for (const client of this.clients) client.open();
  }

  get connected(): number {
    return this.clients.filter((c) => c.connected).length;
  }

  get reconnects(): number {
    return this.clients.reduce((sum, c) => sum + c.reconnects, 0);
  }

  get resyncs(): number {
    return this.clients.reduce((sum, c) => sum + c.resyncs, 0);
  }

  get events(): number {
    return this.clients.reduce((sum, c) => sum + c.events, 0);
  }

  /** Every (stream, last event) of every client, a copy taken now. */
  lastEvents(): { stream: string; kline: KlineEventBody | undefined }[] {
    return this.clients.flatMap((c) => c.streams.map((stream) => ({ stream, kline: c.last.get(stream) })));
  }

  close(): void {
    for (const client of this.clients) client.close();
  }
}
