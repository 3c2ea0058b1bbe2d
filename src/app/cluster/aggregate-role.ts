/**
 * `klagg aggregate`: owns partitions of the trade log (as the coordinator assigns them), aggregates them and
 * publishes their klines — live for the stream servers, durable for the writers — checkpointing as it goes. Any
 * aggregator may become the coordinator. Its HTTP face: /health, /metrics and the inspector (every partition's
 * lifecycle machine).
 */
import client from 'prom-client';
import { AggregatorNode } from '../../actors/cluster/aggregator-node.ts';
import { systemClock } from '../../infra/clock.ts';
import type { KlaggConfig } from '../../infra/config/schema.ts';
import { InspectorHub } from '../../infra/inspector/inspector-hub.ts';
import { InspectorServer } from '../../infra/inspector/inspector-routes.ts';
import type { Logger } from '../../infra/logger.ts';
import { CheckpointStore } from '../../infra/nats/checkpoint-store.ts';
import { CoordinatorLease } from '../../infra/nats/coordinator-lease.ts';
import { KlineBus } from '../../infra/nats/kline-bus.ts';
import { Membership } from '../../infra/nats/membership.ts';
import { OwnershipStore } from '../../infra/nats/ownership-store.ts';
import { PartitionLogReader } from '../../infra/nats/partition-log-reader.ts';
import { RoleServer, type RoleCheck } from '../../infra/http/role-server.ts';
import { KLAGG_MACHINES } from '../../machines/registry.ts';
import type { Lifecycle } from '../lifecycle.ts';
import { openCluster } from './cluster-runtime.ts';

export interface AggregateRoleOptions {
  readonly config: KlaggConfig;
  readonly logger: Logger;
  readonly life: Lifecycle;
  readonly host: string;
  readonly port: number;
}

export async function runAggregateRole({ config, logger, life, host, port }: AggregateRoleOptions): Promise<void> {
  const c = config.cluster;
  const cluster = await life.step(openCluster(config, 'agg', logger));
  life.defer('nats', () => cluster.close());
  const { names, buckets, node } = cluster;
  const inspector = new InspectorHub({ machines: KLAGG_MACHINES });
  const bus = new KlineBus(cluster.nc, cluster.js, names, node);
  const aggregator = new AggregatorNode({
    node,
    venue: config.venue,
    market: config.market,
    intervals: config.intervals,
    graceMs: config.engine.graceMs,
    partitions: names.layout.partitions,
    tickMs: c.tickMs,
    checkpointEveryMs: c.checkpointEveryMs,
    heartbeatMs: c.heartbeatMs,
    reader: new PartitionLogReader(cluster.js, names),
    bus,
    checkpoints: new CheckpointStore(buckets.checkpoints, names),
    ownership: new OwnershipStore(buckets.ownership, names),
    membership: new Membership(cluster.nc, names),
    coordinator: {
      lease: new CoordinatorLease(buckets.coordinator, node),
      deadAfterMs: c.deadAfterMs,
      moveTimeoutMs: c.moveTimeoutMs,
      maxMovesPerRound: 32,
      roundMs: Math.max(100, Math.floor(c.heartbeatMs)),
      renewMs: Math.max(100, Math.floor(c.coordinatorLeaseMs / 4)),
    },
    now: () => systemClock.now(),
    logger: logger.child({ role: 'aggregate', node }),
    inspect: inspector.inspect,
  });
  await life.step(aggregator.start());
  life.defer('aggregator', async () => {
    bus.close();
    await aggregator.close();
  });

  const checks = (): RoleCheck[] => {
    const stats = aggregator.stats().filter((s) => s.state !== 'Released' && s.state !== 'Unassigned');
    const stale = stats.filter((s) => s.state === 'Active' && s.checkpointAgeMs > 3 * c.checkpointEveryMs + 5000);
    const gaps = stats.reduce((n, s) => n + s.gaps, 0);
    const lag = stats.reduce((n, s) => n + s.lag, 0);
    return [
      { name: 'nats', status: cluster.nc.isClosed() ? 'error' : 'ok', detail: cluster.nc.getServer() },
      { name: 'partitions', status: 'ok', detail: `${aggregator.owned().length} owned: ${stats.map((s) => `${s.partition}:${s.state}`).join(' ')}` },
      { name: 'checkpoints', status: stale.length > 0 ? 'degraded' : 'ok', detail: stale.length > 0 ? `${stale.length} partitions with a checkpoint older than ${3 * c.checkpointEveryMs + 5000} ms` : 'fresh' },
      { name: 'trade-log-gaps', status: gaps > 0 ? 'degraded' : 'ok', detail: `${gaps} gaps in trade ids reached the log (accepted; their klines lack those trades)` },
      { name: 'lag', status: lag > 100_000 ? 'degraded' : 'ok', detail: `${lag} messages behind the log` },
      { name: 'coordinator', status: 'ok', detail: aggregator.coordinator.isLeader ? 'this node coordinates' : 'another node coordinates' },
    ];
  };
  const inspectorServer = new InspectorServer(inspector);
  const http = await life.step(
    RoleServer.start({ role: 'aggregate', node, host, port, checks, logger, now: () => systemClock.now(), mounts: [(app) => inspectorServer.mount(app)] }),
  );
  life.defer('http', async () => {
    inspectorServer.close();
    await http.close();
  });
  registerAggregateMetrics(http.registry, aggregator, bus);
  process.stdout.write(`klagg aggregate ready: node ${node}, ${http.url}/health, inspector ${http.url}/inspector\n`);
  await life.whenStopRequested();
}

