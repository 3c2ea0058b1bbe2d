/**
 * A PartitionWorker in a worker thread. Frames are copied into a batch buffer and sent (transferred, not cloned) when
 * the batch is full or at the end of the current task, and always before any control message, so the thread sees
 * frames and control in exactly the order they were given.
 *
 * With `io` (per-worker I/O) the thread owns the exchange connections of its symbols: `streams` subscribes there, the
 * thread's frames never come here, and what the main thread needs of those connections — stats and lag, reconnects,
 * their state machines for the inspector, log lines — comes back as notices.
 */
import { Worker } from 'node:worker_threads';
import type { InspectionEvent } from 'xstate';
import type { Clock } from '../../infra/clock.ts';
import type { ParsedTrade } from '../../domain/agg-trade-parser.ts';
import type { SymbolScales } from '../../domain/kline-engine.ts';
import type { Kline } from '../../domain/kline.ts';
import type { DeltaBatch } from '../../domain/messages.ts';
import type { PartitionWorkerOptions } from './partition-worker.ts';
import type { PartitionWorkerPort, WorkerStats } from './partition-worker-port.ts';
import { LATEST_ID } from './partition-worker.ts';
import type { ForwardedInspection, ThreadNotice, ThreadReply, ThreadRequest, WorkerStreamsConfig, WorkerStreamsPort, WorkerStreamsReport } from './thread-protocol.ts';
import { KlaggError } from '../../domain/errors.ts';
import type { LogicKind } from '../../infra/inspector/logic-kind.ts';

const BATCH_BYTES = 256 * 1024;
const BATCH_FRAMES = 2048;
/** How often the thread is told the system clock's reading (its receive stamps follow it). */
const CLOCK_SYNC_MS = 100;

/** Per-worker I/O: the thread's own exchange connections, and where what they report goes. */
export interface WorkerStreamsIo {
  readonly config: WorkerStreamsConfig;
  readonly clock: Clock;
  /** A log line of the thread's (pino JSON), to write through the service's logger. */
  readonly onLog?: (line: string) => void;
  readonly onReconnected?: (streams: readonly string[]) => void;
  readonly inspect?: (event: InspectionEvent) => void;
}


export class ThreadPartitionWorker implements PartitionWorkerPort {
  readonly id: number;
  readonly #thread: Worker;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  #nextId = 1;
  #bytes = Buffer.allocUnsafe(BATCH_BYTES);
  #ends = new Uint32Array(BATCH_FRAMES);
  #used = 0;
  #count = 0;
  #flushQueued = false;
  #failure: Error | undefined;
  #closed = false;
  readonly streams: WorkerStreamsPort | undefined;
  #report: WorkerStreamsReport | undefined;
  readonly #clockSync: NodeJS.Timeout | undefined;

