/**
 * A generated market written as a recording (one aggTrade frame per line): the seeded synthetic market of
 * src/domain/synthetic-market.ts, so the cluster tests and benchmarks run hundreds of symbols with realistic activity
 * (Zipf-skewed, bursts, quiet periods → empty klines) that `klagg ingest --input` and `klagg replay --system` read alike.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { toAggTradeEvent } from '../../src/domain/agg-trade.ts';
import { generateTrades } from '../../src/domain/synthetic-market.ts';

export interface GeneratedRecording {
  readonly path: string;
  readonly trades: number;
  readonly symbols: number;
  readonly firstTime: number;
  readonly lastTime: number;
}

export async function writeGeneratedRecording(path: string, options: { seed: number; symbols: number; trades: number; meanRatePerSecond?: number; startTime?: number }): Promise<GeneratedRecording> {
  const out = createWriteStream(path);
  const seen = new Set<string>();
  let firstTime = Number.POSITIVE_INFINITY;
  let lastTime = Number.NEGATIVE_INFINITY;
  let lines: string[] = [];
  for (const trade of generateTrades({ seed: options.seed, symbols: options.symbols, trades: options.trades, startTime: options.startTime ?? Date.UTC(2026, 0, 5, 10, 0, 0), meanRatePerSecond: options.meanRatePerSecond ?? 500 })) {
    seen.add(trade.symbol);
    firstTime = Math.min(firstTime, trade.tradeTime);
    lastTime = Math.max(lastTime, trade.tradeTime);
    lines.push(JSON.stringify(toAggTradeEvent(trade)));
    if (lines.length === 4096) {
      if (!out.write(`${lines.join('\n')}\n`)) await once(out, 'drain');
      lines = [];
    }
  }
  if (lines.length > 0) out.write(`${lines.join('\n')}\n`);
  out.end();
  await once(out, 'finish');
  return { path, trades: options.trades, symbols: seen.size, firstTime, lastTime };
}
