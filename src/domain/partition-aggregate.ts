/**
 * One partition's aggregation in the cluster: a pure fold over the partition's log — trade batches, watermarks and
 * the end of a recording — into klines. No clock and no I/O: two owners that applied the same prefix of the log hold
 * identical state and emit identical klines (scale-out.md §3.1 B), which is what makes a replay from a checkpoint,
 * a redelivery or a zombie owner harmless. Per symbol a trade is applied only as `last + 1` (A): a duplicate from a
 * second ingest or a replay is dropped and counted; a gap (ids that never reached the log) is accepted, counted and
 * remembered — deterministically, since the decision depends on the log alone — and never silent.
 */
import type { DecodedTradeBatch } from './cluster-messages.ts';
import { FrameIngest, FrameOutcome } from './frame-ingest.ts';
import type { IntervalName } from './interval.ts';
import { KlineEngine, type EngineSnapshot } from './kline-engine.ts';
import type { Kline } from './kline.ts';

export interface PartitionCounters {
  batches: number;
  trades: number;
  applied: number;
  duplicates: number;
  /** Gaps in a symbol's ids in the log (accepted; the skipped ids are counted in `gapTrades`). */
  gaps: number;
  gapTrades: number;
  rejected: number;
  watermarks: number;
  /** Trades that arrived after the end of the recording (a second ingest's duplicates; never applied). */
  afterEnd: number;
}

export interface PartitionGap {
  readonly symbol: string;
  readonly fromId: number;
  readonly toId: number;
  /** The log position of the message that revealed it. */
  readonly position: number;
}

export const PARTITION_SNAPSHOT_VERSION = 1;

/** A partition's state at a log position: what a checkpoint holds. */
export interface PartitionSnapshot {
  readonly version: typeof PARTITION_SNAPSHOT_VERSION;
  readonly partition: number;
  /** The last log position applied (0: nothing yet). */
  readonly position: number;
  readonly watermark: number;
  readonly counters: PartitionCounters;
  readonly engine: EngineSnapshot;
}

export interface PartitionAggregateOptions {
  readonly partition: number;
  readonly intervals: readonly IntervalName[];
  readonly graceMs: number;
}

const MAX_REMEMBERED_GAPS = 100;

export class PartitionAggregate {
  readonly partition: number;
  readonly ingest: FrameIngest;
  readonly counters: PartitionCounters;
  /** The most recent gaps (for logs and metrics). */
  readonly gaps: PartitionGap[] = [];
  #position: number;
  #watermark: number;
  #finals: Kline[] = [];

  private constructor(partition: number, engine: (sink: { onFinal(kline: Kline): void }) => KlineEngine, position: number, watermark: number, counters?: PartitionCounters) {
    this.partition = partition;
    this.ingest = new FrameIngest(engine({ onFinal: (kline) => this.#finals.push(kline) }));
    this.#position = position;
    this.#watermark = watermark;
    this.counters = counters ? { ...counters } : { batches: 0, trades: 0, applied: 0, duplicates: 0, gaps: 0, gapTrades: 0, rejected: 0, watermarks: 0, afterEnd: 0 };
  }

  static create(options: PartitionAggregateOptions): PartitionAggregate {
    return new PartitionAggregate(options.partition, (sink) => new KlineEngine({ intervals: options.intervals, graceMs: options.graceMs }, sink), 0, Number.NEGATIVE_INFINITY);
  }

  static restore(snapshot: PartitionSnapshot): PartitionAggregate {
    return new PartitionAggregate(snapshot.partition, (sink) => KlineEngine.restore(snapshot.engine, sink), snapshot.position, snapshot.watermark, snapshot.counters);
  }

  get engine(): KlineEngine {
    return this.ingest.engine;
  }

  /** The last log position applied. */
  get position(): number {
    return this.#position;
  }

  get watermark(): number {
    return this.#watermark;
  }

  get finished(): boolean {
    return this.engine.isFinished;
  }

  /** A message at a log position this state already holds (a redelivery) changes nothing. */
  covers(position: number): boolean {
    return position <= this.#position;
  }

  applyTrades(position: number, batch: DecodedTradeBatch): void {
    if (this.covers(position)) return;
    this.#position = position;
    this.counters.batches++;
    const ingest = this.ingest;
    const finished = this.finished;
    if (!finished) ingest.addSymbol(batch.header.s, { priceScale: batch.header.ps, qtyScale: batch.header.qs });
    for (const frame of batch.frames) {
      this.counters.trades++;
      if (finished) {
        this.counters.afterEnd++;
        continue;
      }
      let outcome = ingest.ingest(frame);
      if (outcome === FrameOutcome.Gap) {
        const gap = this.engine.lastGap;
        this.counters.gaps++;
        this.counters.gapTrades += gap.toId - gap.fromId + 1;
        if (this.gaps.length >= MAX_REMEMBERED_GAPS) this.gaps.shift();
        this.gaps.push({ symbol: gap.symbol, fromId: gap.fromId, toId: gap.toId, position });
        this.engine.acceptGap(ingest.symbol, ingest.trade.aggId);
        outcome = ingest.applyLast();
      }
      if (outcome === FrameOutcome.Applied) this.counters.applied++;
      else if (outcome === FrameOutcome.Duplicate) this.counters.duplicates++;
      else this.counters.rejected++;
    }
  }

  /** Time: periods whose close + grace is before `wm` become final (quiet symbols included). */
  applyWatermark(position: number, wm: number): void {
    if (this.covers(position)) return;
    this.#position = position;
    this.counters.watermarks++;
    if (wm > this.#watermark) this.#watermark = wm;
    if (!this.finished) this.engine.advanceTo(this.#watermark);
  }

  /** The end of a recording: time runs to `wm`, then every begun kline becomes final. */
  applyEnd(position: number, wm: number): void {
    if (this.covers(position)) return;
    this.applyWatermark(position, wm);
    if (!this.finished) this.engine.finish();
  }

  /** A message that is not the partition's (malformed): its position is consumed, nothing else changes. */
  skip(position: number): void {
    if (this.covers(position)) return;
    this.#position = position;
    this.counters.rejected++;
  }

  /** Finals since the previous call, in order, then the latest state of every changed open kline. */
  takeOutput(): Kline[] {
    const finals = this.#finals;
    this.#finals = [];
    const updates = this.engine.takeChanged();
    return finals.length === 0 ? updates : updates.length === 0 ? finals : finals.concat(updates);
  }

  /** Take it right after `takeOutput` (a snapshot holds no pending output). */
  snapshot(): PartitionSnapshot {
    return { version: PARTITION_SNAPSHOT_VERSION, partition: this.partition, position: this.#position, watermark: this.#watermark, counters: { ...this.counters }, engine: this.engine.snapshot() };
  }
}
