/**
 * Generators of aggTrade frames for the fuzz tests: valid trades in every accepted spelling (any key order, extra
 * fields, indentation, raw or combined-stream form), frames with one field of a wrong type or an impossible value or
 * missing, mutated valid frames (truncated, bytes flipped, inserted, cut, repeated), and random bytes, text and JSON.
 */
import fc from 'fast-check';
import type { ReferenceTrade } from './agg-trade-reference.ts';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

// ---- generators ------------------------------------------------------------------------------------------------------

/** `mantissa · 10^-decimals` written out with exactly `decimals` decimals (leading zeros as Binance writes them). */
export function decimalText(mantissa: number, decimals: number): string {
  const digits = mantissa.toString().padStart(decimals + 1, '0');
  return decimals === 0 ? digits : `${digits.slice(0, digits.length - decimals)}.${digits.slice(digits.length - decimals)}`;
}

const safeInt = fc.integer({ min: 0, max: MAX_SAFE });
const symbolName = fc.stringMatching(/^[A-Z0-9]{1,20}$/);

/** Any valid trade: ids and times up to 2^53 − 1, prices and quantities with up to 30 decimals. */
export const validTrade: fc.Arbitrary<ReferenceTrade & { hasEventTime: boolean }> = fc
  .record({
    symbol: symbolName,
    aggId: safeInt,
    priceMantissa: fc.integer({ min: 1, max: MAX_SAFE }),
    priceDecimals: fc.integer({ min: 0, max: 30 }),
    qtyMantissa: fc.integer({ min: 1, max: MAX_SAFE }),
    qtyDecimals: fc.integer({ min: 0, max: 30 }),
    firstTradeId: safeInt,
    span: fc.nat({ max: 1000 }),
    tradeTime: safeInt,
    eventTime: safeInt,
    hasEventTime: fc.boolean(),
    buyerIsMaker: fc.boolean(),
  })
  .map(({ span, ...trade }) => ({ ...trade, lastTradeId: Math.min(MAX_SAFE, trade.firstTradeId + span), eventTime: trade.hasEventTime ? trade.eventTime : 0 }));

/** A field the parser does not read: unknown one-letter keys, Binance's `M`, longer names; any JSON value. */
export const extraField: fc.Arbitrary<[string, unknown]> = fc.tuple(
  fc.oneof(fc.constantFrom('M', 'x', 'X', 'nq', 'stream', 'result', 'id', 'ee', 'pp', 'data'), fc.stringMatching(/^[a-zA-Z_]{2,12}$/)),
  fc.jsonValue({ maxDepth: 3 }),
);

export interface Spelling {
  readonly order: number[];
  readonly extras: [string, unknown][];
  readonly indent: 0 | 1 | 2 | '\t';
  readonly combined: false | 'stream-first' | 'data-first';
}

export const spelling: fc.Arbitrary<Spelling> = fc.record({
  order: fc.array(fc.nat(), { minLength: 12, maxLength: 12 }),
  extras: fc.uniqueArray(extraField, { maxLength: 4, selector: ([key]) => key }),
  indent: fc.constantFrom(0 as const, 1 as const, 2 as const, '\t' as const),
  combined: fc.constantFrom(false as const, 'stream-first' as const, 'data-first' as const),
});

/** The trade's fields as JSON members (values already as JSON text), in Binance's order. */
export function members(trade: ReferenceTrade & { hasEventTime: boolean }): [string, string][] {
  return [
    ['e', '"aggTrade"'],
    ...(trade.hasEventTime ? [['E', String(trade.eventTime)] as [string, string]] : []),
    ['s', JSON.stringify(trade.symbol)],
    ['a', String(trade.aggId)],
    ['p', `"${decimalText(trade.priceMantissa, trade.priceDecimals)}"`],
    ['q', `"${decimalText(trade.qtyMantissa, trade.qtyDecimals)}"`],
    ['f', String(trade.firstTradeId)],
    ['l', String(trade.lastTradeId)],
    ['T', String(trade.tradeTime)],
    ['m', String(trade.buyerIsMaker)],
  ];
}

