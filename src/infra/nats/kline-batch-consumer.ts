/**
 * The writers' side of the durable kline batches: one durable pull consumer (`db`) per kline stream, shared by every
 * writer process (the server hands each fetch's messages to one of them), explicit acks, and redelivery after
 * `ackWaitMs` of anything a crashed writer held (or a fetch lost on the way: short, since a writer that is still
 * storing a batch says so with `working()`). A batch is acknowledged only after its rows are stored.
 */
import { nanos } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstreamManager, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ClusterNames } from './cluster-layout.ts';

export const WRITER_DURABLE = 'db';

export interface FetchedMessages {
  readonly messages: readonly JsMsg[];
}

export class KlineBatchConsumer {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #names: ClusterNames;
  readonly #ackWaitMs: number;

  constructor(nc: NatsConnection, js: JetStreamClient, names: ClusterNames, ackWaitMs = 10_000) {
    this.#nc = nc;
    this.#js = js;
    this.#names = names;
    this.#ackWaitMs = ackWaitMs;
  }

  /** Creates the durable consumers if they do not exist yet (idempotent). */
  async ensure(): Promise<void> {
    const jsm = await jetstreamManager(this.#nc);
    for (let i = 0; i < this.#names.layout.klineStreams; i++) {
      const stream = this.#names.klineStream(i);
      try {
        await jsm.consumers.info(stream, WRITER_DURABLE);
      } catch {
        await jsm.consumers.add(stream, { durable_name: WRITER_DURABLE, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, max_ack_pending: 10_000, ack_wait: nanos(this.#ackWaitMs) });
      }
    }
  }

  /** Up to `max` messages of kline stream `index`, waiting at most `expiresMs` for the first. */
  async fetch(index: number, max: number, expiresMs: number): Promise<JsMsg[]> {
    const consumer = await this.#js.consumers.get(this.#names.klineStream(index), WRITER_DURABLE);
    const iterator = await consumer.fetch({ max_messages: max, expires: expiresMs });
    const result: JsMsg[] = [];
    try {
      for await (const m of iterator) result.push(m);
    } catch (error) {
      // A fetch that fails part-way (missed heartbeats under load) still delivered these: store them now rather than
      // leave them unacknowledged until the server redelivers them after ack_wait.
      if (result.length === 0) throw error;
    }
    return result;
  }

  /** Messages no writer has acknowledged yet, over all kline streams (the writers' backlog). */
  async backlog(): Promise<number> {
    const jsm = await jetstreamManager(this.#nc);
    let pending = 0;
    for (let i = 0; i < this.#names.layout.klineStreams; i++) {
      const info = await jsm.consumers.info(this.#names.klineStream(i), WRITER_DURABLE);
      pending += info.num_pending + info.num_ack_pending;
    }
    return pending;
  }
}
