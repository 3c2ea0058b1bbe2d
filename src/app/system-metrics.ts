/**
 * The running system's metrics (trade frames, workers, gaps, the DB writer, the Gateway, activations, symbol states,
 * actor health), registered on the HTTP server's Prometheus registry by the composition root. Every value is read
 * from the system at scrape time: a counter mirrors a monotonic total of the system, a gauge its current value.
 * They live here, not in infra/http, because they read the actors' shapes (infra never imports the actors).
 */
import client from 'prom-client';
import type { KlaggSystem } from '../actors/klagg-system.ts';
import { countByState } from '../actors/symbol-registry.ts';
import type { Clock } from '../infra/clock.ts';

export interface SystemMetricsOptions {
  readonly registry: client.Registry;
  readonly system: KlaggSystem;
  readonly clock: Clock;
  /** Default `klagg_` (as HttpMetrics). */
  readonly prefix?: string;
}

export function registerSystemMetrics(options: SystemMetricsOptions): void {
  const { system, clock } = options;
  const prefix = options.prefix ?? 'klagg_';
  const registers = [options.registry];
  // Values that live in the system: a counter mirrors a monotonic total at scrape time.
  const mirror = (name: string, help: string, read: () => number | Promise<number>): void => {
    new client.Counter({
      name: `${prefix}${name}`,
      help,
      registers,
      async collect() {
        this.reset();
        this.inc(await read());
      },
    });
  };
  const gauge = (name: string, help: string, read: () => number | Promise<number>): void => {
    new client.Gauge({
      name: `${prefix}${name}`,
      help,
      registers,
      async collect() {
        this.set(await read());
      },
    });
  };

  // One stats() call per worker per scrape, shared by every worker metric of that scrape.
  type Summed = { applied: number; duplicates: number; gaps: number; late: number; amended: number; lateBeyondMemory: number; catchUps: number; repairFetchRetries: number; rejectedFrames: number; repairedGaps: number; unrepairedGaps: number; pendingRepairs: number; heldFrameBytes: number; heldFramesDropped: number };
  let workerStats: Promise<Summed> | undefined;
  const workers = (): NonNullable<typeof workerStats> => {
    if (workerStats === undefined) {
      workerStats = Promise.all(system.workers.map((worker) => worker.stats())).then((all) => {
        const sum: Summed = { applied: 0, duplicates: 0, gaps: 0, late: 0, amended: 0, lateBeyondMemory: 0, catchUps: 0, repairFetchRetries: 0, rejectedFrames: 0, repairedGaps: 0, unrepairedGaps: 0, pendingRepairs: 0, heldFrameBytes: 0, heldFramesDropped: 0 };
        for (const s of all) for (const key of Object.keys(sum) as (keyof Summed)[]) sum[key] += s[key];
        return sum;
      });
      setImmediate(() => (workerStats = undefined));
    }
    return workerStats;
  };

  mirror('frames_routed_total', 'Trade frames routed to the worker owning their symbol', () => system.counters.framesRouted);
  mirror('frames_unrouted_total', 'Trade frames for symbols not subscribed (dropped)', () => system.counters.framesUnrouted);
  mirror('frames_rejected_total', 'Malformed or unusable trade frames', async () => (await workers()).rejectedFrames);
  mirror('trades_applied_total', 'Trades applied to klines', async () => (await workers()).applied);
  mirror('trades_duplicate_total', 'Duplicate trades ignored', async () => (await workers()).duplicates);
  mirror('trades_late_total', 'Trades dropped as too late for their kline (always 0: late trades amend it)', async () => (await workers()).late);
  mirror('trades_late_amended_total', 'Late trades applied to a final kline, which went out again as a revision', async () => (await workers()).amended);
  mirror('trades_late_beyond_memory_total', 'Late trades older than the last final kept in memory: those klines rebuilt from the exchange', async () => (await workers()).lateBeyondMemory);
  mirror('repair_fetch_retries_total', 'Gap repairs whose REST fetch failed and was asked again (the range is given up only after 6 attempts)', async () => (await workers()).repairFetchRetries);
  mirror('catch_ups_total', 'Catch-ups to the exchange’s latest trade (activation from a stored position, trailing gaps)', async () => (await workers()).catchUps);
  new client.Counter({
    name: `${prefix}kline_revisions_total`,
    help: 'Corrected final klines emitted (stored and pushed to stream clients), by cause',
    labelNames: ['cause'],
    registers,
    collect() {
      this.reset();
      for (const [cause, count] of Object.entries(system.revisionsByCause)) this.inc({ cause }, count);
    },
  });
  gauge('finalization_watermark_extra_seconds', 'How much later than the grace quiet periods are finalized (the stream’s measured lag)', () => system.watermarkExtraMs() / 1000);
  mirror('gaps_total', 'Gaps in aggregate trade ids seen', async () => (await workers()).gaps);
  mirror('gaps_repaired_total', 'Gaps repaired from the exchange', async () => (await workers()).repairedGaps);
  mirror('gaps_unrepaired_total', 'Gaps the exchange could no longer fill', async () => (await workers()).unrepairedGaps);
  gauge('gap_repairs_pending', 'Gap repairs in progress', async () => (await workers()).pendingRepairs);
  gauge('held_frame_bytes', 'Bytes of stream frames held behind gap repairs and catch-ups (bounded per worker)', async () => (await workers()).heldFrameBytes);
  mirror('held_frames_dropped_total', 'Stream frames not held past the budget while their symbol was repaired (their trades are fetched again)', async () => (await workers()).heldFramesDropped);

  gauge('db_writer_buffered_rows', 'Kline rows buffered for writing', () => system.dbWriter.stats.bufferedRows);
  gauge('db_writer_buffered_finals', 'Final kline rows buffered for writing', () => system.dbWriter.stats.bufferedFinals);
  mirror('db_writer_written_rows_total', 'Kline rows written to the database', () => system.dbWriter.stats.writtenRows);
  mirror('db_writer_failed_flushes_total', 'Flushes that failed (retried)', () => system.dbWriter.stats.failedFlushes);
  gauge('db_writer_lag_seconds', 'Age of the oldest buffered final kline (by its open time; 0 when none)', () => {
    const oldest = system.dbWriter.stats.oldestBufferedFinal;
    return oldest === null ? 0 : Math.max(0, (clock.now() - oldest) / 1000);
  });

  mirror('gateway_pulls_total', 'Pulls of the workers by the Gateway', () => system.counters.gateway.pulls);
  mirror('gateway_pull_timeouts_total', 'Pulls a worker did not answer in time', () => system.counters.gateway.timeouts);
  mirror('gateway_published_total', 'Batches published by the Gateway', () => system.counters.gateway.published);
  mirror('activations_total', 'Symbol activations that succeeded', () => system.counters.dispatcher.activated);
  mirror('activation_failures_total', 'Symbol activations that failed for good', () => system.counters.dispatcher.failed);
  mirror('activation_retries_total', 'Symbol activation retries', () => system.counters.dispatcher.retries);

  new client.Gauge({
    name: `${prefix}worker_thread_heap_bytes`,
    help: 'Each partition worker thread’s own V8 heap (not in the process’s nodejs_heap metrics): used, and external (buffers)',
    labelNames: ['worker', 'kind'],
    registers,
    async collect() {
      await Promise.all(
        system.workers.map(async (worker) => {
          const heap = await worker.heap?.().catch(() => undefined);
          if (heap === undefined) return;
          this.set({ worker: String(worker.id), kind: 'used' }, heap.usedBytes);
          this.set({ worker: String(worker.id), kind: 'external' }, heap.externalBytes);
        }),
      );
    },
  });
  new client.Gauge({
    name: `${prefix}symbols`,
    help: 'Symbols by lifecycle state',
    labelNames: ['state'],
    registers,
    collect() {
      for (const [state, count] of Object.entries(countByState(system.registry))) this.set({ state }, count);
    },
  });
  new client.Gauge({
    name: `${prefix}actor_health`,
    help: 'Health board: 0 ok, 1 degraded, 2 error, per actor',
    labelNames: ['actor'],
    registers,
    collect() {
      this.reset();
      for (const entry of Object.values(system.health.getSnapshot().context.actors)) {
        this.set({ actor: entry.actor }, entry.status === 'ok' ? 0 : entry.status === 'degraded' ? 1 : 2);
      }
    },
  });
}
