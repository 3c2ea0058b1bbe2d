/**
 * A TradeFeed wrapper that can make one symbol go quiet (the `withholdTail` fault): from `quiet(symbol, until)` on,
 * the symbol's next trade is not published before `until`, and every later trade of the symbol keeps its spacing
 * after it (the symbol runs behind its source by a fixed offset from then on). Deferred trades get their new
 * publication time as trade time, so REST aggTrades, the klines and the streams all agree; ids and order within the
 * symbol are unchanged, so ids stay contiguous. Other symbols are untouched.
 *
 * The source yields trades in time order; a deferred symbol's trades are pulled ahead into a per-symbol queue while
 * the others pass through. Until the first `quiet`, every call goes straight to the source.
 */
import type { AggTrade } from '../../domain/agg-trade.ts';
import type { TradeFeed } from './generated-source.ts';

interface Shift {
  /** Added to the source's trade times of the symbol. */
  offset: number;
  /** No trade of the symbol is due before this. */
  notBefore: number;
}

interface Queued {
  readonly trade: AggTrade;
  readonly seq: number;
}

interface Head {
  readonly symbol: string;
  /** Undefined: the source's next trade, passed straight through. */
  readonly queued: Queued | undefined;
  readonly due: number;
  readonly trade: AggTrade;
}

export class DeferringFeed implements TradeFeed {
  readonly #source: TradeFeed;
  readonly #shifts = new Map<string, Shift>();
  /**
   * Per shifted symbol, its trades taken from the source and not yet from here, in order. Only shifted symbols are
   * queued: the others pass straight through (queueing every symbol made each trade a scan of ~300 queues, which
   * saturated the soak's harness at 20,000 trades/s once a symbol had gone quiet, and it then published its backlog
   * as one burst of millions).
   */
  readonly #queues = new Map<string, Queued[]>();
  #buffered = 0;
  #seq = 0;
  #head: Head | undefined;

  constructor(source: TradeFeed) {
    this.#source = source;
  }

  /** Trades pulled ahead of their (deferred) time. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Nothing of `symbol` is published before `until` (later spells only ever push it further). */
  quiet(symbol: string, until: number): void {
    const shift = this.#shifts.get(symbol);
    if (shift === undefined) this.#shifts.set(symbol, { offset: 0, notBefore: until });
    else shift.notBefore = Math.max(shift.notBefore, until);
    this.#head = undefined;
  }

  peek(): AggTrade | undefined {
    if (this.#shifts.size === 0) return this.#source.peek();
    return this.#findHead()?.trade;
  }

  take(): AggTrade | undefined {
    if (this.#shifts.size === 0) return this.#source.take();
    const head = this.#findHead();
    if (head === undefined) return undefined;
    this.#head = undefined;
    if (head.queued === undefined) return this.#source.take();
    const queue = this.#queues.get(head.symbol)!;
    queue.shift();
    if (queue.length === 0) this.#queues.delete(head.symbol);
    this.#buffered--;
    const shift = this.#shifts.get(head.symbol)!;
    shift.offset = head.due - head.queued.trade.tradeTime;
    return head.trade;
  }

  #dueOf(symbol: string, trade: AggTrade): number {
    const shift = this.#shifts.get(symbol)!;
    return Math.max(trade.tradeTime + shift.offset, shift.notBefore);
  }

  /**
   * The next trade: the earliest due queued trade of a shifted symbol, or the source's next trade when it is of an
   * unshifted symbol and not later (a queued trade wins a tie). The source's trades of shifted symbols are pulled into
   * their queues on the way.
   */
  #findHead(): Head | undefined {
    if (this.#head !== undefined) return this.#head;
    for (;;) {
      let best: { symbol: string; queued: Queued; due: number } | undefined;
      for (const [symbol, queue] of this.#queues) {
        const queued = queue[0]!;
        const due = this.#dueOf(symbol, queued.trade);
        if (best === undefined || due < best.due || (due === best.due && queued.seq < best.queued.seq)) best = { symbol, queued, due };
      }
      const upcoming = this.#source.peek();
      // Shifts only delay: nothing still in the source is due before its own (source) time.
      if (upcoming === undefined || (best !== undefined && best.due <= upcoming.tradeTime)) {
        if (best === undefined) return undefined;
        const original = best.queued.trade;
        const trade = best.due === original.tradeTime ? original : { ...original, tradeTime: best.due };
        this.#head = { ...best, trade };
        return this.#head;
      }
      if (!this.#shifts.has(upcoming.symbol)) {
        this.#head = { symbol: upcoming.symbol, queued: undefined, due: upcoming.tradeTime, trade: upcoming };
        return this.#head;
      }
      const pulled = this.#source.take()!;
      let queue = this.#queues.get(pulled.symbol);
      if (queue === undefined) {
        queue = [];
        this.#queues.set(pulled.symbol, queue);
      }
      queue.push({ trade: pulled, seq: this.#seq++ });
      this.#buffered++;
    }
  }
}
