/**
 * The start and the life of `klagg demo` (loaded once the quick checks passed): the fake exchange with a generated
 * market and days of its past, the database, the service against the exchange, the HTTP faces, the backfill of that
 * past (a progress bar on a terminal); then the banner with the URLs, once, last; it runs until a stop is requested
 * or a fatal error. Each part started is registered with the lifecycle, which stops it if the start fails or is
 * interrupted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
import { BackfillProgressBar } from './backfill-progress-bar.ts';
import { demoBanner, type DemoUrls } from './demo-banner.ts';
import { klaggVersion } from './version.ts';

export type { DemoUrls } from './demo-banner.ts';

const DAY_MS = 86_400_000;
/**
 * Trades the generated past holds at most, whatever its length: its rate is lowered to fit (each trade bigger and
 * moving the price further, see synthetic-market-options.ts). ~500 000 trades are made and aggregated in ~2 s and
 * take ~300 MB; a busy symbol still trades every few seconds, a quiet one has empty minutes, as on Binance.
 */
const HISTORY_TRADES = 500_000;
/**
 * The fake exchange's request-weight limit per minute: 10× Binance's, so the backfill of days of history for every
 * symbol takes seconds, not minutes of waiting for the weight window (klagg paces itself on the limit it is told).
 */
const DEMO_WEIGHT_LIMIT = 24_000;

export interface RunDemoOptions {
  readonly config: KlaggConfig;
  readonly logger: Logger;
  readonly life: Lifecycle;
  /** Generated symbols and trades per second of the fake exchange's market. */
  readonly symbols: number;
  readonly rate: number;
  /** Days of the market's past (generated at a lower rate, see HISTORY_TRADES); default 0. */
  readonly historyDays?: number;
  /** Where the progress bar and the banner go (default process.stderr and process.stdout). */
  readonly terminal?: { readonly stderr: NodeJS.WriteStream; readonly stdout: NodeJS.WriteStream };
}

/** The past's whole-market trade rate: the live rate, or lower so the past holds at most HISTORY_TRADES trades. */
export function historyRate(rate: number, historyMs: number): number {
  return historyMs <= 0 ? rate : Math.min(rate, HISTORY_TRADES / (historyMs / 1000));
}

