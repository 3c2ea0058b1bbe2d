import t from 'tap';
import { readFileSync } from 'node:fs';
import { AggTradeParser, FrameError, ParsedTrade, describeFailure, frameErrorName } from '../../src/domain/agg-trade-parser.ts';
import { XRPETH_TRADES } from '../support/fixtures.ts';
import { uint32Source } from '../support/random.ts';

/** The first trade of the XRPETH fixture, exactly as the stream delivered it. */
const REAL = '{"e":"aggTrade","E":1570752011620,"s":"XRPETH","a":13519807,"p":"0.00141342","q":"23.00000000","f":15373518,"l":15373518,"T":1570752011620,"m":true,"M":true}';

interface Snapshot {
  aggId: number;
  priceMantissa: number;
  priceDecimals: number;
  qtyMantissa: number;
  qtyDecimals: number;
  firstTradeId: number;
  lastTradeId: number;
  tradeTime: number;
  eventTime: number;
  buyerIsMaker: boolean;
  symbol: string;
}

const REAL_FIELDS: Snapshot = {
  aggId: 13519807,
  priceMantissa: 141342,
  priceDecimals: 8,
  qtyMantissa: 2300000000,
  qtyDecimals: 8,
  firstTradeId: 15373518,
  lastTradeId: 15373518,
  tradeTime: 1570752011620,
  eventTime: 1570752011620,
  buyerIsMaker: true,
  symbol: 'XRPETH',
};

/** A JS object for the real trade, to rebuild it with fields removed, replaced or reordered. */
function realObject(): Record<string, unknown> {
  return JSON.parse(REAL) as Record<string, unknown>;
}

function symbolOf(frame: Uint8Array, trade: ParsedTrade): string {
  return Buffer.from(frame.buffer, frame.byteOffset + trade.symbolStart, trade.symbolEnd - trade.symbolStart).toString('utf8');
}

function snapshot(frame: Uint8Array, trade: ParsedTrade): Snapshot {
  return {
    aggId: trade.aggId,
    priceMantissa: trade.priceMantissa,
    priceDecimals: trade.priceDecimals,
    qtyMantissa: trade.qtyMantissa,
    qtyDecimals: trade.qtyDecimals,
    firstTradeId: trade.firstTradeId,
    lastTradeId: trade.lastTradeId,
    tradeTime: trade.tradeTime,
    eventTime: trade.eventTime,
    buyerIsMaker: trade.buyerIsMaker,
    symbol: symbolOf(frame, trade),
  };
}

const toBytes = (frame: string | Uint8Array): Uint8Array => (typeof frame === 'string' ? Buffer.from(frame, 'utf8') : frame);

/** Parses with a fresh parser. */
function parseOnce(frame: string | Uint8Array, parser = new AggTradeParser()): { ok: boolean; error: FrameError; field: string; fields: Snapshot; bytes: Uint8Array } {
  const bytes = toBytes(frame);
  const ok = parser.parse(bytes);
  return { ok, error: parser.trade.error, field: parser.trade.errorField, fields: snapshot(bytes, parser.trade), bytes };
}

/** `mantissa · 10^-decimals` written out with exactly `decimals` decimals. */
function decimalText(mantissa: number, decimals: number): string {
  const digits = mantissa.toString().padStart(decimals + 1, '0');
  return decimals === 0 ? digits : `${digits.slice(0, digits.length - decimals)}.${digits.slice(digits.length - decimals)}`;
}

/** A plain decimal string with redundant leading zeros of the integer part removed ("007.10" → "7.10"). */
function canonicalDecimal(text: string): string | undefined {
  const match = /^(\d+)(\.\d+)?$/.exec(text);
  if (!match) return undefined;
  return `${match[1]!.replace(/^0+(?=\d)/, '')}${match[2] ?? ''}`;
}

t.test('FrameError names and describeFailure', async (t) => {
  t.equal(frameErrorName(FrameError.None), 'none');
  t.equal(frameErrorName(FrameError.Malformed), 'malformed');
  t.equal(frameErrorName(FrameError.NotAnObject), 'not-an-object');
  t.equal(frameErrorName(FrameError.NotAggTrade), 'not-aggtrade');
  t.equal(frameErrorName(FrameError.MissingField), 'missing-field');
  t.equal(frameErrorName(FrameError.BadField), 'bad-field');
  const parser = new AggTradeParser();
  const withoutM = realObject();
  delete withoutM.m;
  t.notOk(parser.parse(Buffer.from(JSON.stringify(withoutM))));
  t.equal(describeFailure(parser.trade), 'missing-field m');
  t.notOk(parser.parse(Buffer.from(REAL.replace('"p":"0.00141342"', '"p":"abc"'))));
  t.equal(describeFailure(parser.trade), 'bad-field p');
  t.notOk(parser.parse(Buffer.from('{"result":null,"id":1}')));
  t.equal(describeFailure(parser.trade), 'not-aggtrade');
  t.notOk(parser.parse(Buffer.from('[]')));
  t.equal(describeFailure(parser.trade), 'not-an-object');
  t.notOk(parser.parse(Buffer.from('{')));
  t.equal(describeFailure(parser.trade), 'malformed');
  t.ok(parser.parse(Buffer.from(REAL)));
  t.equal(describeFailure(parser.trade), 'none');
});

