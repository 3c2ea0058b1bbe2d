/**
 * Reads one partition of the trade log from a position, with an ordered consumer (ephemeral, ack-free; the client
 * recreates it from the last good sequence on a gap or missed heartbeats): the reader keeps its own position in its
 * checkpoint, so it needs nothing durable on the server (scale-out.md §1.3). On a 2.9 server the one filter must be
 * given as a string (measured: the array form is refused).
 */
import { DeliverPolicy, type ConsumerMessages, type JetStreamClient } from '@nats-io/jetstream';
import { END_TOKEN, WATERMARK_TOKEN, type ClusterNames } from './cluster-layout.ts';

export type LogEntryKind = 'trades' | 'watermark' | 'end';

export interface LogEntry {
  /** The stream sequence: the partition's log position. */
  readonly position: number;
  readonly kind: LogEntryKind;
  readonly data: Uint8Array;
  /** Messages of this partition after this one already in the stream (0: caught up). */
  readonly pending: number;
}

export interface PartitionReading {
  /** Stops at a message boundary: after it resolves, the handler is not called again. */
  stop(): Promise<void>;
  /** Resolves when the reading ends (stopped, or failed). */
  readonly done: Promise<void>;
}

export function kindOfSubject(subject: string): LogEntryKind {
  const last = subject.slice(subject.lastIndexOf('.') + 1);
  return last === WATERMARK_TOKEN ? 'watermark' : last === END_TOKEN ? 'end' : 'trades';
}

export class PartitionLogReader {
  readonly #js: JetStreamClient;
  readonly #names: ClusterNames;

  constructor(js: JetStreamClient, names: ClusterNames) {
    this.#js = js;
    this.#names = names;
  }

  /** Reads `partition` from log position `from` (a stream sequence, ≥ 1) on; `handle` runs for each message in order. */
  async open(partition: number, from: number, handle: (entry: LogEntry) => void): Promise<PartitionReading> {
    const consumer = await this.#js.consumers.get(this.#names.tradeStreamOf(partition), {
      filter_subjects: this.#names.partitionFilter(partition),
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: Math.max(1, from),
    });
    // Short pulls: a pull lost with a stream leader (an election, a server restart) is noticed in seconds, not after the
    // default 30 s expiry.
    const messages: ConsumerMessages = await consumer.consume({ max_messages: 2000, expires: 5_000 });
    let stopped = false;
    const done = (async () => {
      for await (const m of messages) {
        if (stopped) break;
        handle({ position: m.seq, kind: kindOfSubject(m.subject), data: m.data, pending: m.info.pending });
      }
    })();
    return {
      done,
      stop: async () => {
        stopped = true;
        await messages.close().catch(() => undefined);
        await done.catch(() => undefined);
      },
    };
  }
}
