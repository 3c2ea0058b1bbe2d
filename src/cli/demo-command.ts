/**
 * `klagg demo`: everything offline on one machine — the fake exchange with a generated market, the service against
 * it (every symbol activated at once, backfill and listing watch alongside) on the embedded database or a given
 * PostgreSQL, and klagg's faces on one port. The market has days of past trades (`--history`), which the start
 * backfills; then it prints the URLs, once. SIGINT/SIGTERM stop it cleanly.
 */
import { Command, InvalidArgumentError } from 'commander';
import { contextOf, type CommandHost } from './cli-context.ts';
import { ensurePortFree } from '../app/port-check.ts';

function whole(name: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
    return n;
  };
}

export function demoCommand(host: CommandHost): Command {
  const ctx = contextOf(host);
  const command = new Command('demo');
  return command
    .description('run klagg offline against a local fake exchange with a generated market, and print the URLs')
    .option('--symbols <n>', 'generated symbols', whole('--symbols', 1, 2000), 50)
    .option('--rate <n>', 'generated trades per second (whole market)', whole('--rate', 1, 100_000), 200)
    .option('--history <days>', 'days of market history before now (served over REST, backfilled at the start)', whole('--history', 0, 30), 3)
    .option('--port <p>', 'port for klagg’s HTTP API and streams (default: config, 8080)', whole('--port', 0, 65_535))
    .option('--database-url <url>', 'PostgreSQL (default: config / DATABASE_URL, else the embedded PGlite in ./data)')
    .action(async (opts: { symbols: number; rate: number; history: number; port?: number; databaseUrl?: string }) => {
      const { config, logger } = ctx.configure(command, {
        database: { url: opts.databaseUrl },
        server: opts.port === undefined ? undefined : { port: opts.port },
      });
      const life = ctx.lifecycle;
      // A taken port fails the demo before the exchange and the database are started, and before their modules load.
      await life.step(ensurePortFree(config.server.host, config.server.port));
      const { runDemo } = await life.step(import('../app/demo-service.ts'));
      await runDemo({ config, logger, life, symbols: opts.symbols, rate: opts.rate, historyDays: opts.history });
    });
}
