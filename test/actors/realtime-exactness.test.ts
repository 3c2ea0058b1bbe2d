/**
 * Exact in real time. klagg runs as `klagg run` does — the shared clock finalizing quiet periods on the exchange's
 * time (grace 1 s), the trailing-gap watch on — against the fake exchange over loopback, with PostgreSQL and a client
 * on klagg's kline stream, while faults act on time: a symbol's last trades withheld before it goes quiet, frames
 * stalled across a minute's end, a cold join in the middle of an hour. Every stored 1m, 5m and 1h kline is compared
 * with what the exchange aggregated from exactly the trades it published (the fault-free run), and no trade may be
 * dropped as late.
 */
import t, { type Test } from 'tap';
import type { Kline } from '../../src/domain/kline.ts';
import { compareWithExchange, MINUTE, startRealtime, values, type Realtime } from '../support/realtime.ts';

const INTERVALS = ['1m', '5m', '1h'] as const;
/** A Tuesday; each test places the exchange's clock a few seconds before the period end it is about. */
const DAY = Date.UTC(2026, 2, 3);

async function workerTotals(rt: Realtime) {
  const stats = await Promise.all(rt.service.system.workers.map((worker) => worker.stats()));
  return {
    late: stats.reduce((n, s) => n + s.late, 0),
    amended: stats.reduce((n, s) => n + s.amended, 0),
    revisions: stats.reduce((n, s) => n + s.revisions.late + s.revisions.repair + s.revisions.restart, 0),
    catchUps: stats.reduce((n, s) => n + s.catchUps, 0),
  };
}

/** Stops publishing, lets klagg take in what is on its way, stops klagg (everything stored), compares every interval. */
async function settleAndCompare(t: Test, rt: Realtime, from: number): Promise<void> {
  rt.exchange.market.stop();
  const end = rt.clock.now();
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  const totals = await workerTotals(rt);
  t.equal(totals.late, 0, 'no trade dropped as late');
  t.equal(await rt.service.stop('test done'), 0, 'klagg stopped cleanly');
  for (const symbol of rt.exchange.market.symbols().map((s) => s.symbol)) {
    for (const interval of INTERVALS) {
      await compareWithExchange(t, rt, symbol, interval, from, end);
      // The period under way when publishing stopped: stored (open) with exactly the exchange's trades.
      const open = rt.exchange.market.klines(symbol, interval, { startTime: end - (interval === '1m' ? MINUTE : interval === '5m' ? 5 * MINUTE : 60 * MINUTE), endTime: end, limit: 1 }).at(-1);
      if (open === undefined) continue;
      const stored = (await rt.store.range('binance', 'usdm', symbol, interval, { startTime: open.openTime, endTime: open.openTime, limit: 1 }))[0];
      t.equal(stored && values(stored), values(open), `${symbol} ${interval}: the period under way at the end equals the exchange's`);
    }
  }
}

t.test('(a) a symbol’s last trades withheld before it goes quiet: found within seconds, repaired, stored klines exact', async (t) => {
  const boundary = DAY + 10 * 60 * MINUTE + 37 * MINUTE;
  const rt = await startRealtime(t, {
    prefix: 'klagg_rt_tail',
    startAt: boundary - 20_000,
    market: { symbols: 3, rate: 6, seed: 11, quietPeriods: false, startTime: boundary - 3 * MINUTE },
    intervals: INTERVALS,
  });
  await rt.startService();
  const symbol = rt.exchange.market.symbols()[0]!.symbol;
  await rt.until(boundary - 6_000);
  rt.exchange.faults.inject({ type: 'withholdTail', symbol, count: 4, quietMs: 25_000 });
  const injectedAt = rt.clock.now();
  await rt.until(boundary + 12_000);
  const watch = rt.service.trailingGaps.stats;
  t.ok(rt.exchange.faults.effects.withheldTrades >= 4, `the exchange withheld ${rt.exchange.faults.effects.withheldTrades} trades from the stream`);
  t.ok(watch.found >= 1, `the trailing gap was found (suspected ${watch.suspected}, found ${watch.found}, false alarms ${watch.falseAlarms})`);
  t.ok(watch.lastDetectionMs > 0 && watch.lastDetectionMs < 5_000, `from the exchange showing the trades to klagg holding them: ${watch.lastDetectionMs} ms`);
  t.comment(`trailing gap: withheld at ${injectedAt - boundary} ms before the minute's end; exchange ahead → repaired in ${watch.lastDetectionMs} ms`);
  await settleAndCompare(t, rt, boundary - 20_000);
});

