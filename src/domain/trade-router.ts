/**
 * Routes raw frames to the worker that owns their symbol, for subscribed symbols only. The frame is parsed here once
 * (the byte scanner, no strings) and the parse travels with it, so the worker does not parse it again; the symbol's
 * bytes are looked up in a byte-keyed table.
 */
import { AggTradeParser, type ParsedTrade } from './agg-trade-parser.ts';
import { SymbolTable } from './symbol-table.ts';

const SYMBOL_FIELD = Buffer.from('"s":"');

export class TradeRouter {
  readonly #table = new SymbolTable();
  readonly #workerOf: number[] = [];
  readonly #parser = new AggTradeParser();
  #count = 0;

  /** Routes the symbol's frames to `worker` from now on. */
  route(symbol: string, worker: number): void {
    const index = this.#table.get(symbol);
    if (index >= 0) {
      this.#workerOf[index] = worker;
      return;
    }
    this.#table.set(symbol, this.#count);
    this.#workerOf[this.#count++] = worker;
  }

  /** Stops routing the symbol's frames (unsubscribed). */
  unroute(symbol: string): void {
    const index = this.#table.get(symbol);
    if (index >= 0) this.#workerOf[index] = -1;
  }

  /** The parse of the last frame given to `workerFor` (valid when it returned ≥ 0): hand it on, do not parse twice. */
  get trade(): ParsedTrade {
    return this.#parser.trade;
  }

  /**
   * The worker for this frame: ≥ 0 for a routed symbol (the frame is parsed; see `trade`), −1 when its symbol is not
   * routed, −2 when the frame is not a usable aggTrade (the caller lets a worker count the rejection).
   */
  workerFor(frame: Buffer): number {
    if (!this.#parser.parse(frame)) return -2;
    const index = this.#table.find(frame, this.#parser.trade.symbolStart, this.#parser.trade.symbolEnd);
    return index < 0 ? -1 : this.#workerOf[index]!;
  }

  /**
   * The worker for this frame without parsing it (for workers in other threads, which parse it themselves): the
   * symbol's bytes are found with a native byte search; a frame where that fails is fully parsed instead.
   */
  workerForUnparsed(frame: Buffer): number {
    let start = frame.indexOf(SYMBOL_FIELD);
    const end = start < 0 ? -1 : frame.indexOf(0x22, (start += SYMBOL_FIELD.length));
    if (end < 0) return this.workerFor(frame);
    const index = this.#table.find(frame, start, end);
    return index < 0 ? -1 : this.#workerOf[index]!;
  }
}
