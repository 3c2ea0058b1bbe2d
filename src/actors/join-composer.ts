/**
 * A symbol that joins the live stream mid-period gets the period under way exact at once: for every interval klagg
 * aggregates, the open kline is composed from the exchange's closed klines of finer intervals plus the aggregate
 * trades since the current minute opened, and the last of those trades pins the join position (the live stream
 * continues at `position + 1`; whatever arrives in between is a gap the existing repair fills).
 *
 * ## What is fetched
 *
 * Let `m` be the open of the minute holding `now` (or the minute before, when `now` is less than `settleMs` past
 * `m`: see "Races"). The closed part of every period, `[period open, m)`, is tiled on one ladder of nested intervals,
 * 1d → 1h → 1m (every interval's period boundaries are day, hour or minute boundaries):
 *
 *   1d klines from the earliest `3d`/`1w`/`1M` period open to the day holding `m`        (≤ 30 klines: 1M on the 31st)
 *   1h klines from the earliest period open (or that day) to the hour holding `m`        (≤ 23)
 *   1m klines from the earliest period open (or that hour) to `m`                        (≤ 59)
 *
 * Each level is at most one request and is shared by every interval that needs it (the 1m klines of the current hour
 * serve 3m, 5m, 15m, 30m, 1h and the tail of everything larger). Each request asks for exactly the klines it needs,
 * always fewer than 100, so each weighs 1 — the least Binance charges. A coarser intermediate (4h, 15m, 1w) would not
 * save a request (every level below it is still needed) and a finer-only ladder would pass 100 klines (weight 2+), so
 * the ladder is three levels, and a level whose range is empty is not asked for at all.
 *
 * The trades, after the klines: `/fapi/v1/aggTrades` without a cursor (the exchange's most recent 1000, weight 20) — it
 * pins the position and, for any symbol with fewer than 1000 trades since `m`, already holds every one of them. Only
 * when its oldest trade is itself at or after `m` are the earlier ones paged in: `startTime = m` (up to that oldest
 * trade's time), then by `fromId`, 1000 a page, until the ids meet. The ids must then be contiguous or the join fails.
 * This deviates deliberately from "startTime = m, then page by fromId until the latest": that order needs a second
 * request (the latest trade) whenever the minute has no trade yet, and one more page whenever a page comes back full.
 *
 * ## Cost (weight / requests), at a `now` inside a period (not within `settleMs` of a minute open), per interval,
 * each line adding to the ones above it (shared levels are paid once)
 *
 *   1m                         20 / 1   aggTrades (most recent 1000); +20 / +1 per further 1000 trades since `m`
 *                                       (n trades since m: n < 1000 → 1 request; else max(2, ⌈n / 1000⌉))
 *   3m 5m 15m 30m 1h           +1 / +1  1m klines of the current hour (omitted when every such period opens at `m`)
 *   2h 4h 6h 8h 12h 1d         +1 / +1  1h klines of the current day (omitted when every such period opens in this hour)
 *   3d 1w 1M                   +1 / +1  1d klines of the period (omitted when every such period opens today)
 *
 *   all 15 intervals (default):     23 / 4 (the most klines ever cost: three levels of weight 1; only the trades can
 *                                   add more, 20 per further 1000 trades since `m`)
 *   `1m 5m 30m 1h 4h 1d 1w`:        23 / 4 mid-week (1w needs the 1d level); 22 / 3 on a Monday
 *   e.g. 1h alone at 10:37:25: 21 / 2; 1d alone: 22 / 3 (1h klines 00:00…09:00 + 1m 10:00…10:36 + trades)
 *
 * Near a boundary fewer levels are needed: at 00:00:00 on a Monday with `settleMs` 0 only 1M needs klines (the 1d of
 * the month so far), so all 15 cost 21 / 2. Retries by the REST client are not counted here (its stats count them).
 *
 * ## Trade ids
 *
 * - `lastAggId` is `position` for every interval (installKline makes it the symbol's position).
 * - `lastTradeId` is the last trade's `l` for every period that has any trade, −1 for a period without: the most
 *   recent trade is the last trade of every open period that has trades (the open period reaches the present), so it
 *   is always known, even when the current minute has no trade yet.
 * - `firstTradeId` is the first trade's `f` when the period's first trade is among the fetched trades (the period
 *   opened at or after `m`, or had no trade before `m`); otherwise it is −1: REST klines carry no trade ids and there
 *   is no cheap source (finding the first trade of each such period costs an aggTrades request, weight 20, per
 *   distinct period open). `lastTradeId − tradeCount + 1` would give it for free, but only if raw trade ids never
 *   skip within a period, which Binance does not promise; so it is not guessed. The engine keeps −1 for that period
 *   (it sets the first id only when a period's first trade arrives).
 *
 * ## Races
 *
 * The closed klines are fetched first (they end before `m`, so they cannot change), the trades last. If the minute
 * turns while fetching, the trades returned simply reach into the next minute: every period is then taken as the one
 * holding `max(now, last trade's time)`, and made of the klines in it (none, for a period that began after `m`) plus
 * the trades in it. Every trade up to the position is in exactly one period per interval, so the composition is the
 * exchange's state at the moment the most recent trades were read. (A period that closed during the fetch is not
 * returned; the caller's usual repair covers it.) If `now` lies within `settleMs` of the minute's open, the previous
 * minute is taken from trades too, not from its kline, since the exchange may not have settled that kline yet.
 *
 * `now` must not be ahead of the exchange's clock (a minute still open would be read as a closed kline); being behind
 * is harmless (the trades then simply start earlier).
 *
 * A period with no trade so far is flat at the previous close: the most recent trade's price (the close of the last
 * period with trades, which every later flat period carries on), at no extra cost. A symbol that has never traded
 * has no klines at all (as on the exchange): `klines` is empty and `position` −1.
 */
