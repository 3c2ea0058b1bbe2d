/**
 * klagg as `klagg run` serves it — REST and kline streams on one port (startServing) — against the fake exchange
 * over loopback, with the exchange's clock placed a few seconds before a minute ends, so that a client test sees open
 * updates and then, seconds later, a 1m final (instead of waiting up to a minute of wall-clock time as against
 * `klagg demo`). klagg reads the exchange's time as it does in production (measured offset).
 */
import type { Test } from 'tap';
import type { KlaggService } from '../../src/app/klagg-service.ts';
import { startServing, type Serving } from '../../src/app/serving.ts';
import type { IntervalName } from '../../src/domain/interval.ts';
import { OffsetClock, systemClock } from '../../src/infra/clock.ts';
import { KlineStore } from '../../src/infra/db/kline-store.ts';
import { openDatabase } from '../../src/infra/db/open-database.ts';
import { FakeExchange } from '../../src/infra/fake-exchange/fake-exchange.ts';
import { createTestDatabase } from './postgres.ts';
import { serviceOn, silentLogger } from './system.ts';

const MINUTE = 60_000;
/** A Tuesday, 10:00 UTC: the market trades from here; each start is placed a few minutes later. */
const MARKET_START = Date.UTC(2026, 2, 3, 10);

export interface ServedKlagg {
  /** http://127.0.0.1:port — REST (`/fapi/v1/…`) and, as ws://, the kline streams. */
  readonly base: string;
  readonly wsBase: string;
  /** A listed, trading symbol (upper-case). */
  readonly symbol: string;
  /** The open time of the minute that ends a few seconds after the start: its final is the first to come. */
  readonly firstFinalOpenTime: number;
  /** klagg's clock (the exchange's time). */
  readonly clock: OffsetClock;
  readonly service: KlaggService;
  readonly serving: Serving;
}

export async function startServedKlagg(t: Test, options: { prefix: string; intervals: readonly IntervalName[]; secondsBeforeMinuteEnd?: number }): Promise<ServedKlagg> {
  // Stopped last-started first, whichever step a failure interrupted.
  const stops: (() => Promise<unknown>)[] = [];
  t.teardown(async () => {
    for (const stop of stops.reverse()) await stop();
  });
  const minuteEnd = MARKET_START + 5 * MINUTE;
  const exchangeClock = new OffsetClock(systemClock);
  exchangeClock.setOffset(minuteEnd - (options.secondsBeforeMinuteEnd ?? 12) * 1000 - Date.now());
  const exchange = await FakeExchange.start({ source: { kind: 'generated', symbols: 2, rate: 20, seed: 5, quietPeriods: false, startTime: MARKET_START }, clock: exchangeClock });
  stops.push(() => exchange.close());
  const database = await createTestDatabase(options.prefix);
  const handle = await openDatabase({ url: database.url });
  stops.push(() => database.drop());
  stops.push(() => handle.close());
  const store = new KlineStore(handle.db);
  const clock = new OffsetClock(systemClock);
  const service = serviceOn(exchange, { intervals: options.intervals, store, clock, system: { threads: false } });
  clock.setOffset((await service.rest.measureTimeOffset()).offsetMs);
  await service.start();
  stops.push(() => service.stop('test over'));
  const serving = await startServing({ service, store, venue: 'binance', market: 'usdm', host: '127.0.0.1', port: 0, clock, logger: silentLogger });
  stops.push(() => serving.close());
  return {
    base: serving.url,
    wsBase: serving.url.replace(/^http/, 'ws'),
    symbol: service.symbols[0]!,
    firstFinalOpenTime: minuteEnd - MINUTE,
    clock,
    service,
    serving,
  };
}
