/**
 * The live feed's monotone filter (scale-out.md §3.1 C): per (symbol, interval) a kline passes only when it is newer
 * than what the feed already passed, so the re-emissions of a failover (a successor replaying from a checkpoint) or
 * of a zombie owner never reach a client twice and never make a kline go backwards.
 */
import t from 'tap';
import type { IntervalName } from '../../src/domain/interval.ts';
import type { Kline } from '../../src/domain/kline.ts';
import { isNewerVersion } from '../../src/domain/kline-version.ts';
import { MonotoneKlineFilter } from '../../src/domain/monotone-klines.ts';
import { SeededRandom } from '../../src/domain/seeded-random.ts';

const MINUTE = 60_000;

/** A kline whose values derive from its version, so two versions never look alike. */
function kline(symbol: string, interval: IntervalName, period: number, lastAggId: number, isFinal: boolean, revision = 0): Kline {
  const close = `${100 + lastAggId}.${revision}`;
  return {
    symbol,
    interval,
    openTime: period * MINUTE,
    closeTime: (period + 1) * MINUTE - 1,
    open: '100.0',
    high: close,
    low: '100.0',
    close,
    volume: String(Math.max(0, lastAggId)),
    quoteVolume: '0',
    tradeCount: Math.max(0, lastAggId),
    takerBuyVolume: '0',
    takerBuyQuoteVolume: '0',
    firstTradeId: lastAggId < 0 ? -1 : 0,
    lastTradeId: lastAggId,
    lastAggId,
    isFinal,
    ...(revision > 0 ? { revision } : {}),
  };
}

const open = (period: number, lastAggId: number, symbol = 'BTCUSDT', interval: IntervalName = '1m') => kline(symbol, interval, period, lastAggId, false);
const final = (period: number, lastAggId: number, revision = 0, symbol = 'BTCUSDT', interval: IntervalName = '1m') => kline(symbol, interval, period, lastAggId, true, revision);

t.test('an open kline with a rising lastAggId passes every time', async (t) => {
  const filter = new MonotoneKlineFilter();
  for (let id = 1; id <= 5; id++) t.ok(filter.accept(open(10, id)), `open @${id}`);
  t.equal(filter.dropped, 0);
});

t.test('the same or an older version of the open kline is dropped and counted', async (t) => {
  const filter = new MonotoneKlineFilter();
  t.ok(filter.accept(open(10, 5)));
  t.notOk(filter.accept(open(10, 5)), 'the same version again');
  t.notOk(filter.accept(open(10, 4)), 'an older version');
  t.equal(filter.dropped, 2);
  t.ok(filter.accept(open(10, 6)), 'a newer one still passes');
  t.equal(filter.dropped, 2);
});

t.test('a final beats the open kline of its period; an open after it is dropped', async (t) => {
  const filter = new MonotoneKlineFilter();
  t.ok(filter.accept(open(10, 5)));
  t.ok(filter.accept(final(10, 5)), 'final at the same lastAggId passes');
  t.notOk(filter.accept(open(10, 5)), 'the open it replaced is dropped');
  t.notOk(filter.accept(open(10, 9)), 'an open of the finished period is dropped even with a higher lastAggId');
  t.notOk(filter.accept(final(10, 5)), 'the same final again is dropped');
  t.equal(filter.dropped, 3);
});

t.test('a later period passes; an older period\'s open after it is dropped', async (t) => {
  const filter = new MonotoneKlineFilter();
  t.ok(filter.accept(open(10, 5)));
  t.ok(filter.accept(open(11, 6)), 'the next period');
  t.notOk(filter.accept(open(10, 5)), 'the older period\'s open again');
  t.notOk(filter.accept(open(10, 99)), 'the older period\'s open, even at a higher id');
  t.ok(filter.accept(open(13, 7)), 'a period further on (empty periods between)');
  t.notOk(filter.accept(open(11, 6)));
  t.equal(filter.dropped, 3);
});

