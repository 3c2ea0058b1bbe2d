/**
 * Ingest's side of the trade log: trades go out per symbol in batches, with at most one unacknowledged batch per
 * symbol. While one is in flight the next accumulates, so a quiet symbol sends 1 trade per message and a hot one
 * dozens, with no linger (scale-out.md §2.2), and a symbol's order in the log is its id order without any
 * expected-sequence header. A failed or timed-out publish is retried with the same `Nats-Msg-Id`
 * (`<venue>.<market>.<symbol>.<first>-<last>`), which the stream's duplicate window stores once — that is what
 * carries a batch across a stream leader's election without loss or doubling.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import { encodeTradeBatch, encodeWatermark } from '../../domain/cluster-messages.ts';
import type { SymbolScales } from '../../domain/kline-engine.ts';
import type { ClusterNames } from './cluster-layout.ts';

export interface TradeLogPublisherOptions {
  readonly js: JetStreamClient;
  readonly names: ClusterNames;
  readonly venue: string;
  readonly market: string;
  /** This ingest's name (in watermark message ids). */
  readonly ingestId: string;
  readonly maxBatchTrades?: number;
  readonly maxBatchBytes?: number;
  /** Per publish attempt. */
  readonly publishTimeoutMs?: number;
  readonly retryDelayMs?: number;
  /** A publish failed and is retried (a stall begins or goes on). */
  readonly onRetry?: (subject: string, error: unknown, attempt: number) => void;
}

export interface TradeLogStats {
  batches: number;
  trades: number;
  bytes: number;
  /** Batches the stream said it already held (a retry after a lost ack, or a second ingest's same batch). */
  duplicates: number;
  retries: number;
  watermarks: number;
  /** Milliseconds spent in publishes that needed retries (publish stalls). */
  stalledMs: number;
}

interface SymbolQueue {
  readonly symbol: string;
  readonly partition: number;
  scales: SymbolScales;
  pending: Buffer[];
  pendingBytes: number;
  firstId: number;
  lastId: number;
  inFlight: boolean;
  /** The next batch starts the symbol's history in the log mid-period (see TradeBatchHeader.j). */
  join: boolean;
  /** Last id the log acknowledged. */
  acked: number;
  waiters: { id: number; resolve: () => void }[];
}

export class TradeLogPublisher {
  readonly stats: TradeLogStats = { batches: 0, trades: 0, bytes: 0, duplicates: 0, retries: 0, watermarks: 0, stalledMs: 0 };
  readonly #o: TradeLogPublisherOptions;
  readonly #queues = new Map<string, SymbolQueue>();
  readonly #maxTrades: number;
  readonly #maxBytes: number;
  #closed = false;
  #watermarkSeq = 0;
  /** Publishes being retried now, and since when the first of them has been (a publish stall). */
  #retrying = 0;
  #stallStart = 0;

  constructor(options: TradeLogPublisherOptions) {
    this.#o = options;
    this.#maxTrades = options.maxBatchTrades ?? 1000;
    this.#maxBytes = options.maxBatchBytes ?? 512 * 1024;
  }

  /** Trades queued or in flight (not yet acknowledged by the log). */
  get outstanding(): number {
    let n = 0;
    for (const q of this.#queues.values()) n += q.pending.length + (q.inFlight ? 1 : 0);
    return n;
  }

  /**
   * Queues one trade (its aggTrade frame); ids of a symbol must come in order, each once. `join` on a symbol's first
   * trade says its earlier trades are not in the log (the ingest joined mid-period).
   */
  enqueue(symbol: string, scales: SymbolScales, aggId: number, frame: Buffer, join = false): void {
    let q = this.#queues.get(symbol);
    if (q === undefined) {
      q = { symbol, partition: this.#o.names.partitionOf(this.#o.venue, this.#o.market, symbol), scales, pending: [], pendingBytes: 0, firstId: aggId, lastId: aggId - 1, inFlight: false, join, acked: aggId - 1, waiters: [] };
      this.#queues.set(symbol, q);
    }
    q.scales = scales;
    if (q.pending.length === 0) q.firstId = aggId;
    q.pending.push(frame);
    q.pendingBytes += frame.length;
    q.lastId = aggId;
    if (!q.inFlight) void this.#send(q);
  }

  /** How long publishing has been failing without a break (0: it works). */
  stalledForMs(): number {
    return this.#retrying === 0 ? 0 : performance.now() - this.#stallStart;
  }

  /** Resolves once every trade queued before the call is acknowledged by the log. */
  async whenAcked(): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const q of this.#queues.values()) {
      if (q.acked >= q.lastId) continue;
      const id = q.lastId;
      waits.push(new Promise<void>((resolve) => q.waiters.push({ id, resolve })));
    }
    await Promise.all(waits);
  }

