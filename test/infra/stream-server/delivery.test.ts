import t from 'tap';
import type { Kline } from '../../../src/domain/kline.ts';
import { type Json, sleep, WsClient } from '../../support/ws-client.ts';
import { kline, MINUTE, startHarness, T0 } from './helpers.ts';

const closeAt = (i: number): string => `67${String(200 + i).padStart(3, '0')}.10`;

t.test('20 updates of one kline within 100 ms coalesce into at most 2 messages, the last carrying the last state', async (t) => {
  const h = await startHarness({ throttleMs: 250 });
  t.teardown(() => h.close());
  const client = await WsClient.open(`${h.base}/market/ws/btcusdt@kline_1m`);
  const started = performance.now();
  for (let i = 0; i < 20; i++) {
    h.source.publish({ updates: [kline({ close: closeAt(i), tradeCount: 800 + i })] });
    await sleep(5);
  }
  const elapsed = performance.now() - started;
  await sleep(400);
  const events = client.events();
  // 20 × 5 ms is ~100 ms: one leading message plus one trailing. A loaded machine that stretched the loop past a
  // window gets one more message per extra window, never one per update.
  const bound = 1 + Math.max(1, Math.ceil(elapsed / 250));
  t.ok(events.length >= 1 && events.length <= bound, `${events.length} messages in ${Math.round(elapsed)} ms (bound ${bound})`);
  t.equal(events.at(-1).k.c, closeAt(19), 'the last state wins');
  t.equal(events.at(-1).k.n, 819);
  t.equal(events[0].k.x, false);
  t.ok(events.every((e: Json) => typeof e.E === 'number' && e.E > 0));
  client.close();
});

t.test('a quiet stream sends its first change at once, then at most one update per window', async (t) => {
  const h = await startHarness({ throttleMs: 300 });
  t.teardown(() => h.close());
  const client = await WsClient.open(`${h.base}/market/ws/btcusdt@kline_1m`);
  const started = Date.now();
  h.source.publish({ updates: [kline({ close: closeAt(0) })] });
  await client.next((m) => m.e === 'kline');
  t.ok(Date.now() - started < 200, 'leading edge');
  h.source.publish({ updates: [kline({ close: closeAt(1) })] });
  h.source.publish({ updates: [kline({ close: closeAt(2) })] });
  const second = await client.next((m) => m.e === 'kline');
  t.equal(second.k.c, closeAt(2));
  t.ok(Date.now() - started >= 290, 'trailing edge after the window');
  client.close();
});

t.test('a final is delivered at once, exactly once, and no open update of that kline follows it', async (t) => {
  const h = await startHarness({ throttleMs: 200 });
  t.teardown(() => h.close());
  const client = await WsClient.open(`${h.base}/market/stream?streams=btcusdt@kline_1m`);
  h.source.publish({ updates: [kline({ close: closeAt(0) })] }); // sent at once
  h.source.publish({ updates: [kline({ close: closeAt(1) })] }); // pending in the window
  const final = kline({ close: closeAt(2), isFinal: true, lastTradeId: 7012346203 });
  h.source.publish({ finals: [final], updates: [kline({ close: closeAt(1) })] }); // a stale open state in the same batch
  h.source.publish({ finals: [final] }); // published twice: still sent once
  h.source.publish({ updates: [kline({ close: closeAt(3) })] }); // a late open update of the closed kline
  const next = kline({ openTime: T0 + MINUTE, closeTime: T0 + 2 * MINUTE - 1, close: closeAt(4), firstTradeId: 7012346204, lastTradeId: 7012346204, tradeCount: 1 });
  h.source.publish({ updates: [next] });
  await sleep(450);
  const events = client.events();
  const ofFirst = events.filter((e: Json) => e.k.t === T0);
  t.same(
    ofFirst.map((e: Json) => [e.k.c, e.k.x]),
    [
      [closeAt(0), false],
      [closeAt(2), true],
    ],
  );
  t.equal(ofFirst[1].k.L, 7012346203);
  const ofNext = events.filter((e: Json) => e.k.t === T0 + MINUTE);
  t.same(
    ofNext.map((e: Json) => [e.k.c, e.k.x]),
    [[closeAt(4), false]],
    'the next kline’s update comes after the window',
  );
  t.equal(h.streams.stats.finalsSent, 1);
  client.close();
});