t.test('a real plain frame', async (t) => {
  const parser = new AggTradeParser();
  const bytes = Buffer.from(REAL);
  t.equal(parser.parse(bytes), true);
  const trade = parser.trade;
  t.equal(trade.error, FrameError.None);
  t.equal(trade.errorField, '');
  t.equal(trade.aggId, 13519807);
  t.equal(trade.priceMantissa, 141342);
  t.equal(trade.priceDecimals, 8);
  t.equal(trade.qtyMantissa, 2300000000);
  t.equal(trade.qtyDecimals, 8);
  t.equal(trade.firstTradeId, 15373518);
  t.equal(trade.lastTradeId, 15373518);
  t.equal(trade.tradeTime, 1570752011620);
  t.equal(trade.eventTime, 1570752011620);
  t.equal(trade.buyerIsMaker, true);
  t.equal(trade.symbolStart, REAL.indexOf('XRPETH'));
  t.equal(trade.symbolEnd, REAL.indexOf('XRPETH') + 6);
  t.equal(bytes.subarray(trade.symbolStart, trade.symbolEnd).toString('latin1'), 'XRPETH');
  t.equal(decimalText(trade.priceMantissa, trade.priceDecimals), '0.00141342');
  t.equal(decimalText(trade.qtyMantissa, trade.qtyDecimals), '23.00000000');

  // The same frame inside a larger buffer (a subarray with a byte offset): positions are relative to the frame.
  const pool = Buffer.concat([Buffer.from('garbage{"x":1}'), bytes, Buffer.from('more garbage')]);
  const view = pool.subarray(14, 14 + bytes.length);
  t.equal(parser.parse(view), true, 'a frame that is a view into a larger buffer');
  t.same(snapshot(view, parser.trade), REAL_FIELDS);
  t.equal(parser.trade.symbolStart, REAL.indexOf('XRPETH'));

  // m false, several raw trades, a whole-number price.
  const other = parseOnce('{"e":"aggTrade","E":1,"s":"BTCUSDT","a":0,"p":"67231","q":"0.001","f":7,"l":12,"T":2,"m":false}');
  t.equal(other.ok, true);
  t.same(other.fields, {
    aggId: 0,
    priceMantissa: 67231,
    priceDecimals: 0,
    qtyMantissa: 1,
    qtyDecimals: 3,
    firstTradeId: 7,
    lastTradeId: 12,
    tradeTime: 2,
    eventTime: 1,
    buyerIsMaker: false,
    symbol: 'BTCUSDT',
  });
  // Largest exact values.
  const big = parseOnce('{"e":"aggTrade","E":9007199254740991,"s":"X","a":9007199254740991,"p":"90071992.54740991","q":"9007199254740991","f":9007199254740990,"l":9007199254740991,"T":9007199254740991,"m":true}');
  t.equal(big.ok, true);
  t.same(big.fields, {
    aggId: 9007199254740991,
    priceMantissa: 9007199254740991,
    priceDecimals: 8,
    qtyMantissa: 9007199254740991,
    qtyDecimals: 0,
    firstTradeId: 9007199254740990,
    lastTradeId: 9007199254740991,
    tradeTime: 9007199254740991,
    eventTime: 9007199254740991,
    buyerIsMaker: true,
    symbol: 'X',
  });
});

t.test('combined-stream frames, data first or last', async (t) => {
  const parser = new AggTradeParser();
  const last = `{"stream":"xrpeth@aggTrade","data":${REAL}}`;
  const first = `{"data":${REAL},"stream":"xrpeth@aggTrade"}`;
  const only = `{"data":${REAL}}`;
  const spaced = `{ "stream" : "xrpeth@aggTrade" ,\n  "data" :\t${REAL.replaceAll(',', ' ,\n ')} \r\n}\n`;
  for (const [name, frame] of [
    ['data last', last],
    ['data first', first],
    ['data only', only],
    ['spaced', spaced],
  ] as const) {
    const bytes = Buffer.from(frame);
    t.equal(parser.parse(bytes), true, `${name}: parsed`);
    t.equal(parser.trade.error, FrameError.None, `${name}: no error`);
    t.same(snapshot(bytes, parser.trade), REAL_FIELDS, `${name}: fields`);
    t.equal(parser.trade.symbolStart, frame.indexOf('"XRPETH"') + 1, `${name}: symbol position in the outer frame`);
  }
  // Wrapped payloads keep their own reason.
  const noP = realObject();
  delete noP.p;
  const wrapped = parseOnce(`{"stream":"xrpeth@aggTrade","data":${JSON.stringify(noP)}}`);
  t.same([wrapped.ok, wrapped.error, wrapped.field], [false, FrameError.MissingField, 'p'], 'wrapped payload missing p');
  const wrappedBad = parseOnce(`{"data":${REAL.replace('"a":13519807', '"a":"13519807"')},"stream":"x"}`);
  t.same([wrappedBad.ok, wrappedBad.error, wrappedBad.field], [false, FrameError.BadField, 'a'], 'wrapped payload with a string a');
  const wrappedKline = parseOnce('{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1,"s":"BTCUSDT","k":{"t":0,"T":59999,"s":"BTCUSDT","i":"1m","o":"1.0","c":"1.0","h":"1.0","l":"1.0","x":false}}}');
  t.same([wrappedKline.ok, wrappedKline.error], [false, FrameError.NotAggTrade], 'wrapped kline event');
  const wrappedTruncated = parseOnce(`{"stream":"xrpeth@aggTrade","data":${REAL}`);
  t.same([wrappedTruncated.ok, wrappedTruncated.error], [false, FrameError.Malformed], 'wrapper without its closing brace');
  const wrappedTrailing = parseOnce(`{"stream":"xrpeth@aggTrade","data":${REAL}}}`);
  t.same([wrappedTrailing.ok, wrappedTrailing.error], [false, FrameError.Malformed], 'an extra closing brace');
  const wrappedBadSyntaxAfter = parseOnce(`{"data":${REAL},"stream":xrpeth}`);
  t.same([wrappedBadSyntaxAfter.ok, wrappedBadSyntaxAfter.error], [false, FrameError.Malformed], 'bad JSON after a good payload');
  // Fields of the payload's names at the wrapper level, after the payload, do not override it.
  const shadow = parseOnce(`{"data":${REAL},"p":"999","a":1,"s":"NOPE","m":false}`);
  t.equal(shadow.ok, true, 'wrapper-level one-letter keys after data are ignored');
  t.same(shadow.fields, REAL_FIELDS);
});