import type { AggTrade } from '../domain/agg-trade.ts';
import { DecimalError, formatScaled, parseWide, wideToBigInt } from '../domain/decimal.ts';
import { nextOpenTime, openTimeOf, type IntervalName } from '../domain/interval.ts';
import type { SymbolScales } from '../domain/kline-engine.ts';
import type { Kline } from '../domain/kline.ts';
import type { AggTradesQuery, KlinesQuery } from '../infra/binance/rest-client.ts';
import { AGG_TRADES_MAX_LIMIT, AGG_TRADES_WEIGHT, klinesWeight, type RestKline } from '../domain/exchange-api.ts';
import { KlaggError } from '../domain/errors.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The two REST endpoints the composer reads (BinanceRestClient satisfies it). */
export interface JoinRestPort {
  klines(symbol: string, interval: IntervalName, query: KlinesQuery): Promise<readonly RestKline[]>;
  aggTrades(symbol: string, query: AggTradesQuery): Promise<readonly AggTrade[]>;
}

export interface JoinComposerOptions {
  readonly rest: JoinRestPort;
  /**
   * When `now` is less than this past a minute's open, that minute's predecessor is taken from trades instead of its
   * REST kline, which the exchange may still be completing. Default 1000 ms; 0 trusts every closed kline.
   */
  readonly settleMs?: number;
}

export interface JoinRequest {
  readonly symbol: string;
  readonly scales: SymbolScales;
  /** Any subset of the 15 intervals, in any order; the klines come back in this order. */
  readonly intervals: readonly IntervalName[];
  /** The exchange's current time (ms). */
  readonly now: number;
}

export interface JoinComposition {
  /** One open kline per interval (isFinal false), at the symbol's scales; empty when the symbol never traded. */
  readonly klines: Kline[];
  /** Aggregate id of the last trade composed in (−1 when the symbol never traded); the stream continues after it. */
  readonly position: number;
  /** REST weight spent (retries by the client not included). */
  readonly weight: number;
  readonly requests: number;
  /** Trades are composed in from this time on (the current minute's open, or the one before: see settleMs). */
  readonly tradesFrom: number;
}

/** The ladder of closed klines, coarsest first. */
const LADDER = ['1d', '1h', '1m'] as const;
type Level = (typeof LADDER)[number];
const LEVEL_MS: Readonly<Record<Level, number>> = { '1d': DAY, '1h': HOUR, '1m': MINUTE };

/** One closed-kline request of the plan: open times in `[from, to)`, `count` klines at most. */
export interface KlineFetch {
  readonly interval: Level;
  readonly from: number;
  readonly to: number;
  readonly count: number;
  readonly weight: number;
}

export interface JoinPlan {
  readonly tradesFrom: number;
  readonly fetches: readonly KlineFetch[];
}

/** Which closed klines a join at `now` needs (pure; the trades are not part of it). */
export function planJoin(intervals: readonly IntervalName[], now: number, settleMs = 1000): JoinPlan {
  const minute = openTimeOf('1m', now);
  const tradesFrom = now - minute < settleMs ? minute - MINUTE : minute;
  /** Where each level's tiles stop: the day, hour and minute holding tradesFrom. */
  const levelEnd: Record<Level, number> = { '1d': openTimeOf('1d', tradesFrom), '1h': openTimeOf('1h', tradesFrom), '1m': tradesFrom };
  const levelStart: Record<Level, number> = { '1d': Infinity, '1h': Infinity, '1m': Infinity };
  for (const interval of intervals) {
    const open = openTimeOf(interval, now);
    for (const [level, from, to] of tiles(open, levelEnd)) levelStart[level] = Math.min(levelStart[level], from);
  }
  const fetches: KlineFetch[] = [];
  for (const level of LADDER) {
    const from = levelStart[level];
    const to = levelEnd[level];
    if (!(from < to)) continue;
    const count = (to - from) / LEVEL_MS[level];
    fetches.push({ interval: level, from, to, count, weight: klinesWeight(count) });
  }
  return { tradesFrom, fetches };
}

