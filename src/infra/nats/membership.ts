/**
 * Liveness on Core NATS: every aggregator publishes a heartbeat (`hb.agg.<node>`: what it owns, its lag) every
 * `intervalMs`; the coordinator listens. Core subjects keep detection independent of JetStream's Raft elections
 * (scale-out.md §3.2): a stream leader's election does not make every node look dead.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { ClusterNames } from './cluster-layout.ts';

export interface Heartbeat {
  readonly node: string;
  readonly owned: readonly number[];
  /** Messages behind the log's head, summed over owned partitions. */
  readonly lag: number;
  readonly at: number;
}

export class Membership {
  readonly #nc: NatsConnection;
  readonly #names: ClusterNames;
  readonly #role: string;
  #subscription: Subscription | null = null;

  constructor(nc: NatsConnection, names: ClusterNames, role = 'agg') {
    this.#nc = nc;
    this.#names = names;
    this.#role = role;
  }

  beat(heartbeat: Heartbeat): void {
    if (this.#nc.isClosed()) return;
    try {
      this.#nc.publish(this.#names.heartbeatSubject(this.#role, heartbeat.node), JSON.stringify(heartbeat));
    } catch {
      // Disconnected: the next beat goes out once the client has reconnected (missed beats are what detection is for).
    }
  }

  listen(onBeat: (heartbeat: Heartbeat) => void): void {
    this.#subscription = this.#nc.subscribe(this.#names.heartbeatWildcard(this.#role), {
      callback: (error, msg) => {
        if (error) return;
        try {
          onBeat(msg.json<Heartbeat>());
        } catch {
          // A malformed heartbeat is nobody's: ignore it.
        }
      },
    });
  }

  close(): void {
    this.#subscription?.unsubscribe();
    this.#subscription = null;
  }
}
