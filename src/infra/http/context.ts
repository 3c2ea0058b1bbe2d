/** What the HTTP routes need from the rest of klagg: the store, the running system, the live view, the ports. */
import type { ActivateSymbol } from '../../domain/messages.ts';
import type { IntervalName } from '../../domain/interval.ts';
import type { SymbolScales } from '../../domain/kline-engine.ts';
import { scalesFromSizes } from '../../domain/kline-format.ts';
import type { Clock } from '../clock.ts';
import type { KlineStore } from '../db/kline-store.ts';
import type { AdminAccess } from './admin-access.ts';
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

/** A symbol's lifecycle entry, as the symbol registry read model holds it. */
export interface SymbolEntryView {
  readonly symbol: string;
  readonly state: string;
  readonly worker: number;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly lastTradeTime: number | null;
  readonly updatedAt: number;
}

/** An actor's entry on the health board. */
export interface HealthEntryView {
  readonly actor: string;
  readonly status: 'ok' | 'degraded' | 'error';
  readonly detail: string;
  readonly reportedAt: number;
  readonly fatal: boolean;
}

/** A read model the routes read a snapshot of (the system's @xstate/store stores fit). */
export interface ReadModel<C> {
  getSnapshot(): { readonly context: C };
}

/**
 * The running system as the routes see it: only what they read and do (the system satisfies it structurally, so
 * infra never imports the actors).
 */
export interface ServingSystem {
  /** The service lifecycle state (running, stopping…). */
  readonly state: string;
  readonly registry: ReadModel<{ readonly symbols: Readonly<Record<string, SymbolEntryView>> }>;
  readonly health: ReadModel<{ readonly actors: Readonly<Record<string, HealthEntryView>> }>;
  symbolState(symbol: string): string | undefined;
  activate(command: ActivateSymbol): void;
  deactivate(symbol: string): void;
}

/** What the landing page says about the running service (`/api/status`). */
export interface ServiceAbout {
  /** klagg's version (package.json). */
  readonly version: string;
  /** The command serving: `run`, `demo`. */
  readonly mode: string;
  /** `postgres` or `pglite`. */
  readonly database: string;
  /** The exchange's REST base URL. */
  readonly exchange: string;
  /** When the process started, ms since the epoch. */
  readonly startedAt: number;
}

export interface HttpContext {
  readonly venue: string;
  readonly market: string;
  /** The intervals klagg aggregates (and so serves). */
  readonly intervals: readonly IntervalName[];
  readonly store: Pick<KlineStore, 'range'>;
  readonly system: ServingSystem;
  readonly view: LiveKlineView;
  readonly clock: Clock;
  /** For `/api/status`; absent: that route reports only what the context itself knows. */
  readonly about?: ServiceAbout;
  /** Admin routes answer 404 without it. */
  readonly adminToken?: string;
  /** Who may reach the admin routes besides loopback (default: nobody else). */
  readonly adminAccess?: AdminAccess;
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
