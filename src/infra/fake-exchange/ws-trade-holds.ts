/**
 * The `delay` fault: the aggTrade frames of a symbol (or of every symbol) are held for a while, then sent all at once,
 * in order, with their original event times — a burst of late frames, nothing lost.
 */
import type { AggTrade } from '../../domain/agg-trade.ts';
import type { Scheduler, Timer } from './scheduler.ts';

/** A trade held back, with the event time it was published at. */
interface HeldTrade {
  readonly trade: AggTrade;
  readonly eventTime: number;
}

const ALL_SYMBOLS = '*';

export class TradeHolds {
  readonly #scheduler: Scheduler;
  readonly #send: (trade: AggTrade, eventTime: number) => void;
  /** Symbol (or ALL_SYMBOLS) → until when its aggTrade frames are held. */
  readonly #holds = new Map<string, number>();
  /** Per symbol, the aggTrade events held, in order. */
  readonly #held = new Map<string, HeldTrade[]>();
  readonly #timers = new Set<Timer>();

  /** `send` delivers a released trade to its subscribers. */
  constructor(scheduler: Scheduler, send: (trade: AggTrade, eventTime: number) => void) {
    this.#scheduler = scheduler;
    this.#send = send;
  }

  /** Holds the frames of `symbol` (undefined: every symbol) for `ms` of the fake's clock. */
  delay(symbol: string | undefined, ms: number): void {
    const key = symbol ?? ALL_SYMBOLS;
    const until = this.#scheduler.now() + ms;
    this.#holds.set(key, Math.max(this.#holds.get(key) ?? Number.NEGATIVE_INFINITY, until));
    const timer = this.#scheduler.setTimer(ms, () => {
      this.#timers.delete(timer);
      this.#release();
    });
    this.#timers.add(timer);
  }

  /** Takes the trade when its symbol is held now (true), after sending what is due; false: send it yourself. */
  hold(trade: AggTrade, eventTime: number): boolean {
    if (this.#holds.size === 0) return false;
    this.#release();
    if (!this.#isHeld(trade.symbol, this.#scheduler.now())) return false;
    let queue = this.#held.get(trade.symbol);
    if (queue === undefined) {
      queue = [];
      this.#held.set(trade.symbol, queue);
    }
    queue.push({ trade, eventTime });
    return true;
  }

  close(): void {
    for (const timer of this.#timers) timer.cancel();
    this.#timers.clear();
  }

  #isHeld(symbol: string, now: number): boolean {
    return (this.#holds.get(symbol) ?? Number.NEGATIVE_INFINITY) > now || (this.#holds.get(ALL_SYMBOLS) ?? Number.NEGATIVE_INFINITY) > now;
  }

  /** Sends, in order, what is held for symbols no longer held. */
  #release(): void {
    if (this.#holds.size === 0) return;
    const now = this.#scheduler.now();
    for (const [symbol, queue] of this.#held) {
      if (this.#isHeld(symbol, now)) continue;
      this.#held.delete(symbol);
      for (const { trade, eventTime } of queue) this.#send(trade, eventTime);
    }
    for (const [key, until] of this.#holds) if (until <= now) this.#holds.delete(key);
  }
}