function registerAggregateMetrics(registry: client.Registry, aggregator: AggregatorNode, bus: KlineBus): void {
  const registers = [registry];
  new client.Gauge({ name: 'klagg_cluster_partitions_owned', help: 'Partitions this aggregator works on', registers, collect() { this.set(aggregator.owned().length); } });
  new client.Gauge({
    name: 'klagg_cluster_checkpoint_age_seconds',
    help: 'Age of the oldest checkpoint among owned partitions',
    registers,
    collect() {
      const ages = aggregator.stats().filter((s) => s.state === 'Active' || s.state === 'Replaying').map((s) => s.checkpointAgeMs);
      this.set(ages.length === 0 ? 0 : Math.max(...ages) / 1000);
    },
  });
  new client.Gauge({ name: 'klagg_cluster_consumer_lag_messages', help: 'Trade-log messages not yet read, over owned partitions', registers, collect() { this.set(aggregator.stats().reduce((n, s) => n + s.lag, 0)); } });
  new client.Gauge({ name: 'klagg_cluster_trades_applied', help: 'Trades applied by the partitions this node holds now', registers, collect() { this.set(aggregator.stats().reduce((n, s) => n + s.applied, 0)); } });
  new client.Gauge({ name: 'klagg_cluster_duplicate_trades', help: 'Duplicate trades dropped (a second ingest, a replay)', registers, collect() { this.set(aggregator.stats().reduce((n, s) => n + s.duplicates, 0)); } });
  new client.Gauge({ name: 'klagg_cluster_trade_gaps', help: 'Gaps in trade ids that reached the log', registers, collect() { this.set(aggregator.stats().reduce((n, s) => n + s.gaps, 0)); } });
  new client.Gauge({ name: 'klagg_cluster_publish_retries', help: 'Durable kline publishes retried (publish stalls)', registers, collect() { this.set(bus.stats.durableRetries); } });
  new client.Gauge({ name: 'klagg_cluster_coordinator', help: '1 while this node holds the coordinator lease', registers, collect() { this.set(aggregator.coordinator.isLeader ? 1 : 0); } });
  new client.Gauge({ name: 'klagg_cluster_failovers', help: 'Partitions this coordinator moved off dead or stuck owners', registers, collect() { this.set(aggregator.coordinator.stats.failovers); } });
}
