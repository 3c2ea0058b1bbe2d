/**
 * KlineBackfiller: fills the kline store with the exchange's REST klines for every closed period a symbol should have
 * and does not, before the symbol goes live, a few symbols at a time.
 *
 * What "should have" means, per interval: from the symbol's listing period (for the full-history intervals, default
 * 1d and 1w) or from `depth` periods before the current one (whichever is later), up to the last period closed before
 * `now`. The open period is never backfilled: the live engine owns it.
 *
 * Unlike the original system, which only re-fetched from the last stored kline onwards, the plan is every hole
 * anywhere in that range: the expected periods (enumerated with the interval rules, calendar months included) minus
 * the open times of the FINAL klines stored. A stored in-progress kline of a closed period (a crash before it was
 * finalised) is therefore a hole too, and the exchange's final kline replaces it through the store's version guard.
 * The plan is derived from the store every time and each page is written as it arrives, so an interrupted backfill
 * resumes where it stopped without downloading anything it already stored.
 *
 * Periods the exchange has no kline for (before its first kline, which often comes after the given listing time, or
 * a gap in its own history) would otherwise look like holes forever; ones seen inside an answer (before a kline it
 * did return) are remembered in memory and left out of later plans of this instance.
 */
import type { IntervalName } from '../domain/interval.ts';
import { fixedLengthMs, nextOpenTime, openTimeOf } from '../domain/interval.ts';
import type { Kline } from '../domain/kline.ts';
import type { SymbolScales } from '../domain/kline-engine.ts';
import { formatKlineChecked } from '../domain/kline-format.ts';
import type { BinanceRestClient } from '../infra/binance/rest-client.ts';
import type { RestKline } from '../domain/exchange-api.ts';
import type { Clock } from '../infra/clock.ts';
import type { KlineRow, KlineStore } from '../infra/db/kline-store.ts';
import type { Logger } from '../infra/logger.ts';
import { KlaggError } from '../domain/errors.ts';

export interface KlineBackfillerOptions {
  readonly rest: Pick<BinanceRestClient, 'klinesRange'>;
  readonly store: Pick<KlineStore, 'openTimes' | 'upsert'>;
  readonly venue: string;
  readonly market: string;
  readonly intervals: readonly IntervalName[];
  /** Closed periods wanted per interval, counted back from the current one. Default 1000. */
  readonly depth?: number;
  /** Intervals filled back to the symbol's listing, whatever `depth` says. Default `['1d', '1w']`. */
  readonly fullHistory?: readonly IntervalName[];
  /** Symbols backfilled at once by `run`. Default 2. */
  readonly concurrency?: number;
  /** Klines per request, 1–1500. Default 499, the cheapest weight per kline (2 per page). */
  readonly pageLimit?: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Called after every change of `progress` (a symbol starting or ending, a page written). */
  readonly onProgress?: (progress: BackfillProgress) => void;
  /**
   * A symbol's scales (from its exchangeInfo tick and step sizes): klines are stored with their decimals at them, as
   * the live engine writes its own. Undefined (or no function): stored as the exchange sent them.
   */
  readonly scalesOf?: (symbol: string) => SymbolScales | undefined;
}

/** Consecutive periods `from … to` (open times, both inclusive) of one interval. */
export interface MissingRange {
  readonly interval: IntervalName;
  readonly from: number;
  readonly to: number;
}

export interface BackfillProgress {
  /** Symbols of the current (or last) `run` that finished, failed ones included. */
  readonly symbolsDone: number;
  readonly symbolsFailed: number;
  readonly symbolsTotal: number;
  /** Missing ranges planned so far (each symbol's plan is made when it starts). */
  readonly rangesPlanned: number;
  readonly rangesDone: number;
  readonly klinesFetched: number;
  readonly klinesWritten: number;
  /** Symbols being backfilled now, in the order they started. */
  readonly currentSymbols: readonly string[];
}

export interface SymbolBackfillResult {
  /** Klines the exchange returned. */
  readonly fetched: number;
  /** Rows the store inserted or replaced. */
  readonly written: number;
  /** Missing ranges found (and filled). */
  readonly ranges: number;
}

export type SymbolBackfillOutcome = ({ readonly ok: true } & SymbolBackfillResult) | { readonly ok: false; readonly error: Error };

