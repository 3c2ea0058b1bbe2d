/**
 * The queue of pending REST faults: each entry answers the next `remaining` matching requests (of one path, or of
 * any), consumed in the order the faults were injected. Failures and delays are looked up separately because a
 * request may be both delayed and then failed. Validation and counting stay with Faults; this only keeps the queue.
 */

export type RestFaultKind = 'rest429' | 'rest418' | 'rest5xx' | 'slowRest';

export interface PendingRest {
  readonly kind: RestFaultKind;
  remaining: number;
  readonly path: string | undefined;
  readonly status: number;
  readonly ms: number;
}

export class RestFaultQueue {
  #rest: PendingRest[] = [];

  /** Queues a fault for the next `count` requests (nothing when `count` is 0). */
  add(kind: RestFaultKind, count: number, path: string | undefined, status: number, ms: number): void {
    if (count > 0) this.#rest.push({ kind, remaining: count, path, status, ms });
  }

  /** The oldest queued slowRest for `path`, consuming one of its requests. */
  takeDelay(path: string): PendingRest | undefined {
    return this.#take(path, (p) => p.kind === 'slowRest');
  }

  /** The oldest queued failure (429, 418, 5xx) for `path`, consuming one of its requests. */
  takeFailure(path: string): PendingRest | undefined {
    return this.#take(path, (p) => p.kind !== 'slowRest');
  }

  clear(): void {
    this.#rest = [];
  }

  /** What is queued, for stats. */
  pending(): { kind: string; remaining: number; path?: string }[] {
    return this.#rest.map((p) => ({ kind: p.kind, remaining: p.remaining, ...(p.path === undefined ? {} : { path: p.path }) }));
  }

  #take(path: string, wanted: (p: PendingRest) => boolean): PendingRest | undefined {
    const pending = this.#rest.find((p) => wanted(p) && (p.path === undefined || p.path === path));
    if (pending === undefined) return undefined;
    pending.remaining--;
    if (pending.remaining <= 0) this.#rest = this.#rest.filter((p) => p !== pending);
    return pending;
  }
}
