/**
 * `klagg replay`: runs a recording through the kline engine on simulated time and writes one JSON line per final
 * kline. Scales come from the recording itself unless given.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { Command, InvalidArgumentError } from 'commander';
import { DEFAULT_INTERVALS, parseIntervalList, type IntervalName } from '../domain/interval.ts';
import type { Kline } from '../domain/kline.ts';
import { Replayer, ScaleInference, type ReplaySummary } from '../domain/replay.ts';
import type { SymbolScales } from '../domain/kline-engine.ts';
import { klineJsonLine } from '../infra/kline-json.ts';
import { readLines } from '../infra/recording/line-reader.ts';
import { replaySystem } from '../app/system-replay.ts';
import { contextOf, type CommandHost } from './cli-context.ts';

export interface ReplayFileOptions {
  readonly input: string;
  readonly intervals: readonly IntervalName[];
  readonly graceMs: number;
  /** Fixed scales for every symbol; when absent they are inferred from the recording. */
  readonly scales?: Partial<SymbolScales>;
  readonly write: (line: string) => void;
  /** Resolves when the output can take more lines (back-pressure); awaited between input chunks. */
  readonly ready?: () => Promise<void>;
}

/** Replays a recording file; resolves once every final kline has been handed to `write`. */
export async function replayFile(options: ReplayFileOptions): Promise<ReplaySummary> {
  const inference = new ScaleInference();
  const given = options.scales ?? {};
  if (given.priceScale === undefined || given.qtyScale === undefined) {
    for await (const line of readLines(options.input)) inference.feed(line);
  }
  const scales = new Map<string, SymbolScales>();
  for (const [symbol, inferred] of inference.scales) {
    scales.set(symbol, { priceScale: given.priceScale ?? inferred.priceScale, qtyScale: given.qtyScale ?? inferred.qtyScale });
  }
  const replayer = new Replayer(
    {
      intervals: options.intervals,
      graceMs: options.graceMs,
      scales,
      defaultScales: { priceScale: given.priceScale ?? 8, qtyScale: given.qtyScale ?? 8 },
    },
    { onFinal: (kline: Kline) => options.write(klineJsonLine(kline)) },
  );
  let sinceWait = 0;
  for await (const line of readLines(options.input)) {
    replayer.feed(line);
    if (options.ready && ++sinceWait === 4096) {
      sinceWait = 0;
      await options.ready();
    }
  }
  return replayer.end();
}

function integerOption(name: string, min: number, max: number): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!/^\d+$/.test(value) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
    }
    return parsed;
  };
}