t.test('unknown fields of any shape, the 2026 fields, any order, whitespace', async (t) => {
  const parser = new AggTradeParser();
  const extras =
    '"nq":"23.00000000","st":1,"ps":"BOTH",' +
    '"x":{"a":[1,2,{"p":"999","s":"NOPE","m":false}],"q":"0","nested":{"deeper":[[],[{}],[null,true,false]]}},' +
    '"str":"with \\"escaped quotes\\" and a backslash \\\\ and \\\\\\" mixed \\n\\t\\u00e9\\ud83d\\ude00 / \\/",' +
    '"exp":-1.5e-10,"exp2":2E+21,"exp3":0e0,"neg":-0,"frac":0.5,"big":123456789012345678901234567890,' +
    '"nul":null,"yes":true,"no":false,"emptyObj":{},"emptyArr":[],"ünï":"çødé ✓",' +
    '"k":{"e":"kline","s":"X"},"n":[{"e":"aggTrade"}],"w":"a","z":{"T":5},"\\"p\\"":"1"';
  const frames = [
    REAL.replace('{', `{${extras},`),
    REAL.replace(/}$/, `,${extras}}`),
    REAL.replace('"a":13519807,', `"a":13519807,${extras},`),
  ];
  for (const [i, frame] of frames.entries()) {
    t.doesNotThrow(() => JSON.parse(frame), `frame ${i} is valid JSON`);
    const bytes = Buffer.from(frame);
    t.equal(parser.parse(bytes), true, `frame ${i} with unknown fields: parsed (${describeFailure(parser.trade)})`);
    t.same(snapshot(bytes, parser.trade), REAL_FIELDS, `frame ${i}: fields unaffected`);
  }

  // Every field order (random permutations), with random whitespace between tokens.
  const random = uint32Source(42);
  const WS = [' ', '\n', '\r', '\t', '  ', '\r\n', ''];
  const ws = (): string => WS[random() % WS.length]!;
  const entries = Object.entries({ ...realObject(), nq: '23.00000000', st: 'x', ps: 'LONG' });
  let wrong = 0;
  for (let round = 0; round < 300; round++) {
    const shuffled = [...entries];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = random() % (i + 1);
      [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
    }
    const body = shuffled.map(([key, value]) => `${ws()}${JSON.stringify(key)}${ws()}:${ws()}${JSON.stringify(value)}${ws()}`).join(',');
    const frame = `${ws()}{${body}}${ws()}`;
    const bytes = Buffer.from(frame);
    const ok = parser.parse(bytes);
    if (!ok || JSON.stringify(snapshot(bytes, parser.trade)) !== JSON.stringify(REAL_FIELDS)) {
      wrong++;
      t.fail(`order/whitespace variant misparsed (${describeFailure(parser.trade)}): ${JSON.stringify(frame)}`);
    }
  }
  t.equal(wrong, 0, '300 orders with random whitespace');
  const pretty = JSON.stringify(realObject(), null, 2);
  t.equal(parser.parse(Buffer.from(pretty)), true, 'pretty-printed');
  t.same(snapshot(Buffer.from(pretty), parser.trade), REAL_FIELDS);
  const tabbed = `\t\r\n ${JSON.stringify(realObject(), null, '\t')} \n\n`;
  t.equal(parser.parse(Buffer.from(tabbed)), true, 'tabs and CRLF around the frame');
});

