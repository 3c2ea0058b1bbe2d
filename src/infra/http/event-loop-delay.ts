/**
 * `klagg_event_loop_delay_seconds`: how late the event loop runs a timer, as a cumulative Prometheus histogram.
 *
 * Why beside prom-client's `nodejs_eventloop_lag_p99_seconds`: that gauge is the p99 of Node's monitorEventLoopDelay
 * histogram since the previous scrape (prom-client resets it at every collect), so a p99 over an hour, or over a
 * soak, cannot be computed from it, and its samples are the time between two ticks of a 20 ms timer, so an idle loop
 * reads 20 ms. This histogram counts, every `intervalMs`, the delay past the tick's due time, and never resets:
 * `histogram_quantile(0.99, rate(klagg_event_loop_delay_seconds_bucket[30m]))` is the p99 over any window.
 *
 * A loop blocked for B ms yields one sample of about B ms (the tick that was due during the block), as in Node's own
 * monitor. The timer is unref'd: it never keeps the process alive.
 */
import { performance } from 'node:perf_hooks';
import client from 'prom-client';

const BUCKETS_SECONDS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, 5];

export class EventLoopDelayHistogram {
  readonly #histogram: client.Histogram;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #last = 0;

  constructor(registry: client.Registry, prefix: string, intervalMs = 10) {
    this.#intervalMs = intervalMs;
    this.#histogram = new client.Histogram({
      name: `${prefix}event_loop_delay_seconds`,
      help: `How late the event loop ran a timer due every ${intervalMs} ms (cumulative, for p99 over any window)`,
      buckets: BUCKETS_SECONDS,
      registers: [registry],
    });
  }

  start(): void {
    if (this.#timer) return;
    this.#last = performance.now();
    this.#timer = setInterval(() => this.#tick(), this.#intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    const now = performance.now();
    // Node re-arms an interval timer from the start of its callback, so each tick is due intervalMs after the last.
    this.#histogram.observe(Math.max(0, now - this.#last - this.#intervalMs) / 1000);
    this.#last = now;
  }
}
