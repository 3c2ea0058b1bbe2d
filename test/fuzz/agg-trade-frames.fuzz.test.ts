/**
 * Fuzzing the aggTrade byte parser and the frame ingest (frames → KlineEngine) with property-based tests.
 *
 * The parser is checked against a slow reference (test/support/agg-trade-reference.ts) on valid frames in every
 * accepted spelling, on frames with one field of a wrong type or impossible value, on mutated valid frames (truncated,
 * bytes flipped, inserted, cut), on random bytes and random text, and on oversized frames: it never throws, accepts
 * exactly what the reference accepts with exactly its fields, and rejects with the reference's reason and field.
 * The ingest is checked for what garbage must not do: each rejected frame is counted by reason, and a valid trade
 * sequence with garbage between its frames yields exactly the klines of the valid frames alone.
 */
import t from 'tap';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { AggTradeParser, FrameError, type ParsedTrade } from '../../src/domain/agg-trade-parser.ts';
import { FrameIngest, FrameOutcome } from '../../src/domain/frame-ingest.ts';
import { KlineEngine } from '../../src/domain/kline-engine.ts';
import type { Kline } from '../../src/domain/kline.ts';
import { referenceParse, type ReferenceOutcome, type ReferenceTrade } from '../support/agg-trade-reference.ts';
import { brokenFrame, members, mutatedFrame, randomInput, spelling, validTrade, writeFrame } from '../support/agg-trade-generators.ts';
import { fuzzParameters, fuzzRuns, fuzzTitle } from '../support/fuzz.ts';

// ---- checks ------------------------------------------------------------------------------------------------------------

function fieldsOf(frame: Uint8Array, t: ParsedTrade): ReferenceTrade {
  return {
    aggId: t.aggId,
    priceMantissa: t.priceMantissa,
    priceDecimals: t.priceDecimals,
    qtyMantissa: t.qtyMantissa,
    qtyDecimals: t.qtyDecimals,
    firstTradeId: t.firstTradeId,
    lastTradeId: t.lastTradeId,
    tradeTime: t.tradeTime,
    eventTime: t.eventTime,
    buyerIsMaker: t.buyerIsMaker,
    symbol: Buffer.from(frame.subarray(t.symbolStart, t.symbolEnd)).toString('utf8'),
  };
}

/** The parser's verdict in the reference's terms (a shared parser: its reuse across frames is part of what is tested). */
function verdict(parser: AggTradeParser, frame: Uint8Array): ReferenceOutcome {
  const ok = parser.parse(frame);
  if (ok) {
    if (parser.trade.error !== FrameError.None) throw new Error(`accepted with error ${parser.trade.error}`);
    return { ok, trade: fieldsOf(frame, parser.trade) };
  }
  return { ok, error: parser.trade.error, field: parser.trade.errorField };
}

/** The parser agrees with the reference (where it judges); a rejection always carries a reason. */
function agreesWithReference(parser: AggTradeParser, frame: Uint8Array): void {
  const actual = verdict(parser, frame);
  if (!actual.ok && (actual.error < FrameError.Malformed || actual.error > FrameError.BadField)) throw new Error(`rejected without a reason: ${actual.error}`);
  const expected = referenceParse(frame);
  if (expected === undefined) return;
  // A malformed frame's reason may also name the field where the JSON broke (`malformed f`): more precise, not wrong.
  const comparable = !actual.ok && actual.error === FrameError.Malformed ? { ...actual, field: '' } : actual;
  if (!isDeepStrictEqual(comparable, expected)) {
    throw new Error(`parser ${JSON.stringify(actual)} ≠ reference ${JSON.stringify(expected)} for ${JSON.stringify(Buffer.from(frame).toString('latin1'))}`);
  }
}

const parser = new AggTradeParser();

t.test(fuzzTitle(fuzzRuns(5000), 'valid frames in any spelling are accepted with exactly their fields'), async (t) => {
  const runs = fuzzRuns(5000);
  fc.assert(
    fc.property(validTrade, spelling, (trade, s) => {
      const frame = Buffer.from(writeFrame(members(trade), s));
      const { hasEventTime: _, ...expected } = trade;
      const actual = verdict(parser, frame);
      if (!actual.ok) throw new Error(`valid frame rejected (${actual.error} ${actual.field}): ${frame.toString()}`);
      if (!isDeepStrictEqual(actual.trade, expected)) throw new Error(`fields differ: ${JSON.stringify(actual.trade)} ≠ ${JSON.stringify(expected)}`);
      agreesWithReference(parser, frame);
    }),
    fuzzParameters(runs),
  );
  t.pass(`${runs} valid frames`);
});

