/**
 * The blast mode (`--blast`): every frame once per connection, in per-symbol (and recording) order, byte for byte the
 * normal mode's, over several connections with different symbol sets; control frames interleaved mid-blast stay
 * whole; frames split by TCP between two reads still parse; REST shows what was sent (nothing before, nothing after
 * the rewind); later connections make a second round.
 */
import t from 'tap';
import * as wsModule from 'ws';
import { WebSocket } from 'ws';
import { Market } from '../../../src/infra/fake-exchange/market.ts';
import { publishAllAsFrames, writeTextFrameHeader, frameHeaderLength, type BlastFrames } from '../../../src/infra/fake-exchange/blast-frames.ts';
import { FakeExchange, type BlastEvent } from '../../../src/infra/fake-exchange/fake-exchange.ts';
import { systemScheduler } from '../../../src/infra/fake-exchange/scheduler.ts';
import { blastChunks } from '../../../src/infra/fake-exchange/ws-blast.ts';
import { SeededRandom } from '../../../src/domain/seeded-random.ts';
import { sleep } from '../../support/ws-client.ts';
import { getJson, writeRecording } from './helpers.ts';

const START = Date.UTC(2026, 0, 5);
const stream = (symbol: string) => `${symbol.toLowerCase()}@aggTrade`;

/** A client keeping every message's text (unparsed) and counting socket reads that end inside a frame. */
class RawClient {
  readonly ws: WebSocket;
  readonly texts: string[] = [];
  pongs = 0;
  /** Socket reads after which a frame was still incomplete (split by TCP between two reads). */
  splitReads = 0;
  #read = 0;
  #framed = 0;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data: Buffer) => {
      this.texts.push(data.toString('utf8'));
      this.#framed += frameHeaderLength(data.length) + data.length;
    });
    ws.on('pong', (data: Buffer) => {
      this.pongs++;
      this.#framed += 2 + data.length;
    });
    ws.on('error', () => {});
  }

  static open(url: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      // Synchronous events: a read's complete frames are counted before the read listener below runs.
      const ws = new WebSocket(url, { perMessageDeflate: false, allowSynchronousEvents: true });
      const client = new RawClient(ws);
      ws.once('open', () => {
        const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
        // Registered after ws's own listener: runs once ws has parsed the read.
        socket.on('data', (chunk: Buffer) => {
          client.#read += chunk.length;
          if (client.#read !== client.#framed) client.splitReads++;
        });
        resolve(client);
      });
      ws.once('error', reject);
    });
  }

  /** Only valid when the client subscribed after 'open' (the upgrade's trailing bytes are not counted). */
  send(message: unknown): void {
    this.ws.send(JSON.stringify(message));
  }

  async waitFor(count: number, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.texts.length < count) {
      if (Date.now() > deadline) throw new Error(`only ${this.texts.length} of ${count} messages arrived`);
      await sleep(5);
    }
  }

  close(): void {
    this.ws.terminate();
  }
}

const isTrade = (text: string) => text.includes('"e":"aggTrade"');
const symbolOfText = (text: string) => /"s":"([^"]+)"/.exec(text)![1]!;

// ~8 MB of frames: more than loopback's socket buffers take from a paused reader, so a paused client holds the blast
// up mid-way.
const recording = writeRecording({ seed: 12, symbols: 6, trades: 40_000, startTime: START, rate: 2000 });

/** The normal mode's frames (speed max, one connection on every symbol), in the order sent. */
async function normalModeFrames(): Promise<string[]> {
  const fx = await FakeExchange.start({ source: { kind: 'recording', path: recording.path, speed: 'max' }, startOnSubscribe: true });
  try {
    const streams = fx.market.symbols().map((s) => stream(s.symbol));
    const client = await RawClient.open(`${fx.wsUrl}/market/stream?streams=${streams.join('/')}`);
    await client.waitFor(recording.trades.length);
    client.close();
    return client.texts;
  } finally {
    await fx.close();
  }
}

