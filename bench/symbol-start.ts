/**
 * Service-first start with 700 symbols against the fake exchange: with a warm database, how soon the first symbol is
 * Active and how soon all of them are (targets 1 s and 10 s); with a cold one, that live data flows for the first
 * symbols while the backfill still runs, and that no request is ever answered 429.
 */
import { defaultConfig } from '../src/infra/config/schema.ts';
import { KlaggService, systemOptionsFrom, type KlaggServiceOptions } from '../src/app/klagg-service.ts';
import { systemClock } from '../src/infra/clock.ts';
import { KlineStore } from '../src/infra/db/kline-store.ts';
import { openDatabase } from '../src/infra/db/open-database.ts';
import { FakeExchange } from '../src/infra/fake-exchange/fake-exchange.ts';
import { createRootLogger } from '../src/infra/logger.ts';
import type { HistoryBackfill } from '../src/actors/symbol-manager.ts';
import { createTestDatabase } from '../test/support/postgres.ts';
import type { BenchReport } from './report.ts';

const logger = createRootLogger({ level: 'silent' });

function serviceOptions(exchange: FakeExchange, store: KlineStore, backfill?: HistoryBackfill): KlaggServiceOptions {
  return {
    venue: 'binance',
    market: 'usdm',
    intervals: ['1m', '5m', '30m', '1h', '4h', '1d', '1w'],
    restBaseUrl: exchange.restUrl,
    wsBaseUrl: exchange.wsUrl,
    store,
    clock: systemClock,
    logger,
    backfill,
    // The documented defaults (boundary ticks every second: a live service).
    system: systemOptionsFrom(defaultConfig()),
  };
}

/** The backfill needs the service's REST client, which exists only once the service does. */
function lazyBackfill(make: () => HistoryBackfill): HistoryBackfill {
  return { run: (symbols, now, done) => make().run(symbols, now, done) };
}

/** Starts a service and measures when the first and the last of `count` symbols became Active (ms after start). */
async function timedStart(service: KlaggService, count: number): Promise<{ firstMs: number; allMs: number }> {
  const started = Date.now();
  let firstMs = -1;
  const watch = service.system.registry.subscribe(({ context }) => {
    if (firstMs < 0 && Object.values(context.symbols).some((entry) => entry.state === 'Active')) firstMs = Date.now() - started;
  });
  await service.start();
  while (Object.values(service.system.registry.getSnapshot().context.symbols).filter((e) => e.state === 'Active').length < count) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const allMs = Date.now() - started;
  watch.unsubscribe();
  return { firstMs, allMs };
}

export async function benchSymbolStart(options: { symbols: number; backfill?: (rest: KlaggService['rest'], store: KlineStore) => HistoryBackfill }, report: BenchReport): Promise<void> {
  const exchange = await FakeExchange.start({ source: { kind: 'generated', symbols: options.symbols, rate: 2000, seed: 4, quietPeriods: false } });
  const database = await createTestDatabase('klagg_bench_start');
  const handle = await openDatabase({ url: database.url });
  try {
    const store = new KlineStore(handle.db);
    // Cold: nothing stored. The backfill runs alongside; live data must flow meanwhile.
    let coldService: KlaggService | undefined;
    const coldBackfill = options.backfill ? lazyBackfill(() => options.backfill!(coldService!.rest, store)) : undefined;
    coldService = new KlaggService(serviceOptions(exchange, store, coldBackfill));
    const coldTimes = await timedStart(coldService, options.symbols);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const liveRows = await store.count('binance', 'usdm');
    const backfillDoneEarly = coldBackfill === undefined;
    await coldService.stop('bench', systemClock.now());
    const rest429 = exchange.stats().rest.byStatus[429] ?? 0;

    // Warm: the same database, now holding every symbol's recent klines.
    const warm = new KlaggService(serviceOptions(exchange, store));
    const warmTimes = await timedStart(warm, options.symbols);
    await warm.stop('bench', systemClock.now());

    report.line(
      `symbol start (${options.symbols} symbols, fake exchange): warm database — first Active after ${warmTimes.firstMs} ms (target ≤ 1000), ` +
        `all after ${warmTimes.allMs} ms (target ≤ 10000); cold — first Active after ${coldTimes.firstMs} ms, all after ${coldTimes.allMs} ms, ` +
        `${liveRows} klines stored within 3 s${backfillDoneEarly ? '' : ' while the backfill ran'}; 429 answers: ${rest429}`,
    );
    report.record('symbolStart', { symbols: options.symbols, warm: warmTimes, cold: coldTimes, liveRows, rest429 });
  } finally {
    await handle.close();
    await database.drop();
    await exchange.close();
  }
}
