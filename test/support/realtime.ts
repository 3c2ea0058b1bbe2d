/**
 * klagg as `klagg run` runs it — the shared clock finalizing quiet periods, trailing-gap watch on, REST repair — in
 * real time against the fake exchange over loopback, with PostgreSQL and a stream client on klagg's kline stream.
 * Both sides read one offset clock, so a test can begin a few seconds before a period ends instead of waiting for it.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';
import type { KlaggService } from '../../src/app/klagg-service.ts';
import type { BatchListener } from '../../src/domain/messages.ts';
import { openTimeOf, type IntervalName } from '../../src/domain/interval.ts';
import type { Kline } from '../../src/domain/kline.ts';
import { OffsetClock, systemClock } from '../../src/infra/clock.ts';
import { KlineStore } from '../../src/infra/db/kline-store.ts';
import { openDatabase } from '../../src/infra/db/open-database.ts';
import { FakeExchange } from '../../src/infra/fake-exchange/fake-exchange.ts';
import type { GeneratedSource } from '../../src/infra/fake-exchange/market.ts';
import { KlineStreamServer } from '../../src/infra/stream-server/stream-server.ts';
import { canonicalDecimal } from './fixtures.ts';
import { createTestDatabase } from './postgres.ts';
import { serviceOn, silentLogger } from './system.ts';
import { WsClient } from './ws-client.ts';

export const MINUTE = 60_000;
/** A Tuesday; each test places the exchange's clock a few seconds before the period end it is about. */
export const DAY = Date.UTC(2026, 2, 3);
export const INTERVALS = ['1m', '5m', '1h'] as const;

export interface RealtimeOptions {
  /** The exchange's time when the test begins (the clock runs on in real time from there). */
  readonly startAt: number;
  readonly market: Omit<GeneratedSource, 'kind'>;
  readonly intervals: readonly IntervalName[];
  /** Streams of klagg's kline stream a client subscribes to from the start (given the market's symbols). */
  readonly clientStreams?: (symbols: readonly string[]) => readonly string[];
  readonly prefix: string;
  /** Workers in worker threads, each owning its symbols' exchange connections (per-worker I/O). */
  readonly threads?: boolean;
  /** Where klagg connects for the exchange's streams instead of the exchange itself (a proxy in between). */
  readonly streamsVia?: (exchangeWsUrl: string) => Promise<string>;
}

export interface StreamEvent {
  readonly stream: string;
  readonly kline: { t: number; i: string; s: string; o: string; h: string; l: string; c: string; v: string; q: string; n: number; V: string; Q: string; x: boolean };
}

export interface Realtime {
  readonly clock: OffsetClock;
  readonly exchange: FakeExchange;
  readonly store: KlineStore;
  service: KlaggService;
  /** What the stream client has received so far, in order. */
  readonly events: StreamEvent[];
  readonly databaseUrl: string;
  /** Starts (or restarts) klagg on the same database. */
  startService(): Promise<KlaggService>;
  /** Waits until the exchange's clock reaches `time`. */
  until(time: number): Promise<void>;
}

export async function startRealtime(t: Test, options: RealtimeOptions): Promise<Realtime> {
  const clock = new OffsetClock(systemClock);
  clock.setOffset(options.startAt - Date.now());
  const exchange = await FakeExchange.start({ source: { kind: 'generated', ...options.market }, clock, weightLimit: 24_000 });
  const database = await createTestDatabase(options.prefix);
  const handle = await openDatabase({ url: database.url });
  const store = new KlineStore(handle.db);
  const http = createServer();
  let streamServer: KlineStreamServer | undefined;
  let client: WsClient | undefined;
  const serviceClock = new OffsetClock(systemClock);
  const wsBaseUrl = options.streamsVia === undefined ? exchange.wsUrl : await options.streamsVia(exchange.wsUrl);
  // The stream server keeps one source across service restarts: each service instance feeds it.
  const forward = new Set<BatchListener>();
  const rt: Realtime = {
    clock,
    exchange,
    store,
    get events() {
      return (client?.received ?? []).map((message: { stream: string; data: { k: StreamEvent['kline'] } }) => ({ stream: message.stream, kline: message.data.k }));
    },
    databaseUrl: database.url,
    service: undefined as unknown as KlaggService,
    async startService() {
      const service = serviceOn(exchange, {
        intervals: options.intervals,
        store,
        clock: serviceClock,
        wsBaseUrl,
        trailingGaps: { confirmMs: 1_500, checkIntervalMs: 250 },
        system: { threads: options.threads ?? false },
      });
      // As `klagg run`: klines close on the exchange's clock (local time + the measured offset).
      serviceClock.setOffset((await service.rest.measureTimeOffset()).offsetMs);
      await service.start();
      rt.service = service;
      if (streamServer === undefined) {
        streamServer = new KlineStreamServer({
          server: http,
          source: { onBatch: (listener) => (forward.add(listener), () => forward.delete(listener)) },
          clock: serviceClock,
          logger: silentLogger,
          intervals: options.intervals,
        });
        await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
        const streams = options.clientStreams?.(exchange.market.symbols().map((s) => s.symbol)) ?? [];
        if (streams.length > 0) {
          const port = (http.address() as AddressInfo).port;
          client = await WsClient.open(`ws://127.0.0.1:${port}/market/stream?streams=${streams.join('/')}`);
        }
      }
      service.system.onBatch((batch) => {
        for (const listener of forward) listener(batch);
      });
      return service;
    },
    async until(time: number) {
      while (clock.now() < time) await new Promise((resolve) => setTimeout(resolve, Math.min(200, Math.max(5, time - clock.now()))));
    },
  };
  // The stream server keeps one source across service restarts: each service instance feeds it.
  t.teardown(async () => {
    client?.close();
    await streamServer?.close();
    http.close();
    await exchange.close();
    await handle.close();
    await database.drop();
  });
  return rt;
}