export interface BackfillSummary {
  readonly symbolsTotal: number;
  readonly symbolsSucceeded: number;
  readonly symbolsFailed: number;
  /** Not started, or interrupted between pages, because of `stop()`. */
  readonly symbolsSkipped: number;
  readonly rangesDone: number;
  readonly klinesFetched: number;
  readonly klinesWritten: number;
  readonly failures: readonly { readonly symbol: string; readonly error: Error }[];
  /** On the backfiller's clock. */
  readonly durationMs: number;
}

/** Thrown inside a symbol's backfill interrupted by `stop()`; `run` counts the symbol as skipped, not failed. */
export class BackfillStoppedError extends Error {
  constructor(symbol: string) {
    super(`backfill of ${symbol} stopped`);
    this.name = 'BackfillStoppedError';
  }
}

const DEFAULT_DEPTH = 1000;
const DEFAULT_FULL_HISTORY: readonly IntervalName[] = ['1d', '1w'];
const DEFAULT_CONCURRENCY = 2;
const DEFAULT_PAGE_LIMIT = 499;
const MAX_PAGE_LIMIT = 1500;
/** Expected periods compared with one read of stored open times; bounds memory for very long ranges. */
const SCAN_WINDOW_PERIODS = 100_000;

interface Span {
  from: number;
  to: number;
}

export class KlineBackfiller {
  readonly #rest: Pick<BinanceRestClient, 'klinesRange'>;
  readonly #store: Pick<KlineStore, 'openTimes' | 'upsert'>;
  readonly #venue: string;
  readonly #market: string;
  readonly #intervals: readonly IntervalName[];
  readonly #depth: number;
  readonly #fullHistory: ReadonlySet<IntervalName>;
  readonly #concurrency: number;
  readonly #pageLimit: number;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #onProgress: ((progress: BackfillProgress) => void) | undefined;
  readonly #scalesOf: ((symbol: string) => SymbolScales | undefined) | undefined;
  /** Per `symbol \0 interval`: sorted, disjoint spans of periods the exchange showed it has no kline for. */
  readonly #absent = new Map<string, Span[]>();
  #symbolsDone = 0;
  #symbolsFailed = 0;
  #symbolsTotal = 0;
  #rangesPlanned = 0;
  #rangesDone = 0;
  #klinesFetched = 0;
  #klinesWritten = 0;
  readonly #current = new Set<string>();
  #running = false;
  #stopped = false;

  constructor(options: KlineBackfillerOptions) {
    const depth = options.depth ?? DEFAULT_DEPTH;
    const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    const pageLimit = options.pageLimit ?? DEFAULT_PAGE_LIMIT;
    if (!(Number.isSafeInteger(depth) && depth >= 0)) throw new RangeError(`depth must be a non-negative integer, got ${depth}`);
    if (!(Number.isSafeInteger(concurrency) && concurrency >= 1)) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
    if (!(Number.isInteger(pageLimit) && pageLimit >= 1 && pageLimit <= MAX_PAGE_LIMIT)) {
      throw new RangeError(`pageLimit must be an integer from 1 to ${MAX_PAGE_LIMIT}, got ${pageLimit}`);
    }
    this.#rest = options.rest;
    this.#store = options.store;
    this.#venue = options.venue;
    this.#market = options.market;
    this.#intervals = [...new Set(options.intervals)];
    this.#depth = depth;
    this.#fullHistory = new Set(options.fullHistory ?? DEFAULT_FULL_HISTORY);
    this.#concurrency = concurrency;
    this.#pageLimit = pageLimit;
    this.#clock = options.clock;
    this.#logger = options.logger.child({ component: 'kline-backfiller' });
    this.#onProgress = options.onProgress;
    this.#scalesOf = options.scalesOf;
  }

