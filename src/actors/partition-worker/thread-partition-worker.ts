/**
 * A PartitionWorker in a worker thread. Frames are copied into a batch buffer and sent (transferred, not cloned) when
 * the batch is full or at the end of the current task, and always before any control message, so the thread sees
 * frames and control in exactly the order they were given.
 */
import { Worker } from 'node:worker_threads';
import type { ParsedTrade } from '../../domain/agg-trade-parser.ts';
import type { SymbolScales } from '../../domain/kline-engine.ts';
import type { Kline } from '../../domain/kline.ts';
import type { DeltaBatch } from '../../domain/messages.ts';
import type { PartitionWorkerOptions } from './partition-worker.ts';
import type { PartitionWorkerPort, WorkerStats } from './partition-worker-port.ts';
import { LATEST_ID } from './partition-worker.ts';
import type { ThreadNotice, ThreadReply, ThreadRequest } from './thread-protocol.ts';
import { KlaggError } from '../../domain/errors.ts';

const BATCH_BYTES = 256 * 1024;
const BATCH_FRAMES = 2048;

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

  constructor(options: PartitionWorkerOptions) {
    this.id = options.id;
    const { fetchTrades, onUnrepairedGap, onRebuildNeeded, onFinalsReady, ...plain } = options;
    this.#thread = new Worker(new URL('./partition-worker-thread.ts', import.meta.url), { workerData: { ...plain, repair: fetchTrades !== undefined } });
    this.#thread.on('message', (reply: ThreadReply | ThreadNotice) => {
      if (reply.type === 'fetchTrades') {
        void fetchTrades!(reply.symbol, reply.fromId, reply.toId)
          .catch(() => [])
          .then((trades) => this.#thread.postMessage({ type: 'fetchedTrades', id: reply.id, trades } satisfies ThreadRequest));
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

  async close(): Promise<void> {
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
