/**
 * Live ingest from the exchange, with a load generator that outruns the service: `klagg fake-exchange --blast` in
 * another process publishes a generated recording at startup (REST and exchangeInfo have all of it) and, once the
 * service has subscribed every symbol's `@aggTrade` stream, writes the pre-built WebSocket frames straight onto its
 * sockets. One service process (streams, workers, Gateway, DB writer into PostgreSQL) ingests them over loopback, run
 * twice on the same generator: worker threads off, then on. Each run must aggregate every trade (the workers' `applied`
 * adds up to the trade count); its rate counts from the generator's stamp at its first byte to the poll that sees the
 * last trade aggregated. Service CPU is the process's (all threads) per core; the generator reports its own.
 *
 * The generator's ceiling: before the service runs, a client in its own process (bench/blast-sink.ts) takes a round
 * over two connections and only counts messages — a bare `ws` client, then a bare frame counter on the raw socket (no
 * `ws` in the way). Next to it all, the bare engine over the same frames.
 *
 *   node bench/exchange-ingest.ts [--quick] [--symbols N --trades T]
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { toCombinedFrame } from '../src/domain/agg-trade.ts';
import { DEFAULT_INTERVALS } from '../src/domain/interval.ts';
import { Replayer, ScaleInference } from '../src/domain/replay.ts';
import { generateTrades } from '../src/domain/synthetic-market.ts';
import { defaultConfig } from '../src/infra/config/schema.ts';
import { KlaggService, systemOptionsFrom } from '../src/app/klagg-service.ts';
import { systemClock } from '../src/infra/clock.ts';
import { KlineStore } from '../src/infra/db/kline-store.ts';
import { openDatabase } from '../src/infra/db/open-database.ts';
import type { BlastEnd, BlastStart } from '../src/infra/fake-exchange/ws-blast.ts';
import { createRootLogger } from '../src/infra/logger.ts';
import { createTestDatabase } from '../test/support/postgres.ts';
import { BenchReport, median, rate } from './report.ts';

const MAIN = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const SINK = fileURLToPath(new URL('./blast-sink.ts', import.meta.url));
/** A run that has aggregated nothing new for this long has lost trades. */
const STALL_MS = 60_000;
const SINK_CONNECTIONS = 2;

export interface ExchangeIngestOptions {
  readonly symbols: number;
  readonly trades: number;
}

/** Sizes: a full run lasts several seconds at 300k trades/s. */
export const FULL: ExchangeIngestOptions = { symbols: 300, trades: 2_000_000 };
export const QUICK: ExchangeIngestOptions = { symbols: 200, trades: 200_000 };

interface Recording {
  readonly path: string;
  readonly trades: number;
  readonly firstIds: Map<string, number>;
  /** The frames, for the bare engine. */
  readonly frames: Buffer[];
}

interface ServiceRun {
  readonly threads: boolean;
  readonly rate: number;
  readonly seconds: number;
  readonly applied: number;
  readonly repaired: number;
  /** Service process CPU (all threads) over the run, per core of the machine. */
  readonly cpuPerCore: number;
  readonly start: BlastStart;
  readonly end: BlastEnd;
}

