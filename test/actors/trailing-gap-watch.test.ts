import t from 'tap';
import { isExchangeKlineFrame, readExchangeKline, TrailingGapWatch } from '../../src/actors/trailing-gap-watch.ts';

t.test('the exchange ahead for longer than confirmMs starts one catch-up; reaching its id counts as found', async (t) => {
  const watch = new TrailingGapWatch({ confirmMs: 2000, settleMs: 5000 });
  watch.onApplied('BTCUSDT', 100, 0);
  watch.onExchangeKline('BTCUSDT', 100, 0);
  t.same(watch.due(10_000), [], 'level: nothing to do');
  watch.onExchangeKline('BTCUSDT', 105, 1000);
  t.same(watch.due(2500), [], 'not yet confirmed (the aggTrade stream may just lag)');
  t.same(watch.due(3000), ['BTCUSDT'], 'confirmed after 2 s');
  t.same(watch.due(3500), [], 'one check per exchange id');
  watch.onApplied('BTCUSDT', 105, 3400);
  t.match(watch.stats, { suspected: 1, found: 1, falseAlarms: 0, lastDetectionMs: 2400 });
});

t.test('a stream that merely lags is never checked', async (t) => {
  const watch = new TrailingGapWatch({ confirmMs: 2000, settleMs: 5000 });
  watch.onExchangeKline('X', 10, 0);
  watch.onApplied('X', 10, 1500);
  t.same(watch.due(5000), []);
  t.equal(watch.stats.suspected, 0);
});

t.test('ids the exchange never aggregates (insurance, ADL): one check, then a false alarm, no loop', async (t) => {
  const watch = new TrailingGapWatch({ confirmMs: 1000, settleMs: 3000 });
  watch.onApplied('X', 50, 0);
  watch.onExchangeKline('X', 52, 0);
  t.same(watch.due(1000), ['X']);
  t.same(watch.due(2000), []);
  t.same(watch.due(4000), [], 'settled: not checked again');
  t.match(watch.stats, { suspected: 1, falseAlarms: 1, found: 0 });
  t.same(watch.due(60_000), [], 'never again for the same id');
  watch.onExchangeKline('X', 53, 60_000);
  t.same(watch.due(61_000), ['X'], 'a newer id is checked again');
});

t.test('exchange kline frames are told apart and read', async (t) => {
  const frame = Buffer.from('{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":0,"T":59999,"s":"BTCUSDT","i":"1m","f":5,"L":9,"x":false}}}');
  t.ok(isExchangeKlineFrame(frame));
  t.notOk(isExchangeKlineFrame(Buffer.from('{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","s":"BTCUSDT"}}')));
  t.same(readExchangeKline(frame), { symbol: 'BTCUSDT', lastTradeId: 9 });
  t.equal(readExchangeKline(Buffer.from('{"stream":"x@kline_1m","data":{')), undefined, 'malformed: ignored');
});

t.test('a busy symbol whose exchange id is always a little ahead (stream lag) is never checked', async (t) => {
  const watch = new TrailingGapWatch({ confirmMs: 2000, settleMs: 5000 });
  let checks = 0;
  for (let now = 0, id = 0; now < 60_000; now += 250, id += 10) {
    watch.onExchangeKline('DOGEUSDT', id + 10, now); // the kline stream is one step ahead…
    watch.onApplied('DOGEUSDT', id, now + 200); // …and klagg reaches each id within a second
    checks += watch.due(now + 250).length;
  }
  t.equal(checks, 0);
  t.equal(watch.stats.suspected, 0, 'no REST check in a minute of steady trading');
});

t.test('quiet symbols: checked when quiet, again with growing waits, after reconnects, and when nothing ever came', async (t) => {
  const { QuietSymbolCheck, exchangeHasMore } = await import('../../src/actors/quiet-symbol-check.ts');
  const check = new QuietSymbolCheck({ quietAfterMs: 10_000, settleMs: 2_000 });
  check.onSubscribed('NEVER', 60_000, 0);
  check.onTraded('BUSY', { openTime: 60_000, tradeCount: 5 }, 0);
  t.same(check.due(5_000), [], 'nothing is quiet yet');
  t.same(check.due(10_000).map((d) => d.symbol).sort(), ['BUSY', 'NEVER'], 'quiet for 10 s: checked (a symbol that never traded too)');
  check.checked('BUSY', false, 10_000);
  check.checked('NEVER', false, 10_000);
  t.same(check.due(29_000), [], 'nothing missing: the next check waits twice as long');
  t.same(check.due(30_000).length, 2, 'checked again after 20 s');
  check.checked('BUSY', false, 30_000);
  check.checked('NEVER', true, 30_000);
  t.same(check.due(40_000).map((d) => d.symbol), ['NEVER'], 'missing: looked at again soon; the other waits 40 s');
  check.checked('NEVER', false, 40_000);
  check.onReconnected(['BUSY', 'NEVER'], 41_000);
  check.onTraded('BUSY', { openTime: 60_000, tradeCount: 6 }, 42_000);
  t.same(check.due(43_000).map((d) => d.symbol), ['NEVER'], 'after a reconnect: the symbols of the connection that did not trade since (a trade lost before BUSY\'s new one is an id gap)');
  check.checked('NEVER', false, 43_000);
  t.same(check.due(51_999), [], 'BUSY: no reconnect check later either');
  t.same(check.due(52_000).map((d) => d.symbol), ['BUSY'], 'quiet 10 s after its last trade: BUSY is checked as any quiet symbol');
  t.ok(exchangeHasMore({ openTime: 60_000, tradeCount: 5 }, [{ openTime: 60_000, tradeCount: 6 }]), 'more trades in the same minute');
  t.ok(exchangeHasMore({ openTime: 60_000, tradeCount: 5 }, [{ openTime: 60_000, tradeCount: 5 }, { openTime: 120_000, tradeCount: 1 }]), 'trades in a later minute');
  t.notOk(exchangeHasMore({ openTime: 60_000, tradeCount: 5 }, [{ openTime: 60_000, tradeCount: 5 }, { openTime: 120_000, tradeCount: 0 }]), 'nothing more');
});

