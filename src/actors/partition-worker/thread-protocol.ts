/** Messages between `ThreadPartitionWorker` (main thread) and `partition-worker-thread.ts` (its worker thread). */
import type { AggTrade } from '../../domain/agg-trade.ts';
import type { SymbolScales } from '../../domain/kline-engine.ts';
import type { LagHistogramSnapshot } from '../../domain/lag-tracker.ts';
import type { RebuildRequest, UnrepairedGap } from './partition-worker.ts';
import type { Kline } from '../../domain/kline.ts';
import type { StreamLagStats, StreamManagerOptions, StreamManagerStats } from '../stream-manager.ts';
import type { Clock } from '../../infra/clock.ts';
import type { LogicKind } from '../../infra/inspector/logic-kind.ts';

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
  /** `error`: the fetch failed (the worker retries it; an empty `trades` would read as "the exchange has none"). */
  | { readonly type: 'fetchedTrades'; readonly id: number; readonly trades: readonly AggTrade[]; readonly error?: string }
  /** The thread's own exchange connections (per-worker I/O): streams to carry, or to drop. */
  | { readonly type: 'subscribe'; readonly streams: readonly string[] }
  | { readonly type: 'unsubscribe'; readonly streams: readonly string[] }
  /** The system clock's reading at a wall-clock instant (`Date.now()`): receive stamps in the thread follow it. */
  | { readonly type: 'clock'; readonly wall: number; readonly now: number }
  /** Closes the thread's exchange connections; answered once they are closed. */
  | { readonly type: 'stopStreams'; readonly id: number };

/** What the thread asks of the main thread on its own initiative. */
export type ThreadNotice =
  | { readonly type: 'fetchTrades'; readonly id: number; readonly symbol: string; readonly fromId: number; readonly toId: number }
  | { readonly type: 'unrepairedGap'; readonly gap: UnrepairedGap }
  | { readonly type: 'rebuildNeeded'; readonly request: RebuildRequest }
  /** Finals wait to be pulled (once per pull). */
  | { readonly type: 'finalsReady' }
  /** The thread's exchange connections, a few times a second. */
  | { readonly type: 'streams'; readonly report: WorkerStreamsReport }
  /** One of the thread's connections is open again after it was lost, with the streams it carries. */
  | { readonly type: 'reconnected'; readonly streams: readonly string[] }
  /** The thread's connection machines as the inspector sees them (XState inspection, made plain). */
  | { readonly type: 'inspect'; readonly events: readonly ForwardedInspection[] }
  /** A log line of the thread's (pino JSON), written through the main thread's logger. */
  | { readonly type: 'log'; readonly line: string };

export type ThreadReply =
  | { readonly type?: undefined; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly type?: undefined; readonly id: number; readonly ok: false; readonly error: string };

/**
 * A worker thread's own exchange connections: where to connect and how (the StreamManager's settings). Plain data —
 * the thread builds them with the module `module` names (the composition root's), since functions cannot cross.
 */
export interface WorkerStreamsConfig extends Partial<Pick<StreamManagerOptions, 'maxStreamsPerConnection' | 'maxMessagesPerSecond' | 'paramsPerMessage' | 'silenceMs' | 'rotateAfterMs' | 'initialBackoffMs' | 'maxBackoffMs' | 'connectTimeoutMs' | 'lagWindowMs'>> {
  /** URL of the module that builds the thread's streams (exports `startWorkerStreams`). */
  readonly module: string;
  readonly wsBaseUrl: string;
  readonly logLevel: string;
}

/** What a thread's connections report (merged with the main thread's own in the service's view of its streams). */
export interface WorkerStreamsReport {
  readonly stats: StreamManagerStats;
  readonly lag: StreamLagStats;
  readonly watermarkLagMs: number;
  readonly histogram: LagHistogramSnapshot;
}

/** An XState inspection event of a thread's actor, as plain data; `ref` is the actor's number within its thread. */
export type ForwardedInspection =
  | { readonly kind: 'actor'; readonly ref: number; readonly parent?: number; readonly id: string; readonly machine?: string; readonly logic?: LogicKind }
  | { readonly kind: 'snapshot'; readonly ref: number; readonly value: unknown; readonly status: string; readonly event: string };

/** A worker thread's exchange connections, seen from the main thread. */
export interface WorkerStreamsPort {
  subscribe(streams: readonly string[]): void;
  unsubscribe(streams: readonly string[]): void;
  /** The thread's latest report (a few times a second); undefined before the first. */
  readonly report: WorkerStreamsReport | undefined;
  /** Closes the connections (before the system drains: no frame arrives after). */
  stop(): Promise<void>;
}

/** What the thread gives the module that builds its streams (`startWorkerStreams`), and what it gets back. */
export interface WorkerStreamsHooks {
  readonly workerId: number;
  /** Receive stamps (lag): the system clock as the thread follows it. */
  readonly clock: Clock;
  onFrame(frame: Buffer): void;
  onReconnected(streams: readonly string[]): void;
  onInspect(events: readonly ForwardedInspection[]): void;
  onLog(line: string): void;
}

export interface WorkerStreams {
  subscribe(streams: readonly string[]): void;
  unsubscribe(streams: readonly string[]): void;
  report(): WorkerStreamsReport;
  stop(): Promise<void>;
}
