/**
 * The body of a worker thread: one PartitionWorker, driven by messages from `ThreadPartitionWorker`. Frames arrive
 * in batches (one transferred buffer + offsets), control messages in order with them, answers carry the request id.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PartitionWorker, type PartitionWorkerOptions } from './partition-worker.ts';
import { workerStats } from './partition-worker-port.ts';
import type { AggTrade } from '../../domain/agg-trade.ts';
import type { ThreadNotice, ThreadRequest, ThreadReply } from './thread-protocol.ts';
import { KlaggError } from '../../domain/errors.ts';

const port = parentPort;
if (port === null) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: 'partition-worker-thread.ts runs only as a worker thread' });
const { repair, ...options } = workerData as PartitionWorkerOptions & { repair: boolean };
const fetches = new Map<number, (trades: readonly AggTrade[]) => void>();
let nextFetch = 1;
const core = new PartitionWorker({
  ...options,
  // Functions do not cross threads: repair asks the main thread, which owns the REST client.
  fetchTrades: repair
    ? (symbol, fromId, toId) =>
        new Promise((resolve) => {
          const id = nextFetch++;
          fetches.set(id, resolve);
          notify({ type: 'fetchTrades', id, symbol, fromId, toId });
        })
    : undefined,
  onUnrepairedGap: (gap) => notify({ type: 'unrepairedGap', gap }),
  onRebuildNeeded: (request) => notify({ type: 'rebuildNeeded', request }),
  onFinalsReady: () => notify({ type: 'finalsReady' }),
});

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
      fetches.get(message.id)?.(message.trades);
      fetches.delete(message.id);
      return;
  }
});

function reply(message: ThreadReply): void {
  port!.postMessage(message);
}

function notify(message: ThreadNotice): void {
  port!.postMessage(message);
}