/** Starts the demo and resolves once it has stopped, with `process.exitCode` set. */
export async function runDemo({ config, logger, life, symbols, rate, historyDays = 0, terminal = process }: RunDemoOptions): Promise<void> {
  const started = performance.now();
  const { host, port } = config.server;
  const historyMs = Math.round(historyDays * DAY_MS);
  if (historyMs > 0) logger.info({ days: historyDays, symbols, rate: Number(historyRate(rate, historyMs).toFixed(3)) }, 'generating the market’s past');
  const exchange = await life.step(
    FakeExchange.start({ source: { kind: 'generated', symbols, rate, seed: 1, historyMs, historyRate: historyRate(rate, historyMs) }, weightLimit: DEMO_WEIGHT_LIMIT, logger }),
  );
  life.defer('exchange', () => exchange.close());
  // Without a PostgreSQL URL the demo stores into a fresh embedded database of its own, removed when it stops: each run
  // generates its market anew, so klines stored by an earlier run would not be this exchange's (and ./data may hold
  // `klagg run`'s).
  const scratch = config.database.url === undefined ? mkdtempSync(join(tmpdir(), 'klagg-demo-')) : undefined;
  const removeScratch = (): void => {
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  };
  const database = await life.step(openDatabaseOrFail({ url: config.database.url, dataDir: scratch ?? config.database.dataDir, logger })).catch((error: unknown) => {
    removeScratch();
    throw error;
  });
  life.defer('database', () => database.close().finally(removeScratch));
  const store = KlineStore.forDatabase(database);
  const inspector = new InspectorHub({ machines: KLAGG_MACHINES });
  // The start-up backfill draws a bar on a terminal (its info lines would only break it up); listings backfill later
  // without one. With debug logs asked for, the log lines instead.
  const bar = new BackfillProgressBar(terminal.stderr, logger.isLevelEnabled('info') && !logger.isLevelEnabled('debug'));
  let backfills = 0;
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
      run: (symbols, now, done) => {
        const first = backfills++ === 0 && bar.drawn;
        return new KlineBackfiller({
          rest: service!.rest,
          store,
          venue: config.venue,
          market: config.market,
          intervals: config.intervals,
          clock: systemClock,
          logger: logger.child({ actor: 'backfiller' }, first ? { level: 'warn' } : {}),
          onProgress: first ? bar.update : undefined,
          scalesOf: (symbol) => scalesFromSizes(service!.manager.exchangeSymbol(symbol)),
        }).run(symbols, now, done);
      },
    },
    system: { ...systemOptionsFrom(config), inspect: inspector.inspect },
  });
  const running = service;
  life.defer('service', (reason) => running.stop(reason));
  await life.step(running.start());
  const serving = await life
    .step(
      startServing({
        ...{ service: running, store, venue: config.venue, market: config.market, host, port, adminToken: config.adminToken, limits: servingLimitsFrom(config), clock: systemClock, logger, inspector },
        about: { version: klaggVersion(), mode: 'demo', database: database.kind, exchange: exchange.restUrl, startedAt: Math.round(performance.timeOrigin) },
      }),
    )
    .catch((error: unknown) => {
      throw portFailure(host, port, error);
    });
  life.defer('http', () => serving.close());
  // The start is complete once the past is stored: then the chart opens full and the banner is the last thing shown.
  await life.step(running.manager.backfillDone());
  bar.stop();
  const base = serving.url;
  const symbol = running.symbols[0] ?? 'BTCUSDT';
  const urls: DemoUrls = {
    home: `${base}/`,
    chart: `${base}/chart?symbol=${symbol}&interval=1m`,
    inspector: `${base}/inspector`,
    rest: `${base}/fapi/v1/klines?symbol=${symbol}&interval=1m&limit=5`,
    streams: `${base.replace(/^http/, 'ws')}/market/stream?streams=${symbol.toLowerCase()}@kline_1m`,
    symbols: `${base}/api/symbols`,
    health: `${base}/health`,
    metrics: `${base}/metrics`,
    exchange: exchange.restUrl,
  };
  // The backfill keeps 1000 periods per interval (the 1m ones: 16 h 40 min); the audit asks for what it stored.
  const since = new Date(Math.max(exchange.market.now() - historyMs, exchange.market.now() - 16 * 3_600_000)).toISOString().slice(0, 16);
  const audit = database.kind === 'postgres' && historyMs > 0 ? `npm run klagg -- audit --rest-url ${exchange.restUrl} --database-url ${database.location} --since ${since}Z` : undefined;
  logger.info({ url: base, symbols: running.symbols.length, startMs: Math.round(performance.now() - started) }, 'klagg demo is running (Ctrl+C to stop)');
  // Log lines are written asynchronously: the ones before it leave first, so the banner is last on a shared terminal.
  await new Promise<void>((resolve) => {
    setTimeout(resolve, 5_000).unref(); // never waits long on a destination that does not drain (a stalled pipe)
    logger.flush(() => resolve());
  });
  terminal.stdout.write(
    demoBanner(
      urls,
      { version: klaggVersion(), symbols: running.symbols.length, historyDays, intervals: config.intervals, database: database.location, startMs: performance.now() - started, audit },
      terminal.stdout.isTTY === true,
    ),
  );
  const reason = await Promise.race([life.whenStopRequested(), service.system.whenStopped().then(() => 'fatal error')]);
  life.forget('http');
  await serving.close();
  life.forget('service');
  const code = await service.stop(reason);
  life.forget('database');
  life.forget('exchange');
  await exchange.close();
  await database.close().finally(removeScratch);
  process.exitCode = code;
}