t.test('frames: headers as ws makes them; chunks are whole frames, in order, within the size', async (t) => {
  // ws's own framing (its Sender is not in @types/ws).
  const { Sender } = wsModule as unknown as { Sender: { frame(data: Buffer, options: object): Buffer[] } };
  for (const length of [0, 1, 125, 126, 127, 65_535, 65_536, 70_000]) {
    const payload = Buffer.alloc(length, 0x61);
    const ours = Buffer.alloc(frameHeaderLength(length) + length);
    payload.copy(ours, writeTextFrameHeader(ours, 0, length));
    t.same(ours, Buffer.concat(Sender.frame(payload, { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false })), `payload of ${length} bytes`);
  }

  const small = writeRecording({ seed: 5, symbols: 5, trades: 2_000, startTime: START, rate: 200 });
  const market = await Market.create({ kind: 'recording', path: small.path, speed: 'max' }, { scheduler: systemScheduler() });
  const frames: BlastFrames = publishAllAsFrames(market);
  t.equal(frames.count, small.trades.length);
  t.equal(market.counters.published, small.trades.length, 'everything published at once');
  const frameAt = (i: number) => frames.bytes.subarray(frames.starts[i]!, frames.starts[i + 1]!);
  const random = new SeededRandom(7);
  for (const chunkBytes of [1, 300, 4_096, 1 << 20]) {
    const wanted = Uint8Array.from(frames.symbols, () => (random.next() < 0.6 ? 1 : 0));
    wanted[0] = 1;
    const expected: Buffer[] = [];
    for (let i = 0; i < frames.count; i++) if (wanted[frames.symbolOf[i]!] === 1) expected.push(frameAt(i));
    const chunks = [...blastChunks(frames, wanted, chunkBytes)];
    t.same(Buffer.concat(chunks.map((c) => c.bytes)), Buffer.concat(expected), `chunkBytes ${chunkBytes}: the wanted frames, in order`);
    t.equal(
      chunks.reduce((sum, c) => sum + c.frames, 0),
      expected.length,
    );
    t.ok(
      chunks.every((c) => c.bytes.length <= chunkBytes || c.frames === 1),
      'no chunk over the size but a lone frame',
    );
    // Whole frames: the boundaries of the chunks are boundaries of frames.
    let at = 0;
    const boundaries = new Set(expected.map((frame) => (at += frame.length)));
    at = 0;
    t.ok(
      chunks.every((c) => boundaries.has((at += c.bytes.length))),
      'every chunk ends on a frame boundary',
    );
  }
});

