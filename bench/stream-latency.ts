/**
 * Trade → stream latency: the fake exchange publishes a generated market, the service aggregates it and pushes kline
 * events to many WebSocket clients. The clients run in a process of their own (bench/stream-clients.ts), so their
 * work is not charged to the service's event loop; both processes stamp times as `performance.timeOrigin +
 * performance.now()`, comparable across processes on one machine.
 *
 * - Open updates (x: false): from the moment the exchange published the event's last trade (k.L) to the moment a
 *   client had the message, over every client and event. Pushes are throttled to one per stream per 250 ms (as
 *   Binance does) and the Gateway publishes every `gateway.pullIntervalMs`.
 * - Finals (x: true) of active symbols: from the publication of the trade that closes the period (the symbol's first
 *   trade with trade time ≥ the kline's close time + 1) to the client's receipt — when that trade was published
 *   before the period's end + grace (on the service clock). A symbol with no such trade by then is quiet: its kline
 *   is finalized by the clock, and its latency runs from the period's end + grace to the receipt. To have quiet
 *   symbols at every minute boundary, the bench makes a few active ones go quiet from 3 s before each boundary to
 *   5 s after it (the fake exchange's `quiet`); other symbols are counted wherever their own trades put them.
 *
 * 1m klines close once a minute on the real clock, so the run lasts until `boundaries` minute boundaries have passed
 * (the first at least 4 s into the run) plus 7 s for their finals: between 1 and 2 minutes for 2 boundaries, for
 * example. Each stage of the way is measured too: the bench listens to the service's published batches (before the
 * stream server does), and each event's `E` is the stream server's clock at sending.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { KlaggService, systemOptionsFrom } from '../src/app/klagg-service.ts';
import { startServing } from '../src/app/serving.ts';
import { syntheticSymbols } from '../src/domain/synthetic-symbols.ts';
import { systemClock } from '../src/infra/clock.ts';
import { defaultConfig } from '../src/infra/config/schema.ts';
import { KlineStore } from '../src/infra/db/kline-store.ts';
import { openDatabase } from '../src/infra/db/open-database.ts';
import { FakeExchange } from '../src/infra/fake-exchange/fake-exchange.ts';
import { createRootLogger } from '../src/infra/logger.ts';
import { createTestDatabase } from '../test/support/postgres.ts';
import type { ClientSamples, ClientsConfig } from './stream-clients.ts';
import type { BenchReport } from './report.ts';

export interface StreamLatencyOptions {
  readonly symbols: number;
  /** Whole-market trades per second. */
  readonly rate: number;
  readonly clients: number;
  /** Minute boundaries the run crosses (each one closes every symbol's 1m kline). */
  readonly boundaries: number;
  /** Symbols the bench holds quiet across each boundary. Default 5. */
  readonly quietSymbols?: number;
  /** The Gateway's pull interval; default the config's. */
  readonly pullIntervalMs?: number;
}

const MINUTE = 60_000;
const SEED = 6;
/** The symbols held quiet are these ranks of activity (0 = the most active): active enough to trade at every boundary otherwise. */
const FIRST_QUIET_RANK = 5;
const QUIET_BEFORE_MS = 3000;
const QUIET_AFTER_MS = 5000;
const SETTLE_MS = 7000;

const now = (): number => performance.timeOrigin + performance.now();

