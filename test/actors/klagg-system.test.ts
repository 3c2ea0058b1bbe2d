import t from 'tap';
import type { KlaggSystem } from '../../src/actors/klagg-system.ts';
import type { KlaggSystemOptions } from '../../src/actors/klagg-system-options.ts';
import { reportHealth } from '../../src/actors/health-board.ts';
import { KlineEngine } from '../../src/domain/kline-engine.ts';
import { FrameIngest } from '../../src/domain/frame-ingest.ts';
import type { Kline } from '../../src/domain/kline.ts';
import type { IntervalName } from '../../src/domain/interval.ts';
import { readTradeFrames } from '../support/fixtures.ts';
import { MemorySink } from '../support/memory-sink.ts';
import { startSystem } from '../support/system.ts';

const frames = readTradeFrames();
const SCALES = { priceScale: 8, qtyScale: 8 };
const INTERVALS: IntervalName[] = ['1m', '1h'];

function newSystem(sink: MemorySink, overrides: Partial<KlaggSystemOptions> = {}): KlaggSystem {
  return startSystem({ sink, intervals: INTERVALS, ...overrides });
}

/** The klines one plain engine makes of the frames: the reference the actor system must equal. */
function reference(from: readonly Buffer[], finish: boolean): { finals: Kline[]; open: Kline[] } {
  const finals: Kline[] = [];
  const ingest = new FrameIngest(new KlineEngine({ intervals: INTERVALS, graceMs: 1000 }, { onFinal: (k) => finals.push(k) }), () => SCALES);
  for (const frame of from) {
    ingest.ingest(frame);
    ingest.engine.advanceTo(ingest.trade.tradeTime);
  }
  const open = ingest.engine.openKlines();
  if (finish) ingest.engine.finish();
  return { finals, open };
}

const byKey = (a: Kline, b: Kline) => a.interval.localeCompare(b.interval) || a.openTime - b.openTime;

