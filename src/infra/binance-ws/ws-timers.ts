/**
 * Time for a stream server's per-connection rules (message rate, server pings, connection age): the fake exchange
 * runs them on its Scheduler (a test moves time by hand), klagg on real monotonic time.
 */

/** A scheduled callback; `cancel()` is idempotent. */
export interface WsTimer {
  cancel(): void;
}

export interface WsTimers {
  now(): number;
  setTimer(ms: number, callback: () => void): WsTimer;
}

/** Monotonic real time (performance.now) and real timers. */
export const realWsTimers: WsTimers = {
  now: () => performance.now(),
  setTimer(ms, callback) {
    const handle = setTimeout(callback, Math.max(0, ms));
    return { cancel: () => clearTimeout(handle) };
  },
};