t.test('(b) the stream lagging longer than the grace across a minute’s end: amended as revisions; the last x:true a client got equals the stored row', async (t) => {
  const boundary = DAY + 14 * 60 * MINUTE + 5 * MINUTE;
  const rt = await startRealtime(t, {
    prefix: 'klagg_rt_stall',
    startAt: boundary - 20_000,
    market: { symbols: 2, rate: 10, seed: 5, quietPeriods: false, startTime: boundary - 2 * MINUTE },
    intervals: INTERVALS,
    clientStreams: (symbols) => symbols.flatMap((s) => [`${s.toLowerCase()}@kline_1m`, `${s.toLowerCase()}@kline_5m`]),
  });
  await rt.startService();
  await rt.until(boundary - 1_500);
  // The whole stream (aggTrade and kline frames) lags 2.5 s for 4 s: the minute's last trades reach klagg after its
  // clock (grace 1 s) finalized the minute.
  rt.exchange.faults.inject({ type: 'lag', ms: 2_500, durationMs: 4_000 });
  await rt.until(boundary + 8_000);
  const totals = await workerTotals(rt);
  t.ok(totals.amended > 0, `late trades amended their finals (${totals.amended})`);
  t.ok(totals.revisions > 0, `revisions emitted (${totals.revisions})`);
  await settleAndCompare(t, rt, boundary - 20_000);
  let revisedOnStream = 0;
  for (const symbol of rt.exchange.market.symbols().map((s) => s.symbol)) {
    for (const interval of ['1m', '5m'] as const) {
      const finals = rt.events.filter((e) => e.stream === `${symbol.toLowerCase()}@kline_${interval}` && e.kline.x);
      const byOpen = new Map<number, (typeof finals)[number]>();
      const count = new Map<number, number>();
      for (const e of finals) {
        byOpen.set(e.kline.t, e);
        count.set(e.kline.t, (count.get(e.kline.t) ?? 0) + 1);
      }
      revisedOnStream += [...count.values()].filter((n) => n > 1).length;
      for (const [openTime, last] of byOpen) {
        const stored = (await rt.store.range('binance', 'usdm', symbol, interval, { startTime: openTime, endTime: openTime, limit: 1 }))[0];
        const k = last.kline;
        const streamed = { open: k.o, high: k.h, low: k.l, close: k.c, volume: k.v, quoteVolume: k.q, tradeCount: k.n, takerBuyVolume: k.V, takerBuyQuoteVolume: k.Q };
        t.equal(values(streamed), stored && values(stored as Kline), `${symbol} ${interval} ${new Date(openTime).toISOString()}: the last x:true equals the stored row`);
      }
    }
  }
  t.ok(revisedOnStream > 0, `corrected klines went out again as x:true (${revisedOnStream} klines)`);
});

t.test('(d) a cold join in the middle of an hour: the first 1m, 5m and 1h finals are exact when first emitted (no revision)', async (t) => {
  const hour = DAY + 17 * 60 * MINUTE;
  const rt = await startRealtime(t, {
    prefix: 'klagg_rt_join',
    // 58:48 into the hour, 3:48 into its last 5m period, 48 s into a minute; trading since 17:20.
    startAt: hour + 58 * MINUTE + 48_000,
    market: { symbols: 2, rate: 6, seed: 9, quietPeriods: false, startTime: hour + 20 * MINUTE },
    intervals: INTERVALS,
  });
  const firstFinals = new Map<string, Kline>();
  const later: Kline[] = [];
  await rt.startService();
  rt.service.system.onBatch((batch) => {
    for (const k of batch.finals) {
      const key = `${k.symbol} ${k.interval}`;
      if (!firstFinals.has(key)) firstFinals.set(key, k);
      else if (firstFinals.get(key)!.openTime === k.openTime) later.push(k);
    }
  });
  t.equal(rt.service.manager.joins.composed, 2, 'both symbols joined through a composition');
  t.comment(`REST weight of the joins: ${rt.service.manager.joins.weight} (2 symbols, intervals 1m 5m 1h)`);
  await rt.until(hour + 60 * MINUTE + 5_000);
  for (const symbol of rt.exchange.market.symbols().map((s) => s.symbol)) {
    for (const interval of INTERVALS) {
      const first = firstFinals.get(`${symbol} ${interval}`);
      t.ok(first, `${symbol} ${interval}: a final was emitted`);
      if (!first) continue;
      const want = rt.exchange.market.klines(symbol, interval, { startTime: first.openTime, endTime: first.openTime, limit: 1 })[0]!;
      t.equal(first.revision, undefined, `${symbol} ${interval} ${new Date(first.openTime).toISOString().slice(11, 16)}: first emitted as revision 0`);
      t.equal(values(first), values(want), `${symbol} ${interval}: equal to the exchange's kline when first emitted`);
    }
  }
  t.same(later, [], 'none of them was revised afterwards');
  t.ok(firstFinals.get(`${rt.exchange.market.symbols()[0]!.symbol} 1h`)?.openTime === hour, 'the joined hour itself was final and exact');
  await settleAndCompare(t, rt, hour + 58 * MINUTE + 48_000);
});
