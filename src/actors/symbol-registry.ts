/**
 * The symbol registry read model: every symbol's lifecycle state, owning worker, last trade time and last error.
 * The API and the inspector read it without reaching into actors; actors write it as their state changes.
 */
import { createStore } from '@xstate/store';
import type { InspectionEvent } from 'xstate';
import type { SymbolLifecycleContext, SymbolLifecycleState } from '../machines/symbol-lifecycle.ts';

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

/**
 * Keeps the registry equal to the symbol lifecycle machines: every snapshot of a `symbol` machine that changes its
 * state, attempts or last error becomes a `lifecycleChanged` (the system passes its inspection events through here).
 */
export function followLifecycles(registry: SymbolRegistry, event: InspectionEvent, workerOf: (symbol: string) => number, now: number): void {
  if (event.type !== '@xstate.snapshot') return;
  const snapshot = event.snapshot as { value?: unknown; context?: Partial<SymbolLifecycleContext>; machine?: { id: string } };
  if (snapshot.machine?.id !== 'symbol' || snapshot.context?.symbol === undefined) return;
  const context = snapshot.context as SymbolLifecycleContext;
  const state = snapshot.value as SymbolLifecycleState;
  const previous = registry.getSnapshot().context.symbols[context.symbol];
  if (previous?.state === state && previous.attempts === context.attempts && previous.lastError === context.lastError) return;
  registry.trigger.lifecycleChanged({ symbol: context.symbol, state, worker: workerOf(context.symbol), attempts: context.attempts, lastError: context.lastError, at: now });
}
