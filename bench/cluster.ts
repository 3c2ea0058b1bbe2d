/**
 * `npm run bench:cluster`: the scale-out roles (`klagg ingest | aggregate | write | serve`) as separate processes on a
 * 3-node NATS JetStream cluster this bench starts itself (R3 streams and buckets; the machine's :4222 server is never
 * used), measuring the goals of scale-out.md §6 that one machine can show:
 *
 * - bus latency and overhead: a paced market the bench publishes itself (klagg's TradeLogPublisher), so each trade's
 *   publish time is known; latency runs to the first kl.live message whose 1m kline has that trade as its last one;
 * - crash failover: SIGKILL a (non-coordinator) aggregator while trades flow in every partition; per partition it
 *   owned (from `<ns>_own` just before the kill), the time to the first kl.live message under a newer epoch;
 * - planned moves: every break-before-make move (a `revoking` record) the coordinator makes when an aggregator joins
 *   (the killed ones' replacements and one extra); pause = last kl.live arrival under the old epoch → first under the
 *   new one;
 * - throughput: one aggregator process draining a pre-filled trade log vs PartitionAggregate over the same batches
 *   in this process;
 * - exactness: a generated market of ≥ 300 symbols through 2 ingest + 3 aggregate + 2 write + 1 serve, every stored
 *   kline against `klagg replay --system` of the same recording.
 *
 * 2 shared cores run 3 servers and up to 9 Node processes here: the figures are relative (ratios from one run), and
 * printed, never asserted (not part of `npm run bench`, never a timed test). Every process, temp directory, stream
 * and database it makes is removed at the end. `--only latency,failover,throughput,oracle` runs some sections;
 * `--json <file>` saves the figures.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { decodeTradeBatch, decodeWatermark } from '../src/domain/cluster-messages.ts';
import { toAggTradeEvent } from '../src/domain/agg-trade.ts';
import { scaleOf } from '../src/domain/decimal.ts';
import type { IntervalName } from '../src/domain/interval.ts';
import { PartitionAggregate } from '../src/domain/partition-aggregate.ts';
import { generateTrades } from '../src/domain/synthetic-market.ts';
import { syntheticSymbols } from '../src/domain/synthetic-symbols.ts';
import { kindOfSubject } from '../src/infra/nats/partition-log-reader.ts';
import { TradeLogPublisher } from '../src/infra/nats/trade-log-publisher.ts';
import { openDatabase } from '../src/infra/db/open-database.ts';
import { startNatsCluster, type NatsCluster } from '../test/support/nats-cluster.ts';
import { writeGeneratedRecording } from '../test/support/generated-recording.ts';
import { createTestDatabase, type TestDatabase } from '../test/support/postgres.ts';
import { startRoleProcess, type RoleProcess } from '../test/support/role-process.ts';
import { allStoredKlines } from '../test/support/stored-klines.ts';
import {
  BenchNamespace,
  HARNESS_ENV,
  LiveRecorder,
  MARKET,
  OwnershipWatch,
  PacedMarket,
  VENUE,
  percentile,
  processCpuSeconds,
  sleep,
  symbolsCoveringPartitions,
  waitFor,
  waitSettled,
  type OwnershipEvent,
} from './cluster-harness.ts';
import { median, BenchReport } from './report.ts';

/** One layout for every section: 32 partitions over 4 trade streams and 2 kline streams, R3. */
const LAYOUT = { partitions: 32, tradeStreams: 4, klineStreams: 2, replicas: 3 } as const;
const INTERVALS: readonly IntervalName[] = ['1m', '5m', '1h'];
/** The roles' defaults (src/infra/config/schema.ts `cluster`), stated in the output. */
const DEFAULTS = { tickMs: 250, heartbeatMs: 500, deadAfterMs: 3000, coordinatorLeaseMs: 10_000, moveTimeoutMs: 2000, checkpointEveryMs: 10_000 };

