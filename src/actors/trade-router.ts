/**
 * Routes raw frames to the worker that owns their symbol, for subscribed symbols only — without decoding: the
 * symbol's bytes are found with a native byte search and looked up in a byte-keyed table. The worker's own parser
 * validates the frame fully; this only has to find the right worker quickly.
 */
import { AggTradeParser } from '../domain/agg-trade-parser.ts';
import { SymbolTable } from '../domain/symbol-table.ts';

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

  /** The worker for this frame, or −1 when its symbol is not routed (or no symbol can be found). */
  workerFor(frame: Buffer): number {
    let start = frame.indexOf(SYMBOL_FIELD);
    let end = -1;
    if (start >= 0) {
      start += SYMBOL_FIELD.length;
      end = frame.indexOf(0x22, start);
    }
    if (end < 0) {
      // Unusual spacing or order: fall back to a full parse to find the symbol.
      if (!this.#parser.parse(frame)) return -1;
      start = this.#parser.trade.symbolStart;
      end = this.#parser.trade.symbolEnd;
    }
    const index = this.#table.find(frame, start, end);
    return index < 0 ? -1 : this.#workerOf[index]!;
  }
}
