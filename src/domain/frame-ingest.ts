/**
 * Frames in, engine updates out: the hot path from the socket's bytes to the kline state, with every frame that
 * cannot be used counted by reason instead of thrown into the caller's loop.
 */
import { AggTradeParser, describeFailure, FrameError, type ParsedTrade } from './agg-trade-parser.ts';
import { KlineEngine, TradeOutcome, type SymbolScales } from './kline-engine.ts';
import { SymbolTable } from './symbol-table.ts';

/** What became of one frame: a trade outcome, or why no trade came out of it. */
export const FrameOutcome = {
  ...TradeOutcome,
  /** Not a usable aggTrade frame; see `lastRejection`. */
  Rejected: 10,
  /** An aggTrade for a symbol the engine does not know. */
  UnknownSymbol: 11,
  /** An aggTrade for a known symbol that is switched off (not Active): not aggregated. */
  Inactive: 12,
  /** The symbol's intake is held (a gap is being repaired): the caller keeps the frame and offers it again later. */
  Held: 13,
} as const;
export type FrameOutcome = (typeof FrameOutcome)[keyof typeof FrameOutcome];

export interface FrameCounters {
  frames: number;
  malformed: number;
  notAggTrade: number;
  missingField: number;
  badField: number;
  unknownSymbol: number;
  inactive: number;
}

/** Decides what to do with an aggTrade for a symbol not yet in the engine: its scales to add it, or undefined to skip. */
export type UnknownSymbolPolicy = (symbol: string, trade: ParsedTrade) => SymbolScales | undefined;

export class FrameIngest {
  readonly engine: KlineEngine;
  readonly counters: FrameCounters = { frames: 0, malformed: 0, notAggTrade: 0, missingField: 0, badField: 0, unknownSymbol: 0, inactive: 0 };
  readonly #parser = new AggTradeParser();
  readonly #symbols = new SymbolTable();
  readonly #onUnknownSymbol: UnknownSymbolPolicy | undefined;
  #frame: Uint8Array = new Uint8Array(0);
  #symbol = -1;
  /** The trade being handled: this ingest's own parse, or one parsed upstream (`ingestParsed`). */
  #trade: ParsedTrade = this.#parser.trade;
  /** Per engine symbol index: 0 while the symbol is switched off. */
  #enabled = new Uint8Array(64);
  /** Per engine symbol index: 1 while its intake is held. */
  #held = new Uint8Array(64);

  constructor(engine: KlineEngine, onUnknownSymbol?: UnknownSymbolPolicy) {
    this.engine = engine;
    this.#onUnknownSymbol = onUnknownSymbol;
    for (let i = 0; i < engine.symbolCount; i++) {
      this.#symbols.set(engine.symbolName(i), i);
      this.setEnabled(i, true);
    }
  }

  /** Switches a symbol's aggregation on or off (only Active symbols are aggregated). */
  setEnabled(index: number, enabled: boolean): void {
    if (index >= this.#enabled.length) {
      const grown = new Uint8Array(Math.max(this.#enabled.length * 2, index + 1));
      grown.set(this.#enabled);
      this.#enabled = grown;
    }
    this.#enabled[index] = enabled ? 1 : 0;
  }

  isEnabled(index: number): boolean {
    return this.#enabled[index] === 1;
  }

  /** Holds or releases a symbol's intake (while a gap is repaired, later trades must wait their turn). */
  setHeld(index: number, held: boolean): void {
    if (index >= this.#held.length) {
      const grown = new Uint8Array(Math.max(this.#held.length * 2, index + 1));
      grown.set(this.#held);
      this.#held = grown;
    }
    this.#held[index] = held ? 1 : 0;
  }

  /** The trade parsed from the last frame (valid after any outcome but Rejected). */
  get trade(): ParsedTrade {
    return this.#trade;
  }

  /** The engine's index of the last frame's symbol. */
  get symbol(): number {
    return this.#symbol;
  }

  /** Why the last frame was rejected, e.g. `bad-field p`. */
  get lastRejection(): string {
    return describeFailure(this.#trade);
  }

  /** Symbol of the last parsed frame as a string (allocates: for logs and policies, not the hot path). */
  get lastSymbolName(): string {
    const t = this.#trade;
    return Buffer.from(this.#frame.buffer, this.#frame.byteOffset + t.symbolStart, t.symbolEnd - t.symbolStart).toString('latin1');
  }

  addSymbol(symbol: string, scales: SymbolScales): number {
    const known = this.#symbols.get(symbol);
    if (known >= 0) return known;
    const index = this.engine.addSymbol(symbol, scales);
    this.#symbols.set(symbol, index);
    this.setEnabled(index, true);
    return index;
  }

  ingest(frame: Uint8Array): FrameOutcome {
    if (!this.#parser.parse(frame)) {
      this.counters.frames++;
      this.#frame = frame;
      this.#trade = this.#parser.trade;
      this.#countRejection(this.#trade.error);
      return FrameOutcome.Rejected;
    }
    return this.ingestParsed(frame, this.#parser.trade);
  }

  /** Like `ingest`, for a frame already parsed successfully upstream (a router parses once for everyone). */
  ingestParsed(frame: Uint8Array, t: ParsedTrade): FrameOutcome {
    this.counters.frames++;
    this.#frame = frame;
    this.#trade = t;
    let symbol = this.#symbols.find(frame, t.symbolStart, t.symbolEnd);
    if (symbol < 0) {
      const name = this.lastSymbolName;
      const scales = this.#onUnknownSymbol?.(name, t);
      if (scales === undefined) {
        this.counters.unknownSymbol++;
        this.#symbol = -1;
        return FrameOutcome.UnknownSymbol;
      }
      symbol = this.addSymbol(name, scales);
    }
    this.#symbol = symbol;
    if (this.#enabled[symbol] !== 1) {
      this.counters.inactive++;
      return FrameOutcome.Inactive;
    }
    if (this.#held[symbol] === 1) return FrameOutcome.Held;
    return this.applyLast();
  }

  /** Offers the last parsed trade to the engine (again, e.g. after a gap was repaired or accepted). */
  applyLast(): TradeOutcome {
    const t = this.#trade;
    return this.engine.applyTrade(
      this.#symbol,
      t.aggId,
      t.priceMantissa,
      t.priceDecimals,
      t.qtyMantissa,
      t.qtyDecimals,
      t.firstTradeId,
      t.lastTradeId,
      t.tradeTime,
      t.buyerIsMaker,
    );
  }

  #countRejection(error: FrameError): void {
    switch (error) {
      case FrameError.NotAggTrade:
        this.counters.notAggTrade++;
        break;
      case FrameError.MissingField:
        this.counters.missingField++;
        break;
      case FrameError.BadField:
        this.counters.badField++;
        break;
      default:
        this.counters.malformed++;
    }
  }
}
