/**
 * Fuzzing what arrives on the exchange's streams, on the real path: every frame klagg's stream connection receives is
 * first sorted (a reply, a `!miniTicker@arr` push, an exchange kline, else a trade) and read for its trade time (lag),
 * then routed by symbol to a worker. First those readers alone at volume, then klagg as `klagg run` runs it against
 * the fake exchange, with a WebSocket proxy in between that slips garbage frames into the exchange's stream.
 *
 * Properties: no reader throws whatever the bytes (a throw there escapes the socket's message handler and takes the
 * process down); every garbage frame that reaches the trade path is counted as rejected (the workers'
 * `rejectedFrames`, the `frames_rejected_total` metric) and none is applied: the stored klines equal the exchange's own.
 */
import t, { type Test } from 'tap';
import fc from 'fast-check';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { SymbolManager } from '../../src/actors/symbol-manager.ts';
import { isExchangeKlineFrame, readExchangeKline } from '../../src/actors/trailing-gap-watch.ts';
import { AggTradeParser } from '../../src/domain/agg-trade-parser.ts';
import { aggTradeTime } from '../../src/domain/agg-trade-time.ts';
import { TradeRouter } from '../../src/domain/trade-router.ts';
import { brokenFrame, members, mutatedFrame, randomInput, spelling, validTrade, writeFrame } from '../support/agg-trade-generators.ts';
import { DAY, MINUTE, settleAndCompare, startRealtime } from '../support/realtime.ts';
import { fuzzParameters, fuzzRuns, fuzzTitle } from '../support/fuzz.ts';

// ---- generators ------------------------------------------------------------------------------------------------------

/** Frames shaped like the exchange's other pushes, with any JSON where the readers expect objects. */
const lookalike: fc.Arbitrary<Uint8Array> = fc
  .oneof(
    fc.jsonValue({ maxDepth: 3 }).map((data) => `{"stream":"!miniTicker@arr","data":${JSON.stringify(data)}}`),
    fc.array(fc.oneof(fc.constantFrom(null, 1, 'x', [], {}, { s: 5 }, { s: 'NEWUSDT' }), fc.jsonValue({ maxDepth: 1 })), { maxLength: 4 }).map((items) => `{"stream":"!miniTicker@arr","data":${JSON.stringify(items)}}`),
    fc.jsonValue({ maxDepth: 3 }).map((data) => `{"stream":"btcusdt@kline_1m","data":${JSON.stringify(data)}}`),
    fc.oneof(fc.constantFrom(null, 1, 'x', [], {}), fc.record({ s: fc.jsonValue({ maxDepth: 1 }), L: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: [] })).map((k) => `{"stream":"btcusdt@kline_1m","data":{"e":"kline","k":${JSON.stringify(k)}}}`),
    fc.jsonValue({ maxDepth: 2 }).map((value) => `["@kline_", ${JSON.stringify(value)}]`),
    fc.tuple(fc.constantFrom('{"stream":"!miniTicker@arr"', '{"stream":"x@kline_1m"', '{"stream":"btcusdt@aggTrade","data":{"T":', '{"result"', '{"id"', '{"error"'), fc.string({ maxLength: 40 })).map(([head, tail]) => head + tail),
  )
  .map((text) => Buffer.from(text));

/** Garbage of every kind: broken and mutated aggTrades, lookalikes of the other pushes, random bytes. */
const garbage: fc.Arbitrary<Buffer> = fc.oneof(brokenFrame.map((text) => Buffer.from(text)), mutatedFrame, randomInput, lookalike).map((bytes) => Buffer.from(bytes));

// ---- the readers alone -------------------------------------------------------------------------------------------------

