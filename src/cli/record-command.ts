/**
 * `klagg record`: subscribes the aggTrade streams of the given symbols and writes every frame with its receive time,
 * one per line (`<receiveTimeMs>\t<frame>`), in the format `klagg replay` reads.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { Command, InvalidArgumentError } from 'commander';
import { systemClock, type Clock } from '../infra/clock.ts';
import { StreamManager } from '../actors/stream-manager.ts';
import type { Logger } from '../infra/logger.ts';
import { createExchangeSocket } from '../infra/exchange-stream/exchange-socket.ts';
import { contextOf, type CommandHost } from './cli-context.ts';

export interface RecordOptions {
  readonly symbols: readonly string[];
  readonly durationMs: number;
  readonly output: string;
  readonly wsBaseUrl: string;
  readonly logger: Logger;
  readonly clock?: Clock;
  readonly signal?: AbortSignal;
}

export interface RecordSummary {
  readonly frames: number;
  readonly bytes: number;
  readonly reconnects: number;
}

export async function record(options: RecordOptions): Promise<RecordSummary> {
  const clock = options.clock ?? systemClock;
  const out = createWriteStream(options.output);
  let frames = 0;
  let bytes = 0;
  const manager = new StreamManager({
    wsBaseUrl: options.wsBaseUrl,
    connect: createExchangeSocket,
    clock,
    logger: options.logger.child({ actor: 'recorder' }),
    onFrame: (frame, receivedAt) => {
      frames++;
      bytes += frame.length;
      out.write(`${receivedAt}\t`);
      out.write(frame);
      out.write('\n');
    },
  });
  manager.subscribe(options.symbols.map((symbol) => `${symbol.toLowerCase()}@aggTrade`));
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, options.durationMs);
    options.signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  const reconnects = manager.stats.reconnects;
  await manager.stop();
  out.end();
  await once(out, 'finish');
  return { frames, bytes, reconnects };
}

/** `90s`, `5m`, `2h`, or plain milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) throw new InvalidArgumentError(`duration must look like 500ms, 90s, 5m or 2h, got ${JSON.stringify(text)}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * unit;
}

export function recordCommand(host: CommandHost): Command {
  const ctx = contextOf(host);
  const command = new Command('record');
  return command
    .description('record the aggTrade streams of some symbols (frames with receive times) for replay')
    .requiredOption('--symbols <list>', 'comma-separated symbols, e.g. BTCUSDT,ETHUSDT', (value: string) => value.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean))
    .requiredOption('--duration <time>', 'how long to record: 500ms, 90s, 5m, 2h', parseDuration)
    .option('-o, --output <file>', 'where to write the recording', 'recording.jsonl')
    .option('--ws-url <url>', 'WebSocket base URL (default: config exchange.wsBaseUrl, env KLAGG_EXCHANGE__WS_BASE_URL)')
    .action(async (opts: { symbols: string[]; duration: number; output: string; wsUrl?: string }) => {
      const { config, logger } = ctx.configure(command, { exchange: { wsBaseUrl: opts.wsUrl } });
      // The first Ctrl+C ends the recording early; what was received is written.
      const releaseSignals = ctx.lifecycle.ensureSignals();
      const signal = ctx.lifecycle.stopSignal();
      const summary = await record({ symbols: opts.symbols, durationMs: opts.duration, output: opts.output, wsBaseUrl: config.exchange.wsBaseUrl, logger, signal }).finally(
        releaseSignals,
      );
      logger.info({ ...summary, output: opts.output }, 'recording written');
    });
}
