/**
 * `klagg ingest --input <recording>`: a recording into the trade log, as the exchange connection would put it there —
 * per-symbol batches, watermarks in-band, and at the end of the recording an end marker that lets every begun kline
 * become final (the same end `klagg replay --system` gives). Time is the recording's: a watermark is the latest
 * trade time among trades the log has acknowledged, so the cluster's klines are the replay's, whatever the pace.
 * Scales come from the whole recording, as the replay infers them.
 */
import { AggTradeParser } from '../../domain/agg-trade-parser.ts';
import { ScaleInference } from '../../domain/replay.ts';
import type { SymbolScales } from '../../domain/kline-engine.ts';
import type { TradeLogPublisher } from '../../infra/nats/trade-log-publisher.ts';
import type { Logger } from '../../infra/logger.ts';

export interface RecordingIngestOptions {
  readonly input: string;
  readonly publisher: TradeLogPublisher;
  readonly readLines: (path: string) => AsyncIterable<Buffer>;
  /** Trades per second at most (unlimited when absent): a recording spread over real time, for fault runs. */
  readonly rate?: number;
  readonly watermarkMs: number;
  /** Trades queued but not yet acknowledged, at most (back-pressure on the file). */
  readonly maxOutstanding?: number;
  /** Publishes symbols' descriptions for the stream servers (once per symbol, before its first trade). */
  readonly describe?: (symbol: string, scales: SymbolScales) => Promise<void>;
  readonly signal?: AbortSignal;
  readonly logger: Logger;
}

export interface RecordingIngestSummary {
  readonly trades: number;
  readonly skipped: number;
  readonly symbols: number;
  readonly lastTradeTime: number;
  readonly ended: boolean;
}

export async function ingestRecording(options: RecordingIngestOptions): Promise<RecordingIngestSummary> {
  const { publisher, logger } = options;
  const inference = new ScaleInference();
  for await (const line of options.readLines(options.input)) inference.feed(line);
  const scales = inference.scales;
  for (const [symbol, s] of scales) await options.describe?.(symbol, s);

  const parser = new AggTradeParser();
  const last = new Map<string, number>();
  let maxTime = Number.NEGATIVE_INFINITY;
  let trades = 0;
  let skipped = 0;
  let watermarking: Promise<void> | null = null;
  const watermark = (): void => {
    if (watermarking !== null || !Number.isFinite(maxTime)) return;
    const wm = maxTime;
    watermarking = publisher
      .whenAcked()
      .then(() => publisher.publishWatermark(wm))
      .catch((error: unknown) => logger.warn({ err: (error as Error)?.message }, 'watermark not published'))
      .finally(() => (watermarking = null));
  };
  const timer = setInterval(watermark, options.watermarkMs);
  const started = performance.now();
  const maxOutstanding = options.maxOutstanding ?? 50_000;
  try {
    for await (const frame of options.readLines(options.input)) {
      if (options.signal?.aborted) break;
      if (!parser.parse(frame)) {
        skipped++;
        continue;
      }
      const t = parser.trade;
      const symbol = frame.subarray(t.symbolStart, t.symbolEnd).toString('latin1');
      const previous = last.get(symbol);
      // Ids of a symbol go out in order, each once (a recording may repeat a frame; the engine would drop it anyway).
      if (previous !== undefined && t.aggId <= previous) {
        skipped++;
        continue;
      }
      last.set(symbol, t.aggId);
      publisher.enqueue(symbol, scales.get(symbol)!, t.aggId, frame);
      if (t.tradeTime > maxTime) maxTime = t.tradeTime;
      trades++;
      if (options.rate !== undefined && trades % 64 === 0) {
        const ahead = (trades / options.rate) * 1000 - (performance.now() - started);
        if (ahead > 0) await new Promise((resolve) => setTimeout(resolve, ahead));
      }
      if (trades % 1024 === 0 && publisher.outstanding > maxOutstanding) await publisher.whenAcked();
    }
  } finally {
    clearInterval(timer);
  }
  await watermarking;
  const ended = !(options.signal?.aborted ?? false);
  if (ended) {
    await publisher.whenAcked();
    if (Number.isFinite(maxTime)) await publisher.publishWatermark(maxTime, true);
    logger.info({ trades, symbols: last.size, lastTradeTime: maxTime }, 'recording published; end marker sent');
  }
  return { trades, skipped, symbols: last.size, lastTradeTime: maxTime, ended };
}
