/**
 * The cluster through the fault schedule (issue: beyond one machine), every fault on a running cluster — separate
 * processes on a 3-node NATS cluster with R3 streams, a recording of 330 symbols paced over about a minute:
 * SIGKILL an aggregator (and restart it); SIGSTOP one for longer than its lease, then SIGCONT (a zombie); kill one
 * ingest; kill the NATS server leading a trade stream and restart it; stop PostgreSQL for 20 s; cut an aggregator's
 * NATS link for 12 s. Then: the stored klines equal `klagg replay --system` of the same trades row for row (so no trade
 * is lost or doubled — checked again as raw trade counts per symbol), and no stream client ever saw a kline version
 * go backwards; every final a client received equals the oracle's.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DEFAULT_INTERVALS } from '../../src/domain/interval.ts';
import { canonicalDecimal } from '../support/fixtures.ts';
import { writeGeneratedRecording } from '../support/generated-recording.ts';
import { KlaggCluster, oracleRows, rowDifferences } from '../support/klagg-cluster.ts';
import { startNatsCluster } from '../support/nats-cluster.ts';
import { PrivatePostgres } from '../support/private-postgres.ts';
import { allStoredKlines } from '../support/stored-klines.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { WsClient } from '../support/ws-client.ts';

t.setTimeout(420_000);

t.test('a cluster through the fault schedule', async (t) => {
  const NS = 'faults';
  const intervals = DEFAULT_INTERVALS;
  const dir = mkdtempSync(join(tmpdir(), 'klagg-cluster-faults-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const recording = await writeGeneratedRecording(join(dir, 'market.jsonl'), { seed: 23, symbols: 330, trades: 110_000, meanRatePerSecond: 400 });
  const RATE = 1_800; // trades/s: the recording takes about a minute to publish, so every fault lands mid-stream

  const nats = await startNatsCluster({ size: 3 });
  t.teardown(() => nats.stop());
  const postgres = await PrivatePostgres.start();
  t.teardown(() => postgres.close());
  const databaseUrl = await postgres.createDatabase('klagg_faults');
  const oracle = await oracleRows(recording.path, intervals);
  t.teardown(() => oracle.db.drop());

  // Every aggregator reaches each NATS server through a proxy of its own, so its link alone can be cut.
  const proxies = new Map<string, TcpProxy[]>();
  for (const node of ['agg-a', 'agg-b', 'agg-c']) {
    const own = await Promise.all(nats.urls.map((url) => TcpProxy.forUrl(url)));
    proxies.set(node, own);
    t.teardown(() => Promise.all(own.map((p) => p.close())));
  }
  const proxiedUrls = (node: string): string[] => proxies.get(node)!.map((p, i) => p.url(nats.urls[i]!));

  const cluster = new KlaggCluster({
    natsUrls: nats.urls,
    namespace: NS,
    partitions: 16,
    tradeStreams: 4,
    klineStreams: 2,
    replicas: 3,
    intervals,
    env: { KLAGG_CLUSTER__CHECKPOINT_EVERY_MS: '2000', KLAGG_CLUSTER__DEAD_AFTER_MS: '3000', KLAGG_CLUSTER__HEARTBEAT_MS: '500', KLAGG_CLUSTER__COORDINATOR_LEASE_MS: '6000' },
  });
  t.teardown(() => cluster.stop());

  const log = (what: string): void => void process.stderr.write(`# ${new Date().toISOString().slice(11, 23)} ${what}\n`);
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  const aggregators = new Map(await Promise.all(['agg-a', 'agg-b', 'agg-c'].map(async (node) => [node, await cluster.startAggregator(node, proxiedUrls(node))] as const)));
  const [, , serve] = await Promise.all([cluster.startWriter('writer-1', databaseUrl), cluster.startWriter('writer-2', databaseUrl), cluster.startServe('serve-1', databaseUrl)]);

  // Stream clients: the 1m klines of 40 symbols, all the time.
  const symbols = [...new Set(readFileSync(recording.path, 'utf8').split('\n', 20_000).filter(Boolean).map((line) => (JSON.parse(line) as { s: string }).s))].sort().slice(0, 40);
  const streamsPath = `/market/stream?streams=${symbols.map((s) => `${s.toLowerCase()}@kline_1m`).join('/')}`;
  const wsBase = KlaggCluster.serveUrl(serve).replace('http://', 'ws://');
  const clients = await Promise.all([0, 1].map(() => WsClient.open(`${wsBase}${streamsPath}`)));
  t.teardown(() => clients.forEach((c) => c.close()));

  const ingest1 = await cluster.startIngest('ingest-1', recording.path, { rate: RATE });
  const ingest2 = await cluster.startIngest('ingest-2', recording.path, { rate: RATE });
  const started = Date.now();
  /** The first of `nodes` whose /health says it does not coordinate now. */
  const notCoordinating = async (nodes: string[]): Promise<string> => {
    for (const node of nodes) {
      const url = `${KlaggCluster.roleUrl(aggregators.get(node)!, 'aggregate')}/health`;
      const health = (await (await fetch(url)).json()) as { checks: { name: string; detail: string }[] };
      if (health.checks.find((c) => c.name === 'coordinator')?.detail !== 'this node coordinates') return node;
    }
    return nodes[0]!;
  };
  const at = async (second: number): Promise<void> => sleep(Math.max(0, started + second * 1000 - Date.now()));

  await at(6);
  log('SIGKILL agg-a');
  aggregators.get('agg-a')!.kill('SIGKILL');
  await at(12);
  log('restart agg-a');
  aggregators.set('agg-a', await cluster.startAggregator('agg-a', proxiedUrls('agg-a')));
  await at(16);
  // A paused or cut coordinator only delays reassignment (its lease must expire first); the faults that must fence
  // an owner go to aggregators that do not coordinate at that moment.
  const paused = await notCoordinating([...aggregators.keys()]);
  log(`SIGSTOP ${paused} for 8 s`);
  aggregators.get(paused)!.kill('SIGSTOP');
  await at(24);
  log(`SIGCONT ${paused}`);
  aggregators.get(paused)!.kill('SIGCONT');
  await at(28);
  log('SIGKILL ingest-1');
  ingest1.kill('SIGKILL');
  await at(31);
  const leader = await nats.streamLeader(`${NS.toUpperCase()}_TRADES_00`);
  t.ok(leader, 'a server leads the trade stream');
  log(`SIGKILL ${leader!.name}, the leader of ${NS.toUpperCase()}_TRADES_00`);
  leader!.kill('SIGKILL');
  await at(36);
  log('stop PostgreSQL for 20 s');
  await postgres.stopServer();
  await at(41);
  log(`restart ${leader!.name}`);
  await leader!.restart();
  await at(44);
  const cut = await notCoordinating([...aggregators.keys()].filter((node) => node !== paused));
  log(`cut ${cut} from NATS for 12 s`);
  for (const proxy of proxies.get(cut)!) proxy.cut(12_000);
  await at(56);
  log('start PostgreSQL');
  await postgres.startServer();

  await ingest2.waitForLine(/^klagg ingest done: .* end marker sent/, 180_000);
  log('ingest-2 published the whole recording');
  let rows: string[] = [];
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    rows = await allStoredKlines(databaseUrl);
    if (rows.length === oracle.rows.length && rowDifferences(oracle.rows, rows).count === 0) break;
    await sleep(1000);
  }
  log(`stored ${rows.length} klines (oracle ${oracle.rows.length})`);

  t.test('the stored klines equal replay --system of the same trades, row for row', async (t) => {
    const diff = rowDifferences(oracle.rows, rows);
    t.ok(oracle.rows.length > 1000, `the oracle stored ${oracle.rows.length} klines`);
    t.equal(rows.length, oracle.rows.length, 'as many klines as the oracle');
    t.equal(diff.count, 0, `every kline equals the oracle's${diff.count > 0 ? `:\n${diff.examples.join('\n')}` : ''}`);
  });

  t.test('no trade lost, none doubled: raw trades per symbol in the 1m klines equal the recording', async (t) => {
    const expected = new Map<string, number>();
    for (const line of readFileSync(recording.path, 'utf8').split('\n')) {
      if (!line) continue;
      const f = JSON.parse(line) as { s: string; f: number; l: number };
      expected.set(f.s, (expected.get(f.s) ?? 0) + f.l - f.f + 1);
    }
    const stored = new Map<string, number>();
    for (const row of rows) {
      const r = JSON.parse(row) as { symbol: string; interval: string; trade_count: number };
      if (r.interval === '1m') stored.set(r.symbol, (stored.get(r.symbol) ?? 0) + r.trade_count);
    }
    const wrong = [...expected].filter(([symbol, n]) => stored.get(symbol) !== n);
    t.equal(expected.size, recording.symbols, `${expected.size} symbols traded`);
    t.same(wrong.slice(0, 5).map(([s, n]) => `${s}: recorded ${n}, stored ${stored.get(s)}`), [], 'every symbol has exactly its recorded raw trades');
  });

  t.test('no stream client ever saw a kline version go backwards; every final it got is the oracle’s', async (t) => {
    const oracleFinals = new Map<string, { open: string; high: string; low: string; close: string; volume: string; trade_count: number }>();
    for (const row of oracle.rows) {
      const r = JSON.parse(row) as { symbol: string; interval: string; open_time: number; is_final: boolean; open: string; high: string; low: string; close: string; volume: string; trade_count: number };
      if (r.interval === '1m' && r.is_final) oracleFinals.set(`${r.symbol} ${r.open_time}`, r);
    }
    for (const [index, client] of clients.entries()) {
      const events = client.events().map((m: { data?: unknown }) => m.data ?? m).filter((e: { e?: string }) => e.e === 'kline') as { s: string; k: { t: number; x: boolean; n: number; L: number; o: string; h: string; l: string; c: string; v: string } }[];
      t.ok(events.length > 200, `client ${index} received ${events.length} kline events`);
      const last = new Map<string, { t: number; x: boolean; n: number; L: number }>();
      const backwards: string[] = [];
      const wrongFinals: string[] = [];
      let finals = 0;
      for (const { s, k } of events) {
        const before = last.get(s);
        if (before !== undefined) {
          const older = k.t < before.t || (k.t === before.t && before.x && !k.x) || (k.t === before.t && !k.x && !before.x && k.L < before.L);
          if (older) backwards.push(`${s} ${JSON.stringify(before)} then ${JSON.stringify({ t: k.t, x: k.x, n: k.n, L: k.L })}`);
        }
        last.set(s, { t: k.t, x: k.x, n: k.n, L: k.L });
        if (k.x) {
          finals++;
          const want = oracleFinals.get(`${s} ${k.t}`);
          const same = want && canonicalDecimal(want.open) === canonicalDecimal(k.o) && canonicalDecimal(want.high) === canonicalDecimal(k.h) && canonicalDecimal(want.low) === canonicalDecimal(k.l) && canonicalDecimal(want.close) === canonicalDecimal(k.c) && canonicalDecimal(want.volume) === canonicalDecimal(k.v) && want.trade_count === k.n;
          if (!same) wrongFinals.push(`${s} ${k.t}: got ${JSON.stringify(k)}, oracle ${JSON.stringify(want)}`);
        }
      }
      t.same(backwards.slice(0, 5), [], `client ${index}: no version went backwards`);
      t.ok(finals > 50, `client ${index} received ${finals} finals`);
      t.same(wrongFinals.slice(0, 5), [], `client ${index}: every final equals the oracle's`);
    }
  });

  t.test('the faults happened and were handled', async (t) => {
    const text = (name: string): string => readFileSync(cluster.processes.filter((p) => p.name === name).at(-1)!.logPath, 'utf8');
    const aggregatorLogs = cluster.processes.filter((p) => p.name.startsWith('agg-')).map((p) => readFileSync(p.logPath, 'utf8')).join('\n');
    t.match(aggregatorLogs, /"why":"owner-dead"/, 'a dead aggregator’s partitions were given to survivors');
    t.match(text(paused), /partition fenced/, `the paused aggregator (${paused}) was fenced when it resumed`);
    t.match(text(cut), /partition fenced/, `the aggregator cut from NATS (${cut}) was fenced when it came back`);
    const writerLogs = ['writer-1', 'writer-2'].map(text).join('\n');
    t.match(writerLogs, /storing klines failed/, 'the writers saw PostgreSQL down');
    t.match(writerLogs, /storing klines works again/, 'and stored again once it was back');
  });
});
