/**
 * One partition's aggregation as a fold over its log (scale-out.md §3.1 A–D), on real and generated trades:
 * - a checkpoint (a v8-serialised snapshot) taken anywhere, restored and run on gives exactly the output and the state
 *   of the run that never stopped (B: determinism — what makes failover replays harmless);
 * - a log with every batch twice (two ingests) gives the same klines as once, every second copy counted (A);
 * - a redelivered position changes nothing;
 * - the klines equal those of the single-process Replayer fed the same frames;
 * - gaps are accepted deterministically and never silent; trades after the end are counted, never applied; malformed
 *   messages are counted;
 * - the cluster's message codecs round-trip and refuse garbage.
 */
import { deserialize, serialize } from 'node:v8';
import t, { type Test } from 'tap';
import { AggTradeParser } from '../../src/domain/agg-trade-parser.ts';
import { toAggTradeEvent, type AggTrade } from '../../src/domain/agg-trade.ts';
import {
  aggTradeFrame,
  decodeKlineBatch,
  decodeTradeBatch,
  decodeWatermark,
  encodeKlineBatch,
  encodeTradeBatch,
  encodeWatermark,
  type KlineBatchMessage,
} from '../../src/domain/cluster-messages.ts';
import type { IntervalName } from '../../src/domain/interval.ts';
import type { SymbolScales } from '../../src/domain/kline-engine.ts';
import { isNewerVersion } from '../../src/domain/kline-version.ts';
import type { Kline } from '../../src/domain/kline.ts';
import { PartitionAggregate, type PartitionSnapshot } from '../../src/domain/partition-aggregate.ts';
import { Replayer, ScaleInference } from '../../src/domain/replay.ts';
import { SeededRandom } from '../../src/domain/seeded-random.ts';
import { generateTrades } from '../../src/domain/synthetic-market.ts';
import { readTradeFrames } from '../support/fixtures.ts';

// ---------------------------------------------------------------------------------------------------------------
// Markets and logs.

interface FrameInfo {
  readonly symbol: string;
  readonly aggId: number;
  readonly time: number;
  /** Raw trades in the aggregate trade (what a kline's tradeCount adds up). */
  readonly raw: number;
}

const parser = new AggTradeParser();

function info(frame: Uint8Array): FrameInfo {
  if (!parser.parse(frame)) throw new Error(`not an aggTrade frame: ${Buffer.from(frame).toString()}`);
  const p = parser.trade;
  const symbol = Buffer.from(frame.buffer, frame.byteOffset + p.symbolStart, p.symbolEnd - p.symbolStart).toString('latin1');
  return { symbol, aggId: p.aggId, time: p.tradeTime, raw: p.lastTradeId - p.firstTradeId + 1 };
}

interface Market {
  readonly name: string;
  readonly frames: readonly Buffer[];
  readonly scales: ReadonlyMap<string, SymbolScales>;
  readonly lastTradeTime: number;
  readonly intervals: readonly IntervalName[];
  readonly graceMs: number;
}

function market(name: string, frames: readonly Buffer[], intervals: readonly IntervalName[], graceMs: number): Market {
  const inference = new ScaleInference();
  for (const frame of frames) inference.feed(frame);
  return { name, frames, scales: inference.scales, lastTradeTime: inference.lastTradeTime, intervals, graceMs };
}

const XRPETH = market('XRPETH', readTradeFrames(), ['1m', '5m', '1h', '1d', '1w'], 60_000);

const START = Date.UTC(2024, 4, 1, 12, 0, 0);
const SYNTHETIC_TRADES: AggTrade[] = [...generateTrades({ seed: 4242, symbols: 20, trades: 20_000, startTime: START, meanRatePerSecond: 5 })];
const SYNTHETIC = market(
  'synthetic 20 symbols',
  SYNTHETIC_TRADES.map((trade) => Buffer.from(JSON.stringify(toAggTradeEvent(trade)))),
  ['1m', '3m', '15m', '1h'],
  10_000,
);

type Entry =
  | { readonly kind: 'trades'; readonly data: Uint8Array; readonly symbol: string; readonly firstId: number; readonly lastId: number; readonly frames: number }
  | { readonly kind: 'watermark' | 'end'; readonly data: Uint8Array; readonly wm: number };

interface LogOptions {
  readonly seed: number;
  /** A symbol's batch is cut at a random size from 1 to this… */
  readonly maxBatch: number;
  /** …or once its first trade is this much older than the newest trade seen (must stay below the grace). */
  readonly maxDelayMs: number;
  /** A watermark after this many batches: every pending batch goes out first (the ingest's rule), then the time. */
  readonly watermarkEvery: number;
  /**
   * Breaks the ingest's rule: the watermark is the newest trade time read, while older trades still wait in pending
   * batches — with a small grace they then arrive late and amend finals (the engine's late path, in the log).
   */
  readonly hasty?: boolean;
}

function tradeEntry(symbol: string, scales: SymbolScales, frames: readonly Buffer[]): Entry {
  return { kind: 'trades', data: encodeTradeBatch(symbol, scales, frames), symbol, firstId: info(frames[0]!).aggId, lastId: info(frames.at(-1)!).aggId, frames: frames.length };
}

function watermarkEntry(wm: number): Entry {
  return { kind: 'watermark', data: encodeWatermark({ wm, by: 'test' }), wm };
}

function endEntry(wm: number): Entry {
  return { kind: 'end', data: encodeWatermark({ wm, end: true, by: 'test' }), wm };
}

/**
 * The partition's log as an ingest writes it: per symbol batches of frames, interleaved (frames come in time order,
 * a symbol's batch goes out when full or too old), a watermark every few batches (the newest trade time in the log),
 * and the end of the recording at the last trade time. Positions are 1, 2, 3, …
 */