t.test('blast: two connections, different symbols, control frames mid-blast, split reads; a second round', async (t) => {
  const normal = await normalModeFrames();
  t.equal(normal.length, recording.trades.length);

  const events: BlastEvent[] = [];
  const fx = await FakeExchange.start({ source: { kind: 'recording', path: recording.path }, blast: { chunkBytes: 64 * 1024, onEvent: (event) => events.push(event) } });
  const clients: RawClient[] = [];
  t.teardown(async () => {
    clients.forEach((client) => client.close());
    await fx.close();
  });
  const open = async (path: string) => {
    const client = await RawClient.open(`${fx.wsUrl}${path}`);
    clients.push(client);
    return client;
  };
  const symbols = fx.market.symbols().map((s) => s.symbol);
  t.equal(symbols.length, 6);
  t.equal(fx.stats().blast?.trades, recording.trades.length);

  // REST shows what the stream has sent: nothing before the first round.
  const first = recording.trades.filter((trade) => trade.symbol === symbols[0]).slice(0, 500);
  const aggTrades = async () => (await getJson(`${fx.restUrl}/fapi/v1/aggTrades?symbol=${symbols[0]}&fromId=${first[0]!.aggId}&limit=500`)).body as { a: number; p: string }[];
  const klines = async () => (await getJson(`${fx.restUrl}/fapi/v1/klines?symbol=${symbols[0]}&interval=1m&limit=1500`)).body as unknown[];
  t.same(await aggTrades(), [], 'REST: no trades before the first round');
  t.same(await klines(), [], 'REST: no klines before the first round');
  t.equal((await getJson(`${fx.restUrl}/fapi/v1/exchangeInfo`)).body.symbols.length, 6, 'exchangeInfo lists every symbol');

  // A: three symbols and a kline stream; B: the other three and one of A's (a symbol on two connections).
  const setA = symbols.slice(0, 3);
  const setB = [...symbols.slice(3), symbols[1]!];
  const a = await open('/market/stream');
  const b = await open('/market/stream');
  b.send({ method: 'SUBSCRIBE', params: setB.map(stream), id: 1 });
  await sleep(50);
  t.equal(events.length, 0, 'no blast while a symbol is missing');
  a.send({ method: 'SUBSCRIBE', params: [...setA.map(stream), `${symbols[0]!.toLowerCase()}@kline_1m`], id: 1 });
  a.ws.pause();
  b.ws.pause();
  for (let i = 0; i < 400 && events.length === 0; i++) await sleep(5);
  t.match(events[0], { event: 'blastStart', round: 1, connections: 2, trades: recording.trades.length });
  await sleep(200);
  t.equal(fx.stats().blast?.roundsEnded, 0, 'the paused clients hold the blast up mid-way');

  // Mid-blast: a request and a ping on A; their answers go out between two chunks.
  const requestsBefore = fx.stats().ws.requests;
  a.send({ method: 'LIST_SUBSCRIPTIONS', id: 2 });
  a.ws.ping();
  for (let i = 0; i < 200 && fx.stats().ws.requests === requestsBefore; i++) await sleep(5);
  // A connection opened after the round started is not part of it.
  const late = await open(`/market/stream?streams=${stream(symbols[2]!)}`);
  a.ws.resume();
  b.ws.resume();

  const expected = (set: readonly string[]) => normal.filter((text) => set.includes(symbolOfText(text)));
  await a.waitFor(expected(setA).length + 2);
  await b.waitFor(expected(setB).length + 1);
  for (let i = 0; i < 400 && events.length < 2; i++) await sleep(5);
  t.match(events[1], { event: 'blastEnd', round: 1, complete: true, frames: expected(setA).length + expected(setB).length });
  t.ok((events[1] as { bytes: number }).bytes > 0);

  t.equal(a.texts[0], '{"result":null,"id":1}', 'A: the SUBSCRIBE reply first');
  t.same(
    a.texts.filter(isTrade),
    expected(setA),
    'A: every frame of its symbols once, in order, byte-identical',
  );
  const reply = a.texts.indexOf(JSON.stringify({ result: [...setA.map(stream), `${symbols[0]!.toLowerCase()}@kline_1m`], id: 2 }));
  t.ok(reply > 1 && reply < a.texts.length - 1, `A: the LIST_SUBSCRIPTIONS reply whole, between two frames mid-blast (at ${reply} of ${a.texts.length})`);
  t.equal(a.texts.length, expected(setA).length + 2, 'A: nothing else (no kline frames)');
  t.equal(a.pongs, 1, 'A: the pong whole');
  t.equal(b.texts[0], '{"result":null,"id":1}');
  t.same(b.texts.slice(1), expected(setB), 'B: every frame of its symbols once, in order, byte-identical');
  t.ok(b.splitReads > 0, `B: frames split between two socket reads parse (${b.splitReads} such reads)`);
  await sleep(100);
  t.equal(late.texts.length, 0, 'a connection that came after the round started got nothing');
  t.same(
    (await aggTrades()).map((row) => [row.a, row.p]),
    first.map((trade) => [trade.aggId, trade.price]),
    'REST: the trades sent, as the recording has them',
  );
  const allKlines = await klines();
  t.ok(allKlines.length > 0, `REST: klines (${allKlines.length})`);

  // A and B go: the exchange rewinds (REST shows nothing again) for the next round's client.
  a.close();
  b.close();
  for (let i = 0; i < 200 && fx.stats().blast?.rewinds === 0; i++) await sleep(5);
  t.equal(fx.stats().blast?.rewinds, 1);
  t.same(await aggTrades(), [], 'REST: nothing after the rewind');

  // Round 2: new connections covering every symbol; C on a raw route gets bare payloads.
  const c = await open(`/market/ws/${symbols.slice(0, 2).map(stream).join('/')}`);
  const d = await open(`/market/stream?streams=${symbols.slice(2).map(stream).join('/')}`);
  const bare = (text: string) => text.slice(text.indexOf('"data":') + 7, -1);
  await c.waitFor(expected(symbols.slice(0, 2)).length);
  await d.waitFor(expected(symbols.slice(2)).length);
  await late.waitFor(expected([symbols[2]!]).length);
  for (let i = 0; i < 400 && events.length < 4; i++) await sleep(5);
  t.match(events[2], { event: 'blastStart', round: 2, connections: 3 });
  t.match(events[3], { event: 'blastEnd', round: 2, complete: true });
  t.same(c.texts, expected(symbols.slice(0, 2)).map(bare), 'C (raw route): the bare payloads, in order');
  t.same(d.texts, expected(symbols.slice(2)), 'D: its frames, in order');
  t.same(late.texts, expected([symbols[2]!]), 'the late connection was fresh: round 2 included it');
  t.match(fx.stats().blast, { roundsStarted: 2, roundsEnded: 2, rewinds: 1 });
  t.same(await klines(), allKlines, 'REST: the same klines again once round 2 has sent everything');
});

t.test('blast: a connection that goes mid-blast ends its part of the round; the exchange rewinds', async (t) => {
  const events: BlastEvent[] = [];
  const fx = await FakeExchange.start({ source: { kind: 'recording', path: recording.path }, blast: { onEvent: (event) => events.push(event) } });
  t.teardown(() => fx.close());
  const streams = fx.market.symbols().map((s) => stream(s.symbol));
  const client = await RawClient.open(`${fx.wsUrl}/market/stream?streams=${streams.join('/')}`);
  client.ws.pause();
  for (let i = 0; i < 400 && events.length === 0; i++) await sleep(5);
  await sleep(200);
  t.equal(fx.stats().blast?.roundsEnded, 0, 'held up by the paused client');
  client.close();
  for (let i = 0; i < 400 && events.length < 2; i++) await sleep(5);
  const end = events[1] as Extract<BlastEvent, { event: 'blastEnd' }>;
  t.match(end, { event: 'blastEnd', round: 1, complete: false });
  t.ok(end.frames < recording.trades.length, `${end.frames} of ${recording.trades.length} frames written before it went`);
  t.equal(fx.stats().blast?.rewinds, 1, 'the round over and its connection gone: rewound');
  const symbol = fx.market.symbols()[0]!.symbol;
  t.same((await getJson(`${fx.restUrl}/fapi/v1/aggTrades?symbol=${symbol}&limit=10`)).body, []);
});
