import t from 'tap';
import { PartitionWorker, type UnrepairedGap } from '../../src/actors/partition-worker/partition-worker.ts';
import type { AggTrade } from '../../src/domain/agg-trade.ts';
import type { Kline } from '../../src/domain/kline.ts';
import type { IntervalName } from '../../src/domain/interval.ts';
import { FROM_FIRST_TRADE } from '../../src/domain/messages.ts';
import { readTradeFrames } from '../support/fixtures.ts';

const frames = readTradeFrames();
const trades: AggTrade[] = frames.map((frame) => {
  const e = JSON.parse(frame.toString()) as { s: string; a: number; p: string; q: string; f: number; l: number; T: number; m: boolean };
  return { symbol: e.s, aggId: e.a, price: e.p, qty: e.q, firstTradeId: e.f, lastTradeId: e.l, tradeTime: e.T, buyerIsMaker: e.m };
});
const INTERVALS: IntervalName[] = ['1m', '1h'];
const SCALES = { priceScale: 8, qtyScale: 8 };

function worker(options: { fetchTrades?: (symbol: string, fromId: number, toId: number) => Promise<readonly AggTrade[]>; gaps?: UnrepairedGap[] } = {}) {
  const w = new PartitionWorker({ id: 0, intervals: INTERVALS, graceMs: 1000, clockFromTrades: true, fetchTrades: options.fetchTrades, onUnrepairedGap: (gap) => options.gaps?.push(gap) });
  w.activate('XRPETH', SCALES, []);
  return w;
}

async function settle(w: PartitionWorker): Promise<void> {
  while (w.repairStats.pending > 0) await new Promise((resolve) => setTimeout(resolve, 1));
}

function finals(w: PartitionWorker): Kline[] {
  w.finish();
  return [...w.takeDeltas(1).finals];
}

const reference = (() => {
  const w = worker();
  for (const frame of frames) w.ingestFrame(frame);
  return finals(w);
})();

/** Serves trades by id like `/fapi/v1/aggTrades?fromId=`, after a real asynchronous pause. */
function restLike(available: (trade: AggTrade) => boolean) {
  const calls: [number, number][] = [];
  const fetch = async (_symbol: string, fromId: number, toId: number): Promise<readonly AggTrade[]> => {
    calls.push([fromId, toId]);
    await new Promise((resolve) => setTimeout(resolve, 2));
    return trades.filter((trade) => trade.aggId >= fromId && trade.aggId <= toId && available(trade));
  };
  return { calls, fetch };
}

t.test('gaps are repaired from REST: the missing trades are applied in order, then what arrived meanwhile', async (t) => {
  const rest = restLike(() => true);
  const w = worker({ fetchTrades: rest.fetch });
  const skipped = (i: number) => (i >= 100 && i < 200) || (i >= 5000 && i < 5050) || i === 9000;
  for (let i = 0; i < frames.length; i++) {
    if (!skipped(i)) w.ingestFrame(frames[i]!);
    if (i % 500 === 0) await new Promise((resolve) => setTimeout(resolve, 0)); // frames keep coming during a repair
  }
  await settle(w);
  t.same(rest.calls, [
    [trades[100]!.aggId, trades[199]!.aggId],
    [trades[5000]!.aggId, trades[5049]!.aggId],
    [trades[9000]!.aggId, trades[9000]!.aggId],
  ], 'each gap fetched once, by id range');
  t.match(w.repairStats, { repaired: 3, repairedTrades: 151, unrepaired: 0, pending: 0 });
  t.same(finals(w), reference, 'klines identical to the uninterrupted stream');
});

t.test('duplicates around a repair are dropped; nothing counts twice', async (t) => {
  const rest = restLike(() => true);
  const w = worker({ fetchTrades: rest.fetch });
  for (let i = 0; i < frames.length; i++) {
    if (i >= 300 && i < 320) continue;
    w.ingestFrame(frames[i]!);
    if (i === 330) for (let j = 310; j < 335; j++) w.ingestFrame(frames[j]!); // a replayed range during the repair
  }
  await settle(w);
  t.same(finals(w), reference);
  t.ok(w.engine.counters.duplicates >= 15, 'the replayed range was dropped as duplicates');
});