  get progress(): BackfillProgress {
    return {
      symbolsDone: this.#symbolsDone,
      symbolsFailed: this.#symbolsFailed,
      symbolsTotal: this.#symbolsTotal,
      rangesPlanned: this.#rangesPlanned,
      rangesDone: this.#rangesDone,
      klinesFetched: this.#klinesFetched,
      klinesWritten: this.#klinesWritten,
      currentSymbols: [...this.#current],
    };
  }

  /**
   * The periods of each interval, oldest first, that the store lacks a final kline for and should have: per interval
   * `[max(listing period, current period − depth)` (the listing period for full-history intervals)`, last period
   * closed before now]`, minus the stored final klines and the periods the exchange showed it has none for. Every
   * hole in that range, merged into runs of consecutive periods, in the order of the configured intervals.
   */
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

  /**
   * Fetches and stores every missing range of the symbol (see missingRanges), page by page, as final klines
   * (`source: 'backfill'`, revision 0, trade and aggregate ids −1: REST klines carry none). Only klines closed before
   * `now` are written. Rejects on the first failure; what was written stays, and the next call resumes from it.
   */
  async backfillSymbol(symbol: string, listedAt: number, now: number): Promise<SymbolBackfillResult> {
    const ranges = await this.missingRanges(symbol, listedAt, now);
    this.#rangesPlanned += ranges.length;
    const log = this.#logger.child({ symbol });
    if (ranges.length > 0) {
      log.debug({ ranges: ranges.map((r) => ({ interval: r.interval, from: new Date(r.from).toISOString(), to: new Date(r.to).toISOString() })) }, 'backfill planned');
    }
    let fetched = 0;
    let written = 0;
    for (const range of ranges) {
      const done = await this.#fetchRange(symbol, range, now, log);
      fetched += done.fetched;
      written += done.written;
      this.#rangesDone += 1;
      this.#emit();
    }
    return { fetched, written, ranges: ranges.length };
  }

  /**
   * Backfills the symbols, at most `concurrency` at once, in the order given. Each symbol is planned against
   * `max(now, clock.now())` when it starts, so symbols reached late in a long run are not left a run's length behind.
   * A symbol's failure is logged, reported to `onSymbolDone` and in the summary, and does not stop the others.
   */
  async run(
    symbols: readonly { readonly symbol: string; readonly listedAt: number }[],
    now: number,
    onSymbolDone?: (symbol: string, outcome: SymbolBackfillOutcome) => void,
  ): Promise<BackfillSummary> {
    checkTime('now', now);
    if (this.#running) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: 'KlineBackfiller.run is already running' });
    this.#running = true;
    this.#stopped = false;
    const startedAt = this.#clock.now();
    this.#symbolsDone = 0;
    this.#symbolsFailed = 0;
    this.#symbolsTotal = symbols.length;
    this.#rangesPlanned = 0;
    this.#rangesDone = 0;
    this.#klinesFetched = 0;
    this.#klinesWritten = 0;
    this.#current.clear();
    this.#emit();
    this.#logger.info({ symbols: symbols.length, concurrency: this.#concurrency, intervals: this.#intervals }, 'backfill started');

    const failures: { symbol: string; error: Error }[] = [];
    let succeeded = 0;
    let skipped = 0;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < symbols.length && !this.#stopped) {
        const { symbol, listedAt } = symbols[next++]!;
        this.#current.add(symbol);
        this.#emit();
        let outcome: SymbolBackfillOutcome | undefined;
        try {
          const result = await this.backfillSymbol(symbol, listedAt, Math.max(now, this.#clock.now()));
          outcome = { ok: true, ...result };
          succeeded += 1;
          this.#logger.info({ symbol, ...result }, 'symbol backfilled');
        } catch (caught) {
          const error = toError(caught);
          if (error instanceof BackfillStoppedError) {
            skipped += 1;
          } else {
            outcome = { ok: false, error };
            failures.push({ symbol, error });
            this.#symbolsFailed += 1;
            this.#logger.error({ symbol, err: error }, 'symbol backfill failed; its holes stay for the next run');
          }
        }
        this.#current.delete(symbol);
        if (outcome !== undefined) this.#symbolsDone += 1;
        this.#emit();
        if (outcome !== undefined && onSymbolDone !== undefined) {
          try {
            onSymbolDone(symbol, outcome);
          } catch (error) {
            this.#logger.error({ symbol, err: toError(error) }, 'onSymbolDone threw');
          }
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(this.#concurrency, symbols.length) }, worker));
    } finally {
      this.#running = false;
    }
    skipped += symbols.length - next;
    const summary: BackfillSummary = {
      symbolsTotal: symbols.length,
      symbolsSucceeded: succeeded,
      symbolsFailed: failures.length,
      symbolsSkipped: skipped,
      rangesDone: this.#rangesDone,
      klinesFetched: this.#klinesFetched,
      klinesWritten: this.#klinesWritten,
      failures,
      durationMs: this.#clock.now() - startedAt,
    };
    const { failures: _, ...counts } = summary;
    if (failures.length > 0) this.#logger.warn({ ...counts, failed: failures.map((f) => f.symbol) }, 'backfill finished with failures');
    else this.#logger.info(counts, 'backfill finished');
    return summary;
  }

  /** Asks a running `run` to finish: no symbol starts any more and the ones in flight stop after their current page. */
  stop(): void {
    this.#stopped = true;
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

  /** One missing range, one request of at most `pageLimit` periods at a time, each page stored before the next. */
  async #fetchRange(symbol: string, range: MissingRange, now: number, log: Logger): Promise<{ fetched: number; written: number }> {
    const { interval, from, to } = range;
    let fetched = 0;
    let written = 0;
    let skippedOpen = 0;
    let skippedMisaligned = 0;
    let overScaleFields = 0;
    const scales = this.#scalesOf?.(symbol);
    /** The first period of the range not yet accounted for by a returned kline (for remembering absences). */
    let expected = from;
    for (let pageFrom = from; pageFrom <= to; ) {
      if (this.#stopped) throw new BackfillStoppedError(symbol);
      const pageTo = Math.min(to, addPeriods(interval, pageFrom, this.#pageLimit - 1));
      const page = await this.#rest.klinesRange(symbol, interval, pageFrom, pageTo, this.#pageLimit);
      fetched += page.length;
      this.#klinesFetched += page.length;
      const rows: KlineRow[] = [];
      for (const rest of page) {
        const next = nextOpenTime(interval, rest.openTime);
        if (openTimeOf(interval, rest.openTime) !== rest.openTime || rest.closeTime !== next - 1) {
          skippedMisaligned += 1;
          continue;
        }
        if (rest.closeTime >= now) {
          skippedOpen += 1;
          continue;
        }
        let kline = toFinalKline(symbol, interval, rest);
        if (scales !== undefined) {
          const checked = formatKlineChecked(kline, scales);
          kline = checked.kline;
          overScaleFields += checked.overScale.length;
        }
        rows.push({ venue: this.#venue, market: this.#market, kline, revision: 0, source: 'backfill' });
        if (rest.openTime >= expected && rest.openTime <= pageTo) {
          if (rest.openTime > expected) this.#markAbsent(symbol, interval, expected, openTimeOf(interval, rest.openTime - 1));
          expected = next;
        }
      }
      // The end of a page that returned klines, after its last one, is not taken as an absence: an exchange that
      // answers fewer than asked would look the same. Only periods before a kline it did return are.
      if (expected > pageFrom && expected <= pageTo) expected = nextOpenTime(interval, pageTo);
      if (rows.length > 0) {
        const count = await this.#store.upsert(rows);
        written += count;
        this.#klinesWritten += count;
      }
      this.#emit();
      pageFrom = nextOpenTime(interval, pageTo);
    }
    if (skippedOpen > 0 || skippedMisaligned > 0) {
      log.warn({ interval, skippedOpen, skippedMisaligned }, 'the exchange returned klines that are not closed or not on the period grid; not stored');
    }
    if (overScaleFields > 0) {
      log.warn({ interval, overScaleFields, scales }, "the exchange returned klines with more decimals than the symbol's scales; stored exact, not rounded");
    }
    if (expected <= to) {
      log.debug({ interval, from: new Date(expected).toISOString(), to: new Date(to).toISOString() }, 'the exchange returned no klines for the end of a missing range');
    }
    return { fetched, written };
  }

  #markAbsent(symbol: string, interval: IntervalName, from: number, to: number): void {
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

  #emit(): void {
    if (this.#onProgress === undefined) return;
    try {
      this.#onProgress(this.progress);
    } catch (error) {
      this.#logger.error({ err: toError(error) }, 'onProgress threw');
    }
  }
}

function toFinalKline(symbol: string, interval: IntervalName, rest: RestKline): Kline {
  return {
    symbol,
    interval,
    openTime: rest.openTime,
    closeTime: rest.closeTime,
    open: rest.open,
    high: rest.high,
    low: rest.low,
    close: rest.close,
    volume: rest.volume,
    quoteVolume: rest.quoteVolume,
    tradeCount: rest.tradeCount,
    takerBuyVolume: rest.takerBuyVolume,
    takerBuyQuoteVolume: rest.takerBuyQuoteVolume,
    firstTradeId: -1,
    lastTradeId: -1,
    lastAggId: -1,
    isFinal: true,
  };
}

/** The open time `count` periods after (before, when negative) the period opening at `openTime`. */
function addPeriods(interval: IntervalName, openTime: number, count: number): number {
  const length = fixedLengthMs(interval);
  if (length !== undefined) return openTime + count * length;
  const date = new Date(openTime);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + count, 1);
}

function absenceKey(symbol: string, interval: IntervalName): string {
  return `${symbol}\u0000${interval}`;
}

function checkTime(name: string, value: number): void {
  if (!(Number.isSafeInteger(value) && value >= 0)) throw new RangeError(`${name} must be a non-negative integer (ms), got ${value}`);
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
