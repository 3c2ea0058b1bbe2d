/**
 * Ingest from the exchange: the fake exchange runs in another process and replays a generated market as fast as the
 * client takes it; one service process (streams, workers, Gateway, DB writer into PostgreSQL) ingests it over loopback
 * WebSocket. The rate counts from the first trade published to the last one aggregated, with zero loss required.
 * Next to it, the bare engine over the same frames in the same run.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { toCombinedFrame } from '../src/domain/agg-trade.ts';
import { DEFAULT_INTERVALS } from '../src/domain/interval.ts';
import { Replayer, ScaleInference } from '../src/domain/replay.ts';
import { generateTrades } from '../src/domain/synthetic-market.ts';
import { defaultConfig } from '../src/infra/config/schema.ts';
import { KlaggService, systemOptionsFrom } from '../src/app/klagg-service.ts';
import { systemClock } from '../src/infra/clock.ts';
import { KlineStore } from '../src/infra/db/kline-store.ts';
import { openDatabase } from '../src/infra/db/open-database.ts';
import { createRootLogger } from '../src/infra/logger.ts';
import { createTestDatabase } from '../test/support/postgres.ts';
import { median, rate, type BenchReport } from './report.ts';

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));

export async function benchExchangeIngest(options: { symbols: number; trades: number }, report: BenchReport): Promise<void> {
  const trades = [...generateTrades({ seed: 21, symbols: options.symbols, startTime: Date.UTC(2026, 10, 2), trades: options.trades, meanRatePerSecond: 2000, quietPeriods: false })];
  const lines = trades.map((trade) => toCombinedFrame(trade));
  const path = join(mkdtempSync(join(tmpdir(), 'klagg-ingest-')), 'market.jsonl');
  writeFileSync(path, `${lines.join('\n')}\n`);
  const firstIds = new Map<string, number>();
  const lastIds = new Map<string, number>();
  for (const trade of trades) {
    if (!firstIds.has(trade.symbol)) firstIds.set(trade.symbol, trade.aggId);
    lastIds.set(trade.symbol, trade.aggId);
  }

  // The bare engine over the same frames, in this process.
  const frames = lines.map((line) => Buffer.from(line));
  const inference = new ScaleInference();
  for (const frame of frames) inference.feed(frame);
  const bareRuns: number[] = [];
  for (let run = 0; run < 4; run++) {
    const replayer = new Replayer({ intervals: DEFAULT_INTERVALS, graceMs: 1000, scales: inference.scales }, { onFinal: () => {} });
    const t0 = performance.now();
    for (const frame of frames) replayer.feed(frame);
    replayer.end();
    if (run > 0) bareRuns.push(rate(frames.length, (performance.now() - t0) / 1000)); // the first run warms up
  }
  const bareRate = median(bareRuns);
  let started = 0;

  const child = spawn(process.execPath, [MAIN, 'fake-exchange', '--replay', path, '--speed', 'max', '--start-on-subscribe', '--weight-limit', '24000'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const urls = await new Promise<{ restUrl: string; wsUrl: string }>((resolve, reject) => {
    const lineReader = createInterface({ input: child.stdout! });
    lineReader.once('line', (line) => resolve(JSON.parse(line) as { restUrl: string; wsUrl: string }));
    child.once('exit', (code) => reject(new Error(`fake exchange exited with ${code}`)));
  });
  const database = await createTestDatabase('klagg_bench_ingest');
  const handle = await openDatabase({ url: database.url });
  try {
    const service = new KlaggService({
      venue: 'binance',
      market: 'usdm',
      intervals: DEFAULT_INTERVALS,
      restBaseUrl: urls.restUrl,
      wsBaseUrl: urls.wsUrl,
      store: new KlineStore(handle.db),
      clock: systemClock,
      logger: createRootLogger({ level: 'silent' }),
      startAfterIds: new Map([...firstIds].map(([symbol, id]) => [symbol, id - 1])),
      // The documented defaults, without boundary ticks: a replayed market's klines close by their own trades.
      system: { ...systemOptionsFrom(defaultConfig()), tickIntervalMs: 0 },
    });
    // Publishing starts with the first subscription: the clock starts when the service has started.
    await service.start();
    started = performance.now();
    const cpuBefore = process.cpuUsage();
    const symbols = [...lastIds.keys()];
    for (;;) {
      const positions = await Promise.all(symbols.map((symbol) => service.system.workers[service.system.workerOf(symbol)]!.positionOf(symbol)));
      if (positions.every((position, i) => position >= lastIds.get(symbols[i]!)!)) break;
      if (process.env['KLAGG_BENCH_DEBUG'] && Math.random() < 0.005) {
        const s = await Promise.all(service.system.workers.map((worker) => worker.stats()));
        process.stderr.write(`${JSON.stringify({ behind: positions.filter((p, i) => p < lastIds.get(symbols[i]!)!).length, stats: s, streams: service.streams.stats })}\n`);
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const serviceCpu = (cpu.user + cpu.system) / 1e6 / seconds;
    const stats = await Promise.all(service.system.workers.map((worker) => worker.stats()));
    const applied = stats.reduce((sum, s) => sum + s.applied, 0);
    const repaired = stats.reduce((sum, s) => sum + s.repairedTrades, 0);
    service.system.finishInput();
    await service.stop('bench', Number.POSITIVE_INFINITY);
    if (applied !== trades.length) throw new Error(`ingest lost trades: ${applied} of ${trades.length} aggregated`);
    const ingestRate = rate(trades.length, seconds);
    report.line(
      `exchange ingest over loopback WebSocket (exchange in another process, ${options.symbols} symbols, zero loss: ${applied}/${trades.length}, ` +
        `${repaired} via REST repair): ${Math.round(ingestRate)} trades/s vs bare engine ${Math.round(bareRate)} trades/s (${((100 * ingestRate) / bareRate).toFixed(0)}%); ` +
        `service process CPU ${(100 * serviceCpu).toFixed(0)}% of a core while ingesting`,
    );
    report.record('exchangeIngest', { symbols: options.symbols, trades: trades.length, ingestTradesPerSecond: ingestRate, bareTradesPerSecond: bareRate, repairedTrades: repaired, serviceCpu });
  } finally {
    await handle.close();
    await database.drop();
    child.kill('SIGTERM');
    await once(child, 'exit').catch(() => {});
  }
}
