/**
 * The chaos run: the fake exchange serves a recording (or a generated market) and the full service runs against it
 * over real loopback sockets, while every kind of fault is injected throughout — dropped and stalled connections,
 * skipped and duplicated id ranges, 429/418/5xx and slow REST answers. At the end it waits until everything is stored
 * and reports what happened. Nothing the exchange can still provide may be missing.
 *
 * Time: klines are finalized by each symbol's own later trades and at the end of the run, never by a shared clock, so
 * the stored klines do not depend on how the connections happened to interleave.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IntervalName } from '../domain/interval.ts';
import { SeededRandom } from '../domain/seeded-random.ts';
import { KlaggService } from '../actors/klagg-service.ts';
import { systemClock } from '../infra/clock.ts';
import { KlineStore } from '../infra/db/kline-store.ts';
import { openDatabase } from '../infra/db/open-database.ts';
import { FakeExchange, type FaultSpec, type FaultType, type MarketSource } from '../infra/fake-exchange/fake-exchange.ts';
import type { Logger } from '../infra/logger.ts';
import { AggTradeParser } from '../domain/agg-trade-parser.ts';
import { planGeneratedMarket } from '../infra/fake-exchange/generated-source.ts';
import { readLines } from '../infra/recording/line-reader.ts';

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
  readonly faultsInjected: Readonly<Record<FaultType, number>>;
  readonly rest: { readonly requests: number; readonly retries: number; readonly http429: number; readonly http418: number };
  readonly exitCode: number;
  readonly seconds: number;
}

const ROTATION = ['dropConnections', 'skipIds', 'rest429', 'duplicate', 'stall', 'rest5xx', 'skipIds', 'slowRest', 'rest418'] as const satisfies readonly FaultType[];

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
  const service = new KlaggService({
    venue: 'binance',
    market: 'usdm',
    intervals: options.intervals,
    restBaseUrl: exchange.restUrl,
    wsBaseUrl: exchange.wsUrl,
    store: new KlineStore(database.db),
    clock: systemClock,
    logger: log,
    symbols,
    system: {
      graceMs: 1000,
      workers: options.workers ?? 2,
      partitions: 256,
      gateway: { pullIntervalMs: 200, pullTimeoutMs: 100, timeoutAlertThreshold: 5 },
      dispatcher: { queueCapacity: 2048, maxRetries: 5, retryDelayMs: 100 },
      dbWriter: { flushIntervalMs: 250, maxBatchRows: 5000, backoffInitialMs: 50, backoffMaxMs: 1000, maxBufferedRows: 10_000_000 },
      watchdog: { checkIntervalMs: 500 },
      tickIntervalMs: 0,
    },
    // The run covers the exchange's whole history: each symbol's starts just before its first trade, so a first trade
    // lost to a fault is a gap to repair, not a later beginning.
    startAfterIds: new Map([...(await firstTradeIds(options.source))].map(([symbol, id]) => [symbol, id - 1])),
    streams: { silenceMs: 750, initialBackoffMs: 50, maxBackoffMs: 500, maxStreamsPerConnection: Math.max(1, Math.ceil(symbols.length / 3)) },
    rest: { backoffBaseMs: 20, maxRetries: 20 },
  });
  const injected: Record<FaultType, number> = { dropConnections: 0, stall: 0, skipIds: 0, duplicate: 0, lag: 0, delay: 0, withholdTail: 0, rest429: 0, rest418: 0, rest5xx: 0, slowRest: 0 };
  try {
    await service.start();
    exchange.market.start();
    let turn = 0;
    const faultTimer = options.faults
      ? setInterval(() => {
          // Faults start once every symbol has had time to deliver its first trades (a start is not a gap).
          if (exchange.market.published < Math.min(200, symbols.length * 5)) return;
          const type = ROTATION[turn++ % ROTATION.length]!;
          const symbol = symbols[random.int(symbols.length)]!;
          const spec: FaultSpec =
            type === 'dropConnections' ? { type }
            : type === 'stall' ? { type, ms: 1_200 }
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

    // Everything is published: what the streams lost at the very end no later trade will reveal, so catch up over
    // REST until every symbol stands at the exchange's last id.
    for (let round = 0; ; round++) {
      await sleep(round === 0 ? 300 : 100);
      const behind = await lagging(service, exchange, symbols);
      if (behind.length === 0) break;
      if (round > 200) throw new Error(`symbols still behind the exchange after catching up: ${behind.join(', ')}`);
      log.info({ round, behind: behind.length }, 'catching up over REST with what the streams did not deliver');
      for (const [symbol, lastId] of behind) service.system.catchUp(symbol, lastId);
      await service.system.repairsSettled();
    }
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
      reconnects: service.streams.stats.reconnects,
      klinesWritten: service.system.dbWriter.stats.writtenRows,
      faultsInjected: injected,
      rest: { requests: service.rest.stats.requests, retries: service.rest.stats.retries, http429: service.rest.stats.http429, http418: service.rest.stats.http418 },
      exitCode,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await service.streams.stop();
    await exchange.close();
    await database.close();
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
  }
}

/** The first aggregate id of every symbol the market will publish (read ahead from its source). */
async function firstTradeIds(source: MarketSource): Promise<Map<string, number>> {
  const first = new Map<string, number>();
  if (source.kind === 'recording') {
    const parser = new AggTradeParser();
    for await (const frame of readLines(source.path)) {
      if (!parser.parse(frame)) continue;
      const t = parser.trade;
      const symbol = frame.subarray(t.symbolStart, t.symbolEnd).toString('latin1');
      const known = first.get(symbol);
      if (known === undefined || t.aggId < known) first.set(symbol, t.aggId);
    }
    return first;
  }
  if (source.trades === undefined) throw new Error('a generated chaos market needs a trade count');
  const feed = planGeneratedMarket(source, 0).feed;
  for (let i = 0; i < source.trades; i++) {
    const trade = feed.take();
    if (trade === undefined) break;
    if (!first.has(trade.symbol)) first.set(trade.symbol, trade.aggId);
  }
  return first;
}

async function lagging(service: KlaggService, exchange: FakeExchange, symbols: readonly string[]): Promise<[string, number][]> {
  const behind: [string, number][] = [];
  for (const symbol of symbols) {
    const lastId = exchange.market.trades(symbol).at(-1)?.aggId;
    if (lastId === undefined) continue;
    const position = await service.system.workers[service.system.workerOf(symbol)]!.positionOf(symbol);
    if (position < lastId) behind.push([symbol, lastId]);
  }
  return behind;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
