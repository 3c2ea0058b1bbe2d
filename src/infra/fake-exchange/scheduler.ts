/**
 * Time for the fake exchange: a Clock that can also run timers. Everything the fake does over time (publishing at a
 * replay speed, listings, weight windows, pings, connection age, stalls, lags, delays, quiet spells, the miniTicker and
 * kline pushes) goes through one Scheduler, so a test can swap in a ManualScheduler and move time by hand.
 */
import { systemClock, type Clock } from '../clock.ts';
import { KlaggError } from '../../domain/errors.ts';

/** A scheduled callback; `cancel()` is idempotent. */
export interface Timer {
  cancel(): void;
}

export interface Scheduler extends Clock {
  /** Runs `callback` once, `ms` (≥ 0) from now on this scheduler's time. */
  setTimer(ms: number, callback: () => void): Timer;
}

export function isScheduler(clock: Clock): clock is Scheduler {
  return typeof (clock as Partial<Scheduler>).setTimer === 'function';
}

/** Real timers; time read from `clock` (default: the system clock). */
export function systemScheduler(clock: Clock = systemClock): Scheduler {
  return {
    now: () => clock.now(),
    setTimer(ms, callback) {
      const handle = setTimeout(callback, Math.max(0, ms));
      return { cancel: () => clearTimeout(handle) };
    },
  };
}

/** A Clock as given in options: a Scheduler is used as is, a plain Clock gets real timers. */
export function toScheduler(clock: Clock | undefined): Scheduler {
  if (clock === undefined) return systemScheduler();
  return isScheduler(clock) ? clock : systemScheduler(clock);
}

interface PendingTimer {
  readonly due: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
}

/**
 * Time that moves only when told to. `advance(ms)` / `set(time)` fire every timer that falls due on the way, in due
 * order (ties in the order they were set), with `now()` equal to each timer's due time while it runs.
 */
export class ManualScheduler implements Scheduler {
  #now: number;
  #seq = 0;
  #timers: PendingTimer[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /** Timers not yet fired or cancelled. */
  get pending(): number {
    return this.#timers.filter((timer) => !timer.cancelled).length;
  }

  setTimer(ms: number, callback: () => void): Timer {
    const timer: PendingTimer = { due: this.#now + Math.max(0, ms), seq: this.#seq++, callback, cancelled: false };
    this.#timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  advance(ms: number): void {
    this.set(this.#now + ms);
  }

  set(time: number): void {
    if (time < this.#now) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: `a clock does not go back (from ${this.#now} to ${time})` });
    for (;;) {
      this.#timers = this.#timers.filter((timer) => !timer.cancelled);
      let next: PendingTimer | undefined;
      for (const timer of this.#timers) {
        if (timer.due <= time && (next === undefined || timer.due < next.due || (timer.due === next.due && timer.seq < next.seq))) next = timer;
      }
      if (next === undefined) break;
      next.cancelled = true;
      this.#now = Math.max(this.#now, next.due);
      next.callback();
    }
    this.#now = time;
  }
}
