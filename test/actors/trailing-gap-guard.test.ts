/**
 * The TrailingGapGuard on its own, on an injected elapsed clock: an exchange kline frame ahead of what klagg applied
 * becomes one catch-up after confirmMs; a quiet symbol whose exchange 1m klines hold more trades becomes one too; a
 * failed check is retried, a matching one is not acted on.
 */
import t, { type Test } from 'tap';
import { TrailingGapGuard } from '../../src/actors/trailing-gap-guard.ts';
import type { RestKline } from '../../src/domain/exchange-api.ts';
import type { Kline } from '../../src/domain/kline.ts';
import type { PublishedBatch } from '../../src/domain/messages.ts';
import { createRootLogger } from '../../src/infra/logger.ts';

const logger = createRootLogger({ level: 'silent' });
const frame = (symbol: string, lastTradeId: number): Buffer =>
  Buffer.from(`{"stream":"${symbol.toLowerCase()}@kline_1m","data":{"e":"kline","E":1,"s":"${symbol}","k":{"t":0,"T":59999,"s":"${symbol}","i":"1m","f":1,"L":${lastTradeId},"x":false}}}`);

function applied(symbol: string, openTime: number, lastTradeId: number, tradeCount: number): PublishedBatch {
  const kline = { symbol, interval: '1m', openTime, closeTime: openTime + 59_999, lastTradeId, tradeCount, isFinal: false } as unknown as Kline;
  return { seq: 1, finals: [], updates: [kline], missingWorkers: [] };
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A guard with the kline-stream watch only (quiet checks an hour away), on the clock `time`, BTCUSDT 4 ids behind. */
function klineWatchGuard(t: Test, time: { elapsed: number; lag?: number }): { g: TrailingGapGuard; caughtUp: string[] } {
  const caughtUp: string[] = [];
  const g = new TrailingGapGuard({
    confirmMs: 2000,
    quietAfterMs: 3_600_000,
    checkIntervalMs: 20,
    finest: '1m',
    elapsed: () => time.elapsed,
    streamLagMs: time.lag === undefined ? undefined : () => time.lag!,
    now: () => 0,
    logger,
    fetchMinuteKlines: async () => [],
    catchUp: (symbol) => caughtUp.push(symbol),
  });
  t.teardown(() => g.stop());
  g.onBatch(applied('BTCUSDT', 0, 100, 5));
  g.onExchangeKlineFrame(frame('BTCUSDT', 104));
  g.start();
  return { g, caughtUp };
}

t.test('the exchange kline ahead of what klagg applied for confirmMs: one catch-up, on the timer', async (t) => {
  const time = { elapsed: 0 };
  const { g, caughtUp } = klineWatchGuard(t, time);
  time.elapsed = 1000;
  await wait(80);
  t.same(caughtUp, [], 'not yet: the aggTrade stream may only lag');
  time.elapsed = 2500;
  for (let i = 0; i < 50 && caughtUp.length === 0; i++) await wait(20);
  t.same(caughtUp, ['BTCUSDT'], 'confirmed after 2 s: caught up');
  await wait(80);
  t.same(caughtUp, ['BTCUSDT'], 'once per exchange id');
  t.equal(g.watch.stats.suspected, 1);
});

t.test('on its timer: due trailing gaps and quiet checks act through the ports', async (t) => {
  const asked: [string, number][] = [];
  let exchangeTrades = 7;
  let elapsed = 0;
  const caughtUp: string[] = [];
  const g = new TrailingGapGuard({
    confirmMs: 200,
    quietAfterMs: 300,
    checkIntervalMs: 20,
    finest: '1m',
    elapsed: () => elapsed,
    now: () => 0,
    logger,
    fetchMinuteKlines: async (symbol, startTime) => {
      asked.push([symbol, startTime]);
      return [{ openTime: 0, tradeCount: exchangeTrades } as RestKline];
    },
    catchUp: (symbol) => caughtUp.push(symbol),
  });
  t.teardown(() => g.stop());
  g.onSubscribed('ETHUSDT');
  g.onBatch(applied('ETHUSDT', 0, 50, 5));
  g.start();
  elapsed = 400; // quiet for longer than quietAfterMs
  for (let i = 0; i < 50 && caughtUp.length === 0; i++) await wait(20);
  t.same(asked[0], ['ETHUSDT', 0], "asked the exchange's 1m klines from klagg's last traded minute");
  t.same(caughtUp, ['ETHUSDT'], 'the exchange had 7 trades in the minute, klagg 5: caught up');

  exchangeTrades = 5;
  g.onBatch(applied('ETHUSDT', 0, 52, 7));
  g.onReconnected(['ethusdt@aggTrade', 'ethusdt@kline_1m']);
  elapsed = 10_000;
  const before = asked.length;
  for (let i = 0; i < 50 && asked.length === before; i++) await wait(20);
  t.ok(asked.length > before, 'a reconnect checks the symbol again');
  await wait(60);
  t.same(caughtUp, ['ETHUSDT'], 'equal counts: no catch-up');
});

t.test('the streams’ lag (streamLagMs) is waited out; a lag past 30 s is not', async (t) => {
  const time = { elapsed: 0, lag: 5_000 };
  const { g, caughtUp } = klineWatchGuard(t, time);
  time.elapsed = 6_000;
  await wait(80);
  t.same(caughtUp, [], 'the stream lags 5 s: 2 s + 5 s not yet passed');
  time.elapsed = 7_000;
  for (let i = 0; i < 50 && caughtUp.length === 0; i++) await wait(20);
  t.same(caughtUp, ['BTCUSDT'], 'after confirmMs + the lag');
  g.onExchangeKlineFrame(frame('BTCUSDT', 110));
  time.lag = 600_000;
  time.elapsed = 7_000 + 2_000 + 29_999;
  await wait(80);
  t.same(caughtUp, ['BTCUSDT'], 'a 10-minute lag is waited out only up to 30 s');
  time.elapsed = 7_000 + 2_000 + 30_000;
  for (let i = 0; i < 50 && caughtUp.length === 1; i++) await wait(20);
  t.same(caughtUp, ['BTCUSDT', 'BTCUSDT']);
});
