/**
 * What makes a Market publish on its own once started: on the injected clock (a timer set for the next trade or
 * status change, so a generated market or a recording at a numeric speed keeps to its timeline), or at speed 'max' in
 * batches on setImmediate, pausing while the consumers report backpressure. Kept apart from the Market so the
 * market's state (books, statuses, feed) reads without the timer plumbing.
 */
import type { Scheduler, Timer } from './scheduler.ts';

/** How `start()` publishes: on the clock (generated, or a recording at a numeric speed), or as fast as possible. */
export type PublishMode = 'timed' | 'max';

/** The market's side of the pump. */
export interface PumpedMarket {
  /** Publishes every trade due by the market's time. */
  publishDue(): void;
  /** Publishes the next trade whatever its time; false when the source is exhausted. */
  publishOne(): boolean;
  /** Wall-clock ms until the next trade or status change is due; undefined when none is left. */
  wallDelayToNext(): number | undefined;
}

/** Trades published per turn of the event loop at speed 'max', so sockets and timers still get their turn. */
const MAX_BATCH = 1000;

export class PublishingPump {
  readonly #scheduler: Scheduler;
  readonly #mode: PublishMode;
  readonly #market: PumpedMarket;
  #timer: Timer | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #retry: NodeJS.Timeout | undefined;
  #running = false;
  #backpressure: () => boolean = () => false;

  constructor(scheduler: Scheduler, mode: PublishMode, market: PumpedMarket) {
    this.#scheduler = scheduler;
    this.#mode = mode;
    this.#market = market;
  }

  get running(): boolean {
    return this.#running;
  }

  /** At speed 'max', publishing pauses while this returns true (consumers are behind). */
  setBackpressure(check: () => boolean): void {
    this.#backpressure = check;
  }

  /** Starts publishing (the caller checks it is not running). */
  start(): void {
    this.#running = true;
    if (this.#mode === 'max') this.#immediate = setImmediate(this.#pumpMax);
    else this.#pumpTimed();
  }

  /** Stops publishing and cancels every timer. */
  stop(): void {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#immediate = undefined;
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    this.#retry = undefined;
  }

  #pumpTimed = (): void => {
    this.#timer = undefined;
    if (!this.#running) return;
    this.#market.publishDue();
    const wallDelay = this.#market.wallDelayToNext();
    if (wallDelay === undefined) return;
    this.#timer = this.#scheduler.setTimer(wallDelay, this.#pumpTimed);
  };

  #pumpMax = (): void => {
    this.#immediate = undefined;
    this.#retry = undefined;
    if (!this.#running) return;
    if (this.#backpressure()) {
      this.#retry = setTimeout(this.#pumpMax, 2);
      return;
    }
    for (let i = 0; i < MAX_BATCH; i++) {
      if (!this.#market.publishOne()) return;
      if (!this.#running) return;
    }
    this.#immediate = setImmediate(this.#pumpMax);
  };
}
