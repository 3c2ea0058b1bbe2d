/**
 * Klines the trades cannot make any more: when the exchange no longer has the trades of a gap, the klines that span it
 * are rebuilt from the exchange's own klines once those periods are closed, and stored as a new revision marked
 * `repair` — a correction is always a visible revision, never a silent overwrite. The same path takes late trades
 * older than the engine's amendment memory. Rebuilt klines are published like any other revision (stored, and pushed
 * to stream clients), each with a revision above the one stored.
 */
import { nextOpenTime, openTimeOf, type IntervalName } from '../domain/interval.ts';
import type { Kline } from '../domain/kline.ts';
import type { SymbolScales } from '../domain/kline-engine.ts';
import { formatKlineChecked } from '../domain/kline-format.ts';
import type { RestKline } from '../domain/exchange-api.ts';
import type { Logger } from '../infra/logger.ts';
import type { KlineRecord } from '../domain/kline-sink.ts';
import type { RebuildRequest, UnrepairedGap } from './partition-worker/partition-worker.ts';

/** A kline as the exchange's REST `/fapi/v1/klines` gives it (decimals as the exact strings). */
export type ExchangeKline = RestKline;

export interface KlineRebuilderOptions {
  readonly venue: string;
  readonly market: string;
  readonly intervals: readonly IntervalName[];
  readonly fetchKlines: (symbol: string, interval: IntervalName, startTime: number, endTime: number) => Promise<readonly ExchangeKline[]>;
  readonly write: (records: readonly KlineRecord[]) => void;
  /** The stored revision of each kline of the range (by open time), so a rebuild always goes one above it. */
  readonly storedRevisions?: (symbol: string, interval: IntervalName, from: number, to: number) => Promise<ReadonlyMap<number, number>>;
  readonly logger: Logger;
  /** When work arrives (for the age of the oldest pending rebuild); default Date.now. */
  readonly now?: () => number;
  /**
   * A symbol's scales (from its exchangeInfo tick and step sizes): rebuilt klines are written with their decimals at
   * them, as the live engine writes its own. Undefined (or no function): written as the exchange sent them.
   */
  readonly scalesOf?: (symbol: string) => SymbolScales | undefined;
}

interface PendingRebuild {
  readonly gap: UnrepairedGap;
  readonly interval: IntervalName;
  readonly from: number;
  /** Open time of the last affected period; it must be closed before the exchange's kline is final. */
  readonly to: number;
  /** When the rebuild was asked for. */
  readonly since: number;
}

export class KlineRebuilder {
  readonly #options: KlineRebuilderOptions;
  #pending: PendingRebuild[] = [];
  /** Revision per kline key: each rebuild of the same kline stores a higher one. */
  readonly #revisions = new Map<string, number>();
  /** The call of `rebuildClosed` under way (settled when none is). */
  #running: Promise<unknown> = Promise.resolve();
  rebuilt = 0;

  constructor(options: KlineRebuilderOptions) {
    this.#options = options;
  }

  get pending(): number {
    return this.#pending.length;
  }

