/**
 * What a worker owns, as plain code: the kline engine for its partitions' symbols, which of them are Active, the finals
 * not yet pulled, and the last trade time per symbol. The per-trade path (`ingest`) is here and never touches XState;
 * the worker actor (`worker.ts`) drives the rest with events. Nothing here reads a clock.
 */
import type { ParsedTrade } from '../domain/agg-trade-parser.ts';
import { FrameIngest, FrameOutcome } from '../domain/frame-ingest.ts';
import type { IntervalName } from '../domain/interval.ts';
import { KlineEngine, type GapInfo, type SymbolScales } from '../domain/kline-engine.ts';
import type { Kline } from '../domain/kline.ts';

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

export interface PartitionWorkerOptions {
  readonly id: number;
  readonly intervals: readonly IntervalName[];
  readonly graceMs: number;
  /**
   * Simulated time (replays): each trade's own time advances this worker's clock, so quiet symbols close as they
   * would have live — without a timer or an event per trade.
   */
  readonly clockFromTrades?: boolean;
}

const MAX_REMEMBERED_GAPS = 1000;

export class PartitionWorker {
  readonly id: number;
  readonly ingest: FrameIngest;
  /** Gaps seen and accepted (repair arrives with exchange I/O); the most recent ones. */
  readonly gaps: GapInfo[] = [];
  #finals: Kline[] = [];
  /** Per symbol index: last trade time since the previous pull (0: none), and which symbols traded. */
  #lastTradeTime: number[] = [];
  #traded: number[] = [];
  readonly #clockFromTrades: boolean;

  constructor(options: PartitionWorkerOptions) {
    this.id = options.id;
    this.#clockFromTrades = options.clockFromTrades ?? false;
    const engine = new KlineEngine({ intervals: options.intervals, graceMs: options.graceMs }, { onFinal: (kline) => this.#finals.push(kline) });
    this.ingest = new FrameIngest(engine);
  }

  get engine(): KlineEngine {
    return this.ingest.engine;
  }

  /**
   * Makes a symbol Active: registers it and installs its latest stored klines so open klines continue where the
   * store left them. Returns the symbol's position (last aggregate id, −1 if unknown) for the subscription.
   */
  activate(symbol: string, scales: SymbolScales, initialData: readonly Kline[]): number {
    for (const kline of initialData) {
      if (kline.symbol !== symbol) throw new Error(`initial data for ${symbol} holds a kline of ${kline.symbol}`);
    }
    const index = this.ingest.addSymbol(symbol, scales);
    for (const kline of initialData) this.engine.installKline(kline);
    this.ingest.setEnabled(index, true);
    return this.engine.lastAggIdOf(index);
  }

  /** The symbol's last applied aggregate id (−1 when none, or when the symbol is unknown). */
  positionOf(symbol: string): number {
    const index = this.engine.symbolIndex(symbol);
    return index === undefined ? -1 : this.engine.lastAggIdOf(index);
  }

  deactivate(symbol: string): void {
    const index = this.engine.symbolIndex(symbol);
    if (index !== undefined) this.ingest.setEnabled(index, false);
  }

  isActive(symbol: string): boolean {
    const index = this.engine.symbolIndex(symbol);
    return index !== undefined && this.ingest.isEnabled(index);
  }

  /** The per-trade path: one frame from the socket (or a recording). */
  ingestFrame(frame: Uint8Array): FrameOutcome {
    return this.#handle(this.ingest.ingest(frame));
  }

  /** The per-trade path for a frame a router already parsed (in-process: parse once, not once per hop). */
  ingestParsed(frame: Uint8Array, trade: ParsedTrade): FrameOutcome {
    return this.#handle(this.ingest.ingestParsed(frame, trade));
  }

  #handle(first: FrameOutcome): FrameOutcome {
    const ingest = this.ingest;
    let outcome = first;
    if (outcome === FrameOutcome.Gap) {
      // Repair (fetching the missing ids over REST) arrives with exchange I/O; until then the gap is accepted,
      // counted and remembered, so it is never silent.
      if (this.gaps.length >= MAX_REMEMBERED_GAPS) this.gaps.shift();
      this.gaps.push({ ...this.engine.lastGap });
      this.engine.acceptGap(ingest.symbol, ingest.trade.aggId);
      outcome = ingest.applyLast();
    }
    if (outcome === FrameOutcome.Applied) {
      const symbol = ingest.symbol;
      if (this.#lastTradeTime[symbol] === undefined || this.#lastTradeTime[symbol] === 0) this.#traded.push(symbol);
      this.#lastTradeTime[symbol] = ingest.trade.tradeTime;
    }
    if (this.#clockFromTrades && outcome !== FrameOutcome.Rejected) this.engine.advanceTo(ingest.trade.tradeTime);
    return outcome;
  }

  advanceTo(now: number): void {
    this.engine.advanceTo(now);
  }

  /** End of input (a replay's recording ended): every begun kline becomes final. */
  finish(): void {
    this.engine.finish();
  }

  takeDeltas(seq: number): DeltaBatch {
    const finals = this.#finals;
    this.#finals = [];
    const lastTradeTimes: Record<string, number> = {};
    for (const index of this.#traded) {
      lastTradeTimes[this.engine.symbolName(index)] = this.#lastTradeTime[index]!;
      this.#lastTradeTime[index] = 0;
    }
    this.#traded = [];
    return Object.freeze({ workerId: this.id, seq, finals, updates: this.engine.takeChanged(), lastTradeTimes });
  }

  /** Every open kline: the full snapshot a new consumer starts from. */
  openKlines(): Kline[] {
    return this.engine.openKlines();
  }
}