t.test('rejections: not JSON', async (t) => {
  const cases: [string, string | Uint8Array][] = [
    ['empty buffer', new Uint8Array(0)],
    ['whitespace only', ' \n\t '],
    ['garbage', 'hello'],
    ['truncated frame', REAL.slice(0, 60)],
    ['trailing garbage', `${REAL}x`],
    ['two objects', `${REAL}{}`],
    ['trailing comma', `${REAL},`],
    ['single quotes', REAL.replaceAll('"', "'")],
    ['missing colon', REAL.replace('"a":', '"a"')],
    ['missing comma', REAL.replace(',"a"', '"a"')],
    ['trailing comma in object', REAL.replace(/}$/, ',}')],
    ['unquoted key', REAL.replace('"a":', 'a:')],
    ['leading zero number', REAL.replace('"a":13519807', '"a":013519807')],
    ['leading zero in unknown number', REAL.replace('"M":true', '"M":01')],
    ['bare minus in unknown', REAL.replace('"M":true', '"M":-')],
    ['dot without digits', REAL.replace('"M":true', '"M":1.')],
    ['exponent without digits', REAL.replace('"M":true', '"M":1e')],
    ['unterminated string', '{"e":"aggTrade'],
    ['raw newline in a string', REAL.replace('XRPETH', 'XRP\nETH')],
    ['raw control character in an unknown string', REAL.replace('"M":true', '"M":"a\u0001b"')],
    ['literal typo', REAL.replace('"M":true', '"M":tru')],
    ['literal typo in m', REAL.replace('"m":true', '"m":tru')],
    ['junk after m', REAL.replace('"m":true', '"m":truex')],
    ['unclosed array in unknown field', REAL.replace('"M":true', '"M":[1,2')],
    ['mismatched brackets', REAL.replace('"M":true', '"M":[1,2}')],
    ['NaN', REAL.replace('"M":true', '"M":NaN')],
    ['lone brace', '{'],
    ['lone closing brace', '}'],
    ['number then junk', '12 34'],
    ['truncated wrapper', `{"stream":"x","data":${REAL.slice(0, -1)}}`],
    ['unterminated price', '{"e":"aggTrade","p":"0.001'],
    ['unterminated symbol', '{"e":"aggTrade","s":"XRP'],
    ['unbalanced deep nesting', REAL.replace('"M":true', `"M":${'['.repeat(100)}${']'.repeat(99)}`)],
  ];
  for (const [name, frame] of cases) {
    const bytes = toBytes(frame);
    let threwParse = false;
    try {
      JSON.parse(Buffer.from(bytes).toString('utf8'));
    } catch {
      threwParse = true;
    }
    t.ok(threwParse, `${name}: JSON.parse rejects it too`);
    // errorField is not checked: for malformed frames it may name the field where the syntax broke.
    const result = parseOnce(bytes);
    t.same([result.ok, frameErrorName(result.error)], [false, 'malformed'], `${name}: malformed`);
  }
  // Every proper prefix of the real frame (and of the wrapped frame) is malformed.
  const wrapped = `{"stream":"xrpeth@aggTrade","data":${REAL}}`;
  let notMalformed = 0;
  const parser = new AggTradeParser();
  for (const frame of [REAL, wrapped]) {
    for (let length = 0; length < frame.length; length++) {
      const ok = parser.parse(Buffer.from(frame.slice(0, length)));
      if (ok || parser.trade.error !== FrameError.Malformed) {
        notMalformed++;
        t.fail(`prefix of length ${length} gave ${describeFailure(parser.trade)}`);
      }
    }
  }
  t.equal(notMalformed, 0, `all ${REAL.length + wrapped.length} truncations are malformed`);
});

t.test('nesting: moderate depth is skipped, extreme depth is refused without throwing', async (t) => {
  const nested = (depth: number): string => `${'[{"k":'.repeat(depth)}1${'}]'.repeat(depth)}`;
  const moderate = REAL.replace('"M":true', `"M":${nested(30)}`);
  t.doesNotThrow(() => JSON.parse(moderate));
  const ok = parseOnce(moderate);
  t.equal(ok.ok, true, 'an unknown field 60 levels deep is skipped');
  t.same(ok.fields, REAL_FIELDS);
  // Far deeper than any stack allows for a recursive scanner: must be refused, not overflow.
  const extreme = REAL.replace('"M":true', `"M":${nested(100_000)}`);
  let result: ReturnType<typeof parseOnce> | undefined;
  t.doesNotThrow(() => {
    result = parseOnce(extreme);
  }, '200,000 levels of nesting do not throw');
  t.same([result?.ok, result?.error], [false, FrameError.Malformed], 'refused as malformed (a deliberate depth limit)');
});

t.test('rejections: valid JSON, not an object', async (t) => {
  for (const frame of ['[]', `[${REAL}]`, '42', '-1.5e3', '"aggTrade"', 'null', 'true', 'false', ' [ 1 , { } ] \n']) {
    const result = parseOnce(frame);
    t.same([result.ok, frameErrorName(result.error), result.field], [false, 'not-an-object', ''], `${JSON.stringify(frame)}: not an object`);
  }
});

t.test('rejections: not an aggTrade', async (t) => {
  const miniTicker = '{"e":"24hrMiniTicker","E":1570752011620,"s":"XRPETH","c":"0.00141342","o":"0.00140000","h":"0.00142000","l":"0.00139000","v":"10000","q":"14.1"}';
  const miniTickerEventLast = '{"s":"XRPETH","c":"0.00141342","o":"0.00140000","h":"0.00142000","l":"0.00139000","v":"10000","q":"14.1","E":1570752011620,"e":"24hrMiniTicker"}';
  const cases: [string, string][] = [
    ['subscription reply', '{"result":null,"id":1}'],
    ['error reply', '{"error":{"code":2,"msg":"Invalid request"},"id":3}'],
    ['empty object', '{}'],
    ['kline event', '{"e":"kline","E":1638747660000,"s":"BTCUSDT","k":{"t":1638747660000,"T":1638747719999,"s":"BTCUSDT","i":"1m","f":100,"L":200,"o":"0.0010","c":"0.0020","h":"0.0025","l":"0.0015","v":"1000","n":100,"x":false,"q":"1.0000","V":"500","Q":"0.500","B":"123456"}}'],
    ['24hrMiniTicker ("l" is a price string)', miniTicker],
    ['24hrMiniTicker with e last', miniTickerEventLast],
    ['wrapped 24hrMiniTicker', `{"stream":"xrpeth@miniTicker","data":${miniTicker}}`],
    ['markPriceUpdate', '{"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT","p":"11794.15000000","i":"11784.62659091","P":"11784.25641265","r":"0.00038167","T":1562306400000}'],
    ['a trade event (not aggregate)', REAL.replace('"e":"aggTrade"', '"e":"trade"')],
    ['aggTrade with different case', REAL.replace('"e":"aggTrade"', '"e":"AggTrade"')],
    ['a prefix of aggTrade', REAL.replace('"e":"aggTrade"', '"e":"aggTrad"')],
    ['aggTrade with a suffix', REAL.replace('"e":"aggTrade"', '"e":"aggTrades"')],
    ['e not a string', REAL.replace('"e":"aggTrade"', '"e":1')],
    ['no e at all', REAL.replace('"e":"aggTrade",', '')],
    ['wrapper without data', '{"stream":"xrpeth@aggTrade"}'],
    ['data that is not an object', '{"stream":"xrpeth@aggTrade","data":[1]}'],
  ];
  for (const [name, frame] of cases) {
    t.doesNotThrow(() => JSON.parse(frame), `${name}: is valid JSON`);
    const result = parseOnce(frame);
    t.same([result.ok, frameErrorName(result.error), result.field], [false, 'not-aggtrade', ''], `${name}: not-aggtrade`);
  }
});

