/**
 * The coordinator singleton's lease: whoever creates `coord` in the coordinator bucket holds it, and renews it with
 * compare-and-set; the bucket's TTL (2.9 has TTL per bucket only) expires it when the holder stops renewing, and
 * then the next candidate's create succeeds (scale-out.md §3.2).
 */
import type { KV } from '@nats-io/kv';

export class CoordinatorLease {
  readonly #kv: KV;
  readonly #node: string;
  #revision = 0;

  constructor(kv: KV, node: string) {
    this.#kv = kv;
    this.#node = node;
  }

  get held(): boolean {
    return this.#revision > 0;
  }

  /** Takes or renews the lease; resolves whether this node holds it now. */
  async acquireOrRenew(): Promise<boolean> {
    const data = Buffer.from(JSON.stringify({ node: this.#node }));
    try {
      this.#revision = this.#revision === 0 ? await this.#kv.create('coord', data) : await this.#kv.update('coord', data, this.#revision);
      return true;
    } catch (error) {
      const message = String((error as Error)?.message);
      if (/wrong last sequence|key exists/i.test(message)) {
        this.#revision = 0;
        return false;
      }
      // Unreachable (an election): keep the belief until the TTL would have run out; the caller retries.
      return this.#revision > 0;
    }
  }

  /** Gives the lease up (a graceful stop), so another candidate takes over without waiting for the TTL. */
  async release(): Promise<void> {
    if (this.#revision === 0) return;
    this.#revision = 0;
    await this.#kv.delete('coord').catch(() => undefined);
  }
}
