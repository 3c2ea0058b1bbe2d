/**
 * The fake exchange's `<symbol>@kline_<interval>` streams.
 *
 * They come from the market's kline book, i.e. from every trade the exchange published — also those a fault kept off
 * the aggTrade stream (skipIds, withholdTail) — as on Binance, where the two streams are independent. They tick every
 * 250 ms of the fake's clock, at multiples of 250 ms: each tick sends the current kline of a stream when it changed
 * (or to a connection that has not had it yet), and once the exchange's time has passed a period's end, that period's
 * final (`x: true`) once, before the next period's first update. So a final goes out at the first tick at or after
 * the period's end — on a ManualScheduler at exactly the next open time (E = T + 1) when the clock is aligned, never
 * more than 250 ms after it. Periods without trades get their final too (flat at the previous close, n 0, f and L −1).
 * Before a symbol's first trade a kline stream is silent.
 */
import { nextOpenTime, openTimeOf, type IntervalName } from '../../domain/interval.ts';
import type { Kline } from '../../domain/kline.ts';
import { combinedFrame } from '../binance-ws/binance-ws-server.ts';
import { parseKlineStream, toKlineEvent } from '../binance-ws/kline-event.ts';
import type { Market } from './market.ts';
import type { Scheduler, Timer } from './scheduler.ts';
import type { FakeConnection, WsDelivery } from './ws-delivery.ts';

/** Binance's kline stream update period. */
export const KLINE_PUSH_MS = 250;
/** Finals sent per stream and tick at most (a clock far ahead catches up over the next ticks). */
const MAX_KLINES_PER_TICK = 1500;

/** One subscribed kline stream (state shared by its subscribers). */
interface KlineStream {
  readonly name: string;
  readonly symbol: string;
  readonly interval: IntervalName;
  /** Open time of the period followed (its final not sent yet); undefined before the first tick. */
  openTime: number | undefined;
  /** The last update sent for that period (the `k` object as JSON, without `x`). */
  lastSent: string | undefined;
  /** The symbol's published-trade count at the last tick (no change, no work). */
  lastCount: number;
  /** Subscribers that have not had the current kline yet. */
  readonly fresh: Set<FakeConnection>;
}

export interface KlineFeedDeps {
  readonly market: Market;
  readonly scheduler: Scheduler;
  readonly delivery: WsDelivery;
  /** The open connections subscribed to a stream. */
  readonly subscribers: (stream: string) => ReadonlySet<FakeConnection> | undefined;
}

export class KlineFeed {
  /** Kline events sent, and how many of them were finals (x: true). */
  klineFrames = 0;
  klineFinals = 0;
  readonly #d: KlineFeedDeps;
  readonly #streams = new Map<string, KlineStream>();
  #timer: Timer | undefined;
  #closed = false;

  constructor(deps: KlineFeedDeps) {
    this.#d = deps;
  }

  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** A connection subscribed `name`: when it is a kline stream, it gets the current kline at the next tick. */
  add(connection: FakeConnection, name: string): void {
    if (connection.data.silent) return;
    const parsed = parseKlineStream(name);
    if (parsed === undefined) return;
    let stream = this.#streams.get(name);
    if (stream === undefined) {
      stream = { name, symbol: parsed.symbol, interval: parsed.interval, openTime: undefined, lastSent: undefined, lastCount: -1, fresh: new Set() };
      this.#streams.set(name, stream);
    }
    stream.fresh.add(connection);
    this.#scheduleTick();
  }

  /** Ticks at the next multiple of KLINE_PUSH_MS of the fake's clock, while some kline stream is subscribed. */
  #scheduleTick(): void {
    if (this.#timer !== undefined || this.#closed || this.#streams.size === 0) return;
    const now = this.#d.scheduler.now();
    const wait = KLINE_PUSH_MS - (((now % KLINE_PUSH_MS) + KLINE_PUSH_MS) % KLINE_PUSH_MS);
    this.#timer = this.#d.scheduler.setTimer(wait, () => {
      this.#timer = undefined;
      if (this.#closed) return;
      this.#pushAll();
      this.#scheduleTick();
    });
  }

  #pushAll(): void {
    const market = this.#d.market;
    market.sync();
    const now = market.now();
    for (const [name, stream] of this.#streams) {
      const subscribers = this.#d.subscribers(name);
      if (subscribers === undefined || subscribers.size === 0) {
        this.#streams.delete(name);
        continue;
      }
      for (const connection of stream.fresh) if (!subscribers.has(connection)) stream.fresh.delete(connection);
      this.#push(stream, subscribers, now);
    }
  }

  #push(stream: KlineStream, subscribers: ReadonlySet<FakeConnection>, now: number): void {
    const market = this.#d.market;
    const current = openTimeOf(stream.interval, now);
    stream.openTime ??= current;
    const count = market.tradeLog(stream.symbol).length;
    if (stream.openTime === current && count === stream.lastCount && stream.fresh.size === 0) return;
    stream.lastCount = count;
    const klines = market.klines(stream.symbol, stream.interval, { startTime: stream.openTime, limit: MAX_KLINES_PER_TICK });
    if (klines.length === 0) {
      // Not traded yet (or delisted and done): follow the clock.
      stream.openTime = current;
      return;
    }
    for (const kline of klines) {
      if (kline.closeTime < now) {
        this.#send(stream, subscribers, kline, now, true);
        stream.openTime = nextOpenTime(stream.interval, kline.openTime);
        stream.lastSent = undefined;
        stream.lastCount = -1;
        continue;
      }
      stream.openTime = kline.openTime;
      const body = JSON.stringify(toKlineEvent({ ...kline, isFinal: false }, 0).k);
      if (body !== stream.lastSent) {
        stream.lastSent = body;
        this.#send(stream, subscribers, kline, now, false);
      } else if (stream.fresh.size > 0) this.#send(stream, stream.fresh, kline, now, false);
      stream.fresh.clear();
    }
  }

  #send(stream: KlineStream, to: ReadonlySet<FakeConnection>, kline: Kline, eventTime: number, isFinal: boolean): void {
    const delivery = this.#d.delivery;
    const now = this.#d.scheduler.now();
    let raw: string | undefined;
    let combined: string | undefined;
    for (const connection of to) {
      if (!delivery.receives(connection, now)) continue;
      raw ??= JSON.stringify(toKlineEvent({ ...kline, isFinal }, eventTime));
      if (connection.combined) {
        combined ??= combinedFrame(stream.name, raw);
        delivery.send(connection, combined, now);
      } else delivery.send(connection, raw, now);
      this.klineFrames++;
      if (isFinal) this.klineFinals++;
    }
  }
}
