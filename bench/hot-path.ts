/**
 * The hot path: raw combined-stream aggTrade frames (Buffers, as `ws` hands them over) for 500 symbols → klines for
 * the default intervals (all 15), next to tardis-dev's compute() + a computeTradeBars per fixed-length interval over the
 * same trades (14: it has no calendar month), next to JSON.parse alone on the same frames, and next to the same hot
 * path with the 7 intervals that were the default before (what serving every interval costs).
 */
import { toCombinedFrame, type AggTrade } from '../src/domain/agg-trade.ts';
import { FrameIngest } from '../src/domain/frame-ingest.ts';
import { DEFAULT_INTERVALS, fixedLengthMs, type IntervalName } from '../src/domain/interval.ts';
import { KLINE_SLOT_BYTES, KlineEngine, type SymbolScales } from '../src/domain/kline-engine.ts';
import { scaleOf } from '../src/domain/decimal.ts';
import { generateTrades } from '../src/domain/synthetic-market.ts';
import { syntheticSymbols } from '../src/domain/synthetic-symbols.ts';
import { runTardisBaseline, toTradeFrames } from './tardis-baseline.ts';
import { median, rate, type BenchReport } from './report.ts';

export interface HotPathOptions {
  readonly symbols: number;
  readonly trades: number;
  readonly runs: number;
}

/** The default intervals before all 15 were: the cost of serving every interval is measured against them. */
const SEVEN: readonly IntervalName[] = ['1m', '5m', '30m', '1h', '4h', '1d', '1w'];

function ourRun(frames: readonly Buffer[], scales: ReadonlyMap<string, SymbolScales>, intervals: readonly IntervalName[] = DEFAULT_INTERVALS): { seconds: number; finals: number } {
  let finals = 0;
  const engine = new KlineEngine({ intervals, graceMs: 1000 }, { onFinal: () => void finals++ });
  const ingest = new FrameIngest(engine, (symbol) => scales.get(symbol));
  const started = performance.now();
  for (let i = 0; i < frames.length; i++) {
    ingest.ingest(frames[i]!);
    engine.advanceTo(ingest.trade.tradeTime);
  }
  const seconds = (performance.now() - started) / 1000;
  if (engine.counters.applied !== frames.length) throw new Error(`hot path applied ${engine.counters.applied} of ${frames.length} trades`);
  return { seconds, finals };
}

function jsonParseRun(frames: readonly string[]): number {
  let sink = 0;
  const started = performance.now();
  for (let i = 0; i < frames.length; i++) sink += (JSON.parse(frames[i]!) as { data: { a: number } }).data.a & 1;
  const seconds = (performance.now() - started) / 1000;
  if (sink < 0) throw new Error('unreachable');
  return seconds;
}

export async function benchHotPath(options: HotPathOptions, report: BenchReport): Promise<void> {
  const specs = syntheticSymbols(42, options.symbols);
  const scales = new Map(specs.map((s) => [s.symbol, { priceScale: scaleOf(s.tickSize), qtyScale: scaleOf(s.stepSize) }]));
  const trades: AggTrade[] = [...generateTrades({ seed: 42, symbols: options.symbols, startTime: Date.UTC(2026, 10, 2), trades: options.trades, symbolSpecs: specs })];
  const ourStrings = trades.map((trade) => toCombinedFrame(trade));
  const ourFrames = ourStrings.map((s) => Buffer.from(s));
  const tardisFrames = toTradeFrames(trades);
  const intervalsMs = DEFAULT_INTERVALS.flatMap((interval) => fixedLengthMs(interval) ?? []);

  // Warm-up of each path, then alternate runs so machine noise hits both alike.
  ourRun(ourFrames.slice(0, 200_000), scales);
  ourRun(ourFrames.slice(0, 200_000), scales, SEVEN);
  jsonParseRun(ourStrings.slice(0, 200_000));
  await runTardisBaseline(tardisFrames.slice(0, 100_000), intervalsMs);
  const ours: number[] = [];
  const parse: number[] = [];
  const tardis: number[] = [];
  const seven: number[] = [];
  for (let run = 0; run < options.runs; run++) {
    ours.push(rate(trades.length, ourRun(ourFrames, scales).seconds));
    seven.push(rate(trades.length, ourRun(ourFrames, scales, SEVEN).seconds));
    parse.push(rate(trades.length, jsonParseRun(ourStrings)));
    tardis.push((await runTardisBaseline(tardisFrames, intervalsMs)).tradesPerSecond);
  }
  const oursRate = median(ours);
  const tardisRate = median(tardis);
  const parseRate = median(parse);
  const sevenRate = median(seven);
  report.line(
    `hot path vs tardis-dev: ${Math.round(oursRate)} vs ${Math.round(tardisRate)} trades/s, ratio ${(oursRate / tardisRate).toFixed(1)}x ` +
      `(tardis: the ${intervalsMs.length} fixed-length intervals)`,
  );
  report.line(
    `hot path, ${DEFAULT_INTERVALS.length} vs ${SEVEN.length} intervals (${SEVEN.join(' ')}): ${Math.round(oursRate)} vs ${Math.round(sevenRate)} trades/s, ratio ${(oursRate / sevenRate).toFixed(2)}`,
  );
  report.line(
    `hot path vs JSON.parse alone: ${Math.round(oursRate)} vs ${Math.round(parseRate)} frames/s, ratio ${(oursRate / parseRate).toFixed(2)}x ` +
      `(${options.trades} trades, ${options.symbols} symbols, ${DEFAULT_INTERVALS.length} intervals, median of ${options.runs})`,
  );
  const memory = (symbols: number, intervals: number) => (KLINE_SLOT_BYTES * symbols * intervals) / (1 << 20);
  report.line(
    `amendment memory (the last final kline per symbol × interval, to amend it exactly on a late trade): ${KLINE_SLOT_BYTES} bytes per symbol × interval ` +
      `(the open kline takes another ${KLINE_SLOT_BYTES}); ${options.symbols} symbols × ${DEFAULT_INTERVALS.length} intervals: ${memory(options.symbols, DEFAULT_INTERVALS.length).toFixed(2)} MiB, ` +
      `1000 × 15: ${memory(1000, 15).toFixed(2)} MiB`,
  );
  report.record('hotPath', { symbols: options.symbols, trades: options.trades, intervals: DEFAULT_INTERVALS.length, oursTradesPerSecond: oursRate, sevenIntervalsTradesPerSecond: sevenRate, tardisTradesPerSecond: tardisRate, jsonParseFramesPerSecond: parseRate, runs: { ours, seven, tardis, parse } });
}
