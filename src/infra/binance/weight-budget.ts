/**
 * The request-weight budget of one IP on Binance: callers `acquire` a request's weight before sending it and wait
 * until it fits. The aim is never to see a 429 and so never to earn a 418 ban.
 *
 * Binance counts weight per fixed calendar minute (00:01:00.000–00:01:59.999) and reports the IP's running total in
 * `x-mbx-used-weight-1m`. The budget is `floor(share × limit)` per minute of the injected clock; the rest of the
 * limit (`headroom`) absorbs what this process cannot see: other processes behind the same IP and clock skew.
 *
 * Used weight this minute = max(own estimate, header) at each response, with our later reservations added on top:
 * `own + external`, where `external` is the most the headers ever showed beyond our own count (weight of other
 * processes on the IP). It can fall short by our own requests still travelling, which the headroom covers; it never
 * counts our own requests twice, whatever order the server saw them in.
 *
 * Minute edges: if the server's minute starts earlier or later than ours (clock offset, one-way latency), a burst
 * right after our boundary can land in the server's previous minute on top of a full budget. So within `edgeMs` on
 * either side of a boundary at most `headroom` weight is sent; with skew below `edgeMs` each server minute then
 * holds at most budget + headroom = limit. For the same reason headers of requests sent in the first `edgeMs` of a
 * minute are ignored: they may still count the previous minute.
 *
 * After a 429 nothing is sent until Retry-After has passed (sending then is what gets an IP banned); after a 418
 * nothing is sent until the ban ends, and a ban longer than `maxBanWaitMs` fails every caller at once.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { pino } from 'pino';
import { systemClock, type Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import { BinanceBannedError } from './binance-error.ts';

export const DEFAULT_WEIGHT_LIMIT = 2400;
export const DEFAULT_BUDGET_SHARE = 0.8;

export interface WeightBudgetOptions {
  /** All time comes from it; best the exchange's time (an OffsetClock), so minutes line up with the server's. */
  readonly clock?: Clock;
  /** Waits `ms` on the clock's time line. Default: a real timer (right for the system clock only). */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Share of the limit this process allows itself, (0, 1]. Default 0.8. */
  readonly share?: number;
  /** The exchange's REQUEST_WEIGHT limit per minute. Default 2400; set the real one from exchangeInfo. */
  readonly limit?: number;
  /** Length of the counting window. Default 60 000 (Binance's minute); tests may shrink it. */
  readonly minuteMs?: number;
  /**
   * Half-width of the guarded window around each minute boundary, which sends at most `headroom` (so nothing at
   * share 1). Should exceed clock offset + one-way latency. Default 1000 (minuteMs / 8 if smaller); 0 turns it off.
   */
  readonly edgeMs?: number;
  /** Longest 418 ban to wait out; a longer one fails callers with BinanceBannedError. Default 10 minutes. */
  readonly maxBanWaitMs?: number;
  readonly logger?: Logger;
}

/** What `reserve` hands back, to pass to `observe` with the response's header. */
export interface WeightTicket {
  /** When the weight was counted (the request is sent right after), on the budget's clock. */
  readonly reservedAt: number;
}

interface Waiter {
  readonly weight: number;
  readonly resolve: (ticket: WeightTicket) => void;
  readonly reject: (error: unknown) => void;
}

export class WeightBudget {
  readonly #clock: Clock;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #share: number;
  readonly #minuteMs: number;
  readonly #edgeMs: number;
  readonly #maxBanWaitMs: number;
  readonly #logger: Logger;
  #limit: number;
  #minute = Number.NEGATIVE_INFINITY;
  #own = 0;
  #external = 0;
  #edgeBoundary = Number.NEGATIVE_INFINITY;
  #edgeUsed = 0;
  #blockedUntil = 0;
  #bannedUntil = 0;
  readonly #queue: Waiter[] = [];
  #pumping = false;