t.test('rejections: a missing required field', async (t) => {
  const parser = new AggTradeParser();
  for (const key of ['s', 'a', 'p', 'q', 'f', 'l', 'T', 'm']) {
    const object = realObject();
    delete object[key];
    for (const [shape, frame] of [
      ['plain', JSON.stringify(object)],
      ['wrapped', JSON.stringify({ stream: 'xrpeth@aggTrade', data: object })],
    ] as const) {
      // A valid frame first, so nothing carries over from it.
      t.equal(parser.parse(Buffer.from(REAL)), true);
      t.equal(parser.parse(Buffer.from(frame)), false, `${shape} without ${key}: rejected`);
      t.equal(parser.trade.error, FrameError.MissingField, `${shape} without ${key}: missing-field`);
      t.equal(parser.trade.errorField, key, `${shape} without ${key}: names ${key}`);
      t.equal(describeFailure(parser.trade), `missing-field ${key}`);
    }
  }
  // E (event time) is not required; M is not read at all.
  const noEventTime = realObject();
  delete noEventTime.E;
  delete noEventTime.M;
  const result = parseOnce(JSON.stringify(noEventTime));
  t.equal(result.ok, true, 'E and M are optional');
  t.same({ ...result.fields, eventTime: 0 }, { ...REAL_FIELDS, eventTime: 0 });
  // The same-named key in a nested unknown object does not count as present.
  const nestedOnly = realObject();
  delete nestedOnly.q;
  nestedOnly.x = { q: '23.00000000' };
  const nested = parseOnce(JSON.stringify(nestedOnly));
  t.same([nested.ok, nested.error, nested.field], [false, FrameError.MissingField, 'q'], 'q only inside a nested object');
});

t.test('rejections: a bad field', async (t) => {
  const replace = (from: string, to: string): string => {
    if (!REAL.includes(from)) throw new Error(`test setup: ${from} not in the frame`);
    return REAL.replace(from, to);
  };
  const cases: [string, string, string][] = [
    ['price "abc"', replace('"p":"0.00141342"', '"p":"abc"'), 'p'],
    ['price "0"', replace('"p":"0.00141342"', '"p":"0"'), 'p'],
    ['price "0.00000000"', replace('"p":"0.00141342"', '"p":"0.00000000"'), 'p'],
    ['price ""', replace('"p":"0.00141342"', '"p":""'), 'p'],
    ['price "1."', replace('"p":"0.00141342"', '"p":"1."'), 'p'],
    ['price ".5"', replace('"p":"0.00141342"', '"p":".5"'), 'p'],
    ['price "-1"', replace('"p":"0.00141342"', '"p":"-1"'), 'p'],
    ['price "1e5"', replace('"p":"0.00141342"', '"p":"1e5"'), 'p'],
    ['price "1.2.3"', replace('"p":"0.00141342"', '"p":"1.2.3"'), 'p'],
    ['price " 1"', replace('"p":"0.00141342"', '"p":" 1"'), 'p'],
    ['price with an escape', replace('"p":"0.00141342"', '"p":"0.0014\\u0031342"'), 'p'],
    ['price past 2^53 digits', replace('"p":"0.00141342"', '"p":"12345678901234567890"'), 'p'],
    ['price 2^53', replace('"p":"0.00141342"', '"p":"9007199254740992"'), 'p'],
    ['qty "0.000"', replace('"q":"23.00000000"', '"q":"0.000"'), 'q'],
    ['qty "0"', replace('"q":"23.00000000"', '"q":"0"'), 'q'],
    ['qty "23,5"', replace('"q":"23.00000000"', '"q":"23,5"'), 'q'],
    ['"a" as a string', replace('"a":13519807', '"a":"13519807"'), 'a'],
    ['negative "a"', replace('"a":13519807', '"a":-1'), 'a'],
    ['"a":1.5', replace('"a":13519807', '"a":1.5'), 'a'],
    ['"a":1e3', replace('"a":13519807', '"a":1e3'), 'a'],
    ['"a":1E3', replace('"a":13519807', '"a":1E3'), 'a'],
    ['"a":-0', replace('"a":13519807', '"a":-0'), 'a'],
    ['"a" past 2^53', replace('"a":13519807', '"a":9007199254740992'), 'a'],
    ['"a" null', replace('"a":13519807', '"a":null'), 'a'],
    ['"a" true', replace('"a":13519807', '"a":true'), 'a'],
    ['"f" as a string', replace('"f":15373518', '"f":"15373518"'), 'f'],
    ['"T" fractional', replace('"T":1570752011620', '"T":1570752011620.5'), 'T'],
    ['"T" as an array', replace('"T":1570752011620', '"T":[1570752011620]'), 'T'],
    ['"E" as a string', replace('"E":1570752011620', '"E":"1570752011620"'), 'E'],
    ['"m":"true"', replace('"m":true', '"m":"true"'), 'm'],
    ['"m":1', replace('"m":true', '"m":1'), 'm'],
    ['"m":null', replace('"m":true', '"m":null'), 'm'],
    ['l < f', replace('"l":15373518', '"l":15373517'), 'l'],
    ['empty symbol ""', replace('"s":"XRPETH"', '"s":""'), 's'],
    ['symbol as a number', replace('"s":"XRPETH"', '"s":42'), 's'],
    ['symbol null', replace('"s":"XRPETH"', '"s":null'), 's'],
  ];
  const parser = new AggTradeParser();
  for (const [name, frame, field] of cases) {
    t.doesNotThrow(() => JSON.parse(frame), `${name}: is valid JSON`);
    t.equal(parser.parse(Buffer.from(REAL)), true);
    t.equal(parser.parse(Buffer.from(frame)), false, `${name}: rejected`);
    t.equal(frameErrorName(parser.trade.error), 'bad-field', `${name}: bad-field (${describeFailure(parser.trade)})`);
    t.equal(parser.trade.errorField, field, `${name}: names ${field}`);
    // The same inside a combined-stream wrapper.
    const wrapped = parseOnce(`{"stream":"xrpeth@aggTrade","data":${frame}}`);
    t.same([wrapped.ok, wrapped.error, wrapped.field], [false, FrameError.BadField, field], `${name} (wrapped)`);
  }
  // A price or quantity that is not a JSON string at all.
  for (const [name, frame, field] of [
    ['price as a JSON number', replace('"p":"0.00141342"', '"p":0.00141342'), 'p'],
    ['price null', replace('"p":"0.00141342"', '"p":null'), 'p'],
    ['price object', replace('"p":"0.00141342"', '"p":{"v":"1"}'), 'p'],
    ['qty as a JSON number', replace('"q":"23.00000000"', '"q":23'), 'q'],
  ] as const) {
    t.doesNotThrow(() => JSON.parse(frame), `${name}: is valid JSON`);
    const result = parseOnce(frame);
    t.equal(result.ok, false, `${name}: rejected`);
    t.same([frameErrorName(result.error), result.field], ['bad-field', field], `${name}: bad-field ${field}`);
  }
  // The flip side of the same defect: a key with no value at all ("p":,) is invalid JSON, so it must be malformed.
  for (const [name, frame] of [
    ['"p": with no value', replace('"p":"0.00141342"', '"p":')],
    ['"q": with only a space', replace('"q":"23.00000000"', '"q": ')],
  ] as const) {
    t.throws(() => JSON.parse(frame), `${name}: invalid JSON`);
    const result = parseOnce(frame);
    t.same([result.ok, frameErrorName(result.error)], [false, 'malformed'], `${name}: malformed`);
  }
  // l == f and l > f are fine.
  const range = parseOnce(replace('"l":15373518', '"l":15373600'));
  t.equal(range.ok, true);
  t.equal(range.fields.lastTradeId, 15373600);
  // The first bad field is the one reported.
  const twoBad = parseOnce(REAL.replace('"a":13519807', '"a":"x"').replace('"p":"0.00141342"', '"p":"y"'));
  t.same([twoBad.ok, twoBad.error, twoBad.field], [false, FrameError.BadField, 'a']);
  // A bad field and then broken syntax: malformed wins.
  const badThenBroken = parseOnce(REAL.replace('"p":"0.00141342"', '"p":5').slice(0, -1));
  t.same([badThenBroken.ok, badThenBroken.error], [false, FrameError.Malformed]);
  // A bad field together with a missing one: still an aggTrade frame, reported as bad-field.
  const badAndMissing = realObject();
  delete badAndMissing.m;
  badAndMissing.p = 'abc';
  const both = parseOnce(JSON.stringify(badAndMissing));
  t.same([both.ok, both.error, both.field], [false, FrameError.BadField, 'p']);
});

