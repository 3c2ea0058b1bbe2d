/** A real KlaggSystem, a real PostgreSQL store and a real HTTP server on a loopback port, for the HTTP tests. */
import type { KlaggSystem } from '../../../src/actors/klagg-system.ts';
import type { KlaggSystemOptions } from '../../../src/actors/klagg-system-options.ts';
import type { KlineSink } from '../../../src/domain/kline-sink.ts';
import { registerSystemMetrics } from '../../../src/app/system-metrics.ts';
import type { IntervalName } from '../../../src/domain/interval.ts';
import { systemClock, type Clock } from '../../../src/infra/clock.ts';
import { KlineStore } from '../../../src/infra/db/kline-store.ts';
import type { DatabaseHandle } from '../../../src/infra/db/open-database.ts';
import type { Logger } from '../../../src/infra/logger.ts';
import type { HttpContext, ServedSymbol } from '../../../src/infra/http/context.ts';
import { HttpServer } from '../../../src/infra/http/http-server.ts';
import { LiveKlineView } from '../../../src/infra/http/kline-view.ts';
import { MemorySink } from '../../support/memory-sink.ts';
import { silentLogger, startSystem } from '../../support/system.ts';
import type { Test } from 'tap';

export { silentLogger };

export const SCALES = { priceScale: 8, qtyScale: 8 };
export const XRPETH: ServedSymbol = { symbol: 'XRPETH', status: 'TRADING', tickSize: '0.00000001', stepSize: '0.00000001', baseAsset: 'XRP', quoteAsset: 'ETH' };

/** One worker, few partitions, a short dispatcher queue with two retries. */
export function newSystem(sink: KlineSink, intervals: readonly IntervalName[], overrides: Partial<KlaggSystemOptions> = {}): KlaggSystem {
  return startSystem({
    sink,
    intervals,
    workers: 1,
    partitions: 16,
    gateway: { pullIntervalMs: 40, pullTimeoutMs: 30, timeoutAlertThreshold: 5 },
    dispatcher: { queueCapacity: 64, maxRetries: 2, retryDelayMs: 10, ackTimeoutMs: 10_000 },
    dbWriter: { flushIntervalMs: 50, maxBatchRows: 5000, backoffInitialMs: 10, backoffMaxMs: 100, maxBufferedRows: 1_000_000 },
    watchdog: { checkIntervalMs: 50 },
    ...overrides,
  });
}

/**
 * The context of a server over a fresh system that writes nowhere (torn down with the test): XRPETH served, the
 * admin token `adminToken`, no activation; `overrides` replace any of it (a store, an inspector, a repair…).
 */
export function testHttpContext(
  t: Test,
  options: { readonly intervals?: readonly IntervalName[]; readonly systemOptions?: Partial<KlaggSystemOptions>; readonly adminToken?: string } & Partial<HttpContext> = {},
): HttpContext {
  const { intervals = ['1m'], systemOptions, ...overrides } = options;
  const system = newSystem(new MemorySink(), intervals, systemOptions);
  t.teardown(() => system.stop());
  const view = new LiveKlineView(system);
  t.teardown(() => view.close());
  return {
    venue: 'binance',
    market: 'usdm',
    intervals,
    store: { range: async () => [] },
    system,
    view,
    clock: systemClock,
    symbols: () => [XRPETH],
    activationFor: async () => undefined,
    ...overrides,
  };
}

export interface Served {
  readonly http: HttpServer;
  readonly view: LiveKlineView;
  readonly store: KlineStore;
  readonly context: HttpContext;
  close(): Promise<void>;
}

export async function serve(
  system: KlaggSystem,
  database: DatabaseHandle,
  intervals: readonly IntervalName[],
  extra: Partial<Pick<HttpContext, 'adminToken' | 'repair' | 'symbols'>> & { clock?: Clock; logger?: Logger } = {},
): Promise<Served> {
  const store = new KlineStore(database.db);
  const view = new LiveKlineView(system);
  const context: HttpContext = {
    venue: 'binance',
    market: 'usdm',
    intervals,
    store,
    system,
    view,
    clock: extra.clock ?? systemClock,
    adminToken: extra.adminToken,
    symbols: extra.symbols ?? (() => [XRPETH]),
    activationFor: async (symbol) => (symbol === 'XRPETH' ? { symbol, scales: SCALES, initialData: await store.latest('binance', 'usdm', symbol, intervals) } : undefined),
    repair: extra.repair,
  };
  const http = await HttpServer.start({ host: '127.0.0.1', port: 0, context, logger: extra.logger ?? silentLogger, defaultMetrics: true });
  // As the composition root (src/cli/serving.ts) does.
  registerSystemMetrics({ registry: http.metrics.registry, system, clock: context.clock });
  return {
    http,
    view,
    store,
    context,
    close: async () => {
      view.close();
      await http.close();
    },
  };
}

export async function getJson(url: string, init?: RequestInit): Promise<{ status: number; body: unknown; type: string | null }> {
  const response = await fetch(url, init);
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: response.status, body, type: response.headers.get('content-type') };
}
