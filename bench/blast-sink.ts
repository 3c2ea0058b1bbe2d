/**
 * The load generator's ceiling as a client sees it, in a process of its own: subscribes to every given `@aggTrade`
 * stream over `--connections` connections (streams dealt round-robin) and only counts the market-data messages.
 * - `--mode ws` (default): a bare `ws` client, one 'message' event per frame — what any Node client pays at least.
 * - `--mode frames`: the upgrade and the SUBSCRIBE by hand, then the socket's bytes walked frame header to frame
 *   header (text frames counted, payloads skipped) — close to what TCP alone carries.
 * Prints `{"event":"sinkSubscribed"}` once every SUBSCRIBE is sent, then, once `--expect` messages have come,
 * `{"event":"sinkDone","at","messages","cpuUserMs","cpuSystemMs"}` (at: performance.timeOrigin + performance.now()) and
 * exits. Run by bench/exchange-ingest.ts against `klagg fake-exchange --blast`.
 *
 *   node bench/blast-sink.ts --url ws://127.0.0.1:PORT --streams a@aggTrade,b@aggTrade --expect N [--connections 2] [--mode ws|frames]
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { request, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    streams: { type: 'string' },
    expect: { type: 'string' },
    connections: { type: 'string', default: '2' },
    mode: { type: 'string', default: 'ws' },
    'timeout-ms': { type: 'string', default: '300000' },
  },
});
if (values.url === undefined || values.streams === undefined || values.expect === undefined || (values.mode !== 'ws' && values.mode !== 'frames')) {
  process.stderr.write('usage: blast-sink.ts --url ws://HOST:PORT --streams s1,s2,… --expect N [--connections K] [--mode ws|frames]\n');
  process.exit(2);
}
const url = values.url;
const streams = values.streams.split(',');
const expect = Number(values.expect);
const connections = Math.max(1, Math.min(Number(values.connections), streams.length));
const cpu = process.cpuUsage();
let messages = 0;
const closers: (() => void)[] = [];

const timeout = setTimeout(() => {
  process.stderr.write(`blast sink: only ${messages} of ${expect} messages within ${values['timeout-ms']} ms\n`);
  process.exit(1);
}, Number(values['timeout-ms']));

function counted(): void {
  if (++messages !== expect) return;
  const at = performance.timeOrigin + performance.now();
  const used = process.cpuUsage(cpu);
  process.stdout.write(`${JSON.stringify({ event: 'sinkDone', at, messages, cpuUserMs: used.user / 1000, cpuSystemMs: used.system / 1000 })}\n`);
  clearTimeout(timeout);
  for (const close of closers) close();
}

function fail(error: Error): never {
  process.stderr.write(`blast sink: ${error.message}\n`);
  process.exit(1);
}

async function openWs(mine: readonly string[]): Promise<void> {
  const socket = new WebSocket(`${url}/market/stream`, { perMessageDeflate: false });
  closers.push(() => socket.terminate());
  socket.on('error', fail);
  await once(socket, 'open');
  socket.on('message', (data: Buffer) => {
    // `{"stream":…`: market data (a reply starts `{"result"` / `{"error"` / `{"id"`).
    if (data[2] === 0x73) counted();
  });
  socket.send(JSON.stringify({ method: 'SUBSCRIBE', params: mine, id: 1 }));
}

/** A client→server text frame (masked, as the protocol requires of clients). */
function maskedTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const header = payload.length < 126 ? Buffer.from([0x81, 0x80 | payload.length]) : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  if (payload.length >= 65_536) throw new RangeError('SUBSCRIBE too large for this sink');
  const mask = randomBytes(4);
  for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
  return Buffer.concat([header, mask, payload]);
}

async function openFrames(mine: readonly string[]): Promise<void> {
  const target = new URL(`${url.replace(/^ws/, 'http')}/market/stream`);
  const upgrade = request({
    host: target.hostname,
    port: target.port,
    path: target.pathname,
    headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': randomBytes(16).toString('base64') },
  });
  upgrade.on('error', fail);
  upgrade.end();
  const [, socket, head] = (await once(upgrade, 'upgrade')) as [IncomingMessage, Socket, Buffer];
  closers.push(() => socket.destroy());
  socket.on('error', fail);
  // Text frames before the first market frame: the SUBSCRIBE reply (one).
  let replies = 1;
  let skip = 0;
  let carry: Buffer | undefined;
  const onData = (data: Buffer): void => {
    const chunk = carry === undefined ? data : Buffer.concat([carry, data]);
    carry = undefined;
    let at = 0;
    while (at < chunk.length) {
      if (skip > 0) {
        const n = Math.min(skip, chunk.length - at);
        skip -= n;
        at += n;
        continue;
      }
      if (chunk.length - at < 2) break;
      const length7 = chunk[at + 1]! & 0x7f;
      const header = length7 < 126 ? 2 : length7 === 126 ? 4 : 10;
      if (chunk.length - at < header) break;
      const length = length7 < 126 ? length7 : length7 === 126 ? chunk.readUInt16BE(at + 2) : chunk.readUInt32BE(at + 2) * 2 ** 32 + chunk.readUInt32BE(at + 6);
      if ((chunk[at]! & 0x0f) === 1) {
        if (replies > 0) replies--;
        else counted();
      }
      at += header;
      skip = length;
    }
    if (at < chunk.length) carry = Buffer.from(chunk.subarray(at));
  };
  if (head.length > 0) onData(head);
  socket.on('data', onData);
  socket.write(maskedTextFrame(JSON.stringify({ method: 'SUBSCRIBE', params: mine, id: 1 })));
}

for (let c = 0; c < connections; c++) {
  const mine = streams.filter((_, i) => i % connections === c);
  await (values.mode === 'ws' ? openWs(mine) : openFrames(mine));
}
process.stdout.write(`${JSON.stringify({ event: 'sinkSubscribed', connections, mode: values.mode })}\n`);
