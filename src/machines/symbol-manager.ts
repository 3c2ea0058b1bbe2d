/**
 * The SymbolManager's lifecycle: starting (reading the universe) → running (activating, backfilling, watching for
 * listings and delistings) → stopped. It is the only producer of activation commands; the counters here are what the
 * health board and the inspector show of it.
 */
import { assign, setup } from 'xstate';

export interface SymbolManagerContext {
  readonly universe: number;
  readonly activated: number;
  readonly listed: number;
  readonly delisted: number;
  readonly backfilled: number;
  readonly backfillDone: boolean;
  readonly lastTickerAt: number | null;
  readonly lastError: string | null;
}

export type SymbolManagerEvent =
  | { readonly type: 'UNIVERSE_LOADED'; readonly symbols: number }
  | { readonly type: 'START_FAILED'; readonly error: string }
  | { readonly type: 'ACTIVATED'; readonly symbol: string }
  | { readonly type: 'LISTED'; readonly symbol: string }
  | { readonly type: 'DELISTED'; readonly symbol: string }
  | { readonly type: 'BACKFILLED'; readonly symbol: string }
  | { readonly type: 'BACKFILL_DONE' }
  | { readonly type: 'TICKERS'; readonly at: number }
  | { readonly type: 'ERROR'; readonly error: string }
  | { readonly type: 'STOP' };

export const symbolManagerMachine = setup({
  types: { context: {} as SymbolManagerContext, events: {} as SymbolManagerEvent },
  actions: {
    recordUniverse: assign({ universe: ({ event }) => (event.type === 'UNIVERSE_LOADED' ? event.symbols : 0) }),
    recordError: assign({ lastError: ({ event }) => ('error' in event ? event.error : null) }),
    countActivated: assign({ activated: ({ context }) => context.activated + 1 }),
    countListed: assign({ listed: ({ context }) => context.listed + 1 }),
    countDelisted: assign({ delisted: ({ context }) => context.delisted + 1 }),
    countBackfilled: assign({ backfilled: ({ context }) => context.backfilled + 1 }),
    markBackfillDone: assign({ backfillDone: true }),
    recordTickers: assign({ lastTickerAt: ({ event }) => (event.type === 'TICKERS' ? event.at : null) }),
  },
}).createMachine({
  id: 'symbolManager',
  context: { universe: 0, activated: 0, listed: 0, delisted: 0, backfilled: 0, backfillDone: false, lastTickerAt: null, lastError: null },
  initial: 'starting',
  states: {
    starting: {
      on: {
        UNIVERSE_LOADED: { target: 'running', actions: 'recordUniverse' },
        START_FAILED: { target: 'stopped', actions: 'recordError' },
        STOP: 'stopped',
      },
    },
    running: {
      on: {
        ACTIVATED: { actions: 'countActivated' },
        LISTED: { actions: 'countListed' },
        DELISTED: { actions: 'countDelisted' },
        BACKFILLED: { actions: 'countBackfilled' },
        BACKFILL_DONE: { actions: 'markBackfillDone' },
        TICKERS: { actions: 'recordTickers' },
        ERROR: { actions: 'recordError' },
        STOP: 'stopped',
      },
    },
    stopped: { type: 'final' },
  },
});
