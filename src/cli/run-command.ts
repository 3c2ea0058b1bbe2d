/**
 * `klagg run`: the service against the configured exchange — every symbol activated at once, history backfilled
 * alongside, listings and delistings followed. SIGINT/SIGTERM stop it in order (exit 0), during the start too; a start
 * that cannot complete (port taken, exchange or database unreachable) exits 1 with one line saying why.
 */
import { Command } from 'commander';
import { contextOf, type CommandHost } from './cli-context.ts';
import { ensurePortFree } from '../app/port-check.ts';

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
      // A taken port is reported before the service's modules are even loaded (they take a second or more).
      await life.step(ensurePortFree(config.server.host, config.server.port));
      const { runService } = await life.step(import('../app/run-service.ts'));
      await runService({ config, logger, life, symbols: opts.symbols });
    });
}
