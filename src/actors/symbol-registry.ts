/**
 * The symbol registry read model: every symbol's lifecycle state, owning worker, last trade time and last error.
 * The API and the inspector read it without reaching into actors; actors write it as their state changes.
 */
import { createStore } from '@xstate/store';
import type { SymbolLifecycleState } from '../machines/symbol-lifecycle.ts';

export interface SymbolEntry {
  readonly symbol: string;
  readonly state: SymbolLifecycleState;
  readonly worker: number;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly lastTradeTime: number | null;
  readonly updatedAt: number;
}

export function createSymbolRegistry() {
  return createStore({
    context: { symbols: {} as Readonly<Record<string, SymbolEntry>> },
    on: {
      lifecycleChanged: (
        context,
        event: { symbol: string; state: SymbolLifecycleState; worker: number; attempts: number; lastError: string | null; at: number },
      ) => ({
        symbols: {
          ...context.symbols,
          [event.symbol]: {
            symbol: event.symbol,
            state: event.state,
            worker: event.worker,
            attempts: event.attempts,
            lastError: event.lastError,
            lastTradeTime: context.symbols[event.symbol]?.lastTradeTime ?? null,
            updatedAt: event.at,
          },
        },
      }),
      tradesSeen: (context, event: { lastTradeTimes: Readonly<Record<string, number>> }) => {
        const symbols = { ...context.symbols };
        for (const [symbol, time] of Object.entries(event.lastTradeTimes)) {
          const entry = symbols[symbol];
          if (entry) symbols[symbol] = { ...entry, lastTradeTime: time };
        }
        return { symbols };
      },
    },
  });
}

export type SymbolRegistry = ReturnType<typeof createSymbolRegistry>;

export function countByState(registry: SymbolRegistry): Record<SymbolLifecycleState, number> {
  const counts: Record<SymbolLifecycleState, number> = { Pending: 0, Activating: 0, Active: 0, Failed: 0 };
  for (const entry of Object.values(registry.getSnapshot().context.symbols)) counts[entry.state]++;
  return counts;
}