/** Latencies, ms: exact values, sorted once for the percentiles. */
class Samples {
  #values = new Float64Array(1024);
  #length = 0;
  #sorted = true;
  add(value: number, count = 1): void {
    if (this.#length + count > this.#values.length) {
      const grown = new Float64Array(Math.max(this.#values.length * 2, this.#length + count));
      grown.set(this.#values.subarray(0, this.#length));
      this.#values = grown;
    }
    this.#values.fill(value, this.#length, this.#length + count);
    this.#length += count;
    this.#sorted = false;
  }
  get count(): number {
    return this.#length;
  }
  percentile(p: number): number {
    if (this.#length === 0) return Number.NaN;
    const values = this.#values.subarray(0, this.#length);
    if (!this.#sorted) {
      values.sort();
      this.#sorted = true;
    }
    return values[Math.min(this.#length - 1, Math.floor((p / 100) * this.#length))]!;
  }
  /** `p50 / p99 ms`, whole ms. */
  brief(): string {
    return `${fmt(this.percentile(50))} / ${fmt(this.percentile(99))} ms`;
  }
}

const fmt = (ms: number): string => (Number.isFinite(ms) ? ms.toFixed(0) : '–');

/** The stages of one kind of event: start → batch published → sent (E) → received, and the whole. */
class Stages {
  readonly total = new Samples();
  readonly toBatch = new Samples();
  readonly toSend = new Samples();
  readonly toClient = new Samples();
  /** Events measured (each counted once, whatever the number of clients). */
  events = 0;
  describe(start: string): string {
    return `${start} → batch published ${this.toBatch.brief()}, batch → sent (E) ${this.toSend.brief()}, sent → client ${this.toClient.brief()}`;
  }
}

export async function benchStreamLatency(options: StreamLatencyOptions, report: BenchReport): Promise<void> {
  const logger = createRootLogger({ level: 'silent' });
  const config = defaultConfig();
  const graceMs = config.engine.graceMs;
  const pullIntervalMs = options.pullIntervalMs ?? config.gateway.pullIntervalMs;
  const exchange = await FakeExchange.start({ source: { kind: 'generated', symbols: options.symbols, rate: options.rate, seed: SEED, quietPeriods: false } });

  // The exchange's side: when each trade was published, and per symbol when its first trade of each period was.
  const published = new Map<string, number>();
  const periodStarts = new Map<string, [period: number, at: number][]>();
  exchange.market.onTrade((trade) => {
    const at = now();
    published.set(`${trade.symbol}:${trade.lastTradeId}`, at);
    const period = Math.floor(trade.tradeTime / MINUTE) * MINUTE;
    const starts = periodStarts.get(trade.symbol) ?? [];
    if (starts.length === 0) periodStarts.set(trade.symbol, starts);
    if (starts.length === 0 || starts.at(-1)![0] < period) starts.push([period, at]);
  });

  const database = await createTestDatabase('klagg_bench_latency');
  const handle = await openDatabase({ url: database.url });
  const store = new KlineStore(handle.db);
  const system = systemOptionsFrom(config);
  const service = new KlaggService({
    venue: 'binance',
    market: 'usdm',
    intervals: ['1m', '5m', '1h'],
    restBaseUrl: exchange.restUrl,
    wsBaseUrl: exchange.wsUrl,
    store,
    clock: systemClock,
    logger,
    // A shorter pull interval given here takes a pull timeout below it, as the config requires.
    system: options.pullIntervalMs === undefined ? system : { ...system, gateway: { ...system.gateway, pullIntervalMs, pullTimeoutMs: Math.min(system.gateway.pullTimeoutMs, Math.floor(pullIntervalMs / 2)) } },
  });
  const dir = mkdtempSync(join(tmpdir(), 'klagg-stream-latency-'));
  const timers: NodeJS.Timeout[] = [];
  try {
    await service.start();
    // The service's side: when each 1m kline state was first published (before the stream server sees the batch).
    const batchedUpdates = new Map<string, number>();
    const batchedFinals = new Map<string, number>();
    service.system.onBatch((batch) => {
      const at = now();
      for (const k of batch.updates) if (k.interval === '1m' && !batchedUpdates.has(`${k.symbol}:${k.lastTradeId}`)) batchedUpdates.set(`${k.symbol}:${k.lastTradeId}`, at);
      for (const k of batch.finals) if (k.interval === '1m' && !batchedFinals.has(`${k.symbol}:${k.openTime}`)) batchedFinals.set(`${k.symbol}:${k.openTime}`, at);
    });
    let batchStart = 0;
    service.system.onBatch(() => (batchStart = now()));
    // Every client connects from 127.0.0.1: the per-IP limits are off.
    const serving = await startServing({ service, store, venue: 'binance', market: 'usdm', host: '127.0.0.1', port: 0, clock: systemClock, logger, limits: { http: { maxConnectionsPerIp: 0 }, streams: { maxConnectionsPerIp: 0, maxSubscriptionsPerIp: 0 } } });
    // After the stream server's own listener: how long it took to serialize and write a batch for every client.
    const batchHandling = new Samples();
    service.system.onBatch((batch) => {
      if (batch.finals.length + batch.updates.length > 0) batchHandling.add(now() - batchStart);
    });
    const streams = service.symbols.map((s) => `${s.toLowerCase()}@kline_1m`).join('/');

    const out = join(dir, 'samples.json');
    const clientsConfig: ClientsConfig = { url: `${serving.url.replace(/^http/, 'ws')}/market/stream?streams=${streams}`, clients: options.clients, out };
    const child = spawn(process.execPath, [new URL('./stream-clients.ts', import.meta.url).pathname, JSON.stringify(clientsConfig)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const lines = createInterface({ input: child.stdout! });
    const nextLine = (): Promise<string> =>
      new Promise((resolve, reject) => {
        lines.once('line', resolve);
        void exited.then((code) => reject(new Error(`the stream clients exited (${code})`)));
      });
    if ((await nextLine()) !== 'ready') throw new Error('the stream clients did not start');

    // The run: from now until `boundaries` minute boundaries have passed, plus the time their finals take.
    const dateOffset = Date.now() - now();
    const start = now();
    const cpu = process.cpuUsage();
    const statsBefore = serving.streams.stats;
    const firstBoundary = Math.ceil((Date.now() + 4000) / MINUTE) * MINUTE;
    const boundaries = Array.from({ length: options.boundaries }, (_, i) => firstBoundary + i * MINUTE);
    const quiet = syntheticSymbols(SEED, options.symbols)
      .slice(FIRST_QUIET_RANK, FIRST_QUIET_RANK + (options.quietSymbols ?? 5))
      .map((s) => s.symbol);
    const watermarkExtra: number[] = [];
    for (const boundary of boundaries) {
      timers.push(
        setTimeout(
          () => {
            for (const symbol of quiet) exchange.market.quiet(symbol, boundary + QUIET_AFTER_MS - Date.now());
          },
          boundary - QUIET_BEFORE_MS - Date.now(),
        ),
        setTimeout(() => watermarkExtra.push(service.system.watermarkExtraMs()), boundary + graceMs - Date.now()),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, boundaries.at(-1)! + SETTLE_MS - Date.now()));
    child.stdin!.write('stop\n');
    if ((await nextLine()) !== 'done') throw new Error('the stream clients did not finish');
    const used = process.cpuUsage(cpu);
    const seconds = (now() - start) / 1000;
    const stats = serving.streams.stats;
    await exited;
    await serving.close();
    const samples = JSON.parse(readFileSync(out, 'utf8')) as ClientSamples;

    // Each distinct message: its receipts by all clients, as ms after its first receipt (whole-ms buckets: the middle).
    const open = new Stages();
    const active = new Stages();
    const quietStages = new Stages();
    const finalsSeen = new Set<string>();
    const sorted = samples.events.sort((a, b) => a[6] - b[6]);
    let revisions = 0;
    let heldQuiet = 0;
    let unmatched = 0;
    let empty = 0;
    for (const [symbol, openTime, closeTime, lastTradeId, isFinal, eventTime, first, histogram] of sorted) {
      const sent = eventTime - dateOffset;
      let origin: number | undefined;
      let batched: number | undefined;
      let stages: Stages;
      if (!isFinal) {
        if (lastTradeId < 0) {
          empty++; // a period begun by the clock, before its first trade: no trade to measure from
          continue;
        }
        origin = published.get(`${symbol}:${lastTradeId}`);
        batched = batchedUpdates.get(`${symbol}:${lastTradeId}`);
        stages = open;
      } else {
        const key = `${symbol}:${openTime}`;
        if (finalsSeen.has(key)) {
          revisions++;
          continue;
        }
        finalsSeen.add(key);
        if (!boundaries.includes(closeTime + 1)) continue; // a final of a period that did not end at a measured boundary
        batched = batchedFinals.get(key);
        const due = closeTime + 1 + graceMs - dateOffset;
        const closing = periodStarts.get(symbol)?.find(([period]) => period >= closeTime + 1)?.[1];
        if (closing !== undefined && closing < due) {
          origin = closing;
          stages = active;
        } else {
          origin = due;
          stages = quietStages;
          if (quiet.includes(symbol)) heldQuiet++;
        }
      }
      if (origin === undefined || batched === undefined) {
        unmatched++;
        continue;
      }
      stages.events++;
      stages.toBatch.add(batched - origin);
      stages.toSend.add(sent - batched);
      for (let i = 0; i < histogram.length; i += 2) {
        const at = first + histogram[i]! + 0.5;
        const count = histogram[i + 1]!;
        stages.total.add(at - origin, count);
        stages.toClient.add(at - sent, count);
      }
    }

    const line = (label: string, s: Samples): string => `${label}: p50 ${fmt(s.percentile(50))} ms, p99 ${fmt(s.percentile(99))} ms`;
    report.line(line(`open update latency ${options.clients} clients`, open.total));
    report.line(line('closed kline latency', active.total));
    report.line(line('closed kline latency, quiet symbols', quietStages.total));
    const serverCpu = (100 * (used.user + used.system)) / 1e6 / seconds;
    const clientCpu = (100 * samples.cpuMicros) / 1000 / samples.recordedMs;
    report.line(
      `  (${options.rate} trades/s over ${options.symbols} symbols, ${options.clients} clients in their own process on every 1m stream, ${seconds.toFixed(0)} s across ` +
        `${options.boundaries} minute boundaries, Gateway pull every ${pullIntervalMs} ms: ${open.events} open events (and ${empty} of periods without trades yet), ${active.events} active and ${quietStages.events} quiet finals ` +
        `(${heldQuiet} held quiet by the bench), ${revisions} revisions; ${Math.round(samples.messages / seconds)} messages/s received, ` +
        `${stats.eventsSerialized - statsBefore.eventsSerialized} events serialized, ${stats.slowConsumersDropped} slow consumers dropped; service process CPU ` +
        `${serverCpu.toFixed(0)}% of a core incl. the fake exchange, clients' process ${clientCpu.toFixed(0)}%; machine load average ${loadavg()[0]!.toFixed(1)} at the end)`,
    );
    report.line(`  open updates by stage, p50 / p99: ${open.describe('last trade published')}`);
    report.line(`  the stream server's handling of a published batch (serialize, write to every client), p50 / p99: ${batchHandling.brief()} over ${batchHandling.count} batches`);
    report.line(`  active finals by stage, p50 / p99: ${active.describe('closing trade published')}`);
    report.line(`  quiet finals by stage, p50 / p99: ${quietStages.describe('period end + grace')} (quiet finalization later than the grace by ${watermarkExtra.join(', ') || '–'} ms)`);
    if (samples.minPerClient !== samples.maxPerClient || unmatched > 0 || Math.abs(samples.dateOffsetMs - dateOffset) > 5) {
      report.line(
        `  (check: messages per client ${samples.minPerClient}–${samples.maxPerClient}, ${unmatched} events not matched to a trade or batch, ` +
          `time bases ${(samples.dateOffsetMs - dateOffset).toFixed(1)} ms apart)`,
      );
    }
    report.record('streamLatency', {
      ...options,
      pullIntervalMs,
      seconds,
      open: { p50: open.total.percentile(50), p99: open.total.percentile(99), events: open.events, receipts: open.total.count },
      closed: { p50: active.total.percentile(50), p99: active.total.percentile(99), events: active.events },
      closedQuiet: { p50: quietStages.total.percentile(50), p99: quietStages.total.percentile(99), events: quietStages.events },
      messagesPerSecond: samples.messages / seconds,
      serviceCpuPercent: serverCpu,
      clientsCpuPercent: clientCpu,
    });
  } finally {
    for (const timer of timers) clearTimeout(timer);
    await service.stop('bench');
    await exchange.close();
    await handle.close();
    await database.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// `node bench/stream-latency.ts [--clients N] [--boundaries N] [--pull-interval MS]`: this section alone.
if (import.meta.main) {
  const { parseArgs } = await import('node:util');
  const { BenchReport } = await import('./report.ts');
  const { values } = parseArgs({ options: { clients: { type: 'string', default: '500' }, boundaries: { type: 'string', default: '3' }, 'pull-interval': { type: 'string' } } });
  const pull = values['pull-interval'];
  await benchStreamLatency(
    { symbols: 50, rate: 500, clients: Number(values.clients), boundaries: Number(values.boundaries), ...(pull === undefined ? {} : { pullIntervalMs: Number(pull) }) },
    new BenchReport(),
  );
  process.exit(0);
}
