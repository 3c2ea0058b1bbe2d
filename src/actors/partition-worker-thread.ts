/**
 * The body of a worker thread: one PartitionWorker, driven by messages from `ThreadPartitionWorker`. Frames arrive
 * in batches (one transferred buffer + offsets), control messages in order with them, answers carry the request id.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PartitionWorker, type PartitionWorkerOptions } from './partition-worker.ts';
import { workerStats } from './partition-worker-port.ts';
import type { ThreadRequest, ThreadReply } from './thread-protocol.ts';

const port = parentPort;
if (port === null) throw new Error('partition-worker-thread.ts runs only as a worker thread');
const core = new PartitionWorker(workerData as PartitionWorkerOptions);

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
    case 'deactivate':
      core.deactivate(message.symbol);
      return;
    case 'activate':
      try {
        reply({ id: message.id, ok: true, value: core.activate(message.symbol, message.scales, message.initialData) });
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
  }
});

function reply(message: ThreadReply): void {
  port!.postMessage(message);
}
