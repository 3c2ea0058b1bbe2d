/**
 * The service's exchange streams as one: the main thread's StreamManager (tickers, the exchange's 1m klines, and the
 * trades when workers run in this thread) together with the connections each worker thread owns (per-worker I/O),
 * as their latest reports give them. What metrics and the finalization watermark read.
 */
import type { StreamManager, StreamManagerStats } from '../actors/stream-manager.ts';
import type { WorkerStreamsReport } from '../actors/partition-worker/thread-protocol.ts';
import type { LagHistogramSnapshot } from '../domain/lag-tracker.ts';
import type { StreamMetricsSource } from '../infra/http/metrics.ts';

export class ExchangeStreamsView implements StreamMetricsSource {
  readonly #main: StreamManager;
  readonly #workers: () => readonly (WorkerStreamsReport | undefined)[];

  constructor(main: StreamManager, workers: () => readonly (WorkerStreamsReport | undefined)[]) {
    this.#main = main;
    this.#workers = workers;
  }

  #reports(): WorkerStreamsReport[] {
    return this.#workers().filter((report): report is WorkerStreamsReport => report !== undefined);
  }

  /** Connections, streams, reconnects, rotations, frames and replies: summed over every thread. */
  get stats(): StreamManagerStats {
    const sum = { ...this.#main.stats };
    for (const { stats } of this.#reports()) {
      sum.connections += stats.connections;
      sum.streams += stats.streams;
      sum.reconnects += stats.reconnects;
      sum.rotations += stats.rotations;
      sum.frames += stats.frames;
      sum.replies += stats.replies;
    }
    return sum;
  }

  /**
   * The watermark's measured lag: the largest of the threads' p99s (a p99 of the union is not computable from theirs,
   * and the largest is the safe side — quiet periods wait for the slowest connection).
   */
  watermarkLagMs(): number {
    return Math.max(this.#main.watermarkLagMs(), ...this.#reports().map((report) => report.watermarkLagMs));
  }

  /** Every lag sample since the start, bucket by bucket over every thread. */
  lagHistogram(): LagHistogramSnapshot {
    const main = this.#main.lagHistogram();
    const counts = [...main.counts];
    let count = main.count;
    let sumMs = main.sumMs;
    for (const { histogram } of this.#reports()) {
      histogram.counts.forEach((n, i) => (counts[i] = (counts[i] ?? 0) + n));
      count += histogram.count;
      sumMs += histogram.sumMs;
    }
    return { boundsMs: main.boundsMs, counts, count, sumMs };
  }
}
