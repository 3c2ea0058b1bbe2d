/** Paths of, and exact readers for, the bundled ground-truth data set. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const XRPETH_DIR = fileURLToPath(new URL('../fixtures/binance-xrpeth-2019-10/', import.meta.url));
export const XRPETH_TRADES = `${XRPETH_DIR}aggTrades.jsonl`;
export const XRPETH_KLINES = `${XRPETH_DIR}klines-1m.json`;

/** One of Binance's published klines, every number kept as the exact text the file holds. */
export interface PublishedKline {
  readonly openTime: number;
  readonly open: string;
  readonly high: string;
  readonly low: string;
  readonly close: string;
  readonly volume: string;
}

/**
 * Reads klines-1m.json without JSON.parse, which would turn its decimals into doubles: the number tokens are taken
 * as text so the comparison with klagg's strings is exact.
 */
export function readPublishedKlines(path: string = XRPETH_KLINES): PublishedKline[] {
  const text = readFileSync(path, 'utf8').trim();
  if (!text.startsWith('[[') || !text.endsWith(']]')) throw new Error(`${path} is not an array of arrays`);
  return text
    .slice(2, -2)
    .split(/\]\s*,\s*\[/)
    .map((row) => {
      const cells = row.split(',').map((cell) => cell.trim());
      if (cells.length !== 6 || cells.some((cell) => !/^\d+(\.\d+)?$/.test(cell))) throw new Error(`unexpected kline row [${row}]`);
      const [openTime, open, high, low, close, volume] = cells as [string, string, string, string, string, string];
      return { openTime: Number(openTime), open, high, low, close, volume };
    });
}

/** The trades file as Buffers, one frame per line, as a socket would hand them over. */
export function readTradeFrames(path: string = XRPETH_TRADES): Buffer[] {
  const data = readFileSync(path);
  const frames: Buffer[] = [];
  let start = 0;
  for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a, start)) {
    if (nl > start) frames.push(data.subarray(start, nl));
    start = nl + 1;
  }
  if (start < data.length) frames.push(data.subarray(start));
  return frames;
}

/**
 * Canonical text of a non-negative decimal (no trailing fractional zeros, no trailing point), so "1482.0" and
 * "1482.00000000" compare equal while any difference in value does not. String work only: no float on the way.
 */
export function canonicalDecimal(text: string): string {
  const match = /^(\d+)(?:\.(\d*))?$/.exec(text);
  if (!match) throw new Error(`not a plain decimal: ${text}`);
  const whole = (match[1] ?? '').replace(/^0+(?=\d)/, '');
  const fraction = (match[2] ?? '').replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}` : whole;
}
