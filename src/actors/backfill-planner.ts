/**
 * The backfill plan: which closed periods of a symbol the store should have and lacks. Per interval the target is
 * from the symbol's listing period (full-history intervals) or `depth` periods before the current one (whichever is
 * later) up to the last period closed before `now`; the plan is every hole anywhere in it — the expected periods
 * (enumerated with the interval rules, calendar months included) minus the open times of the FINAL klines stored,
 * minus the periods the exchange showed it has no kline for (remembered in memory by `markAbsent`).
 *
 * Kept apart from KlineBackfiller because the plan is read from the store every time (so an interrupted backfill
 * resumes where it stopped) and has nothing to do with fetching or progress.
 */
import type { IntervalName } from '../domain/interval.ts';
import { fixedLengthMs, nextOpenTime, openTimeOf } from '../domain/interval.ts';
import type { KlineStore } from '../infra/db/kline-store.ts';

/** Consecutive periods `from … to` (open times, both inclusive) of one interval. */
export interface MissingRange {
  readonly interval: IntervalName;
  readonly from: number;
  readonly to: number;
}

export interface BackfillPlannerOptions {
  readonly store: Pick<KlineStore, 'openTimes'>;
  readonly venue: string;
  readonly market: string;
  /** Distinct, in the order plans list them. */
  readonly intervals: readonly IntervalName[];
  readonly depth: number;
  readonly fullHistory: ReadonlySet<IntervalName>;
}

/** Expected periods compared with one read of stored open times; bounds memory for very long ranges. */
const SCAN_WINDOW_PERIODS = 100_000;

interface Span {
  from: number;
  to: number;
}

export class BackfillPlanner {
  readonly #store: Pick<KlineStore, 'openTimes'>;
  readonly #venue: string;
  readonly #market: string;
  readonly #intervals: readonly IntervalName[];
  readonly #depth: number;
  readonly #fullHistory: ReadonlySet<IntervalName>;
  /** Per `symbol \0 interval`: sorted, disjoint spans of periods the exchange showed it has no kline for. */
  readonly #absent = new Map<string, Span[]>();

  constructor(options: BackfillPlannerOptions) {
    this.#store = options.store;
    this.#venue = options.venue;
    this.#market = options.market;
    this.#intervals = options.intervals;
    this.#depth = options.depth;
    this.#fullHistory = options.fullHistory;
  }

  /** See KlineBackfiller.missingRanges. */
  async missingRanges(symbol: string, listedAt: number, now: number): Promise<MissingRange[]> {
    checkTime('now', now);
    if (!Number.isFinite(listedAt)) throw new RangeError(`listedAt must be a time in ms, got ${listedAt}`);
    const result: MissingRange[] = [];
    for (const interval of this.#intervals) {
      const target = this.targetRange(interval, listedAt, now);
      if (target === undefined) continue;
      result.push(...(await this.#holes(symbol, interval, target.from, target.to)));
    }
    return result;
  }

  /** The range of open times wanted for one interval (see missingRanges), undefined when it is empty. */
  targetRange(interval: IntervalName, listedAt: number, now: number): { from: number; to: number } | undefined {
    const current = openTimeOf(interval, now);
    const to = openTimeOf(interval, current - 1);
    const listing = openTimeOf(interval, Math.max(0, listedAt));
    const from = this.#fullHistory.has(interval) ? listing : Math.max(listing, addPeriods(interval, current, -this.#depth));
    if (from > to || to < 0) return undefined;
    return { from, to };
  }

  /** Remembers that the exchange has no kline for the periods `from … to`: later plans leave them out. */
  markAbsent(symbol: string, interval: IntervalName, from: number, to: number): void {
    const key = absenceKey(symbol, interval);
    const spans = this.#absent.get(key) ?? [];
    spans.push({ from, to });
    spans.sort((x, y) => x.from - y.from);
    const merged: Span[] = [];
    for (const span of spans) {
      const last = merged[merged.length - 1];
      if (last !== undefined && span.from <= nextOpenTime(interval, last.to)) last.to = Math.max(last.to, span.to);
      else merged.push({ ...span });
    }
    this.#absent.set(key, merged);
  }

  /** Merged runs of expected periods in [from, to] that have neither a final stored kline nor a known absence. */
  async #holes(symbol: string, interval: IntervalName, from: number, to: number): Promise<MissingRange[]> {
    const holes: MissingRange[] = [];
    const absent = this.#absent.get(absenceKey(symbol, interval)) ?? [];
    let a = 0;
    let holeFrom: number | undefined;
    let holeTo = 0;
    const length = fixedLengthMs(interval);
    for (let windowFrom = from; windowFrom <= to; ) {
      const windowTo = length === undefined ? to : Math.min(to, windowFrom + (SCAN_WINDOW_PERIODS - 1) * length);
      const stored = await this.#store.openTimes(this.#venue, this.#market, symbol, interval, windowFrom, windowTo, { finalOnly: true });
      let s = 0;
      for (let time = windowFrom; time <= windowTo; time = nextOpenTime(interval, time)) {
        while (s < stored.length && stored[s]! < time) s += 1;
        while (a < absent.length && absent[a]!.to < time) a += 1;
        const covered = stored[s] === time || (a < absent.length && absent[a]!.from <= time);
        if (!covered) {
          holeFrom ??= time;
          holeTo = time;
        } else if (holeFrom !== undefined) {
          holes.push({ interval, from: holeFrom, to: holeTo });
          holeFrom = undefined;
        }
      }
      windowFrom = nextOpenTime(interval, windowTo);
    }
    if (holeFrom !== undefined) holes.push({ interval, from: holeFrom, to: holeTo });
    return holes;
  }
}

/** The open time `count` periods after (before, when negative) the period opening at `openTime`. */
export function addPeriods(interval: IntervalName, openTime: number, count: number): number {
  const length = fixedLengthMs(interval);
  if (length !== undefined) return openTime + count * length;
  const date = new Date(openTime);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + count, 1);
}

export function checkTime(name: string, value: number): void {
  if (!(Number.isSafeInteger(value) && value >= 0)) throw new RangeError(`${name} must be a non-negative integer (ms), got ${value}`);
}

function absenceKey(symbol: string, interval: IntervalName): string {
  return `${symbol}\u0000${interval}`;
}
