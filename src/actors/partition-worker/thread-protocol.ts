/** Messages between `ThreadPartitionWorker` (main thread) and `partition-worker-thread.ts` (its worker thread). */
import type { AggTrade } from '../../domain/agg-trade.ts';
import type { SymbolScales } from '../../domain/kline-engine.ts';
import type { RebuildRequest, UnrepairedGap } from './partition-worker.ts';
import type { Kline } from '../../domain/kline.ts';

export type ThreadRequest =
  /** A batch of frames: their bytes back to back, and where each one ends. */
  | { readonly type: 'frames'; readonly buffer: ArrayBuffer; readonly ends: Uint32Array }
  | { readonly type: 'advance'; readonly now: number }
  | { readonly type: 'finish' }
  | { readonly type: 'catchUp'; readonly symbol: string; readonly toId: number }
  | { readonly type: 'deactivate'; readonly symbol: string }
  | { readonly type: 'activate'; readonly id: number; readonly symbol: string; readonly scales: SymbolScales; readonly initialData: readonly Kline[]; readonly startAfterId: number | undefined }
  | { readonly type: 'position'; readonly id: number; readonly symbol: string }
  | { readonly type: 'deltas'; readonly id: number; readonly seq: number }
  | { readonly type: 'stats'; readonly id: number }
  /** The answer to the thread's `fetchTrades` (gap repair goes through the main thread's REST client). */
  | { readonly type: 'fetchedTrades'; readonly id: number; readonly trades: readonly AggTrade[] };

/** What the thread asks of the main thread on its own initiative. */
export type ThreadNotice =
  | { readonly type: 'fetchTrades'; readonly id: number; readonly symbol: string; readonly fromId: number; readonly toId: number }
  | { readonly type: 'unrepairedGap'; readonly gap: UnrepairedGap }
  | { readonly type: 'rebuildNeeded'; readonly request: RebuildRequest }
  /** Finals wait to be pulled (once per pull). */
  | { readonly type: 'finalsReady' };

export type ThreadReply =
  | { readonly type?: undefined; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly type?: undefined; readonly id: number; readonly ok: false; readonly error: string };
