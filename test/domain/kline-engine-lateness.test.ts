/**
 * Late is never lost: trades that arrive after time finalized their period (stream lag past the grace, a repair, a
 * restart) are applied to that period, and the corrected kline is emitted again as the next revision. Checked against
 * an engine that saw the same trades without any time advance (the truth), on the real XRPETH trades.
 */
import t from 'tap';
import { parseDecimal } from '../../src/domain/decimal.ts';
import { FrameIngest } from '../../src/domain/frame-ingest.ts';
import { KlineEngine, TradeOutcome } from '../../src/domain/kline-engine.ts';
import type { IntervalName } from '../../src/domain/interval.ts';
import type { Kline } from '../../src/domain/kline.ts';
import { SeededRandom } from '../../src/domain/seeded-random.ts';
import { isNewerVersion } from '../../src/domain/kline-version.ts';
import { readTradeFrames } from '../support/fixtures.ts';

const T0 = Date.UTC(2026, 0, 5, 10, 0, 0); // a Monday, 10:00 UTC
const INTERVALS: IntervalName[] = ['1m', '5m', '1h'];
const SCALES = { priceScale: 8, qtyScale: 8 };

/** The last version of every final kline, by interval and open time. */
function latestVersions(finals: readonly Kline[]): Map<string, Kline> {
  const latest = new Map<string, Kline>();
  for (const k of finals) {
    const key = `${k.interval}|${k.openTime}`;
    const known = latest.get(key);
    if (known === undefined || (k.revision ?? 0) > (known.revision ?? 0)) latest.set(key, k);
    else if ((k.revision ?? 0) === (known.revision ?? 0)) throw new Error(`${key} emitted twice at revision ${k.revision ?? 0}`);
  }
  return latest;
}

function strip(k: Kline): Omit<Kline, 'revision'> {
  const { revision: _revision, ...rest } = k;
  return rest;
}

function run(frames: readonly Buffer[], lagMs: (i: number) => number | undefined, graceMs = 1000) {
  const finals: Kline[] = [];
  const rebuilds: { interval: IntervalName; from: number; to: number }[] = [];
  const engine = new KlineEngine({ intervals: INTERVALS, graceMs }, { onFinal: (k) => finals.push(k), onRebuildNeeded: (_s, interval, from, to) => rebuilds.push({ interval, from, to }) });
  const ingest = new FrameIngest(engine);
  ingest.addSymbol('XRPETH', SCALES);
  frames.forEach((frame, i) => {
    ingest.ingest(frame);
    const lag = lagMs(i);
    // The clock runs ahead of the trades by `lag`: the stream delivers every trade that much late.
    if (lag !== undefined) engine.advanceTo(ingest.trade.tradeTime + lag);
  });
  engine.finish();
  return { engine, finals, rebuilds };
}

t.test('a stream lagging past the grace: every late trade amends its final kline; the last revisions equal the truth', async (t) => {
  const frames = readTradeFrames();
  const truth = run(frames, () => undefined);
  t.equal(truth.engine.counters.amended, 0);
  const random = new SeededRandom(7);
  // Lag of 0–50 s against a 1 s grace: many trades arrive after their minute was finalized by the clock.
  const lagged = run(frames, () => random.int(50_000));
  t.equal(lagged.engine.counters.late, 0, 'no trade dropped as late');
  t.ok(lagged.engine.counters.amended > 100, `late trades amended their finals (${lagged.engine.counters.amended})`);
  t.equal(lagged.rebuilds.length, 0, 'a lag below one period never needs the rebuild path');
  t.equal(lagged.engine.counters.applied, truth.engine.counters.applied, 'every trade applied');
  const want = latestVersions(truth.finals);
  const got = latestVersions(lagged.finals);
  t.equal(got.size, want.size, 'the same klines');
  let differ = 0;
  for (const [key, k] of want) if (JSON.stringify(strip(got.get(key)!)) !== JSON.stringify(strip(k))) differ++;
  t.equal(differ, 0, `every kline's last revision equals the lag-free run (${want.size} klines)`);
  t.ok(lagged.finals.some((k) => k.interval === '5m' && (k.revision ?? 0) > 0) || lagged.finals.some((k) => k.interval === '1m' && (k.revision ?? 0) > 1), 'revisions reach larger intervals or repeat');
  t.equal(lagged.engine.counters.revisions, lagged.finals.filter((k) => (k.revision ?? 0) > 0).length, 'every revision counted');
});

