import t from 'tap';
import type { AggTrade } from '../../src/domain/agg-trade.ts';
import { SeededRandom, hashSeed } from '../../src/domain/seeded-random.ts';
import { generateTrades } from '../../src/domain/synthetic-market.ts';
import type { SyntheticMarketOptions } from '../../src/domain/synthetic-market-options.ts';
import { SYNTHETIC_STEP_SIZES, SYNTHETIC_TICK_SIZES, syntheticSymbols, type SyntheticSymbol } from '../../src/domain/synthetic-symbols.ts';

const START = Date.UTC(2024, 4, 1, 12, 0, 0);
const MINUTE = 60_000;

function take(options: SyntheticMarketOptions, limit: number = options.trades): AggTrade[] {
  const out: AggTrade[] = [];
  for (const trade of generateTrades(options)) {
    out.push(trade);
    if (out.length >= limit) break;
  }
  return out;
}

/** Independent exact check with BigInt: `text` has exactly the decimals of `size` and is a positive multiple of it. */
function onGrid(text: string, size: string): { ok: boolean; why: string } {
  const pattern = /^(\d+)(?:\.(\d+))?$/;
  const value = pattern.exec(text);
  const unit = pattern.exec(size);
  if (!value || !unit) return { ok: false, why: `not plain decimals: ${text} / ${size}` };
  const decimals = (unit[2] ?? '').length;
  if ((value[2] ?? '').length !== decimals) return { ok: false, why: `${text} does not have the ${decimals} decimals of ${size}` };
  if (value[1]!.length > 1 && value[1]!.startsWith('0')) return { ok: false, why: `${text} has a leading zero` };
  const scaled = BigInt(value[1]! + (value[2] ?? ''));
  const step = BigInt(unit[1]! + (unit[2] ?? ''));
  if (scaled <= 0n) return { ok: false, why: `${text} is not positive` };
  if (scaled % step !== 0n) return { ok: false, why: `${text} is not a multiple of ${size}` };
  return { ok: true, why: '' };
}

function bySymbol(trades: readonly AggTrade[]): Map<string, AggTrade[]> {
  const map = new Map<string, AggTrade[]>();
  for (const trade of trades) {
    let list = map.get(trade.symbol);
    if (list === undefined) map.set(trade.symbol, (list = []));
    list.push(trade);
  }
  return map;
}

