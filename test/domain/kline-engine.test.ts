import t from 'tap';
import { parseDecimal } from '../../src/domain/decimal.ts';
import { KlineEngine, TradeOutcome, type EngineSnapshot, type KlineEngineOptions } from '../../src/domain/kline-engine.ts';
import { FrameIngest } from '../../src/domain/frame-ingest.ts';
import type { Kline } from '../../src/domain/kline.ts';
import type { IntervalName } from '../../src/domain/interval.ts';
import { DEFAULT_INTERVALS } from '../../src/domain/interval.ts';
import { Replayer, ScaleInference } from '../../src/domain/replay.ts';
import { readTradeFrames } from '../support/fixtures.ts';

const T0 = Date.UTC(2026, 0, 5, 10, 0, 0); // a Monday, 10:00 UTC

interface TestTrade {
  a: number;
  p: string;
  q: string;
  f?: number;
  l?: number;
  T: number;
  m?: boolean;
}

function harness(options: Partial<KlineEngineOptions> = {}, scales = { priceScale: 2, qtyScale: 3 }) {
  const finals: Kline[] = [];
  const engine = new KlineEngine({ intervals: options.intervals ?? ['1m'], graceMs: options.graceMs ?? 0 }, { onFinal: (k) => finals.push(k) });
  const sym = engine.addSymbol('BTCUSDT', scales);
  const apply = (trade: TestTrade): TradeOutcome => {
    const p = parseDecimal(trade.p);
    const q = parseDecimal(trade.q);
    return engine.applyTrade(sym, trade.a, p.mantissa, p.decimals, q.mantissa, q.decimals, trade.f ?? trade.a * 10, trade.l ?? trade.a * 10, trade.T, trade.m ?? true);
  };
  return { engine, sym, finals, apply };
}

t.test('OHLC, volumes, trade count and ids of one kline', async (t) => {
  const { engine, sym, apply } = harness();
  t.equal(apply({ a: 1, p: '100.10', q: '0.500', f: 10, l: 12, T: T0 + 1000, m: false }), TradeOutcome.Applied);
  apply({ a: 2, p: '101.00', q: '1.000', f: 13, l: 13, T: T0 + 2000, m: true });
  apply({ a: 3, p: '99.90', q: '0.250', f: 14, l: 17, T: T0 + 3000, m: false });
  apply({ a: 4, p: '100.00', q: '0.001', f: 18, l: 18, T: T0 + 59_999, m: true });
  t.same(engine.openKline(sym, '1m'), {
    symbol: 'BTCUSDT',
    interval: '1m',
    openTime: T0,
    closeTime: T0 + 59_999,
    open: '100.10',
    high: '101.00',
    low: '99.90',
    close: '100.00',
    volume: '1.751',
    quoteVolume: '176.12500', // 50.05 + 101 + 24.975 + 0.1
    tradeCount: 9, // (12−10+1) + 1 + (17−14+1) + 1: raw trades, not aggregate trades
    takerBuyVolume: '0.750', // trades with m = false
    takerBuyQuoteVolume: '75.02500', // 50.05 + 24.975
    firstTradeId: 10,
    lastTradeId: 18,
    lastAggId: 4,
    isFinal: false,
  });
});

t.test('a later trade finalizes the kline; empty periods between are filled flat at the previous close', async (t) => {
  const { engine, sym, finals, apply } = harness();
  apply({ a: 1, p: '100.00', q: '1.000', T: T0 + 5000 });
  apply({ a: 2, p: '105.50', q: '2.000', T: T0 + 3 * 60_000 + 1 });
  t.equal(finals.length, 3, 'the traded minute and two empty ones are final');
  t.same(
    finals.map((k) => [k.openTime - T0, k.open, k.high, k.low, k.close, k.volume, k.tradeCount, k.firstTradeId, k.isFinal]),
    [
      [0, '100.00', '100.00', '100.00', '100.00', '1.000', 1, 10, true],
      [60_000, '100.00', '100.00', '100.00', '100.00', '0.000', 0, -1, true],
      [120_000, '100.00', '100.00', '100.00', '100.00', '0.000', 0, -1, true],
    ],
  );
  const open = engine.openKline(sym, '1m')!;
  t.equal(open.open, '105.50', 'a period opens at its first trade, not at the previous close');
  t.equal(open.openTime, T0 + 180_000);
});

