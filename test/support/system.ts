/**
 * klagg's actor system and service as the tests build them: the venue, market, clock and a silent logger filled in,
 * with two tunings — fast in-memory cycles for tests that feed frames by hand, and `klagg run`'s shape (the shared
 * clock finalizing quiet periods) for tests against the fake exchange in real time.
 */
import { KlaggService, type KlaggServiceOptions } from '../../src/app/klagg-service.ts';
import { KlaggSystem } from '../../src/actors/klagg-system.ts';
import type { KlaggSystemOptions } from '../../src/actors/klagg-system-options.ts';
import { systemClock } from '../../src/infra/clock.ts';
import type { FakeExchange } from '../../src/infra/fake-exchange/fake-exchange.ts';
import { createRootLogger } from '../../src/infra/logger.ts';

export const silentLogger = createRootLogger({ level: 'silent' });

/** Frames fed by hand: short pull, flush and watchdog cycles; each worker's time is the time of its trades. */
export const FAST_SYSTEM = {
  graceMs: 1000,
  workers: 2,
  partitions: 256,
  gateway: { pullIntervalMs: 40, pullTimeoutMs: 20, timeoutAlertThreshold: 5 },
  dispatcher: { queueCapacity: 2048, maxRetries: 5, retryDelayMs: 10, ackTimeoutMs: 10_000 },
  dbWriter: { flushIntervalMs: 30, maxBatchRows: 1000, backoffInitialMs: 10, backoffMaxMs: 100, maxBufferedRows: 1_000_000 },
  tickIntervalMs: 0,
  watchdog: { checkIntervalMs: 20 },
  clockFromTrades: true,
} satisfies Partial<KlaggSystemOptions>;

/** As `klagg run` against a live exchange: the shared clock finalizes quiet periods (ticks every 250 ms). */
export const REALTIME_SYSTEM = {
  graceMs: 1000,
  workers: 2,
  partitions: 256,
  gateway: { pullIntervalMs: 200, pullTimeoutMs: 100, timeoutAlertThreshold: 5 },
  dispatcher: { queueCapacity: 2048, maxRetries: 5, retryDelayMs: 100 },
  dbWriter: { flushIntervalMs: 200, maxBatchRows: 5000, backoffInitialMs: 50, backoffMaxMs: 1000, maxBufferedRows: 1_000_000 },
  watchdog: { checkIntervalMs: 500 },
  tickIntervalMs: 250,
} satisfies KlaggServiceOptions['system'];

/** A started KlaggSystem on binance/usdm with FAST_SYSTEM's tuning unless `options` says otherwise. */
export function startSystem(options: Pick<KlaggSystemOptions, 'sink' | 'intervals'> & Partial<KlaggSystemOptions>): KlaggSystem {
  const system = new KlaggSystem({ venue: 'binance', market: 'usdm', clock: systemClock, logger: silentLogger, ...FAST_SYSTEM, ...options });
  system.start();
  return system;
}

/** A KlaggService (not started) on binance/usdm connected to `exchange` (its streams through `wsBaseUrl` when given), with REALTIME_SYSTEM's tuning unless `options.system` says otherwise. */
export function serviceOn(
  exchange: FakeExchange,
  options: Omit<KlaggServiceOptions, 'venue' | 'market' | 'restBaseUrl' | 'wsBaseUrl' | 'logger' | 'clock' | 'system'> & Partial<Pick<KlaggServiceOptions, 'logger' | 'clock' | 'wsBaseUrl'>> & { system?: Partial<KlaggServiceOptions['system']> },
): KlaggService {
  return new KlaggService({
    venue: 'binance',
    market: 'usdm',
    restBaseUrl: exchange.restUrl,
    logger: silentLogger,
    clock: systemClock,
    ...options,
    wsBaseUrl: options.wsBaseUrl ?? exchange.wsUrl,
    system: { ...REALTIME_SYSTEM, ...options.system },
  });
}