t.test('a trade later than the remembered final goes to the rebuild path, named exactly; nothing is dropped', async (t) => {
  const finals: Kline[] = [];
  const rebuilds: [IntervalName, number, number][] = [];
  const engine = new KlineEngine({ intervals: ['1m', '5m'], graceMs: 0 }, { onFinal: (k) => finals.push(k), onRebuildNeeded: (_s, i, from, to) => rebuilds.push([i, from - T0, to - T0]) });
  const s = engine.addSymbol('BTCUSDT', { priceScale: 2, qtyScale: 3 });
  const apply = (a: number, p: string, time: number) => {
    const price = parseDecimal(p);
    const qty = parseDecimal('1.000');
    return engine.applyTrade(s, a, price.mantissa, price.decimals, qty.mantissa, qty.decimals, a, a, time, false);
  };
  apply(1, '100.00', T0 + 1_000);
  engine.advanceTo(T0 + 3 * 60_000 + 5); // minutes 0, 1, 2 final; 5m open
  t.equal(apply(2, '90.00', T0 + 30_000), TradeOutcome.Applied, 'a trade two minutes late is applied');
  t.same(rebuilds, [['1m', 0, 120_000]], 'the 1m klines from its minute to the last final are rebuilt from the exchange');
  t.match(engine.openKline(s, '5m'), { open: '100.00', low: '90.00', close: '90.00', tradeCount: 2 }, 'the open 5m kline holds it');
  t.match(engine.openKline(s, '1m'), { openTime: T0 + 180_000, close: '90.00', tradeCount: 0 }, 'the flat open minute takes its close');
  t.equal(engine.counters.lateBeyondMemory, 1);
  t.equal(engine.counters.late, 0);
});

t.test('a late trade that moves a flat open kline\'s price raises its version, so the store and the feeds take the new price', async (t) => {
  const engine = new KlineEngine({ intervals: ['1m', '3m'], graceMs: 0 }, { onFinal: () => {} });
  const s = engine.addSymbol('HERUSDT', { priceScale: 5, qtyScale: 0 });
  const apply = (a: number, p: string, time: number) => {
    const price = parseDecimal(p);
    const qty = parseDecimal('10');
    return engine.applyTrade(s, a, price.mantissa, price.decimals, qty.mantissa, qty.decimals, a, a, time, false);
  };
  apply(7, '0.11249', T0 + 100_000); // minute 1 of the first 3m period
  engine.advanceTo(T0 + 3 * 60_000); // minutes 0–2 and the 3m period final; minute 3 and the next 3m open, flat
  engine.takeChanged();
  const flat1m = engine.openKline(s, '1m')!;
  const flat3m = engine.openKline(s, '3m')!;
  t.match([flat1m, flat3m], [{ openTime: T0 + 180_000, close: '0.11249', tradeCount: 0, lastAggId: 7 }, { openTime: T0 + 180_000, close: '0.11249', tradeCount: 0, lastAggId: 7 }], 'flat at the previous close, carrying the id of the trade that set it');
  t.equal(flat1m.firstTradeId, -1, 'no trade of its own (as Binance reports it)');

  t.equal(apply(8, '0.11250', T0 + 170_000), TradeOutcome.Applied, 'the late last trade of the minute before');
  const changed = engine.takeChanged().filter((k) => k.openTime === T0 + 180_000);
  t.match(changed.sort((a, b) => a.interval.localeCompare(b.interval)), [
    { interval: '1m', close: '0.1125', tradeCount: 0, lastAggId: 8 },
    { interval: '3m', close: '0.1125', tradeCount: 0, lastAggId: 8 },
  ], 'both flat klines are served again at the new price, with the late trade\'s id');
  for (const k of changed) {
    const before = k.interval === '1m' ? flat1m : flat3m;
    t.ok(isNewerVersion({ kline: k, revision: 0 }, { kline: before, revision: 0 }), `${k.interval}: the new price is a newer version than the old`);
    t.notOk(isNewerVersion({ kline: before, revision: 0 }, { kline: k, revision: 0 }), `${k.interval}: the old price arriving late cannot undo it`);
  }
  t.equal(apply(9, '0.11260', T0 + 185_000), TradeOutcome.Applied);
  t.match(engine.openKline(s, '1m'), { open: '0.1126', close: '0.1126', tradeCount: 1, firstTradeId: 9, lastAggId: 9 }, 'its first own trade opens it as usual');
});

