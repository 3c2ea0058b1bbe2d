/**
 * The chaos run: the fake exchange serves a recording (or a generated market) and the full service runs against it
 * over real loopback sockets, while every kind of fault is injected throughout — dropped and stalled connections,
 * skipped and duplicated id ranges, 429/418/5xx and slow REST answers. At the end it waits until everything is stored
 * and reports what happened. Nothing the exchange can still provide may be missing.
 *
 * Time: as in `klagg run`, a shared clock finalizes quiet periods (grace, watermark) — here the exchange's own time,
 * the recording's time played at its speed (it stops at the recording's last trade). Faults act on time as well as
 * on ids: the stream lagging past the grace, a symbol's frames held across period ends, and the recording's last
 * trades withheld from the stream (a trailing gap that only the exchange's kline stream reveals). Late trades amend
 * their klines as revisions; the last revision of every kline must equal the fault-free run's. The run never
 * fetches anything on its own behalf: what the streams lost at the end, the trailing-gap watch must find.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IntervalName } from '../domain/interval.ts';
import { systemClock } from '../infra/clock.ts';
import { SeededRandom } from '../domain/seeded-random.ts';
import { KlaggService } from './klagg-service.ts';
import { KlineStore } from '../infra/db/kline-store.ts';
import { openDatabase } from '../infra/db/open-database.ts';
import { FakeExchange, type FaultSpec, type FaultType, type MarketSource } from '../infra/fake-exchange/fake-exchange.ts';
import type { Logger } from '../infra/logger.ts';
import { AggTradeParser } from '../domain/agg-trade-parser.ts';
import { planGeneratedMarket } from '../infra/fake-exchange/generated-source.ts';
import { readLines } from '../infra/recording/line-reader.ts';
import { KlaggError } from '../domain/errors.ts';

export interface ChaosOptions {
  readonly source: MarketSource;
  readonly intervals: readonly IntervalName[];
  readonly databaseUrl?: string;
  /** PGlite directory when no URL is given; a temporary one (removed afterwards) when absent. */
  readonly dataDir?: string;
  /** Inject faults (false: the fault-free reference run). */
  readonly faults: boolean;
  /** One fault every this many ms (round robin over every kind). */
  readonly faultEveryMs?: number;
  readonly seed?: number;
  readonly workers?: number;
  /** Workers in worker threads, each owning its symbols' exchange connections (per-worker I/O). */
  readonly threads?: boolean;
  readonly logger: Logger;
}

export interface ChaosSummary {
  readonly tradesServed: number;
  readonly symbols: number;
  readonly aggregated: number;
  readonly duplicatesDropped: number;
  readonly gapsRepaired: number;
  readonly tradesRepaired: number;
  readonly gapsUnrepaired: number;
  readonly klinesRebuilt: number;
  readonly reconnects: number;
  readonly klinesWritten: number;
  /** Trades dropped as late: must be 0. */
  readonly lateDropped: number;
  readonly lateAmended: number;
  readonly lateBeyondMemory: number;
  readonly revisions: number;
  readonly trailingGapsFound: number;
  readonly faultsInjected: Readonly<Record<FaultType, number>>;
  readonly rest: { readonly requests: number; readonly retries: number; readonly http429: number; readonly http418: number };
  readonly exitCode: number;
  readonly seconds: number;
}

const ROTATION = ['dropConnections', 'skipIds', 'lag', 'rest429', 'duplicate', 'delay', 'stall', 'rest5xx', 'skipIds', 'slowRest', 'rest418'] as const satisfies readonly FaultType[];
/** The grace in real time; scaled by the replay speed into exchange time. */
const REAL_GRACE_MS = 1_000;
/** The recording's last trades of a symbol, kept off the stream (a trailing gap: nothing later reveals it). */
const WITHHELD_TAIL = 3;

