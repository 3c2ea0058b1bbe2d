/**
 * The soak: `klagg run` (a child process) against the fake exchange at ten times a busy Binance minute, for N minutes,
 * under every fault, a PostgreSQL outage and a crash; then everything it stored and pushed is checked.
 *
 * This process (the harness) holds:
 * - the fake exchange: a generated market on the wall clock (default 300 symbols, 20,000 trades/s, bursty, quiet
 *   symbols, two listings and two delistings during the run), its REST weight limit ten times Binance's (24,000: the
 *   market is ten times busier and the repairs under constant faults need the room — as in the chaos run; klagg reads
 *   the limit from exchangeInfo like any other);
 * - a recording of every trade the exchange emits (the oracle's input);
 * - a TCP proxy between the service and PostgreSQL (cut for the outage);
 * - 200 stream clients on klagg's kline streams; a scraper of klagg's /metrics; the recovery tracker.
 *
 * The timeline (fractions of the run): warm-up until every symbol is active; the SIGKILL at 15 % (at least 5 s after
 * the warm-up), the service started again 3 s later on the same database — early, so that the life that runs to the
 * end has time to warm up before RSS drift is measured. Its start may wait up to a minute: until it has read
 * exchangeInfo, klagg budgets REST weight for Binance's 2,400/min, and the used weight the exchange reports (its
 * previous life's, same IP, against the fake's 24,000) is over that until the minute's window ends. The PostgreSQL
 * outage at 65 %; listings appear at 15 % and 55 %; delistings at 75 % and 90 %, after the restarted service runs
 * (klagg never activates a symbol that is not TRADING at its start: trades a symbol had between a crash and its
 * delisting would never be fetched, its last klines never finalized). Exchange faults rotate from the warm-up to 20 s
 * before the end (paused while the service is down), and a time fault spans every minute boundary in that window.
 * Then the exchange stops; the harness waits until the store holds every trade, everything closed is final and the
 * restarted life's history backfill is done (/health), compares the clients' last known klines with the store at a
 * quiet moment, stops the service (SIGTERM), replays the recording into the oracle and compares.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pg from 'pg';
import { DEFAULT_INTERVALS } from '../../../src/domain/interval.ts';
import { FakeExchange } from '../../../src/infra/fake-exchange/fake-exchange.ts';
import { FAULT_TYPES } from '../../../src/infra/fake-exchange/faults.ts';
import { createTestDatabase } from '../postgres.ts';
import { TcpProxy } from '../tcp-proxy.ts';
import { FaultRotation } from './fault-rotation.ts';
import { MetricsScraper } from './metrics-scraper.ts';
import { compareWithOracle, lostTrades, staleClients } from './oracle-check.ts';
import { RecoveryTracker } from './recovery-tracker.ts';
import { ServiceProcess } from './service-process.ts';
import { loopDelaySummary, loopDetail, loopP99, minuteLine, rssDrift, type SoakResult } from './soak-report.ts';
import { StreamClients } from './stream-clients.ts';
import { TradeRecorder } from './trade-recorder.ts';

export interface SoakOptions {
  readonly minutes: number;
  readonly symbols?: number;
  /** Whole-market mean trades per second. */
  readonly rate?: number;
  readonly clients?: number;
  /** How long PostgreSQL is cut (the soak 30 s; the 2-minute test shortens it). */
  readonly outageMs?: number;
  readonly restartDelayMs?: number;
  /**
   * One exchange fault every this often (default 6 s: the 13 kinds each come round every 78 s, 23 times in 30 minutes).
   * At 3 s the connection drops alone (two per round, each a gap repair of every symbol that traded meanwhile: ~700
   * aggTrades fetches a minute at 20,000 trades/s) asked for about all of the REST weight the exchange grants, and the
   * repairs queued for minutes (the 30-minute soak of 2026-12-07); faults a thousand times denser than a real
   * exchange's measure a weight limit, not klagg. The 2-minute test still rotates every 2 s at 5,000 trades/s.
   */
  readonly faultEveryMs?: number;
  readonly seed?: number;
  /** Keeps the files and databases of a green run too (a failed run always keeps them), named in the notes. */
  readonly keep?: boolean;
  /** Progress lines (the per-minute lines among them). */
  readonly log?: (line: string) => void;
}