t.test(fuzzTitle(fuzzRuns(8000), 'frames with a field of a wrong type, an impossible value or missing are rejected precisely'), async (t) => {
  const runs = fuzzRuns(8000);
  const reasons = new Map<string, number>();
  fc.assert(
    fc.property(brokenFrame, (text) => {
      const frame = Buffer.from(text);
      agreesWithReference(parser, frame);
      const outcome = referenceParse(frame);
      const key = outcome === undefined ? 'not judged' : outcome.ok ? 'valid' : `${outcome.error} ${outcome.field}`;
      reasons.set(key, (reasons.get(key) ?? 0) + 1);
    }),
    fuzzParameters(runs),
  );
  // The generator reaches every reason a field can have (a weak generator would pass vacuously).
  for (const field of ['s', 'a', 'p', 'q', 'f', 'l', 'T', 'm', 'E']) t.ok(reasons.get(`${FrameError.BadField} ${field}`), `bad-field ${field} reached`);
  for (const field of ['s', 'a', 'p', 'q', 'f', 'l', 'T', 'm']) t.ok(reasons.get(`${FrameError.MissingField} ${field}`), `missing-field ${field} reached`);
  t.ok(reasons.get(`${FrameError.NotAggTrade} `), 'not-aggtrade reached');
});

t.test(fuzzTitle(fuzzRuns(8000), 'mutated valid frames (truncated, flipped, inserted, cut, repeated bytes): never a throw, the reference verdict'), async (t) => {
  const runs = fuzzRuns(8000);
  let rejected = 0;
  fc.assert(
    fc.property(mutatedFrame, (frame) => {
      agreesWithReference(parser, frame);
      if (!parser.parse(frame)) rejected++;
    }),
    fuzzParameters(runs),
  );
  t.ok(rejected > runs / 2, `most mutations break the frame (${rejected} of ${runs} rejected)`);
});

t.test(fuzzTitle(fuzzRuns(10000), 'random bytes, text and JSON: never a throw, the reference verdict'), async (t) => {
  const runs = fuzzRuns(10000);
  fc.assert(fc.property(randomInput, (frame) => agreesWithReference(parser, frame)), fuzzParameters(runs));
  t.pass(`${runs} random inputs`);
});

t.test(fuzzTitle(fuzzRuns(20), 'oversized frames (a 1–2 MiB extra field, thousands of members, deep nesting) are judged like small ones'), async (t) => {
  const runs = fuzzRuns(20);
  const bulk = fc.oneof(
    fc.integer({ min: 1 << 20, max: 2 << 20 }).map((n) => `"${'x'.repeat(n)}"`),
    fc.integer({ min: 1000, max: 20000 }).map((n) => `{${Array.from({ length: n }, (_, i) => `"k${i}":${i}`).join(',')}}`),
    fc.integer({ min: 1, max: 200 }).map((depth) => `${'['.repeat(depth)}1${']'.repeat(depth)}`),
    fc.integer({ min: 16, max: 400 }).map((digits) => '9'.repeat(digits)),
  );
  fc.assert(
    fc.property(validTrade, spelling, bulk, (trade, s, value) => {
      const frame = Buffer.from(writeFrame([...members(trade), ['big', value]], s));
      agreesWithReference(parser, frame);
      const depth = value.startsWith('[') ? value.indexOf('1') : 0;
      // Nesting beyond the parser's bound (64) is refused as malformed rather than recursed into.
      if (depth < 60 && !parser.parse(frame)) throw new Error(`oversized valid frame rejected: ${parser.trade.error} ${parser.trade.errorField}`);
      if (depth > 66 && parser.parse(frame)) throw new Error('nesting beyond the bound accepted');
    }),
    fuzzParameters(runs),
  );
  t.pass(`${runs} oversized frames`);
});

// ---- the ingest: garbage is counted and changes nothing ---------------------------------------------------------------

const SYMBOLS = ['BTCUSDT', 'ETHUSDT'] as const;
const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);