/** The decimal fields of a kline as canonical text (equal values compare equal whatever the format). */
export function values(k: Pick<Kline, 'open' | 'high' | 'low' | 'close' | 'volume' | 'quoteVolume' | 'tradeCount' | 'takerBuyVolume' | 'takerBuyQuoteVolume'>): string {
  return [k.open, k.high, k.low, k.close, k.volume, k.quoteVolume, k.takerBuyVolume, k.takerBuyQuoteVolume].map(canonicalDecimal).join(' ') + ` n=${k.tradeCount}`;
}

/**
 * Every period of `interval` closed by `closedBy` since the one klagg joined in, stored final and equal to
 * what the exchange itself aggregated from exactly the trades it published (the fault-free run). Returns the number
 * of klines compared.
 */
export async function compareWithExchange(t: Test, rt: Realtime, symbol: string, interval: IntervalName, joinedAt: number, closedBy: number): Promise<number> {
  // From the period klagg joined in (it runs no backfill here).
  const from = openTimeOf(interval, joinedAt);
  const stored = await rt.store.range('binance', 'usdm', symbol, interval, { startTime: from, limit: 100_000 });
  const truth = rt.exchange.market.klines(symbol, interval, { startTime: from, endTime: closedBy, limit: 100_000 });
  const storedAt = new Map(stored.map((k) => [k.openTime, k]));
  let differ = 0;
  let compared = 0;
  for (const want of truth) {
    if (want.closeTime >= closedBy) continue;
    const got = storedAt.get(want.openTime);
    compared++;
    if (got === undefined || !got.isFinal || values(got) !== values(want)) {
      differ++;
      if (differ <= 3) t.fail(`${symbol} ${interval} ${new Date(want.openTime).toISOString()} differs from the exchange`, { stored: got, exchange: want });
    }
  }
  t.equal(differ, 0, `${symbol} ${interval}: ${compared} closed klines stored final and equal to the exchange's`);
  return compared;
}

export async function workerTotals(rt: Realtime) {
  const stats = await Promise.all(rt.service.system.workers.map((worker) => worker.stats()));
  return {
    late: stats.reduce((n, s) => n + s.late, 0),
    amended: stats.reduce((n, s) => n + s.amended, 0),
    revisions: stats.reduce((n, s) => n + s.revisions.late + s.revisions.repair + s.revisions.restart, 0),
    catchUps: stats.reduce((n, s) => n + s.catchUps, 0),
  };
}

/** Stops publishing, lets klagg take in what is on its way, stops klagg (everything stored), compares every interval. */
export async function settleAndCompare(t: Test, rt: Realtime, from: number, intervals: readonly IntervalName[] = INTERVALS): Promise<void> {
  rt.exchange.market.stop();
  const end = rt.clock.now();
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  const totals = await workerTotals(rt);
  t.equal(totals.late, 0, 'no trade dropped as late');
  t.equal(await rt.service.stop('test done'), 0, 'klagg stopped cleanly');
  for (const symbol of rt.exchange.market.symbols().map((s) => s.symbol)) {
    for (const interval of intervals) {
      await compareWithExchange(t, rt, symbol, interval, from, end);
      // The period under way when publishing stopped: stored (open) with exactly the exchange's trades.
      const open = rt.exchange.market.klines(symbol, interval, { startTime: end - (interval === '1m' ? MINUTE : interval === '5m' ? 5 * MINUTE : 60 * MINUTE), endTime: end, limit: 1 }).at(-1);
      if (open === undefined) continue;
      const stored = (await rt.store.range('binance', 'usdm', symbol, interval, { startTime: open.openTime, endTime: open.openTime, limit: 1 }))[0];
      t.equal(stored && values(stored), values(open), `${symbol} ${interval}: the period under way at the end equals the exchange's`);
    }
  }
}

