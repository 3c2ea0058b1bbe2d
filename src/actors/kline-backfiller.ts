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
 *
 * This file holds the scheduling of symbols (a few at a time), their outcomes and the progress reports; the plan is
 * in backfill-planner.ts and the page fetch/write loop in backfill-range-fetch.ts.
 */
import type { IntervalName } from '../domain/interval.ts';
import type { SymbolScales } from '../domain/kline-engine.ts';
import type { BinanceRestClient } from '../infra/binance/rest-client.ts';
import type { Clock } from '../infra/clock.ts';
import type { KlineStore } from '../infra/db/kline-store.ts';
import type { Logger } from '../infra/logger.ts';
import { KlaggError } from '../domain/errors.ts';
import { BackfillPlanner, checkTime, type MissingRange } from './backfill-planner.ts';
import { BackfillStoppedError, fetchMissingRange, type RangeFetchContext } from './backfill-range-fetch.ts';

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

const DEFAULT_DEPTH = 1000;
const DEFAULT_FULL_HISTORY: readonly IntervalName[] = ['1d', '1w'];
const DEFAULT_CONCURRENCY = 2;
const DEFAULT_PAGE_LIMIT = 499;
const MAX_PAGE_LIMIT = 1500;

export class KlineBackfiller {
  readonly #intervals: readonly IntervalName[];
  readonly #concurrency: number;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #onProgress: ((progress: BackfillProgress) => void) | undefined;
  readonly #planner: BackfillPlanner;
  readonly #fetch: RangeFetchContext;
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
    this.#intervals = [...new Set(options.intervals)];
    this.#concurrency = concurrency;
    this.#clock = options.clock;
    this.#logger = options.logger.child({ component: 'kline-backfiller' });
    this.#onProgress = options.onProgress;
    this.#planner = new BackfillPlanner({
      store: options.store,
      venue: options.venue,
      market: options.market,
      intervals: this.#intervals,
      depth,
      fullHistory: new Set(options.fullHistory ?? DEFAULT_FULL_HISTORY),
    });
    this.#fetch = {
      rest: options.rest,
      store: options.store,
      venue: options.venue,
      market: options.market,
      pageLimit,
      scalesOf: options.scalesOf,
      stopped: () => this.#stopped,
      fetched: (count) => {
        this.#klinesFetched += count;
      },
      written: (count) => {
        this.#klinesWritten += count;
      },
      pageDone: () => this.#emit(),
      markAbsent: (symbol, interval, from, to) => this.#planner.markAbsent(symbol, interval, from, to),
    };
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
  missingRanges(symbol: string, listedAt: number, now: number): Promise<MissingRange[]> {
    return this.#planner.missingRanges(symbol, listedAt, now);
  }

  /** The range of open times wanted for one interval (see missingRanges), undefined when it is empty. */
  targetRange(interval: IntervalName, listedAt: number, now: number): { from: number; to: number } | undefined {
    return this.#planner.targetRange(interval, listedAt, now);
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
      const done = await fetchMissingRange(this.#fetch, symbol, range, now, log);
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
    let quartersLogged = 0;
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
          // Per symbol at debug: a start backfills every symbol, and the quarters below say how far it got.
          this.#logger.debug({ symbol, ...result }, 'symbol backfilled');
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
        const quarter = Math.floor((4 * this.#symbolsDone) / symbols.length);
        if (quarter > quartersLogged && this.#symbolsDone < symbols.length) {
          quartersLogged = quarter;
          this.#logger.info({ symbolsDone: this.#symbolsDone, symbolsTotal: symbols.length, klinesWritten: this.#klinesWritten }, `backfill ${quarter * 25} % done`);
        }
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

  #emit(): void {
    if (this.#onProgress === undefined) return;
    try {
      this.#onProgress(this.progress);
    } catch (error) {
      this.#logger.error({ err: toError(error) }, 'onProgress threw');
    }
  }
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
