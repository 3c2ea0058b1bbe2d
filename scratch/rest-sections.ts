import { benchSymbolStart } from '../bench/symbol-start.ts';
import { benchStreamLatency } from '../bench/stream-latency.ts';
import { KlineBackfiller } from '../src/actors/kline-backfiller.ts';
import { systemClock } from '../src/infra/clock.ts';
import { createRootLogger } from '../src/infra/logger.ts';
import { BenchReport } from '../bench/report.ts';
const report = new BenchReport();
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
await benchStreamLatency({ symbols: 50, rate: 500, clients: 500, seconds: 10 }, report);
process.exit(0);
