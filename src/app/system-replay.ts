/**
 * `klagg replay --system`: a recording through the whole actor system on simulated time — activation (with the
 * latest stored klines as initial data), workers, Gateway, DB writer — into PostgreSQL or the embedded PGlite.
 * Resolves once every kline is stored.
 */
import type { IntervalName } from '../domain/interval.ts';
import { ScaleInference } from '../domain/replay.ts';
import { KlaggSystem } from '../actors/klagg-system.ts';
import type { KlaggSystemOptions } from '../actors/klagg-system-options.ts';
import type { KlineSink } from '../domain/kline-sink.ts';
import { systemClock } from '../infra/clock.ts';
import { KlineStore } from '../infra/db/kline-store.ts';
import { openDatabase } from '../infra/db/open-database.ts';
import type { Logger } from '../infra/logger.ts';
import { readLines } from '../infra/recording/line-reader.ts';

export interface SystemReplayOptions {
  readonly input: string;
  readonly intervals: readonly IntervalName[];
  readonly graceMs: number;
  readonly databaseUrl?: string;
  readonly dataDir?: string;
  readonly venue?: string;
  readonly market?: string;
  readonly workers?: number;
  /** Workers in worker threads (aggregation on every core). */
  readonly threads?: boolean;
  readonly logger: Logger;
  /** Overrides of the system's tuning (tests use short intervals). */
  readonly tuning?: Partial<Pick<KlaggSystemOptions, 'gateway' | 'dbWriter' | 'dispatcher' | 'partitions'>>;
  /**
   * Whether the end of the recording finalizes every begun kline (default). Without it the replay ends like a
   * shutdown mid-stream: open klines are stored open, and a later run continues them from the store.
   */
  readonly finish?: boolean;
  /** Only the first `maxFrames` frames (a recording cut short, as by a crash or a restart). */
  readonly skipFrames?: number;
  readonly maxFrames?: number;
  /**
   * SIGINT/SIGTERM: stop intake, finalize nothing that is not final, write everything, resolve with exit code 0.
   */
  readonly signal?: AbortSignal;
  /** Called once the system runs and every symbol is active: tests inject faults from here. */
  readonly onRunning?: (system: KlaggSystem) => void;
}

export interface SystemReplaySummary {
  readonly exitCode: number;
  readonly frames: number;
  /** True when a signal stopped the replay before the end of the recording. */
  readonly interrupted: boolean;
  readonly symbols: readonly string[];
  readonly failedSymbols: readonly string[];
  readonly rowsWritten: number;
  readonly seconds: number;
}

export async function replaySystem(options: SystemReplayOptions): Promise<SystemReplaySummary> {
  const started = performance.now();
  const venue = options.venue ?? 'binance';
  const market = options.market ?? 'usdm';
  const inference = new ScaleInference();
  for await (const line of readLines(options.input)) inference.feed(line);

  const database = await openDatabase({ url: options.databaseUrl, dataDir: options.dataDir, logger: options.logger });
  try {
    const store = KlineStore.forDatabase(database);
    const sink: KlineSink = { write: async (records) => void (await store.upsert(records)) };
    const system = new KlaggSystem({
      venue,
      market,
      intervals: options.intervals,
      graceMs: options.graceMs,
      workers: options.workers ?? 2,
      threads: options.threads ?? false,
      partitions: options.tuning?.partitions ?? 256,
      gateway: options.tuning?.gateway ?? { pullIntervalMs: 500, pullTimeoutMs: 200, timeoutAlertThreshold: 5 },
      dispatcher: options.tuning?.dispatcher ?? { queueCapacity: 2048, maxRetries: 5, retryDelayMs: 1000 },
      dbWriter: options.tuning?.dbWriter ?? { flushIntervalMs: 1000, maxBatchRows: 5000, backoffInitialMs: 250, backoffMaxMs: 30_000, maxBufferedRows: 1_000_000 },
      tickIntervalMs: 0,
      watchdog: { checkIntervalMs: 1000 },
      clockFromTrades: true,
      sink,
      clock: systemClock,
      logger: options.logger,
    });
    system.start();
    const symbols = [...inference.scales.keys()].sort();
    for (const symbol of symbols) {
      const initialData = await store.latest(venue, market, symbol, options.intervals);
      system.activate({ symbol, scales: inference.scales.get(symbol)!, initialData });
    }
    await system.whenSubscribed(symbols);
    const failedSymbols = symbols.filter((symbol) => system.symbolState(symbol) === 'Failed');
    options.onRunning?.(system);

    let frames = 0;
    let position = 0;
    const skip = options.skipFrames ?? 0;
    const max = options.maxFrames ?? Number.POSITIVE_INFINITY;
    let interrupted = false;
    let cut = false;
    for await (const line of readLines(options.input)) {
      if (options.signal?.aborted) {
        interrupted = true;
        break;
      }
      if (position++ < skip) continue;
      if (frames >= max) {
        cut = true;
        break;
      }
      system.ingestFrame(line);
      // Let the Gateway and the DB writer run between chunks of frames.
      if (++frames % 4096 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    if ((options.finish ?? true) && !interrupted) {
      // The recording's time ends at its last trade for every symbol, whichever worker holds it.
      if (!cut && skip === 0 && Number.isFinite(inference.lastTradeTime)) system.advanceTo(inference.lastTradeTime);
      system.finishInput();
    }
    const exitCode = await system.stop(interrupted ? 'signal' : 'end of input');
    return { exitCode, frames, interrupted, symbols, failedSymbols, rowsWritten: system.dbWriter.stats.writtenRows, seconds: (performance.now() - started) / 1000 };
  } finally {
    await database.close();
  }
}
