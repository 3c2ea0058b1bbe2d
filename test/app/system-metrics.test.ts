/**
 * klagg_worker_thread_heap_bytes: each worker thread's own heap, which the process's nodejs_heap metrics do not
 * include (the soak's RSS grew while the main heap stayed flat); absent when the workers run in process.
 */
import t from 'tap';
import client from 'prom-client';
import { registerSystemMetrics } from '../../src/app/system-metrics.ts';
import { systemClock } from '../../src/infra/clock.ts';
import { MemorySink } from '../support/memory-sink.ts';
import { newSystem } from '../infra/http/helpers.ts';

async function heapLines(threads: boolean): Promise<Map<string, number>> {
  const system = newSystem(new MemorySink(), ['1m'], { threads, workers: 2 });
  try {
    // A thread answers once it runs (before that, getHeapStatistics rejects and the metric is left out).
    await Promise.all(system.workers.map((worker) => worker.stats()));
    const registry = new client.Registry();
    registerSystemMetrics({ registry, system, clock: systemClock });
    const text = await registry.metrics();
    const out = new Map<string, number>();
    for (const line of text.split('\n')) {
      const match = /^klagg_worker_thread_heap_bytes(\{[^}]*\}) (\S+)$/.exec(line);
      if (match) out.set(match[1]!, Number(match[2]));
    }
    return out;
  } finally {
    await system.stop();
  }
}

t.test('threads: used and external heap per worker thread', async (t) => {
  const lines = await heapLines(true);
  for (const worker of ['0', '1']) {
    const used = lines.get(`{worker="${worker}",kind="used"}`);
    t.ok(used !== undefined && used > 1_000_000, `worker ${worker}: ${used} bytes of heap used (a live V8 isolate holds megabytes)`);
    t.ok(lines.has(`{worker="${worker}",kind="external"}`), `worker ${worker}: external memory reported`);
  }
});

t.test('in process: no per-thread heap', async (t) => {
  t.equal((await heapLines(false)).size, 0);
});
