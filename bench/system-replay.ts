/**
 * The whole actor system on a replay — activation, workers, Gateway, DB writer into a real PostgreSQL — against the
 * bare engine over the same frames in the same run. The system's rate counts until every kline is stored.
 */
import { toCombinedFrame } from '../src/domain/agg-trade.ts';
import { scaleOf } from '../src/domain/decimal.ts';
import { DEFAULT_INTERVALS } from '../src/domain/interval.ts';
import { Replayer } from '../src/domain/replay.ts';
import { generateTrades } from '../src/domain/synthetic-market.ts';
import { syntheticSymbols } from '../src/domain/synthetic-symbols.ts';
import { KlaggSystem } from '../src/actors/klagg-system.ts';
import { systemClock } from '../src/infra/clock.ts';
import { KlineStore } from '../src/infra/db/kline-store.ts';
import { openDatabase } from '../src/infra/db/open-database.ts';
import { createRootLogger } from '../src/infra/logger.ts';
import { createTestDatabase } from '../test/support/postgres.ts';
import { median, rate, type BenchReport } from './report.ts';

export interface SystemReplayBenchOptions {
  readonly symbols: number;
  readonly trades: number;
  readonly runs: number;
}

export async function benchSystemReplay(options: SystemReplayBenchOptions, report: BenchReport): Promise<void> {
  const specs = syntheticSymbols(7, options.symbols);
  const scales = new Map(specs.map((s) => [s.symbol, { priceScale: scaleOf(s.tickSize), qtyScale: scaleOf(s.stepSize) }]));
  const frames = [...generateTrades({ seed: 7, symbols: options.symbols, startTime: Date.UTC(2026, 10, 2), trades: options.trades, symbolSpecs: specs })].map((trade) =>
    Buffer.from(toCombinedFrame(trade)),
  );

  const bare = (): number => {
    const replayer = new Replayer({ intervals: DEFAULT_INTERVALS, graceMs: 1000, scales }, { onFinal: () => {} });
    const started = performance.now();
    for (const frame of frames) replayer.feed(frame);
    replayer.end();
    return rate(frames.length, (performance.now() - started) / 1000);
  };

  const whole = async (threads: boolean): Promise<{ rate: number; rows: number }> => {
    const database = await createTestDatabase('klagg_bench_system');
    const handle = await openDatabase({ url: database.url });
    try {
      const store = new KlineStore(handle.db);
      const system = new KlaggSystem({
        venue: 'binance',
        market: 'usdm',
        intervals: DEFAULT_INTERVALS,
        graceMs: 1000,
        workers: 2,
        threads,
        partitions: 256,
        gateway: { pullIntervalMs: 500, pullTimeoutMs: 200, timeoutAlertThreshold: 5 },
        dispatcher: { queueCapacity: 2048, maxRetries: 5, retryDelayMs: 1000 },
        dbWriter: { flushIntervalMs: 1000, maxBatchRows: 5000, backoffInitialMs: 250, backoffMaxMs: 30_000, maxBufferedRows: 10_000_000 },
        tickIntervalMs: 0,
        watchdog: { checkIntervalMs: 1000 },
        clockFromTrades: true,
        sink: { write: async (records) => void (await store.upsert(records)) },
        clock: systemClock,
        logger: createRootLogger({ level: 'silent' }),
      });
      system.start();
      for (const spec of specs) system.activate({ symbol: spec.symbol, scales: scales.get(spec.symbol)!, initialData: [] });
      await system.whenSubscribed(specs.map((s) => s.symbol));
      const started = performance.now();
      for (let i = 0; i < frames.length; i++) {
        system.ingestFrame(frames[i]!);
        if ((i & 4095) === 4095) await new Promise((resolve) => setImmediate(resolve));
      }
      system.finishInput();
      await system.stop('bench');
      const seconds = (performance.now() - started) / 1000;
      return { rate: rate(frames.length, seconds), rows: system.dbWriter.stats.writtenRows };
    } finally {
      await handle.close();
      await database.drop();
    }
  };

  bare();
  const bareRates: number[] = [];
  const systemRates: number[] = [];
  const threadRates: number[] = [];
  let rows = 0;
  for (let run = 0; run < options.runs; run++) {
    bareRates.push(bare());
    const result = await whole(false);
    systemRates.push(result.rate);
    threadRates.push((await whole(true)).rate);
    rows = result.rows;
  }
  const systemRate = median(systemRates);
  const threadRate = median(threadRates);
  const bareRate = median(bareRates);
  report.line(
    `system replay (500 symbols → PostgreSQL, until stored) vs bare engine: ${Math.round(systemRate)} vs ${Math.round(bareRate)} trades/s, ` +
      `${((100 * systemRate) / bareRate).toFixed(0)}% (target ≥ 50%; ${options.trades} trades, ${rows} rows written, median of ${options.runs})`,
  );
  report.line(`system replay with 2 worker threads: ${Math.round(threadRate)} trades/s, ${((100 * threadRate) / bareRate).toFixed(0)}% of the bare engine`);
  report.record('systemReplay', { trades: options.trades, symbols: options.symbols, systemTradesPerSecond: systemRate, threadTradesPerSecond: threadRate, bareTradesPerSecond: bareRate, rowsWritten: rows, runs: { systemRates, bareRates } });
}