t.test('strings are checked as JSON: invalid escapes are not valid JSON', async (t) => {
  for (const [name, frame] of [
    ['invalid escape \\q in an unknown field', REAL.replace('"M":true', '"M":"a\\qb"')],
    ['invalid escape \\x in the symbol', REAL.replace('"s":"XRPETH"', '"s":"XRP\\xETH"')],
    ['short \\u escape', REAL.replace('"M":true', '"M":"\\u12"')],
    ['non-hex \\u escape', REAL.replace('"M":true', '"M":"\\uZZZZ"')],
  ] as const) {
    t.throws(() => JSON.parse(frame), `${name}: JSON.parse rejects it`);
    const result = parseOnce(frame);
    t.same([result.ok, frameErrorName(result.error)], [false, 'malformed'], `${name}: malformed`);
  }
});

t.test('not UTF-8 text is malformed (as FrameError.Malformed documents)', async (t) => {
  const bytes = Buffer.from(REAL.replace('"M":true', '"M":"ab__"'));
  const at = bytes.indexOf('__');
  bytes[at] = 0xff; // never valid in UTF-8
  bytes[at + 1] = 0xc3; // a lead byte followed by a quote: truncated sequence
  let threw = false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    threw = true;
  }
  t.ok(threw, 'the frame is not UTF-8');
  const result = parseOnce(bytes);
  t.same([result.ok, frameErrorName(result.error)], [false, 'malformed'], 'invalid UTF-8 is malformed');
});

