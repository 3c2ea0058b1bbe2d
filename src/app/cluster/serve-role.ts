/**
 * `klagg serve`: a stream server — the Binance-compatible REST routes and kline streams, klagg's API, the chart —
 * from PostgreSQL and the live kline subjects. Stateless: any number behind a load balancer. The live feed is made
 * monotone per kline before anything reaches a client, so a failover's re-emissions never show.
 */
import { systemClock } from '../../infra/clock.ts';
import type { KlaggConfig } from '../../infra/config/schema.ts';
import { KlineStore } from '../../infra/db/kline-store.ts';
import { chartStaticRoutes } from '../../infra/http/chart-routes.ts';
import type { HealthEntryView, ServingSystem, SymbolEntryView } from '../../infra/http/context.ts';
import { AdminAccess } from '../../infra/http/admin-access.ts';
import { HttpServer } from '../../infra/http/http-server.ts';
import { LiveKlineView } from '../../infra/http/kline-view.ts';
import type { Logger } from '../../infra/logger.ts';
import { LiveKlineFeed } from '../../infra/nats/live-kline-feed.ts';
import { SymbolDirectory } from '../../infra/nats/symbol-directory.ts';
import { KlineStreamServer } from '../../infra/stream-server/stream-server.ts';
import { scalesFromSizes } from '../../domain/kline-format.ts';
import type { Lifecycle } from '../lifecycle.ts';
import { portFailure } from '../port-check.ts';
import { openDatabaseOrFail } from '../start-failures.ts';
import { openCluster } from './cluster-runtime.ts';
import { servingLimitsFrom } from '../serving-limits.ts';

export interface ServeRoleOptions {
  readonly config: KlaggConfig;
  readonly logger: Logger;
  readonly life: Lifecycle;
}

export async function runServeRole({ config, logger, life }: ServeRoleOptions): Promise<void> {
  const { host, port } = config.server;
  const database = await life.step(openDatabaseOrFail({ url: config.database.url, dataDir: config.database.dataDir, logger }));
  life.defer('database', () => database.close());
  const cluster = await life.step(openCluster(config, 'serve', logger));
  life.defer('nats', () => cluster.close());
  const directory = new SymbolDirectory(cluster.buckets.symbols);
  await life.step(directory.follow(config.venue, config.market));
  life.defer('directory', () => directory.close());
  const feed = new LiveKlineFeed();
  feed.start(cluster.nc, cluster.names, config.venue, config.market);
  life.defer('feed', () => feed.close());
  const clock = systemClock;
  const system: ServingSystem = {
    get state() {
      return cluster.nc.isClosed() ? 'stopped' : 'running';
    },
    registry: {
      getSnapshot: () => {
        const symbols: Record<string, SymbolEntryView> = {};
        for (const s of directory.list()) symbols[s.symbol] = { symbol: s.symbol, state: 'Active', worker: cluster.names.partitionOf(config.venue, config.market, s.symbol), attempts: 0, lastError: null, lastTradeTime: null, updatedAt: clock.now() };
        return { context: { symbols } };
      },
    },
    health: {
      getSnapshot: () => {
        const now = clock.now();
        const actors: Record<string, HealthEntryView> = {
          nats: { actor: 'nats', status: cluster.nc.isClosed() ? 'error' : 'ok', detail: cluster.nc.getServer(), reportedAt: now, fatal: false },
          'live-feed': { actor: 'live-feed', status: feed.stats.malformed > 0 ? 'degraded' : 'ok', detail: `${feed.stats.klines} klines passed, ${feed.stats.stale} stale re-emissions dropped, ${feed.stats.malformed} malformed`, reportedAt: now, fatal: false },
        };
        return { context: { actors } };
      },
    },
    symbolState: (symbol) => (directory.get(symbol) ? 'Active' : undefined),
    // Symbols are the ingest's in a cluster: nothing to activate here (the admin routes answer "unknown symbol").
    activate: () => undefined,
    deactivate: () => undefined,
  };
  const view = new LiveKlineView(feed);
  const limits = servingLimitsFrom(config);
  const http = await life
    .step(
      HttpServer.start({
        ...limits.http,
        host,
        port,
        logger,
        staticRoutes: chartStaticRoutes(),
        context: {
          venue: config.venue,
          market: config.market,
          intervals: config.intervals,
          store: KlineStore.forDatabase(database),
          system,
          view,
          clock,
          adminToken: config.adminToken,
          adminAccess: new AdminAccess(limits.admin),
          symbols: () => directory.list(),
          activationFor: async () => undefined,
        },
      }),
    )
    .catch((error: unknown) => {
      throw portFailure(host, port, error);
    });
  const streams = new KlineStreamServer({
    ...limits.streams,
    server: http.server,
    source: feed,
    clock,
    logger: logger.child({ component: 'streams-out' }),
    intervals: config.intervals,
    isKnownSymbol: (symbol) => directory.get(symbol) !== undefined,
    scalesOf: (symbol) => scalesFromSizes(directory.get(symbol)),
  });
  http.limits.attachStreams(() => streams.stats);
  life.defer('http', async () => {
    streams.close();
    view.close();
    await http.close();
  });
  process.stdout.write(`klagg serve ready: node ${cluster.node}, ${http.url}/health, streams ${http.url.replace('http', 'ws')}/market/ws\n`);
  await life.whenStopRequested();
}