/** A valid trade sequence over two symbols: consecutive aggregate and trade ids, times moving forward. */
const tradeSequence = fc
  .array(
    fc.record({
      symbol: fc.constantFrom(...SYMBOLS),
      step: fc.integer({ min: 0, max: 40_000 }),
      // Within what a kline's quote volume holds exactly at these scales (larger values are the engine's concern).
      priceMantissa: fc.integer({ min: 1, max: 10 ** 6 }),
      priceDecimals: fc.integer({ min: 0, max: 8 }),
      qtyMantissa: fc.integer({ min: 1, max: 10 ** 6 }),
      qtyDecimals: fc.integer({ min: 0, max: 8 }),
      span: fc.nat({ max: 3 }),
      buyerIsMaker: fc.boolean(),
    }),
    { minLength: 1, maxLength: 60 },
  )
  .map((draws) => {
    const next = { BTCUSDT: { aggId: 1000, tradeId: 5000 }, ETHUSDT: { aggId: 77, tradeId: 900 } };
    let time = T0;
    return draws.map((d) => {
      time += d.step;
      const ids = next[d.symbol];
      const trade = { ...d, aggId: ids.aggId++, firstTradeId: ids.tradeId, lastTradeId: ids.tradeId + d.span, tradeTime: time, eventTime: time + 5, hasEventTime: true };
      ids.tradeId += d.span + 1;
      return trade;
    });
  });

/** Anything the parser rejects: broken and mutated frames, random input. */
const garbage: fc.Arbitrary<Uint8Array> = fc.oneof(brokenFrame.map((text) => Buffer.from(text)), mutatedFrame, randomInput).filter((frame) => !new AggTradeParser().parse(frame));

function newIngest(): { ingest: FrameIngest; finals: Kline[] } {
  const finals: Kline[] = [];
  const engine = new KlineEngine({ intervals: ['1m', '5m'], graceMs: 0 }, { onFinal: (kline) => finals.push(kline) });
  for (const symbol of SYMBOLS) engine.addSymbol(symbol, { priceScale: 8, qtyScale: 8 });
  return { ingest: new FrameIngest(engine), finals };
}

function stateOf(ingest: FrameIngest, finals: readonly Kline[]): unknown {
  return { finals, open: ingest.engine.openKlines(), engine: ingest.engine.counters };
}

t.test(fuzzTitle(fuzzRuns(1000), 'trade sequences with garbage between frames: every garbage frame counted by reason, the klines those of the valid frames alone'), async (t) => {
  const runs = fuzzRuns(1000);
  let garbageFrames = 0;
  fc.assert(
    fc.property(tradeSequence, fc.array(fc.tuple(fc.nat(), garbage), { maxLength: 40 }), spelling, (trades, junk, s) => {
      const valid = trades.map((trade) => Buffer.from(writeFrame(members(trade), s, `${trade.symbol.toLowerCase()}@aggTrade`)));
      const clean = newIngest();
      for (const frame of valid) if (clean.ingest.ingest(frame) !== FrameOutcome.Applied) throw new Error(`valid frame not applied: ${frame.toString()}`);

      const dirty = newIngest();
      const byPosition = new Map<number, Uint8Array[]>();
      for (const [at, frame] of junk) byPosition.set(at % (valid.length + 1), [...(byPosition.get(at % (valid.length + 1)) ?? []), frame]);
      const expected = { frames: valid.length + junk.length, malformed: 0, notAggTrade: 0, missingField: 0, badField: 0, unknownSymbol: 0, inactive: 0 };
      for (let i = 0; i <= valid.length; i++) {
        for (const frame of byPosition.get(i) ?? []) {
          const outcome = dirty.ingest.ingest(frame);
          if (outcome !== FrameOutcome.Rejected) throw new Error(`garbage not rejected (${outcome}): ${Buffer.from(frame).toString('latin1')}`);
          const reason = new AggTradeParser();
          reason.parse(frame);
          const key = ({ 1: 'malformed', 2: 'malformed', 3: 'notAggTrade', 4: 'missingField', 5: 'badField' } as const)[reason.trade.error as 1 | 2 | 3 | 4 | 5];
          expected[key]++;
          if (dirty.ingest.lastRejection === 'none') throw new Error('a rejection without a reason');
        }
        if (i < valid.length && dirty.ingest.ingest(valid[i]!) !== FrameOutcome.Applied) throw new Error(`valid frame after garbage not applied: ${valid[i]!.toString()}`);
      }
      garbageFrames += junk.length;
      if (JSON.stringify(dirty.ingest.counters) !== JSON.stringify(expected)) throw new Error(`counters ${JSON.stringify(dirty.ingest.counters)} ≠ ${JSON.stringify(expected)}`);
      if (JSON.stringify(stateOf(dirty.ingest, dirty.finals)) !== JSON.stringify(stateOf(clean.ingest, clean.finals))) throw new Error('garbage changed the klines');
      dirty.ingest.engine.finish();
      clean.ingest.engine.finish();
      if (JSON.stringify(dirty.finals) !== JSON.stringify(clean.finals)) throw new Error('garbage changed the final klines');
    }),
    fuzzParameters(runs),
  );
  t.ok(garbageFrames > runs * 3, `${garbageFrames} garbage frames interleaved`);
});