  /** When the oldest pending rebuild was asked for, or undefined when none is pending. */
  oldestPendingSince(): number | undefined {
    let oldest: number | undefined;
    for (const p of this.#pending) if (oldest === undefined || p.since < oldest) oldest = p.since;
    return oldest;
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }

  add(gap: UnrepairedGap): void {
    const why = gap.tooWide ? `${gap.toId - gap.fromId + 1} trades missing, more than REST can fetch in time` : 'trades no longer available from the exchange';
    this.#options.logger.warn({ symbol: gap.symbol, fromId: gap.fromId, toId: gap.toId }, `${why}; the klines spanning them will be rebuilt from its klines`);
    for (const interval of this.#options.intervals) {
      this.#pending.push({ gap, interval, from: openTimeOf(interval, gap.fromTime), to: openTimeOf(interval, gap.toTime), since: this.#now() });
    }
  }

  /**
   * A symbol that joined the live stream at `time` without its history: the period under way in every interval is
   * partial; once closed it is rebuilt from the exchange's kline.
   */
  addPartial(symbol: string, time: number): void {
    for (const interval of this.#options.intervals) {
      const open = openTimeOf(interval, time);
      this.#pending.push({ gap: { symbol, fromId: -1, toId: -1, fromTime: time, toTime: time }, interval, from: open, to: open, since: this.#now() });
    }
  }

  /** A late trade older than the engine's memory: the klines of the range are rebuilt from the exchange's once closed. */
  addLate(request: RebuildRequest): void {
    // Late trades of one stall arrive one by one: one rebuild covers the union of their overlapping ranges.
    const overlapping = this.#pending.findIndex(
      (p) => p.gap.symbol === request.symbol && p.interval === request.interval && p.gap.fromId === -1 && p.from <= nextOpenTime(p.interval, request.toOpenTime) && request.fromOpenTime <= nextOpenTime(p.interval, p.to),
    );
    if (overlapping >= 0) {
      const p = this.#pending[overlapping]!;
      const from = Math.min(p.from, request.fromOpenTime);
      const to = Math.max(p.to, request.toOpenTime);
      this.#pending[overlapping] = { ...p, from, to, gap: { ...p.gap, fromTime: from, toTime: to } };
      return;
    }
    this.#options.logger.warn(request, 'late trade older than the last final kline in memory; rebuilding those klines from the exchange’s');
    this.#pending.push({
      gap: { symbol: request.symbol, fromId: -1, toId: -1, fromTime: request.fromOpenTime, toTime: request.toOpenTime },
      interval: request.interval,
      from: request.fromOpenTime,
      to: request.toOpenTime,
      since: this.#now(),
    });
  }

  /** An explicit repair (admin): the klines of `interval` from `from` to `to` (open times) are rebuilt once closed. */
  addRange(symbol: string, interval: IntervalName, from: number, to: number): void {
    this.#options.logger.info({ symbol, interval, from, to }, 'repair requested: rebuilding from the exchange’s klines');
    this.#pending.push({ gap: { symbol, fromId: -1, toId: -1, fromTime: from, toTime: to }, interval, from: openTimeOf(interval, from), to: openTimeOf(interval, to), since: this.#now() });
  }

  /**
   * Rebuilds every pending range whose periods closed before `now` (the exchange's time). Calls run one after another:
   * a call made while another is still fetching (the service's timer, then `stop`) starts only once that one has
   * written, so when it resolves every rebuild due by `now` has reached `write` — otherwise `stop` found nothing due
   * (the timer's call had taken it), drained the system and closed the database under the timer's fetches, and those
   * rebuilt klines were lost (seen in the large chaos run on an overloaded machine as stale flat finals).
   */
  rebuildClosed(now: number): Promise<number> {
    const run = this.#running.then(() => this.#rebuildDue(now));
    this.#running = run.catch(() => undefined);
    return run;
  }

  async #rebuildDue(now: number): Promise<number> {
    const due = this.#pending.filter((p) => nextOpenTime(p.interval, p.to) <= now);
    this.#pending = this.#pending.filter((p) => !due.includes(p));
    let written = 0;
    for (const item of due) {
      try {
        const klines = await this.#options.fetchKlines(item.gap.symbol, item.interval, item.from, item.to);
        const stored = (await this.#options.storedRevisions?.(item.gap.symbol, item.interval, item.from, item.to)) ?? new Map<number, number>();
        const scales = this.#options.scalesOf?.(item.gap.symbol);
        const records = klines.map((k) => this.#record(item.gap.symbol, item.interval, k, scales, stored.get(k.openTime) ?? 0));
        this.#options.write(records);
        written += records.length;
      } catch (error) {
        this.#pending.push(item); // try again on the next call
        this.#options.logger.warn({ err: error, symbol: item.gap.symbol, interval: item.interval }, 'kline rebuild failed; will retry');
      }
    }
    this.rebuilt += written;
    return written;
  }

  #record(symbol: string, interval: IntervalName, k: ExchangeKline, scales: SymbolScales | undefined, storedRevision: number): KlineRecord {
    const key = `${symbol}|${interval}|${k.openTime}`;
    const revision = Math.max(this.#revisions.get(key) ?? 0, storedRevision) + 1;
    this.#revisions.set(key, revision);
    const raw = this.#kline(symbol, interval, k, revision);
    const kline = scales === undefined ? raw : this.#formatted(raw, scales);
    return { venue: this.#options.venue, market: this.#options.market, kline, revision, source: 'repair' };
  }

  #formatted(kline: Kline, scales: SymbolScales): Kline {
    const checked = formatKlineChecked(kline, scales);
    if (checked.overScale.length > 0) {
      this.#options.logger.warn({ symbol: kline.symbol, interval: kline.interval, openTime: kline.openTime, fields: checked.overScale, scales }, "the exchange's kline has more decimals than the symbol's scales; stored exact, not rounded");
    }
    return checked.kline;
  }

  #kline(symbol: string, interval: IntervalName, k: ExchangeKline, revision: number): Kline {
    return {
      symbol,
      interval,
      openTime: k.openTime,
      closeTime: k.closeTime,
      open: k.open,
      high: k.high,
      low: k.low,
      close: k.close,
      volume: k.volume,
      quoteVolume: k.quoteVolume,
      tradeCount: k.tradeCount,
      takerBuyVolume: k.takerBuyVolume,
      takerBuyQuoteVolume: k.takerBuyQuoteVolume,
      // The exchange's klines carry no trade ids; a rebuilt kline is versioned by its revision alone.
      firstTradeId: -1,
      lastTradeId: -1,
      lastAggId: -1,
      isFinal: true,
      revision,
      revisionCause: 'rebuild',
    };
  }
}
