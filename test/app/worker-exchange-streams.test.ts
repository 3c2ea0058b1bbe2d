/**
 * Per-worker I/O, seen from outside: with worker threads each thread opens the exchange connections of its own
 * symbols, and the main thread routes no trade frame — yet the connection machines show in the inspector, the threads'
 * log lines come out of the service's logger, reconnects and lag count in the service's view of its streams.
 */
import t from 'tap';
import { pino } from 'pino';
import { KlineStore } from '../../src/infra/db/kline-store.ts';
import { openDatabase } from '../../src/infra/db/open-database.ts';
import { FakeExchange } from '../../src/infra/fake-exchange/fake-exchange.ts';
import { InspectorHub } from '../../src/infra/inspector/inspector-hub.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { serviceOn } from '../support/system.ts';

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test('worker threads own their connections: no trade frame on the main thread; machines, logs, reconnects and lag still visible', async (t) => {
  const database = await createTestDatabase('klagg_worker_streams');
  const exchange = await FakeExchange.start({ source: { kind: 'generated', symbols: 8, rate: 200, seed: 4, quietPeriods: false } });
  const handle = await openDatabase({ url: database.url });
  t.teardown(async () => {
    await exchange.close();
    await handle.close();
    await database.drop();
  });
  const lines: { level: number; msg: string; worker?: number; actor?: string }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const hub = new InspectorHub({ throttleMs: 0 });
  const service = serviceOn(exchange, { intervals: ['1m'], store: new KlineStore(handle.db), logger, system: { threads: true, workers: 2, inspect: hub.inspect } });
  await service.start();
  const appliedNow = async () => (await Promise.all(service.system.workers.map((worker) => worker.stats()))).reduce((sum, stats) => sum + stats.applied, 0);
  for (let i = 0; i < 100 && (await appliedNow()) < 50; i++) await wait(100);
  await wait(500); // one more stream report (every 250 ms) after the frames counted

  const owned = service.system.workers.map((worker) => worker.streams?.report?.stats);
  t.ok(owned.every((stats) => stats !== undefined && stats.connections >= 1), `each worker thread has its own connection (${owned.map((s) => s?.connections).join(', ')})`);
  t.equal(owned.reduce((sum, stats) => sum + (stats?.streams ?? 0), 0), 8, 'the threads carry the 8 trade streams between them');
  t.equal(service.streams.assignment.flat().filter((stream) => stream.endsWith('@aggTrade')).length, 0, 'the main thread carries no trade stream');
  t.equal(service.system.counters.framesRouted, 0, 'the main thread routed no trade frame');
  const applied = await appliedNow();
  t.ok(applied >= 50, `the threads aggregated their own frames (${applied} trades)`);
  const reports = service.system.workers.map((worker) => worker.streams!.report!);
  const threadFrames = reports.reduce((sum, report) => sum + report.stats.frames, 0);
  const threadSamples = reports.reduce((sum, report) => sum + report.histogram.count, 0);
  t.ok(threadFrames > 0 && threadSamples === threadFrames, `lag measured on every trade frame in the threads (${threadSamples} samples, ${threadFrames} frames)`);
  t.equal(service.exchangeStreams.lagHistogram().count, service.streams.lagHistogram().count + threadSamples, 'the service view sums every thread');

  const connections = hub.snapshot().actors.filter((actor) => actor.machine === 'streamConnection');
  for (const worker of [0, 1]) {
    const own = connections.filter((actor) => actor.id.startsWith(`worker-${worker}/`));
    t.ok(own.length >= 1, `worker ${worker}'s connection machine is in the inspector (${own.map((a) => a.id).join(', ')})`);
    t.same(own[0]?.state, { live: 'open' }, `and shows its live state`);
  }

  exchange.faults.inject({ type: 'dropConnections' });
  for (let i = 0; i < 100 && service.exchangeStreams.stats.reconnects < 3; i++) await wait(50);
  t.ok(service.exchangeStreams.stats.reconnects >= 3, `every connection's loss counted, the threads' included (${service.exchangeStreams.stats.reconnects})`);
  const relayed = lines.filter((line) => line.msg === 'stream connection lost; reconnecting' && line.worker !== undefined);
  t.ok(relayed.length >= 2, `the threads' warnings came out of the service's logger, with their worker (${relayed.map((l) => l.worker).join(', ')})`);
  t.equal(relayed[0]?.level, 40, 'at their level (warn)');
  const before = applied;
  await wait(1_500);
  const after = await appliedNow();
  t.ok(after > before, `trades flow again after the reconnect (${after - before} more)`);
  t.equal(await service.stop('test done'), 0);
});