t.test('streams sent in one batch wait out their windows together and go out in one batch again', async (t) => {
  const h = await startHarness({ throttleMs: 200 });
  t.teardown(() => h.close());
  const symbols = ['BTCUSDT', 'ETHUSDT', 'XRPUSDT'];
  const client = await WsClient.open(`${h.base}/market/stream?streams=${symbols.map((s) => `${s.toLowerCase()}@kline_1m`).join('/')}`);
  h.source.publish({ updates: symbols.map((symbol) => kline({ symbol, close: closeAt(0) })) }); // sent at once: one batch
  await client.waitCount(() => true, 3);
  t.equal(h.streams.stats.sendBatches, 1);
  const waitFrom = performance.now();
  h.source.publish({ updates: symbols.map((symbol) => kline({ symbol, close: closeAt(1) })) }); // all three wait
  await sleep(50);
  h.source.publish({ updates: symbols.slice(0, 2).map((symbol) => kline({ symbol, close: closeAt(2) })) }); // two of them again
  // A machine so loaded that the 50 ms took the whole window has sent the first three already: nothing to check then.
  if (performance.now() - waitFrom > 150) return void t.pass('too slow a machine for this timing; not checked');
  await client.waitCount(() => true, 6);
  await sleep(50);
  t.equal(h.streams.stats.sendBatches, 2, 'the three throttled updates left in one batch');
  t.same(
    client.received.slice(3).map((m: Json) => [m.data.s, m.data.k.c]),
    [
      ['BTCUSDT', closeAt(2)],
      ['ETHUSDT', closeAt(2)],
      ['XRPUSDT', closeAt(1)],
    ],
    'each with its latest state',
  );
  t.equal(client.received.length, 6);
  client.close();
});

t.test('finals are never throttled: a burst of closes arrives in order, all of them', async (t) => {
  const h = await startHarness({ throttleMs: 1000 });
  t.teardown(() => h.close());
  const client = await WsClient.open(`${h.base}/market/ws/btcusdt@kline_1m`);
  const finals: Kline[] = Array.from({ length: 50 }, (_, i) => kline({ openTime: T0 + i * MINUTE, closeTime: T0 + (i + 1) * MINUTE - 1, isFinal: true }));
  h.source.publish({ finals: finals.slice(25, 50).concat(finals.slice(0, 25)) }); // out of order in one batch
  for (const f of finals) h.source.publish({ finals: [f] }); // again, one by one: duplicates
  await client.next((m) => m.e === 'kline' && m.k.t === T0 + 49 * MINUTE);
  await sleep(30);
  t.same(
    client.events().map((e: Json) => e.k.t),
    finals.map((f) => f.openTime),
  );
  t.ok(client.events().every((e: Json) => e.k.x === true));
  client.close();
});

t.test('1M (month) and 1m (minute) are distinct streams', async (t) => {
  const h = await startHarness({ throttleMs: 0 });
  t.teardown(() => h.close());
  const month = await WsClient.open(`${h.base}/market/stream?streams=btcusdt@kline_1M`);
  const minute = await WsClient.open(`${h.base}/market/stream?streams=btcusdt@kline_1m`);
  const monthOpen = Date.UTC(2026, 6, 1);
  h.source.publish({
    updates: [kline(), kline({ interval: '1M', openTime: monthOpen, closeTime: Date.UTC(2026, 7, 1) - 1, close: '1.00' })],
  });
  const m = await month.next();
  t.equal(m.stream, 'btcusdt@kline_1M');
  t.equal(m.data.k.i, '1M');
  t.equal(m.data.k.t, monthOpen);
  const n = await minute.next();
  t.equal(n.stream, 'btcusdt@kline_1m');
  t.equal(n.data.k.i, '1m');
  await sleep(30);
  t.equal(month.received.length, 1);
  t.equal(minute.received.length, 1);
  month.close();
  minute.close();
});

t.test('a slow consumer is dropped once its buffer passes the limit; a normal client keeps receiving', async (t) => {
  const limit = 128 * 1024;
  const h = await startHarness({ throttleMs: 0, maxBufferedBytes: limit });
  t.teardown(() => h.close());
  const slow = await WsClient.open(`${h.base}/market/ws/btcusdt@kline_1m`);
  const normal = await WsClient.open(`${h.base}/market/ws/btcusdt@kline_1m`);
  // The slow client stops reading: its kernel buffers fill, then the server's send queue grows.
  (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  let openTime = T0;
  let sent = 0;
  while (h.streams.stats.slowConsumersDropped === 0 && sent < 200_000) {
    const finals: Kline[] = [];
    for (let i = 0; i < 500; i++, openTime += MINUTE) finals.push(kline({ openTime, closeTime: openTime + MINUTE - 1, isFinal: true }));
    h.source.publish({ finals });
    sent += finals.length;
    await new Promise((resolve) => setImmediate(resolve));
  }
  t.equal(h.streams.stats.slowConsumersDropped, 1, `dropped after ${sent} finals`);
  t.equal(h.streams.stats.connections, 1, 'only the normal client is left');
  t.equal(h.streams.stats.subscriptions, 1);
  h.source.publish({ finals: [kline({ openTime, closeTime: openTime + MINUTE - 1, isFinal: true })] });
  const last = await normal.next((m) => m.k?.t === openTime, 10_000);
  t.equal(last.k.x, true, 'the normal client got everything up to the last final');
  t.equal(normal.events().length, sent + 1, 'and nothing was lost on the way');
  (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  const closed = await slow.closed;
  t.ok(closed.code === 1008 || closed.code === 1006, `slow client closed (${closed.code} ${closed.reason})`);
  normal.close();
});