const unique = (prefix: string): string => `${prefix}${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const ms = (n: number): string => String(Math.round(n));

// ---------------------------------------------------------------------------------------------------------------
// Bus latency and overhead at a steady pace

async function benchBus(urls: readonly string[], report: BenchReport, o: { rate: number; seconds: number; tickMs: number }): Promise<void> {
  const ns = await BenchNamespace.open(urls, { ...LAYOUT, namespace: unique('bl') }, DEFAULTS.coordinatorLeaseMs);
  const live = new LiveRecorder(ns);
  const own = await OwnershipWatch.start(ns);
  const market = new PacedMarket(ns, symbolsCoveringPartitions(ns.names, 2), o.rate);
  try {
    const nodes = ['l1', 'l2'];
    const aggs = await Promise.all(nodes.map((n) => ns.startRole('aggregate', n, [], { KLAGG_CLUSTER__TICK_MS: String(o.tickMs), KLAGG_INTERVALS: INTERVALS.join(',') })));
    const published = new Map<string, number>();
    const latencies: number[] = [];
    let measuring = false;
    market.onTrade = (symbol, id, at) => {
      if (measuring) published.set(`${symbol}:${id}`, at);
    };
    live.onBatch = (batch, at) => {
      for (const k of batch.klines) {
        if (k.interval !== '1m') continue;
        const key = `${k.symbol}:${k.lastTradeId}`;
        const sent = published.get(key);
        if (sent === undefined) continue;
        latencies.push(at - sent);
        published.delete(key);
      }
    };
    market.start();
    await waitSettled(ns, own, live, nodes, 60_000);
    await market.publisher.whenAcked();
    const before = await ns.tradeStreamTotals();
    const sentBefore = market.sent;
    const cpuBefore = aggs.map((a) => processCpuSeconds(a.pid));
    const started = performance.now();
    measuring = true;
    await sleep(o.seconds * 1000);
    measuring = false;
    const seconds = (performance.now() - started) / 1000;
    const cpu = aggs.map((a, i) => processCpuSeconds(a.pid) - cpuBefore[i]!);
    const sent = market.sent - sentBefore;
    await market.publisher.whenAcked();
    const after = await ns.tradeStreamTotals();
    await sleep(2 * o.tickMs + 200);
    const msgsPerTrade = (after.messages - before.messages) / sent;
    const bytesPerTrade = (after.bytes - before.bytes) / sent;
    report.line(
      `cluster bus latency: p50 ${ms(percentile(latencies, 50))} ms, p99 ${ms(percentile(latencies, 99))} ms — trade handed to the publisher → first kl.live message with it as its 1m kline's last trade ` +
        `(TICK_MS ${o.tickMs}; ${Math.round(sent / seconds)} trades/s paced over ${market.symbols.length} symbols in all ${LAYOUT.partitions} partitions, 2 aggregators, ${latencies.length} trades matched in ${seconds.toFixed(0)} s; ` +
        `aggregators at ${cpu.map((c) => `${Math.round((100 * c) / seconds)}%`).join(' and ')} of a core)`,
    );
    report.line(
      `cluster bus overhead at that pace: ${msgsPerTrade.toFixed(3)} JetStream messages/trade, ${bytesPerTrade.toFixed(0)} B/trade in the trade streams ` +
        `(stream state deltas over ${sent} trades, watermarks every 500 ms included)`,
    );
    report.record('clusterBus', { ...o, trades: sent, seconds, latency: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), n: latencies.length }, msgsPerTrade, bytesPerTrade, aggregatorCpuSeconds: cpu });
  } finally {
    await market.stop();
    live.close();
    own.stop();
    await ns.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Crash failover and planned moves

interface MoveSample {
  readonly partition: number;
  readonly pauseMs: number;
  readonly drainMs: number;
  readonly coordinatorMs: number;
  readonly startMs: number;
  readonly why: string;
}

/** Every planned move of `history` (a `revoking` record) with its pause on kl.live. */
function plannedMoves(history: readonly OwnershipEvent[], live: LiveRecorder, label: (at: number) => string): { samples: MoveSample[]; unmeasured: number } {
  const samples: MoveSample[] = [];
  let unmeasured = 0;
  history.forEach((ev, i) => {
    if (ev.phase !== 'revoking') return;
    const before = history.slice(0, i).reverse().find((e) => e.partition === ev.partition && e.phase === 'active');
    const later = history.slice(i + 1).filter((e) => e.partition === ev.partition);
    const released = later.find((e) => e.phase === 'released');
    const after = later.find((e) => e.phase === 'active');
    const old = before && live.span(ev.partition, before.revision);
    const next = after && live.span(ev.partition, after.revision);
    if (before === undefined || after === undefined || old === undefined || next === undefined) {
      unmeasured++;
      return;
    }
    samples.push({
      partition: ev.partition,
      pauseMs: next.first - old.last,
      drainMs: released === undefined ? Number.NaN : released.at - ev.at,
      coordinatorMs: released === undefined ? Number.NaN : after.at - released.at,
      startMs: next.first - after.at,
      why: label(ev.at),
    });
  });
  return { samples, unmeasured };
}

async function benchFailover(urls: readonly string[], report: BenchReport, o: { rate: number; kills: number; coordinatorKill: boolean }): Promise<void> {
  const ns = await BenchNamespace.open(urls, { ...LAYOUT, namespace: unique('bf') }, DEFAULTS.coordinatorLeaseMs);
  const live = new LiveRecorder(ns);
  const own = await OwnershipWatch.start(ns);
  const market = new PacedMarket(ns, symbolsCoveringPartitions(ns.names, 2), o.rate);
  const env = { KLAGG_INTERVALS: INTERVALS.join(',') };
  try {
    const aggs = new Map<string, RoleProcess>();
    const start = async (node: string): Promise<void> => void aggs.set(node, await ns.startRole('aggregate', node, [], env));
    await Promise.all(['a1', 'a2', 'a3'].map(start));
    market.start();
    await waitSettled(ns, own, live, [...aggs.keys()], 60_000);

    const failovers: number[] = [];
    const reassigned: number[] = [];
    const joins: { at: number; why: string }[] = [];
    const crash = async (victim: string, timeoutMs: number): Promise<{ samples: number[]; reassignedMs: number[] }> => {
      const affected = [...own.current.values()].filter((r) => r.node === victim && r.phase === 'active');
      const proc = aggs.get(victim)!;
      const t0 = performance.now();
      ns.kill(proc, 'SIGKILL');
      aggs.delete(victim);
      const samples = await Promise.all(
        affected.map((r) =>
          waitFor(() => {
            ns.assertRolesAlive();
            const first = live.firstAfterEpoch(r.partition, r.revision);
            return first !== undefined && first > t0 ? first - t0 : undefined;
          }, timeoutMs, () => `partition ${r.partition} (epoch ${r.revision}, owned by the killed ${victim}) got no live output under a new epoch`),
        ),
      );
      const reassignedMs = affected.map((r) => (own.history.find((e) => e.partition === r.partition && e.revision > r.revision && e.phase === 'active')?.at ?? Number.NaN) - t0);
      await proc.exited;
      return { samples, reassignedMs };
    };

    for (let k = 0; k < o.kills; k++) {
      const coordinator = await ns.coordinatorNode();
      const candidates = [...aggs.keys()].filter((n) => n !== coordinator);
      const victim = candidates[k % candidates.length]!;
      const result = await crash(victim, 30_000);
      failovers.push(...result.samples);
      reassigned.push(...result.reassignedMs);
      await waitSettled(ns, own, live, [...aggs.keys()], 30_000, 500);
      // The replacement joins: the coordinator moves partitions to it (planned moves, measured below).
      const replacement = `${victim.replace(/r\d+$/, '')}r${k + 1}`;
      joins.push({ at: performance.now(), why: 'replacement' });
      await start(replacement);
      await waitSettled(ns, own, live, [...aggs.keys()], 40_000);
    }

    // One more aggregator than before: a pure scale-out.
    joins.push({ at: performance.now(), why: 'extra' });
    await start('a4');
    await waitSettled(ns, own, live, [...aggs.keys()], 40_000);
    const extraAt = joins[joins.length - 1]!.at;
    const moves = plannedMoves(own.history, live, (at) => (at >= extraAt ? 'extra' : 'replacement'));

    let coordinatorLine: string | undefined;
    if (o.coordinatorKill) {
      const coordinator = await ns.coordinatorNode();
      if (coordinator !== undefined && aggs.has(coordinator)) {
        const result = await crash(coordinator, 45_000);
        coordinatorLine =
          `cluster failover of the coordinator itself (context): ${result.samples.length} partitions back after p50 ${ms(percentile(result.samples, 50))} ms, max ${ms(Math.max(...result.samples))} ms ` +
          `(the lease, COORDINATOR_LEASE_MS ${DEFAULTS.coordinatorLeaseMs}, must expire, then the new coordinator waits DEAD_AFTER_MS before reassigning)`;
      }
    }

    const pauses = moves.samples.map((s) => s.pauseMs);
    const finite = (xs: number[]): number[] => xs.filter(Number.isFinite);
    report.line(`cluster failover: p50 ${ms(percentile(failovers, 50))} ms, p99 ${ms(percentile(failovers, 99))} ms`);
    report.line(
      `  failover: ${failovers.length} partitions over ${o.kills} SIGKILLs of a non-coordinator aggregator (3 running, a replacement started after each), max ${ms(Math.max(...failovers))} ms, goal p99 ≤ 5000; ` +
        `kill → reassignment written p50 ${ms(percentile(finite(reassigned), 50))} ms; DEAD_AFTER_MS ${DEFAULTS.deadAfterMs}, HEARTBEAT_MS ${DEFAULTS.heartbeatMs}, TICK_MS ${DEFAULTS.tickMs}, CHECKPOINT_EVERY_MS ${DEFAULTS.checkpointEveryMs}; ` +
        `${Math.round(o.rate)} trades/s paced over ${market.symbols.length} symbols in all ${LAYOUT.partitions} partitions`,
    );
    report.line(`cluster partition move: p99 ${ms(percentile(pauses, 99))} ms`);
    report.line(
      `  moves: ${pauses.length} planned moves (${moves.samples.filter((s) => s.why === 'extra').length} when a 4th aggregator joined, the rest when the replacements joined; ${moves.unmeasured} unmeasured), ` +
        `pause p50 ${ms(percentile(pauses, 50))} ms, max ${ms(Math.max(...pauses))} ms, goal p99 ≤ 500; p50 of its parts: revoking → released ${ms(percentile(finite(moves.samples.map((s) => s.drainMs)), 50))} ms, ` +
        `released → new owner written ${ms(percentile(finite(moves.samples.map((s) => s.coordinatorMs)), 50))} ms (coordinator round = HEARTBEAT_MS), new owner written → its first live message ${ms(percentile(moves.samples.map((s) => s.startMs), 50))} ms (TICK_MS ${DEFAULTS.tickMs})`,
    );
    if (coordinatorLine !== undefined) report.line(coordinatorLine);
    report.record('clusterFailover', { ...o, failoverMs: failovers, reassignedMs: reassigned, moves: moves.samples, unmeasuredMoves: moves.unmeasured, settings: DEFAULTS, coordinatorLine });
  } finally {
    await market.stop();
    live.close();
    own.stop();
    await ns.close();
  }
}

/**
 * The same planned moves with a shorter coordinator round and tick (both settings, no code change): how much of the
 * pause they are. Two aggregators, then a third and a fourth join.
 */
async function benchMovesTuned(urls: readonly string[], report: BenchReport, o: { rate: number; heartbeatMs: number; tickMs: number }): Promise<void> {
  const ns = await BenchNamespace.open(urls, { ...LAYOUT, namespace: unique('bm') }, DEFAULTS.coordinatorLeaseMs);
  const live = new LiveRecorder(ns);
  const own = await OwnershipWatch.start(ns);
  const market = new PacedMarket(ns, symbolsCoveringPartitions(ns.names, 2), o.rate);
  const env = { KLAGG_INTERVALS: INTERVALS.join(','), KLAGG_CLUSTER__HEARTBEAT_MS: String(o.heartbeatMs), KLAGG_CLUSTER__TICK_MS: String(o.tickMs) };
  try {
    const nodes = ['m1', 'm2'];
    await Promise.all(nodes.map((n) => ns.startRole('aggregate', n, [], env)));
    market.start();
    await waitSettled(ns, own, live, nodes, 60_000);
    for (const node of ['m3', 'm4']) {
      await ns.startRole('aggregate', node, [], env);
      nodes.push(node);
      await waitSettled(ns, own, live, nodes, 40_000);
    }
    const moves = plannedMoves(own.history, live, () => 'join');
    const pauses = moves.samples.map((s) => s.pauseMs);
    report.line(
      `  moves with HEARTBEAT_MS ${o.heartbeatMs} and TICK_MS ${o.tickMs} (context, settings only): ${pauses.length} moves as a 3rd and a 4th aggregator joined, pause p50 ${ms(percentile(pauses, 50))} ms, p99 ${ms(percentile(pauses, 99))} ms, max ${ms(Math.max(...pauses))} ms; ` +
        `released → new owner written p50 ${ms(percentile(moves.samples.map((s) => s.coordinatorMs).filter(Number.isFinite), 50))} ms`,
    );
    report.record('clusterMovesTuned', { ...o, moves: moves.samples, unmeasured: moves.unmeasured });
  } finally {
    await market.stop();
    live.close();
    own.stop();
    await ns.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Throughput: one aggregator process vs the in-process fold

interface LogEntryCopy {
  readonly partition: number;
  readonly position: number;
  readonly kind: 'trades' | 'watermark' | 'end';
  readonly data: Uint8Array;
}

async function benchThroughput(urls: readonly string[], report: BenchReport, o: { symbols: number; trades: number }): Promise<void> {
  const ns = await BenchNamespace.open(urls, { ...LAYOUT, namespace: unique('bt') }, DEFAULTS.coordinatorLeaseMs);
  const live = new LiveRecorder(ns);
  const own = await OwnershipWatch.start(ns);
  try {
    // Pre-fill the trade log as fast as it acknowledges (batches grow to ≤ 1000 trades per message, as at a burst).
    const specs = syntheticSymbols(21, o.symbols);
    const scales = new Map(specs.map((s) => [s.symbol, { priceScale: scaleOf(s.tickSize), qtyScale: scaleOf(s.stepSize) }]));
    const publisher = new TradeLogPublisher({ js: ns.js, names: ns.names, venue: VENUE, market: MARKET, ingestId: 'bench' });
    let maxTime = 0;
    let count = 0;
    const fillStarted = performance.now();
    for (const trade of generateTrades({ seed: 21, symbols: o.symbols, startTime: Date.UTC(2026, 10, 2), trades: o.trades, symbolSpecs: specs, meanRatePerSecond: 2000 })) {
      publisher.enqueue(trade.symbol, scales.get(trade.symbol)!, trade.aggId, Buffer.from(JSON.stringify(toAggTradeEvent(trade))));
      maxTime = Math.max(maxTime, trade.tradeTime);
      if (++count % 2048 === 0) {
        if (publisher.outstanding > 50_000) await publisher.whenAcked();
        else await new Promise((resolve) => setImmediate(resolve));
      }
    }
    await publisher.whenAcked();
    await publisher.publishWatermark(maxTime, true);
    const fillSeconds = (performance.now() - fillStarted) / 1000;
    publisher.close();
    const totals = await ns.tradeStreamTotals();
    const P = LAYOUT.partitions;
    const endPositions = new Map<number, number>();
    for (let p = 0; p < P; p++) {
      const msg = await ns.jsm.streams.getMessage(ns.names.tradeStreamOf(p), { last_by_subj: ns.names.endSubject(p, VENUE, MARKET) });
      endPositions.set(p, msg!.seq);
    }

    // The same log, read back into memory, folded in this process (decode + PartitionAggregate + takeOutput).
    const entries: LogEntryCopy[] = [];
    for (let i = 0; i < LAYOUT.tradeStreams; i++) {
      const consumer = await ns.js.consumers.get(ns.names.tradeStream(i));
      const messages = await consumer.consume({ max_messages: 2000 });
      for await (const m of messages) {
        const partition = Number(m.subject.split('.')[2]);
        entries.push({ partition, position: m.seq, kind: kindOfSubject(m.subject), data: m.data.slice() });
        if (m.info.pending === 0) break;
      }
      await messages.close().catch(() => undefined);
    }
    const fold = (): { seconds: number; cpu: number; applied: number } => {
      const aggregates = new Map<number, PartitionAggregate>();
      let applied = 0;
      const cpu = process.cpuUsage();
      const started = performance.now();
      let n = 0;
      for (const e of entries) {
        let a = aggregates.get(e.partition);
        if (a === undefined) aggregates.set(e.partition, (a = PartitionAggregate.create({ partition: e.partition, intervals: INTERVALS, graceMs: 1000 })));
        if (e.kind === 'trades') {
          const batch = decodeTradeBatch(e.data);
          if (batch !== null) a.applyTrades(e.position, batch);
        } else {
          const wm = decodeWatermark(e.data);
          if (wm !== null) (e.kind === 'end' ? a.applyEnd(e.position, wm.wm) : a.applyWatermark(e.position, wm.wm));
        }
        // An output round now and then, as the owner's tick takes one.
        if (++n % 64 === 0) a.takeOutput();
      }
      for (const a of aggregates.values()) {
        a.takeOutput();
        applied += a.counters.applied;
      }
      const used = process.cpuUsage(cpu);
      return { seconds: (performance.now() - started) / 1000, cpu: (used.user + used.system) / 1e6, applied };
    };
    fold();
    const folds = [fold(), fold(), fold()];
    const inproc = median(folds.map((f) => f.applied / f.seconds));
    // A partition without trades emits nothing at its end marker: only the others have an end to wait for.
    const traded = new Set(entries.filter((e) => e.kind === 'trades').map((e) => e.partition));
    for (const p of endPositions.keys()) if (!traded.has(p)) endPositions.delete(p);
    const inprocCpu = median(folds.map((f) => f.applied / f.cpu));
    entries.length = 0;

    // One aggregator process owns every partition and drains the log; done when each partition's live output has
    // reached its end marker's position.
    const agg = await ns.startRole('aggregate', 't1', [], { KLAGG_INTERVALS: INTERVALS.join(',') });
    const assignedAt = await waitFor(() => (ns.assertRolesAlive(), own.history.find((e) => e.phase === 'active')?.at), 60_000, () => 'no partition was assigned');
    const cpuBefore = processCpuSeconds(agg.pid);
    const doneAt = await waitFor(
      () => (ns.assertRolesAlive(), [...endPositions].every(([p, end]) => live.position(p) >= end) ? performance.now() : undefined),
      180_000,
      () => `the aggregator did not reach every end marker: ${[...endPositions].filter(([p, end]) => live.position(p) < end).length} partitions behind`,
      20,
    );
    const cpu = processCpuSeconds(agg.pid) - cpuBefore;
    const seconds = (doneAt - assignedAt) / 1000;
    const clusterRate = count / seconds;
    const clusterCpuRate = count / cpu;
    report.line(
      `cluster aggregator throughput: ${Math.round(clusterRate)} trades/s for one aggregator process fed from JetStream vs ${Math.round(inproc)} trades/s in-process (PartitionAggregate over the same batches in memory): ` +
        `${(clusterRate / inproc).toFixed(2)}× (per CPU-second of the process: ${Math.round(clusterCpuRate)} vs ${Math.round(inprocCpu)}, ${(clusterCpuRate / inprocCpu).toFixed(2)}×)`,
    );
    report.line(
      `  throughput: ${count} trades of ${o.symbols} symbols pre-filled into ${LAYOUT.partitions} partitions (${endPositions.size} with trades); timed from the first ownership record to the last partition's end-marker output on kl.live ` +
        `(includes restore, consumer creation, durable publishes and checkpoints, up to one TICK_MS ${DEFAULTS.tickMs}); process at ${Math.round((100 * cpu) / seconds)}% of a core; in-process median of 3`,
    );
    report.line(
      `cluster bus overhead at a burst: ${(totals.messages / count).toFixed(4)} JetStream messages/trade, ${(totals.bytes / count).toFixed(0)} B/trade in the trade streams ` +
        `(jsm.streams.info over ${LAYOUT.tradeStreams} trade streams after the pre-fill, ${totals.messages} messages incl. ${P} end markers; pre-fill published at ${Math.round(count / fillSeconds)} trades/s into R3)`,
    );
    report.record('clusterThroughput', { ...o, trades: count, clusterRate, clusterCpuRate, inprocRate: inproc, inprocCpuRate: inprocCpu, seconds, cpu, messages: totals.messages, bytes: totals.bytes, fillSeconds });
  } finally {
    live.close();
    own.stop();
    await ns.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Exactness: the whole role set against `replay --system`

async function benchOracle(urls: readonly string[], report: BenchReport, o: { symbols: number; trades: number; rate: number }): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'klagg-bench-cluster-'));
  const databases: TestDatabase[] = [];
  const others: RoleProcess[] = [];
  let ns: BenchNamespace | undefined;
  try {
    const recording = await writeGeneratedRecording(join(dir, 'market.jsonl'), { seed: 31, symbols: o.symbols, trades: o.trades, meanRatePerSecond: o.rate });
    const oracleDb = await createTestDatabase('klagg_bench_cluster_oracle');
    databases.push(oracleDb);
    const clusterDb = await createTestDatabase('klagg_bench_cluster_roles');
    databases.push(clusterDb);

    const oracleStarted = performance.now();
    const replay = await startRoleProcess({ args: ['replay', '--system', '--input', recording.path, '--intervals', INTERVALS.join(','), '--database-url', oracleDb.url], env: { ...HARNESS_ENV, KLAGG_LOG__LEVEL: 'warn' }, name: 'replay-oracle' });
    others.push(replay);
    const exit = await replay.exited;
    if (exit.code !== 0) throw replay.failure('the oracle replay failed');
    const oracleSeconds = (performance.now() - oracleStarted) / 1000;
    const expected = await allStoredKlines(oracleDb.url);

    ns = await BenchNamespace.open(urls, { ...LAYOUT, namespace: unique('bo') }, DEFAULTS.coordinatorLeaseMs);
    const env = { KLAGG_INTERVALS: INTERVALS.join(',') };
    const started = performance.now();
    const roles = await Promise.all([
      ns.startRole('aggregate', 'o-agg1', [], env),
      ns.startRole('aggregate', 'o-agg2', [], env),
      ns.startRole('aggregate', 'o-agg3', [], env),
      ns.startRole('write', 'o-write1', ['--database-url', clusterDb.url], env),
      ns.startRole('write', 'o-write2', ['--database-url', clusterDb.url], env),
      ns.startRole('serve', 'o-serve', ['--database-url', clusterDb.url, '--port', '0'], env),
    ]);
    const serveUrl = /(http:\/\/[^\s/]+)\/health/.exec(roles[5]!.lines.find((l) => l.startsWith('klagg serve ready')) ?? '')?.[1];
    const ingests = await Promise.all(['o-ingest1', 'o-ingest2'].map((n) => ns!.startRole('ingest', n, ['--input', recording.path], env)));
    await Promise.all(ingests.map((i) => i.waitForLine(/^klagg ingest done/, 180_000)));
    const ingestSeconds = (performance.now() - started) / 1000;

    // Stored when the table has as many rows as the oracle's, all final, and nothing changed for 2 s.
    const handle = await openDatabase({ url: clusterDb.url });
    let last = '';
    let stableSince = 0;
    try {
      await waitFor(
        async () => {
          ns!.assertRolesAlive();
          const row = await handle.db
            .selectFrom('klines')
            .select((eb) => [eb.fn.countAll<string>().as('n'), eb.fn.sum<string>(eb.case().when('is_final', '=', false).then(1).else(0).end()).as('open'), eb.fn.max('updated_at').as('t')])
            .executeTakeFirstOrThrow();
          const sig = `${row.n}/${row.open}/${String(row.t)}`;
          if (sig !== last) {
            last = sig;
            stableSince = performance.now();
          }
          return Number(row.n) >= expected.length && Number(row.open ?? 0) === 0 && performance.now() - stableSince > 2000 ? true : undefined;
        },
        120_000,
        () => `the cluster's database did not reach the oracle's ${expected.length} final klines (rows/open/last update: ${last})`,
        250,
      ).catch((error: unknown) => report.line(`cluster oracle: ${(error as Error).message}`));
    } finally {
      await handle.close();
    }
    const storedSeconds = (performance.now() - started) / 1000;
    // A fetch that fails (e.g. "heartbeats missed" on a loaded machine) leaves what it had received unacknowledged
    // until the consumer's AckWait (30 s) redelivers it: the writers' logs say how often that happened.
    const fetchFailures = roles.slice(3, 5).reduce((n, w) => n + w.lines.filter((l) => l.includes('fetching kline batches failed')).length, 0);
    let health = 'not checked';
    if (serveUrl !== undefined) health = await fetch(`${serveUrl}/health`).then((r) => `HTTP ${r.status}`, (e: unknown) => String(e));

    const actual = await allStoredKlines(clusterDb.url);
    const keyOf = (row: string): string => {
      const r = JSON.parse(row) as { symbol: string; interval: string; open_time: string | number };
      return `${r.symbol}|${r.interval}|${r.open_time}`;
    };
    const want = new Map(expected.map((row) => [keyOf(row), row]));
    const got = new Map(actual.map((row) => [keyOf(row), row]));
    let differ = 0;
    const shown: string[] = [];
    for (const key of new Set([...want.keys(), ...got.keys()])) {
      if (want.get(key) === got.get(key)) continue;
      differ++;
      if (shown.length < 3) shown.push(`  oracle:  ${want.get(key) ?? '(none)'}\n  cluster: ${got.get(key) ?? '(none)'}`);
    }
    report.line(`cluster oracle: ${expected.length} klines, ${differ} differ`);
    report.line(
      `  oracle: ${recording.symbols} symbols, ${recording.trades} trades (${((recording.lastTime - recording.firstTime) / 60_000).toFixed(0)} min of market), intervals ${INTERVALS.join(',')}; ` +
        `2 ingest (both publish the whole recording) + 3 aggregate + 2 write + 1 serve (/health ${health}); cluster DB has ${actual.length} rows, compared row for row on every column but updated_at; ` +
        `published in ${ingestSeconds.toFixed(0)} s, all stored ${storedSeconds.toFixed(0)} s after the roles started (${fetchFailures} failed writer fetches); replay --system took ${oracleSeconds.toFixed(0)} s`,
    );
    if (differ > 0) report.line(`cluster oracle: the first differing klines\n${shown.join('\n')}`);
    report.record('clusterOracle', { ...o, symbolsSeen: recording.symbols, klines: expected.length, stored: actual.length, differ, ingestSeconds, storedSeconds, oracleSeconds, fetchFailures });
  } finally {
    await Promise.all(others.map((p) => p.stop().catch(() => undefined)));
    await ns?.close();
    for (const db of databases) await db.drop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------

const { values } = parseArgs({ options: { only: { type: 'string' }, json: { type: 'string' } } });
const only = new Set((values.only ?? 'latency,failover,throughput,oracle').split(',').map((s) => s.trim()));
const report = new BenchReport();
const natsVersion = (() => {
  try {
    return execFileSync('nats-server', ['--version']).toString().trim().replace(/^nats-server:\s*/, '');
  } catch {
    return 'unknown';
  }
})();
report.line(`klagg bench:cluster — node ${process.version}, nats-server ${natsVersion}, ${new Date().toISOString()}`);
const wallStarted = performance.now();
let nats: NatsCluster | undefined;
try {
  nats = await startNatsCluster({ size: 3 });
  report.line(
    `  setup: 3-node JetStream cluster (R3 streams and buckets), ${LAYOUT.partitions} partitions over ${LAYOUT.tradeStreams} trade and ${LAYOUT.klineStreams} kline streams, intervals ${INTERVALS.join(',')}; ` +
      `role processes share the machine's cores with the servers and this bench (relative figures)`,
  );
  const urls = nats.urls;
  if (only.has('latency')) await benchBus(urls, report, { rate: 2000, seconds: 10, tickMs: 20 });
  if (only.has('failover')) await benchFailover(urls, report, { rate: 1600, kills: 4, coordinatorKill: true });
  if (only.has('failover')) await benchMovesTuned(urls, report, { rate: 1600, heartbeatMs: 100, tickMs: 100 });
  if (only.has('throughput')) await benchThroughput(urls, report, { symbols: 200, trades: 1_000_000 });
  if (only.has('oracle')) await benchOracle(urls, report, { symbols: 320, trades: 150_000, rate: 100 });
} catch (error) {
  process.exitCode = 1;
  report.line(`bench:cluster failed: ${(error as Error)?.stack ?? String(error)}`);
} finally {
  await nats?.stop();
}
report.line(`  bench:cluster took ${((performance.now() - wallStarted) / 1000).toFixed(0)} s`);
if (values.json) writeFileSync(values.json, `${JSON.stringify(report.records, null, 2)}\n`);
process.exit(process.exitCode ?? 0);