t.test('an older period\'s final passes only when newer than the last final passed', async (t) => {
  const filter = new MonotoneKlineFilter();
  t.ok(filter.accept(open(10, 5)));
  t.ok(filter.accept(open(11, 7)), 'the feed saw the next period before the final (reordered delivery)');
  t.ok(filter.accept(final(10, 6)), 'the final of period 10 was never passed: it passes');
  t.notOk(filter.accept(final(10, 6)), 'a replayed identical final does not');
  t.ok(filter.accept(final(10, 8, 1)), 'a revision (a late trade amended it) passes');
  t.notOk(filter.accept(final(10, 6)), 'the original final after its revision is dropped');
  t.notOk(filter.accept(final(10, 8, 1)), 'the revision replayed is dropped');
  t.ok(filter.accept(final(10, 9, 2)), 'the next revision passes');
  t.notOk(filter.accept(final(9, 4)), 'a final older than the last final passed is dropped');
  t.notOk(filter.accept(open(10, 9)), 'no open of period 10 any more');
  t.ok(filter.accept(open(11, 10)), 'the current period goes on');
  t.ok(filter.accept(final(11, 10)));
  t.notOk(filter.accept(final(10, 9, 2)), 'period 10 after period 11\'s final');
  t.equal(filter.dropped, 6);
});

t.test('a revision of the latest period\'s final passes; a final never goes back to open', async (t) => {
  const filter = new MonotoneKlineFilter();
  t.ok(filter.accept(final(10, 5)));
  t.ok(filter.accept(final(10, 6, 1)));
  t.notOk(filter.accept(final(10, 7)), 'revision 0 after revision 1, whatever its lastAggId');
  t.notOk(filter.accept(open(10, 7)));
  t.equal(filter.dropped, 2);
});

t.test('keys are independent: symbol and interval each make their own key', async (t) => {
  const filter = new MonotoneKlineFilter();
  t.ok(filter.accept(open(11, 7)));
  t.ok(filter.accept(kline('ETHUSDT', '1m', 10, 1, false)), 'another symbol, older period');
  t.ok(filter.accept(kline('BTCUSDT', '5m', 10, 1, false)), 'another interval, older period');
  t.notOk(filter.accept(open(10, 8)));
  t.equal(filter.dropped, 1);
});

// ---------------------------------------------------------------------------------------------------------------
// Failover replays, property style.

interface Emitted {
  readonly kline: Kline;
  /** Position in the truth: every version the owner's engine went through, in order. */
  readonly index: number;
}

const KEYS: readonly [string, IntervalName][] = [
  ['BTCUSDT', '1m'],
  ['BTCUSDT', '5m'],
  ['ETHUSDT', '1m'],
];

/**
 * Every version an engine goes through for one key, in order: per period some open versions (rising lastAggId), or a
 * flat period (no trade, lastAggId −1); then its final; sometimes, during the next period, revisions of that final
 * (a late trade amends the last final kline, the only one the engine remembers).
 */
function truthOf(symbol: string, interval: IntervalName, random: SeededRandom, periods: number): Kline[] {
  const out: Kline[] = [];
  let aggId = 0;
  let lastFinal: Kline | null = null;
  for (let period = 0; period < periods; period++) {
    const flat = random.chance(0.2);
    const opens = flat ? random.int(2) : 1 + random.int(4);
    let last = -1;
    for (let o = 0; o < opens; o++) {
      if (lastFinal !== null && random.chance(0.2)) {
        aggId++;
        const revision = (lastFinal.revision ?? 0) + 1;
        lastFinal = kline(symbol, interval, lastFinal.openTime / MINUTE, aggId, true, revision);
        out.push(lastFinal);
      }
      if (!flat) last = ++aggId;
      out.push(kline(symbol, interval, period, last, false));
    }
    lastFinal = kline(symbol, interval, period, last, true);
    out.push(lastFinal);
  }
  return out;
}

/** The truth of every key, interleaved at random (each key keeps its order). */
function interleavedTruth(random: SeededRandom): Emitted[] {
  const perKey = KEYS.map(([symbol, interval]) => truthOf(symbol, interval, random, 6 + random.int(8)));
  const at = perKey.map(() => 0);
  const out: Emitted[] = [];
  for (;;) {
    const open = perKey.map((list, k) => (at[k]! < list.length ? k : -1)).filter((k) => k >= 0);
    if (open.length === 0) break;
    const k = random.pick(open);
    out.push({ kline: perKey[k]![at[k]!++]!, index: out.length });
  }
  return out;
}

/**
 * What one owner emits from `truth[from..to)`: every final (a final is never coalesced away), and a random subset of
 * the open versions (output taken at other moments coalesces other versions away).
 */
function emission(truth: readonly Emitted[], from: number, to: number, random: SeededRandom): Emitted[] {
  return truth.slice(from, to).filter((e) => e.kline.isFinal || random.chance(0.5));
}