t.test('a stored final installed at a restart: not emitted again unless a trade still belongs to it, then as the next revision', async (t) => {
  const make = () => {
    const finals: Kline[] = [];
    const engine = new KlineEngine({ intervals: ['1m'], graceMs: 0 }, { onFinal: (k) => finals.push(k) });
    const s = engine.addSymbol('BTCUSDT', { priceScale: 2, qtyScale: 3 });
    const stored: Kline = {
      symbol: 'BTCUSDT', interval: '1m', openTime: T0, closeTime: T0 + 59_999, open: '100.00', high: '100.00', low: '100.00', close: '100.00',
      volume: '1.000', quoteVolume: '100.00000', tradeCount: 1, takerBuyVolume: '0.000', takerBuyQuoteVolume: '0.00000',
      firstTradeId: 1, lastTradeId: 1, lastAggId: 1, isFinal: true, revision: 2,
    };
    engine.installKline(stored);
    return { engine, s, finals };
  };
  const quiet = make();
  t.same(quiet.engine.openKlines(), [], 'an installed final is not served as an open kline');
  quiet.engine.advanceTo(T0 + 2 * 60_000);
  t.same(quiet.finals.map((k) => [k.openTime - T0, k.revision ?? 0]), [[60_000, 0]], 'only the period after it is emitted');

  const repaired = make();
  const p = parseDecimal('101.00');
  const q = parseDecimal('1.000');
  repaired.engine.applyTrade(repaired.s, 2, p.mantissa, p.decimals, q.mantissa, q.decimals, 2, 2, T0 + 59_000, false);
  repaired.engine.advanceTo(T0 + 60_000);
  t.match(repaired.finals, [{ openTime: T0, close: '101.00', volume: '2.000', tradeCount: 2, revision: 3 }], 'emitted as revision 3');
});

t.test('time held for a symbol finalizes none of its klines until released', async (t) => {
  const finals: Kline[] = [];
  const engine = new KlineEngine({ intervals: ['1m'], graceMs: 0 }, { onFinal: (k) => finals.push(k) });
  const a = engine.addSymbol('A', { priceScale: 2, qtyScale: 3 });
  const b = engine.addSymbol('B', { priceScale: 2, qtyScale: 3 });
  const p = parseDecimal('1.00');
  engine.applyTrade(a, 1, p.mantissa, p.decimals, p.mantissa, p.decimals, 1, 1, T0, false);
  engine.applyTrade(b, 1, p.mantissa, p.decimals, p.mantissa, p.decimals, 1, 1, T0, false);
  engine.setTimeHeld(a, true);
  engine.advanceTo(T0 + 60_000);
  t.same(finals.map((k) => k.symbol), ['B'], 'the held symbol keeps its kline open');
  engine.setTimeHeld(a, false);
  engine.advanceTo(T0 + 60_000);
  t.same(finals.map((k) => k.symbol), ['B', 'A'], 'released, the next advance finalizes it');
});

t.test('snapshot and restore keep the amendment memory', async (t) => {
  const frames = readTradeFrames().slice(0, 3000);
  const random = new SeededRandom(3);
  const lags = frames.map(() => random.int(40_000));
  const whole = run(frames, (i) => lags[i]);
  // Split at 1500: snapshot through JSON text, restore, continue.
  const finals: Kline[] = [];
  const sink = { onFinal: (k: Kline) => finals.push(k) };
  const first = new KlineEngine({ intervals: INTERVALS, graceMs: 1000 }, sink);
  let ingest = new FrameIngest(first);
  ingest.addSymbol('XRPETH', SCALES);
  let engine = first;
  frames.forEach((frame, i) => {
    if (i === 1500) {
      engine = KlineEngine.restore(JSON.parse(JSON.stringify(engine.snapshot())), sink);
      ingest = new FrameIngest(engine);
    }
    ingest.ingest(frame);
    engine.advanceTo(ingest.trade.tradeTime + lags[i]!);
  });
  engine.finish();
  t.same(finals, whole.finals, 'identical finals and revisions');
});

t.test('installed klines ending at different ids: the position is the lowest, each interval skips what it holds', async (t) => {
  const frames = readTradeFrames().slice(0, 400);
  const truth = run(frames, () => undefined);
  // Stop after frame 200 and keep the 1m kline as stored before frame 150 but the 5m and 1h ones at frame 200.
  const snapshotAt = (n: number) => {
    const engine = new KlineEngine({ intervals: INTERVALS, graceMs: 1000 }, { onFinal: () => {} });
    const ingest = new FrameIngest(engine);
    ingest.addSymbol('XRPETH', SCALES);
    for (const frame of frames.slice(0, n)) ingest.ingest(frame);
    return engine.openKlines();
  };
  const installed = [...snapshotAt(150).filter((k) => k.interval === '1m'), ...snapshotAt(200).filter((k) => k.interval !== '1m')];
  const finals: Kline[] = [];
  const engine = new KlineEngine({ intervals: INTERVALS, graceMs: 1000 }, { onFinal: (k) => finals.push(k) });
  const ingest = new FrameIngest(engine);
  const index = ingest.addSymbol('XRPETH', SCALES);
  for (const k of installed) engine.installKline(k);
  t.equal(engine.lastAggIdOf(index), installed.find((k) => k.interval === '1m')!.lastAggId, 'position: the 1m kline’s id');
  for (const frame of frames.slice(150)) ingest.ingest(frame);
  engine.finish();
  const want = truth.finals.filter((k) => k.openTime >= installed.find((i) => i.interval === k.interval)!.openTime);
  t.same(finals.map(strip), want.map(strip), 'identical to one uninterrupted run from there on');
});