/** The non-empty ladder ranges tiling `[open, tradesFrom)`. */
function tiles(open: number, levelEnd: Readonly<Record<Level, number>>): [Level, number, number][] {
  const result: [Level, number, number][] = [];
  let from = open;
  for (const level of LADDER) {
    const to = levelEnd[level];
    if (from < to) {
      result.push([level, from, to]);
      from = to;
    }
  }
  return result;
}

export class JoinComposer {
  readonly #rest: JoinRestPort;
  readonly #settleMs: number;

  constructor(options: JoinComposerOptions) {
    this.#rest = options.rest;
    this.#settleMs = options.settleMs ?? 1000;
    if (!(this.#settleMs >= 0 && this.#settleMs <= MINUTE)) throw new RangeError(`settleMs must be in [0, 60000], got ${this.#settleMs}`);
  }

  async compose(request: JoinRequest): Promise<JoinComposition> {
    const { symbol, scales, intervals, now } = request;
    const plan = planJoin(intervals, now, this.#settleMs);
    let weight = 0;
    let requests = 0;

    // Closed klines first: they end before tradesFrom and cannot change while the trades are read.
    const closed = new Map<Level, RestKline[]>();
    await Promise.all(
      plan.fetches.map(async (fetch) => {
        weight += fetch.weight;
        requests++;
        const page = await this.#rest.klines(symbol, fetch.interval, { startTime: fetch.from, endTime: fetch.to - 1, limit: fetch.count });
        closed.set(
          fetch.interval,
          page.filter((k) => k.openTime >= fetch.from && k.openTime < fetch.to),
        );
      }),
    );

    // Then the trades, last: the most recent ones pin the position.
    const recent = await this.#rest.aggTrades(symbol, { limit: AGG_TRADES_MAX_LIMIT });
    weight += AGG_TRADES_WEIGHT;
    requests++;
    checkAscending(symbol, recent);
    const last = recent[recent.length - 1];
    if (last === undefined) return { klines: [], position: -1, weight, requests, tradesFrom: plan.tradesFrom };
    let trades: readonly AggTrade[] = recent;
    const oldest = recent[0]!;
    if (recent.length === AGG_TRADES_MAX_LIMIT && oldest.tradeTime >= plan.tradesFrom) {
      const earlier: AggTrade[] = [];
      // First page by time (the span is under an hour unless the join took that long), then by id.
      let page = await this.#rest.aggTrades(symbol, {
        startTime: plan.tradesFrom,
        endTime: Math.min(oldest.tradeTime, plan.tradesFrom + HOUR - 1),
        limit: AGG_TRADES_MAX_LIMIT,
      });
      weight += AGG_TRADES_WEIGHT;
      requests++;
      for (;;) {
        for (const trade of page) if (trade.aggId < oldest.aggId) earlier.push(trade);
        const tail = page[page.length - 1];
        if (tail === undefined || tail.aggId >= oldest.aggId - 1 || page.length < AGG_TRADES_MAX_LIMIT) break;
        page = await this.#rest.aggTrades(symbol, { fromId: tail.aggId + 1, limit: Math.min(AGG_TRADES_MAX_LIMIT, oldest.aggId - tail.aggId - 1) });
        weight += AGG_TRADES_WEIGHT;
        requests++;
      }
      trades = [...earlier, ...recent];
      checkAscending(symbol, trades);
      const first = trades[0]!;
      if (first.tradeTime < plan.tradesFrom) throw new KlaggError('KLAGG_ERR_JOIN_INCOMPLETE', { what: `join ${symbol}: paging from ${plan.tradesFrom} returned trade ${first.aggId} at ${first.tradeTime}` });
    }

    const at = Math.max(now, last.tradeTime);
    const previousClose = toBig(last.price, scales.priceScale, 'price');
    const klines = intervals.map((interval) => composeOne(symbol, interval, openTimeOf(interval, at), scales, plan.tradesFrom, closed, trades, previousClose, last));
    return { klines, position: last.aggId, weight, requests, tradesFrom: plan.tradesFrom };
  }
}

/** Composes a join with a one-off composer. */
export function composeJoin(rest: JoinRestPort, request: JoinRequest, options: { settleMs?: number } = {}): Promise<JoinComposition> {
  return new JoinComposer({ rest, settleMs: options.settleMs }).compose(request);
}

function checkAscending(symbol: string, trades: readonly AggTrade[]): void {
  for (let i = 1; i < trades.length; i++) {
    if (trades[i]!.aggId !== trades[i - 1]!.aggId + 1) {
      throw new KlaggError('KLAGG_ERR_JOIN_INCOMPLETE', { what: `join ${symbol}: aggregate ids are not contiguous (${trades[i - 1]!.aggId} then ${trades[i]!.aggId}); the exchange no longer has them all` });
    }
  }
}

/** A kline under construction; every decimal a scaled bigint. */
interface Accumulator {
  hasTrades: boolean;
  open: bigint;
  high: bigint;
  low: bigint;
  close: bigint;
  volume: bigint;
  quote: bigint;
  takerVolume: bigint;
  takerQuote: bigint;
  count: number;
  firstTradeId: number;
}

function composeOne(
  symbol: string,
  interval: IntervalName,
  open: number,
  scales: SymbolScales,
  tradesFrom: number,
  closed: ReadonlyMap<Level, readonly RestKline[]>,
  trades: readonly AggTrade[],
  previousClose: bigint,
  last: AggTrade,
): Kline {
  const { priceScale: ps, qtyScale: qs } = scales;
  const acc: Accumulator = {
    hasTrades: false,
    open: previousClose,
    high: previousClose,
    low: previousClose,
    close: previousClose,
    volume: 0n,
    quote: 0n,
    takerVolume: 0n,
    takerQuote: 0n,
    count: 0,
    firstTradeId: -1,
  };
  const touch = (price: bigint, high: bigint, low: bigint, firstTradeId: number): void => {
    if (!acc.hasTrades) {
      acc.hasTrades = true;
      acc.open = price;
      acc.high = high;
      acc.low = low;
      acc.firstTradeId = firstTradeId;
    } else {
      if (high > acc.high) acc.high = high;
      if (low < acc.low) acc.low = low;
    }
  };

  // The closed part [open, tradesFrom), coarsest tiles first (the ladder is in time order).
  if (open < tradesFrom) {
    const levelEnd: Record<Level, number> = { '1d': openTimeOf('1d', tradesFrom), '1h': openTimeOf('1h', tradesFrom), '1m': tradesFrom };
    for (const [level, from, to] of tiles(open, levelEnd)) {
      for (const k of closed.get(level) ?? []) {
        if (k.openTime < from || k.openTime >= to || k.tradeCount === 0) continue; // a flat kline adds nothing
        // A period's first trade inside a closed kline: its raw id is not known from REST (see the header).
        touch(toBig(k.open, ps, 'price'), toBig(k.high, ps, 'price'), toBig(k.low, ps, 'price'), -1);
        acc.close = toBig(k.close, ps, 'price');
        acc.volume += toBig(k.volume, qs, 'volume');
        acc.quote += toBig(k.quoteVolume, ps + qs, 'quote volume');
        acc.takerVolume += toBig(k.takerBuyVolume, qs, 'taker buy volume');
        acc.takerQuote += toBig(k.takerBuyQuoteVolume, ps + qs, 'taker buy quote volume');
        acc.count += k.tradeCount;
      }
    }
  }

  // The trades from max(open, tradesFrom) on.
  const since = Math.max(open, tradesFrom);
  for (const trade of trades) {
    if (trade.tradeTime < since) continue;
    const price = toBig(trade.price, ps, 'price');
    const qty = toBig(trade.qty, qs, 'quantity');
    touch(price, price, price, trade.firstTradeId);
    acc.close = price;
    acc.volume += qty;
    acc.quote += price * qty;
    if (!trade.buyerIsMaker) {
      acc.takerVolume += qty;
      acc.takerQuote += price * qty;
    }
    acc.count += trade.lastTradeId - trade.firstTradeId + 1;
  }

  return {
    symbol,
    interval,
    openTime: open,
    closeTime: nextOpenTime(interval, open) - 1,
    open: formatScaled(acc.open, ps),
    high: formatScaled(acc.high, ps),
    low: formatScaled(acc.low, ps),
    close: formatScaled(acc.close, ps),
    volume: formatScaled(acc.volume, qs),
    quoteVolume: formatScaled(acc.quote, ps + qs),
    tradeCount: acc.count,
    takerBuyVolume: formatScaled(acc.takerVolume, qs),
    takerBuyQuoteVolume: formatScaled(acc.takerQuote, ps + qs),
    firstTradeId: acc.hasTrades ? acc.firstTradeId : -1,
    // The most recent trade belongs to every open period that has trades (see the header).
    lastTradeId: acc.hasTrades ? last.lastTradeId : -1,
    lastAggId: last.aggId,
    isFinal: false,
  };
}

/** The exact integer at `scale` for an exchange decimal string. */
function toBig(text: string, scale: number, what: string): bigint {
  try {
    const [hi, lo] = parseWide(text, scale);
    return wideToBigInt(hi, lo);
  } catch (error) {
    if (error instanceof DecimalError) throw new DecimalError(`${what} ${error.message} (the symbol's scales may have grown; join with the new scales)`);
    throw error;
  }
}
