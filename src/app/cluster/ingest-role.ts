/**
 * `klagg ingest`: trades into the cluster's trade log — from a recording (`--input`, published as the exchange
 * connection would publish it, then an end marker) — partitioned by the stable instrument hash, batched per symbol
 * with one unacknowledged batch each, deduplicated by message id, with watermarks in-band. Two ingests may feed
 * the same venue-market: the aggregators drop the second copy of every trade by its id.
 */
import client from 'prom-client';
import { ingestRecording } from '../../actors/cluster/recording-ingest.ts';
import { systemClock } from '../../infra/clock.ts';
import type { KlaggConfig } from '../../infra/config/schema.ts';
import { RoleServer, type RoleCheck } from '../../infra/http/role-server.ts';
import type { Logger } from '../../infra/logger.ts';
import { SymbolDirectory, sizeOfScale } from '../../infra/nats/symbol-directory.ts';
import { TradeLogPublisher } from '../../infra/nats/trade-log-publisher.ts';
import { readLines } from '../../infra/recording/line-reader.ts';
import type { Lifecycle } from '../lifecycle.ts';
import { openCluster } from './cluster-runtime.ts';

export interface IngestRoleOptions {
  readonly config: KlaggConfig;
  readonly logger: Logger;
  readonly life: Lifecycle;
  readonly host: string;
  readonly port: number;
  readonly input: string;
  /** Trades per second at most (a recording spread over real time). */
  readonly rate?: number;
  /** Keep running (serving /health) after the recording is published, until stopped. */
  readonly stay?: boolean;
}

export async function runIngestRole(options: IngestRoleOptions): Promise<void> {
  const { config, logger, life } = options;
  const cluster = await life.step(openCluster(config, 'ingest', logger));
  life.defer('nats', () => cluster.close());
  const log = logger.child({ role: 'ingest', node: cluster.node });
  let lastRetryLog = 0;
  const publisher = new TradeLogPublisher({
    js: cluster.js,
    names: cluster.names,
    venue: config.venue,
    market: config.market,
    ingestId: cluster.node,
    onRetry: (subject, error, attempt) => {
      // Every symbol's batch retries on its own: one line a second says it for all of them.
      const now = systemClock.now();
      if (now - lastRetryLog >= 1000) {
        lastRetryLog = now;
        log.warn({ subject, attempt, retries: publisher.stats.retries, outstanding: publisher.outstanding, err: (error as Error)?.message }, 'publishing to the trade log fails; retrying with the same message ids');
      }
    },
  });
  life.defer('publisher', () => publisher.close());
  const directory = new SymbolDirectory(cluster.buckets.symbols);
  let phase = 'starting';
  const checks = (): RoleCheck[] => {
    const stall = publisher.stalledForMs();
    return [
      { name: 'nats', status: cluster.nc.isClosed() ? 'error' : 'ok', detail: cluster.nc.getServer() },
      { name: 'source', status: 'ok', detail: phase },
      { name: 'publish', status: stall > 10_000 ? 'degraded' : 'ok', detail: `${publisher.stats.trades} trades in ${publisher.stats.batches} batches; ${publisher.outstanding} waiting; ${publisher.stats.retries} retries` },
    ];
  };
  const http = await life.step(RoleServer.start({ role: 'ingest', node: cluster.node, host: options.host, port: options.port, checks, logger, now: () => systemClock.now() }));
  life.defer('http', () => http.close());
  const registers = [http.registry];
  new client.Gauge({ name: 'klagg_ingest_trades_published', help: 'Trades acknowledged by the trade log', registers, collect() { this.set(publisher.stats.trades); } });
  new client.Gauge({ name: 'klagg_ingest_batches_published', help: 'Trade batches acknowledged by the trade log', registers, collect() { this.set(publisher.stats.batches); } });
  new client.Gauge({ name: 'klagg_ingest_publish_retries', help: 'Publishes retried (publish stalls: an election, a lost link)', registers, collect() { this.set(publisher.stats.retries); } });
  new client.Gauge({ name: 'klagg_ingest_publish_stalled_seconds', help: 'Time spent in publishes that needed retries', registers, collect() { this.set(publisher.stats.stalledMs / 1000); } });
  new client.Gauge({ name: 'klagg_ingest_outstanding_trades', help: 'Trades queued or in flight to the log', registers, collect() { this.set(publisher.outstanding); } });
  process.stdout.write(`klagg ingest ready: node ${cluster.node}, ${http.url}/health\n`);

  phase = `publishing ${options.input}`;
  const summary = await ingestRecording({
    input: options.input,
    publisher,
    readLines,
    rate: options.rate,
    watermarkMs: config.cluster.watermarkMs,
    describe: (symbol, scales) =>
      directory.put(config.venue, config.market, { symbol, status: 'TRADING', tickSize: sizeOfScale(scales.priceScale), stepSize: sizeOfScale(scales.qtyScale), baseAsset: symbol, quoteAsset: '' }),
    signal: life.stopSignal(),
    logger: log,
  });
  phase = summary.ended ? `published ${summary.trades} trades of ${summary.symbols} symbols; end marker sent` : `stopped after ${summary.trades} trades`;
  process.stdout.write(`klagg ingest done: ${summary.trades} trades, ${summary.symbols} symbols${summary.ended ? ', end marker sent' : ' (stopped)'}\n`);
  if (options.stay === true && summary.ended) await life.whenStopRequested();
}