async function feed(system: KlaggSystem, list: readonly Buffer[]): Promise<void> {
  let i = 0;
  for (const frame of list) {
    system.ingestFrame(frame);
    if (++i % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
}

for (const threads of [false, true]) t.test(`activation: subscribe only after the ack, from the position of the initial data — nothing lost, nothing twice${threads ? ' (worker threads)' : ''}`, async (t) => {
  const split = 5_000;
  const before = reference(frames.slice(0, split), false);
  const subscriptions: [string, number][] = [];
  const sink = new MemorySink();
  const system = newSystem(sink, { threads, tradeSource: { subscribe: (symbol, position) => void subscriptions.push([symbol, position]), unsubscribe: () => {} } });
  // Trades arriving before the activation is acked are not aggregated (the symbol is not subscribed yet).
  await feed(system, frames.slice(split, split + 100));
  t.equal(system.counters.framesUnrouted, 100, 'frames for a symbol not yet Active are not routed');
  t.equal(system.symbolState('XRPETH'), undefined);

  system.activate({ symbol: 'XRPETH', scales: SCALES, initialData: before.open });
  await system.whenSubscribed(['XRPETH']);
  t.equal(system.symbolState('XRPETH'), 'Active');
  const position = JSON.parse(frames[split - 1]!.toString()).a as number;
  t.same(subscriptions, [['XRPETH', position]], 'subscribed once, after the ack, from the last id the initial data holds');

  // A real source starts after the position; an overlap (a reconnect, a replayed range) must not count twice.
  await feed(system, frames.slice(split - 50));
  system.finishInput();
  const stats = await Promise.all(system.workers.map((worker) => worker.stats()));
  t.equal(await system.stop('test'), 0);

  const whole = reference(frames, true);
  const stored = sink.klines({ final: true }).sort(byKey);
  const expected = whole.finals.filter((k) => !before.finals.some((b) => b.interval === k.interval && b.openTime === k.openTime)).sort(byKey);
  t.equal(stored.length, expected.length, 'every kline from the activation on is stored');
  t.same(stored, expected, 'identical to one uninterrupted engine: no trade lost or double-counted');
  t.equal(stats.reduce((sum, worker) => sum + worker.duplicates, 0), 50, 'the 50 overlapping trades were dropped as duplicates');
});

for (const threads of [false, true]) t.test(`a failing activation is retried 5 times, then the symbol is Failed; a forced activation revives it${threads ? ' (worker threads)' : ''}`, async (t) => {
  const sink = new MemorySink();
  const system = newSystem(sink, { threads });
  const foreign = reference(frames.slice(0, 10), false).open.map((k) => ({ ...k, symbol: 'OTHERUSDT' }));
  system.activate({ symbol: 'XRPETH', scales: SCALES, initialData: foreign });
  await system.whenSubscribed(['XRPETH']);
  t.equal(system.symbolState('XRPETH'), 'Failed');
  const entry = system.registry.getSnapshot().context.symbols['XRPETH']!;
  t.equal(entry.attempts, 6, 'one attempt and five retries');
  t.match(entry.lastError, /initial data for XRPETH holds a kline of OTHERUSDT/, 'the last error is kept for the API and the inspector');
  t.match(system.counters.dispatcher, { failed: 1, retries: 5, activated: 0 });
  system.ingestFrame(frames[0]!);
  t.equal(system.counters.framesRouted, 0, 'a Failed symbol is not subscribed');

  system.activate({ symbol: 'XRPETH', scales: SCALES, initialData: [] });
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(system.symbolState('XRPETH'), 'Failed', 'an ordinary activation does not leave Failed');
  system.ingestFrame(frames[0]!);
  t.equal(system.counters.framesRouted, 0, 'nor does it subscribe the symbol');

  t.match(system.counters.dispatcher, { failed: 2, retries: 5 }, 'the refusal is final at once: retrying cannot help');
  system.activate({ symbol: 'XRPETH', scales: SCALES, initialData: [], force: true });
  await system.whenSubscribed(['XRPETH']);
  t.equal(system.symbolState('XRPETH'), 'Active', 'forced activation moves Failed → Activating → Active');
  t.equal(system.registry.getSnapshot().context.symbols['XRPETH']!.lastError, null);
  system.ingestFrame(frames[0]!);
  t.equal(system.counters.framesRouted, 1, 'and its trades flow');
  system.activate({ symbol: 'XRPETH', scales: SCALES, initialData: [], force: true });
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(await system.workers[system.workerOf('XRPETH')]!.positionOf('XRPETH'), JSON.parse(frames[0]!.toString()).a, 'activating an Active symbol again does not roll its state back');
  t.equal(await system.stop('test'), 0);
});

for (const threads of [false, true]) t.test(`a worker that stops answering pulls degrades, then errors; its deltas arrive late, none lost${threads ? ' (worker threads)' : ''}`, async (t) => {
  const sink = new MemorySink();
  const published: number[] = [];
  const system = newSystem(sink, { threads, workers: 1 });
  // Watched from the start: a worker thread that boots slowly on a loaded machine misses its first pulls too.
  const reports: string[] = [];
  system.health.subscribe(({ context }) => {
    const entry = context.actors['worker-0'];
    if (entry && reports.at(-1) !== `${entry.status}: ${entry.detail}`) reports.push(`${entry.status}: ${entry.detail}`);
  });
  system.onBatch((batch) => published.push(...batch.finals.map((k) => k.openTime)));
  system.activate({ symbol: 'XRPETH', scales: SCALES, initialData: [] });
  await system.whenSubscribed(['XRPETH']);
  system.stallWorker(0, 4_000); // sixty pull cycles (far fewer on a loaded machine): well past the 5-timeout alert threshold
  await feed(system, frames);
  // Wait (bounded) for the alert and the recovery, rather than guessing how long a loaded machine takes.
  for (let i = 0; i < 600 && !(reports.some((r) => r.startsWith('error')) && reports.at(-1)?.startsWith('ok')); i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  // (A busy worker thread may miss an earlier pull too and recover; what matters is the run of misses in the stall.)
  const alert = reports.findIndex((report) => /^error: no answer to 5 consecutive pull/.test(report));
  t.ok(alert >= 4, `the fifth consecutive miss raises an error (reports: ${JSON.stringify(reports.slice(0, 12))})`);
  t.same(
    reports.slice(alert - 4, alert + 1).map((report) => report.replace(/ within .*/, '')),
    [1, 2, 3, 4].map((n) => `degraded: no answer to ${n} consecutive pull(s)`).concat(['error: no answer to 5 consecutive pull(s)']),
    'four misses degrade the worker first',
  );
  t.ok(system.counters.gateway.timeouts >= 5, `pulls timed out (${system.counters.gateway.timeouts})`);
  t.equal(system.health.getSnapshot().context.actors['worker-0']?.status, 'ok', 'health recovers once the worker answers again');
  t.ok(system.counters.gateway.lateAnswers > 0, 'late answers were merged, not dropped');
  system.finishInput();
  t.equal(await system.stop('test'), 0);
  const expected = reference(frames, true).finals;
  t.equal(new Set(published).size, expected.filter((k) => k.interval === '1m').length, 'every 1m final was published exactly once');
  t.same(sink.klines({ final: true }).sort(byKey), [...expected].sort(byKey), 'and stored');
});

for (const threads of [false, true]) t.test(`orderly shutdown: intake stops, nothing open is finalized, everything is written${threads ? ' (worker threads)' : ''}`, async (t) => {
  const sink = new MemorySink();
  const system = newSystem(sink, { threads, dbWriter: { flushIntervalMs: 1000, maxBatchRows: 1000, backoffInitialMs: 10, backoffMaxMs: 100, maxBufferedRows: 1_000_000 } });
  system.activate({ symbol: 'XRPETH', scales: SCALES, initialData: [] });
  await system.whenSubscribed(['XRPETH']);
  await feed(system, frames.slice(0, 7_000));
  const code = await system.stop('SIGTERM');
  t.equal(code, 0, 'exit code 0');
  t.equal(system.state, 'stopped');
  const half = reference(frames.slice(0, 7_000), false);
  t.same(sink.klines({ final: true }).sort(byKey), [...half.finals].sort(byKey), 'every final kline written');
  t.same(sink.klines({ final: false }).sort(byKey), [...half.open].sort(byKey), 'open klines written as open, not finalized');
});

for (const threads of [false, true]) t.test(`an unrecoverable error reported to the watchdog leads to an orderly shutdown with a non-zero exit${threads ? ' (worker threads)' : ''}`, async (t) => {
  const sink = new MemorySink();
  const system = newSystem(sink, { threads });
  system.activate({ symbol: 'XRPETH', scales: SCALES, initialData: [] });
  await system.whenSubscribed(['XRPETH']);
  await feed(system, frames.slice(0, 3_000));
  reportHealth(system.health, 'exchange', 'error', 'banned by the exchange (418)', Date.now(), true);
  const code = await system.whenStopped();
  t.equal(code, 1, 'non-zero exit');
  t.same(sink.klines({ final: true }).sort(byKey), [...reference(frames.slice(0, 3_000), false).finals].sort(byKey), 'what was final is still written');
});

for (const threads of [false, true]) t.test(`finals at once: a trade that closes a period gets its final published long before the next pull${threads ? ' (worker threads)' : ''}`, async (t) => {
  const sink = new MemorySink();
  // A pull interval far beyond the test: only the workers' "finals ready" can bring a final out.
  const system = newSystem(sink, { threads, gateway: { pullIntervalMs: 600_000, pullTimeoutMs: 5_000, timeoutAlertThreshold: 5 }, tradeSource: { subscribe: () => {}, unsubscribe: () => {} } });
  system.activate({ symbol: 'XRPETH', scales: SCALES, initialData: [] });
  await system.whenSubscribed(['XRPETH']);
  const firstMinute = Math.floor((JSON.parse(frames[0]!.toString()).T as number) / 60_000);
  const closing = frames.findIndex((frame) => Math.floor((JSON.parse(frame.toString()).T as number) / 60_000) > firstMinute);
  await feed(system, frames.slice(0, closing));
  const finals: Kline[] = [];
  system.onBatch((batch) => finals.push(...batch.finals));
  const sent = performance.now();
  system.ingestFrame(frames[closing]!);
  while (finals.length === 0 && performance.now() - sent < 5_000) await new Promise((resolve) => setTimeout(resolve, 1));
  const waited = performance.now() - sent;
  t.equal(finals.length, 1, 'the first minute is published as final');
  t.equal(finals[0]?.openTime, firstMinute * 60_000);
  t.ok(waited < 5_000, `published ${Math.round(waited)} ms after the closing trade, with the next pull 10 minutes away`);
  await system.stop();
});
