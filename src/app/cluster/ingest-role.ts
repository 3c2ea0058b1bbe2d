/**
 * `klagg ingest`: trades into the cluster's trade log — from the exchange's market streams (every TRADING symbol, or
 * `--symbols`; ids made contiguous by REST repair before publishing), or from a recording (`--input`, published as
 * the exchange connection would publish it, then an end marker) — partitioned by the stable instrument hash, batched per symbol
 * with one unacknowledged batch each, deduplicated by message id, with watermarks in-band. Two ingests may feed
 * the same venue-market: the aggregators drop the second copy of every trade by its id.
 */
import client from 'prom-client';
import { jetstreamManager } from '@nats-io/jetstream';
import { ExchangeIngest } from '../../actors/cluster/exchange-ingest.ts';
import { ingestRecording } from '../../actors/cluster/recording-ingest.ts';
import { StreamManager } from '../../actors/stream-manager.ts';
import { scalesFromSizes } from '../../domain/kline-format.ts';
import { BinanceRestClient } from '../../infra/binance/rest-client.ts';
import { OffsetClock } from '../../infra/clock.ts';
import { createExchangeSocket } from '../../infra/exchange-stream/exchange-socket.ts';
import { TradeLogPositions } from '../../infra/nats/trade-log-positions.ts';
import { exchangeFailure } from '../start-failures.ts';
import { systemClock } from '../../infra/clock.ts';
import type { KlaggConfig } from '../../infra/config/schema.ts';
import { RoleServer, type RoleCheck } from '../../infra/http/role-server.ts';
import type { Logger } from '../../infra/logger.ts';
import { SymbolDirectory, sizeOfScale } from '../../infra/nats/symbol-directory.ts';
import { TradeLogPublisher } from '../../infra/nats/trade-log-publisher.ts';
import { readLines } from '../../infra/recording/line-reader.ts';
import type { Lifecycle } from '../lifecycle.ts';
import { openCluster, type ClusterRuntime } from './cluster-runtime.ts';

export interface IngestRoleOptions {
  readonly config: KlaggConfig;
  readonly logger: Logger;
  readonly life: Lifecycle;
  readonly host: string;
  readonly port: number;
  /** A recording to publish; without it, the configured exchange. */
  readonly input?: string;
  readonly symbols?: readonly string[];
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
  if (options.input === undefined) {
    const exchange = await startExchangeIngest({ config, logger: log, life, cluster, publisher, directory, symbols: options.symbols });
    phase = `${exchange.symbols.length} symbols from ${config.exchange.wsBaseUrl}`;
    const s = exchange.stats;
    new client.Gauge({ name: 'klagg_ingest_repairs', help: 'Gaps in a symbol’s ids (or catch-ups) repaired over REST before publishing', registers, collect() { this.set(s.repairs); } });
    new client.Gauge({ name: 'klagg_ingest_repaired_trades', help: 'Trades fetched over REST and published in their place', registers, collect() { this.set(s.repairedTrades); } });
    new client.Gauge({ name: 'klagg_ingest_unrepaired_trades', help: 'Ids the exchange could not give any more (skipped; the aggregators count the hole)', registers, collect() { this.set(s.unrepairedTrades); } });
    new client.Gauge({ name: 'klagg_ingest_quiet_checks', help: 'Quiet symbols checked against the exchange’s 1m klines', registers, collect() { this.set(s.quietChecks); } });
    new client.Gauge({ name: 'klagg_ingest_quiet_checks_found', help: 'Quiet checks that found trades the stream never delivered (then fetched)', registers, collect() { this.set(s.quietFound); } });
    process.stdout.write(`klagg ingest ready: node ${cluster.node}, ${http.url}/health\n`);
    await life.whenStopRequested();
    return;
  }
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

interface ExchangeIngestStart {
  readonly config: KlaggConfig;
  readonly logger: Logger;
  readonly life: Lifecycle;
  readonly cluster: ClusterRuntime;
  readonly publisher: TradeLogPublisher;
  readonly directory: SymbolDirectory;
  readonly symbols?: readonly string[];
}

/** The exchange side: its clock, its TRADING symbols with their scales, and their aggTrade streams. */
async function startExchangeIngest(o: ExchangeIngestStart): Promise<ExchangeIngest> {
  const { config, life, cluster } = o;
  const clock = new OffsetClock(systemClock);
  const rest = new BinanceRestClient({ baseUrl: config.exchange.restBaseUrl, clock, logger: o.logger.child({ component: 'rest' }), budgetShare: config.exchange.weightBudgetShare, maxRetries: config.exchange.maxRetries, backoffBaseMs: config.exchange.backoffInitialMs });
  const info = await life.step(rest.exchangeInfo()).catch((error: unknown) => {
    throw exchangeFailure(config.exchange.restBaseUrl, error);
  });
  const offset = await rest.measureTimeOffset().catch(() => undefined);
  if (offset) clock.setOffset(offset.offsetMs);
  const positions = new TradeLogPositions(await jetstreamManager(cluster.nc), cluster.names);
  let streams: StreamManager | undefined;
  const ingest = new ExchangeIngest({
    publisher: o.publisher,
    fetchTrades: (symbol, fromId, toId) => rest.aggTradesFrom(symbol, fromId, toId),
    latestId: async (symbol) => (await rest.aggTrades(symbol, { limit: 1 })).at(-1)?.aggId,
    lastPublished: (symbol) => positions.lastPublished(config.venue, config.market, symbol),
    clock,
    watermarkMs: config.cluster.watermarkMs,
    quietLagMs: config.engine.graceMs,
    streamLagMs: () => streams?.watermarkLagMs() ?? 0,
    minuteKlines: (symbol, startTime) => rest.klines(symbol, '1m', { startTime, limit: 10 }),
    quietAfterMs: 10_000,
    elapsed: () => performance.now(),
    logger: o.logger,
  });
  const wanted = o.symbols === undefined ? undefined : new Set(o.symbols);
  for (const s of info.symbols) {
    if (s.status !== 'TRADING' || (wanted !== undefined && !wanted.has(s.symbol))) continue;
    const scales = scalesFromSizes(s);
    if (scales === undefined) continue;
    await o.directory.put(config.venue, config.market, { symbol: s.symbol, status: s.status, tickSize: s.tickSize!, stepSize: s.stepSize!, baseAsset: s.baseAsset, quoteAsset: s.quoteAsset });
    await ingest.addSymbol(s.symbol, scales);
  }
  streams = new StreamManager({
    wsBaseUrl: config.exchange.wsBaseUrl,
    connect: createExchangeSocket,
    clock,
    logger: o.logger.child({ component: 'streams' }),
    onFrame: (frame) => ingest.onFrame(frame),
    onReconnected: (names) => ingest.onReconnected(names.map((name) => name.slice(0, name.indexOf('@')).toUpperCase())),
    silenceMs: config.watchdog.silenceMs,
  });
  ingest.start();
  streams.subscribe(ingest.symbols.map((symbol) => `${symbol.toLowerCase()}@aggTrade`));
  life.defer('exchange', async () => {
    await streams!.stop();
    await ingest.stop();
  });
  return ingest;
}
