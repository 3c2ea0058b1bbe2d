/**
 * klagg's faces on one port: the Binance-compatible REST routes, klagg's API, admin, metrics (HttpServer) and the
 * Binance-compatible kline streams (KlineStreamServer) on the same server, with the limits of the configuration
 * (serving-limits.ts). Used by `run` and `demo`.
 */
import { scaleOf } from '../domain/decimal.ts';
import { scalesFromSizes } from '../domain/kline-format.ts';
import type { KlaggService } from './klagg-service.ts';
import type { ServingLimits } from './serving-limits.ts';
import { registerSystemMetrics } from './system-metrics.ts';
import type { Clock } from '../infra/clock.ts';
import type { KlineStore } from '../infra/db/kline-store.ts';
import { chartStaticRoutes } from '../infra/http/chart-routes.ts';
import { AdminAccess } from '../infra/http/admin-access.ts';
import type { ServiceAbout } from '../infra/http/context.ts';
import { homeStaticRoutes } from '../infra/http/home-routes.ts';
import { HttpServer, type ServedSymbol } from '../infra/http/http-server.ts';
import type { Logger } from '../infra/logger.ts';
import { KlineStreamServer } from '../infra/stream-server/stream-server.ts';
import type { InspectorHub } from '../infra/inspector/inspector-hub.ts';
import { InspectorServer } from '../infra/inspector/inspector-routes.ts';

export interface ServingOptions {
  readonly service: KlaggService;
  readonly store: KlineStore;
  readonly venue: string;
  readonly market: string;
  readonly host: string;
  readonly port: number;
  readonly adminToken?: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The live inspector's hub (the same one passed as `inspect` to the service's actors). */
  readonly inspector?: InspectorHub;
  /** The limits of the HTTP server, the kline streams and the admin routes; each absent one has its default. */
  readonly limits?: ServingLimits;
  /** What the landing page and `/api/status` say about the service. */
  readonly about?: ServiceAbout;
}

export interface Serving {
  readonly http: HttpServer;
  readonly streams: KlineStreamServer;
  readonly url: string;
  close(): Promise<void>;
}

export async function startServing(options: ServingOptions): Promise<Serving> {
  const { service, store } = options;
  const manager = service.manager;
  const served = (): ServedSymbol[] =>
    service.symbols.flatMap((symbol) => {
      const info = manager.exchangeSymbol(symbol);
      if (!info || info.tickSize === undefined || info.stepSize === undefined) return [];
      return [{ symbol, status: info.status, tickSize: info.tickSize, stepSize: info.stepSize, baseAsset: info.baseAsset, quoteAsset: info.quoteAsset }];
    });
  const view = service.liveView;
  const inspector = options.inspector ? new InspectorServer(options.inspector) : undefined;
  const limits = options.limits ?? {};
  const http = await HttpServer.start({
    ...limits.http,
    host: options.host,
    port: options.port,
    logger: options.logger,
    staticRoutes: new Map([...homeStaticRoutes(), ...chartStaticRoutes()]),
    mounts: inspector ? [inspector.mount] : [],
    context: {
      venue: options.venue,
      market: options.market,
      intervals: service.system.intervals,
      store,
      system: service.system,
      view,
      clock: options.clock,
      adminToken: options.adminToken,
      adminAccess: new AdminAccess(limits.admin),
      about: options.about,
      symbols: served,
      activationFor: async (symbol) => {
        const info = manager.exchangeSymbol(symbol);
        if (!info || info.tickSize === undefined || info.stepSize === undefined) return undefined;
        return {
          symbol,
          scales: { priceScale: scaleOf(info.tickSize), qtyScale: scaleOf(info.stepSize) },
          initialData: await store.latest(options.venue, options.market, symbol, service.system.intervals),
        };
      },
      repair: async (symbol, interval, from, to) => {
        service.rebuilder.addRange(symbol, interval, from, to);
        return { klines: await service.rebuilder.rebuildClosed(options.clock.now()) };
      },
    },
  });
  registerSystemMetrics({ registry: http.metrics.registry, system: service.system, clock: options.clock, prefix: http.metrics.prefix });
  http.metrics.attachStreams(service.exchangeStreams);
  http.metrics.attachTrailingGaps(service.trailingGaps.watch.stats);
  // The DB writer and the SymbolManager are actors of their own (not spawned by the supervisor): follow them too.
  const detach = options.inspector ? [options.inspector.attach(service.system.dbWriter.actor), options.inspector.attach(service.manager.actor)] : [];
  const streams = new KlineStreamServer({
    ...limits.streams,
    server: http.server,
    source: service.system,
    clock: options.clock,
    logger: options.logger.child({ component: 'streams-out' }),
    intervals: service.system.intervals,
    isKnownSymbol: (symbol) => service.symbols.includes(symbol),
    scalesOf: (symbol) => scalesFromSizes(manager.exchangeSymbol(symbol)),
  });
  http.limits.attachStreams(() => streams.stats);
  http.metrics.attachStreamClients(() => streams.stats);
  return {
    http,
    streams,
    url: http.url,
    close: async () => {
      for (const stop of detach) stop();
      inspector?.close();
      streams.close();
      await http.close();
    },
  };
}
