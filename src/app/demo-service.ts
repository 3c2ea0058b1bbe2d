/**
 * The start and the life of `klagg demo` (loaded once the quick checks passed): the fake exchange, the database, the
 * service against the exchange, the HTTP faces; prints the URLs and runs until a stop is requested or a fatal error.
 * Each part started is registered with the lifecycle, which stops it if the start fails or is interrupted.
 */
import { KlaggService, systemOptionsFrom } from './klagg-service.ts';
import { KlineBackfiller } from '../actors/kline-backfiller.ts';
import { scalesFromSizes } from '../domain/kline-format.ts';
import { systemClock } from '../infra/clock.ts';
import type { KlaggConfig } from '../infra/config/schema.ts';
import { KlineStore } from '../infra/db/kline-store.ts';
import { SymbolStore } from '../infra/db/symbol-store.ts';
import { KLAGG_MACHINES } from '../machines/registry.ts';
import { FakeExchange } from '../infra/fake-exchange/fake-exchange.ts';
import { InspectorHub } from '../infra/inspector/inspector-hub.ts';
import type { Logger } from '../infra/logger.ts';
import type { Lifecycle } from './lifecycle.ts';
import { portFailure } from './port-check.ts';
import { servingLimitsFrom } from './serving-limits.ts';
import { startServing } from './serving.ts';
import { openDatabaseOrFail } from './start-failures.ts';

export interface DemoUrls {
  readonly rest: string;
  readonly streams: string;
  readonly symbols: string;
  readonly health: string;
  readonly metrics: string;
  readonly exchange: string;
  readonly chart: string;
  readonly inspector: string;
}

export interface RunDemoOptions {
  readonly config: KlaggConfig;
  readonly logger: Logger;
  readonly life: Lifecycle;
  /** Generated symbols and trades per second of the fake exchange's market. */
  readonly symbols: number;
  readonly rate: number;
}

/** Starts the demo and resolves once it has stopped, with `process.exitCode` set. */
export async function runDemo({ config, logger, life, symbols, rate }: RunDemoOptions): Promise<void> {
  const { host, port } = config.server;
  const exchange = await life.step(FakeExchange.start({ source: { kind: 'generated', symbols, rate, seed: 1 }, logger }));
  life.defer('exchange', () => exchange.close());
  const database = await life.step(openDatabaseOrFail({ url: config.database.url, dataDir: config.database.dataDir, logger }));
  life.defer('database', () => database.close());
  const store = KlineStore.forDatabase(database);
  const inspector = new InspectorHub({ machines: KLAGG_MACHINES });
  let service: KlaggService | undefined;
  service = new KlaggService({
    venue: config.venue,
    market: config.market,
    intervals: config.intervals,
    restBaseUrl: exchange.restUrl,
    wsBaseUrl: exchange.wsUrl,
    store,
    symbolStore: new SymbolStore(database.db),
    clock: systemClock,
    logger,
    detectNewSymbols: true,
    backfill: {
      run: (symbols, now, done) =>
        new KlineBackfiller({
          rest: service!.rest,
          store,
          venue: config.venue,
          market: config.market,
          intervals: config.intervals,
          clock: systemClock,
          logger: logger.child({ actor: 'backfiller' }),
          scalesOf: (symbol) => scalesFromSizes(service!.manager.exchangeSymbol(symbol)),
        }).run(symbols, now, done),
    },
    system: { ...systemOptionsFrom(config), inspect: inspector.inspect },
  });
  const running = service;
  life.defer('service', (reason) => running.stop(reason));
  await life.step(running.start());
  const serving = await life
    .step(startServing({ service: running, store, venue: config.venue, market: config.market, host, port, adminToken: config.adminToken, limits: servingLimitsFrom(config), clock: systemClock, logger, inspector }))
    .catch((error: unknown) => {
      throw portFailure(host, port, error);
    });
  life.defer('http', () => serving.close());
  const base = serving.url;
  const urls: DemoUrls = {
    rest: `${base}/fapi/v1/klines?symbol=${service.symbols[0] ?? 'BTCUSDT'}&interval=1m`,
    streams: `${base.replace(/^http/, 'ws')}/market/stream?streams=${(service.symbols[0] ?? 'BTCUSDT').toLowerCase()}@kline_1m`,
    symbols: `${base}/api/symbols`,
    health: `${base}/health`,
    metrics: `${base}/metrics`,
    exchange: exchange.restUrl,
    chart: `${base}/chart?symbol=${service.symbols[0] ?? 'BTCUSDT'}&interval=1m`,
    inspector: `${base}/inspector`,
  };
  process.stdout.write(`${JSON.stringify(urls)}\n`);
  logger.info({ ...urls, symbols: service.symbols.length }, 'klagg demo is running (Ctrl+C to stop)');
  const reason = await Promise.race([life.whenStopRequested(), service.system.whenStopped().then(() => 'fatal error')]);
  life.forget('http');
  await serving.close();
  life.forget('service');
  const code = await service.stop(reason);
  life.forget('database');
  life.forget('exchange');
  await exchange.close();
  await database.close();
  process.exitCode = code;
}