  constructor(options: WeightBudgetOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#sleep = options.sleep ?? ((ms) => delay(ms));
    this.#share = options.share ?? DEFAULT_BUDGET_SHARE;
    if (!(this.#share > 0 && this.#share <= 1)) throw new RangeError(`weight budget share must be in (0, 1], got ${this.#share}`);
    this.#minuteMs = options.minuteMs ?? 60_000;
    if (!(Number.isInteger(this.#minuteMs) && this.#minuteMs > 0)) throw new RangeError(`minuteMs must be a positive integer, got ${this.#minuteMs}`);
    this.#edgeMs = options.edgeMs ?? Math.min(1000, Math.floor(this.#minuteMs / 8));
    if (!(this.#edgeMs >= 0 && this.#edgeMs * 4 <= this.#minuteMs)) {
      throw new RangeError(`edgeMs must be from 0 to a quarter of minuteMs (${this.#minuteMs}), got ${this.#edgeMs}`);
    }
    this.#maxBanWaitMs = options.maxBanWaitMs ?? 10 * 60_000;
    this.#logger = options.logger ?? pino({ level: 'silent' });
    this.#limit = DEFAULT_WEIGHT_LIMIT;
    this.setLimit(options.limit ?? DEFAULT_WEIGHT_LIMIT);
  }

  get limit(): number {
    return this.#limit;
  }
  get share(): number {
    return this.#share;
  }
  /** Weight this process allows itself per minute. */
  get budget(): number {
    return Math.floor(this.#share * this.#limit);
  }
  /** The part of the limit left unused for what cannot be seen from here. */
  get headroom(): number {
    return this.#limit - this.budget;
  }
  /** Estimated weight used by this IP in the current minute. */
  get usedThisMinute(): number {
    this.#roll(this.#clock.now());
    return this.#own + this.#external;
  }
  /** No request is sent before this time (429 Retry-After or 418 ban end); 0 when never blocked. */
  get blockedUntil(): number {
    return Math.max(this.#blockedUntil, this.#bannedUntil);
  }
  /** Callers waiting in `acquire`. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Sets the exchange's limit, e.g. from exchangeInfo's REQUEST_WEIGHT/MINUTE/1 rate limit. */
  setLimit(limit: number): void {
    if (!(Number.isInteger(limit) && limit > 0)) throw new RangeError(`weight limit must be a positive integer, got ${limit}`);
    this.#limit = limit;
  }

  /** Waits until a request of `weight` may be sent now, and counts it. */
  async acquire(weight: number): Promise<void> {
    await this.reserve(weight);
  }

  /** As `acquire`, returning the ticket to pass to `observe` with the response's `x-mbx-used-weight-1m`. */
  reserve(weight: number): Promise<WeightTicket> {
    if (!(Number.isInteger(weight) && weight >= 0)) return Promise.reject(new RangeError(`request weight must be a non-negative integer, got ${weight}`));
    if (weight > this.budget) {
      return Promise.reject(new RangeError(`request weight ${weight} exceeds the whole per-minute budget ${this.budget} (${this.#share} × ${this.#limit})`));
    }
    const now = this.#clock.now();
    if (this.#bannedUntil - now > this.#maxBanWaitMs) return Promise.reject(new BinanceBannedError(this.#bannedUntil, now, this.#maxBanWaitMs));
    return new Promise<WeightTicket>((resolve, reject) => {
      this.#queue.push({ weight, resolve, reject });
      void this.#pump();
    });
  }

  /**
   * The server's `x-mbx-used-weight-1m` from a response to a request counted with `ticket` (default: sent now).
   * Ignored when the request was counted in another minute or in the first `edgeMs` of this one, where the server
   * may still be counting the previous minute.
   */
  observe(usedWeight: number, ticket?: WeightTicket): void {
    if (!(Number.isFinite(usedWeight) && usedWeight >= 0)) return;
    const now = this.#clock.now();
    this.#roll(now);
    const sentAt = ticket?.reservedAt ?? now;
    if (Math.floor(sentAt / this.#minuteMs) !== this.#minute || sentAt < this.#minute * this.#minuteMs + this.#edgeMs) return;
    this.#external = Math.max(this.#external, usedWeight - this.#own);
  }

  /**
   * After a 429: nothing is sent until Retry-After has passed (to the next minute when the server gave none). The
   * log line sets what the server counted (`serverUsedWeight`, its header) beside this budget's own estimate and when
   * in its minute the request was counted, which tells a weight miscount from a clock skew or another client.
   */
  rateLimited(retryAfterMs: number | undefined, serverUsedWeight?: number, ticket?: WeightTicket): void {
    const now = this.#clock.now();
    this.#roll(now);
    const until = retryAfterMs === undefined ? (this.#minute + 1) * this.#minuteMs : now + Math.max(0, retryAfterMs);
    this.#blockedUntil = Math.max(this.#blockedUntil, until);
    const sentMsIntoMinute = ticket === undefined ? undefined : ticket.reservedAt - Math.floor(ticket.reservedAt / this.#minuteMs) * this.#minuteMs;
    this.#logger.warn(
      { retryAfterMs, blockedUntil: this.#blockedUntil, serverUsedWeight, estimatedUsedWeight: this.#own + this.#external, budget: this.budget, limit: this.#limit, sentMsIntoMinute },
      'Binance answered 429 (request weight exceeded): all requests paused',
    );
  }

  /** After a 418: nothing is sent until the ban ends. */
  banned(until: number): void {
    const now = this.#clock.now();
    this.#bannedUntil = Math.max(this.#bannedUntil, until);
    this.#logger.error(
      { bannedUntil: this.#bannedUntil, banEnds: new Date(this.#bannedUntil).toISOString(), waitMs: this.#bannedUntil - now },
      'Binance BANNED this IP (HTTP 418) for sending after a 429: no request is sent until the ban ends',
    );
  }

  #roll(now: number): void {
    const minute = Math.floor(now / this.#minuteMs);
    if (minute !== this.#minute) {
      this.#minute = minute;
      this.#own = 0;
      this.#external = 0;
    }
  }

  /** Milliseconds to wait before `weight` fits, 0 when it fits now. Throws when banned for too long. */
  #waitFor(weight: number, now: number): number {
    this.#roll(now);
    if (now < this.#bannedUntil && this.#bannedUntil - now > this.#maxBanWaitMs) {
      throw new BinanceBannedError(this.#bannedUntil, now, this.#maxBanWaitMs);
    }
    const blocked = this.blockedUntil;
    if (now < blocked) return blocked - now;
    if (this.#own + this.#external + weight > this.budget) return (this.#minute + 1) * this.#minuteMs - now;
    const edge = this.#edgeWindow(now);
    if (edge !== undefined) {
      const used = edge === this.#edgeBoundary ? this.#edgeUsed : 0;
      if (used + weight > this.headroom) return edge * this.#minuteMs + this.#edgeMs - now;
    }
    return 0;
  }

  /** The boundary (as a minute number) whose guarded window contains `now`, if any. */
  #edgeWindow(now: number): number | undefined {
    if (this.#edgeMs === 0) return undefined;
    const boundary = Math.round(now / this.#minuteMs);
    const at = boundary * this.#minuteMs;
    return now >= at - this.#edgeMs && now < at + this.#edgeMs ? boundary : undefined;
  }

  #take(weight: number, now: number): WeightTicket {
    this.#own += weight;
    const edge = this.#edgeWindow(now);
    if (edge !== undefined) {
      if (edge !== this.#edgeBoundary) {
        this.#edgeBoundary = edge;
        this.#edgeUsed = 0;
      }
      this.#edgeUsed += weight;
    }
    return { reservedAt: now };
  }

  /** Serves waiters in arrival order; only one pump runs, so only one timer is pending at a time. */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#queue.length > 0) {
        const head = this.#queue[0]!;
        const now = this.#clock.now();
        let wait: number;
        try {
          wait = this.#waitFor(head.weight, now);
        } catch (error) {
          for (const waiter of this.#queue.splice(0)) waiter.reject(error);
          break;
        }
        if (wait > 0) {
          try {
            await this.#sleep(wait);
          } catch (error) {
            for (const waiter of this.#queue.splice(0)) waiter.reject(error);
            break;
          }
          continue;
        }
        this.#queue.shift();
        head.resolve(this.#take(head.weight, now));
      }
    } finally {
      this.#pumping = false;
    }
  }
}
