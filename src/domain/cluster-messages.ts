/**
 * What travels between the cluster's roles. Trades travel as the exchange's own aggTrade frames (one per line behind
 * a small header line), so the aggregator runs the same byte parser and engine as the single process; repaired
 * trades are written in the same shape. Klines travel as JSON arrays of the engine's klines.
 */
import type { AggTrade } from './agg-trade.ts';
import type { SymbolScales } from './kline-engine.ts';
import type { IntervalName } from './interval.ts';
import type { Kline } from './kline.ts';

/** The first line of a trade batch: whose trades and at which scales (from the exchange's tick and step sizes). */
export interface TradeBatchHeader {
  readonly s: string;
  readonly ps: number;
  readonly qs: number;
  /**
   * 1 on the first batch of a symbol whose earlier trades are not in the log (an ingest joined its market mid-period):
   * the periods its first trade falls in are incomplete in the log, so they are never emitted.
   */
  readonly j?: 1;
}

const NEWLINE = 0x0a;

export function encodeTradeBatch(symbol: string, scales: SymbolScales, frames: readonly Uint8Array[], join = false): Uint8Array {
  const fields: TradeBatchHeader = join ? { s: symbol, ps: scales.priceScale, qs: scales.qtyScale, j: 1 } : { s: symbol, ps: scales.priceScale, qs: scales.qtyScale };
  const header = Buffer.from(JSON.stringify(fields));
  const parts: Uint8Array[] = [header];
  for (const frame of frames) parts.push(NEWLINE_BYTES, frame);
  return Buffer.concat(parts);
}
const NEWLINE_BYTES = Buffer.from('\n');

export interface DecodedTradeBatch {
  readonly header: TradeBatchHeader;
  readonly frames: Buffer[];
}

/** Splits a trade batch into its header and frames (views into `data`, no copies); null when it is not one. */
export function decodeTradeBatch(data: Uint8Array): DecodedTradeBatch | null {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let end = bytes.indexOf(NEWLINE);
  if (end < 0) end = bytes.length;
  let header: TradeBatchHeader;
  try {
    header = JSON.parse(bytes.subarray(0, end).toString('utf8')) as TradeBatchHeader;
  } catch {
    return null;
  }
  if (typeof header?.s !== 'string' || !Number.isInteger(header.ps) || !Number.isInteger(header.qs)) return null;
  const frames: Buffer[] = [];
  let start = end + 1;
  while (start < bytes.length) {
    let next = bytes.indexOf(NEWLINE, start);
    if (next < 0) next = bytes.length;
    if (next > start) frames.push(bytes.subarray(start, next));
    start = next + 1;
  }
  return { header, frames };
}

/** A trade fetched over REST, written as the stream frame it would have been (the engine sees one shape). */
export function aggTradeFrame(symbol: string, trade: AggTrade): Buffer {
  return Buffer.from(
    `{"e":"aggTrade","E":${trade.tradeTime},"a":${trade.aggId},"s":"${symbol}","p":"${trade.price}","q":"${trade.qty}","f":${trade.firstTradeId},"l":${trade.lastTradeId},"T":${trade.tradeTime},"m":${trade.buyerIsMaker}}`,
  );
}

/** Time in the log: every trade of the partition with a time before `wm` (minus the skew) is already in the log. */
export interface WatermarkMessage {
  readonly wm: number;
  /** The end of a recording: after advancing to `wm`, every begun kline becomes final. */
  readonly end?: boolean;
  /** Which ingest said so (diagnostics). */
  readonly by?: string;
}

export function encodeWatermark(message: WatermarkMessage): Uint8Array {
  return Buffer.from(JSON.stringify(message));
}

export function decodeWatermark(data: Uint8Array): WatermarkMessage | null {
  try {
    const parsed = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8')) as WatermarkMessage;
    return Number.isFinite(parsed?.wm) ? parsed : null;
  } catch {
    return null;
  }
}

/** Klines a partition's owner emitted: finals and the latest state of changed open klines. */
export interface KlineBatchMessage {
  readonly partition: number;
  /** The owner's epoch (the revision of its ownership record): diagnostics, and fencing for readers that want it. */
  readonly epoch: number;
  /** The stream position of the partition's input this batch covers up to. */
  readonly position: number;
  readonly venue: string;
  readonly market: string;
  readonly klines: readonly Kline[];
  /**
   * Klines the trades cannot make exact any more (a late trade older than the engine's memory): the writer rebuilds
   * these ranges from the exchange's klines once they are closed, as a higher revision.
   */
  readonly rebuilds?: readonly RebuildRange[];
}

export interface RebuildRange {
  readonly symbol: string;
  readonly interval: IntervalName;
  readonly fromOpenTime: number;
  readonly toOpenTime: number;
}

export function encodeKlineBatch(batch: KlineBatchMessage): Uint8Array {
  return Buffer.from(JSON.stringify(batch));
}

export function decodeKlineBatch(data: Uint8Array): KlineBatchMessage | null {
  try {
    const parsed = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8')) as KlineBatchMessage;
    return Array.isArray(parsed?.klines) && typeof parsed.venue === 'string' ? parsed : null;
  } catch {
    return null;
  }
}