/** Writes members as a JSON object in the spelling's order, with its extra fields, indentation and wrapper. */
export function writeFrame(fields: [string, string][], s: Spelling, streamName = 'btcusdt@aggTrade'): string {
  const keys = new Set(fields.map(([key]) => key));
  const all = [...fields, ...s.extras.filter(([key]) => !keys.has(key) && key !== 'data').map(([key, value]) => [key, JSON.stringify(value)] as [string, string])];
  const ordered = all.map((member, i) => ({ member, rank: s.order[i % s.order.length]! * 100 + i })).sort((a, b) => a.rank - b.rank).map(({ member }) => member);
  const gap = s.indent === 0 ? '' : `\n${typeof s.indent === 'number' ? ' '.repeat(s.indent) : s.indent}`;
  const colon = s.indent === 0 ? ':' : ': ';
  const object = `{${ordered.map(([key, value]) => `${gap}${JSON.stringify(key)}${colon}${value}`).join(',')}${s.indent === 0 ? '' : '\n'}}`;
  if (s.combined === false) return object;
  const stream = `"stream"${colon}${JSON.stringify(streamName)}`;
  return s.combined === 'stream-first' ? `{${stream},"data"${colon}${object}}` : `{"data"${colon}${object},${stream}}`;
}

/** JSON text of the wrong type or an impossible value for a field, including the numbers JSON.parse rounds. */
export const wrongValue: fc.Arbitrary<string> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }).map((value) => JSON.stringify(value)),
  fc.constantFrom(
    '-1', '-0', '0.5', '1.0', '1e3', '1E+2', '9007199254740992', '9007199254740993', '18446744073709551616',
    '123456789012345678901234567890', '1e400', '-1e400', '00', '01', 'true', 'null', '[]', '{}',
    '"NaN"', '"Infinity"', '"-Infinity"', '"-1"', '"1e5"', '"0x10"', '" 1"', '"1 "', '""', '"."', '"1."', '".5"', '"1.2.3"',
    '"+1"', '"1,5"', '"٣"', '"0"', '"0.000"', '"9007199254740992"', '"900719925474099.2"', '"0.90071992547409921"',
    `"${'1'.repeat(40)}"`, `"0.${'0'.repeat(60)}1"`, `"1\\u0030"`, '"aggTrade"', '"aggtrade"',
  ),
);

/** A valid frame with one field's value replaced, or removed. */
export const brokenFrame: fc.Arbitrary<string> = fc
  .tuple(validTrade, spelling, fc.constantFrom('e', 's', 'a', 'p', 'q', 'f', 'l', 'T', 'm', 'E'), fc.option(wrongValue, { nil: undefined, freq: 6 }))
  .map(([trade, s, field, value]) => {
    const fields = members({ ...trade, hasEventTime: true }).flatMap(([key, text]): [string, string][] => (key !== field ? [[key, text]] : value === undefined ? [] : [[key, value]]));
    return writeFrame(fields, s);
  });

export type Mutation = { kind: 'truncate' | 'flip' | 'insert' | 'cut' | 'repeat'; at: number; length: number; bytes: Uint8Array };

export const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('truncate' as const, 'flip' as const, 'insert' as const, 'cut' as const, 'repeat' as const),
  at: fc.nat(),
  length: fc.integer({ min: 1, max: 16 }),
  bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
});

export function mutate(frame: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let b = Buffer.from(frame);
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % b.length;
    switch (m.kind) {
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'flip':
        b = Buffer.from(b);
        for (let i = 0; i < m.bytes.length && at + i < b.length; i++) b[at + i] = m.bytes[i]!;
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case 'cut':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.length)]);
        break;
      case 'repeat':
        b = Buffer.concat([b.subarray(0, at + m.length), b.subarray(at)]);
        break;
    }
  }
  return b;
}

export const validFrameBytes: fc.Arbitrary<Uint8Array> = fc.tuple(validTrade, spelling).map(([trade, s]) => Buffer.from(writeFrame(members(trade), s)));
export const mutatedFrame: fc.Arbitrary<Uint8Array> = fc.tuple(validFrameBytes, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([frame, ms]) => mutate(frame, ms));

/** Random bytes, random text (every Unicode unit kind), and random JSON: mostly not aggTrades at all. */
export const randomInput: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.string({ unit: 'binary', maxLength: 200 }).map((text) => Buffer.from(text, 'utf8')),
  fc.string({ unit: 'grapheme-ascii', maxLength: 200 }).map((text) => Buffer.from(text, 'utf8')),
  fc.jsonValue({ maxDepth: 4 }).map((value) => Buffer.from(JSON.stringify(value) ?? 'null')),
  fc.dictionary(fc.constantFrom('e', 's', 'a', 'p', 'q', 'f', 'l', 'T', 'm', 'E', 'data', 'stream'), fc.jsonValue({ maxDepth: 2 })).map((value) => Buffer.from(JSON.stringify(value))),
);
