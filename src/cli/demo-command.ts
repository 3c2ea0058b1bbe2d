/**
 * `klagg demo`: everything offline on one machine — the fake exchange with a generated market, the service against
 * it (every symbol activated at once, backfill and listing watch alongside) on the embedded database or a given
 * PostgreSQL, and klagg's faces on one port. Prints the URLs; SIGINT/SIGTERM stop it cleanly.
 */
import { Command, InvalidArgumentError } from 'commander';
import { KlaggService, systemOptionsFrom } from '../actors/klagg-service.ts';
import { KlineBackfiller } from '../actors/kline-backfiller.ts';
import { scalesFromSizes } from '../domain/kline-format.ts';
import { systemClock } from '../infra/clock.ts';
import { KlineStore } from '../infra/db/kline-store.ts';
import { FakeExchange } from '../infra/fake-exchange/fake-exchange.ts';
import { InspectorHub } from '../infra/inspector/inspector-hub.ts';
import { contextOf, type CommandHost } from './cli-context.ts';
import { startServing } from './serving.ts';
import { ensurePortFree, openDatabaseOrFail, portFailure } from './start-failures.ts';

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

export function demoCommand(host: CommandHost): Command {
  const ctx = contextOf(host);
  const command = new Command('demo');
  return command
    .description('run klagg offline against a local fake exchange with a generated market, and print the URLs')
    .option('--symbols <n>', 'generated symbols', whole('--symbols', 1, 2000), 50)
    .option('--rate <n>', 'generated trades per second (whole market)', whole('--rate', 1, 100_000), 200)
    .option('--port <p>', 'port for klagg’s HTTP API and streams (default: config, 8080)', whole('--port', 0, 65_535))
    .option('--database-url <url>', 'PostgreSQL (default: config / DATABASE_URL, else the embedded PGlite in ./data)')
    .action(async (opts: { symbols: number; rate: number; port?: number; databaseUrl?: string }) => {
      const { config, logger } = ctx.configure(command, {
        database: { url: opts.databaseUrl },
        server: opts.port === undefined ? undefined : { port: opts.port },
      });
      const life = ctx.lifecycle;
      const { host, port } = config.server;
      // A taken port fails the demo before the exchange and the database are started.
      await life.step(ensurePortFree(host, port));
      const exchange = await life.step(FakeExchange.start({ source: { kind: 'generated', symbols: opts.symbols, rate: opts.rate, seed: 1 }, logger }));
      life.defer('exchange', () => exchange.close());
      const database = await life.step(openDatabaseOrFail({ url: config.database.url, dataDir: config.database.dataDir, logger }));
      life.defer('database', () => database.close());
      const store = new KlineStore(database.db);
      const inspector = new InspectorHub();
      let service: KlaggService | undefined;
      service = new KlaggService({
        venue: config.venue,
        market: config.market,
        intervals: config.intervals,
        restBaseUrl: exchange.restUrl,
        wsBaseUrl: exchange.wsUrl,
        store,
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
        .step(startServing({ service: running, store, venue: config.venue, market: config.market, host, port, adminToken: config.adminToken, clock: systemClock, logger, inspector }))
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
    });
}
