/**
 * Per-worker I/O: the exchange connections a worker thread owns for its partitions' symbols. The thread cannot be
 * given functions, so it imports this module (its URL travels in `WorkerStreamsConfig.module`) and gets a
 * StreamManager with the real socket, whose frames go straight into the thread's PartitionWorker — a trade frame never
 * crosses the main thread. What the main thread still needs of these connections travels as plain data: their stats
 * and lag (for metrics and the finalization watermark), reconnects (the trailing-gap checks), their state machines
 * (for the inspector) and their log lines.
 */
import type { InspectionEvent } from 'xstate';
import { StreamManager } from '../actors/stream-manager.ts';
import type { ForwardedInspection, WorkerStreams, WorkerStreamsConfig, WorkerStreamsHooks } from '../actors/partition-worker/thread-protocol.ts';
import { createExchangeSocket } from '../infra/exchange-stream/exchange-socket.ts';
import { createForwardingLogger } from '../infra/logger.ts';
import { logicKind } from '../infra/inspector/logic-kind.ts';

/** Inspection events are posted to the main thread in batches at most this often. */
const INSPECT_BATCH_MS = 50;

export function startWorkerStreams(config: WorkerStreamsConfig, hooks: WorkerStreamsHooks): WorkerStreams {
  const logger = createForwardingLogger(config.logLevel, hooks.onLog).child({ actor: 'streams', worker: hooks.workerId });
  const inspection = inspectionForwarder(hooks.workerId, hooks.onInspect);
  const { module: _module, wsBaseUrl, logLevel: _level, ...tuning } = config;
  const manager = new StreamManager({
    ...tuning,
    wsBaseUrl,
    connect: createExchangeSocket,
    clock: hooks.clock,
    elapsed: () => performance.now(),
    logger,
    onFrame: (frame) => hooks.onFrame(frame),
    onReconnected: (streams) => hooks.onReconnected(streams),
    inspect: inspection.inspect,
  });
  return {
    subscribe: (streams) => manager.subscribe(streams),
    unsubscribe: (streams) => manager.unsubscribe(streams),
    report: () => ({ stats: manager.stats, lag: manager.lagStats(), watermarkLagMs: manager.watermarkLagMs(), histogram: manager.lagHistogram() }),
    stop: async () => {
      await manager.stop();
      inspection.stop();
    },
  };
}

interface InspectedRef {
  readonly id?: string;
  readonly _parent?: object;
  readonly logic?: { readonly id?: unknown; readonly root?: unknown };
}

/** XState inspection made plain: each actor numbered within the thread (sessionIds repeat across actor systems). */
function inspectionForwarder(workerId: number, post: (events: readonly ForwardedInspection[]) => void) {
  const numbers = new WeakMap<object, number>();
  let next = 1;
  let pending: ForwardedInspection[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    timer = undefined;
    const events = pending;
    pending = [];
    if (events.length > 0) post(events);
  };
  const numberOf = (ref: object): number => {
    let n = numbers.get(ref);
    if (n === undefined) {
      n = next++;
      numbers.set(ref, n);
    }
    return n;
  };
  const queue = (event: ForwardedInspection): void => {
    pending.push(event);
    timer ??= setTimeout(flush, INSPECT_BATCH_MS);
  };
  return {
    inspect(event: InspectionEvent): void {
      try {
        const ref = event.actorRef as unknown as InspectedRef;
        if (event.type === '@xstate.actor') {
          const logic = ref.logic;
          const machine = logic !== undefined && logic.root !== undefined && typeof logic.id === 'string' ? logic.id : undefined;
          const parent = ref._parent === undefined ? undefined : numbers.get(ref._parent);
          queue({ kind: 'actor', ref: numberOf(ref), id: `worker-${workerId}/${ref.id ?? 'actor'}`, ...(parent === undefined ? {} : { parent }), ...(machine === undefined ? {} : { machine }), logic: logicKind(logic) });
        } else if (event.type === '@xstate.snapshot') {
          const snapshot = event.snapshot as { value?: unknown; status?: string };
          queue({ kind: 'snapshot', ref: numberOf(ref), value: snapshot.value ?? null, status: snapshot.status ?? 'active', event: event.event.type });
        }
      } catch {
        // The inspector must never break the actor it watches.
      }
    },
    stop(): void {
      if (timer !== undefined) clearTimeout(timer);
      flush();
    },
  };
}