/** Several in-order streams delivered interleaved at random (each keeps its own order). */
function interleave(streams: readonly Emitted[][], random: SeededRandom): Emitted[] {
  const at = streams.map(() => 0);
  const out: Emitted[] = [];
  for (;;) {
    const open = streams.map((s, k) => (at[k]! < s.length ? k : -1)).filter((k) => k >= 0);
    if (open.length === 0) return out;
    const k = random.pick(open);
    out.push(streams[k]![at[k]!++]!);
  }
}

const keyOf = (k: Kline): string => `${k.symbol}|${k.interval}`;
const periodKeyOf = (k: Kline): string => `${k.symbol}|${k.interval}|${k.openTime}`;
const versionOf = (k: Kline) => ({ kline: k, revision: k.revision ?? 0 });

t.test('failover replays (random interleavings): nothing passes twice, no version goes backwards, the newest finals get through', async (t) => {
  const random = new SeededRandom(20261122);
  const ROUNDS = 400;
  let problems = 0;
  const fail = (what: string, detail: unknown): void => {
    if (problems++ < 5) t.fail(what, { detail });
  };
  let replayedDrops = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const truth = interleavedTruth(random);
    const n = truth.length;
    // The first owner emits up to j; a successor restores a checkpoint taken at i ≤ j and replays from there to the
    // end; the first owner, a zombie, goes on for a while (j..z) unaware; sometimes a third owner replays from another
    // checkpoint ≤ j (a checkpoint is written only after its output was published, so none is ahead of what came).
    const j = random.int(n + 1);
    const i = random.int(j + 1);
    const z = j + random.int(n - j + 1);
    const streams = [emission(truth, i, n, random), emission(truth, j, z, random)];
    if (random.chance(0.3)) streams.push(emission(truth, random.int(j + 1), n, random));
    const delivered = [...emission(truth, 0, j, random), ...interleave(streams, random)];

    const filter = new MonotoneKlineFilter();
    const passed: Emitted[] = [];
    for (const e of delivered) if (filter.accept(e.kline)) passed.push(e);
    if (filter.dropped !== delivered.length - passed.length) fail('dropped counts every kline not passed', { dropped: filter.dropped, delivered: delivered.length, passed: passed.length });
    if (round === 0) t.ok(delivered.length > passed.length, 'the first round had duplicates to drop');
    replayedDrops += filter.dropped;

    // 1. Nothing passes twice.
    const seen = new Set<number>();
    for (const e of passed) {
      if (seen.has(e.index)) fail('a kline passed twice', e.kline);
      seen.add(e.index);
    }
    // 2. Per (key, period) every kline passed is a newer version than the previous one passed: a client's view of a
    //    kline never goes backwards (an open never replaces a final, a lower lastAggId never replaces a higher).
    const client = new Map<string, Kline>();
    // 3. Per key, once a period was shown no open kline of an older period is shown (the open kline never goes back).
    const newestPeriod = new Map<string, number>();
    for (const { kline: k } of passed) {
      const shown = client.get(periodKeyOf(k));
      if (shown !== undefined && !isNewerVersion(versionOf(k), versionOf(shown))) fail('a version went backwards', { shown, then: k });
      client.set(periodKeyOf(k), k);
      const newest = newestPeriod.get(keyOf(k)) ?? Number.NEGATIVE_INFINITY;
      if (!k.isFinal && k.openTime < newest) fail('an older period\'s open kline was shown after a newer period', k);
      if (k.openTime > newest) newestPeriod.set(keyOf(k), k.openTime);
    }
    // 4. Nothing is lost: for every period whose final was delivered, the client ends with the newest final version
    //    delivered for it; the newest period shows the newest version delivered for it.
    const newestDelivered = new Map<string, Kline>();
    for (const { kline: k } of delivered) {
      const known = newestDelivered.get(periodKeyOf(k));
      if (known === undefined || isNewerVersion(versionOf(k), versionOf(known))) newestDelivered.set(periodKeyOf(k), k);
    }
    const newestOpenTime = new Map<string, number>();
    for (const { kline: k } of delivered) newestOpenTime.set(keyOf(k), Math.max(newestOpenTime.get(keyOf(k)) ?? Number.NEGATIVE_INFINITY, k.openTime));
    for (const [periodKey, want] of newestDelivered) {
      if (!want.isFinal && want.openTime !== newestOpenTime.get(keyOf(want))) continue;
      const got = client.get(periodKey);
      if (got !== want) fail('the client does not end with the newest version delivered', { periodKey, got, want });
    }
  }
  t.equal(problems, 0, `${ROUNDS} random failover interleavings kept the feed monotone and complete`);
  t.ok(replayedDrops > ROUNDS, `the replays were mostly dropped (${replayedDrops} drops)`);
});