t.test('ids the exchange no longer has are accepted and reported for a kline rebuild', async (t) => {
  const gaps: UnrepairedGap[] = [];
  const lost = (trade: AggTrade) => trade.aggId < trades[1000]!.aggId || trade.aggId > trades[1009]!.aggId;
  const rest = restLike(lost);
  const w = worker({ fetchTrades: rest.fetch, gaps });
  for (let i = 0; i < frames.length; i++) if (i < 995 || i >= 1015) w.ingestFrame(frames[i]!);
  await settle(w);
  t.same(
    gaps,
    [{ symbol: 'XRPETH', fromId: trades[1000]!.aggId, toId: trades[1009]!.aggId, fromTime: trades[999]!.tradeTime, toTime: trades[1010]!.tradeTime }],
    'exactly the ids REST could not provide, with the time span whose klines need a rebuild',
  );
  t.match(w.repairStats, { repaired: 0, unrepaired: 1, repairedTrades: 10 }, 'what REST still had on both sides of the hole was applied');
  const got = finals(w);
  t.equal(got.length, reference.length, 'every period still gets its kline');
  const differing = got.filter((k, i) => JSON.stringify(k) !== JSON.stringify(reference[i])).map((k) => k.openTime);
  t.ok(differing.length > 0 && differing.every((time) => time <= trades[1010]!.tradeTime && time + 3_600_000 > trades[999]!.tradeTime), 'only klines within the reported span differ');
});

t.test('a repair whose fetch fails is asked again, not given up: the gap is repaired once the exchange answers', async (t) => {
  const gaps: UnrepairedGap[] = [];
  const rest = restLike(() => true);
  let failures = 2;
  const flaky = async (symbol: string, fromId: number, toId: number): Promise<readonly AggTrade[]> => {
    if (failures-- > 0) throw new Error('418 banned');
    return rest.fetch(symbol, fromId, toId);
  };
  const w = worker({ fetchTrades: flaky, gaps });
  for (let i = 0; i < frames.length; i++) if (i < 400 || i >= 420) w.ingestFrame(frames[i]!);
  t.equal(w.repairStats.pending, 1, 'the symbol is held while its repair retries');
  await settle(w);
  t.same(gaps, [], 'nothing reported as lost');
  t.match(w.repairStats, { repaired: 1, repairedTrades: 20, unrepaired: 0, fetchRetries: 2 });
  t.same(finals(w), reference, 'klines identical to the uninterrupted stream');
});

t.test('a deactivated symbol is first caught up to the exchange: its last trades lost on the stream are not lost', async (t) => {
  const rest = restLike(() => true);
  const w = worker({ fetchTrades: rest.fetch });
  for (let i = 0; i < frames.length - 25; i++) w.ingestFrame(frames[i]!); // the last 25 never come on the stream
  w.deactivate('XRPETH');
  t.equal(w.repairStats.pending, 1, 'deactivation waits for a catch-up');
  await settle(w);
  t.same(rest.calls, [[trades[frames.length - 25]!.aggId, trades[frames.length - 25]!.aggId + 9_999]], 'one catch-up from its position (a bounded stretch: 10,000 ids)');
  const applied = w.engine.counters.applied;
  t.equal(applied, frames.length, 'every trade applied, the withheld ones from REST');
  w.ingestFrame(frames[frames.length - 1]!);
  t.equal(w.engine.counters.applied, applied, 'then intake is off');
  t.same(finals(w), reference, 'klines identical to the uninterrupted stream');
});

