/**
 * The typed events the supervisor's children exchange. Trades never travel as events: these carry activation,
 * control and batches only.
 */
import type { ErrorCode } from './errors.ts';
import type { SymbolScales } from './kline-engine.ts';
import type { Kline } from './kline.ts';

/** One worker's answer to a pull: what changed since the previous one. */
export interface DeltaBatch {
  readonly workerId: number;
  readonly seq: number;
  /** Klines that became final since the previous pull, in the order they did. */
  readonly finals: readonly Kline[];
  /** The latest state of every open kline changed since the previous pull. */
  readonly updates: readonly Kline[];
  /** Last trade time of every symbol that traded since the previous pull. */
  readonly lastTradeTimes: Readonly<Record<string, number>>;
}

/** Anything events can be sent to (an actor ref). */
export interface Mailbox<E> {
  send(event: E): void;
}

/** The SymbolManager's (or a replay's, or an admin's) request to make a symbol Active. */
export interface ActivateSymbol {
  readonly symbol: string;
  readonly scales: SymbolScales;
  /** The latest stored kline of every interval: open klines continue instead of starting over. */
  readonly initialData: readonly Kline[];
  /** Forced activation (admin): also from Failed. */
  readonly force?: boolean;
  /**
   * Where the symbol's history ends when no stored kline says so: trades after this aggregate id are expected, so a
   * first trade beyond `startAfterId + 1` is a gap to repair, not a new beginning. FROM_FIRST_TRADE (a listing): every
   * trade the exchange has, from its very first, fetched over REST before the stream's are applied.
   */
  readonly startAfterId?: number;
}

/** `startAfterId` of a listing: every trade the exchange has is expected, from its very first. */
export const FROM_FIRST_TRADE = -1;

export type DispatcherEvent =
  | { readonly type: 'ACTIVATE_SYMBOL'; readonly command: ActivateSymbol }
  | { readonly type: 'DEACTIVATE_SYMBOL'; readonly symbol: string; readonly reason: 'deactivated' | 'delisted' }
  | { readonly type: 'SYMBOL_ACTIVATED'; readonly symbol: string; readonly attempt: number; readonly position: number }
  /** `retryable: false` when retrying cannot help (the symbol is Failed and the activation was not forced). */
  | { readonly type: 'SYMBOL_ACTIVATION_FAILED'; readonly symbol: string; readonly attempt: number; readonly retryable: boolean; readonly code: ErrorCode; readonly error: string }
  | { readonly type: 'ACK_TIMEOUT'; readonly symbol: string; readonly attempt: number }
  | { readonly type: 'RETRY'; readonly symbol: string };

export type WorkerEvent =
  | { readonly type: 'ACTIVATE_SYMBOL'; readonly command: ActivateSymbol; readonly attempt: number; readonly replyTo: Mailbox<DispatcherEvent> }
  | { readonly type: 'ABANDON_SYMBOL'; readonly symbol: string; readonly code: ErrorCode; readonly error: string }
  | { readonly type: 'DEACTIVATE_SYMBOL'; readonly symbol: string; readonly reason: 'deactivated' | 'delisted' }
  | { readonly type: 'PULL_DELTAS'; readonly seq: number; readonly replyTo: Mailbox<GatewayEvent> }
  | { readonly type: 'TICK'; readonly now: number }
  | { readonly type: 'FINISH' }
  /** Fault injection: answer pulls only from time `until` on (tests and chaos runs; a stalled worker must lose nothing). */
  | { readonly type: 'STALL'; readonly until: number };

export type GatewayEvent =
  | { readonly type: 'DELTAS'; readonly batch: DeltaBatch }
  | { readonly type: 'PULL_NOW' };

/** What the Gateway publishes every pull: immutable, shared by every subscriber and the DB writer. */
export interface PublishedBatch {
  readonly seq: number;
  readonly finals: readonly Kline[];
  readonly updates: readonly Kline[];
  /** Workers that did not answer this pull in time (their last good state stands; their deltas come later). */
  readonly missingWorkers: readonly number[];
}

export type BatchListener = (batch: PublishedBatch) => void;
