/**
 * How a worker actor reaches the partitions it owns: in this thread (`LocalPartitionWorker`) or in a worker thread
 * (`ThreadPartitionWorker`, so aggregation uses every core). Control and pulls are asynchronous either way; frames are
 * fire-and-forget and keep their order relative to every control message.
 */
import type { ParsedTrade } from '../../domain/agg-trade-parser.ts';
import type { SymbolScales } from '../../domain/kline-engine.ts';
import type { Kline } from '../../domain/kline.ts';
import type { DeltaBatch } from '../../domain/messages.ts';
import { PartitionWorker, type PartitionWorkerOptions } from './partition-worker.ts';
import type { WorkerStreamsPort } from './thread-protocol.ts';

export interface PartitionWorkerPort {
  readonly id: number;
  /** Per-worker I/O: the exchange connections this worker's thread owns (undefined: frames come through `ingestFrame`). */
  readonly streams?: WorkerStreamsPort | undefined;
  /** Installs initial data and switches the symbol on; resolves with its position (last aggregate id, −1 if none). */
  activate(symbol: string, scales: SymbolScales, initialData: readonly Kline[], startAfterId?: number): Promise<number>;
  deactivate(symbol: string): void;
  positionOf(symbol: string): Promise<number>;
  /**
   * One raw frame. `parsed` is the router's successful parse of it (a worker in this thread uses it instead of
   * parsing again); undefined when the frame did not parse, so the worker counts the rejection with its reason.
   */
  ingestFrame(frame: Buffer, parsed: ParsedTrade | undefined): void;
  advanceTo(now: number): void;
  /** Fetches a symbol's trades up to `toId` (default: the exchange's latest) when no later trade will reveal them missing. */
  catchUp(symbol: string, toId?: number): void;
  finish(): void;
  takeDeltas(seq: number): Promise<DeltaBatch>;
  /** Counters of the worker's engine and frame intake (for metrics and tests). */
  stats(): Promise<WorkerStats>;
  /** A worker thread's own V8 heap (its memory is not in the main thread's heap metrics); undefined in process. */
  heap?(): Promise<{ readonly usedBytes: number; readonly externalBytes: number }>;
  close(): Promise<void>;
}

export interface WorkerStats {
  readonly applied: number;
  readonly duplicates: number;
  readonly gaps: number;
  /** Trades dropped as late: always 0 (late trades amend their period). */
  readonly late: number;
  /** Late trades applied to a final kline (emitted again as a revision). */
  readonly amended: number;
  /** Late trades older than the engine's memory of some interval (those klines rebuilt from the exchange's). */
  readonly lateBeyondMemory: number;
  /** Revised finals emitted, by cause. */
  readonly revisions: { readonly late: number; readonly repair: number; readonly restart: number };
  readonly catchUps: number;
  readonly repairFetchRetries: number;
  readonly rejectedFrames: number;
  readonly repairedGaps: number;
  readonly repairedTrades: number;
  readonly unrepairedGaps: number;
  readonly pendingRepairs: number;
  /** Bytes of stream frames held behind repairs now; frames not kept past the budget (their trades fetched again). */
  readonly heldFrameBytes: number;
  readonly heldFramesDropped: number;
}

export class LocalPartitionWorker implements PartitionWorkerPort {
  readonly id: number;
  readonly core: PartitionWorker;

  constructor(options: PartitionWorkerOptions) {
    this.id = options.id;
    this.core = new PartitionWorker(options);
  }

  async activate(symbol: string, scales: SymbolScales, initialData: readonly Kline[], startAfterId?: number): Promise<number> {
    return this.core.activate(symbol, scales, initialData, startAfterId);
  }

  deactivate(symbol: string): void {
    this.core.deactivate(symbol);
  }

  async positionOf(symbol: string): Promise<number> {
    return this.core.positionOf(symbol);
  }

  ingestFrame(frame: Buffer, parsed: ParsedTrade | undefined): void {
    if (parsed === undefined) this.core.ingestFrame(frame);
    else this.core.ingestParsed(frame, parsed);
  }

  advanceTo(now: number): void {
    this.core.advanceTo(now);
  }

  catchUp(symbol: string, toId?: number): void {
    this.core.catchUp(symbol, toId);
  }

  finish(): void {
    this.core.finish();
  }

  async takeDeltas(seq: number): Promise<DeltaBatch> {
    return this.core.takeDeltas(seq);
  }

  async stats(): Promise<WorkerStats> {
    return workerStats(this.core);
  }

  async close(): Promise<void> {}
}

export function workerStats(core: PartitionWorker): WorkerStats {
  const c = core.engine.counters;
  const f = core.ingest.counters;
  const r = core.repairStats;
  return {
    applied: c.applied,
    duplicates: c.duplicates,
    gaps: c.gaps,
    late: c.late,
    amended: c.amended,
    lateBeyondMemory: c.lateBeyondMemory,
    revisions: { ...core.revisions },
    catchUps: r.catchUps,
    repairFetchRetries: r.fetchRetries,
    rejectedFrames: f.malformed + f.notAggTrade + f.missingField + f.badField,
    repairedGaps: r.repaired,
    repairedTrades: r.repairedTrades,
    unrepairedGaps: r.unrepaired,
    pendingRepairs: r.pending,
    heldFrameBytes: r.heldBytes,
    heldFramesDropped: r.heldDropped,
  };
}