t.test(fuzzTitle(fuzzRuns(10000), 'garbage frames through every reader of the stream path: no throw, only sane answers'), async (t) => {
  const runs = fuzzRuns(10000);
  const router = new TradeRouter();
  router.route('BTCUSDT', 0);
  let rejected = 0;
  fc.assert(
    fc.property(garbage, (frame) => {
      const time = aggTradeTime(frame);
      if (time !== -1 && !(Number.isSafeInteger(time) && time >= 0)) throw new Error(`aggTradeTime ${time}`);
      if (SymbolManager.isTickerFrame(frame) && frame.length < 27) throw new Error('a ticker frame shorter than its prefix');
      if (isExchangeKlineFrame(frame)) {
        const kline = readExchangeKline(frame);
        if (kline !== undefined && (typeof kline.symbol !== 'string' || !Number.isSafeInteger(kline.lastTradeId))) throw new Error(`readExchangeKline ${JSON.stringify(kline)}`);
      }
      const worker = router.workerFor(frame);
      const unparsed = router.workerForUnparsed(frame);
      const valid = new AggTradeParser().parse(frame);
      if (!valid && worker !== -2) throw new Error(`an unusable frame routed to ${worker}`);
      if (valid && worker === -2) throw new Error('a valid frame refused by the router');
      // Without parsing, a frame may be sent to a worker (which parses and rejects it), never elsewhere.
      if (![-2, -1, 0].includes(unparsed)) throw new Error(`routed without parsing to ${unparsed}`);
      if (worker === -2) rejected++;
    }),
    fuzzParameters(runs),
  );
  t.ok(rejected > runs / 2, `${rejected} of ${runs} refused by the router`);
});

t.test(fuzzTitle(fuzzRuns(5000), 'valid combined aggTrade frames: the lag reader reads exactly their trade time'), async (t) => {
  const runs = fuzzRuns(5000);
  fc.assert(
    fc.property(validTrade, spelling, (trade, s) => {
      // As the exchange sends them: compact, the stream name first, no nested `"T"` keys in other fields.
      const frame = Buffer.from(writeFrame(members(trade), { ...s, indent: 0, combined: 'stream-first', extras: [] }, `${trade.symbol.toLowerCase()}@aggTrade`));
      const time = aggTradeTime(frame);
      const expected = String(trade.tradeTime).length <= 15 ? trade.tradeTime : -1;
      if (time !== expected) throw new Error(`aggTradeTime ${time}, T ${trade.tradeTime}: ${frame.toString()}`);
    }),
    fuzzParameters(runs),
  );
  t.pass(`${runs} frames`);
});

// ---- klagg against the fake exchange, garbage slipped into its stream ---------------------------------------------------

/** What the exchange socket treats as a reply to a request (exchange-socket.ts): not market data, not counted. */
const looksLikeReply = (frame: Buffer): boolean => frame.length >= 6 && frame[0] === 0x7b && frame[1] === 0x22 && (frame[2] === 0x72 || frame[2] === 0x69 || (frame[2] === 0x65 && frame[3] === 0x72));

/** Whether a text frame reaches the trade path (not a reply, a ticker push or an exchange kline) and is refused there. */
function reachesTradePathRefused(frame: Buffer): boolean {
  return !looksLikeReply(frame) && !SymbolManager.isTickerFrame(frame) && !isExchangeKlineFrame(frame) && !new AggTradeParser().parse(frame);
}

interface Injector {
  readonly url: string;
  /** Garbage frames sent so far: as text, of which refused on the trade path, and as binary (ignored by the socket). */
  readonly sent: { text: number; refused: number; binary: number };
  /** Resolves once every garbage frame has been sent. */
  readonly done: Promise<void>;
}

/**
 * A WebSocket proxy to the exchange's streams that passes everything through both ways and, once a connection carries
 * market data, slips the garbage frames in between the exchange's, one every `everyMs`.
 */