export async function runChaos(options: ChaosOptions): Promise<ChaosSummary> {
  const started = performance.now();
  const log = options.logger;
  const random = new SeededRandom(options.seed ?? 1);
  // Repairs under constant faults cost far more REST weight than normal operation; a 10× limit (which the service
  // reads from exchangeInfo like any other) keeps the run short. The budget under the real 2,400 is tested on its own.
  const exchange = await FakeExchange.start({ source: options.source, autoPublish: false, banMs: 1_500, weightLimit: 24_000, logger: log });
  const tempDir = options.databaseUrl === undefined && options.dataDir === undefined ? await mkdtemp(join(tmpdir(), 'klagg-chaos-')) : undefined;
  const database = await openDatabase({ url: options.databaseUrl, dataDir: options.dataDir ?? tempDir, logger: log });
  const symbols = exchange.market.symbols().map((s) => s.symbol);
  const { first, last, total } = await recordingSpan(options.source);
  // The exchange's time, as `klagg run` keeps it; it stops at the recording's end (nothing happens after it).
  const clock = { now: () => Math.min(exchange.market.now(), last.time + 1) };
  const service = new KlaggService({
    venue: 'binance',
    market: 'usdm',
    intervals: options.intervals,
    restBaseUrl: exchange.restUrl,
    wsBaseUrl: exchange.wsUrl,
    store: KlineStore.forDatabase(database),
    clock,
    restClock: systemClock,
    logger: log,
    symbols,
    system: {
      // The grace is a span of real time (the stream's lag): at a replay speed of ×s it is s times as much exchange time.
      graceMs: REAL_GRACE_MS * speedOf(options.source),
      workers: options.workers ?? 2,
      threads: options.threads ?? false,
      partitions: 256,
      gateway: { pullIntervalMs: 200, pullTimeoutMs: 100, timeoutAlertThreshold: 5 },
      dispatcher: { queueCapacity: 2048, maxRetries: 5, retryDelayMs: 100 },
      dbWriter: { flushIntervalMs: 250, maxBatchRows: 5000, backoffInitialMs: 50, backoffMaxMs: 1000, maxBufferedRows: 10_000_000 },
      watchdog: { checkIntervalMs: 500 },
      tickIntervalMs: 50,
    },
    trailingGaps: { confirmMs: 1_000, checkIntervalMs: 100, quietAfterMs: 1_000 },
    // The run covers the exchange's whole history: each symbol's starts just before its first trade, so a first trade
    // lost to a fault is a gap to repair, not a later beginning.
    startAfterIds: new Map([...first].map(([symbol, id]) => [symbol, id - 1])),
    streams: { silenceMs: 750, initialBackoffMs: 50, maxBackoffMs: 500, maxStreamsPerConnection: Math.max(1, Math.ceil(symbols.length / 3)) },
    rest: { backoffBaseMs: 20, maxRetries: 20 },
  });
  const injected: Record<FaultType, number> = { dropConnections: 0, stall: 0, skipIds: 0, duplicate: 0, lag: 0, delay: 0, withholdTail: 0, rest429: 0, rest418: 0, rest5xx: 0, slowRest: 0 };
  try {
    await service.start();
    if (options.faults) {
      // The recording's very last trades (of its last symbol) never reach the stream: a trailing gap that no later
      // trade reveals. Armed as the trade before them is published.
      let seen = 0;
      exchange.market.onTrade((trade) => {
        if (trade.symbol !== last.symbol || ++seen !== last.count - WITHHELD_TAIL) return;
        exchange.faults.inject({ type: 'skipIds', symbol: last.symbol, count: WITHHELD_TAIL });
        injected.withholdTail++;
      });
    }
    exchange.market.start();
    let turn = 0;
    const faultTimer = options.faults
      ? setInterval(() => {
          // Faults start once every symbol has had time to deliver its first trades (a start is not a gap).
          if (exchange.market.published < Math.min(200, symbols.length * 5)) return;
          if (exchange.market.published >= total - 200) return; // the end belongs to the withheld tail
          const type = ROTATION[turn++ % ROTATION.length]!;
          const symbol = symbols[random.int(symbols.length)]!;
          const spec: FaultSpec =
            type === 'dropConnections' ? { type }
            : type === 'stall' ? { type, ms: 1_200 }
            : type === 'lag' ? { type, ms: 150 + random.int(300), durationMs: 600 }
            : type === 'delay' ? { type, symbol, ms: 200 + random.int(400) }
            : type === 'skipIds' ? { type, symbol, count: 1 + random.int(40) }
            : type === 'duplicate' ? { type, symbol, count: 1 + random.int(40) }
            : type === 'rest5xx' ? { type, count: 2, status: 503 }
            : type === 'slowRest' ? { type, ms: 300, count: 3 }
            : { type, count: 1 };
          exchange.faults.inject(spec);
          injected[type]++;
        }, options.faultEveryMs ?? 400)
      : undefined;
    while (!exchange.market.isDone) await sleep(50);
    if (faultTimer) clearInterval(faultTimer);
    log.info({ published: exchange.market.published }, 'the exchange has published everything');

    // Everything is published. What the streams lost at the very end no later trade reveals: the trailing-gap watch
    // (the exchange's kline stream) must notice and fetch it. The harness only waits, and fails if it never happens.
    // A large run may need a while to fetch what faults kept off the stream; the harness fails only when nothing
    // moves for longer than a REST weight window.
    let progress = '';
    let stillFor = 0;
    for (;;) {
      const behind = await lagging(service, exchange, symbols);
      if (behind.length === 0 && (await service.system.workers[0]!.stats()).pendingRepairs === 0) break;
      const positions = (await Promise.all(behind.map(([s]) => service.system.workers[service.system.workerOf(s)]!.positionOf(s)))).join();
      stillFor = positions === progress ? stillFor + 100 : 0;
      progress = positions;
      if (stillFor > 90_000) {
        const detail = behind.map(([s, lastId], i) => `${s} at ${positions.split(',')[i]} of ${lastId}`);
        log.error({ workers: await Promise.all(service.system.workers.map((w) => w.stats())), rest: service.rest.stats, trailing: service.trailingGaps.watch.stats, quiet: service.trailingGaps.quiet.stats }, 'chaos: stuck');
        throw new KlaggError('KLAGG_ERR_CHAOS_STUCK', { what: `symbols behind the exchange and not moving for 90 s after the end (a trailing gap not found): ${detail.join(', ')}` });
      }
      await sleep(100);
    }
    await service.system.repairsSettled();
    // The exchange's clock stands at the recording's end: bring every worker there (the ticks may have stopped short
    // by the watermark), so the flat periods up to the end are the same in every run; then finish the input.
    service.system.advanceTo(clock.now());
    await service.system.flush();
    service.system.finishInput();
    const stats = await Promise.all(service.system.workers.map((worker) => worker.stats()));
    const exitCode = await service.stop('chaos run complete', Number.POSITIVE_INFINITY);
    const sum = (pick: (s: (typeof stats)[number]) => number): number => stats.reduce((total, s) => total + pick(s), 0);
    const fake = exchange.stats();
    return {
      tradesServed: fake.market.published,
      symbols: symbols.length,
      aggregated: sum((s) => s.applied),
      duplicatesDropped: sum((s) => s.duplicates),
      gapsRepaired: sum((s) => s.repairedGaps),
      tradesRepaired: sum((s) => s.repairedTrades),
      gapsUnrepaired: sum((s) => s.unrepairedGaps),
      klinesRebuilt: service.rebuilder.rebuilt,
      reconnects: service.exchangeStreams.stats.reconnects,
      klinesWritten: service.system.dbWriter.stats.writtenRows,
      lateDropped: sum((s) => s.late),
      lateAmended: sum((s) => s.amended),
      lateBeyondMemory: sum((s) => s.lateBeyondMemory),
      revisions: Object.values(service.system.revisionsByCause).reduce((a, b) => a + b, 0),
      trailingGapsFound: service.trailingGaps.watch.stats.found,
      faultsInjected: injected,
      rest: { requests: service.rest.stats.requests, retries: service.rest.stats.retries, http429: service.rest.stats.http429, http418: service.rest.stats.http418 },
      exitCode,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await service.streams.stop();
    await Promise.all(service.system.workers.map((worker) => worker.streams?.stop()));
    await exchange.close();
    await database.close();
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
  }
}

function speedOf(source: MarketSource): number {
  return source.kind === 'recording' && typeof source.speed === 'number' ? source.speed : 1;
}

interface RecordingSpan {
  /** The first aggregate id of every symbol. */
  readonly first: Map<string, number>;
  /** The last trade the market will publish: its symbol, time, and how many trades that symbol has in all. */
  readonly last: { readonly symbol: string; readonly time: number; readonly count: number };
  readonly total: number;
}

/** What the market will publish, read ahead from its source. */
async function recordingSpan(source: MarketSource): Promise<RecordingSpan> {
  const first = new Map<string, number>();
  const counts = new Map<string, number>();
  let last = { symbol: '', time: Number.NEGATIVE_INFINITY };
  let total = 0;
  if (source.kind === 'recording') {
    const parser = new AggTradeParser();
    for await (const frame of readLines(source.path)) {
      if (!parser.parse(frame)) continue;
      const t = parser.trade;
      const symbol = frame.subarray(t.symbolStart, t.symbolEnd).toString('latin1');
      const known = first.get(symbol);
      if (known === undefined || t.aggId < known) first.set(symbol, t.aggId);
      if (t.tradeTime >= last.time) last = { symbol, time: t.tradeTime };
      counts.set(symbol, (counts.get(symbol) ?? 0) + 1);
      total++;
    }
    return { first, last: { ...last, count: counts.get(last.symbol) ?? 0 }, total };
  }
  if (source.trades === undefined) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: 'a generated chaos market needs a trade count' });
  const feed = planGeneratedMarket(source, 0).feed;
  for (let i = 0; i < source.trades; i++) {
    const trade = feed.take();
    if (trade === undefined) break;
    if (!first.has(trade.symbol)) first.set(trade.symbol, trade.aggId);
    if (trade.tradeTime >= last.time) last = { symbol: trade.symbol, time: trade.tradeTime };
    counts.set(trade.symbol, (counts.get(trade.symbol) ?? 0) + 1);
    total++;
  }
  return { first, last: { ...last, count: counts.get(last.symbol) ?? 0 }, total };
}

async function lagging(service: KlaggService, exchange: FakeExchange, symbols: readonly string[]): Promise<[string, number][]> {
  const behind: [string, number][] = [];
  for (const symbol of symbols) {
    const log = exchange.market.tradeLog(symbol);
    if (log.length === 0) continue;
    const lastId = log.aggIdAt(log.length - 1);
    const position = await service.system.workers[service.system.workerOf(symbol)]!.positionOf(symbol);
    if (position < lastId) behind.push([symbol, lastId]);
  }
  return behind;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