t.test('seeded random is deterministic and roughly uniform', async (t) => {
  const a = new SeededRandom(123);
  const b = new SeededRandom(123);
  const c = new SeededRandom(124);
  const seqA = Array.from({ length: 100 }, () => a.uint32());
  const seqB = Array.from({ length: 100 }, () => b.uint32());
  const seqC = Array.from({ length: 100 }, () => c.uint32());
  t.same(seqA, seqB);
  t.not(JSON.stringify(seqA), JSON.stringify(seqC));
  t.not(hashSeed(1, 2), hashSeed(1, 3));
  t.not(hashSeed(2 ** 40, 0), hashSeed(0, 0), 'high bits of a seed matter');
  const r = new SeededRandom(7);
  let sum = 0;
  let sumSq = 0;
  let min = 1;
  let max = 0;
  const n = 100_000;
  for (let i = 0; i < n; i++) {
    const x = r.next();
    sum += x;
    sumSq += x * x;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  t.ok(min >= 0 && max < 1, 'next() is in [0, 1)');
  t.ok(Math.abs(sum / n - 0.5) < 0.01, `mean ≈ 0.5 (${sum / n})`);
  t.ok(Math.abs(sumSq / n - 1 / 3) < 0.01, `E[x²] ≈ 1/3 (${sumSq / n})`);
  let normalSum = 0;
  let normalSq = 0;
  for (let i = 0; i < n; i++) {
    const z = r.normal();
    normalSum += z;
    normalSq += z * z;
  }
  t.ok(Math.abs(normalSum / n) < 0.02, 'normal mean ≈ 0');
  t.ok(Math.abs(normalSq / n - 1) < 0.03, 'normal variance ≈ 1');
});

t.test('syntheticSymbols: unique, realistic, on-grid start prices, deterministic', async (t) => {
  const symbols = syntheticSymbols(99, 600);
  t.equal(symbols.length, 600);
  t.equal(new Set(symbols.map((s) => s.symbol)).size, 600, 'names are unique');
  t.equal(symbols[0]?.symbol, 'BTCUSDT', 'the most active symbol looks like BTC');
  t.equal(symbols[0]?.tickSize, '0.10');
  for (const s of symbols) {
    if (!/^[0-9A-Z]+USDT$/.test(s.symbol)) t.fail(`bad name ${s.symbol}`);
    if (!SYNTHETIC_TICK_SIZES.includes(s.tickSize)) t.fail(`${s.symbol}: unusual tick ${s.tickSize}`);
    if (!SYNTHETIC_STEP_SIZES.includes(s.stepSize)) t.fail(`${s.symbol}: unusual step ${s.stepSize}`);
    const check = onGrid(s.startPrice, s.tickSize);
    if (!check.ok) t.fail(`${s.symbol} start price: ${check.why}`);
    // Enough ticks per price that the walk has room, not absurdly many.
    const ticks = Number(s.startPrice.replace('.', '')) / Number(s.tickSize.replace('.', ''));
    if (!(ticks >= 100 && ticks <= 5_000_000)) t.fail(`${s.symbol}: ${ticks} ticks per price`);
  }
  const tickKinds = new Set(symbols.map((s) => s.tickSize));
  const stepKinds = new Set(symbols.map((s) => s.stepSize));
  t.ok(tickKinds.size >= 6, `many tick sizes (${[...tickKinds].join(' ')})`);
  t.equal(stepKinds.size, 4, `all step sizes (${[...stepKinds].join(' ')})`);
  t.ok(tickKinds.has('0.0000001') && tickKinds.has('0.10'), 'both extreme ticks occur');
  t.same(syntheticSymbols(99, 600), symbols, 'same seed, same symbols');
  t.same(syntheticSymbols(99, 50), symbols.slice(0, 50), 'a shorter list is a prefix');
  t.not(JSON.stringify(syntheticSymbols(100, 50)), JSON.stringify(symbols.slice(0, 50)), 'another seed differs');
  t.same(syntheticSymbols(1, 0), []);
  t.throws(() => syntheticSymbols(1, -1), RangeError);
});

t.test('generateTrades is deterministic in the seed', async (t) => {
  const options: SyntheticMarketOptions = { seed: 2024, symbols: 40, startTime: START, trades: 5000 };
  const first = take(options);
  const again = take(options);
  t.equal(first.length, 5000, 'exactly `trades` trades');
  t.same(again, first, 'same seed and options ⇒ identical trades');
  t.same(take({ ...options, trades: 100_000 }, 5000), first, 'a longer run starts with the same trades');
  const other = take({ ...options, seed: 2025 });
  t.not(JSON.stringify(other.slice(0, 50)), JSON.stringify(first.slice(0, 50)), 'another seed ⇒ other trades');
  t.equal(first[0]?.tradeTime, START, 'the first trade is at startTime');
  t.same(take({ ...options, trades: 0 }), [], 'zero trades');
});

t.test('stream invariants: contiguity, order, grid, positivity', async (t) => {
  const symbols: readonly SyntheticSymbol[] = syntheticSymbols(77, 120);
  const spec = new Map(symbols.map((s) => [s.symbol, s]));
  const trades = take({ seed: 77, symbols: 120, startTime: START, trades: 200_000 });
  t.equal(trades.length, 200_000);

  let problems = 0;
  const fail = (message: string): void => {
    if (problems++ < 10) t.fail(message);
  };
  for (let i = 1; i < trades.length; i++) {
    if (trades[i]!.tradeTime < trades[i - 1]!.tradeTime) fail(`global time goes back at ${i}`);
  }
  let sameMillisecondRuns = 0;
  let largeAggregates = 0;
  const qtyTicks: number[] = [];
  for (const [symbol, list] of bySymbol(trades)) {
    const s = spec.get(symbol);
    if (s === undefined) {
      fail(`unknown symbol ${symbol}`);
      continue;
    }
    for (let i = 0; i < list.length; i++) {
      const trade = list[i]!;
      const price = onGrid(trade.price, s.tickSize);
      if (!price.ok) fail(`${symbol} price: ${price.why}`);
      const qty = onGrid(trade.qty, s.stepSize);
      if (!qty.ok) fail(`${symbol} qty: ${qty.why}`);
      const raw = trade.lastTradeId - trade.firstTradeId + 1;
      if (!(raw >= 1 && raw <= 20)) fail(`${symbol} aggregate of ${raw} raw trades`);
      if (raw >= 5) largeAggregates++;
      if (!Number.isSafeInteger(trade.aggId) || !Number.isSafeInteger(trade.firstTradeId)) fail('ids are not safe integers');
      if (typeof trade.buyerIsMaker !== 'boolean') fail('buyerIsMaker is not a boolean');
      if (symbol === 'BTCUSDT') qtyTicks.push(Number(trade.qty.replace('.', '')));
      if (i === 0) continue;
      const prev = list[i - 1]!;
      if (trade.aggId !== prev.aggId + 1) fail(`${symbol} aggId ${prev.aggId} → ${trade.aggId}`);
      if (trade.firstTradeId !== prev.lastTradeId + 1) fail(`${symbol} raw ids ${prev.lastTradeId} → ${trade.firstTradeId}`);
      if (trade.tradeTime < prev.tradeTime) fail(`${symbol} time goes back`);
      if (trade.tradeTime === prev.tradeTime) sameMillisecondRuns++;
    }
  }
  t.equal(problems, 0, 'no invariant violations');
  t.ok(sameMillisecondRuns > 100, `same-millisecond trades (sweeps) occur: ${sameMillisecondRuns}`);
  t.ok(largeAggregates > 100, `multi-fill aggregates occur: ${largeAggregates}`);

  // Heavy-tailed sizes: the largest BTC trade is far above the median one.
  qtyTicks.sort((a, b) => a - b);
  const median = qtyTicks[Math.floor(qtyTicks.length / 2)]!;
  const p999 = qtyTicks[Math.floor(qtyTicks.length * 0.999)]!;
  t.ok(p999 >= 50 * median, `heavy tail: p99.9 ${p999} vs median ${median} (in steps)`);

  const sides = trades.filter((x) => x.buyerIsMaker).length / trades.length;
  t.ok(sides > 0.4 && sides < 0.6, `buyerIsMaker is balanced (${sides.toFixed(3)})`);
  const btc = trades.filter((x) => x.symbol === 'BTCUSDT');
  t.ok(new Set(btc.map((x) => x.price)).size > 50, 'the BTC price moves');
});

t.test('activity is skewed across symbols', async (t) => {
  const trades = take({ seed: 5, symbols: 200, startTime: START, trades: 200_000 });
  const counts = [...bySymbol(trades).values()].map((list) => list.length);
  while (counts.length < 200) counts.push(0);
  counts.sort((a, b) => b - a);
  const top = counts[0]!;
  const median = counts[100]!;
  t.ok(top >= 10 * Math.max(1, median), `top ${top} vs median ${median}`);
  t.ok(counts.slice(0, 5).reduce((a, b) => a + b, 0) > 0.3 * trades.length, 'the top five carry a large share');
  t.ok(counts.filter((c) => c > 0).length > 150, 'most symbols trade at all');
});

t.test('a one-hour stream is bursty and has multi-minute quiet periods', async (t) => {
  const rate = 50;
  const trades = take({ seed: 11, symbols: 60, startTime: START, trades: rate * 3600, meanRatePerSecond: rate });
  const span = trades.at(-1)!.tradeTime - START;
  t.ok(span > 0.6 * 3600_000 && span < 1.5 * 3600_000, `about an hour of trades at the mean rate (${(span / MINUTE).toFixed(1)} min)`);

  // Quiet gaps: a symbol not trading for ≥ 2 minutes between two of its trades.
  let symbolsWithGaps = 0;
  let longestGap = 0;
  for (const list of bySymbol(trades).values()) {
    let hasGap = false;
    for (let i = 1; i < list.length; i++) {
      const gap = list[i]!.tradeTime - list[i - 1]!.tradeTime;
      if (gap >= 2 * MINUTE) hasGap = true;
      if (gap > longestGap) longestGap = gap;
    }
    if (hasGap) symbolsWithGaps++;
  }
  t.ok(symbolsWithGaps >= 5, `${symbolsWithGaps} symbols have quiet periods ≥ 2 min (longest ${(longestGap / MINUTE).toFixed(1)} min)`);

  // Empty one-minute klines exist for a symbol that trades often otherwise.
  const perSymbolMinutes = [...bySymbol(trades).values()].map((list) => new Set(list.map((x) => Math.floor(x.tradeTime / MINUTE))).size);
  const minutes = Math.ceil(span / MINUTE);
  t.ok(
    perSymbolMinutes.some((m) => m > minutes * 0.3 && m < minutes * 0.9),
    'some symbol trades in many minutes but not in all',
  );

  // Burstiness: trades per 10 s are over-dispersed relative to a Poisson process (variance ≫ mean).
  const buckets = new Map<number, number>();
  for (const trade of trades) {
    const bucket = Math.floor((trade.tradeTime - START) / 10_000);
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + 1);
  }
  const values: number[] = [];
  for (let b = 0; b < Math.floor(span / 10_000); b++) values.push(buckets.get(b) ?? 0);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
  t.ok(variance > 5 * mean, `over-dispersed: variance ${variance.toFixed(0)} vs mean ${mean.toFixed(0)}`);
  t.ok(Math.max(...values) > 3 * mean, 'bursts reach several times the mean rate');

  // Without burstiness and quiet periods the counts are close to Poisson.
  const calm = take({
    seed: 11,
    symbols: 60,
    startTime: START,
    trades: rate * 600,
    meanRatePerSecond: rate,
    burstiness: 0,
    quietPeriods: false,
    sweepProbability: 0,
  });
  const calmBuckets = new Map<number, number>();
  for (const trade of calm) {
    const bucket = Math.floor((trade.tradeTime - START) / 10_000);
    calmBuckets.set(bucket, (calmBuckets.get(bucket) ?? 0) + 1);
  }
  const calmValues = [...calmBuckets.values()].slice(0, -1);
  const calmMean = calmValues.reduce((a, b) => a + b, 0) / calmValues.length;
  const calmVariance = calmValues.reduce((a, b) => a + (b - calmMean) ** 2, 0) / calmValues.length;
  t.ok(calmVariance < 2 * calmMean, `burstiness 0 is Poisson-like (variance ${calmVariance.toFixed(0)}, mean ${calmMean.toFixed(0)})`);
});