t.test('time advances finalize quiet symbols only after close + grace', async (t) => {
  const { engine, sym, finals, apply } = harness({ graceMs: 500 });
  apply({ a: 1, p: '100.00', q: '1.000', T: T0 + 1000 });
  engine.advanceTo(T0 + 60_000);
  t.equal(finals.length, 0, 'not at the close');
  engine.advanceTo(T0 + 60_499);
  t.equal(finals.length, 0, 'not within the grace');
  engine.advanceTo(T0 + 60_500);
  t.equal(finals.length, 1, 'final once close + grace has passed');
  t.equal(engine.openKline(sym, '1m')!.openTime, T0 + 60_000, 'the next period is open (flat)');
  engine.advanceTo(T0 + 5 * 60_000 + 500);
  t.same(finals.map((k) => k.openTime - T0), [0, 60_000, 120_000, 180_000, 240_000], 'each elapsed period emitted once, in order');
  engine.advanceTo(T0 + 5 * 60_000 + 500);
  t.equal(finals.length, 5, 'advancing to the same time again emits nothing');
  t.equal(apply({ a: 2, p: '101.00', q: '1.000', T: T0 + 299_999 }), TradeOutcome.Applied, 'a trade in a finalized period is applied to it');
  t.equal(engine.counters.late, 0, 'nothing is dropped as late');
  t.equal(engine.counters.amended, 1);
  t.equal(finals.length, 6, 'the corrected kline is emitted again');
  t.match(finals[5], { openTime: T0 + 240_000, open: '101.00', close: '101.00', volume: '1.000', tradeCount: 1, revision: 1, isFinal: true }, 'as revision 1');
  t.match(engine.openKline(sym, '1m'), { openTime: T0 + 300_000, open: '101.00', close: '101.00', tradeCount: 0 }, 'the flat open period takes the late trade’s close');
  t.equal(apply({ a: 3, p: '101.00', q: '1.000', T: T0 + 300_100 }), TradeOutcome.Applied, 'a trade in the open period still counts');
});

t.test('duplicates are dropped and counted; gaps are reported and not applied', async (t) => {
  const { engine, sym, apply } = harness();
  apply({ a: 100, p: '1.00', q: '1.000', T: T0 });
  apply({ a: 101, p: '2.00', q: '1.000', T: T0 + 1 });
  t.equal(apply({ a: 101, p: '9.00', q: '1.000', T: T0 + 2 }), TradeOutcome.Duplicate);
  t.equal(apply({ a: 50, p: '9.00', q: '1.000', T: T0 + 2 }), TradeOutcome.Duplicate);
  t.equal(engine.counters.duplicates, 2);
  t.equal(engine.openKline(sym, '1m')!.volume, '2.000', 'duplicates change nothing');
  t.equal(apply({ a: 105, p: '3.00', q: '1.000', T: T0 + 3 }), TradeOutcome.Gap);
  t.same({ ...engine.lastGap }, { symbol: 'BTCUSDT', fromId: 102, toId: 104 }, 'the gap names the missing ids');
  t.equal(engine.openKline(sym, '1m')!.volume, '2.000', 'the trade after a gap is not applied');
  t.equal(apply({ a: 102, p: '3.00', q: '1.000', T: T0 + 3 }), TradeOutcome.Applied, 'the missing trades can be fed in order (repair)');
  engine.acceptGap(sym, 105);
  t.equal(engine.counters.acceptedGapTrades, 2, 'ids 103 and 104 are recorded as skipped');
  t.equal(apply({ a: 105, p: '3.00', q: '1.000', T: T0 + 3 }), TradeOutcome.Applied);
  t.equal(engine.lastAggIdOf(sym), 105);
});

