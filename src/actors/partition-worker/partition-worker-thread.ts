/**
 * The body of a worker thread: one PartitionWorker, driven by messages from `ThreadPartitionWorker`. Frames arrive
 * in batches (one transferred buffer + offsets), control messages in order with them, answers carry the request id.
 *
 * Per-worker I/O: given `streams`, the thread also owns the exchange connections of its partitions' symbols (built by
 * the composition root's module, imported by URL) and its frames go from its own sockets into its own engine.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PartitionWorker, type PartitionWorkerOptions } from './partition-worker.ts';
import { workerStats } from './partition-worker-port.ts';
import type { AggTrade } from '../../domain/agg-trade.ts';
import type { ThreadNotice, ThreadRequest, ThreadReply, WorkerStreams, WorkerStreamsConfig, WorkerStreamsHooks } from './thread-protocol.ts';
import { KlaggError } from '../../domain/errors.ts';
import type { Clock } from '../../infra/clock.ts';

/** How often the thread reports its connections' stats and lag to the main thread. */
const REPORT_EVERY_MS = 250;

const port = parentPort;
if (port === null) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: 'partition-worker-thread.ts runs only as a worker thread' });
const { repair, streams: streamsConfig, ...options } = workerData as PartitionWorkerOptions & { repair: boolean; streams?: WorkerStreamsConfig };
const fetches = new Map<number, { resolve: (trades: readonly AggTrade[]) => void; reject: (error: Error) => void }>();
let nextFetch = 1;
const core = new PartitionWorker({
  ...options,
  // Functions do not cross threads: repair asks the main thread, which owns the REST client.
  fetchTrades: repair
    ? (symbol, fromId, toId) =>
        new Promise((resolve, reject) => {
          const id = nextFetch++;
          fetches.set(id, { resolve, reject });
          notify({ type: 'fetchTrades', id, symbol, fromId, toId });
        })
    : undefined,
  onUnrepairedGap: (gap) => notify({ type: 'unrepairedGap', gap }),
  onRebuildNeeded: (request) => notify({ type: 'rebuildNeeded', request }),
  onFinalsReady: () => notify({ type: 'finalsReady' }),
});

/**
 * The system clock as this thread follows it: the main thread sends its reading at a wall-clock instant a few times a
 * second, and between readings it runs on at the rate the last two showed (1 for the wall clock; a replay's exchange
 * clock may run faster). Used only for receive stamps, i.e. the streams' lag.
 */
class FollowedClock implements Clock {
  #wall = Date.now();
  #now = Date.now();
  #rate = 1;
  #synced = false;

  sync(wall: number, now: number): void {
    if (this.#synced && wall - this.#wall >= 20) {
      const rate = (now - this.#now) / (wall - this.#wall);
      // A replay's exchange clock may run thousands of times faster than the wall clock; a negative rate is a clock
      // set back to a new offset, not a clock running: then keep the wall clock's pace.
      this.#rate = rate >= 0 && Number.isFinite(rate) ? rate : 1;
    }
    this.#synced = true;
    this.#wall = wall;
    this.#now = now;
  }

  now(): number {
    return Math.round(this.#now + (Date.now() - this.#wall) * this.#rate);
  }
}

const clock = new FollowedClock();
let streams: WorkerStreams | undefined;
if (streamsConfig !== undefined) {
  const io = (await import(streamsConfig.module)) as { startWorkerStreams(config: WorkerStreamsConfig, hooks: WorkerStreamsHooks): WorkerStreams };
  streams = io.startWorkerStreams(streamsConfig, {
    workerId: options.id,
    clock,
    onFrame: (frame) => void core.ingestFrame(frame),
    onReconnected: (list) => notify({ type: 'reconnected', streams: list }),
    onInspect: (events) => notify({ type: 'inspect', events }),
    onLog: (line) => notify({ type: 'log', line }),
  });
  setInterval(() => notify({ type: 'streams', report: streams!.report() }), REPORT_EVERY_MS).unref();
}

port.on('message', (message: ThreadRequest) => {
  switch (message.type) {
    case 'frames': {
      const bytes = Buffer.from(message.buffer);
      const ends = message.ends;
      let start = 0;
      for (let i = 0; i < ends.length; i++) {
        core.ingestFrame(bytes.subarray(start, ends[i]));
        start = ends[i]!;
      }
      return;
    }
    case 'advance':
      core.advanceTo(message.now);
      return;
    case 'finish':
      core.finish();
      return;
    case 'catchUp':
      core.catchUp(message.symbol, message.toId);
      return;
    case 'deactivate':
      core.deactivate(message.symbol);
      return;
    case 'activate':
      try {
        reply({ id: message.id, ok: true, value: core.activate(message.symbol, message.scales, message.initialData, message.startAfterId) });
      } catch (error) {
        reply({ id: message.id, ok: false, error: (error as Error).message });
      }
      return;
    case 'position':
      reply({ id: message.id, ok: true, value: core.positionOf(message.symbol) });
      return;
    case 'deltas':
      reply({ id: message.id, ok: true, value: core.takeDeltas(message.seq) });
      return;
    case 'stats':
      reply({ id: message.id, ok: true, value: workerStats(core) });
      return;
    case 'fetchedTrades':
      if (message.error === undefined) fetches.get(message.id)?.resolve(message.trades);
      else fetches.get(message.id)?.reject(new Error(message.error));
      fetches.delete(message.id);
      return;
    case 'subscribe':
      streams?.subscribe(message.streams);
      return;
    case 'unsubscribe':
      streams?.unsubscribe(message.streams);
      return;
    case 'clock':
      clock.sync(message.wall, message.now);
      return;
    case 'stopStreams':
      void (streams?.stop() ?? Promise.resolve()).then(
        () => reply({ id: message.id, ok: true, value: null }),
        (error: unknown) => reply({ id: message.id, ok: false, error: (error as Error).message }),
      );
      return;
  }
});

function reply(message: ThreadReply): void {
  port!.postMessage(message);
}

function notify(message: ThreadNotice): void {
  port!.postMessage(message);
}
