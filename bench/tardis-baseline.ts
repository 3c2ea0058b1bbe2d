/**
 * Baseline for the benchmark: tardis-dev's own path over the same trades our hot path sees.
 * The issue wants klagg measured side by side with tardis-dev's `compute()` + one
 * `computeTradeBars` per interval, starting from raw frame strings just as ours does.
 * So each frame is `JSON.parse`d, mapped by tardis-dev's Binance futures trades mapper
 * (as its real-time `streamNormalized` does, with a fresh `localTimestamp` per message),
 * and fed to `compute()`. Used only by the benchmark.
 */
import { compute, computeTradeBars, normalizeTrades } from 'tardis-dev';
import type { Trade } from 'tardis-dev';
import type { AggTrade } from '../src/domain/agg-trade.ts';

const EXCHANGE = 'binance-futures';

/**
 * Each trade as a raw USDⓈ-M futures combined-stream `@trade` frame. tardis-dev's
 * BinanceTradesMapper reads `stream` (canHandle) and `data.{s,t,p,q,m,T,X}`; `X` must not be
 * INSURANCE_FUND/ADL/NA or the trade is dropped. `t` is the aggregate's last raw trade id.
 */
export function toTradeFrames(trades: readonly AggTrade[]): string[] {
  return trades.map((trade) =>
    JSON.stringify({
      stream: `${trade.symbol.toLowerCase()}@trade`,
      data: {
        e: 'trade',
        E: trade.tradeTime,
        T: trade.tradeTime,
        s: trade.symbol,
        t: trade.lastTradeId,
        p: trade.price,
        q: trade.qty,
        X: 'MARKET',
        m: trade.buyerIsMaker,
      },
    }),
  );
}

/** Parse and normalize frames one by one, the way tardis-dev's real-time feed hands them to `compute()`. */
async function* normalizedTrades(frames: readonly string[]): AsyncGenerator<Trade> {
  const mapper = normalizeTrades(EXCHANGE, new Date());
  for (const frame of frames) {
    // The mapper's own signature takes `any`; parse to `unknown` and let it decide.
    const message: unknown = JSON.parse(frame);
    if (!mapper.canHandle(message)) continue;
    const localTimestamp = new Date();
    const mapped = mapper.map(message, localTimestamp);
    if (mapped === undefined) continue;
    yield* mapped;
  }
}

export async function runTardisBaseline(
  frames: readonly string[],
  intervalsMs: readonly number[],
): Promise<{ trades: number; bars: number; seconds: number; tradesPerSecond: number }> {
  const computables = intervalsMs.map((interval) => computeTradeBars({ kind: 'time', interval }));
  let trades = 0;
  let bars = 0;
  const start = performance.now();
  for await (const message of compute(normalizedTrades(frames), ...computables)) {
    if (message.type === 'trade_bar') bars += 1;
    else if (message.type === 'trade') trades += 1;
  }
  const seconds = (performance.now() - start) / 1000;
  return { trades, bars, seconds, tradesPerSecond: trades / seconds };
}
