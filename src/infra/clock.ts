/**
 * Time comes from a Clock, never from Date.now() in the code that decides: tests and replays run on simulated time.
 */
import { KlaggError } from '../domain/errors.ts';
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told to: for tests and replays on simulated time. */
export class ManualClock implements Clock {
  #now: number;
  constructor(start = 0) {
    this.#now = start;
  }
  now(): number {
    return this.#now;
  }
  set(time: number): void {
    if (time < this.#now) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: `a clock does not go back (from ${this.#now} to ${time})` });
    this.#now = time;
  }
  advance(ms: number): void {
    this.set(this.#now + ms);
  }
}

/** The exchange's time as seen from here: local clock + a measured offset (`/fapi/v1/time`). */
export class OffsetClock implements Clock {
  readonly #base: Clock;
  #offsetMs = 0;
  constructor(base: Clock) {
    this.#base = base;
  }
  now(): number {
    return this.#base.now() + this.#offsetMs;
  }
  get offsetMs(): number {
    return this.#offsetMs;
  }
  setOffset(offsetMs: number): void {
    this.#offsetMs = Math.round(offsetMs);
  }

  /** One measurement: the server's time against the midpoint of the request's round trip. */
  record(sentAt: number, serverTime: number, receivedAt: number): void {
    this.#offsetMs = Math.round(serverTime - (sentAt + receivedAt) / 2);
  }
}
