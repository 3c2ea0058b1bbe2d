/**
 * `npm run bench`: every benchmark of the project, on this machine, nothing beyond loopback. Speed goals live here,
 * never in timed tests. `--quick` runs smaller sizes (for a smoke check); `--json <file>` saves the figures.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { benchDecimals } from './decimals.ts';
import { benchChaosLarge } from './chaos-large.ts';
import { benchDbFlush } from './db-flush.ts';
import { benchPgliteLag } from './pglite-lag.ts';
import { benchExchangeIngest, FULL as INGEST_FULL, QUICK as INGEST_QUICK } from './exchange-ingest.ts';
import { benchHotPath } from './hot-path.ts';
import { benchSymbolStart } from './symbol-start.ts';
import { benchStreamLatency } from './stream-latency.ts';
import { KlineBackfiller } from '../src/actors/kline-backfiller.ts';
import { systemClock } from '../src/infra/clock.ts';
import { createRootLogger } from '../src/infra/logger.ts';
import { benchSystemReplay } from './system-replay.ts';
import { BenchReport } from './report.ts';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, json: { type: 'string' } } });
const report = new BenchReport();
report.line(`klagg bench — node ${process.version}, ${new Date().toISOString()}`);
benchDecimals(values.quick ? 200_000 : 1_000_000, 3, report);
await benchHotPath(values.quick ? { symbols: 500, trades: 200_000, runs: 3 } : { symbols: 500, trades: 1_000_000, runs: 5 }, report);
await benchDbFlush(report);
await benchPgliteLag(report);
await benchSystemReplay(values.quick ? { symbols: 500, trades: 100_000, runs: 1 } : { symbols: 500, trades: 500_000, runs: 5 }, report);
await benchExchangeIngest(values.quick ? INGEST_QUICK : INGEST_FULL, report);
await benchChaosLarge(values.quick ? { symbols: 200, trades: 100_000, marketSeconds: 600, wallSeconds: 5 } : { symbols: 200, trades: 1_000_000, marketSeconds: 1800, wallSeconds: 25 }, report);
await benchChaosLarge(values.quick ? { symbols: 200, trades: 100_000, marketSeconds: 600, wallSeconds: 2, overloaded: true } : { symbols: 200, trades: 1_000_000, marketSeconds: 1800, wallSeconds: 10, overloaded: true }, report);
await benchSymbolStart(
  {
    symbols: 700,
    backfill: (rest, store) => {
      const backfiller = new KlineBackfiller({ rest, store, venue: 'binance', market: 'usdm', intervals: ['1m', '5m', '30m', '1h', '4h', '1d', '1w'], clock: systemClock, logger: createRootLogger({ level: 'silent' }) });
      return { run: (symbols, now, done) => backfiller.run(symbols, now, done) };
    },
  },
  report,
);
// Runs until 1 (quick) or 3 minute boundaries have passed: 1m klines close once a minute on the real clock.
await benchStreamLatency(values.quick ? { symbols: 50, rate: 500, clients: 100, boundaries: 1 } : { symbols: 50, rate: 500, clients: 500, boundaries: 3 }, report);
if (values.json) writeFileSync(values.json, `${JSON.stringify(report.records, null, 2)}\n`);
// The figures are written: the run is over. (In the assembled run a handle outlives the sections — each section
// alone exits by itself; the culprit is not found yet — so the bench does not wait for it.)
process.exit(process.exitCode ?? 0);