  constructor(options: PartitionWorkerOptions, io?: WorkerStreamsIo) {
    this.id = options.id;
    const { fetchTrades, onUnrepairedGap, onRebuildNeeded, onFinalsReady, ...plain } = options;
    this.#thread = new Worker(new URL('./partition-worker-thread.ts', import.meta.url), { workerData: { ...plain, repair: fetchTrades !== undefined, streams: io?.config } });
    if (io !== undefined) {
      const syncClock = (): void => this.#thread.postMessage({ type: 'clock', wall: Date.now(), now: io.clock.now() } satisfies ThreadRequest);
      syncClock();
      this.#clockSync = setInterval(syncClock, CLOCK_SYNC_MS);
      this.#clockSync.unref();
      const relay = inspectionRelay(this.id, io.inspect);
      const reports = (): WorkerStreamsReport | undefined => this.#report;
      this.#onIo = (notice) => {
        if (notice.type === 'streams') this.#report = notice.report;
        else if (notice.type === 'reconnected') io.onReconnected?.(notice.streams);
        else if (notice.type === 'inspect') relay(notice.events);
        else if (notice.type === 'log') io.onLog?.(notice.line);
      };
      this.streams = {
        subscribe: (streams) => this.#post({ type: 'subscribe', streams }),
        unsubscribe: (streams) => this.#post({ type: 'unsubscribe', streams }),
        get report() {
          return reports();
        },
        stop: async () => {
          if (this.#clockSync !== undefined) clearInterval(this.#clockSync);
          // A closed thread's connections closed with it.
          if (this.#closed || this.#failure !== undefined) return;
          await this.#request((id) => ({ type: 'stopStreams', id }));
        },
      };
    }
    this.#thread.on('message', (reply: ThreadReply | ThreadNotice) => {
      if (reply.type === 'streams' || reply.type === 'reconnected' || reply.type === 'inspect' || reply.type === 'log') {
        this.#onIo(reply);
        return;
      }
      if (reply.type === 'fetchTrades') {
        // A failure crosses as a failure: taken as "no trades", a failed repair fetch was never retried with threads on.
        void fetchTrades!(reply.symbol, reply.fromId, reply.toId).then(
          (trades) => this.#thread.postMessage({ type: 'fetchedTrades', id: reply.id, trades } satisfies ThreadRequest),
          (error: unknown) => this.#thread.postMessage({ type: 'fetchedTrades', id: reply.id, trades: [], error: (error as Error)?.message ?? String(error) } satisfies ThreadRequest),
        );
        return;
      }
      if (reply.type === 'unrepairedGap') {
        onUnrepairedGap?.(reply.gap);
        return;
      }
      if (reply.type === 'finalsReady') {
        onFinalsReady?.();
        return;
      }
      if (reply.type === 'rebuildNeeded') {
        onRebuildNeeded?.(reply.request);
        return;
      }
      const waiter = this.#pending.get(reply.id);
      if (waiter === undefined) return;
      this.#pending.delete(reply.id);
      if (reply.ok) waiter.resolve(reply.value);
      else waiter.reject(new Error(reply.error));
    });
    this.#thread.on('error', (error) => this.#fail(error));
    this.#thread.on('exit', (code) => {
      if (code !== 0) this.#fail(new Error(`worker thread ${options.id} exited with code ${code}`));
    });
  }

  #onIo: (notice: Extract<ThreadNotice, { type: 'streams' | 'reconnected' | 'inspect' | 'log' }>) => void = () => {};

  activate(symbol: string, scales: SymbolScales, initialData: readonly Kline[], startAfterId?: number): Promise<number> {
    return this.#request((id) => ({ type: 'activate', id, symbol, scales, initialData, startAfterId })) as Promise<number>;
  }

  deactivate(symbol: string): void {
    this.#post({ type: 'deactivate', symbol });
  }

  positionOf(symbol: string): Promise<number> {
    return this.#request((id) => ({ type: 'position', id, symbol })) as Promise<number>;
  }

  ingestFrame(frame: Buffer, _parsed: ParsedTrade | undefined): void {
    if (frame.length > BATCH_BYTES) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: `frame of ${frame.length} bytes exceeds the batch buffer` });
    if (this.#used + frame.length > BATCH_BYTES || this.#count === BATCH_FRAMES) this.#flush();
    frame.copy(this.#bytes, this.#used);
    this.#used += frame.length;
    this.#ends[this.#count++] = this.#used;
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      setImmediate(() => this.#flush());
    }
  }

  advanceTo(now: number): void {
    this.#post({ type: 'advance', now });
  }

  finish(): void {
    this.#post({ type: 'finish' });
  }

  catchUp(symbol: string, toId: number = LATEST_ID): void {
    this.#post({ type: 'catchUp', symbol, toId });
  }

  takeDeltas(seq: number): Promise<DeltaBatch> {
    return this.#request((id) => ({ type: 'deltas', id, seq })) as Promise<DeltaBatch>;
  }

  stats(): Promise<WorkerStats> {
    return this.#request((id) => ({ type: 'stats', id })) as Promise<WorkerStats>;
  }

  async heap(): Promise<{ usedBytes: number; externalBytes: number }> {
    const heap = await this.#thread.getHeapStatistics();
    return { usedBytes: heap.used_heap_size, externalBytes: heap.external_memory };
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#clockSync !== undefined) clearInterval(this.#clockSync);
    this.#flush();
    await this.#thread.terminate();
  }

  #flush(): void {
    this.#flushQueued = false;
    if (this.#count === 0) return;
    const buffer = this.#bytes.buffer.slice(this.#bytes.byteOffset, this.#bytes.byteOffset + this.#used) as ArrayBuffer;
    const ends = this.#ends.slice(0, this.#count);
    this.#thread.postMessage({ type: 'frames', buffer, ends } satisfies ThreadRequest, [buffer, ends.buffer]);
    this.#used = 0;
    this.#count = 0;
  }

  #post(message: ThreadRequest): void {
    this.#flush();
    this.#thread.postMessage(message);
  }

  #request(build: (id: number) => ThreadRequest): Promise<unknown> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#post(build(id));
    });
  }

  #fail(error: Error): void {
    this.#failure = error;
    for (const waiter of this.#pending.values()) waiter.reject(error);
    this.#pending.clear();
  }
}

/**
 * Turns a thread's plain inspection events back into the shape an `inspect` callback (the InspectorHub) reads: one
 * stand-in object per thread actor, so the hub keys it by identity as it does a local one.
 */
function inspectionRelay(workerId: number, inspect: ((event: InspectionEvent) => void) | undefined): (events: readonly ForwardedInspection[]) => void {
  const refs = new Map<number, object>();
  const refOf = (n: number, id = `worker-${workerId}/actor`, parent?: number, machine?: string, kind?: LogicKind): object => {
    let ref = refs.get(n);
    if (ref === undefined) {
      ref = { id, sessionId: `worker-${workerId}:${n}`, _parent: parent === undefined ? undefined : refs.get(parent), logic: machine === undefined ? undefined : { id: machine, root: {} }, inspectorKind: kind };
      refs.set(n, ref);
    }
    return ref;
  };
  return (events) => {
    if (inspect === undefined) return;
    for (const event of events) {
      if (event.kind === 'actor') {
        inspect({ type: '@xstate.actor', actorRef: refOf(event.ref, event.id, event.parent, event.machine, event.logic) } as unknown as InspectionEvent);
        continue;
      }
      const actorRef = refOf(event.ref);
      inspect({ type: '@xstate.snapshot', actorRef, snapshot: { value: event.value, status: event.status, context: {} }, event: { type: event.event } } as unknown as InspectionEvent);
      if (event.status !== 'active') refs.delete(event.ref);
    }
  };
}
