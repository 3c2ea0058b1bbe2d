/**
 * The stream clients of the latency bench (bench/stream-latency.ts), in a process of their own so that their work
 * (reading and parsing hundreds of thousands of messages) is not charged to the service's event loop.
 *
 * `node bench/stream-clients.ts '<json: {url, clients, out}>'` opens `clients` sockets on `url`; once all are open it
 * prints `ready` and records every kline message: its receive time (`performance.timeOrigin + performance.now()`,
 * comparable with the bench process's stamps on this machine) and the fields the bench needs. Every client of a
 * stream gets the same bytes, so each distinct message is parsed once and its receipts are kept as a histogram of
 * whole milliseconds after the first one. On `stop` (stdin) it closes the sockets, writes the samples to `out` and
 * prints `done`.
 */
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';

export interface ClientsConfig {
  readonly url: string;
  readonly clients: number;
  /** Where the samples go (JSON, `ClientSamples`). */
  readonly out: string;
}

/** One distinct kline message: `[s, t, T, L, x, E, first receipt, [ms after the first, receipts, …]]`. */
export type EventSample = [string, number, number, number, boolean, number, number, number[]];

export interface ClientSamples {
  readonly events: EventSample[];
  /** Messages per client while recording (all clients should have the same count). */
  readonly minPerClient: number;
  readonly maxPerClient: number;
  readonly messages: number;
  /** This process's CPU (user + system) while recording, µs, and how long it recorded, ms. */
  readonly cpuMicros: number;
  readonly recordedMs: number;
  /** `Date.now() − (timeOrigin + now())` here, for a check of the two processes' time bases. */
  readonly dateOffsetMs: number;
}

interface Event {
  readonly sample: EventSample;
  readonly first: number;
  readonly histogram: Map<number, number>;
}

const config = JSON.parse(process.argv[2] ?? '{}') as ClientsConfig;
const events = new Map<string, Event>();
const perClient = new Array<number>(config.clients).fill(0);
let recording = false;
let messages = 0;

function receive(client: number, data: Buffer): void {
  const at = performance.timeOrigin + performance.now();
  if (!recording) return;
  messages++;
  perClient[client]!++;
  const text = data.toString('utf8');
  let event = events.get(text);
  if (event === undefined) {
    const message = JSON.parse(text) as { data?: { E: number; k: { s: string; t: number; T: number; L: number; x: boolean } } };
    const body = message.data;
    if (body === undefined) return; // a reply, not a kline event
    event = { sample: [body.k.s, body.k.t, body.k.T, body.k.L, body.k.x, body.E, at, []], first: at, histogram: new Map() };
    events.set(text, event);
  }
  const bucket = Math.floor(at - event.first);
  event.histogram.set(bucket, (event.histogram.get(bucket) ?? 0) + 1);
}

const sockets: WebSocket[] = [];
for (let start = 0; start < config.clients; start += 50) {
  // In groups, so that the service's accept queue never overflows.
  const group = Array.from({ length: Math.min(50, config.clients - start) }, (_, i) => {
    const client = start + i;
    return new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(config.url, { perMessageDeflate: false });
      ws.on('message', (data: Buffer) => receive(client, data));
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    });
  });
  sockets.push(...(await Promise.all(group)));
}
for (const ws of sockets) ws.on('error', () => {});

const cpuStart = process.cpuUsage();
const startedAt = performance.now();
recording = true;
process.stdout.write('ready\n');

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'stop') return;
  recording = false;
  const cpu = process.cpuUsage(cpuStart);
  const recordedMs = performance.now() - startedAt;
  for (const ws of sockets) ws.terminate();
  const samples: ClientSamples = {
    events: [...events.values()].map(({ sample, histogram }) => {
      sample[7] = [...histogram].flat();
      return sample;
    }),
    minPerClient: Math.min(...perClient),
    maxPerClient: Math.max(...perClient),
    messages,
    cpuMicros: cpu.user + cpu.system,
    recordedMs,
    dateOffsetMs: Date.now() - (performance.timeOrigin + performance.now()),
  };
  writeFileSync(config.out, JSON.stringify(samples));
  process.stdout.write('done\n');
  process.exit(0);
});
