/**
 * The large chaos run: a generated market of ≥ 200 symbols and ≥ 1,000,000 trades served by the fake exchange with
 * every fault kind injected throughout, against a fault-free run of the same input. The stored klines must be
 * identical kline for kline, field for field; the benchmark throws (and `npm run bench` fails) otherwise.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runChaos, type ChaosSummary } from '../src/app/chaos.ts';
import { toCombinedFrame } from '../src/domain/agg-trade.ts';
import { generateTrades } from '../src/domain/synthetic-market.ts';
import { createRootLogger } from '../src/infra/logger.ts';
import { createTestDatabase } from '../test/support/postgres.ts';
import { storedKlineValues } from '../test/support/stored-klines.ts';
import type { BenchReport } from './report.ts';

/**
 * `overloaded`: the same market played several times faster than the service can take it live (most trades then come
 * by REST repair and most finals are revised or rebuilt) — the run that found rebuilds lost at stop. Its lines say
 * `chaos large overloaded` and its record is `chaosLargeOverloaded`.
 */
export async function benchChaosLarge(options: { symbols: number; trades: number; marketSeconds: number; wallSeconds: number; overloaded?: boolean }, report: BenchReport): Promise<void> {
  const name = options.overloaded === true ? 'chaos large overloaded' : 'chaos large';
  const path = join(mkdtempSync(join(tmpdir(), 'klagg-chaos-large-')), 'market.jsonl');
  const rate = options.trades / options.marketSeconds;
  const lines = [...generateTrades({ seed: 99, symbols: options.symbols, startTime: Date.UTC(2026, 10, 2), trades: options.trades, meanRatePerSecond: rate })].map((trade) => toCombinedFrame(trade));
  writeFileSync(path, `${lines.join('\n')}\n`);
  lines.length = 0;
  const source = { kind: 'recording' as const, path, speed: options.marketSeconds / options.wallSeconds };
  const logger = createRootLogger({ level: 'silent' });
  const faulty = await createTestDatabase('klagg_chaos_large_faulty');
  const clean = await createTestDatabase('klagg_chaos_large_clean');
  try {
    const withFaults: ChaosSummary = await runChaos({ source, intervals: ['1m', '5m', '1h'], databaseUrl: faulty.url, faults: true, faultEveryMs: 500, logger });
    const reference: ChaosSummary = await runChaos({ source, intervals: ['1m', '5m', '1h'], databaseUrl: clean.url, faults: false, logger });
    // The klines as the exchange gives them: how a row got there (revision, source, trade ids of a rebuilt kline)
    // depends on timing once the clock finalizes, the values must not.
    const a = await storedKlineValues(faulty.url);
    const b = await storedKlineValues(clean.url);
    const differing = a.length !== b.length ? Math.abs(a.length - b.length) : a.filter((row, i) => row !== b[i]).length;
    const faults = Object.values(withFaults.faultsInjected).reduce((sum, n) => sum + n, 0);
    report.line(
      `${name} (${options.symbols} symbols, ×${Math.round(options.marketSeconds / options.wallSeconds)} replay, ${withFaults.tradesServed} trades, ${faults} faults: ${withFaults.gapsRepaired} gaps repaired, ` +
        `${withFaults.reconnects} reconnects, ${withFaults.duplicatesDropped} duplicates dropped): ${a.length} klines, ${differing} differ from the fault-free run ` +
        `(${withFaults.seconds.toFixed(0)} s with faults, ${reference.seconds.toFixed(0)} s without; faulty run: late amended ${withFaults.lateAmended}, ` +
        `late beyond memory ${withFaults.lateBeyondMemory}, unrepaired gaps ${withFaults.gapsUnrepaired}, klines rebuilt ${withFaults.klinesRebuilt}, revisions ${withFaults.revisions}; ` +
        `fault-free run: late amended ${reference.lateAmended}, beyond memory ${reference.lateBeyondMemory}, revisions ${reference.revisions})`,
    );
    report.record(options.overloaded === true ? 'chaosLargeOverloaded' : 'chaosLarge', { withFaults, reference, klines: a.length, differing });
    if (differing !== 0) {
      // Which rows: both runs' values side by side (symbol interval openTime o h l c v qv tbv tbqv count final).
      const shown = a.flatMap((row, i) => (row === b[i] ? [] : [`  with faults: ${row}\n  fault-free:  ${b[i] ?? '(none)'}`])).slice(0, 5);
      report.line(`${name}: the first differing klines\n${shown.join('\n')}`);
    }
    if (differing !== 0 || withFaults.aggregated !== options.trades || reference.aggregated !== options.trades) {
      // A failed bench, never a quiet one: said here and in the exit code; the sections after it still run.
      report.line(`${name} FAILED: ${differing} klines differ, ${withFaults.aggregated}/${reference.aggregated} of ${options.trades} trades aggregated`);
      process.exitCode = 1;
    }
  } finally {
    await faulty.drop();
    await clean.drop();
  }
}