function buildLog(m: Market, frames: readonly Buffer[], options: LogOptions): Entry[] {
  const random = new SeededRandom(options.seed);
  const entries: Entry[] = [];
  const pending = new Map<string, { frames: Buffer[]; first: number; last: number; size: number }>();
  let newest = Number.NEGATIVE_INFINITY;
  let batches = 0;
  const flush = (symbol: string): void => {
    const batch = pending.get(symbol)!;
    pending.delete(symbol);
    entries.push(tradeEntry(symbol, m.scales.get(symbol)!, batch.frames));
    newest = Math.max(newest, batch.last);
    batches++;
  };
  for (const frame of frames) {
    const { symbol, time } = info(frame);
    for (const [other, batch] of pending) if (time - batch.first > options.maxDelayMs) flush(other);
    let batch = pending.get(symbol);
    if (batch === undefined) pending.set(symbol, (batch = { frames: [], first: time, last: time, size: 1 + random.int(options.maxBatch) }));
    batch.frames.push(frame);
    batch.last = Math.max(batch.last, time);
    if (batch.frames.length >= batch.size) flush(symbol);
    if (batches >= options.watermarkEvery) {
      if (options.hasty) entries.push(watermarkEntry(time));
      else {
        for (const other of [...pending.keys()]) flush(other);
        entries.push(watermarkEntry(newest));
      }
      batches = 0;
    }
  }
  for (const other of [...pending.keys()]) flush(other);
  entries.push(endEntry(m.lastTradeTime));
  return entries;
}

/** What the partition owner does with one log message (partition-owner.ts `#apply`). */
function applyEntry(a: PartitionAggregate, position: number, entry: { readonly kind: Entry['kind']; readonly data: Uint8Array }): void {
  if (entry.kind === 'trades') {
    const batch = decodeTradeBatch(entry.data);
    if (batch === null) a.skip(position);
    else a.applyTrades(position, batch);
  } else {
    const message = decodeWatermark(entry.data);
    if (message === null) a.skip(position);
    else if (entry.kind === 'end' || message.end === true) a.applyEnd(position, message.wm);
    else a.applyWatermark(position, message.wm);
  }
}

function create(m: Market): PartitionAggregate {
  return PartitionAggregate.create({ partition: 3, intervals: m.intervals, graceMs: m.graceMs });
}

/**
 * Applies positions `from`…`log.length` to `a`; output is taken after every position divisible by `every` and after
 * the last, and handed to `out` (with the aggregate, e.g. for a snapshot right after the output).
 */
function drive(a: PartitionAggregate, log: readonly Entry[], from: number, every: number, out: (position: number, klines: Kline[], a: PartitionAggregate) => void): void {
  for (let position = from; position <= log.length; position++) {
    applyEntry(a, position, log[position - 1]!);
    if (position % every === 0 || position === log.length) out(position, a.takeOutput(), a);
  }
}

/**
 * Exact text of a snapshot (or any plain data): JSON, with −0, ±Infinity and NaN spelled out. (v8's serialised bytes
 * are no canonical form: the same numbers serialise differently as a packed double array and as a restored one.)
 */
function canon(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) => (typeof v === 'number' && (!Number.isFinite(v) || Object.is(v, -0)) ? `#${Object.is(v, -0) ? '-0' : String(v)}` : v));
}

// The DB-like state: per (symbol, interval, openTime) the newest version seen (the store's upsert guard).
type Db = Map<string, Kline>;

const versionOf = (k: Kline) => ({ kline: k, revision: k.revision ?? 0 });

function upsert(db: Db, klines: readonly Kline[]): void {
  for (const k of klines) {
    const key = `${k.symbol}|${k.interval}|${k.openTime}`;
    const current = db.get(key);
    if (current === undefined || isNewerVersion(versionOf(k), versionOf(current))) db.set(key, k);
  }
}

