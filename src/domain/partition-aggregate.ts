/**
 * One partition's aggregation in the cluster: a pure fold over the partition's log — trade batches, watermarks and
 * the end of a recording — into klines. No clock and no I/O: two owners that applied the same prefix of the log hold
 * identical state and emit identical klines (scale-out.md §3.1 B), which is what makes a replay from a checkpoint,
 * a redelivery or a zombie owner harmless. Per symbol a trade is applied only as `last + 1` (A): a duplicate from a
 * second ingest or a replay is dropped and counted; a gap (ids that never reached the log) is accepted, counted and
 * remembered — deterministically, since the decision depends on the log alone — and never silent.
 */
import { AggTradeParser } from './agg-trade-parser.ts';
import type { DecodedTradeBatch, RebuildRange } from './cluster-messages.ts';
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
  /** Klines never emitted because their period began before the symbol's history in the log (a join). */
  partial: number;
  /** Ranges handed to the rebuild path (late trades older than the engine's memory). */
  rebuilds: number;
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
  /** Symbols whose history in the log began mid-period, with their first trade's time. */
  readonly joins: Readonly<Record<string, number>>;
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
  readonly #parser = new AggTradeParser();
  #position: number;
  #watermark: number;
  #finals: Kline[] = [];
  #rebuilds: RebuildRange[] = [];
  /** Symbol → its first trade's time, for symbols that joined mid-period: their first periods are incomplete. */
  readonly #joins: Map<string, number>;

  private constructor(partition: number, engine: (sink: { onFinal(kline: Kline): void; onRebuildNeeded(symbol: string, interval: IntervalName, from: number, to: number): void }) => KlineEngine, position: number, watermark: number, counters?: PartitionCounters, joins: Readonly<Record<string, number>> = {}) {
    this.partition = partition;
    this.#joins = new Map(Object.entries(joins));
    this.ingest = new FrameIngest(
      engine({
        onFinal: (kline) => this.#finals.push(kline),
        onRebuildNeeded: (symbol, interval, fromOpenTime, toOpenTime) => {
          this.counters.rebuilds++;
          this.#rebuilds.push({ symbol, interval, fromOpenTime, toOpenTime });
        },
      }),
    );
    this.#position = position;
    this.#watermark = watermark;
    // Counters added since a checkpoint was written start at 0.
    this.counters = { batches: 0, trades: 0, applied: 0, duplicates: 0, gaps: 0, gapTrades: 0, rejected: 0, watermarks: 0, afterEnd: 0, partial: 0, rebuilds: 0, ...counters };
  }

  static create(options: PartitionAggregateOptions): PartitionAggregate {
    return new PartitionAggregate(options.partition, (sink) => new KlineEngine({ intervals: options.intervals, graceMs: options.graceMs }, sink), 0, Number.NEGATIVE_INFINITY);
  }

  static restore(snapshot: PartitionSnapshot): PartitionAggregate {
    return new PartitionAggregate(snapshot.partition, (sink) => KlineEngine.restore(snapshot.engine, sink), snapshot.position, snapshot.watermark, snapshot.counters, snapshot.joins);
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
    const known = this.engine.symbolIndex(batch.header.s) !== undefined;
    if (!finished) ingest.addSymbol(batch.header.s, { priceScale: batch.header.ps, qtyScale: batch.header.qs });
    // Only a symbol's first batch can start its history (a later `j` is a second ingest's: the history exists).
    if (!known && batch.header.j === 1 && batch.frames.length > 0 && this.#parser.parse(batch.frames[0]!)) this.#joins.set(batch.header.s, this.#parser.trade.tradeTime);
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

  /**
   * Finals since the previous call, in order, then the latest state of every changed open kline — but never a kline
   * of a period that began before its symbol's history in the log (a join mid-period): it would be incomplete, and a
   * missing kline (which a backfill from the exchange's klines fills) is better than a wrong one.
   */
  takeOutput(): Kline[] {
    const finals = this.#finals;
    this.#finals = [];
    const updates = this.engine.takeChanged();
    const all = finals.length === 0 ? updates : updates.length === 0 ? finals : finals.concat(updates);
    if (this.#joins.size === 0) return all;
    return all.filter((kline) => {
      const joined = this.#joins.get(kline.symbol);
      if (joined === undefined || kline.openTime > joined || kline.closeTime < joined) return true;
      this.counters.partial++;
      return false;
    });
  }

  /** Ranges for the rebuild path since the previous call (they travel with the output). */
  takeRebuilds(): RebuildRange[] {
    const rebuilds = this.#rebuilds;
    this.#rebuilds = [];
    return rebuilds;
  }

  /** Every open kline now (a full refresh for the live subscribers of a partition that just changed owner). */
  openKlines(): Kline[] {
    return this.engine.openKlines().filter((kline) => {
      const joined = this.#joins.get(kline.symbol);
      return joined === undefined || kline.openTime > joined || kline.closeTime < joined;
    });
  }

  /** Take it right after `takeOutput` (a snapshot holds no pending output). */
  snapshot(): PartitionSnapshot {
    return {
      version: PARTITION_SNAPSHOT_VERSION,
      partition: this.partition,
      position: this.#position,
      watermark: this.#watermark,
      counters: { ...this.counters },
      engine: this.engine.snapshot(),
      joins: Object.fromEntries(this.#joins),
    };
  }
}
