/**
 * `klagg run`: the service against the configured exchange — every symbol activated at once, history backfilled
 * alongside, listings and delistings followed. SIGINT/SIGTERM stop it in order (exit 0), during the start too; a start
 * that cannot complete (port taken, exchange or database unreachable) exits 1 with one line saying why.
 */
import { Command } from 'commander';
import { KlaggService, systemOptionsFrom } from '../actors/klagg-service.ts';
import { KlineBackfiller } from '../actors/kline-backfiller.ts';
import { scalesFromSizes } from '../domain/kline-format.ts';
import { OffsetClock, systemClock } from '../infra/clock.ts';
import { KlineStore } from '../infra/db/kline-store.ts';
import { InspectorHub } from '../infra/inspector/inspector-hub.ts';
import { contextOf, type CommandHost } from './cli-context.ts';
import { StopRequested } from './lifecycle.ts';
import { startServing } from './serving.ts';
import { ensurePortFree, exchangeFailure, openDatabaseOrFail, portFailure } from './start-failures.ts';

export function runCommand(host: CommandHost): Command {
  const ctx = contextOf(host);
  const command = new Command('run');
  return command
    .description('run the service against the configured exchange (REST + market streams) into the database')
    .option('--symbols <list>', 'only these symbols', (value: string) => value.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean))
    .option('--database-url <url>', 'PostgreSQL (default: config / DATABASE_URL, else the embedded PGlite)')
    .option('--rest-url <url>', 'exchange REST base URL (default: config)')
    .option('--ws-url <url>', 'exchange WebSocket base URL (default: config)')
    .option('--port <p>', 'port of klagg’s HTTP API and streams (default: config, 8080)', (value: string) => Number(value))
    .action(async (opts: { symbols?: string[]; databaseUrl?: string; restUrl?: string; wsUrl?: string; port?: number }) => {
      const { config, logger } = ctx.configure(command, {
        database: { url: opts.databaseUrl },
        exchange: { restBaseUrl: opts.restUrl, wsBaseUrl: opts.wsUrl },
        server: opts.port === undefined ? undefined : { port: opts.port },
      });
      const life = ctx.lifecycle;
      const { host, port } = config.server;
      const restUrl = config.exchange.restBaseUrl;
      await life.step(ensurePortFree(host, port));
      const database = await life.step(openDatabaseOrFail({ url: config.database.url, dataDir: config.database.dataDir, logger }));
      life.defer('database', () => database.close());
      const store = new KlineStore(database.db);
      // Klines close on the exchange's clock: local time plus the measured offset.
      const clock = new OffsetClock(systemClock);
      const inspector = new InspectorHub();
      let service: KlaggService | undefined;
      const backfillOf = (svc: () => KlaggService) => ({
        run: (symbols: readonly { symbol: string; listedAt: number }[], now: number, done?: (symbol: string) => void) =>
          new KlineBackfiller({
            rest: svc().rest,
            store,
            venue: config.venue,
            market: config.market,
            intervals: config.intervals,
            clock,
            logger: logger.child({ actor: 'backfiller' }),
            scalesOf: (symbol) => scalesFromSizes(svc().manager.exchangeSymbol(symbol)),
          }).run(symbols, now, done),
      });
      service = new KlaggService({
        venue: config.venue,
        market: config.market,
        intervals: config.intervals,
        restBaseUrl: restUrl,
        wsBaseUrl: config.exchange.wsBaseUrl,
        store,
        clock,
        logger,
        symbols: opts.symbols,
        backfill: backfillOf(() => service!),
        detectNewSymbols: true,
        system: { ...systemOptionsFrom(config), inspect: inspector.inspect },
        streams: { silenceMs: config.watchdog.silenceMs },
        rest: { budgetShare: config.exchange.weightBudgetShare, maxRetries: config.exchange.maxRetries, backoffBaseMs: config.exchange.backoffInitialMs },
      });
      const running = service;
      // An exchange that does not answer after every retry ends the start; any other trouble with the time only
      // leaves the offset at zero.
      const offset = await life.step(running.rest.measureTimeOffset()).catch((error: unknown) => {
        const failure = exchangeFailure(restUrl, error);
        if (failure !== error || error instanceof StopRequested) throw failure;
        logger.warn({ err: error }, 'could not measure the exchange clock offset; using local time');
        return undefined;
      });
      if (offset) clock.setOffset(offset.offsetMs);
      life.defer('service', (reason) => running.stop(reason));
      await life.step(running.start()).catch((error: unknown) => {
        throw exchangeFailure(restUrl, error);
      });
      const serving = await life
        .step(startServing({ service: running, store, venue: config.venue, market: config.market, host, port, adminToken: config.adminToken, clock, logger, inspector }))
        .catch((error: unknown) => {
          throw portFailure(host, port, error);
        });
      life.defer('http', () => serving.close());
      logger.info({ symbols: running.symbols.length, clockOffsetMs: clock.offsetMs, url: serving.url }, 'klagg is running');
      const reason = await Promise.race([life.whenStopRequested(), running.system.whenStopped().then(() => 'fatal error')]);
      life.forget('http');
      await serving.close();
      life.forget('service');
      const code = await running.stop(reason);
      life.forget('database');
      await database.close();
      process.exitCode = code;
    });
}
