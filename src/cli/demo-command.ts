/**
 * `klagg demo`: everything offline on one machine — the fake exchange with a generated market, the service against
 * it (every symbol activated at once, backfill and listing watch alongside) on the embedded database or a given
 * PostgreSQL, and klagg's faces on one port. Prints the URLs; SIGINT/SIGTERM stop it cleanly.
 */
import { Command, InvalidArgumentError } from 'commander';
import { KlaggService, systemOptionsFrom } from '../app/klagg-service.ts';
import { KlineBackfiller } from '../actors/kline-backfiller.ts';
import { scalesFromSizes } from '../domain/kline-format.ts';
import { systemClock } from '../infra/clock.ts';
import { loadConfig } from '../infra/config/load-config.ts';
import { KlineStore } from '../infra/db/kline-store.ts';
import { openDatabase } from '../infra/db/open-database.ts';
import { SymbolStore } from '../infra/db/symbol-store.ts';
import { FakeExchange } from '../infra/fake-exchange/fake-exchange.ts';
import type { Logger } from '../infra/logger.ts';
import { InspectorHub } from '../infra/inspector/inspector-hub.ts';
import { KLAGG_MACHINES } from '../machines/registry.ts';
import { startServing } from '../app/serving.ts';

function whole(name: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
    return n;
  };
}

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

export function demoCommand(logger: Logger): Command {
  const command = new Command('demo');
  return command
    .description('run klagg offline against a local fake exchange with a generated market, and print the URLs')
    .option('--symbols <n>', 'generated symbols', whole('--symbols', 1, 2000), 50)
    .option('--rate <n>', 'generated trades per second (whole market)', whole('--rate', 1, 100_000), 200)
    .option('--port <p>', 'port for klagg’s HTTP API and streams (default: config, 8080)', whole('--port', 0, 65_535))
    .option('--database-url <url>', 'PostgreSQL (default: config / DATABASE_URL, else the embedded PGlite in ./data)')
    .action(async (opts: { symbols: number; rate: number; port?: number; databaseUrl?: string }) => {
      const config = loadConfig({
        file: command.parent?.opts<{ config?: string }>().config,
        env: process.env,
        flags: { database: { url: opts.databaseUrl }, server: opts.port === undefined ? undefined : { port: opts.port } },
      });
      const exchange = await FakeExchange.start({ source: { kind: 'generated', symbols: opts.symbols, rate: opts.rate, seed: 1 }, logger });
      const database = await openDatabase({ url: config.database.url, dataDir: config.database.dataDir, logger });
      const store = new KlineStore(database.db);
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
      const stop = new Promise<string>((resolve) => {
        process.once('SIGINT', () => resolve('SIGINT')).once('SIGTERM', () => resolve('SIGTERM'));
      });
      await service.start();
      const serving = await startServing({ service, store, venue: config.venue, market: config.market, host: config.server.host, port: config.server.port, adminToken: config.adminToken, clock: systemClock, logger, inspector });
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
      const reason = await Promise.race([stop, service.system.whenStopped().then(() => 'fatal error')]);
      await serving.close();
      const code = await service.stop(reason);
      await exchange.close();
      await database.close();
      process.exitCode = code;
    });
}