t.test('a busy symbol lagging seconds behind the kline stream: no check while its trades keep coming; one once they stop', async (t) => {
  // The soak's stream lagged 5–15 s: the aggTrade position never reached the kline stream's id within confirmMs, and
  // every busy symbol was caught up over REST every 2 s (97,000 catch-ups in 25 minutes).
  const watch = new TrailingGapWatch({ confirmMs: 2000, settleMs: 5000 });
  for (let now = 0; now <= 60_000; now += 250) {
    watch.onExchangeKline('ETHUSDT', 1000 + now, now);
    if (now >= 5000) watch.onApplied('ETHUSDT', 1000 + now - 5000, now); // 5 s behind, and advancing
    if (now >= 8000) t.same(watch.due(now), [], `+${now} ms: lagging, not lost`, { diagnostic: false });
  }
  t.equal(watch.stats.suspected, 0, 'no check in a minute of 5 s lag');
  // The trades stop (the last ones lost): klagg stays at 56,000; the exchange showed 61,000.
  t.same(watch.due(61_999), [], 'within confirmMs of the last progress');
  t.same(watch.due(62_000), ['ETHUSDT'], 'confirmMs after the last progress: caught up');
});

t.test('due(now, lagMs): the streams’ measured lag is waited out on top of confirmMs', async (t) => {
  const watch = new TrailingGapWatch({ confirmMs: 2000, settleMs: 5000 });
  watch.onApplied('X', 10, 0);
  watch.onExchangeKline('X', 12, 0);
  t.same(watch.due(2000, 3000), [], 'lag 3 s: not yet');
  t.same(watch.due(4999, 3000), []);
  t.same(watch.due(5000, 3000), ['X'], 'confirmMs + lag');
});

t.test('found missing again and again with no trade applied between: the checks back off instead of repeating every 10 s', async (t) => {
  const { QuietSymbolCheck } = await import('../../src/actors/quiet-symbol-check.ts');
  const check = new QuietSymbolCheck({ quietAfterMs: 10_000, settleMs: 2_000, maxRecheckMs: 60_000 });
  check.onTraded('X', { openTime: 60_000, tradeCount: 5 }, 0);
  const checks: number[] = [];
  for (let now = 0; now <= 200_000; now += 1_000) {
    if (check.due(now).length === 0) continue;
    checks.push(now);
    // The exchange's klines show a trade its aggTrades never return: the catch-up brings nothing.
    check.checked('X', true, now);
  }
  t.same(checks, [10_000, 20_000, 40_000, 80_000, 140_000, 200_000], 'after 10 s, then 20, 40, up to maxRecheckMs');
  t.equal(check.stats.found, 6);

  // The catch-up brings trades: the symbol is quiet afresh; a later missing trade is looked at again soon.
  check.onTraded('X', { openTime: 180_000, tradeCount: 1 }, 201_000);
  t.same(check.due(211_000).map((d) => d.symbol), ['X'], 'quiet 10 s after its new trade');
  check.checked('X', true, 211_000);
  t.same(check.due(221_000).map((d) => d.symbol), ['X'], 'a first "missing" since it traded: looked at again after 10 s');
  check.checked('X', false, 221_000);
  check.onTraded('X', { openTime: 240_000, tradeCount: 1 }, 230_000);
  t.same(check.due(240_000).map((d) => d.symbol), ['X']);
  check.checked('X', true, 240_000);
  t.same(check.due(250_000).map((d) => d.symbol), ['X'], 'a check that found nothing missing ends the streak');
});

t.test('quiet checks wait out the streams’ measured lag too', async (t) => {
  const { QuietSymbolCheck } = await import('../../src/actors/quiet-symbol-check.ts');
  const check = new QuietSymbolCheck({ quietAfterMs: 10_000, settleMs: 2_000 });
  check.onTraded('X', { openTime: 60_000, tradeCount: 5 }, 0);
  t.same(check.due(10_000, 4_000), [], 'quiet 10 s, but the stream lags 4 s: its trades may be on the way');
  t.same(check.due(14_000, 4_000).map((d) => d.symbol), ['X'], 'quiet for 10 s + the lag: checked');
  check.checked('X', false, 14_000);
  check.onReconnected(['X'], 15_000);
  t.same(check.due(17_000, 4_000), [], 'after a reconnect: settleMs + the lag');
  t.same(check.due(21_000, 4_000).map((d) => d.symbol), ['X']);
});
