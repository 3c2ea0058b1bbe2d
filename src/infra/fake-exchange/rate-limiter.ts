/**
 * Binance's IP weight limit: weights add up per client IP over fixed calendar minutes of the exchange's clock; the
 * request that takes an IP over the limit gets 429 + Retry-After; any further request from that IP in the same minute
 * (it ignored the 429) gets it banned: 418 + Retry-After until the ban ends.
 */
import type { Clock } from '../clock.ts';

const MINUTE = 60_000;

export type Admission =
  | { readonly kind: 'ok'; readonly used: number }
  | { readonly kind: 'limited'; readonly used: number; readonly retryAfterSeconds: number }
  | { readonly kind: 'banned'; readonly used: number; readonly until: number; readonly retryAfterSeconds: number };

export interface RateLimiterOptions {
  readonly limit: number;
  readonly banMs: number;
  readonly clock: Clock;
}

interface IpState {
  window: number;
  used: number;
  /** Got a 429 in the current window. */
  over: boolean;
  bannedUntil: number;
}

export class RateLimiter {
  readonly limit: number;
  readonly banMs: number;
  readonly #clock: Clock;
  readonly #ips = new Map<string, IpState>();
  /** Bans imposed so far. */
  bans = 0;

  constructor(options: RateLimiterOptions) {
    if (!(options.limit > 0)) throw new RangeError(`weight limit must be > 0, got ${options.limit}`);
    this.limit = options.limit;
    this.banMs = options.banMs;
    this.#clock = options.clock;
  }

  admit(ip: string, weight: number): Admission {
    const now = this.#clock.now();
    const state = this.#state(ip, now);
    if (state.bannedUntil > now) {
      return { kind: 'banned', used: state.used, until: state.bannedUntil, retryAfterSeconds: Math.max(1, Math.ceil((state.bannedUntil - now) / 1000)) };
    }
    if (state.over) {
      state.bannedUntil = now + this.banMs;
      state.over = false;
      this.bans++;
      return { kind: 'banned', used: state.used, until: state.bannedUntil, retryAfterSeconds: Math.max(1, Math.ceil(this.banMs / 1000)) };
    }
    state.used += weight;
    if (state.used > this.limit) {
      state.over = true;
      return { kind: 'limited', used: state.used, retryAfterSeconds: Math.max(1, Math.ceil((state.window + MINUTE - now) / 1000)) };
    }
    return { kind: 'ok', used: state.used };
  }

  /** Weight used by `ip` in the current minute. */
  used(ip: string): number {
    return this.#state(ip, this.#clock.now()).used;
  }

  /** Forgets every IP's weight and ban. */
  reset(): void {
    this.#ips.clear();
  }

  #state(ip: string, now: number): IpState {
    const window = Math.floor(now / MINUTE) * MINUTE;
    let state = this.#ips.get(ip);
    if (state === undefined) {
      state = { window, used: 0, over: false, bannedUntil: 0 };
      this.#ips.set(ip, state);
    } else if (state.window !== window) {
      state.window = window;
      state.used = 0;
      state.over = false;
    }
    return state;
  }
}