t.test('a symbol activated again while its deactivation catches up stays active', async (t) => {
  const rest = restLike(() => true);
  const w = worker({ fetchTrades: rest.fetch });
  for (let i = 0; i < 100; i++) w.ingestFrame(frames[i]!);
  w.deactivate('XRPETH');
  w.activate('XRPETH', SCALES, []);
  await settle(w);
  t.equal(w.isActive('XRPETH'), true, 'intake stays on after the catch-up');
  for (let i = 100; i < frames.length; i++) w.ingestFrame(frames[i]!);
  t.same(finals(w), reference, 'still aggregating');
});

t.test('a listing starts at the exchange\'s first trade, fetched over REST, even when the stream dropped it', async (t) => {
  for (const [name, publishedAtActivation] of [['no trade yet at activation', -1], ['30 trades already', 29]] as const) {
    const gaps: UnrepairedGap[] = [];
    let published: number = publishedAtActivation; // index of the exchange's latest trade
    const rest = restLike((trade) => trade.aggId <= trades[Math.max(0, published)]!.aggId && published >= 0);
    const w = new PartitionWorker({ id: 0, intervals: INTERVALS, graceMs: 1000, clockFromTrades: true, fetchTrades: rest.fetch, onUnrepairedGap: (gap) => gaps.push(gap) });
    w.activate('XRPETH', SCALES, [], FROM_FIRST_TRADE);
    await settle(w);
    for (let i = publishedAtActivation + 1; i < frames.length; i++) {
      published = i;
      if (i > 2 && (i >= 40 || publishedAtActivation >= 0)) w.ingestFrame(frames[i]!); // the stream lost the first 3 (or first 40)
      if (i % 500 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await settle(w);
    t.same(gaps, [], `${name}: nothing reported as lost`);
    t.equal(rest.calls[0]![0], 0, `${name}: the first fetch asks from id 0`);
    t.equal(w.engine.counters.applied, frames.length, `${name}: every trade applied`);
    t.same(finals(w), reference, `${name}: klines identical to the uninterrupted stream`);
  }
});

t.test('a listing whose trades REST never returns starts at the stream\'s first, and says so', async (t) => {
  const gaps: UnrepairedGap[] = [];
  const rest = restLike(() => false);
  const w = new PartitionWorker({ id: 0, intervals: INTERVALS, graceMs: 1000, clockFromTrades: true, fetchTrades: rest.fetch, onUnrepairedGap: (gap) => gaps.push(gap) });
  w.activate('XRPETH', SCALES, [], FROM_FIRST_TRADE);
  await settle(w);
  for (let i = 10; i < 100; i++) w.ingestFrame(frames[i]!);
  await settle(w);
  t.equal(rest.calls.length, 7, 'asked once at activation, then six times while frames waited');
  t.same(gaps, [{ symbol: 'XRPETH', fromId: 0, toId: -1, fromTime: trades[10]!.tradeTime, toTime: trades[10]!.tradeTime }], 'the unrepaired start is reported');
  t.equal(w.engine.counters.applied, 90, 'the stream\'s trades applied from its first');
});

t.test('a catch-up asked for during a repair: dropped when frames wait behind the repair, kept when none do', async (t) => {
  // With frames waiting, their ids show any gap once the repair ends; a catch-up on top was a REST fetch per check
  // of a held symbol (held symbols look quiet to the trailing-gap checks: the soak's catch-up storm).
  const rest = restLike(() => true);
  const w = worker({ fetchTrades: rest.fetch });
  for (let i = 0; i < 100; i++) w.ingestFrame(frames[i]!);
  w.ingestFrame(frames[150]!); // ids 100–149 missing: a repair starts, holding this frame
  w.catchUp('XRPETH');
  w.ingestFrame(frames[151]!);
  w.catchUp('XRPETH');
  await settle(w);
  t.same(rest.calls, [[trades[100]!.aggId, trades[149]!.aggId]], 'the repair only: frames were waiting');
  t.equal(w.positionOf('XRPETH'), trades[151]!.aggId);

  // A repair with nothing behind it (the trades after the gap lost too): the catch-up runs after it.
  const quiet = restLike(() => true);
  const q = worker({ fetchTrades: quiet.fetch });
  for (let i = 0; i < 100; i++) q.ingestFrame(frames[i]!);
  q.catchUp('XRPETH'); // a trailing-gap check: starts a catch-up (toId latest)
  q.catchUp('XRPETH'); // asked again while it runs, nothing waiting: after it
  await settle(q);
  t.equal(quiet.calls.length, 2, 'the catch-up, then the one asked for meanwhile');
  t.equal(q.positionOf('XRPETH'), trades.at(-1)!.aggId, 'caught up to the exchange’s last trade');
});

t.test('frames held behind a repair stay within the byte budget; those not kept are fetched again after it, none lost', async (t) => {
  let release: () => void = () => {};
  const calls: [number, number][] = [];
  // The first fetch waits until released (REST short: a ban, a spent budget); later ones answer at once.
  const fetchTrades = async (_symbol: string, fromId: number, toId: number): Promise<readonly AggTrade[]> => {
    calls.push([fromId, toId]);
    if (calls.length === 1) await new Promise<void>((resolve) => (release = resolve));
    return trades.filter((trade) => trade.aggId >= fromId && trade.aggId <= toId);
  };
  const budget = frames.slice(1001, 1101).reduce((sum, frame) => sum + frame.length, 0); // about 100 frames
  const w = new PartitionWorker({ id: 0, intervals: INTERVALS, graceMs: 1000, clockFromTrades: true, fetchTrades, maxHeldBytes: budget });
  w.activate('XRPETH', SCALES, []);
  for (let i = 0; i < 990; i++) w.ingestFrame(frames[i]!);
  // 990–999 lost on the stream; 1000 shows the gap; the next 2,000 frames come while the repair waits.
  for (let i = 1000; i < 3000; i++) w.ingestFrame(frames[i]!);
  const held = w.repairStats;
  t.ok(held.heldBytes <= budget + frames[1000]!.length, `held ${held.heldBytes} bytes, within the budget (${budget}) and the frame that began the repair`);
  t.ok(held.heldDropped > 1800, `frames past the budget not kept (${held.heldDropped})`);
  release();
  await settle(w);
  t.same(calls, [[trades[990]!.aggId, trades[999]!.aggId]], 'one repair so far: the frames kept after it replayed in order');
  const kept = w.positionOf('XRPETH');
  t.ok(kept > trades[1000]!.aggId && kept < trades[2999]!.aggId, 'applied up to the last frame kept');
  t.equal(w.repairStats.heldBytes, 0, 'nothing held once it ended');
  // The next stream frame shows the frames not kept as a gap, repaired like any other.
  w.ingestFrame(frames[3000]!);
  await settle(w);
  t.same(calls.slice(1), [[kept + 1, trades[2999]!.aggId]], 'the trades of the frames not kept, fetched once');
  for (let i = 3001; i < frames.length; i++) w.ingestFrame(frames[i]!);
  t.equal(w.repairStats.pending, 0);
  t.same(finals(w), reference, 'every kline equals the uninterrupted run: nothing lost, nothing twice');
});

t.test('a catch-up asks for a bounded stretch at a time and goes on until the exchange has no more', async (t) => {
  // Paging to the exchange's latest trade in one catch-up never ends for a symbol that trades faster than REST fetches
  // (found by the soak: BTCUSDT held for 20 minutes, none of its klines stored).
  const rest = restLike(() => true);
  const w = new PartitionWorker({ id: 0, intervals: INTERVALS, graceMs: 1000, clockFromTrades: true, fetchTrades: rest.fetch, repairLimits: { catchUpIds: 1000, repairIds: 100_000 } });
  w.activate('XRPETH', SCALES, []);
  for (let i = 0; i < 500; i++) w.ingestFrame(frames[i]!);
  w.catchUp('XRPETH'); // the stream lost everything after frame 499: only REST has it
  await settle(w);
  t.ok(rest.calls.length >= Math.ceil((trades.length - 500) / 1000), `${rest.calls.length} fetches for ${trades.length - 500} trades`);
  t.ok(rest.calls.every(([from, to]) => to - from + 1 === 1000), 'each asks for 1,000 ids');
  t.same(rest.calls.map(([from]) => from), rest.calls.map((_, i) => trades[500]!.aggId + i * 1000), 'each from where the one before ended');
  t.equal(w.positionOf('XRPETH'), trades.at(-1)!.aggId, 'caught up to the exchange’s last trade');
  t.same(finals(w), reference, 'klines identical to the uninterrupted stream');
});

t.test('a catch-up with frames waiting behind it: the frames bound the rest, fetched as a gap', async (t) => {
  const rest = restLike(() => true);
  const w = new PartitionWorker({ id: 0, intervals: INTERVALS, graceMs: 1000, clockFromTrades: true, fetchTrades: rest.fetch, repairLimits: { catchUpIds: 1000, repairIds: 100_000 } });
  w.activate('XRPETH', SCALES, []);
  for (let i = 0; i < 500; i++) w.ingestFrame(frames[i]!);
  w.catchUp('XRPETH');
  for (let i = 4000; i < frames.length; i++) w.ingestFrame(frames[i]!); // the stream resumes at 4000 meanwhile
  await settle(w);
  t.same(rest.calls, [
    [trades[500]!.aggId, trades[1499]!.aggId],
    [trades[1500]!.aggId, trades[3999]!.aggId],
  ], 'the bounded catch-up, then the gap up to the first waiting frame');
  t.same(finals(w), reference, 'klines identical to the uninterrupted stream');
});

t.test('a gap wider than REST can close in time is not fetched: accepted, reported for a rebuild, the stream goes on', async (t) => {
  const gaps: UnrepairedGap[] = [];
  const rest = restLike(() => true);
  const w = new PartitionWorker({ id: 0, intervals: INTERVALS, graceMs: 1000, clockFromTrades: true, fetchTrades: rest.fetch, onUnrepairedGap: (gap) => gaps.push(gap), repairLimits: { catchUpIds: 10_000, repairIds: 500 } });
  w.activate('XRPETH', SCALES, []);
  for (let i = 0; i < frames.length; i++) if (i < 2000 || i >= 2600) w.ingestFrame(frames[i]!); // 600 ids lost
  await settle(w);
  t.same(rest.calls, [], 'nothing fetched for it');
  t.same(gaps, [{ symbol: 'XRPETH', fromId: trades[2000]!.aggId, toId: trades[2599]!.aggId, fromTime: trades[1999]!.tradeTime, toTime: trades[2600]!.tradeTime, tooWide: true }], 'reported with the span whose klines get rebuilt, as too wide');
  t.match(w.repairStats, { unrepaired: 1, repaired: 0, pending: 0 });
  t.equal(w.positionOf('XRPETH'), trades.at(-1)!.aggId, 'every later frame applied');
  const got = finals(w);
  const differing = got.filter((k, i) => JSON.stringify(k) !== JSON.stringify(reference[i])).map((k) => k.openTime);
  t.ok(differing.length > 0 && differing.every((time) => time <= trades[2600]!.tradeTime && time + 3_600_000 > trades[1999]!.tradeTime), 'only klines within the reported span differ');

  // Narrower than the limit: fetched as before.
  const narrow = restLike(() => true);
  const n = new PartitionWorker({ id: 0, intervals: INTERVALS, graceMs: 1000, clockFromTrades: true, fetchTrades: narrow.fetch, repairLimits: { catchUpIds: 10_000, repairIds: 500 } });
  n.activate('XRPETH', SCALES, []);
  for (let i = 0; i < frames.length; i++) if (i < 5000 || i >= 5500) n.ingestFrame(frames[i]!);
  await settle(n);
  t.same(narrow.calls, [[trades[5000]!.aggId, trades[5499]!.aggId]], 'a 500-id gap is fetched');
  t.same(finals(n), reference);
});
