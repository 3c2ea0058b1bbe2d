/** One serialization per event: every subscriber of a stream gets the same bytes, built once per form. */
import t from 'tap';
import { WebSocket } from 'ws';
import { ManualClock } from '../../../src/infra/clock.ts';
import { kline, MINUTE, startHarness, T0 } from './helpers.ts';

const E = T0 + 61_234;

/** A client keeping every message as received: its text and whether it came as a binary frame. */
async function rawClient(url: string): Promise<{ ws: WebSocket; messages: { text: string; binary: boolean }[] }> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const messages: { text: string; binary: boolean }[] = [];
  ws.on('message', (data: Buffer, binary: boolean) => messages.push({ text: data.toString('utf8'), binary }));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return { ws, messages };
}

async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

// The exact bytes a single client received before the fan-out was shared (JSON.stringify of the event, and the
// combined wrapper around it): field order, `E` and the decimals as they were.
const RAW_FINAL =
  `{"e":"kline","E":${E},"s":"BTCUSDT","k":{"t":${T0},"T":${T0 + MINUTE - 1},"s":"BTCUSDT","i":"1m","f":7012340001,"L":7012345675,` +
  `"o":"67245.90","c":"67249.50","h":"67251.30","l":"67240.00","v":"41.207","n":812,"x":true,"q":"2771020.31522","V":"23.905","Q":"1607542.07154","B":"0"}}`;

t.test('two clients on a stream receive byte-identical text frames; the event is serialized once, each form built once', async (t) => {
  const clock = new ManualClock(E);
  const h = await startHarness({ throttleMs: 0, clock });
  t.teardown(() => h.close());
  const combined = [await rawClient(`${h.base}/market/stream?streams=btcusdt@kline_1m`), await rawClient(`${h.base}/market/stream?streams=btcusdt@kline_1m`)];
  const raw = [await rawClient(`${h.base}/market/ws/btcusdt@kline_1m`), await rawClient(`${h.base}/market/ws/btcusdt@kline_1m`)];
  const clients = [...combined, ...raw];
  t.teardown(() => clients.forEach((c) => c.ws.terminate()));

  h.source.publish({ finals: [kline({ isFinal: true })] });
  await until(() => clients.every((c) => c.messages.length === 1));
  t.equal(raw[0]!.messages[0]!.text, RAW_FINAL, 'the raw payload, byte for byte');
  t.equal(raw[1]!.messages[0]!.text, RAW_FINAL);
  t.equal(combined[0]!.messages[0]!.text, `{"stream":"btcusdt@kline_1m","data":${RAW_FINAL}}`, 'the combined wrapper around the same bytes');
  t.equal(combined[1]!.messages[0]!.text, combined[0]!.messages[0]!.text);
  t.ok(clients.every((c) => c.messages.every((m) => !m.binary)), 'text frames, as before');
  t.equal(h.streams.stats.eventsSerialized, 1, 'one serialization for four subscribers');
  t.equal(h.streams.stats.payloadsBuilt, 2, 'one raw and one combined payload');
  t.equal(h.streams.stats.messagesSent, 4);

  // The next event: E moves with the event, and both clients of a form still share its bytes.
  clock.advance(500);
  const next = kline({ openTime: T0 + MINUTE, closeTime: T0 + 2 * MINUTE - 1, firstTradeId: 7012345676, lastTradeId: 7012345680, tradeCount: 5 });
  h.source.publish({ updates: [next] });
  await until(() => clients.every((c) => c.messages.length === 2));
  t.equal(combined[0]!.messages[1]!.text, combined[1]!.messages[1]!.text);
  t.equal(raw[0]!.messages[1]!.text, raw[1]!.messages[1]!.text);
  t.equal(JSON.parse(raw[0]!.messages[1]!.text).E, E + 500);
  t.equal(h.streams.stats.eventsSerialized, 2);
  t.equal(h.streams.stats.payloadsBuilt, 4);
});

t.test('a form no subscriber takes is never built', async (t) => {
  const h = await startHarness({ throttleMs: 0 });
  t.teardown(() => h.close());
  const clients = [await rawClient(`${h.base}/market/stream?streams=btcusdt@kline_1m`), await rawClient(`${h.base}/market/stream?streams=btcusdt@kline_1m`)];
  t.teardown(() => clients.forEach((c) => c.ws.terminate()));
  for (let i = 0; i < 3; i++) h.source.publish({ finals: [kline({ openTime: T0 + i * MINUTE, closeTime: T0 + (i + 1) * MINUTE - 1, isFinal: true })] });
  await until(() => clients.every((c) => c.messages.length === 3));
  t.same(
    clients[0]!.messages.map((m) => m.text),
    clients[1]!.messages.map((m) => m.text),
  );
  t.equal(h.streams.stats.eventsSerialized, 3);
  t.equal(h.streams.stats.payloadsBuilt, 3, 'combined only: no raw payload');
  t.equal(h.streams.stats.messagesSent, 6);
});

t.test('one batch to many streams: each client gets its streams in order, one event per stream and kline', async (t) => {
  const h = await startHarness({ throttleMs: 0 });
  t.teardown(() => h.close());
  const symbols = ['btcusdt', 'ethusdt', 'xrpusdt'];
  const clients = await Promise.all(Array.from({ length: 5 }, () => rawClient(`${h.base}/market/stream?streams=${symbols.map((s) => `${s}@kline_1m`).join('/')}`)));
  t.teardown(() => clients.forEach((c) => c.ws.terminate()));
  const finals = symbols.map((s) => kline({ symbol: s.toUpperCase(), isFinal: true }));
  const updates = symbols.map((s) => kline({ symbol: s.toUpperCase(), openTime: T0 + MINUTE, closeTime: T0 + 2 * MINUTE - 1 }));
  h.source.publish({ finals, updates });
  await until(() => clients.every((c) => c.messages.length === 6));
  for (const client of clients) t.same(client.messages.map((m) => m.text), clients[0]!.messages.map((m) => m.text));
  const order = clients[0]!.messages.map((m) => JSON.parse(m.text) as { stream: string; data: { k: { x: boolean } } }).map((m) => `${m.stream} ${m.data.k.x}`);
  t.same(order, [...symbols.map((s) => `${s}@kline_1m true`), ...symbols.map((s) => `${s}@kline_1m false`)], 'finals first, then the open updates');
  t.equal(h.streams.stats.eventsSerialized, 6);
  t.equal(h.streams.stats.messagesSent, 30);
});
