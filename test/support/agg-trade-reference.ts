/**
 * A slow, obviously-correct reference for the byte parser (src/domain/agg-trade-parser.ts), for differential fuzzing:
 * strict UTF-8, `JSON.parse` for validity, jsonc-parser's tree for each value's raw text (the parser reads raw bytes:
 * `"a":1.0` is not an integer to it, `"p":"1e5"` not a decimal), then the aggTrade rules in the parser's documented
 * order of precedence — malformed, not an object, not an aggTrade, the first bad field in frame order, the first
 * missing field in s a p q f l T m order, then l < f, p = 0, q = 0.
 *
 * It answers `undefined` where JSON leaves the meaning open or the parser deliberately differs: duplicate keys (RFC
 * 8259: behaviour unpredictable), keys written with escapes (the parser matches key bytes), nesting deeper than the
 * parser's limit of 64.
 */
import { parseTree, type Node } from 'jsonc-parser';
import { FrameError } from '../../src/domain/agg-trade-parser.ts';

export interface ReferenceTrade {
  readonly aggId: number;
  readonly priceMantissa: number;
  readonly priceDecimals: number;
  readonly qtyMantissa: number;
  readonly qtyDecimals: number;
  readonly firstTradeId: number;
  readonly lastTradeId: number;
  readonly tradeTime: number;
  readonly eventTime: number;
  readonly buyerIsMaker: boolean;
  readonly symbol: string;
}

export type ReferenceOutcome = { readonly ok: true; readonly trade: ReferenceTrade } | { readonly ok: false; readonly error: FrameError; readonly field: string };

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** Deeper than this the parser refuses on purpose (its skip recursion is bounded); the reference does not judge. */
const MAX_DEPTH = 60;
const REQUIRED_ORDER = ['s', 'a', 'p', 'q', 'f', 'l', 'T', 'm'] as const;
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const reject = (error: FrameError, field = ''): ReferenceOutcome => ({ ok: false, error, field });

function depthOf(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  let deepest = 0;
  for (const child of Object.values(value)) deepest = Math.max(deepest, depthOf(child));
  return deepest + 1;
}

/** Every object in the tree has unique keys written without escapes. */
function plainUniqueKeys(node: Node, text: string): boolean {
  if (node.type === 'object') {
    const seen = new Set<string>();
    for (const property of node.children ?? []) {
      const key = property.children![0]!;
      const raw = text.slice(key.offset, key.offset + key.length);
      if (raw.includes('\\') || seen.has(raw)) return false;
      seen.add(raw);
    }
  }
  return (node.children ?? []).every((child) => plainUniqueKeys(child, text));
}

/** An integer the parser takes: digits without leading zeros, no sign, fraction or exponent, at most 2^53 − 1. */
function integerOf(raw: string): number | undefined {
  if (!/^(0|[1-9][0-9]*)$/.test(raw) || BigInt(raw) > MAX_SAFE) return undefined;
  return Number(raw);
}

/** A quoted plain decimal (`"0.00141342"`) as (mantissa, decimals); the mantissa at most 2^53 − 1. */
function decimalOf(raw: string): { mantissa: number; decimals: number } | undefined {
  const match = /^"([0-9]+)(?:\.([0-9]+))?"$/.exec(raw);
  if (match === null) return undefined;
  const digits = match[1]! + (match[2] ?? '');
  if (BigInt(digits) > MAX_SAFE) return undefined;
  return { mantissa: Number(digits), decimals: (match[2] ?? '').length };
}

/** What the parser must make of `frame`, or undefined where the reference does not judge. */
export function referenceParse(frame: Uint8Array): ReferenceOutcome | undefined {
  let text: string;
  try {
    text = decoder.decode(frame);
  } catch {
    return reject(FrameError.Malformed);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return reject(FrameError.Malformed);
  }
  if (depthOf(value) > MAX_DEPTH) return undefined;
  const root = parseTree(text)!;
  if (!plainUniqueKeys(root, text)) return undefined;
  if (root.type !== 'object') return reject(FrameError.NotAnObject);
  const raw = (node: Node): string => text.slice(node.offset, node.offset + node.length);
  const propertiesOf = (object: Node): [string, Node][] => (object.children ?? []).map((p) => [raw(p.children![0]!).slice(1, -1), p.children![1]!]);

  let fields = propertiesOf(root);
  const data = fields.find(([key, node]) => key === 'data' && node.type === 'object');
  if (data !== undefined) fields = propertiesOf(data[1]);
  const byKey = new Map(fields);
  if (byKey.get('e') === undefined || raw(byKey.get('e')!) !== '"aggTrade"') return reject(FrameError.NotAggTrade);

  const trade = { aggId: 0, priceMantissa: 0, priceDecimals: 0, qtyMantissa: 0, qtyDecimals: 0, firstTradeId: 0, lastTradeId: 0, tradeTime: 0, eventTime: 0, buyerIsMaker: false, symbol: '' };
  for (const [key, node] of fields) {
    const text = raw(node);
    switch (key) {
      case 's':
        if (node.type !== 'string' || text.length === 2) return reject(FrameError.BadField, 's');
        trade.symbol = text.slice(1, -1);
        break;
      case 'p':
      case 'q': {
        const decimal = decimalOf(text);
        if (decimal === undefined) return reject(FrameError.BadField, key);
        if (key === 'p') [trade.priceMantissa, trade.priceDecimals] = [decimal.mantissa, decimal.decimals];
        else [trade.qtyMantissa, trade.qtyDecimals] = [decimal.mantissa, decimal.decimals];
        break;
      }
      case 'a':
      case 'f':
      case 'l':
      case 'T':
      case 'E': {
        const integer = integerOf(text);
        if (integer === undefined) return reject(FrameError.BadField, key);
        const name = ({ a: 'aggId', f: 'firstTradeId', l: 'lastTradeId', T: 'tradeTime', E: 'eventTime' } as const)[key];
        trade[name] = integer;
        break;
      }
      case 'm':
        if (node.type !== 'boolean') return reject(FrameError.BadField, 'm');
        trade.buyerIsMaker = node.value === true;
        break;
    }
  }
  const missing = REQUIRED_ORDER.find((key) => !byKey.has(key));
  if (missing !== undefined) return reject(FrameError.MissingField, missing);
  if (trade.lastTradeId < trade.firstTradeId) return reject(FrameError.BadField, 'l');
  if (trade.priceMantissa === 0) return reject(FrameError.BadField, 'p');
  if (trade.qtyMantissa === 0) return reject(FrameError.BadField, 'q');
  return { ok: true, trade };
}
