/**
 * Loads a recording of aggTrade frames (one per line; a line may be `<receiveTimeMs>\t<frame>`; frames plain or
 * combined-stream wrapped) into memory: the trades in file order, duplicates (a ≤ last a of the symbol) dropped,
 * and per symbol the scales the data shows (the most decimals any price / quantity carries); and plans a Market
 * replaying it (`planRecordedMarket`), as generated-source.ts plans a generated one.
 */
import type { AggTrade } from '../../domain/agg-trade.ts';
import { parseDecimal } from '../../domain/decimal.ts';
import { readLines } from '../recording/line-reader.ts';
import type { TradeFeed } from './generated-source.ts';
import type { RecordingSource } from './market.ts';
import { baseAssetOf, PERPETUAL_DELIVERY_DATE, unitSize, type SymbolInfo } from './symbol-info.ts';

export interface RecordedSymbol {
  readonly symbol: string;
  priceScale: number;
  qtyScale: number;
  readonly firstTradeTime: number;
  lastAggId: number;
}

export interface LoadedRecording {
  readonly trades: AggTrade[];
  readonly symbols: Map<string, RecordedSymbol>;
  /** Lines that were not usable aggTrade frames (control replies, other events, broken JSON). */
  readonly skippedLines: number;
  /** Trades dropped because their id was not above the symbol's last one. */
  readonly duplicates: number;
}

const RECEIVE_TIME_PREFIX = /^\d+\t/;

export async function loadRecording(path: string): Promise<LoadedRecording> {
  const trades: AggTrade[] = [];
  const symbols = new Map<string, RecordedSymbol>();
  let skippedLines = 0;
  let duplicates = 0;
  for await (const line of readLines(path)) {
    let text = line.toString('utf8');
    const prefix = RECEIVE_TIME_PREFIX.exec(text);
    if (prefix) text = text.slice(prefix[0].length);
    const trade = parseTradeFrame(text);
    if (trade === undefined) {
      skippedLines++;
      continue;
    }
    const known = symbols.get(trade.symbol);
    const price = parseDecimal(trade.price);
    const qty = parseDecimal(trade.qty);
    if (known === undefined) {
      symbols.set(trade.symbol, {
        symbol: trade.symbol,
        priceScale: price.decimals,
        qtyScale: qty.decimals,
        firstTradeTime: trade.tradeTime,
        lastAggId: trade.aggId,
      });
    } else {
      if (trade.aggId <= known.lastAggId) {
        duplicates++;
        continue;
      }
      known.lastAggId = trade.aggId;
      if (price.decimals > known.priceScale) known.priceScale = price.decimals;
      if (qty.decimals > known.qtyScale) known.qtyScale = qty.decimals;
    }
    trades.push(trade);
  }
  return { trades, symbols, skippedLines, duplicates };
}

/** A Market replaying a recording: what Market.create needs from it. */
export interface RecordedPlan {
  readonly speed: number | 'max';
  /** Every recorded symbol, TRADING, with the scales its data shows. */
  readonly symbols: SymbolInfo[];
  /** Every symbol trades throughout. */
  readonly spans: Map<string, { from: number; until: number }>;
  readonly feed: TradeFeed;
  /** Time of the first recorded trade; undefined for an empty recording. */
  readonly firstTradeTime: number | undefined;
  readonly skippedLines: number;
  readonly duplicates: number;
}

/** Checks the speed (before reading anything), loads the recording and describes its symbols. */
export async function planRecordedMarket(source: RecordingSource): Promise<RecordedPlan> {
  const speed = source.speed ?? 1;
  if (speed !== 'max' && !(speed > 0 && Number.isFinite(speed))) throw new RangeError(`speed must be a number > 0 or 'max', got ${String(speed)}`);
  const recording = await loadRecording(source.path);
  const symbols: SymbolInfo[] = [...recording.symbols.values()].map((s) => ({
    symbol: s.symbol,
    baseAsset: baseAssetOf(s.symbol),
    quoteAsset: 'USDT',
    contractType: 'PERPETUAL',
    tickSize: unitSize(s.priceScale),
    stepSize: unitSize(s.qtyScale),
    priceScale: s.priceScale,
    qtyScale: s.qtyScale,
    status: 'TRADING',
    onboardDate: s.firstTradeTime,
    deliveryDate: PERPETUAL_DELIVERY_DATE,
  }));
  const spans = new Map(symbols.map((s) => [s.symbol, { from: Number.NEGATIVE_INFINITY, until: Number.POSITIVE_INFINITY }]));
  let position = 0;
  const trades = recording.trades;
  const feed: TradeFeed = {
    peek: () => trades[position],
    take: () => trades[position++],
  };
  return {
    speed,
    symbols,
    spans,
    feed,
    firstTradeTime: trades[0]?.tradeTime,
    skippedLines: recording.skippedLines,
    duplicates: recording.duplicates,
  };
}

const DECIMAL = /^\d+(\.\d+)?$/;

/** One frame's trade, or undefined when the frame is not a complete aggTrade. */
export function parseTradeFrame(text: string): AggTrade | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  let event = value as Record<string, unknown>;
  if (typeof event['stream'] === 'string' && typeof event['data'] === 'object' && event['data'] !== null) {
    event = event['data'] as Record<string, unknown>;
  }
  const { e, s, a, p, q, f, l, T, m } = event;
  if (e !== 'aggTrade' || typeof s !== 'string' || s.length === 0) return undefined;
  if (!isId(a) || !isId(f) || !isId(l) || !isId(T) || l < f || typeof m !== 'boolean') return undefined;
  if (typeof p !== 'string' || typeof q !== 'string' || !DECIMAL.test(p) || !DECIMAL.test(q)) return undefined;
  try {
    parseDecimal(p);
    parseDecimal(q);
  } catch {
    return undefined;
  }
  return { symbol: s, aggId: a, price: p, qty: q, firstTradeId: f, lastTradeId: l, tradeTime: T, buyerIsMaker: m };
}

function isId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
