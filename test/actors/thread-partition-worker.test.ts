/**
 * The worker-thread twin of the partition worker's repair tests (threads are klagg's default): the repair's REST fetch
 * crosses the thread boundary, and a failed fetch must arrive as a failure — retried — not as "the exchange has no such
 * trades" (which gave up the gap at once with threads on); a listing starts at the exchange's first trade.
 */
import t from 'tap';
import { PartitionWorker, type UnrepairedGap } from '../../src/actors/partition-worker/partition-worker.ts';
import { ThreadPartitionWorker } from '../../src/actors/partition-worker/thread-partition-worker.ts';
import type { AggTrade } from '../../src/domain/agg-trade.ts';
import type { IntervalName } from '../../src/domain/interval.ts';
import type { Kline } from '../../src/domain/kline.ts';
import { FROM_FIRST_TRADE } from '../../src/domain/messages.ts';
import { readTradeFrames } from '../support/fixtures.ts';

const frames = readTradeFrames().slice(0, 3000);
const trades: AggTrade[] = frames.map((frame) => {
  const e = JSON.parse(frame.toString()) as { s: string; a: number; p: string; q: string; f: number; l: number; T: number; m: boolean };
  return { symbol: e.s, aggId: e.a, price: e.p, qty: e.q, firstTradeId: e.f, lastTradeId: e.l, tradeTime: e.T, buyerIsMaker: e.m };
});
const INTERVALS: IntervalName[] = ['1m', '1h'];
const SCALES = { priceScale: 8, qtyScale: 8 };
const OPTIONS = { id: 0, intervals: INTERVALS, graceMs: 1000, clockFromTrades: true };

const reference: Kline[] = (() => {
  const w = new PartitionWorker(OPTIONS);
  w.activate('XRPETH', SCALES, []);
  for (const frame of frames) w.ingestFrame(frame);
  w.finish();
  return [...w.takeDeltas(1).finals];
})();

/** The finals once the thread has taken every frame and no repair is pending (or after 20 s). */
async function finalsOf(w: ThreadPartitionWorker): Promise<Kline[]> {
  let previous = -1;
  for (let i = 0; i < 200; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stats = await w.stats();
    if (stats.pendingRepairs === 0 && stats.applied === previous) break;
    previous = stats.applied;
  }
  w.finish();
  return [...(await w.takeDeltas(1)).finals];
}

t.test('threads: a repair whose fetch fails is asked again, and the gap is repaired once the exchange answers', async (t) => {
  const gaps: UnrepairedGap[] = [];
  let failures = 2;
  const calls: number[] = [];
  const w = new ThreadPartitionWorker({
    ...OPTIONS,
    fetchTrades: async (_symbol, fromId, toId) => {
      calls.push(fromId);
      if (failures-- > 0) throw new Error('418 banned');
      return trades.filter((trade) => trade.aggId >= fromId && trade.aggId <= toId);
    },
    onUnrepairedGap: (gap) => gaps.push(gap),
  });
  t.teardown(() => w.close());
  await w.activate('XRPETH', SCALES, []);
  for (let i = 0; i < frames.length; i++) if (i < 400 || i >= 420) w.ingestFrame(frames[i]!, undefined);
  const finals = await finalsOf(w);
  t.same(gaps, [], 'nothing reported as lost');
  t.same(calls, [trades[400]!.aggId, trades[400]!.aggId, trades[400]!.aggId], 'asked three times');
  t.match(await w.stats(), { repairFetchRetries: 2 });
  t.same(finals, reference, 'klines identical to the uninterrupted stream');
});

t.test('threads: a listing starts at the exchange\'s first trade, which the stream dropped', async (t) => {
  const gaps: UnrepairedGap[] = [];
  const w = new ThreadPartitionWorker({
    ...OPTIONS,
    fetchTrades: async (_symbol, fromId, toId) => trades.filter((trade) => trade.aggId >= fromId && trade.aggId <= toId && trade.aggId <= trades[100]!.aggId),
    onUnrepairedGap: (gap) => gaps.push(gap),
  });
  t.teardown(() => w.close());
  await w.activate('XRPETH', SCALES, [], FROM_FIRST_TRADE);
  for (let i = 50; i < frames.length; i++) w.ingestFrame(frames[i]!, undefined); // the first 50 never came on the stream
  const finals = await finalsOf(w);
  t.same(gaps, [], 'nothing reported as lost');
  t.same(finals, reference, 'klines identical to the uninterrupted stream');
});
