/**
 * The start and the life of `klagg run` (loaded once the quick checks passed): the database, the exchange's clock, the
 * service with every symbol activated, the HTTP faces; then it runs until a stop is requested or a fatal error. Each
 * start step gives way to a stop request; each part started is registered with the lifecycle, which stops it if the
 * start fails or is interrupted.
 */
import { KlaggService, systemOptionsFrom } from './klagg-service.ts';
import { reportHealth } from '../actors/health-board.ts';
import { KlineBackfiller } from '../actors/kline-backfiller.ts';
import { backfillRetryingFailures } from '../actors/backfill-retries.ts';
import { requestWeightLimitPerMinute } from '../domain/exchange-api.ts';
import { scalesFromSizes } from '../domain/kline-format.ts';
import { OffsetClock, systemClock } from '../infra/clock.ts';
import type { KlaggConfig } from '../infra/config/schema.ts';
import { KlineStore } from '../infra/db/kline-store.ts';
import { SymbolStore } from '../infra/db/symbol-store.ts';
import { KLAGG_MACHINES } from '../machines/registry.ts';
import { InspectorHub } from '../infra/inspector/inspector-hub.ts';
import type { Logger } from '../infra/logger.ts';
import { StopRequested, type Lifecycle } from './lifecycle.ts';
import { portFailure } from './port-check.ts';
import { servingLimitsFrom } from './serving-limits.ts';
import { startServing } from './serving.ts';
import { klaggVersion } from './version.ts';
import { exchangeFailure, openDatabaseOrFail } from './start-failures.ts';

export interface RunServiceOptions {
  readonly config: KlaggConfig;
  readonly logger: Logger;
  readonly life: Lifecycle;
  /** Only these symbols. */
  readonly symbols?: readonly string[] | undefined;
}

/** Starts the service and resolves once it has stopped, with `process.exitCode` set. */
export async function runService({ config, logger, life, symbols }: RunServiceOptions): Promise<void> {
  const { host, port } = config.server;
  const restUrl = config.exchange.restBaseUrl;
  const database = await life.step(openDatabaseOrFail({ url: config.database.url, dataDir: config.database.dataDir, logger }));
  life.defer('database', () => database.close());
  const store = KlineStore.forDatabase(database);
  // Klines close on the exchange's clock: local time plus the measured offset.
  const clock = new OffsetClock(systemClock);
  const inspector = new InspectorHub({ machines: KLAGG_MACHINES });
  let service: KlaggService | undefined;
  let stopping = false;
  const backfillOf = (svc: () => KlaggService) => ({
    run: (symbols: readonly { symbol: string; listedAt: number }[], now: number, done?: (symbol: string) => void) =>
      backfillRetryingFailures(
        (some, at) =>
          new KlineBackfiller({
            rest: svc().rest,
            store,
            venue: config.venue,
            market: config.market,
            intervals: config.intervals,
            clock,
            logger: logger.child({ actor: 'backfiller' }),
            scalesOf: (symbol) => scalesFromSizes(svc().manager.exchangeSymbol(symbol)),
          }).run(some, at, done),
        symbols,
        now,
        { now: () => clock.now(), stopped: () => stopping, logger: logger.child({ actor: 'backfiller' }) },
      ),
  });
  service = new KlaggService({
    venue: config.venue,
    market: config.market,
    intervals: config.intervals,
    restBaseUrl: restUrl,
    wsBaseUrl: config.exchange.wsBaseUrl,
    store,
    symbolStore: new SymbolStore(database.db),
    clock,
    logger,
    symbols,
    backfill: backfillOf(() => service!),
    detectNewSymbols: true,
    system: { ...systemOptionsFrom(config), inspect: inspector.inspect },
    streams: { silenceMs: config.watchdog.silenceMs },
    rest: { budgetShare: config.exchange.weightBudgetShare, maxRetries: config.exchange.maxRetries, backoffBaseMs: config.exchange.backoffInitialMs },
  });
  const running = service;
  // The exchange's weight limit before anything else: until it has read exchangeInfo the REST budget assumes Binance's
  // 2,400/min, and a restart that finds its previous life's weight (same IP, same minute) above that share would wait
  // for the minute to end even on an exchange that allows more (the soak's fake, with ten times Binance's limit).
  const info = await life.step(running.rest.exchangeInfo()).catch((error: unknown) => {
    throw exchangeFailure(restUrl, error);
  });
  const weightLimit = requestWeightLimitPerMinute(info);
  if (weightLimit !== undefined) running.rest.setWeightLimit(weightLimit);
  // An exchange that does not answer after every retry ends the start; any other trouble with the time only
  // leaves the offset at zero.
  const offset = await life.step(running.rest.measureTimeOffset()).catch((error: unknown) => {
    const failure = exchangeFailure(restUrl, error);
    if (failure !== error || error instanceof StopRequested) throw failure;
    logger.warn({ err: error }, 'could not measure the exchange clock offset; using local time');
    return undefined;
  });
  if (offset) clock.setOffset(offset.offsetMs);
  life.defer('service', (reason) => {
    stopping = true;
    return running.stop(reason);
  });
  // Served while the symbols are activated: a cold start waits minutes for REST weight (a cold join per symbol), and a
  // service whose /health does not answer meanwhile looks hung. /health says degraded (`startup`) until every symbol is
  // activated; the stored klines are served from the start.
  const serving = await life
    .step(
      startServing({
        ...{ service: running, store, venue: config.venue, market: config.market, host, port, adminToken: config.adminToken, limits: servingLimitsFrom(config), clock, logger, inspector },
        about: { version: klaggVersion(), mode: 'run', database: database.kind, exchange: restUrl, startedAt: Math.round(performance.timeOrigin) },
      }),
    )
    .catch((error: unknown) => {
      throw portFailure(host, port, error);
    });
  life.defer('http', () => serving.close());
  const startBegan = performance.now();
  reportHealth(running.system.health, 'startup', 'degraded', 'activating the symbols (cold joins wait for REST weight)', clock.now());
  logger.info({ url: serving.url }, 'serving while the symbols are activated; /health says degraded until then');
  await life.step(running.start()).catch((error: unknown) => {
    throw exchangeFailure(restUrl, error);
  });
  reportHealth(running.system.health, 'startup', 'ok', `every symbol activated in ${((performance.now() - startBegan) / 1000).toFixed(1)} s`, clock.now());
  logger.info({ symbols: running.symbols.length, clockOffsetMs: clock.offsetMs, url: serving.url }, 'klagg is running');
  const reason = await Promise.race([life.whenStopRequested(), running.system.whenStopped().then(() => 'fatal error')]);
  life.forget('http');
  await serving.close();
  life.forget('service');
  stopping = true;
  const code = await running.stop(reason);
  life.forget('database');
  await database.close();
  process.exitCode = code;
}
