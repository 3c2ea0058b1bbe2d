import t from 'tap';
import { FrameIngest } from '../../../src/domain/frame-ingest.ts';
import { KlineEngine } from '../../../src/domain/kline-engine.ts';
import type { Kline } from '../../../src/domain/kline.ts';
import type { IntervalName } from '../../../src/domain/interval.ts';
import { toKlineEvent } from '../../../src/infra/binance-ws/kline-event.ts';
import { readTradeFrames } from '../../support/fixtures.ts';
import { MemorySink } from '../../support/memory-sink.ts';
import { silentLogger as logger, startSystem } from '../../support/system.ts';
import { type Json, WsClient } from '../../support/ws-client.ts';
import { startHarness } from './helpers.ts';

const SCALES = { priceScale: 8, qtyScale: 8 };
const INTERVALS: IntervalName[] = ['1m', '1h'];

t.test('a client on xrpeth@kline_1m receives exactly the engine’s finals, from the real actor system and XRPETH trades', async (t) => {
  const frames = readTradeFrames();
  const system = startSystem({ sink: new MemorySink(), intervals: INTERVALS, workers: 1, partitions: 16, logger });
  const published: Kline[] = [];
  system.onBatch((batch) => published.push(...batch.finals.filter((k) => k.interval === '1m')));

  const h = await startHarness({ source: system, throttleMs: 50, logger });
  t.teardown(() => h.close());
  const raw = await WsClient.open(`${h.base}/market/ws/xrpeth@kline_1m`);
  const combined = await WsClient.open(`${h.base}/market/stream?streams=xrpeth@kline_1h/xrpeth@kline_1m`);

  system.activate({ symbol: 'XRPETH', scales: SCALES, initialData: [] });
  await system.whenSubscribed(['XRPETH']);
  let i = 0;
  for (const frame of frames) {
    system.ingestFrame(frame);
    if (++i % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  system.finishInput();
  await system.flush();

  // The reference: one plain engine over the same frames.
  const expected: Kline[] = [];
  const ingest = new FrameIngest(new KlineEngine({ intervals: INTERVALS, graceMs: 1000 }, { onFinal: (k) => void (k.interval === '1m' && expected.push(k)) }), () => SCALES);
  for (const frame of frames) {
    ingest.ingest(frame);
    ingest.engine.advanceTo(ingest.trade.tradeTime);
  }
  ingest.engine.finish();
  t.ok(expected.length > 100, `${expected.length} reference finals`);
  t.same(published, expected, 'the system published the engine’s finals');

  const last = expected.at(-1)!;
  await raw.next((m) => m.k?.x === true && m.k.t === last.openTime, 10_000);
  await combined.next((m) => m.stream === 'xrpeth@kline_1m' && m.data.k.x === true && m.data.k.t === last.openTime, 10_000);
  const body = (k: Kline): Json => toKlineEvent(k, 0).k;
  const rawFinals = raw.events().filter((e: Json) => e.k.x);
  t.same(rawFinals.map((e: Json) => e.k), expected.map(body), 'raw: every final, once, in order, field for field');
  const combinedFinals = combined.received.filter((m: Json) => m.stream === 'xrpeth@kline_1m' && m.data.k.x).map((m: Json) => m.data.k);
  t.same(combinedFinals, expected.map(body), 'combined: the same');
  t.ok(combined.received.some((m: Json) => m.stream === 'xrpeth@kline_1h'), 'the 1h stream got data too');

  // No open update of a kline after its final.
  const seenFinal = new Set<number>();
  let lateUpdates = 0;
  for (const e of raw.events()) {
    if (e.k.x) seenFinal.add(e.k.t);
    else if (seenFinal.has(e.k.t)) lateUpdates++;
  }
  t.equal(lateUpdates, 0, 'no open update after a final');
  t.ok(raw.events().every((e: Json) => e.e === 'kline' && e.s === 'XRPETH' && e.k.s === 'XRPETH' && e.k.i === '1m'));

  raw.close();
  combined.close();
  t.equal(await system.stop('test'), 0);
});
