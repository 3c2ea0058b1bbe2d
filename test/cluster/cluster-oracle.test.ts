/**
 * The cluster's oracle (issue: beyond one machine): the same recording through 2 ingest + 3 aggregators + 2 writers +
 * 1 stream server — separate processes on a 3-node NATS cluster with R3 streams — stores klines identical, row for
 * row and field for field, to `klagg replay --system` of the same trades. Once with the real XRPETH trades, once with
 * a generated market of more than 300 symbols.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { DEFAULT_INTERVALS } from '../../src/domain/interval.ts';
import { XRPETH_TRADES } from '../support/fixtures.ts';
import { writeGeneratedRecording } from '../support/generated-recording.ts';
import { KlaggCluster, oracleRows, rowDifferences } from '../support/klagg-cluster.ts';
import { startNatsCluster } from '../support/nats-cluster.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { allStoredKlines } from '../support/stored-klines.ts';

t.setTimeout(300_000);

const nats = await startNatsCluster({ size: 3 });
t.teardown(() => nats.stop());
const dir = mkdtempSync(join(tmpdir(), 'klagg-cluster-oracle-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

async function throughCluster(t: Test, namespace: string, input: string): Promise<void> {
  const intervals = DEFAULT_INTERVALS;
  const oracle = await oracleRows(input, intervals);
  t.teardown(() => oracle.db.drop());
  const db = await createTestDatabase(`klagg_${namespace}`);
  t.teardown(() => db.drop());
  const cluster = new KlaggCluster({ natsUrls: nats.urls, namespace, partitions: 16, tradeStreams: 4, klineStreams: 2, replicas: 3, intervals, env: { KLAGG_CLUSTER__CHECKPOINT_EVERY_MS: '2000' } });
  t.teardown(() => cluster.stop());
  const aggregators = await Promise.all(['agg-1', 'agg-2', 'agg-3'].map((node) => cluster.startAggregator(node)));
  await Promise.all([cluster.startWriter('writer-1', db.url), cluster.startWriter('writer-2', db.url), cluster.startServe('serve-1', db.url)]);
  const ingests = await Promise.all([cluster.startIngest('ingest-1', input), cluster.startIngest('ingest-2', input)]);
  for (const ingest of ingests) await ingest.waitForLine(/^klagg ingest done: .* end marker sent/, 120_000);

  let rows: string[] = [];
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    rows = await allStoredKlines(db.url);
    if (rows.length === oracle.rows.length && rowDifferences(oracle.rows, rows).count === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  const diff = rowDifferences(oracle.rows, rows);
  t.ok(oracle.rows.length > 0, `the oracle stored ${oracle.rows.length} klines`);
  t.equal(rows.length, oracle.rows.length, 'as many klines as the oracle');
  t.equal(diff.count, 0, `every kline equals the oracle's, field for field${diff.count > 0 ? `:\n${diff.examples.join('\n')}` : ''}`);

  // Every partition's lifecycle is a machine the aggregators' inspectors show: 16 partitions, each Active somewhere.
  const active = new Set<string>();
  for (const aggregator of aggregators) {
    const base = KlaggCluster.roleUrl(aggregator, 'aggregate');
    const graphs = (await (await fetch(`${base}/inspector/graphs.json`)).json()) as { machines: { id: string }[] };
    t.ok(graphs.machines.some((m) => m.id === 'partition'), `${aggregator.name}'s inspector draws the partition lifecycle`);
    const state = (await (await fetch(`${base}/inspector/state.json`)).json()) as { actors: { id: string; machine: string; state: unknown }[] };
    for (const actor of state.actors) if (actor.machine === 'partition' && actor.state === 'Active') active.add(actor.id);
  }
  t.equal(active.size, 16, 'the inspectors show all 16 partitions Active');
}

t.test('the real XRPETH trades', (t) => throughCluster(t, 'xrpeth', XRPETH_TRADES));

t.test('a generated market of more than 300 symbols', async (t) => {
  const recording = await writeGeneratedRecording(join(dir, 'market.jsonl'), { seed: 11, symbols: 330, trades: 60_000, meanRatePerSecond: 400 });
  t.ok(recording.symbols >= 300, `${recording.symbols} symbols traded`);
  await throughCluster(t, 'market', recording.path);
});
