/**
 * A cold join in the middle of an hour, with klagg running as `klagg run` does (clock finalization on) against the
 * fake exchange in real time: the periods under way are composed from the exchange's klines and the current minute's
 * trades, so their first finals are exact when first emitted — no revision needed.
 */
import t from 'tap';
import type { Kline } from '../../src/domain/kline.ts';
import { DAY, INTERVALS, MINUTE, settleAndCompare, startRealtime, values } from '../support/realtime.ts';

for (const threads of [false, true]) t.test(`(d) a cold join in the middle of an hour: the first 1m, 5m and 1h finals are exact when first emitted (no revision)${threads ? ' (worker threads with their own connections)' : ''}`, async (t) => {
  const hour = DAY + 17 * 60 * MINUTE;
  const rt = await startRealtime(t, {
    prefix: 'klagg_rt_join',
    threads,
    // 59:32 into the hour, 4:32 into its last 5m period, 32 s into a minute; trading since 17:20.
    startAt: hour + 59 * MINUTE + 32_000,
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
  await settleAndCompare(t, rt, hour + 59 * MINUTE + 32_000);
});
