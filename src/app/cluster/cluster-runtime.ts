/**
 * What every cluster role starts with: a NATS connection (to every listed server, reconnecting for ever: a lost
 * server or an election must not end the process), the cluster's names, and the streams and buckets, created or
 * checked. A server that cannot be reached at the start is a start failure (one line, exit 1), not a retry loop.
 */
import { hostname } from 'node:os';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { KlaggError } from '../../domain/errors.ts';
import { ClusterNames, DEFAULT_LAYOUT, type ClusterLayout } from '../../infra/nats/cluster-layout.ts';
import { checkCapabilities, requireCapabilities } from '../../infra/nats/capabilities.ts';
import { ensureTopology, type ClusterBuckets } from '../../infra/nats/topology.ts';
import type { KlaggConfig } from '../../infra/config/schema.ts';
import type { Logger } from '../../infra/logger.ts';

export interface ClusterRuntime {
  readonly node: string;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly names: ClusterNames;
  readonly buckets: ClusterBuckets;
  readonly serverVersion: string;
  close(): Promise<void>;
}

export function layoutOf(config: KlaggConfig): ClusterLayout {
  const c = config.cluster;
  return { ...DEFAULT_LAYOUT, namespace: c.namespace, partitions: c.partitions, tradeStreams: c.tradeStreams, klineStreams: c.klineStreams, replicas: c.replicas };
}

export function serversOf(config: KlaggConfig): string[] {
  return config.cluster.servers.split(',').map((s) => s.trim()).filter(Boolean);
}

/**
 * Connects to the listed servers only (`ignoreClusterUpdates`): list every member of a NATS cluster in
 * `cluster.servers`; a process must not route around the addresses it was given (a proxy, a firewall rule).
 */
export async function openCluster(config: KlaggConfig, role: string, logger: Logger): Promise<ClusterRuntime> {
  const node = config.cluster.node ?? `${role}-${hostname().replace(/[^A-Za-z0-9_-]/g, '_')}-${process.pid}`;
  const servers = serversOf(config);
  let nc: NatsConnection;
  try {
    nc = await connect({ servers, name: `klagg-${node}`, maxReconnectAttempts: -1, reconnectTimeWait: 250, pingInterval: 2000, maxPingOut: 3, ignoreClusterUpdates: true });
  } catch (error) {
    throw new KlaggError('KLAGG_ERR_START_NATS_UNREACHABLE', { servers: servers.join(','), reason: (error as Error)?.message ?? String(error) });
  }
  const log = logger.child({ component: 'nats' });
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'reconnect') log.warn({ status: status.type, server: (status as { server?: string }).server }, `NATS ${status.type}`);
    }
  })().catch(() => undefined);
  try {
    // Only what 2.9 offers is used; a server without JetStream cannot run a cluster role at all.
    const capabilities = await checkCapabilities(nc);
    requireCapabilities(capabilities, ['jetstream']);
    const serverVersion = capabilities.version;
    const names = new ClusterNames(layoutOf(config));
    const buckets = await ensureTopology(nc, names, { coordinatorLeaseMs: config.cluster.coordinatorLeaseMs });
    const js = jetstream(nc);
    log.info({ node, servers, serverVersion, partitions: names.layout.partitions, replicas: names.layout.replicas }, 'connected to NATS');
    return { node, nc, js, names, buckets, serverVersion, close: async () => void (await nc.drain().catch(() => nc.close())) };
  } catch (error) {
    await nc.close();
    throw error;
  }
}