export async function benchExchangeIngest(options: ExchangeIngestOptions, report: BenchReport): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'klagg-ingest-'));
  try {
    const recording = await writeRecording(options, join(dir, 'market.jsonl'));
    // The generator loads and frames the recording (tens of seconds for millions of trades) while the bare engine runs.
    const generator = new Generator(recording.path);
    try {
      const bareRate = bareEngineRate(recording.frames);
      const urls = await generator.ready;
      const sink = await runSink(generator, urls.wsUrl, recording, 'ws');
      const frameSink = await runSink(generator, urls.wsUrl, recording, 'frames');
      const off = await runService(generator, urls, recording, false);
      const on = await runService(generator, urls, recording, true);
      const cores = availableParallelism();
      const pct = (value: number) => `${(100 * value).toFixed(0)}%`;
      const generatorCpu = (end: BlastEnd) => (end.cpuUserMs + end.cpuSystemMs) / 1000;
      const generatorLoad = (run: ServiceRun) =>
        `${generatorCpu(run.end).toFixed(2)} s, ${Math.round((1e9 * generatorCpu(run.end)) / run.end.frames)} ns/trade, ${pct(generatorCpu(run.end) / run.seconds)} of a core over the run`;
      report.line(`live ingest zero loss: threads off ${Math.round(off.rate)} trades/s, threads on ${Math.round(on.rate)} trades/s`);
      report.line(
        `live ingest detail: ${options.symbols} symbols, ${recording.trades} trades per run, REST repair ${off.repaired} (off) / ${on.repaired} (on) trades; ` +
          `service process CPU per core (all threads ÷ ${cores} cores) ${pct(off.cpuPerCore)} (off) / ${pct(on.cpuPerCore)} (on); ` +
          `generator CPU ${generatorLoad(off)} (off) / ${generatorLoad(on)} (on) for ${(off.end.bytes / 1e6).toFixed(0)} MB over ${off.end.connections} / ${on.end.connections} connection(s); ` +
          `runs ${off.seconds.toFixed(2)} s / ${on.seconds.toFixed(2)} s; bare engine ${Math.round(bareRate)} trades/s`,
      );
      const best = Math.max(off.rate, on.rate);
      report.line(
        `load generator ceiling (a client in its own process, ${SINK_CONNECTIONS} connections, counting only): bare ws client ${Math.round(sink.rate)} trades/s ` +
          `(${(sink.rate / best).toFixed(1)}× the service's best; its CPU ${pct(sink.cpuPerCore * cores)} of a core; generator CPU ${generatorCpu(sink.end).toFixed(2)} s), ` +
          `raw frame counter ${Math.round(frameSink.rate)} trades/s (${(frameSink.rate / best).toFixed(1)}×; its CPU ${pct(frameSink.cpuPerCore * cores)} of a core; generator CPU ${generatorCpu(frameSink.end).toFixed(2)} s)`,
      );
      const sinkRecord = (run: SinkRun) => ({ tradesPerSecond: run.rate, cpuPerCore: run.cpuPerCore, generatorCpuSeconds: generatorCpu(run.end), generatorWriteSeconds: run.end.seconds });
      const runRecord = (run: ServiceRun) => ({
        tradesPerSecond: run.rate,
        seconds: run.seconds,
        repairedTrades: run.repaired,
        serviceCpuPerCore: run.cpuPerCore,
        connections: run.end.connections,
        generatorCpuSeconds: generatorCpu(run.end),
        generatorWriteSeconds: run.end.seconds,
      });
      report.record('exchangeIngest', {
        symbols: options.symbols,
        trades: recording.trades,
        cores,
        threadsOff: runRecord(off),
        threadsOn: runRecord(on),
        sink: { connections: SINK_CONNECTIONS, ws: sinkRecord(sink), frames: sinkRecord(frameSink) },
        bareTradesPerSecond: bareRate,
      });
    } finally {
      await generator.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Generates the market and writes it as combined-stream frames, one per line (streamed: no string of it all). */
async function writeRecording(options: ExchangeIngestOptions, path: string): Promise<Recording> {
  const out = createWriteStream(path);
  const firstIds = new Map<string, number>();
  const frames: Buffer[] = [];
  let batch: string[] = [];
  const flush = async () => {
    if (!out.write(`${batch.join('\n')}\n`)) await once(out, 'drain');
    batch = [];
  };
  for (const trade of generateTrades({ seed: 21, symbols: options.symbols, startTime: Date.UTC(2026, 10, 2), trades: options.trades, meanRatePerSecond: 2000, quietPeriods: false })) {
    if (!firstIds.has(trade.symbol)) firstIds.set(trade.symbol, trade.aggId);
    const line = toCombinedFrame(trade);
    frames.push(Buffer.from(line));
    batch.push(line);
    if (batch.length === 10_000) await flush();
  }
  if (batch.length > 0) await flush();
  out.end();
  await once(out, 'finish');
  return { path, trades: frames.length, firstIds, frames };
}

/** The bare engine over the same frames, in this process: the median of three runs after a warm-up. */
function bareEngineRate(frames: readonly Buffer[]): number {
  const inference = new ScaleInference();
  for (const frame of frames) inference.feed(frame);
  const runs: number[] = [];
  for (let run = 0; run < 4; run++) {
    const replayer = new Replayer({ intervals: DEFAULT_INTERVALS, graceMs: 1000, scales: inference.scales }, { onFinal: () => {} });
    const t0 = performance.now();
    for (const frame of frames) replayer.feed(frame);
    replayer.end();
    if (run > 0) runs.push(rate(frames.length, (performance.now() - t0) / 1000));
  }
  return median(runs);
}

/** `klagg fake-exchange --replay <file> --blast` in a child process, and the JSON lines it prints. */
class Generator {
  readonly ready: Promise<{ restUrl: string; wsUrl: string }>;
  readonly #child: ChildProcessByStdio<null, Readable, null>;
  readonly #events: (BlastStart | BlastEnd)[] = [];
  #wake: (() => void) | undefined;
  #exited = false;

  constructor(path: string) {
    this.#child = spawn(process.execPath, [MAIN, 'fake-exchange', '--replay', path, '--blast', '--weight-limit', '24000'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, KLAGG_LOG_LEVEL: 'warn' } });
    const lines = createInterface({ input: this.#child.stdout });
    this.ready = new Promise((resolve, reject) => {
      lines.on('line', (line) => {
        const parsed = JSON.parse(line) as { restUrl?: string; wsUrl?: string } | BlastStart | BlastEnd;
        if ('event' in parsed) {
          this.#events.push(parsed);
          this.#wake?.();
        } else resolve(parsed as { restUrl: string; wsUrl: string });
      });
      this.#child.once('exit', (code) => {
        this.#exited = true;
        this.#wake?.();
        reject(new Error(`the load generator exited with ${code}`));
      });
    });
  }

  /** The round's start or end line (waits for it). */
  async event<E extends 'blastStart' | 'blastEnd'>(event: E, round: number, timeoutMs = 600_000): Promise<E extends 'blastStart' ? BlastStart : BlastEnd> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.#events.find((e) => e.event === event && e.round === round);
      if (found !== undefined) return found as E extends 'blastStart' ? BlastStart : BlastEnd;
      if (this.#exited) throw new Error(`the load generator exited before ${event} of round ${round}`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no ${event} of round ${round} from the load generator within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  async stop(): Promise<void> {
    if (this.#exited) return;
    this.#child.kill('SIGTERM');
    await once(this.#child, 'exit').catch(() => {});
  }
}

interface SinkRun {
  readonly rate: number;
  readonly cpuPerCore: number;
  readonly end: BlastEnd;
}

let nextRound = 1;

/** A round for a sink. Its rate counts from the generator's first byte to the sink's last message. */
async function runSink(generator: Generator, wsUrl: string, recording: Recording, mode: 'ws' | 'frames'): Promise<SinkRun> {
  const round = nextRound++;
  const streams = [...recording.firstIds.keys()].map((symbol) => `${symbol.toLowerCase()}@aggTrade`);
  const args = [SINK, '--url', wsUrl, '--streams', streams.join(','), '--expect', String(recording.trades), '--connections', String(SINK_CONNECTIONS), '--mode', mode];
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  let done: { event: 'sinkDone'; at: number; messages: number; cpuUserMs: number; cpuSystemMs: number } | undefined;
  createInterface({ input: child.stdout }).on('line', (line) => {
    const parsed = JSON.parse(line) as { event: 'sinkSubscribed' } | NonNullable<typeof done>;
    if (parsed.event === 'sinkDone') done = parsed;
  });
  const [code] = (await exited) as [number | null];
  if (code !== 0 || done === undefined) throw new Error(`the blast sink exited with ${code}`);
  const start = await generator.event('blastStart', round);
  const end = await generator.event('blastEnd', round);
  if (done.messages !== recording.trades || end.frames !== recording.trades) throw new Error(`the ${mode} sink got ${done.messages} of ${recording.trades} frames (${end.frames} written)`);
  const seconds = (done.at - start.at) / 1000;
  return { rate: rate(recording.trades, seconds), cpuPerCore: (done.cpuUserMs + done.cpuSystemMs) / 1000 / seconds / availableParallelism(), end };
}

/** One service run on a fresh database: the next round of the generator. */
async function runService(generator: Generator, urls: { restUrl: string; wsUrl: string }, recording: Recording, threads: boolean): Promise<ServiceRun> {
  const round = nextRound++;
  const database = await createTestDatabase('klagg_bench_ingest');
  const handle = await openDatabase({ url: database.url });
  let service: KlaggService | undefined;
  try {
    service = new KlaggService({
      venue: 'binance',
      market: 'usdm',
      intervals: DEFAULT_INTERVALS,
      restBaseUrl: urls.restUrl,
      wsBaseUrl: urls.wsUrl,
      store: new KlineStore(handle.db),
      clock: systemClock,
      logger: createRootLogger({ level: 'silent' }),
      startAfterIds: new Map([...recording.firstIds].map(([symbol, id]) => [symbol, id - 1])),
      // The documented defaults, without boundary ticks: a replayed market's klines close by their own trades.
      system: { ...systemOptionsFrom(defaultConfig()), tickIntervalMs: 0, threads },
    });
    await service.start();
    const start = await generator.event('blastStart', round);
    // CPU from when this process sees the first byte's stamp (at once with threads; a little later without, its one
    // thread busy with the frames) to the last trade aggregated, over the same wall time.
    const cpuBefore = process.cpuUsage();
    const wallBefore = performance.now();
    const workers = service.system.workers;
    let applied = 0;
    let progressAt = performance.now();
    let doneAt: number;
    for (;;) {
      const stats = await Promise.all(workers.map((worker) => worker.stats()));
      const now = applied;
      applied = stats.reduce((sum, s) => sum + s.applied, 0);
      if (applied >= recording.trades) {
        doneAt = performance.timeOrigin + performance.now();
        break;
      }
      if (applied !== now) progressAt = performance.now();
      else if (performance.now() - progressAt > STALL_MS) {
        throw new Error(`ingest lost trades (threads ${threads ? 'on' : 'off'}): ${applied} of ${recording.trades} aggregated, none more for ${STALL_MS / 1000} s; workers ${JSON.stringify(stats)}; streams ${JSON.stringify(service.streams.stats)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const cpu = process.cpuUsage(cpuBefore);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const wallSeconds = (performance.now() - wallBefore) / 1000;
    const stats = await Promise.all(workers.map((worker) => worker.stats()));
    applied = stats.reduce((sum, s) => sum + s.applied, 0);
    const repaired = stats.reduce((sum, s) => sum + s.repairedTrades, 0);
    if (applied !== recording.trades) throw new Error(`ingest lost or doubled trades (threads ${threads ? 'on' : 'off'}): ${applied} applied for ${recording.trades} trades`);
    const end = await generator.event('blastEnd', round);
    const seconds = (doneAt - start.at) / 1000;
    return { threads, rate: rate(recording.trades, seconds), seconds, applied, repaired, cpuPerCore: cpuSeconds / wallSeconds / availableParallelism(), start, end };
  } finally {
    if (service !== undefined) {
      service.system.finishInput();
      await service.stop('bench', Number.POSITIVE_INFINITY);
    }
    await handle.close();
    await database.drop();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, symbols: { type: 'string' }, trades: { type: 'string' } } });
  const sizes = values.quick ? QUICK : FULL;
  const report = new BenchReport();
  await benchExchangeIngest({ symbols: Number(values.symbols ?? sizes.symbols), trades: Number(values.trades ?? sizes.trades) }, report);
  process.exit(process.exitCode ?? 0);
}