function dbText(db: Db): string {
  return JSON.stringify([...db].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

interface StraightRun {
  readonly log: readonly Entry[];
  /** The JSON of each output taken, by the position it was taken at. */
  readonly outputs: Map<number, string>;
  readonly db: Db;
  readonly snapshot: PartitionSnapshot;
  readonly aggregate: PartitionAggregate;
}

/** A checkpoint as an owner writes it (serialised right after the output), and the DB as that output left it. */
interface Checkpoint {
  readonly data: Buffer;
  readonly db: Db;
}

function straight(m: Market, log: readonly Entry[], every = 1, checkpointAt: ReadonlySet<number> = new Set(), checkpoints?: Map<number, Checkpoint>): StraightRun {
  const a = create(m);
  const outputs = new Map<number, string>();
  const db: Db = new Map();
  if (checkpointAt.has(0)) checkpoints?.set(0, { data: serialize(a.snapshot()), db: new Map() });
  drive(a, log, 1, every, (position, klines) => {
    outputs.set(position, JSON.stringify(klines));
    upsert(db, klines);
    if (checkpointAt.has(position)) checkpoints?.set(position, { data: serialize(a.snapshot()), db: new Map(db) });
  });
  return { log, outputs, db, snapshot: a.snapshot(), aggregate: a };
}

/** The straight run of a market's log, output after every entry (computed once; for tests that only read it). */
const straightRuns = new Map<Market, StraightRun>();
function straightOnce(m: Market): StraightRun {
  let run = straightRuns.get(m);
  if (run === undefined) straightRuns.set(m, (run = straight(m, LOGS.get(m)!)));
  return run;
}

function replayDb(m: Market, frames: readonly Uint8Array[]): { db: Db; summary: ReturnType<Replayer['end']> } {
  const db: Db = new Map();
  const replayer = new Replayer({ intervals: m.intervals, graceMs: m.graceMs, scales: m.scales }, { onFinal: (k) => upsert(db, [k]) });
  for (const frame of frames) replayer.feed(frame);
  return { db, summary: replayer.end() };
}

/** The frames of the log's trade batches, in log order. */
function logFrames(log: readonly Entry[]): Buffer[] {
  return log.flatMap((entry) => (entry.kind === 'trades' ? decodeTradeBatch(entry.data)!.frames : []));
}

function rawTrades(frames: readonly Uint8Array[]): number {
  return frames.reduce((sum, frame) => sum + info(frame).raw, 0);
}

/** Σ tradeCount over the DB's klines of one interval: every raw trade is counted exactly once per interval. */
function countedTrades(db: Db, interval: IntervalName): number {
  let sum = 0;
  for (const k of db.values()) if (k.interval === interval) sum += k.tradeCount;
  return sum;
}

const LOG_OPTIONS: Record<string, LogOptions> = {
  XRPETH: { seed: 11, maxBatch: 30, maxDelayMs: 30_000, watermarkEvery: 7 },
  synthetic: { seed: 12, maxBatch: 12, maxDelayMs: 6_000, watermarkEvery: 10 },
};

const MARKETS: readonly [Market, LogOptions][] = [
  [XRPETH, LOG_OPTIONS.XRPETH!],
  [SYNTHETIC, LOG_OPTIONS.synthetic!],
];
const LOGS = new Map(MARKETS.map(([m, options]) => [m, buildLog(m, m.frames, options)]));

/** `count` split points spread over 0…n (0, n and n − 1 among them), multiples of `every`. */
function splitPoints(n: number, every: number, count: number, random: SeededRandom): number[] {
  const points = new Set<number>([0, n, every * Math.floor((n - 1) / every)]);
  const spread = Math.floor(count * 0.8);
  for (let i = 1; i < spread; i++) points.add(every * Math.floor((i * n) / spread / every));
  while (points.size < count) points.add(every * random.int(Math.floor(n / every) + 1));
  return [...points].filter((k) => k >= 0 && k <= n).sort((a, b) => a - b);
}

t.test('the logs are what the tests need', async (t) => {
  t.equal(XRPETH.frames.length, 12_477);
  t.equal(SYNTHETIC.scales.size, 20, 'the synthetic market trades 20 symbols');
  for (const [m, log] of LOGS) {
    const batches = log.filter((e) => e.kind === 'trades');
    t.equal(batches.reduce((sum, e) => sum + (e.kind === 'trades' ? e.frames : 0), 0), m.frames.length, `${m.name}: every frame is in the log once`);
    t.ok(log.filter((e) => e.kind === 'watermark').length > 100, `${m.name}: watermarks all along`);
    t.ok(batches.some((e) => e.kind === 'trades' && e.frames > 1) && batches.some((e) => e.kind === 'trades' && e.frames === 1), `${m.name}: batches of one and of many`);
    t.same(log.at(-1)!.kind, 'end');
    t.equal((log.at(-1) as { wm: number }).wm, m.lastTradeTime);
    const symbols = new Set(batches.map((e) => (e.kind === 'trades' ? e.symbol : '')));
    t.equal(symbols.size, m.scales.size);
  }
  const synthetic = LOGS.get(SYNTHETIC)!;
  let switches = 0;
  for (let i = 1; i < synthetic.length; i++) {
    const a = synthetic[i - 1]!;
    const b = synthetic[i]!;
    if (a.kind === 'trades' && b.kind === 'trades' && a.symbol !== b.symbol) switches++;
  }
  t.ok(switches > 1000, `the synthetic symbols' batches interleave (${switches} switches)`);
});

/**
 * The checkpoint property on one log: for every split point k, the state serialised right after the output at k,
 * restored and run on over k+1…n, takes the same outputs at the same positions, ends in the same snapshot, and leaves
 * the same DB-like state as the straight run. Returns the straight run.
 */
function checkCheckpoints(t: Test, m: Market, log: readonly Entry[], every: number, splits: readonly number[]): StraightRun {
  const checkpoints = new Map<number, Checkpoint>();
  const run = straight(m, log, every, new Set(splits), checkpoints);
  const wantSnapshot = canon(run.snapshot);
  const wantDb = dbText(run.db);
  let failures = 0;
  for (const k of splits) {
    const checkpoint = checkpoints.get(k)!;
    const restored = PartitionAggregate.restore(deserialize(checkpoint.data) as PartitionSnapshot);
    if (restored.position !== k) t.fail(`checkpoint ${k} restores at position ${restored.position}`);
    const db: Db = new Map(checkpoint.db);
    let differing = 0;
    let first = -1;
    let taken = 0;
    drive(restored, log, k + 1, every, (position, klines) => {
      taken++;
      upsert(db, klines);
      if (JSON.stringify(klines) !== run.outputs.get(position)) {
        differing++;
        if (first < 0) first = position;
      }
    });
    const expectTaken = [...run.outputs.keys()].filter((position) => position > k).length;
    const sameSnapshot = canon(restored.snapshot()) === wantSnapshot;
    const sameDb = dbText(db) === wantDb;
    if (differing > 0 || taken !== expectTaken || !sameSnapshot || !sameDb) {
      failures++;
      t.fail(`restored at ${k}: ${differing} outputs differ (first at ${first}), ${taken}/${expectTaken} taken, snapshot ${sameSnapshot ? 'same' : 'differs'}, DB ${sameDb ? 'same' : 'differs'}`);
      if (!sameSnapshot) t.same(restored.snapshot(), run.snapshot);
    }
  }
  t.equal(failures, 0, `${splits.length} checkpoints (${splits.slice(0, 4).join(', ')}, …, ${splits.slice(-2).join(', ')}) all gave the straight run`);
  return run;
}

// ---------------------------------------------------------------------------------------------------------------
// (a) Determinism: a checkpoint anywhere, restored, gives the straight run.

const HASTY: Market = { ...SYNTHETIC, name: 'synthetic 20 symbols, hasty watermarks', graceMs: 200 };
const HASTY_LOG = buildLog(HASTY, HASTY.frames, { ...LOG_OPTIONS.synthetic!, hasty: true });

for (const [m, log, every, count] of [
  [XRPETH, LOGS.get(XRPETH)!, 1, 25],
  [SYNTHETIC, LOGS.get(SYNTHETIC)!, 1, 25],
  [XRPETH, LOGS.get(XRPETH)!, 5, 12],
  [HASTY, HASTY_LOG, 1, 12],
] as const) {
  t.test(`${m.name}: a checkpoint at any of ${count} positions, restored and run on, equals the straight run (output taken every ${every})`, async (t) => {
    const n = log.length;
    const splits = splitPoints(n, every, count, new SeededRandom(every * 1000 + n));
    t.equal(splits.length, count, `${splits.length} split points over ${n} positions`);
    const run = checkCheckpoints(t, m, log, every, splits);
    t.equal(run.aggregate.position, n);
    t.ok(run.aggregate.finished, 'the end entry finished the engine');
    t.ok(run.db.size > 1000 && [...run.db.values()].every((k) => k.isFinal), `${run.db.size} klines, all final after the end`);
    const engine = run.aggregate.engine.counters;
    if (m === HASTY) {
      t.ok(engine.amended > 50 && engine.revisions > 50, `late trades amended ${engine.amended} finals (${engine.revisions} revisions) and the checkpoints carried the amendment memory`);
      t.ok([...run.db.values()].some((k) => (k.revision ?? 0) > 0));
    } else t.equal(engine.amended, 0, 'no late trade');
    if (engine.lateBeyondMemory === 0) t.equal(countedTrades(run.db, m.intervals[0]!), rawTrades(m.frames), 'every raw trade is counted once');
  });
}

t.test('a checkpoint survives serialisation: the restored state holds the position, time, counters and engine', async (t) => {
  const m = SYNTHETIC;
  const log = LOGS.get(m)!;
  const a = create(m);
  const half = Math.floor(log.length / 2);
  drive(a, log.slice(0, half), 1, 1, () => {});
  const snapshot = a.snapshot();
  const restored = PartitionAggregate.restore(deserialize(serialize(snapshot)) as PartitionSnapshot);
  t.equal(restored.position, half);
  t.equal(restored.watermark, a.watermark);
  t.ok(Number.isFinite(restored.watermark), 'some watermark was applied');
  t.same(restored.counters, a.counters);
  t.not(restored.counters, a.counters, 'the counters are a copy');
  t.same(restored.engine.openKlines(), a.engine.openKlines());
  t.equal(restored.partition, 3);
  t.same(restored.takeOutput(), [], 'a restored aggregate has no pending output');
});

// ---------------------------------------------------------------------------------------------------------------
// (b) Two ingests: every batch twice.

/**
 * The second ingest's copy of the trade batches: per batch the same, or split in two, or merged with the symbol's
 * next batch (at that one's place) — each symbol's trades in order, as an ingest publishes them — with its own
 * watermarks (every 10 batches: the newest trade it has written, but never past a trade it still holds).
 */
function secondCopy(log: readonly Entry[], m: Market, random: SeededRandom): Entry[] {
  const out: Entry[] = [];
  const carried = new Map<string, Buffer[]>();
  let newest = Number.NEGATIVE_INFINITY;
  let batches = 0;
  const write = (symbol: string, frames: Buffer[]): void => {
    out.push(tradeEntry(symbol, m.scales.get(symbol)!, frames));
    for (const frame of frames) newest = Math.max(newest, info(frame).time);
    if (++batches % 10 === 0) {
      let wm = newest;
      for (const held of carried.values()) wm = Math.min(wm, info(held[0]!).time);
      out.push(watermarkEntry(wm));
    }
  };
  for (const entry of log) {
    if (entry.kind !== 'trades') continue;
    const frames = [...(carried.get(entry.symbol) ?? []), ...decodeTradeBatch(entry.data)!.frames];
    carried.delete(entry.symbol);
    const r = random.next();
    if (r < 0.15) carried.set(entry.symbol, frames);
    else if (r < 0.4 && frames.length >= 2) {
      const cut = 1 + random.int(frames.length - 1);
      write(entry.symbol, frames.slice(0, cut));
      write(entry.symbol, frames.slice(cut));
    } else write(entry.symbol, frames);
  }
  for (const [symbol, frames] of [...carried]) {
    carried.delete(symbol);
    write(symbol, frames);
  }
  return out;
}

for (const [m] of MARKETS) {
  t.test(`${m.name}: every batch twice (two ingests, interleaved, split differently) gives the same klines as once`, async (t) => {
    const log = LOGS.get(m)!;
    const once = straightOnce(m);
    const random = new SeededRandom(99);
    const first = log.slice(0, -1);
    const second = secondCopy(log, m, random);
    t.equal(second.reduce((sum, e) => sum + (e.kind === 'trades' ? e.frames : 0), 0), m.frames.length, 'the second copy holds every trade once');
    t.ok(second.filter((e) => e.kind === 'trades').length !== first.filter((e) => e.kind === 'trades').length, 'and is batched differently');
    // Two in-order streams merged at random: either ingest may be ahead; the end comes after both.
    const doubled: Entry[] = [];
    let i = 0;
    let j = 0;
    while (i < first.length || j < second.length) {
      if (j >= second.length || (i < first.length && random.chance(0.5))) doubled.push(first[i++]!);
      else doubled.push(second[j++]!);
    }
    doubled.push(log.at(-1)!);
    // The doubled log holds the checkpoint property too (the second ingest's watermarks lag: the watermark is a max).
    const splits = [Math.floor(doubled.length / 2), Math.floor((doubled.length * 3) / 4), doubled.length - 1, doubled.length];
    const twice = checkCheckpoints(t, m, doubled, 1, splits);
    const c = twice.aggregate.counters;
    t.equal(c.trades, 2 * m.frames.length);
    t.equal(c.duplicates, m.frames.length, 'every trade was applied once and dropped once');
    t.equal(c.applied, m.frames.length);
    t.equal(c.gaps + c.rejected + c.afterEnd, 0, 'no gap: each copy is contiguous per symbol, so the merge never skips an id');
    const batches = (entries: readonly Entry[]) => entries.filter((e) => e.kind === 'trades').length;
    t.equal(c.batches, batches(first) + batches(second));
    t.equal(c.watermarks, doubled.length - c.batches, 'both ingests\' watermarks (and the end) were applied');
    let highest = Number.NEGATIVE_INFINITY;
    let lagging = 0;
    for (const e of doubled) {
      if (e.kind === 'trades') continue;
      if (e.wm < highest) lagging++;
      highest = Math.max(highest, e.wm);
    }
    t.ok(lagging > 10, `${lagging} watermarks lag behind an earlier one (the other ingest was ahead)`);
    const a = create(m);
    let highestSoFar = Number.NEGATIVE_INFINITY;
    let wrongTime = 0;
    doubled.forEach((entry, k) => {
      applyEntry(a, k + 1, entry);
      if (entry.kind !== 'trades') highestSoFar = Math.max(highestSoFar, entry.wm);
      if (a.watermark !== highestSoFar) wrongTime++;
    });
    t.equal(wrongTime, 0, 'the partition\'s time is always the highest watermark so far: a lagging one never moves it back');
    t.equal(dbText(twice.db), dbText(once.db), 'the same final klines, key by key');
    const bySymbol = (run: StraightRun) => canon([...run.snapshot.engine.symbols].sort((a, b) => (a.symbol < b.symbol ? -1 : 1)));
    t.equal(bySymbol(twice), bySymbol(once), 'the same final engine state per symbol (symbols registered in another order)');
  });
}

// ---------------------------------------------------------------------------------------------------------------
// (c) Redelivery.

t.test('a redelivered position (≤ the current one) changes nothing, whatever it carries', async (t) => {
  const m = SYNTHETIC;
  const log = LOGS.get(m)!;
  const run = straightOnce(m);
  const a = create(m);
  const at = Math.floor(log.length * 0.6);
  drive(a, log.slice(0, at), 1, 1, () => {});
  t.equal(a.position, at);
  t.ok(a.covers(at) && a.covers(1) && a.covers(0), 'positions up to the current one are covered');
  t.notOk(a.covers(at + 1), 'the next one is not');
  const before = canon(a.snapshot());
  const random = new SeededRandom(5);
  const redeliveries: [string, () => void][] = [
    ['the same message again', () => applyEntry(a, at, log[at - 1]!)],
    ['an older message at its own position', () => applyEntry(a, 17, log[16]!)],
    ['the next message at an old position', () => applyEntry(a, at - 3, log[at]!)],
    ['a far-future watermark at an old position', () => a.applyWatermark(at - 1, m.lastTradeTime + 86_400_000)],
    ['the end at an old position', () => a.applyEnd(at, m.lastTradeTime)],
    ['a malformed message at an old position', () => a.skip(at - 2)],
    ['position 0', () => a.applyWatermark(0, m.lastTradeTime)],
  ];
  for (let r = 0; r < 20; r++) {
    const p = 1 + random.int(at);
    redeliveries.push([`message ${p} redelivered`, () => applyEntry(a, p, log[p - 1]!)]);
  }
  for (const [what, redeliver] of redeliveries) {
    redeliver();
    t.same(a.takeOutput(), [], `${what}: no output`);
    t.equal(canon(a.snapshot()), before, `${what}: the state is unchanged`);
  }
  t.notOk(a.finished, 'the end at an old position did not finish the engine');
  const db: Db = new Map();
  for (const [position, json] of run.outputs) if (position <= at) upsert(db, JSON.parse(json) as Kline[]);
  drive(a, log, at + 1, 1, (_, klines) => upsert(db, klines));
  t.equal(canon(a.snapshot()), canon(run.snapshot), 'run on, it ends exactly as the straight run');
  t.equal(dbText(db), dbText(run.db));
});

// ---------------------------------------------------------------------------------------------------------------
// (d) The same klines as the single-process Replayer.

for (const [m] of MARKETS) {
  t.test(`${m.name}: the final klines equal the Replayer's, fed the same frames`, async (t) => {
    const log = LOGS.get(m)!;
    const run = straightOnce(m);
    const { db, summary } = replayDb(m, logFrames(log));
    t.equal(summary.engine.applied, m.frames.length);
    t.equal(run.aggregate.engine.counters.applied, m.frames.length);
    t.equal(summary.engine.amended + run.aggregate.engine.counters.amended, 0, 'no late trade on either side (batch delay < grace)');
    t.equal(db.size, run.db.size, `${db.size} klines each`);
    t.equal(dbText(run.db), dbText(db), 'identical, field by field, key by key');
    t.same(run.aggregate.engine.counters, { ...summary.engine }, 'the engines counted the same');
    // The Replayer's clock follows each frame's trade time, so after the last frame it stands at the last trade time,
    // where the partition's end entry takes it; both then finish. Fed the recording in its own (time) order instead
    // of the log's, as `klagg replay` reads it, it makes the same klines too.
    t.equal(dbText(replayDb(m, m.frames).db), dbText(run.db), 'the same klines as a replay of the recording in time order');
  });
}

t.test('batches held longer than the grace: the same klines as the Replayer\'s, but the Replayer revises finals the partition never had to', async (t) => {
  // The Replayer's clock is the trade time of each frame it is fed; fed the log's frames, a batch delayed past the
  // grace arrives after its period was finalised by another symbol's later trades, so the Replayer finalises early and
  // amends (a revision). The partition's clock is the log's watermark, which the ingest writes only after every
  // earlier batch: nothing arrives late, no final is ever revised. The values agree exactly; only `revision` differs.
  const m: Market = { ...SYNTHETIC, graceMs: 0 };
  const log = LOGS.get(SYNTHETIC)!;
  const run = straight(m, log);
  const { db, summary } = replayDb(m, logFrames(log));
  t.equal(run.aggregate.engine.counters.amended, 0, 'the partition never amended a final');
  t.ok(summary.engine.amended > 50, `the Replayer amended ${summary.engine.amended} finals`);
  t.equal(summary.engine.lateBeyondMemory, 0, 'every late trade was within the Replayer\'s amendment memory');
  t.equal(summary.engine.finals, run.aggregate.engine.counters.finals, 'the same number of periods');
  const withoutRevision = (d: Db) => dbText(new Map([...d].map(([key, { revision: _, ...k }]) => [key, k as Kline])));
  t.equal(withoutRevision(run.db), withoutRevision(db), 'every kline has the same values');
  const revised = [...db.values()].filter((k) => (k.revision ?? 0) > 0);
  t.ok(revised.length > 50 && [...run.db.values()].every((k) => k.revision === undefined), `only the Replayer's ${revised.length} klines carry a revision`);
});

// ---------------------------------------------------------------------------------------------------------------
// (e) Gaps.

t.test('a gap (ids that never reached the log) is accepted deterministically, counted and remembered', async (t) => {
  const m = SYNTHETIC;
  const bySymbol = new Map<string, number[]>();
  SYNTHETIC_TRADES.forEach((trade, i) => {
    let list = bySymbol.get(trade.symbol);
    if (list === undefined) bySymbol.set(trade.symbol, (list = []));
    list.push(i);
  });
  const busy = [...bySymbol].filter(([, list]) => list.length >= 60).map(([symbol]) => symbol);
  t.ok(busy.length >= 3);
  // Three gaps: 5 ids, 1 id, 7 ids, in the middle of three symbols' sequences.
  const missing = [
    { symbol: busy[0]!, at: 0.3, count: 5 },
    { symbol: busy[1]!, at: 0.5, count: 1 },
    { symbol: busy[2]!, at: 0.7, count: 7 },
  ].map(({ symbol, at, count }) => {
    const list = bySymbol.get(symbol)!;
    const from = SYNTHETIC_TRADES[list[Math.floor(list.length * at)]!]!.aggId;
    return { symbol, fromId: from, toId: from + count - 1 };
  });
  const dropped = new Set<number>();
  SYNTHETIC_TRADES.forEach((trade, i) => {
    if (missing.some((g) => g.symbol === trade.symbol && trade.aggId >= g.fromId && trade.aggId <= g.toId)) dropped.add(i);
  });
  t.equal(dropped.size, 13);
  const frames = m.frames.filter((_, i) => !dropped.has(i));
  const log = buildLog(m, frames, LOG_OPTIONS.synthetic!);
  const expected = missing
    .map((g) => ({ ...g, position: 1 + log.findIndex((e) => e.kind === 'trades' && e.symbol === g.symbol && e.firstId <= g.toId + 1 && e.lastId >= g.toId + 1) }))
    .sort((a, b) => a.position - b.position);
  t.ok(expected.every((g) => g.position > 0));

  const splits = expected.flatMap((g) => [g.position - 1, g.position]);
  const checkpoints = new Map<number, Checkpoint>();
  const run = straight(m, log, 1, new Set(splits), checkpoints);
  const c = run.aggregate.counters;
  t.equal(c.gaps, 3);
  t.equal(c.gapTrades, 13);
  t.equal(c.applied, frames.length, 'every trade that reached the log was applied');
  t.equal(c.duplicates + c.rejected, 0);
  t.same(run.aggregate.gaps, expected, 'each gap remembered with its symbol, ids and the position that revealed it');
  t.equal(run.aggregate.engine.counters.acceptedGapTrades, 13);
  t.equal(countedTrades(run.db, '1m'), rawTrades(frames), 'the klines count exactly the trades that came, none invented');

  const again = straight(m, log);
  t.same([...again.outputs], [...run.outputs], 'a second run decides the same: same output, position by position');
  t.same(again.aggregate.gaps, expected);
  for (const k of splits) {
    const restored = PartitionAggregate.restore(deserialize(checkpoints.get(k)!.data) as PartitionSnapshot);
    let differing = 0;
    drive(restored, log, k + 1, 1, (position, klines) => {
      if (JSON.stringify(klines) !== run.outputs.get(position)) differing++;
    });
    t.equal(differing, 0, `restored at ${k}: the same output after it`);
    t.equal(canon(restored.snapshot()), canon(run.snapshot), `restored at ${k}: the same final state`);
    t.equal(restored.counters.gaps, 3, `restored at ${k}: the gap count carries over the checkpoint`);
  }

  const replay = replayDb(m, logFrames(log));
  t.same(replay.summary.gaps, expected.map(({ symbol, fromId, toId }) => ({ symbol, fromId, toId })), 'the Replayer finds the same gaps');
  t.equal(dbText(run.db), dbText(replay.db), 'and makes the same klines of them');
});

// ---------------------------------------------------------------------------------------------------------------
// (f) After the end; malformed messages.

t.test('trades after the end marker are counted in afterEnd and never applied', async (t) => {
  const m = XRPETH;
  const log = LOGS.get(m)!;
  const run = straight(m, log);
  const a = run.aggregate;
  const engineBefore = canon(a.snapshot().engine);
  const countersBefore = { ...a.counters };
  const scales = m.scales.get('XRPETH')!;
  const last = info(m.frames.at(-1)!);
  const late: AggTrade = { symbol: 'XRPETH', aggId: last.aggId + 1, price: '0.00150000', qty: '1.00000000', firstTradeId: 1e9, lastTradeId: 1e9 + 2, tradeTime: last.time + 1_000, buyerIsMaker: false };
  const after: Entry[] = [
    tradeEntry('XRPETH', scales, m.frames.slice(-3)), // a second ingest's copies
    tradeEntry('XRPETH', scales, [aggTradeFrame('XRPETH', late)]), // a new trade
    watermarkEntry(last.time + 120_000),
    tradeEntry('NEWCOIN', { priceScale: 2, qtyScale: 1 }, [aggTradeFrame('NEWCOIN', { ...late, symbol: 'NEWCOIN', aggId: 1, price: '1.00', qty: '1.0' })]),
    endEntry(last.time + 240_000),
  ];
  after.forEach((entry, i) => applyEntry(a, log.length + 1 + i, entry));
  t.same(a.takeOutput(), [], 'no output after the end');
  t.equal(a.counters.afterEnd, 5);
  t.equal(a.counters.trades, countersBefore.trades + 5);
  t.equal(a.counters.batches, countersBefore.batches + 3);
  t.equal(a.counters.applied, countersBefore.applied, 'nothing applied');
  t.equal(a.counters.duplicates, countersBefore.duplicates, 'not even counted as duplicates');
  t.equal(a.counters.watermarks, countersBefore.watermarks + 2);
  t.equal(a.position, log.length + after.length, 'their positions are consumed');
  t.equal(canon(a.snapshot().engine), engineBefore, 'the engine did not change: no symbol added, no kline touched');
});

t.test('malformed messages are skipped and counted as rejected; the klines do not change', async (t) => {
  const m = XRPETH;
  const log = LOGS.get(m)!;
  const clean = straightOnce(m);
  const scales = m.scales.get('XRPETH')!;
  const garbage: { kind: Entry['kind']; data: Uint8Array }[] = [
    { kind: 'trades', data: Buffer.from('not a batch') },
    { kind: 'trades', data: Buffer.from('{"s":"XRPETH","ps":8}\n{"e":"aggTrade"}') },
    { kind: 'trades', data: new Uint8Array(0) },
    { kind: 'watermark', data: Buffer.from('{"wm":"soon"}') },
    { kind: 'watermark', data: Buffer.from('\u0000\u0001') },
    { kind: 'end', data: Buffer.from('{}') },
  ];
  // A well-formed batch whose frames are not all usable: the bad frames are rejected, the good one applied.
  const firstBatch = log.findIndex((e) => e.kind === 'trades');
  const good = decodeTradeBatch(log[firstBatch]!.data)!.frames;
  const mixed = encodeTradeBatch('XRPETH', scales, [Buffer.from('{"e":"aggTrade","s":"XRPETH","a":'), Buffer.from('{"e":"trade"}'), ...good]);
  const random = new SeededRandom(3);
  const dirty: { kind: Entry['kind']; data: Uint8Array }[] = [];
  let inserted = 0;
  for (let i = 0; i < log.length; i++) {
    if (i === firstBatch) {
      dirty.push({ kind: 'trades', data: mixed });
      continue;
    }
    if (i < log.length - 1 && random.chance(0.01)) {
      dirty.push(garbage[inserted++ % garbage.length]!);
    }
    dirty.push(log[i]!);
  }
  t.ok(inserted >= garbage.length, `${inserted} malformed messages spread over the log`);
  const a = create(m);
  const db: Db = new Map();
  dirty.forEach((entry, i) => {
    applyEntry(a, i + 1, entry);
    upsert(db, a.takeOutput());
  });
  t.equal(a.counters.rejected, inserted + 2, 'every malformed message and the two bad frames');
  t.equal(a.counters.applied, m.frames.length);
  t.equal(a.counters.batches, clean.aggregate.counters.batches, 'a skipped message is no batch');
  t.equal(a.counters.trades, clean.aggregate.counters.trades + 2);
  t.equal(a.position, dirty.length, 'every position was consumed');
  t.equal(a.ingest.counters.malformed + a.ingest.counters.notAggTrade + a.ingest.counters.missingField + a.ingest.counters.badField, 2, 'the ingest says why');
  t.equal(dbText(db), dbText(clean.db), 'the same klines as the clean log');
});

// ---------------------------------------------------------------------------------------------------------------
// (g) Codecs.

t.test('trade batches round-trip: header and frames byte for byte, views into the data', async (t) => {
  const frames = XRPETH.frames.slice(100, 110);
  const scales = { priceScale: 8, qtyScale: 8 };
  const data = encodeTradeBatch('XRPETH', scales, frames);
  const decoded = decodeTradeBatch(data)!;
  t.same(decoded.header, { s: 'XRPETH', ps: 8, qs: 8 });
  t.equal(decoded.frames.length, 10);
  decoded.frames.forEach((frame, i) => t.ok(frame.equals(frames[i]!), `frame ${i}`));
  t.equal(decoded.frames[0]!.buffer, decodeTradeBatch(data)!.frames[0]!.buffer, 'frames are views, not copies');
  // Inside a larger buffer (as a message payload may be): offsets respected.
  const padded = Buffer.concat([Buffer.from('xxxx'), Buffer.from(data), Buffer.from('yyyy')]);
  const view = new Uint8Array(padded.buffer, padded.byteOffset + 4, data.byteLength);
  const fromView = decodeTradeBatch(view)!;
  t.same(fromView.header, decoded.header);
  t.same(fromView.frames.map(String), frames.map(String));
  t.same(decodeTradeBatch(encodeTradeBatch('X', { priceScale: 0, qtyScale: 3 }, [])), { header: { s: 'X', ps: 0, qs: 3 }, frames: [] }, 'an empty batch');
  t.same(decodeTradeBatch(Buffer.from('{"s":"X","ps":1,"qs":2}\n\nF1\n\nF2\n'))!.frames.map(String), ['F1', 'F2'], 'empty lines are no frames');
});

t.test('garbage decodes to null', async (t) => {
  for (const text of ['', 'garbage', 'null', '[]', '42', '{"s":"X","ps":1}', '{"s":"X","ps":1.5,"qs":2}', '{"s":1,"ps":1,"qs":2}', '{"s":"X","ps":"8","qs":8}\nframe', '{"s":"X"']) {
    t.equal(decodeTradeBatch(Buffer.from(text)), null, `trade batch ${JSON.stringify(text)}`);
  }
  for (const text of ['', 'garbage', 'null', '{}', '{"wm":"1"}', '{"wm":null}', '{"wm":1e999}', '[1]']) {
    t.equal(decodeWatermark(Buffer.from(text)), null, `watermark ${JSON.stringify(text)}`);
  }
  for (const text of ['', 'garbage', 'null', '{}', '{"klines":[]}', '{"klines":{},"venue":"b"}', '{"klines":[],"venue":5}']) {
    t.equal(decodeKlineBatch(Buffer.from(text)), null, `kline batch ${JSON.stringify(text)}`);
  }
});

t.test('watermarks and kline batches round-trip', async (t) => {
  for (const message of [{ wm: 1_700_000_000_123 }, { wm: 5, end: true }, { wm: 0, end: false, by: 'ingest-2' }]) {
    t.same(decodeWatermark(encodeWatermark(message)), message);
  }
  const klines = straight(XRPETH, LOGS.get(XRPETH)!.slice(0, 200)).aggregate.engine.openKlines();
  t.ok(klines.length > 0);
  const batch: KlineBatchMessage = { partition: 17, epoch: 1234, position: 99, venue: 'binance', market: 'usdm', klines };
  t.same(decodeKlineBatch(encodeKlineBatch(batch)), batch);
  const revised = { ...klines[0]!, isFinal: true, revision: 2 };
  t.same(decodeKlineBatch(encodeKlineBatch({ ...batch, klines: [revised] }))!.klines, [revised], 'a revision keeps its revision');
});

t.test('aggTradeFrame: a REST trade written as a frame parses back to the same trade', async (t) => {
  const check = (t: Test, trade: AggTrade): void => {
    const frame = aggTradeFrame(trade.symbol, trade);
    t.same(JSON.parse(frame.toString()), toAggTradeEvent(trade), `${trade.symbol} ${trade.aggId}: the stream event`);
    const p = new AggTradeParser();
    t.ok(p.parse(frame), 'the engine\'s parser takes it');
    const got = p.trade;
    t.same(
      [got.aggId, got.firstTradeId, got.lastTradeId, got.tradeTime, got.buyerIsMaker, frame.subarray(got.symbolStart, got.symbolEnd).toString()],
      [trade.aggId, trade.firstTradeId, trade.lastTradeId, trade.tradeTime, trade.buyerIsMaker, trade.symbol],
    );
  };
  check(t, { symbol: 'BTCUSDT', aggId: 123456789, price: '67000.10', qty: '0.003', firstTradeId: 1000, lastTradeId: 1004, tradeTime: 1_700_000_000_000, buyerIsMaker: true });
  check(t, { symbol: 'XRPETH', aggId: 0, price: '0.00141342', qty: '23.00000000', firstTradeId: 0, lastTradeId: 0, tradeTime: 1, buyerIsMaker: false });
  for (const trade of SYNTHETIC_TRADES.slice(0, 50)) check(t, trade);

  // The whole recording through REST-shaped frames gives the same klines as the recorded frames.
  const parsed = XRPETH.frames.map((frame) => {
    const e = JSON.parse(frame.toString()) as { s: string; a: number; p: string; q: string; f: number; l: number; T: number; m: boolean };
    return { symbol: e.s, aggId: e.a, price: e.p, qty: e.q, firstTradeId: e.f, lastTradeId: e.l, tradeTime: e.T, buyerIsMaker: e.m } satisfies AggTrade;
  });
  const rest = parsed.map((trade) => aggTradeFrame(trade.symbol, trade));
  const fromRest = straight(XRPETH, buildLog(XRPETH, rest, LOG_OPTIONS.XRPETH!));
  const recorded = straightOnce(XRPETH);
  t.equal(dbText(fromRest.db), dbText(recorded.db), 'REST-shaped frames make exactly the recorded frames\' klines');
});
