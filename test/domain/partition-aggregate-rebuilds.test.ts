/**
 * A trade that reaches a partition's log after time has finalized several periods past it (the ingest found a quiet
 * symbol's lost trades late) is older than the engine's memory of finals: the partition hands the range to the
 * rebuild path (the writers rebuild it from the exchange's klines) — counted, carried with the output, never silent.
 */
import t from 'tap';
import { encodeTradeBatch, decodeTradeBatch } from '../../src/domain/cluster-messages.ts';
import { PartitionAggregate } from '../../src/domain/partition-aggregate.ts';

const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);
const frame = (a: number, time: number): Buffer => Buffer.from(`{"e":"aggTrade","E":${time},"a":${a},"s":"ABCUSDT","p":"1.5","q":"2","f":${a},"l":${a},"T":${time},"m":false}`);
const batch = (...frames: Buffer[]) => decodeTradeBatch(encodeTradeBatch('ABCUSDT', { priceScale: 1, qtyScale: 0 }, frames))!;

t.test('a late trade older than the last final in memory goes to the rebuild path', async (t) => {
  const p = PartitionAggregate.create({ partition: 0, intervals: ['1m'], graceMs: 1000 });
  p.applyTrades(1, batch(frame(1, T0 + 5_000)));
  p.applyWatermark(2, T0 + 5 * 60_000 + 2_000); // minutes 0–4 final (1–4 flat), minute 5 open
  const finals = p.takeOutput().filter((k) => k.isFinal);
  t.equal(finals.length, 5, 'five finals');
  t.same(p.takeRebuilds(), [], 'nothing to rebuild yet');

  p.applyTrades(3, batch(frame(2, T0 + 30_000))); // belongs to minute 0, four finals ago
  const rebuilds = p.takeRebuilds();
  t.same(rebuilds, [{ symbol: 'ABCUSDT', interval: '1m', fromOpenTime: T0, toOpenTime: T0 + 4 * 60_000 }], 'minutes 0–4 are to be rebuilt from the exchange’s klines');
  t.equal(p.counters.rebuilds, 1, 'counted');
  t.same(p.takeRebuilds(), [], 'taken once');

  const restored = PartitionAggregate.restore(p.snapshot());
  t.equal(restored.counters.rebuilds, 1, 'the count survives a checkpoint');
});

t.test('a late trade within memory revises the final instead (no rebuild)', async (t) => {
  const p = PartitionAggregate.create({ partition: 0, intervals: ['1m'], graceMs: 1000 });
  p.applyTrades(1, batch(frame(1, T0 + 5_000)));
  p.applyWatermark(2, T0 + 60_000 + 2_000); // minute 0 final
  p.takeOutput();
  p.applyTrades(3, batch(frame(2, T0 + 30_000)));
  const revised = p.takeOutput().filter((k) => k.isFinal);
  t.equal(revised.length, 1, 'minute 0 emitted again');
  t.equal(revised[0]!.revision, 1, 'as revision 1');
  t.equal(revised[0]!.tradeCount, 2, 'with both trades');
  t.same(p.takeRebuilds(), [], 'nothing to rebuild');
});