async function injectingProxy(t: Test, upstreamBase: string, frames: readonly { frame: Buffer; binary: boolean }[], everyMs: number): Promise<Injector> {
  const http = createServer();
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  const sent = { text: 0, refused: 0, binary: 0 };
  let next = 0;
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  const timers = new Set<NodeJS.Timeout>();
  wss.on('connection', (client, request) => {
    const upstream = new WebSocket(`${upstreamBase}${request.url ?? '/'}`, { perMessageDeflate: false });
    const pending: [RawData, boolean][] = [];
    let flowing = false;
    client.on('message', (data, isBinary) => (upstream.readyState === WebSocket.OPEN ? upstream.send(data, { binary: isBinary }) : pending.push([data, isBinary])));
    upstream.on('open', () => {
      for (const [data, isBinary] of pending.splice(0)) upstream.send(data, { binary: isBinary });
    });
    upstream.on('message', (data: Buffer, isBinary) => {
      if (client.readyState !== WebSocket.OPEN) return;
      client.send(data, { binary: isBinary });
      if (!flowing && data.includes('@aggTrade","data"')) {
        flowing = true;
        const timer = setInterval(() => {
          if (client.readyState !== WebSocket.OPEN || next >= frames.length) {
            clearInterval(timer);
            if (next >= frames.length) finish();
            return;
          }
          const { frame, binary } = frames[next++]!;
          client.send(frame, { binary });
          if (binary) sent.binary++;
          else {
            sent.text++;
            if (reachesTradePathRefused(frame)) sent.refused++;
          }
        }, everyMs);
        timers.add(timer);
      }
    });
    const closeBoth = (): void => {
      if (client.readyState === WebSocket.OPEN) client.close();
      if (upstream.readyState === WebSocket.OPEN) upstream.close();
    };
    client.on('close', closeBoth);
    upstream.on('close', closeBoth);
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    for (const timer of timers) clearInterval(timer);
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });
  return { url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}`, sent, done };
}

t.test(fuzzTitle(fuzzRuns(400), 'garbage frames slipped into the exchange stream of a running klagg: counted as rejected, none applied, klines exact'), async (t) => {
  const runs = fuzzRuns(400);
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => void process.off('unhandledRejection', onUnhandled));
  // A text frame must be UTF-8 (the socket fails the connection otherwise, RFC 6455): other bytes go as binary frames.
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const isUtf8 = (bytes: Buffer): boolean => {
    try {
      utf8.decode(bytes);
      return true;
    } catch {
      return false;
    }
  };
  const binary = fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) });
  const frames = fc.sample(fc.record({ frame: garbage, binary }), { numRuns: runs, seed: fuzzParameters(runs).seed }).map(({ frame, binary }) => ({ frame, binary: binary || !isUtf8(frame) }));
  let injector: Injector | undefined;
  const boundary = DAY + 9 * 60 * MINUTE + 21 * MINUTE;
  const rt = await startRealtime(t, {
    prefix: 'klagg_fuzz_frames',
    startAt: boundary - 12_000,
    market: { symbols: 2, rate: 15, seed: 23, quietPeriods: false, startTime: boundary - 2 * MINUTE },
    intervals: ['1m'],
    streamsVia: async (exchangeWsUrl) => (injector = await injectingProxy(t, exchangeWsUrl, frames, 15)).url,
  });
  await rt.startService();
  const joinedAt = rt.clock.now();
  await injector!.done;
  await rt.until(Math.max(rt.clock.now() + 1_000, boundary + 3_000));
  const rejected = async (): Promise<number> => (await Promise.all(rt.service.system.workers.map((worker) => worker.stats()))).reduce((sum, s) => sum + s.rejectedFrames, 0);
  const sent = injector!.sent;
  t.ok(sent.refused > runs / 4, `${sent.text} garbage text frames (${sent.refused} of them for the trade path) and ${sent.binary} binary frames sent`);
  // Each frame is counted as it is received; the last ones may still be on their way through the proxy.
  for (let i = 0; i < 100 && (await rejected()) < sent.refused; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(await rejected(), sent.refused, 'every garbage frame on the trade path counted as rejected, nothing else');
  t.equal(rt.service.streams.stats.reconnects, 0, 'no connection lost to the garbage');
  t.same(unhandled, [], 'no unhandled rejection');
  await settleAndCompare(t, rt, joinedAt, ['1m']);
});
