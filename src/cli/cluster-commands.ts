/**
 * The scale-out roles, one command each, on one codebase (docs/scale-out.md): `klagg ingest`, `klagg aggregate`,
 * `klagg write`, `klagg serve`. Each reads the same configuration as `klagg run` plus its `cluster` section; the
 * flags below override the most used settings. Each prints one `klagg <role> ready: …` line once it works.
 */
import { Command } from 'commander';
import type { DeepPartial, KlaggConfig } from '../infra/config/schema.ts';
import { contextOf, type CommandHost } from './cli-context.ts';

interface ClusterFlags {
  nats?: string;
  namespace?: string;
  partitions?: number;
  replicas?: number;
  node?: string;
  databaseUrl?: string;
  httpPort?: number;
  port?: number;
}

const integer = (value: string): number => Number(value);

function withClusterFlags(command: Command): Command {
  return command
    .option('--nats <urls>', 'comma-separated NATS server URLs (default: config cluster.servers, nats://127.0.0.1:4222)')
    .option('--namespace <name>', 'prefix of every subject, stream and bucket (default: klagg)')
    .option('--partitions <n>', 'virtual partitions (default: 256; every role of a cluster must agree)', integer)
    .option('--replicas <n>', 'stream and bucket replicas: 1 on one server, 3 on a cluster', integer)
    .option('--node <name>', 'this process’s name in heartbeats and ownership records (default: role-host-pid)');
}

function flagsOf(opts: ClusterFlags): DeepPartial<KlaggConfig> {
  return {
    cluster: { servers: opts.nats, namespace: opts.namespace, partitions: opts.partitions, replicas: opts.replicas, node: opts.node },
    database: { url: opts.databaseUrl },
    server: opts.port === undefined ? undefined : { port: opts.port },
  };
}

export function ingestCommand(host: CommandHost): Command {
  const ctx = contextOf(host);
  const command = withClusterFlags(new Command('ingest'))
    .description('publish trades into the cluster’s trade log (from the exchange, or a recording with an end marker after it)')
    .option('--input <file>', 'a recording of aggTrade frames (one per line) instead of the exchange')
    .option('--symbols <list>', 'only these symbols (exchange)', (value: string) => value.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean))
    .option('--rest-url <url>', 'exchange REST base URL (default: config)')
    .option('--ws-url <url>', 'exchange WebSocket base URL (default: config)')
    .option('--rate <n>', 'trades per second at most (default: as fast as the log acknowledges)', integer)
    .option('--stay', 'keep running (and serving /health) after the recording is published')
    .option('--http-port <p>', 'port of /health and /metrics (default: 0, a free one)', integer);
  return command.action(async (opts: ClusterFlags & { input?: string; rate?: number; stay?: boolean; symbols?: string[]; restUrl?: string; wsUrl?: string }) => {
    const { config, logger } = ctx.configure(command, { ...flagsOf(opts), exchange: { restBaseUrl: opts.restUrl, wsBaseUrl: opts.wsUrl } });
    const { runIngestRole } = await ctx.lifecycle.step(import('../app/cluster/ingest-role.ts'));
    await runIngestRole({ config, logger, life: ctx.lifecycle, host: config.server.host, port: opts.httpPort ?? 0, input: opts.input, symbols: opts.symbols, rate: opts.rate, stay: opts.stay });
  });
}

export function aggregateCommand(host: CommandHost): Command {
  const ctx = contextOf(host);
  const command = withClusterFlags(new Command('aggregate'))
    .description('own partitions of the trade log and publish their klines (live and durable)')
    .option('--http-port <p>', 'port of /health, /metrics and the inspector (default: 0, a free one)', integer);
  return command.action(async (opts: ClusterFlags) => {
    const { config, logger } = ctx.configure(command, flagsOf(opts));
    const { runAggregateRole } = await ctx.lifecycle.step(import('../app/cluster/aggregate-role.ts'));
    await runAggregateRole({ config, logger, life: ctx.lifecycle, host: config.server.host, port: opts.httpPort ?? 0 });
  });
}

export function writeCommand(host: CommandHost): Command {
  const ctx = contextOf(host);
  const command = withClusterFlags(new Command('write'))
    .description('store the cluster’s durable kline batches in the database (and rebuild what trades cannot make exact)')
    .option('--database-url <url>', 'PostgreSQL (default: config / DATABASE_URL, else the embedded PGlite)')
    .option('--rest-url <url>', 'exchange REST base URL, for rebuilding klines from the exchange’s (default: config)')
    .option('--http-port <p>', 'port of /health and /metrics (default: 0, a free one)', integer);
  return command.action(async (opts: ClusterFlags & { restUrl?: string }) => {
    const { config, logger } = ctx.configure(command, { ...flagsOf(opts), exchange: { restBaseUrl: opts.restUrl } });
    const { runWriteRole } = await ctx.lifecycle.step(import('../app/cluster/write-role.ts'));
    await runWriteRole({ config, logger, life: ctx.lifecycle, host: config.server.host, port: opts.httpPort ?? 0 });
  });
}

export function serveCommand(host: CommandHost): Command {
  const ctx = contextOf(host);
  const command = withClusterFlags(new Command('serve'))
    .description('serve the Binance-compatible REST routes and kline streams from the database and the live subjects')
    .option('--database-url <url>', 'PostgreSQL (default: config / DATABASE_URL, else the embedded PGlite)')
    .option('--port <p>', 'port of the HTTP API and streams (default: config, 8080)', integer);
  return command.action(async (opts: ClusterFlags) => {
    const { config, logger } = ctx.configure(command, flagsOf(opts));
    const { runServeRole } = await ctx.lifecycle.step(import('../app/cluster/serve-role.ts'));
    await runServeRole({ config, logger, life: ctx.lifecycle });
  });
}
