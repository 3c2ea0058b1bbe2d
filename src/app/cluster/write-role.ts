/**
 * `klagg write`: durable kline batches → PostgreSQL (or the embedded PGlite) with the version-guarded upsert. Any
 * number of writers share the work; while the database is down they hold their batch and the rest waits in the
 * stream, so an outage costs time, never rows. Ranges an aggregator could not make exact (a late trade older than its
 * memory) are rebuilt here from the exchange's klines (`exchange.restBaseUrl`), once closed, as the next revision.
 */
import client from 'prom-client';
import { KlineWriter } from '../../actors/cluster/kline-writer.ts';
import { KlineRebuilder } from '../../actors/kline-rebuilder.ts';
import { scalesFromSizes } from '../../domain/kline-format.ts';
import { BinanceRestClient } from '../../infra/binance/rest-client.ts';
import { KlineBus } from '../../infra/nats/kline-bus.ts';
import { SymbolDirectory } from '../../infra/nats/symbol-directory.ts';
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
  const store = KlineStore.forDatabase(database);
  const log = logger.child({ role: 'write', node: cluster.node });
  // Klines the trades cannot make exact any more are rebuilt from the exchange's klines (the same path as `klagg run`),
  // stored as the next revision and pushed live so stream clients get the correction too.
  const rest = new BinanceRestClient({ baseUrl: config.exchange.restBaseUrl, clock: systemClock, logger: log.child({ component: 'rest' }), budgetShare: config.exchange.weightBudgetShare, maxRetries: config.exchange.maxRetries });
  const directory = new SymbolDirectory(cluster.buckets.symbols);
  await life.step(directory.follow(config.venue, config.market));
  life.defer('directory', () => directory.close());
  const live = new KlineBus(cluster.nc, cluster.js, cluster.names, cluster.node);
  const rebuilder = new KlineRebuilder({
    venue: config.venue,
    market: config.market,
    intervals: config.intervals,
    fetchKlines: (symbol, interval, startTime, endTime) => rest.klinesRange(symbol, interval, startTime, endTime),
    storedRevisions: async (symbol, interval, from, to) => {
      const stored = await store.range(config.venue, config.market, symbol, interval, { startTime: from, endTime: to, limit: 1500 });
      return new Map(stored.map((k) => [k.openTime, k.revision ?? 0]));
    },
    write: (records) => {
      void store.upsert(records).catch((error: unknown) => log.error({ err: (error as Error)?.message, rows: records.length }, 'storing rebuilt klines failed; they are rebuilt again on the next request'));
      const klines = records.map((r) => r.kline);
      for (const kline of klines) live.publishLive(cluster.names.partitionOf(config.venue, config.market, kline.symbol), 0, 0, config.venue, config.market, [kline]);
    },
    logger: log,
    now: () => systemClock.now(),
    scalesOf: (symbol) => scalesFromSizes(directory.get(symbol)),
  });
  const rebuildTimer = setInterval(() => void rebuilder.rebuildClosed(systemClock.now()), 1000);
  life.defer('rebuilder', () => clearInterval(rebuildTimer));
  const writer = new KlineWriter({
    consumer,
    store,
    streams: cluster.names.layout.klineStreams,
    maxMessages: 500,
    fetchExpiresMs: 1000,
    backoffInitialMs: config.dbWriter.backoffInitialMs,
    backoffMaxMs: Math.min(config.dbWriter.backoffMaxMs, 5_000),
    logger: log,
    now: () => systemClock.now(),
    onRebuilds: (_venue, _market, ranges) => {
      for (const r of ranges) rebuilder.addLate({ symbol: r.symbol, interval: r.interval, fromOpenTime: r.fromOpenTime, toOpenTime: r.toOpenTime });
    },
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
    { name: 'rebuilds', status: rebuilder.pending > 0 && systemClock.now() - (rebuilder.oldestPendingSince() ?? systemClock.now()) > 30 * 60_000 ? 'degraded' : 'ok', detail: `${rebuilder.pending} ranges waiting to be rebuilt from the exchange's klines; ${rebuilder.rebuilt} klines rebuilt` },
  ];
  const http = await life.step(RoleServer.start({ role: 'write', node: cluster.node, host, port, checks, logger, now: () => systemClock.now() }));
  life.defer('http', () => http.close());
  const registers = [http.registry];
  new client.Gauge({ name: 'klagg_writer_rows_written', help: 'Kline rows written (newer versions only)', registers, collect() { this.set(writer.stats.written); } });
  new client.Gauge({ name: 'klagg_writer_batches', help: 'Kline batches stored and acknowledged', registers, collect() { this.set(writer.stats.messages); } });
  new client.Gauge({ name: 'klagg_writer_failures', help: 'Upserts that failed (retried)', registers, collect() { this.set(writer.stats.failures); } });
  new client.Gauge({ name: 'klagg_writer_klines_rebuilt', help: 'Klines rebuilt from the exchange’s (late trades older than the engines’ memory)', registers, collect() { this.set(rebuilder.rebuilt); } });
  new client.Gauge({ name: 'klagg_writer_rebuilds_pending', help: 'Ranges waiting to be rebuilt from the exchange’s klines', registers, collect() { this.set(rebuilder.pending); } });
  new client.Gauge({ name: 'klagg_writer_backlog', help: 'Kline batches waiting in the stream', registers, collect() { this.set(backlog); } });
  process.stdout.write(`klagg write ready: node ${cluster.node}, ${http.url}/health\n`);
  await life.whenStopRequested();
}