t.test('one parser reused across many frames', async (t) => {
  const parser = new AggTradeParser();
  const lines = readFileSync(XRPETH_TRADES, 'utf8').split('\n').filter((line) => line.length > 0);
  t.equal(lines.length, 12477, 'the whole fixture');
  const broken = [
    '{"result":null,"id":1}',
    REAL.replace('"m":true,', ''),
    REAL.replace('"p":"0.00141342"', '"p":"abc"'),
    REAL.slice(0, 80),
    '[1]',
    REAL.replace('"s":"XRPETH"', '"s":""'),
  ];
  let mismatches = 0;
  let previousAggId = 13519806;
  for (const [i, line] of lines.entries()) {
    // Between real frames, a failing frame: nothing of it may leak into the next parse.
    if (i % 7 === 3) {
      const bad = broken[i % broken.length]!;
      if (parser.parse(Buffer.from(bad))) mismatches++;
      if (parser.trade.error === FrameError.None) mismatches++;
    }
    const bytes = Buffer.from(line);
    const expected = JSON.parse(line) as { s: string; a: number; p: string; q: string; f: number; l: number; T: number; E: number; m: boolean };
    if (!parser.parse(bytes)) {
      mismatches++;
      t.fail(`line ${i + 1} rejected: ${describeFailure(parser.trade)}`);
      continue;
    }
    const tr = parser.trade;
    const same =
      tr.error === FrameError.None &&
      tr.errorField === '' &&
      tr.aggId === expected.a &&
      decimalText(tr.priceMantissa, tr.priceDecimals) === expected.p &&
      decimalText(tr.qtyMantissa, tr.qtyDecimals) === expected.q &&
      tr.firstTradeId === expected.f &&
      tr.lastTradeId === expected.l &&
      tr.tradeTime === expected.T &&
      tr.eventTime === expected.E &&
      tr.buyerIsMaker === expected.m &&
      symbolOf(bytes, tr) === expected.s;
    if (!same) {
      mismatches++;
      t.fail(`line ${i + 1} misparsed`);
    }
    if (tr.aggId !== previousAggId + 1) mismatches++;
    previousAggId = tr.aggId;
  }
  t.equal(mismatches, 0, 'every fixture line parsed like JSON.parse, with failing frames in between');
  t.equal(previousAggId, 13532283, 'last aggregate id of the fixture');

  // A frame missing 'm' right after a valid one (which had m: true) is still missing 'm'.
  t.equal(parser.parse(Buffer.from(REAL)), true);
  t.equal(parser.parse(Buffer.from(REAL.replace(',"m":true', ''))), false);
  t.equal(describeFailure(parser.trade), 'missing-field m');
  // And a valid frame right after failures parses cleanly, error reset.
  t.equal(parser.parse(Buffer.from('garbage')), false);
  t.equal(parser.trade.error, FrameError.Malformed);
  t.equal(parser.parse(Buffer.from(REAL)), true);
  t.equal(parser.trade.error, FrameError.None);
  t.equal(parser.trade.errorField, '');
  t.same(snapshot(Buffer.from(REAL), parser.trade), REAL_FIELDS);
  // A bad field in one frame does not make the next (valid) one fail, and vice versa.
  t.equal(parser.parse(Buffer.from(REAL.replace('"a":13519807', '"a":"x"'))), false);
  t.equal(parser.trade.errorField, 'a');
  t.equal(parser.parse(Buffer.from(REAL.replace('"a":13519807', '"a":13519900'))), true);
  t.equal(parser.trade.aggId, 13519900);
  // A wrapped frame after a plain one and back.
  t.equal(parser.parse(Buffer.from(`{"stream":"s","data":${REAL.replace('XRPETH', 'BTCUSDT')}}`)), true);
  t.equal(symbolOf(Buffer.from(`{"stream":"s","data":${REAL.replace('XRPETH', 'BTCUSDT')}}`), parser.trade), 'BTCUSDT');
  t.equal(parser.parse(Buffer.from(REAL)), true);
  t.equal(symbolOf(Buffer.from(REAL), parser.trade), 'XRPETH');
  // A valid frame without the optional E must not report the previous frame's event time.
  t.equal(parser.parse(Buffer.from(REAL.replace('"E":1570752011620', '"E":1'))), true);
  t.equal(parser.trade.eventTime, 1);
  t.equal(parser.parse(Buffer.from(REAL.replace('"E":1570752011620,', ''))), true);
  t.equal(parser.trade.eventTime, 0, 'no stale event time');
});

