/**
 * `klagg run`: the service against the configured exchange — every symbol activated at once, history backfilled
 * alongside, listings and delistings followed. SIGINT/SIGTERM stop it in order (exit 0); a fatal error exits 1.
 */
import { Command } from 'commander';
import { KlaggService, systemOptionsFrom } from '../app/klagg-service.ts';
import { KlineBackfiller } from '../actors/kline-backfiller.ts';
import { scalesFromSizes } from '../domain/kline-format.ts';
import { OffsetClock, systemClock } from '../infra/clock.ts';
import { loadConfig } from '../infra/config/load-config.ts';
import { KlineStore } from '../infra/db/kline-store.ts';
import { openDatabase } from '../infra/db/open-database.ts';
import { SymbolStore } from '../infra/db/symbol-store.ts';
import type { Logger } from '../infra/logger.ts';
import { InspectorHub } from '../infra/inspector/inspector-hub.ts';
import { KLAGG_MACHINES } from '../machines/registry.ts';
import { startServing } from '../app/serving.ts';

export function runCommand(logger: Logger): Command {
  const command = new Command('run');
  return command
    .description('run the service against the configured exchange (REST + market streams) into the database')
    .option('--symbols <list>', 'only these symbols', (value: string) => value.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean))
    .option('--database-url <url>', 'PostgreSQL (default: config / DATABASE_URL, else the embedded PGlite)')
    .option('--rest-url <url>', 'exchange REST base URL (default: config)')
    .option('--ws-url <url>', 'exchange WebSocket base URL (default: config)')
    .option('--port <p>', 'port of klagg’s HTTP API and streams (default: config, 8080)', (value: string) => Number(value))
    .action(async (opts: { symbols?: string[]; databaseUrl?: string; restUrl?: string; wsUrl?: string; port?: number }) => {
      const config = loadConfig({
        file: command.parent?.opts<{ config?: string }>().config,
        env: process.env,
        flags: { database: { url: opts.databaseUrl }, exchange: { restBaseUrl: opts.restUrl, wsBaseUrl: opts.wsUrl }, server: opts.port === undefined ? undefined : { port: opts.port } },
      });
      const database = await openDatabase({ url: config.database.url, dataDir: config.database.dataDir, logger });
      const store = new KlineStore(database.db);
      // Klines close on the exchange's clock: local time plus the measured offset.
      const clock = new OffsetClock(systemClock);
      const inspector = new InspectorHub({ machines: KLAGG_MACHINES });
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
        restBaseUrl: config.exchange.restBaseUrl,
        wsBaseUrl: config.exchange.wsBaseUrl,
        store,
        symbolStore: new SymbolStore(database.db),
        clock,
        logger,
        symbols: opts.symbols,
        backfill: backfillOf(() => service!),
        detectNewSymbols: true,
        system: { ...systemOptionsFrom(config), inspect: inspector.inspect },
        streams: { silenceMs: config.watchdog.silenceMs },
        rest: { budgetShare: config.exchange.weightBudgetShare },
      });
      const offset = await service.rest.measureTimeOffset().catch(() => undefined);
      if (offset) clock.setOffset(offset.offsetMs);
      const stop = new Promise<string>((resolve) => {
        process.once('SIGINT', () => resolve('SIGINT')).once('SIGTERM', () => resolve('SIGTERM'));
      });
      await service.start();
      const serving = await startServing({ service, store, venue: config.venue, market: config.market, host: config.server.host, port: config.server.port, adminToken: config.adminToken, clock, logger, inspector });
      logger.info({ symbols: service.symbols.length, clockOffsetMs: clock.offsetMs, url: serving.url }, 'klagg is running');
      const reason = await Promise.race([stop, service.system.whenStopped().then(() => 'fatal error')]);
      await serving.close();
      const code = await service.stop(reason);
      await database.close();
      process.exitCode = code;
    });
}