function intervalsOption(value: string): IntervalName[] {
  try {
    return parseIntervalList(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** Buffers output lines and writes them in large chunks; `ready()` resolves when the stream can take more. */
class LineOutput {
  readonly #stream: WriteStream | NodeJS.WriteStream;
  #pending: string[] = [];
  #size = 0;
  #drained: Promise<unknown> | undefined;

  constructor(stream: WriteStream | NodeJS.WriteStream) {
    this.#stream = stream;
  }

  write = (line: string): void => {
    this.#pending.push(line);
    this.#size += line.length;
    if (this.#size >= 1 << 16) this.#flush();
  };

  ready = async (): Promise<void> => {
    const drained = this.#drained;
    this.#drained = undefined;
    if (drained) await drained;
  };

  #flush(): void {
    if (this.#pending.length === 0) return;
    if (!this.#stream.write(this.#pending.join('')) && !this.#drained) this.#drained = once(this.#stream, 'drain');
    this.#pending = [];
    this.#size = 0;
  }

  async close(): Promise<void> {
    this.#flush();
    await this.ready();
    if (this.#stream !== process.stdout) {
      (this.#stream as WriteStream).end();
      await once(this.#stream, 'finish');
    }
  }
}

export function replayCommand(host: CommandHost): Command {
  const ctx = contextOf(host);
  const command = new Command('replay');
  return command
    .description('replay an aggTrade recording (one frame per line) through the kline engine on simulated time')
    .requiredOption('-i, --input <file>', 'recording: one aggTrade frame per line, plain or combined-stream wrapped')
    .option('--intervals <list>', 'comma-separated intervals', intervalsOption, [...DEFAULT_INTERVALS])
    .option('-o, --output <file>', 'write kline JSON lines here instead of stdout')
    .option('--grace-ms <ms>', 'how long after a period closes the clock waits before finalizing it', integerOption('--grace-ms', 0, 3_600_000), 1000)
    .option('--price-scale <decimals>', 'decimals of prices for every symbol (default: from the data)', integerOption('--price-scale', 0, 18))
    .option('--qty-scale <decimals>', 'decimals of quantities for every symbol (default: from the data)', integerOption('--qty-scale', 0, 18))
    .option('--system', 'run the recording through the whole actor system into the database instead of printing klines')
    .option('--database-url <url>', 'with --system: PostgreSQL to write to (default: DATABASE_URL, else the embedded PGlite)')
    .option('--data-dir <dir>', 'with --system and no database URL: where the embedded PGlite keeps its files (default: config)')
    .option('--workers <n>', 'with --system: worker count (default: config)', integerOption('--workers', 1, 64))
    .option('--threads', 'with --system: run the workers in worker threads (default: config, on)')
    .option('--no-threads', 'with --system: run the workers in the main thread')
    .action(async (opts: { input: string; intervals: IntervalName[]; output?: string; graceMs: number; priceScale?: number; qtyScale?: number; system?: boolean; databaseUrl?: string; dataDir?: string; workers?: number; threads?: boolean }) => {
      const given = (name: string): boolean => command.getOptionValueSource(name) === 'cli';
      // Without --system only the log settings apply; the file replay's own options keep their defaults.
      const { config, logger } = ctx.configure(
        command,
        opts.system
          ? {
              intervals: given('intervals') ? opts.intervals : undefined,
              engine: given('graceMs') ? { graceMs: opts.graceMs } : undefined,
              database: { url: opts.databaseUrl, dataDir: given('dataDir') ? opts.dataDir : undefined },
              workers: given('workers') || given('threads') ? { count: opts.workers, threads: opts.threads } : undefined,
            }
          : undefined,
      );
      if (opts.system) {
        const releaseSignals = ctx.lifecycle.ensureSignals();
        const stop = ctx.lifecycle.stopSignal();
        stop.addEventListener('abort', () => logger.warn({ signal: ctx.lifecycle.stopReason }, 'stopping: intake ends, nothing open is finalized, everything is written'), { once: true });
        const summary = await replaySystem({
          input: opts.input,
          intervals: config.intervals,
          graceMs: config.engine.graceMs,
          databaseUrl: config.database.url,
          dataDir: config.database.dataDir,
          venue: config.venue,
          market: config.market,
          workers: config.workers.count,
          threads: config.workers.threads,
          tuning: { gateway: config.gateway, dispatcher: config.dispatcher, dbWriter: config.dbWriter, partitions: config.workers.partitions },
          signal: stop,
          logger,
        }).finally(releaseSignals);
        logger.child({ command: 'replay' }).info(summary, summary.interrupted ? 'system replay stopped by a signal: everything received is stored' : 'system replay finished: every kline is stored');
        if (summary.failedSymbols.length > 0 || summary.exitCode !== 0) process.exitCode = 1;
        return;
      }
      const output = new LineOutput(opts.output ? createWriteStream(opts.output) : process.stdout);
      const started = performance.now();
      const summary = await replayFile({
        input: opts.input,
        intervals: opts.intervals,
        graceMs: opts.graceMs,
        scales: { priceScale: opts.priceScale, qtyScale: opts.qtyScale },
        write: output.write,
        ready: output.ready,
      });
      await output.close();
      const seconds = (performance.now() - started) / 1000;
      const log = logger.child({ command: 'replay' });
      if (summary.gaps.length > 0) log.warn({ gaps: summary.gaps }, 'aggregate ids had gaps; a replay cannot repair them');
      if (summary.rejected.length > 0) log.warn({ rejected: summary.rejected }, 'frames were rejected');
      log.info({ input: opts.input, seconds: Number(seconds.toFixed(3)), engine: summary.engine, frames: summary.frames }, 'replay finished');
    });
}