t.test('custom symbol specs and option validation', async (t) => {
  const specs: SyntheticSymbol[] = [
    { symbol: 'AAAUSDT', tickSize: '0.10', stepSize: '0.001', startPrice: '0.30' },
    { symbol: 'BBBUSDT', tickSize: '0.0000001', stepSize: '1', startPrice: '0.0000005' },
  ];
  const trades = take({ seed: 3, symbols: 2, startTime: START, trades: 20_000, symbolSpecs: specs, sweepProbability: 0.2 });
  for (const trade of trades) {
    const spec = trade.symbol === 'AAAUSDT' ? specs[0]! : specs[1]!;
    const check = onGrid(trade.price, spec.tickSize);
    if (!check.ok) {
      t.fail(check.why);
      break;
    }
  }
  t.pass('prices a few ticks above zero stay positive and on the grid');
  t.ok(trades.some((x) => x.symbol === 'BBBUSDT'), 'both symbols trade');
  t.throws(() => take({ seed: 1, symbols: 3, startTime: START, trades: 1, symbolSpecs: specs }), RangeError);
  t.throws(
    () => take({ seed: 1, symbols: 1, startTime: START, trades: 1, symbolSpecs: [{ ...specs[0]!, startPrice: '0.35' }] }),
    RangeError,
    'off-grid start price',
  );
  t.throws(() => take({ seed: 1, symbols: 0, startTime: START, trades: 1 }), RangeError);
  t.throws(() => take({ seed: 1, symbols: 1, startTime: START, trades: 1.5 }), RangeError);
  t.throws(() => take({ seed: 1, symbols: 1, startTime: START, trades: 1, meanRatePerSecond: 0 }), RangeError);
});
