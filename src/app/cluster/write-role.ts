/**
 * `klagg write`: durable kline batches → PostgreSQL (or the embedded PGlite) with the version-guarded upsert. Any
 * number of writers share the work; while the database is down they hold their batch and the rest waits in the
 * stream, so an outage costs time, never rows.
 */
import client from 'prom-client';
import { KlineWriter } from '../../actors/cluster/kline-writer.ts';
import { systemClock } from '../../infra/clock.ts';
import type { KlaggConfig } from '../../infra/config/schema.ts';
import { KlineStore } from '../../infra/db/kline-store.ts';
import { RoleServer, type RoleCheck } from '../../infra/http/role-server.ts';
import type { Logger } from '../../infra/logger.ts';
import { KlineBatchConsumer } from '../../infra/nats/kline-batch-consumer.ts';
import type { Lifecycle } from '../lifecycle.ts';
import { openDatabaseOrFail } from '../start-failures.ts';
import { openCluster } from './cluster-runtime.ts';

export interface WriteRoleOptions {
  readonly config: KlaggConfig;
  readonly logger: Logger;
  readonly life: Lifecycle;
  readonly host: string;
  readonly port: number;
}

export async function runWriteRole({ config, logger, life, host, port }: WriteRoleOptions): Promise<void> {
  const database = await life.step(openDatabaseOrFail({ url: config.database.url, dataDir: config.database.dataDir, logger }));
  life.defer('database', () => database.close());
  const cluster = await life.step(openCluster(config, 'write', logger));
  life.defer('nats', () => cluster.close());
  const consumer = new KlineBatchConsumer(cluster.nc, cluster.js, cluster.names);
  await life.step(consumer.ensure());
  const writer = new KlineWriter({
    consumer,
    store: new KlineStore(database.db),
    streams: cluster.names.layout.klineStreams,
    maxMessages: 500,
    fetchExpiresMs: 1000,
    backoffInitialMs: config.dbWriter.backoffInitialMs,
    backoffMaxMs: Math.min(config.dbWriter.backoffMaxMs, 5_000),
    logger: logger.child({ role: 'write', node: cluster.node }),
    now: () => systemClock.now(),
  });
  writer.start();
  life.defer('writer', () => writer.stop());
  let backlog = 0;
  const backlogTimer = setInterval(() => void consumer.backlog().then((n) => (backlog = n), () => undefined), 2000);
  life.defer('backlog', () => clearInterval(backlogTimer));
  const checks = (): RoleCheck[] => [
    { name: 'nats', status: cluster.nc.isClosed() ? 'error' : 'ok', detail: cluster.nc.getServer() },
    { name: 'database', status: writer.stats.stalled ? 'degraded' : 'ok', detail: writer.stats.stalled ? `storing fails (${writer.stats.failures} failures); batches wait in the stream` : `${writer.stats.written} rows written` },
    { name: 'backlog', status: backlog > 50_000 ? 'degraded' : 'ok', detail: `${backlog} kline batches not yet stored` },
    { name: 'malformed', status: writer.stats.malformed > 0 ? 'degraded' : 'ok', detail: `${writer.stats.malformed} malformed batches dropped` },
  ];
  const http = await life.step(RoleServer.start({ role: 'write', node: cluster.node, host, port, checks, logger, now: () => systemClock.now() }));
  life.defer('http', () => http.close());
  const registers = [http.registry];
  new client.Gauge({ name: 'klagg_writer_rows_written', help: 'Kline rows written (newer versions only)', registers, collect() { this.set(writer.stats.written); } });
  new client.Gauge({ name: 'klagg_writer_batches', help: 'Kline batches stored and acknowledged', registers, collect() { this.set(writer.stats.messages); } });
  new client.Gauge({ name: 'klagg_writer_failures', help: 'Upserts that failed (retried)', registers, collect() { this.set(writer.stats.failures); } });
  new client.Gauge({ name: 'klagg_writer_backlog', help: 'Kline batches waiting in the stream', registers, collect() { this.set(backlog); } });
  process.stdout.write(`klagg write ready: node ${cluster.node}, ${http.url}/health\n`);
  await life.whenStopRequested();
}