  /**
   * Publishes time to every partition: `wm` promises that every trade this ingest saw with an earlier time is in the
   * log (call it after `whenAcked`). With `end`, the recording is over: every begun kline may become final.
   */
  async publishWatermark(wm: number, end = false): Promise<void> {
    const { names, venue, market, ingestId } = this.#o;
    const seq = ++this.#watermarkSeq;
    const payload = encodeWatermark(end ? { wm, end: true, by: ingestId } : { wm, by: ingestId });
    const sends: Promise<void>[] = [];
    for (let p = 0; p < names.layout.partitions; p++) {
      const subject = end ? names.endSubject(p, venue, market) : names.watermarkSubject(p, venue, market);
      sends.push(this.#publish(subject, payload, `wm.${ingestId}.${p}.${seq}.${wm}`).then(() => void this.stats.watermarks++));
    }
    await Promise.all(sends);
  }

  close(): void {
    this.#closed = true;
  }

  async #send(q: SymbolQueue): Promise<void> {
    q.inFlight = true;
    while (q.pending.length > 0 && !this.#closed) {
      let take = 0;
      let bytes = 0;
      while (take < q.pending.length && take < this.#maxTrades && (take === 0 || bytes + q.pending[take]!.length <= this.#maxBytes)) bytes += q.pending[take++]!.length;
      const frames = q.pending.splice(0, take);
      q.pendingBytes -= bytes;
      const first = q.firstId;
      const last = first + take - 1;
      q.firstId = last + 1;
      const { names, venue, market } = this.#o;
      const payload = encodeTradeBatch(q.symbol, q.scales, frames, q.join);
      q.join = false;
      const duplicate = await this.#publish(names.tradeSubject(q.partition, venue, market, q.symbol), payload, `${venue}.${market}.${q.symbol}.${first}-${last}`);
      if (this.#closed) break;
      this.stats.batches++;
      this.stats.trades += take;
      this.stats.bytes += payload.length;
      if (duplicate) this.stats.duplicates++;
      q.acked = last;
      if (q.waiters.length > 0) {
        const due = q.waiters.filter((w) => w.id <= last);
        q.waiters = q.waiters.filter((w) => w.id > last);
        for (const w of due) w.resolve();
      }
    }
    q.inFlight = false;
  }

  /** Publishes until acknowledged, retrying with the same message id; resolves whether the log already held it. */
  async #publish(subject: string, payload: Uint8Array, msgID: string): Promise<boolean> {
    let attempt = 0;
    let stallStart = 0;
    for (;;) {
      try {
        const ack = await this.#o.js.publish(subject, payload, { msgID, timeout: this.#o.publishTimeoutMs ?? 5000 });
        if (stallStart > 0) {
          this.stats.stalledMs += performance.now() - stallStart;
          this.#retrying--;
        }
        return ack.duplicate;
      } catch (error) {
        if (this.#closed) return false;
        attempt++;
        this.stats.retries++;
        if (stallStart === 0) {
          stallStart = performance.now();
          if (this.#retrying++ === 0) this.#stallStart = stallStart;
        }
        this.#o.onRetry?.(subject, error, attempt);
        await new Promise((resolve) => setTimeout(resolve, Math.min(this.#o.retryDelayMs ?? 250, 250 * attempt)));
      }
    }
  }
}