t.test('fuzz: 20,000 mutated frames never throw, and every accepted frame agrees with JSON.parse', async (t) => {
  const seeds = [
    REAL,
    `{"stream":"xrpeth@aggTrade","data":${REAL}}`,
    `{"data":${REAL},"stream":"xrpeth@aggTrade"}`,
    '{"e":"aggTrade","E":1767225600123,"a":2999999999,"s":"BTCUSDT","p":"104250.10","q":"0.003","nq":"0.003","f":7000000001,"l":7000000005,"T":1767225600120,"m":false,"st":0,"ps":"BOTH"}',
    '{ "e" : "aggTrade" , "x" : { "y" : [ 1 , -2.5e-3 , "q\\"\\\\" , null ] } , "s" : "ETHUSDT" , "a" : 5 , "p" : "3000.00" , "q" : "1.000" , "f" : 1 , "l" : 2 , "T" : 3 , "m" : true }\n',
    '{"m":false,"T":1,"l":10,"f":9,"q":"100","p":"0.0000001","a":0,"s":"1000PEPEUSDT","E":2,"e":"aggTrade"}',
  ];
  for (const seed of seeds) t.equal(new AggTradeParser().parse(Buffer.from(seed)), true, `seed parses: ${seed.slice(0, 40)}`);

  const random = uint32Source(0x5eed);
  const INTERESTING = Buffer.from('"{}[],:\\ \n\t0123456789.-+eEtrufalsn\u0000\u007f');
  const parser = new AggTradeParser();
  let threw = 0;
  let accepted = 0;
  let rejected = 0;
  let disagreements = 0;
  let agreed = 0;
  const counts: Record<string, number> = {};

  for (let i = 0; i < 20_000; i++) {
    const seed = Buffer.from(seeds[random() % seeds.length]!);
    let bytes: Buffer = seed;
    const mutations = 1 + (random() % 3);
    for (let m = 0; m < mutations; m++) {
      const kind = random() % 7;
      const at = bytes.length === 0 ? 0 : random() % bytes.length;
      switch (kind) {
        case 0: // truncate
          bytes = bytes.subarray(0, at);
          break;
        case 1: {
          // replace a byte with any byte
          bytes = Buffer.from(bytes);
          if (bytes.length > 0) bytes[at] = random() & 0xff;
          break;
        }
        case 2: {
          // flip one bit
          bytes = Buffer.from(bytes);
          if (bytes.length > 0) bytes[at] = bytes[at]! ^ (1 << (random() % 8));
          break;
        }
        case 3: // insert an interesting byte
          bytes = Buffer.concat([bytes.subarray(0, at), Buffer.of(INTERESTING[random() % INTERESTING.length]!), bytes.subarray(at)]);
          break;
        case 4: // insert a random byte
          bytes = Buffer.concat([bytes.subarray(0, at), Buffer.of(random() & 0xff), bytes.subarray(at)]);
          break;
        case 5: // delete a short run
          bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + (random() % 4))]);
          break;
        default: {
          // duplicate a short run
          const length = 1 + (random() % 8);
          bytes = Buffer.concat([bytes.subarray(0, at + length), bytes.subarray(at, at + length), bytes.subarray(at + length)]);
        }
      }
    }

    let ok: boolean;
    try {
      ok = parser.parse(bytes);
    } catch (error) {
      threw++;
      t.fail(`threw on ${JSON.stringify(bytes.toString('latin1'))}: ${String(error)}`);
      continue;
    }
    const tr = parser.trade;
    counts[describeFailure(tr)] = (counts[describeFailure(tr)] ?? 0) + 1;
    const text = bytes.toString('utf8');
    let json: unknown;
    let jsonOk = true;
    try {
      json = JSON.parse(text);
    } catch {
      jsonOk = false;
    }
    if (!ok) {
      rejected++;
      if (tr.error === FrameError.None) {
        disagreements++;
        t.fail(`rejected without a reason: ${JSON.stringify(text)}`);
      }
      if (!jsonOk && tr.error !== FrameError.Malformed) {
        disagreements++;
        t.fail(`invalid JSON reported as ${describeFailure(tr)}: ${JSON.stringify(text)}`);
      }
      continue;
    }
    accepted++;
    if (!jsonOk) {
      disagreements++;
      t.fail(`accepted invalid JSON: ${JSON.stringify(text)}`);
      continue;
    }
    const outer = json as Record<string, unknown>;
    const event = (typeof outer.data === 'object' && outer.data !== null && !Array.isArray(outer.data) ? outer.data : outer) as Record<string, unknown>;
    const problems: string[] = [];
    // With a repeated "e" key JSON.parse keeps the last value while the parser keeps the last *string* value;
    // duplicate names are unspecified in JSON (RFC 8259 §4), so e is compared only when it appears once.
    const eKeys = text.match(/"e"\s*:/g)?.length ?? 0;
    if (eKeys <= 1 && event.e !== 'aggTrade') problems.push(`e ${JSON.stringify(event.e)}`);
    if (event.a !== tr.aggId) problems.push(`a ${JSON.stringify(event.a)} vs ${tr.aggId}`);
    if (event.f !== tr.firstTradeId) problems.push(`f ${JSON.stringify(event.f)} vs ${tr.firstTradeId}`);
    if (event.l !== tr.lastTradeId) problems.push(`l ${JSON.stringify(event.l)} vs ${tr.lastTradeId}`);
    if (event.T !== tr.tradeTime) problems.push(`T ${JSON.stringify(event.T)} vs ${tr.tradeTime}`);
    if (event.m !== tr.buyerIsMaker) problems.push(`m ${JSON.stringify(event.m)} vs ${tr.buyerIsMaker}`);
    if (event.s !== symbolOf(bytes, tr)) problems.push(`s ${JSON.stringify(event.s)} vs ${JSON.stringify(symbolOf(bytes, tr))}`);
    if (typeof event.p !== 'string' || canonicalDecimal(event.p) !== decimalText(tr.priceMantissa, tr.priceDecimals)) {
      problems.push(`p ${JSON.stringify(event.p)} vs ${decimalText(tr.priceMantissa, tr.priceDecimals)}`);
    }
    if (typeof event.q !== 'string' || canonicalDecimal(event.q) !== decimalText(tr.qtyMantissa, tr.qtyDecimals)) {
      problems.push(`q ${JSON.stringify(event.q)} vs ${decimalText(tr.qtyMantissa, tr.qtyDecimals)}`);
    }
    if ('E' in event && event.E !== tr.eventTime) problems.push(`E ${JSON.stringify(event.E)} vs ${tr.eventTime}`);
    if (!(tr.priceMantissa > 0 && tr.qtyMantissa > 0 && tr.lastTradeId >= tr.firstTradeId && symbolOf(bytes, tr).length > 0)) problems.push('impossible values accepted');
    if (problems.length > 0) {
      disagreements++;
      t.fail(`accepted ${JSON.stringify(text)} but JSON.parse says: ${problems.join('; ')}`);
    } else {
      agreed++;
    }
  }
  t.comment(`outcomes: ${JSON.stringify(counts)}`);
  t.equal(threw, 0, 'never throws');
  t.equal(accepted + rejected, 20_000 - threw);
  t.ok(accepted > 500, `a fair share of mutants still parse (${accepted}), so the comparison is exercised`);
  t.ok(rejected > 5000, `most mutants are rejected (${rejected})`);
  t.ok(agreed > 500, `accepted valid frames compared field by field (${agreed})`);
  t.equal(disagreements, 0, 'every accepted frame agrees with JSON.parse; every invalid-JSON frame is malformed');
});
