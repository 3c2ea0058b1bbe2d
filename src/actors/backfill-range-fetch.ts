/**
 * The backfill's page loop: one missing range fetched from the exchange's REST klines, one request of at most
 * `pageLimit` periods at a time, each page stored (as final klines) before the next is asked for, so a failure or a
 * stop loses at most the page in flight. Kept apart from KlineBackfiller, which schedules symbols and reports
 * progress; this only turns REST pages into stored rows and tells it what happened through the context.
 */
import type { IntervalName } from '../domain/interval.ts';
import { nextOpenTime, openTimeOf } from '../domain/interval.ts';
import type { Kline } from '../domain/kline.ts';
import type { SymbolScales } from '../domain/kline-engine.ts';
import { formatKlineChecked } from '../domain/kline-format.ts';
import type { RestKline } from '../domain/exchange-api.ts';
import type { BinanceRestClient } from '../infra/binance/rest-client.ts';
import type { KlineRow, KlineStore } from '../infra/db/kline-store.ts';
import type { Logger } from '../infra/logger.ts';
import { addPeriods, type MissingRange } from './backfill-planner.ts';

/** Thrown inside a symbol's backfill interrupted by `stop()`; `run` counts the symbol as skipped, not failed. */
export class BackfillStoppedError extends Error {
  constructor(symbol: string) {
    super(`backfill of ${symbol} stopped`);
    this.name = 'BackfillStoppedError';
  }
}

/** What the page loop needs from its backfiller. */
export interface RangeFetchContext {
  readonly rest: Pick<BinanceRestClient, 'klinesRange'>;
  readonly store: Pick<KlineStore, 'upsert'>;
  readonly venue: string;
  readonly market: string;
  readonly pageLimit: number;
  readonly scalesOf: ((symbol: string) => SymbolScales | undefined) | undefined;
  /** Checked before every request: true stops the loop with BackfillStoppedError. */
  stopped(): boolean;
  /** Klines a request returned. */
  fetched(count: number): void;
  /** Rows the store inserted or replaced. */
  written(count: number): void;
  /** After every page. */
  pageDone(): void;
  /** Periods the exchange showed it has no kline for (see BackfillPlanner.markAbsent). */
  markAbsent(symbol: string, interval: IntervalName, from: number, to: number): void;
}

/** Fetches and stores one missing range; only klines closed before `now` are written. */
export async function fetchMissingRange(
  ctx: RangeFetchContext,
  symbol: string,
  range: MissingRange,
  now: number,
  log: Logger,
): Promise<{ fetched: number; written: number }> {
  const { interval, from, to } = range;
  let fetched = 0;
  let written = 0;
  let skippedOpen = 0;
  let skippedMisaligned = 0;
  let overScaleFields = 0;
  const scales = ctx.scalesOf?.(symbol);
  /** The first period of the range not yet accounted for by a returned kline (for remembering absences). */
  let expected = from;
  for (let pageFrom = from; pageFrom <= to; ) {
    if (ctx.stopped()) throw new BackfillStoppedError(symbol);
    const pageTo = Math.min(to, addPeriods(interval, pageFrom, ctx.pageLimit - 1));
    const page = await ctx.rest.klinesRange(symbol, interval, pageFrom, pageTo, ctx.pageLimit);
    fetched += page.length;
    ctx.fetched(page.length);
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
      rows.push({ venue: ctx.venue, market: ctx.market, kline, revision: 0, source: 'backfill' });
      if (rest.openTime >= expected && rest.openTime <= pageTo) {
        if (rest.openTime > expected) ctx.markAbsent(symbol, interval, expected, openTimeOf(interval, rest.openTime - 1));
        expected = next;
      }
    }
    // The end of a page that returned klines, after its last one, is not taken as an absence: an exchange that
    // answers fewer than asked would look the same. Only periods before a kline it did return are.
    if (expected > pageFrom && expected <= pageTo) expected = nextOpenTime(interval, pageTo);
    if (rows.length > 0) {
      const count = await ctx.store.upsert(rows);
      written += count;
      ctx.written(count);
    }
    ctx.pageDone();
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

/** A REST kline as a final stored kline: REST klines carry no trade or aggregate ids, hence −1. */
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