const GRACE_MS = 1_000; // klagg's default engine.graceMs, which `klagg run` uses here
const STREAM_INTERVALS = ['1m', '3m', '5m', '15m', '1h', '1d'] as const;
const SCRAPE_EVERY_MS = 2_000;
const WARMUP_AFTER_START_MS = 15_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const log = options.log ?? (() => {});
  const runMs = options.minutes * 60_000;
  const notes: string[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'klagg-soak-'));
  const database = await createTestDatabase('klagg_soak');
  const oracleDb = await createTestDatabase('klagg_soak_oracle');
  const proxy = await TcpProxy.forUrl(database.url);
  const recorder = new TradeRecorder(join(dir, 'trades.jsonl'));
  const startTime = Date.now();
  const symbolCount = options.symbols ?? 300;
  const delistings = [
    { symbol: 5 % symbolCount, atMs: Math.round(runMs * 0.75), closeAfterMs: 30_000 },
    { symbol: 40 % symbolCount, atMs: Math.round(runMs * 0.9), closeAfterMs: 30_000 },
  ];
  const exchange = await FakeExchange.start({
    source: {
      kind: 'generated',
      symbols: symbolCount,
      rate: options.rate ?? 20_000,
      seed: options.seed ?? 7,
      startTime,
      burstiness: 0.9,
      quietPeriods: true,
      listings: [
        { atMs: Math.round(runMs * 0.15), pendingMs: 20_000 },
        { atMs: Math.round(runMs * 0.55), pendingMs: 20_000 },
      ],
      delistings,
    },
    autoPublish: false,
    weightLimit: 24_000,
    // A 418 (the rest418 fault, or a real ban for ignoring a 429) bans for this long. Binance's bans last 2 minutes
    // and more; with one 418 fault per rotation that would keep REST shut for most of the run (as in the chaos run, a
    // short ban: the behaviour — wait it out, send nothing — is the same).
    banMs: 5_000,
  });
  const initial = exchange.market.symbols().map((s) => s.symbol);
  const delistedAt = new Map(delistings.map((d) => [initial[d.symbol]!, startTime + d.atMs]));
  // Faults, "all symbols" and the clients use the symbols that trade from start to end.
  const stable = initial.filter((s) => !delistedAt.has(s));
  exchange.market.onTrade((trade, eventTime) => recorder.record(trade, eventTime));
  const service = new ServiceProcess({ restUrl: exchange.restUrl, wsUrl: exchange.wsUrl, databaseUrl: proxy.url(database.url), logPath: join(dir, 'klagg.log') });
  const scraper = new MetricsScraper(() => service.url, () => service.lives);
  let tracker: RecoveryTracker | undefined;
  let clients: StreamClients | undefined;
  let failed = true;
  const timers: NodeJS.Timeout[] = [];
  const harnessLoop = monitorEventLoopDelay({ resolution: 20 });
  try {
    exchange.market.start();
    await service.start();
    log(`klagg runs (${service.url}); ${initial.length} symbols, ${options.rate ?? 20_000} trades/s; files in ${dir}`);
    scraper.start(SCRAPE_EVERY_MS);
    await allActive(service.url, initial.length, 120_000).catch((error: Error) => notes.push(error.message));
    log(`warm: every symbol active after ${((Date.now() - startTime) / 1000).toFixed(0)} s`);
    tracker = await RecoveryTracker.start(database.url, { lastTrade: (symbol) => lastTrade(exchange, symbol) }, 180_000);
    const health = async (): Promise<boolean> => (await fetch(`${service.url}/health`).then((r) => r.json() as Promise<{ status: string }>).catch(() => ({ status: 'down' }))).status === 'ok';
    const count = options.clients ?? 200;
    clients = new StreamClients(`ws://127.0.0.1:${service.port}`, count, (i) =>
      [0, 1, 2].map((j) => `${stable[(i * 7 + j * 31) % stable.length]!.toLowerCase()}@kline_${STREAM_INTERVALS[(i + j * 2) % STREAM_INTERVALS.length]}`),
    );
    clients.open();

    // Per-minute lines.
    let minute = 0;
    let tradesAtMinute = 0;
    let minuteStart = Date.now();
    // The harness's own load: the exchange, the clients and the checks share this event loop; a saturated harness
    // answers REST late and sends late, which the service sees as exchange trouble.
    harnessLoop.enable();
    let cpuAtMinute = process.cpuUsage();
    timers.push(
      setInterval(() => {
        const now = Date.now();
        const cpu = process.cpuUsage(cpuAtMinute);
        const harness = `harness: cpu ${(((cpu.user + cpu.system) / 1000 / (now - minuteStart)) * 100).toFixed(0)}%, loop p99 ${(harnessLoop.percentile(99) / 1e6).toFixed(0)} ms, heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MB`;
        log(minuteLine(++minute, scraper.samples.filter((s) => s.at >= minuteStart), recorder.trades - tradesAtMinute, (now - minuteStart) / 1000, harness));
        harnessLoop.reset();
        cpuAtMinute = process.cpuUsage();
        tradesAtMinute = recorder.trades;
        minuteStart = now;
      }, 60_000),
    );

    // Exchange faults, paused while the service is down.
    const rotation = new FaultRotation(exchange, tracker, () => stable, (options.seed ?? 7) + 1);
    const faultsUntil = startTime + runMs - Math.min(20_000, runMs * 0.15);
    let down = false;
    timers.push(
      setInterval(() => {
        if (!down && Date.now() < faultsUntil) rotation.next();
      }, options.faultEveryMs ?? 6_000),
    );
    let lastBoundary = 0;
    timers.push(
      setInterval(() => {
        const now = Date.now();
        const boundary = now - (now % 60_000) + 60_000;
        if (!down && boundary - now <= 1_200 && boundary !== lastBoundary && boundary < faultsUntil) {
          lastBoundary = boundary;
          rotation.acrossMinute(boundary);
        }
      }, 200),
    );

    const crash = (async () => {
      await sleep(Math.max(startTime + runMs * 0.15, Date.now() + 5_000) - Date.now());
      down = true;
      const killedAt = Date.now();
      await service.kill();
      await sleep(options.restartDelayMs ?? 3_000);
      // As a supervisor would (systemd's Restart=always): a start that fails (the database unreachable: klagg exits
      // at once, by design) is tried again 2 s later.
      for (let attempt = 1; ; attempt++) {
        try {
          await service.start();
          break;
        } catch (error) {
          if (attempt >= 10) throw error;
          notes.push(`restart attempt ${attempt} failed: ${(error as Error).message}`);
          await sleep(2_000);
        }
      }
      const runningAt = Date.now();
      down = false;
      log(`SIGKILL at +${((killedAt - startTime) / 1000).toFixed(0)} s; running again ${((runningAt - killedAt) / 1000).toFixed(1)} s later`);
      tracker!.add({ kind: 'sigkill+restart', injectedAt: killedAt, symbols: stable, endedAt: () => runningAt, extra: health });
    })();
    const outage = (async () => {
      await sleep(startTime + runMs * 0.65 - Date.now());
      const outageMs = options.outageMs ?? 30_000;
      const cutAt = Date.now();
      proxy.cut(outageMs);
      log(`PostgreSQL cut at +${((cutAt - startTime) / 1000).toFixed(0)} s for ${outageMs / 1000} s`);
      tracker!.add({ kind: 'db outage', injectedAt: cutAt, symbols: stable, endedAt: () => (proxy.mode === undefined ? cutAt + outageMs : undefined) });
    })();
    await sleep(startTime + runMs - Date.now());
    await Promise.all([crash, outage]);
    exchange.market.stop();
    for (const timer of timers) clearInterval(timer);
    const lastTradeTime = recorder.lastTime;
    log(`the exchange stopped: ${recorder.trades} trades emitted`);

    // Settle: the store holds every symbol's last trade, everything closed before the last trade is final.
    const everyone = exchange.market.symbols().map((s) => s.symbol).filter((s) => lastTrade(exchange, s) !== undefined);
    if (!(await until(180_000, async () => caughtUp(tracker!, exchange, everyone)))) notes.push('the store did not hold every trade 180 s after the end');
    if (!(await until(60_000, async () => (await openBefore(database.url, lastTradeTime)) === 0))) notes.push('klines closed before the last trade still open 60 s after the end');
    // The history backfill of the restarted life (300 symbols × 15 intervals, ~3 minutes here) fills the closed periods
    // the crash left without a stored kline (a period composed at the join, or finalized and not yet written, when the
    // process died): everything is stored only once it is done (/health: backfiller "done").
    const backfillFrom = Date.now();
    if (!(await until(600_000, async () => (await backfillDetail(service.url)).startsWith('done')))) notes.push('the backfill was not done 10 minutes after the end');
    else log(`backfill done ${((Date.now() - backfillFrom) / 1000).toFixed(0)} s after the settle began`);
    await tracker.settle(30_000);
    // A quiet moment for the clients' check: no trade comes any more, and no period ends (with its grace) for a while.
    while (Date.now() % 60_000 < 10_000 || Date.now() % 60_000 > 45_000) await sleep(250);
    await until(20_000, async () => (await scraper.scrape())?.dbBacklogRows === 0);
    await sleep(1_500);
    const clientStats = { events: clients.events, reconnects: clients.reconnects, resyncs: clients.resyncs };
    const stale = await staleClients(database.url, clients.lastEvents());
    clients.close();
    await scraper.scrape();
    scraper.stop();
    const exitCode = await service.stop();
    await recorder.close();
    log(`comparing with the fault-free replay of ${recorder.trades} trades…`);
    const verdict = await compareWithOracle({ recording: recorder.path, intervals: DEFAULT_INTERVALS, graceMs: GRACE_MS, serviceUrl: database.url, oracleUrl: oracleDb.url, lastTradeTime, delistedAt });
    const lost = await lostTrades(database.url, recorder.rawByMinute);
    const drift = rssDrift(scraper.samples);
    const injectedTypes = exchange.stats().faults.injected;
    const result: SoakResult = {
      minutes: options.minutes,
      startedAt: startTime,
      tradesEmitted: recorder.trades,
      rawTradesEmitted: recorder.rawTrades,
      tradesApplied: scraper.total((s) => s.applied),
      lost,
      klinesCompared: verdict.compared,
      klinesDiffer: verdict.differ,
      differExamples: verdict.examples,
      clientStreams: stale.streams,
      clientsStale: stale.stale,
      staleExamples: stale.examples,
      clientEvents: clientStats.events,
      clientReconnects: clientStats.reconnects,
      clientResyncs: clientStats.resyncs,
      serviceReconnects: scraper.total((s) => s.reconnects),
      lateDropped: scraper.total((s) => s.late),
      revisionsByCause: scraper.revisionsByCause(),
      rssDriftPct: drift.pct,
      rssDriftFrom: drift.from,
      loopP99Ms: loopP99(scraper.samples, WARMUP_AFTER_START_MS),
      loopDelay: loopDelaySummary(scraper.samples, WARMUP_AFTER_START_MS),
      loopDetail: loopDetail(scraper.samples, WARMUP_AFTER_START_MS, startTime),
      backlogPeakRows: Math.max(0, ...scraper.samples.map((s) => s.dbBacklogRows).filter(Number.isFinite)),
      faults: tracker.records,
      faultTypesInjected: Object.fromEntries(FAULT_TYPES.map((type) => [type, injectedTypes[type]])),
      sigkills: tracker.records.filter((r) => r.kind === 'sigkill+restart').length,
      dbOutages: tracker.records.filter((r) => r.kind === 'db outage').length,
      serviceLives: service.lives,
      serviceErrors: service.errorCount,
      serviceExitCode: exitCode,
      restBans: exchange.stats().rest.bans,
      oracleSeconds: verdict.oracleSeconds,
      notes: [...notes, ...service.errors.slice(0, 3).map((line) => `service error: ${line.slice(0, 400)}`)],
    };
    failed = result.lost !== 0 || result.klinesDiffer !== 0 || result.clientsStale !== 0;
    if (failed || options.keep === true) notes.push(`kept for inspection: ${dir} (klagg.log, trades.jsonl), databases ${database.name} (the service's) and ${oracleDb.name} (the oracle's)`);
    return result;
  } finally {
    harnessLoop.disable();
    for (const timer of timers) clearInterval(timer);
    scraper.stop();
    clients?.close();
    await tracker?.close();
    await service.close();
    await recorder.close().catch(() => {});
    await exchange.close();
    await proxy.close();
    // A failed run keeps its databases and files for inspection (their names are in the notes).
    if (!failed && options.keep !== true) {
      await database.drop();
      await oracleDb.drop();
      await rm(dir, { recursive: true, force: true });
    }
  }
}

