/** The real-time exactness scenarios, run with the workers in this thread and in worker threads (one test file each). */
import type { Test } from 'tap';
import type { Kline } from '../../src/domain/kline.ts';
import { DAY, INTERVALS, MINUTE, settleAndCompare, startRealtime, values, workerTotals } from './realtime.ts';

/** (a) A symbol’s last trades withheld before it goes quiet: found within seconds, repaired, stored klines exact. */
export async function withheldTail(t: Test, threads: boolean): Promise<void> {
  const boundary = DAY + 10 * 60 * MINUTE + 37 * MINUTE;
  const rt = await startRealtime(t, {
    prefix: 'klagg_rt_tail',
    threads,
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
  const watch = rt.service.trailingGaps.watch.stats;
  if (threads) {
    const owned = rt.service.system.workers.map((worker) => worker.streams?.report?.stats.streams ?? 0);
    t.equal(owned.reduce((a, b) => a + b, 0), 3, `the worker threads carry the 3 trade streams on their own connections (${owned.join(' + ')})`);
    t.equal(rt.service.streams.assignment.flat().filter((s) => s.endsWith('@aggTrade')).length, 0, 'no trade stream on the main thread');
    t.equal(rt.service.exchangeStreams.stats.streams, 6, 'the service sees all 6 streams (3 trade, 3 kline)');
  }
  t.ok(rt.exchange.faults.effects.withheldTrades >= 4, `the exchange withheld ${rt.exchange.faults.effects.withheldTrades} trades from the stream`);
  t.ok(watch.found >= 1, `the trailing gap was found (suspected ${watch.suspected}, found ${watch.found}, false alarms ${watch.falseAlarms})`);
  t.ok(watch.lastDetectionMs > 0 && watch.lastDetectionMs < 5_000, `from the exchange showing the trades to klagg holding them: ${Math.round(watch.lastDetectionMs)} ms`);
  t.comment(`trailing gap: withheld at ${injectedAt - boundary} ms before the minute's end; exchange ahead → repaired in ${Math.round(watch.lastDetectionMs)} ms`);
  await settleAndCompare(t, rt, boundary - 20_000);
}

/** (b) The stream lagging longer than the grace across a minute’s end: amended as revisions; the last x:true a client got equals the stored row. */
export async function laggingStream(t: Test, threads: boolean): Promise<void> {
  const boundary = DAY + 14 * 60 * MINUTE + 5 * MINUTE;
  const rt = await startRealtime(t, {
    prefix: 'klagg_rt_stall',
    threads,
    startAt: boundary - 20_000,
    market: { symbols: 2, rate: 10, seed: 5, quietPeriods: false, startTime: boundary - 2 * MINUTE },
    intervals: INTERVALS,
    clientStreams: (symbols) => symbols.flatMap((s) => [`${s.toLowerCase()}@kline_1m`, `${s.toLowerCase()}@kline_5m`]),
  });
  await rt.startService();
  await rt.until(boundary - 1_000);
  // The whole stream (aggTrade and kline frames) lags 4 s for 4 s: the minute's last second of trades reaches klagg
  // 3–4 s after the minute's end, 2–3 s after its clock (grace 1 s) finalized the minute. No lagged frame arrives
  // before that finalization, so the adaptive watermark (which follows the measured lag) cannot have moved it yet:
  // with a 2.5 s lag the first lagged frame and the finalization raced at the same millisecond (flaky under load).
  rt.exchange.faults.inject({ type: 'lag', ms: 4_000, durationMs: 4_000 });
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
}

