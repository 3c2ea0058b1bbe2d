/**
 * The fake exchange's trade-driven streams: `<symbol lowercase>@aggTrade` (every trade the market publishes, unless a
 * fault skips, withholds or delays it) and `!miniTicker@arr` (every `miniTickerIntervalMs` of the fake's clock, the
 * symbols that traded since the previous push).
 */
import { toAggTradeEvent, type AggTrade } from '../../domain/agg-trade.ts';
import { combinedFrame } from '../binance-ws/binance-ws-server.ts';
import type { Faults } from './faults.ts';
import type { Market } from './market.ts';
import type { Scheduler, Timer } from './scheduler.ts';
import type { FakeConnection, WsDelivery } from './ws-delivery.ts';
import { TradeHolds } from './ws-trade-holds.ts';

export const MINI_TICKER_STREAM = '!miniTicker@arr';

/** A symbol's aggTrade stream name: `<symbol lowercase>@aggTrade`. */
export function aggTradeStreamOf(symbol: string): string {
  return `${symbol.toLowerCase()}@aggTrade`;
}

/** The aggTrade event of a trade as the exchange sends it (raw payload, before any combined-stream wrapping). */
export function aggTradePayload(trade: AggTrade, eventTime: number): string {
  return JSON.stringify({ ...toAggTradeEvent(trade, eventTime), nq: trade.qty });
}

export interface MarketFeedDeps {
  readonly market: Market;
  readonly faults: Faults;
  readonly scheduler: Scheduler;
  readonly delivery: WsDelivery;
  /** The open connections subscribed to a stream. */
  readonly subscribers: (stream: string) => ReadonlySet<FakeConnection> | undefined;
  /** Period of the `!miniTicker@arr` push; default 1000. */
  readonly miniTickerIntervalMs?: number;
}

export class MarketFeed {
  /** The `delay` fault's held frames. */
  readonly holds: TradeHolds;
  readonly #d: MarketFeedDeps;
  readonly #streamNames = new Map<string, string>();
  readonly #tradedSinceTick = new Set<string>();
  readonly #unsubscribeMarket: () => void;
  #tickTimer: Timer | undefined;
  #closed = false;

  constructor(deps: MarketFeedDeps) {
    this.#d = deps;
    this.holds = new TradeHolds(deps.scheduler, (trade, eventTime) => this.send(trade, eventTime));
    this.#unsubscribeMarket = deps.market.onTrade((trade, eventTime) => this.#onTrade(trade, eventTime));
    this.#scheduleTick();
  }

  close(): void {
    this.#closed = true;
    this.#tickTimer?.cancel();
    this.holds.close();
    this.#unsubscribeMarket();
  }

  /** `<symbol lowercase>@aggTrade` (names cached: one per trade otherwise). */
  streamOf(symbol: string): string {
    let name = this.#streamNames.get(symbol);
    if (name === undefined) {
      name = aggTradeStreamOf(symbol);
      this.#streamNames.set(symbol, name);
    }
    return name;
  }

  /** Sends the trade's aggTrade event to the symbol's subscribers now. */
  send(trade: AggTrade, eventTime: number): void {
    const stream = this.streamOf(trade.symbol);
    const subscribers = this.#d.subscribers(stream);
    if (subscribers === undefined || subscribers.size === 0) return;
    const delivery = this.#d.delivery;
    let raw: string | undefined;
    let combined: string | undefined;
    const now = this.#d.scheduler.now();
    for (const connection of subscribers) {
      if (!delivery.receives(connection, now)) continue;
      raw ??= aggTradePayload(trade, eventTime);
      if (connection.combined) {
        combined ??= combinedFrame(stream, raw);
        delivery.send(connection, combined, now);
      } else delivery.send(connection, raw, now);
    }
  }

  #onTrade(trade: AggTrade, eventTime: number): void {
    this.#tradedSinceTick.add(trade.symbol);
    const faults = this.#d.faults;
    if (faults.takeWithheld(trade.symbol) || faults.takeSkip(trade.symbol)) return;
    if (this.holds.hold(trade, eventTime)) {
      faults.noteDelayed();
      return;
    }
    this.send(trade, eventTime);
  }

  #scheduleTick(): void {
    this.#tickTimer = this.#d.scheduler.setTimer(this.#d.miniTickerIntervalMs ?? 1000, () => {
      this.#tickTimer = undefined;
      if (this.#closed) return;
      this.#pushMiniTickers();
      this.#scheduleTick();
    });
  }

  #pushMiniTickers(): void {
    const traded = [...this.#tradedSinceTick];
    this.#tradedSinceTick.clear();
    const subscribers = this.#d.subscribers(MINI_TICKER_STREAM);
    if (traded.length === 0 || subscribers === undefined || subscribers.size === 0) return;
    const market = this.#d.market;
    const eventTime = market.now();
    const items = traded.flatMap((symbol) => {
      const s = market.ticker(symbol);
      return s === undefined ? [] : [{ e: '24hrMiniTicker', E: eventTime, s: symbol, c: s.last, o: s.open, h: s.high, l: s.low, v: s.volume, q: s.quoteVolume }];
    });
    const raw = JSON.stringify(items);
    const combined = combinedFrame(MINI_TICKER_STREAM, raw);
    const now = this.#d.scheduler.now();
    for (const connection of subscribers) {
      if (this.#d.delivery.receives(connection, now)) this.#d.delivery.send(connection, connection.combined ? combined : raw, now);
    }
  }
}
