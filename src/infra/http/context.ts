/** What the HTTP routes need from the rest of klagg: the store, the running system, the live view, the ports. */
import type { KlaggSystem } from '../../actors/klagg-system.ts';
import type { ActivateSymbol } from '../../domain/messages.ts';
import type { IntervalName } from '../../domain/interval.ts';
import type { SymbolScales } from '../../domain/kline-engine.ts';
import { scalesFromSizes } from '../../domain/kline-format.ts';
import type { Clock } from '../clock.ts';
import type { KlineStore } from '../db/kline-store.ts';
import type { LiveKlineView } from './kline-view.ts';

/** A symbol klagg serves, as `/fapi/v1/exchangeInfo` describes it. Decimals are strings, as Binance sends them. */
export interface ServedSymbol {
  readonly symbol: string;
  /** Binance's status: TRADING, SETTLING, … */
  readonly status: string;
  readonly tickSize: string;
  readonly stepSize: string;
  readonly baseAsset: string;
  readonly quoteAsset: string;
  readonly minPrice?: string;
  readonly maxPrice?: string;
  readonly minQty?: string;
  readonly maxQty?: string;
}

export interface HttpContext {
  readonly venue: string;
  readonly market: string;
  /** The intervals klagg aggregates (and so serves). */
  readonly intervals: readonly IntervalName[];
  readonly store: Pick<KlineStore, 'range'>;
  readonly system: KlaggSystem;
  readonly view: LiveKlineView;
  readonly clock: Clock;
  /** Admin routes answer 404 without it. */
  readonly adminToken?: string;
  /** The symbols klagg serves (exchangeInfo; a klines request for any other symbol is -1121). */
  symbols(): readonly ServedSymbol[];
  /** Scales and initial data to (re)activate a symbol with; undefined when the symbol is unknown. */
  activationFor(symbol: string): Promise<ActivateSymbol | undefined>;
  /** Rebuilds a symbol's stored klines of one interval in [from, to]; absent when repair is not available. */
  repair?(symbol: string, interval: IntervalName, from: number, to: number): Promise<{ klines: number }>;
}

/** A symbol is served when the exchange list names it or the system knows it (any lifecycle state). */
export function isServed(context: HttpContext, symbol: string): boolean {
  if (context.system.registry.getSnapshot().context.symbols[symbol] !== undefined) return true;
  return context.symbols().some((s) => s.symbol === symbol);
}

/**
 * The scales klines of a served symbol are printed with: from its exchangeInfo tick and step sizes, as the live
 * engine's (`scaleOf`). Undefined for a symbol the exchange list does not name (its klines are served unchanged).
 */
export function servedScales(context: Pick<HttpContext, 'symbols'>, symbol: string): SymbolScales | undefined {
  return scalesFromSizes(context.symbols().find((s) => s.symbol === symbol));
}