function lastTrade(exchange: FakeExchange, symbol: string): { aggId: number; time: number } | undefined {
  const log = exchange.market.tradeLog(symbol);
  return log.length === 0 ? undefined : { aggId: log.aggIdAt(log.length - 1), time: log.timeAt(log.length - 1) };
}

async function caughtUp(tracker: RecoveryTracker, exchange: FakeExchange, symbols: readonly string[]): Promise<boolean> {
  const targets = symbols.map((s) => [s, lastTrade(exchange, s)!] as [string, { aggId: number; time: number }]);
  const stored = await tracker.storedPositions(targets);
  return targets.every(([symbol, target]) => (stored.get(symbol) ?? -1) >= target.aggId);
}

/** Klines of the service that closed before `time` and are not final yet. */
async function openBefore(url: string, time: number): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ n: string }>(`select count(*)::text as n from klines where not is_final and close_time < $1`, [time]);
    return Number(result.rows[0]!.n);
  } finally {
    await client.end();
  }
}

/** The backfiller's line on /health ("done (N symbols)" once the startup backfill has finished). */
async function backfillDetail(url: string): Promise<string> {
  const body = (await fetch(`${url}/health`).then((r) => r.json())) as { actors: { actor: string; detail: string }[] };
  return body.actors.find((a) => a.actor === 'backfiller')?.detail ?? '';
}

async function allActive(url: string, symbols: number, timeoutMs: number): Promise<void> {
  const ok = await until(timeoutMs, async () => {
    const body = (await fetch(`${url}/api/symbols`).then((r) => r.json())) as { symbols: { state: string }[] };
    return body.symbols.filter((s) => s.state === 'Active').length >= symbols;
  });
  if (!ok) throw new Error(`not every symbol was active ${timeoutMs / 1000} s after the start`);
}

async function until(timeoutMs: number, check: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return true;
    await sleep(250);
  }
  return false;
}
