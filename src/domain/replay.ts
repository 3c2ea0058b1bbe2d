/**
 * Replays a recording of aggTrade frames through the engine on simulated time: the clock is the trade time of the
 * frames themselves, so the same input always gives the same klines, byte for byte.
 */
import { AggTradeParser } from './agg-trade-parser.ts';
import { FrameIngest, FrameOutcome, type FrameCounters } from './frame-ingest.ts';
import type { IntervalName } from './interval.ts';
import { KlineEngine, TradeOutcome, type EngineCounters, type GapInfo, type KlineSink, type SymbolScales } from './kline-engine.ts';

export interface ReplayOptions {
  readonly intervals: readonly IntervalName[];
  readonly graceMs: number;
  /** Scales per symbol (inferred from the recording, or given); a symbol missing here takes `defaultScales`. */
  readonly scales?: ReadonlyMap<string, SymbolScales>;
  readonly defaultScales?: SymbolScales;
}

export interface ReplayIssue {
  /** 1-based position of the frame in the recording. */
  readonly frame: number;
  readonly reason: string;
}

export interface ReplaySummary {
  readonly engine: EngineCounters;
  readonly frames: FrameCounters;
  /** Gaps found in aggregate ids; a replay cannot repair them, so it accepts them and goes on. */
  readonly gaps: readonly GapInfo[];
  /** The first rejected frames, with their reasons (at most `MAX_ISSUES`). */
  readonly rejected: readonly ReplayIssue[];
}

const MAX_ISSUES = 100;

export class Replayer {
  readonly #ingest: FrameIngest;
  readonly #gaps: GapInfo[] = [];
  readonly #rejected: ReplayIssue[] = [];
  #position = 0;

  constructor(options: ReplayOptions, sink: KlineSink) {
    const engine = new KlineEngine({ intervals: options.intervals, graceMs: options.graceMs }, sink);
    const defaults = options.defaultScales ?? { priceScale: 8, qtyScale: 8 };
    this.#ingest = new FrameIngest(engine, (symbol) => options.scales?.get(symbol) ?? defaults);
  }

  feed(frame: Uint8Array): void {
    this.#position++;
    const ingest = this.#ingest;
    let outcome: FrameOutcome = ingest.ingest(frame);
    if (outcome === FrameOutcome.Gap) {
      const gap = ingest.engine.lastGap;
      if (this.#gaps.length < MAX_ISSUES) this.#gaps.push({ ...gap });
      ingest.engine.acceptGap(ingest.symbol, ingest.trade.aggId);
      outcome = ingest.applyLast();
    }
    if (outcome === FrameOutcome.Rejected) {
      if (this.#rejected.length < MAX_ISSUES) this.#rejected.push({ frame: this.#position, reason: ingest.lastRejection });
      return;
    }
    if (outcome === TradeOutcome.Applied || outcome === TradeOutcome.Duplicate || outcome === TradeOutcome.Late) {
      ingest.engine.advanceTo(ingest.trade.tradeTime);
    }
  }

  /** End of the recording: the clock runs on to the close of every open period, so every begun kline is final. */
  end(): ReplaySummary {
    this.#ingest.engine.finish();
    return {
      engine: { ...this.#ingest.engine.counters },
      frames: { ...this.#ingest.counters },
      gaps: this.#gaps,
      rejected: this.#rejected,
    };
  }
}

/**
 * Scales from the data itself: per symbol, the most decimals any price and any quantity carries. Binance prints
 * every price of a symbol with its tick size's decimals, so a recording shows them.
 */
export class ScaleInference {
  readonly #parser = new AggTradeParser();
  readonly #scales = new Map<string, { priceScale: number; qtyScale: number }>();
  #lastTradeTime = Number.NEGATIVE_INFINITY;

  feed(frame: Uint8Array): void {
    if (!this.#parser.parse(frame)) return;
    const t = this.#parser.trade;
    if (t.tradeTime > this.#lastTradeTime) this.#lastTradeTime = t.tradeTime;
    const symbol = Buffer.from(frame.buffer, frame.byteOffset + t.symbolStart, t.symbolEnd - t.symbolStart).toString('latin1');
    const known = this.#scales.get(symbol);
    if (known === undefined) this.#scales.set(symbol, { priceScale: t.priceDecimals, qtyScale: t.qtyDecimals });
    else {
      if (t.priceDecimals > known.priceScale) known.priceScale = t.priceDecimals;
      if (t.qtyDecimals > known.qtyScale) known.qtyScale = t.qtyDecimals;
    }
  }

  get scales(): ReadonlyMap<string, SymbolScales> {
    return this.#scales;
  }

  /**
   * The latest trade time of the recording (−Infinity when it has none): where its time ends. A replay that runs
   * every symbol's clock to this before finishing gives the same klines however symbols are spread over workers or
   * processes (each worker's clock otherwise ends at its own symbols' last trade).
   */
  get lastTradeTime(): number {
    return this.#lastTradeTime;
  }
}