t.test('exact sums: 0.1 + 0.2 = 0.3, and sums past 2^53 stay exact', async (t) => {
  const { engine, sym, apply } = harness({}, { priceScale: 1, qtyScale: 1 });
  apply({ a: 1, p: '0.1', q: '0.1', T: T0 });
  apply({ a: 2, p: '0.2', q: '0.2', T: T0 + 1 });
  t.equal(engine.openKline(sym, '1m')!.volume, '0.3');
  t.equal(engine.openKline(sym, '1m')!.quoteVolume, '0.05');

  const big = harness({ intervals: ['1M'] }, { priceScale: 8, qtyScale: 8 });
  let expectedQuote = 0n;
  let expectedVolume = 0n;
  for (let i = 1; i <= 2000; i++) {
    const price = `${90000 + (i % 97)}.${String((i * 7919) % 100_000_000).padStart(8, '0')}`;
    const qty = `${1000 + (i % 13)}.${String((i * 104729) % 100_000_000).padStart(8, '0')}`;
    big.apply({ a: i, p: price, q: qty, T: T0 + i });
    expectedQuote += BigInt(price.replace('.', '')) * BigInt(qty.replace('.', ''));
    expectedVolume += BigInt(qty.replace('.', ''));
  }
  const k = big.engine.openKline(big.sym, '1M')!;
  t.ok(expectedQuote > 2n ** 53n, 'the test really passes 2^53');
  const asDecimal = (v: bigint, scale: number) => `${v / 10n ** BigInt(scale)}.${(v % 10n ** BigInt(scale)).toString().padStart(scale, '0')}`;
  t.equal(k.quoteVolume, asDecimal(expectedQuote, 16), 'quote volume equals the BigInt sum to the last digit');
  t.equal(k.volume, asDecimal(expectedVolume, 8));
});

t.test('a trade with more decimals than the scale grows the scale without losing exactness', async (t) => {
  const { engine, sym, apply } = harness({}, { priceScale: 1, qtyScale: 0 });
  apply({ a: 1, p: '10.5', q: '3', T: T0 });
  t.equal(apply({ a: 2, p: '10.25', q: '0.5', T: T0 + 1 }), TradeOutcome.Applied);
  t.equal(engine.counters.scaleChanges, 1);
  const k = engine.openKline(sym, '1m')!;
  t.same([k.open, k.low, k.close, k.volume, k.quoteVolume], ['10.50', '10.25', '10.25', '3.5', '36.625']);
  t.same(engine.scalesOf(sym), { priceScale: 2, qtyScale: 1 });
  t.equal(apply({ a: 3, p: '10.250000', q: '1.00', T: T0 + 2 }), TradeOutcome.Applied, 'trailing zeros do not grow the scale');
  t.equal(engine.counters.scaleChanges, 1);
});

t.test('week and month klines open on Monday and on the 1st', async (t) => {
  const { engine, sym, finals, apply } = harness({ intervals: ['1w', '1M'] });
  const wednesday = Date.UTC(2024, 1, 28, 12); // leap-year February
  apply({ a: 1, p: '1.00', q: '1.000', T: wednesday });
  t.equal(engine.openKline(sym, '1w')!.openTime, Date.UTC(2024, 1, 26));
  t.equal(engine.openKline(sym, '1M')!.openTime, Date.UTC(2024, 1, 1));
  t.equal(engine.openKline(sym, '1M')!.closeTime, Date.UTC(2024, 2, 1) - 1, 'February 2024 has 29 days');
  apply({ a: 2, p: '2.00', q: '1.000', T: Date.UTC(2024, 4, 2) });
  t.same(
    finals.filter((k) => k.interval === '1M').map((k) => [new Date(k.openTime).toISOString(), new Date(k.closeTime + 1).toISOString(), k.close]),
    [
      ['2024-02-01T00:00:00.000Z', '2024-03-01T00:00:00.000Z', '1.00'],
      ['2024-03-01T00:00:00.000Z', '2024-04-01T00:00:00.000Z', '1.00'],
      ['2024-04-01T00:00:00.000Z', '2024-05-01T00:00:00.000Z', '1.00'],
    ],
  );
  t.ok(finals.filter((k) => k.interval === '1w').every((k) => new Date(k.openTime).getUTCDay() === 1), 'every week opens on a Monday');
});

t.test('finish() finalizes every begun kline and opens no new period', async (t) => {
  const { engine, finals, apply } = harness({ intervals: ['1m', '1h'] });
  apply({ a: 1, p: '1.00', q: '1.000', T: T0 + 30_000 });
  engine.finish();
  t.same(finals.map((k) => [k.interval, k.openTime - T0, k.isFinal]), [['1m', 0, true], ['1h', 0, true]]);
  engine.finish();
  t.equal(finals.length, 2, 'finishing twice emits nothing more');
  t.throws(() => apply({ a: 2, p: '1.00', q: '1.000', T: T0 + 30_001 }), /finished/);
});

