/** What a KlaggSystem is made with, and the counters it reports. */
import type { InspectionEvent } from 'xstate';
import type { IntervalName } from '../domain/interval.ts';
import type { KlineSink } from '../domain/kline-sink.ts';
import type { DispatcherCounters } from '../machines/activation-dispatcher.ts';
import type { GatewayCounters } from '../machines/gateway.ts';
import type { Clock } from '../infra/clock.ts';
import type { Logger } from '../infra/logger.ts';
import type { RebuildRequest, TradeFetcher, UnrepairedGap } from './partition-worker/partition-worker.ts';
import type { WorkerStreamsIo } from './partition-worker/thread-partition-worker.ts';

export interface KlaggSystemOptions {
  readonly venue: string;
  readonly market: string;
  readonly intervals: readonly IntervalName[];
  readonly graceMs: number;
  readonly workers: number;
  readonly partitions: number;
  /** Run each worker's partitions in a worker thread, so aggregation uses every core. */
  readonly threads?: boolean;
  /**
   * With `threads`: each worker thread owns the exchange connections of its symbols (per-worker I/O), so trade frames
   * never cross the main thread. The system's clock goes with it.
   */
  readonly workerStreams?: Omit<WorkerStreamsIo, 'clock'>;
  readonly gateway: { readonly pullIntervalMs: number; readonly pullTimeoutMs: number; readonly timeoutAlertThreshold: number };
  readonly dispatcher: { readonly queueCapacity: number; readonly maxRetries: number; readonly retryDelayMs: number; readonly ackTimeoutMs?: number; readonly concurrency?: number };
  readonly dbWriter: { readonly flushIntervalMs: number; readonly maxBatchRows: number; readonly backoffInitialMs: number; readonly backoffMaxMs: number; readonly maxBufferedRows: number };
  /** Boundary ticks that close quiet symbols; 0 turns them off (replays clock themselves from trade times). */
  readonly tickIntervalMs: number;
  readonly watchdog: { readonly checkIntervalMs: number };
  /** Replays: each worker's time is the time of its trades. */
  readonly clockFromTrades?: boolean;
  /** Gap repair over REST; without it gaps are accepted and counted. */
  readonly fetchTrades?: TradeFetcher;
  /** Ids the exchange no longer has: their klines are to be rebuilt from the exchange's klines. */
  readonly onUnrepairedGap?: (gap: UnrepairedGap) => void;
  /** Late trades older than the engines' memory: those klines are to be rebuilt from the exchange's klines. */
  readonly onRebuildNeeded?: (request: RebuildRequest) => void;
  readonly sink: KlineSink;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Called for subscribe/unsubscribe after activation acks (the exchange's stream, or a recording). */
  readonly tradeSource?: { subscribe(symbol: string, position: number): void; unsubscribe(symbol: string): void };
  /**
   * The finalization watermark's measured part: the exchange stream's recent p99 lag (ms). Quiet periods are finalized
   * at max(graceMs, lag + watermarkMarginMs) after their close, capped at maxWatermarkMs. Absent: graceMs alone.
   */
  readonly streamLagMs?: () => number;
  readonly watermarkMarginMs?: number;
  readonly maxWatermarkMs?: number;
  /** XState inspection events of every actor (the inspector page feeds on them). */
  readonly inspect?: (event: InspectionEvent) => void;
}

export interface SystemCounters {
  readonly framesRouted: number;
  readonly framesUnrouted: number;
  readonly dispatcher: DispatcherCounters;
  readonly gateway: GatewayCounters;
}