t.test('installKline continues a stored open kline instead of starting it over', async (t) => {
  const first = harness({ intervals: ['1m', '1h'] });
  first.apply({ a: 1, p: '100.00', q: '1.000', f: 1, l: 3, T: T0 + 1000, m: false });
  first.apply({ a: 2, p: '102.00', q: '2.000', f: 4, l: 4, T: T0 + 2000 });
  const stored = [first.engine.openKline(first.sym, '1m')!, first.engine.openKline(first.sym, '1h')!];
  first.apply({ a: 3, p: '99.00', q: '0.500', f: 5, l: 5, T: T0 + 3000, m: false });

  const second = harness({ intervals: ['1m', '1h'] });
  for (const kline of stored) second.engine.installKline(kline);
  t.equal(second.engine.lastAggIdOf(second.sym), 2, 'the stored last aggregate id is the position');
  t.equal(second.apply({ a: 2, p: '1.00', q: '1.000', T: T0 + 2500 }), TradeOutcome.Duplicate, 'already-counted trades stay counted once');
  second.apply({ a: 3, p: '99.00', q: '0.500', f: 5, l: 5, T: T0 + 3000, m: false });
  t.same(second.engine.openKline(second.sym, '1m'), first.engine.openKline(first.sym, '1m'));
  t.same(second.engine.openKline(second.sym, '1h'), first.engine.openKline(first.sym, '1h'));
});

function replayWithSplit(frames: readonly Buffer[], intervals: readonly IntervalName[], split: number | undefined): string[] {
  const inference = new ScaleInference();
  for (const frame of frames) inference.feed(frame);
  const out: string[] = [];
  const sink = { onFinal: (k: Kline) => out.push(JSON.stringify(k)) };
  const engine = new KlineEngine({ intervals, graceMs: 1000 }, sink);
  const policy = (symbol: string) => inference.scales.get(symbol);
  let ingest = new FrameIngest(engine, policy);
  frames.forEach((frame, i) => {
    if (i === split) {
      // The snapshot travels as JSON text, as it would between processes or hosts.
      const snapshot = JSON.parse(JSON.stringify(ingest.engine.snapshot())) as EngineSnapshot;
      ingest = new FrameIngest(KlineEngine.restore(snapshot, sink), policy);
    }
    ingest.ingest(frame);
    ingest.engine.advanceTo(ingest.trade.tradeTime);
  });
  ingest.engine.finish();
  return out;
}

t.test('snapshot/restore at many split points of the real data gives exactly the same klines', async (t) => {
  const frames = readTradeFrames();
  const reference = replayWithSplit(frames, DEFAULT_INTERVALS, undefined);
  t.ok(reference.length > 3_560, 'the reference run emitted klines for every interval');
  const splits = [0, 1, 2, 17, 1000, 3333, 6238, 9999, 12_000, frames.length - 1];
  for (let s = 1; s <= 30; s++) splits.push(Math.floor((s * 7919 * 13) % frames.length));
  let identical = 0;
  for (const split of splits) {
    const run = replayWithSplit(frames, DEFAULT_INTERVALS, split);
    if (run.length === reference.length && run.every((line, i) => line === reference[i])) identical++;
    else t.fail(`split at frame ${split} diverged`);
  }
  t.equal(identical, splits.length, `all ${splits.length} split points reproduce the unsplit run`);
});

t.test('snapshots are versioned and validated on restore', async (t) => {
  const { engine } = harness();
  const snapshot = engine.snapshot();
  t.equal(snapshot.version, 2);
  t.throws(() => KlineEngine.restore({ ...snapshot, version: 1 as 2 }, { onFinal: () => {} }), /version 1 is not supported/);
});

t.test('replaying the same input twice gives identical output', async (t) => {
  const frames = readTradeFrames();
  const run = () => {
    const out: string[] = [];
    const r = new Replayer({ intervals: DEFAULT_INTERVALS, graceMs: 1000 }, { onFinal: (k) => out.push(JSON.stringify(k)) });
    for (const f of frames) r.feed(f);
    r.end();
    return out.join('\n');
  };
  t.equal(run(), run());
});

t.test('bad engine options are refused with a clear message', async (t) => {
  t.throws(() => new KlineEngine({ intervals: [], graceMs: 0 }, { onFinal: () => {} }), /at least one interval/);
  t.throws(() => new KlineEngine({ intervals: ['1m', '1m'], graceMs: 0 }, { onFinal: () => {} }), /must not repeat/);
  t.throws(() => new KlineEngine({ intervals: ['1m'], graceMs: -1 }, { onFinal: () => {} }), /graceMs/);
  const engine = new KlineEngine({ intervals: ['1m'], graceMs: 0 }, { onFinal: () => {} });
  t.throws(() => engine.addSymbol('X', { priceScale: 19, qtyScale: 0 }), /priceScale/);
});
