/** The restart scenario, run with the workers in this thread and in worker threads (one test file each).
 *
 * Exact through a crash: `klagg run` (a child process, the shared clock finalizing as in production) is SIGKILLed
 * inside a 5m period and started again 30 s later on the same database. Before anything is finalized it repairs the
 * range between its stored position and the live stream, so the trades it missed land in their periods: every stored
 * 1m, 5m and 1h kline equals what the exchange aggregated, and no trade is dropped as late.
 */
import type { Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { openTimeOf } from '../../src/domain/interval.ts';
import { OffsetClock, systemClock } from '../../src/infra/clock.ts';
import { KlineStore } from '../../src/infra/db/kline-store.ts';
import { openDatabase } from '../../src/infra/db/open-database.ts';
import { FakeExchange } from '../../src/infra/fake-exchange/fake-exchange.ts';
import { createTestDatabase } from './postgres.ts';
import { MINUTE, values } from './realtime.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const INTERVALS = ['1m', '5m', '1h'] as const;


/** Runs the scenario; `threads`: the workers in worker threads, each owning its symbols' exchange connections. */
export async function sigkillAndRestart(t: Test, threads: boolean): Promise<void> {
  const period = Date.UTC(2026, 2, 3, 16, 25); // a 5m period opening 16:25
  const clock = new OffsetClock(systemClock);
  clock.setOffset(period + 3 * MINUTE + 20_000 - Date.now());
  const until = async (time: number) => {
    while (clock.now() < time) await new Promise((resolve) => setTimeout(resolve, Math.min(250, Math.max(5, time - clock.now()))));
  };
  const exchange = await FakeExchange.start({
    source: { kind: 'generated', symbols: 2, rate: 6, seed: 3, quietPeriods: false, startTime: period - 10 * MINUTE },
    clock,
    weightLimit: 24_000,
  });
  const database = await createTestDatabase('klagg_restart');
  t.teardown(async () => {
    await exchange.close();
    await database.drop();
  });
  const env = { ...process.env, KLAGG_LOG_LEVEL: 'info', KLAGG_INTERVALS: INTERVALS.join(','), KLAGG_WORKERS__THREADS: String(threads) };
  const args = ['run', '--rest-url', exchange.restUrl, '--ws-url', exchange.wsUrl, '--database-url', database.url, '--port', '0'];
  const start = async (): Promise<{ child: ChildProcess; log: () => string }> => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let log = '';
    child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    child.stdout!.resume();
    for (let i = 0; i < 400 && !log.includes('klagg is running'); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    return { child, log: () => log };
  };

  const first = await start();
  t.match(first.log(), /klagg is running/, 'klagg runs');
  const joinedAt = clock.now();
  await until(period + 3 * MINUTE + 40_000);
  first.child.kill('SIGKILL');
  await once(first.child, 'exit');
  const killedAt = clock.now();
  t.ok(killedAt > period && killedAt < period + 5 * MINUTE, 'killed inside the 5m period');

  await new Promise((resolve) => setTimeout(resolve, 30_000));
  const second = await start();
  t.match(second.log(), /klagg is running/, 'klagg runs again on the same database');
  await until(period + 5 * MINUTE + 6_000); // the 5m period has closed (and its grace passed)
  // Publishing stops; klagg takes in what is on its way and stores everything on SIGTERM.
  exchange.market.stop();
  const end = clock.now();
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  const url = (JSON.parse(second.log().split('\n').find((line) => line.includes('klagg is running'))!) as { url: string }).url;
  const metrics = await (await fetch(`${url}/metrics`)).text();
  const metric = (name: string) => Number(new RegExp(`^klagg_${name} (\\d+)`, 'm').exec(metrics)?.[1] ?? NaN);
  t.equal(metric('trades_late_total'), 0, 'zero trades dropped as late');
  t.ok(metric('catch_ups_total') >= 1, `the restart caught up from its stored position (${metric('catch_ups_total')} catch-ups)`);
  second.child.kill('SIGTERM');
  const [code] = (await once(second.child, 'exit')) as [number];
  t.equal(code, 0, 'stopped in order');
  t.notMatch(second.log(), /"level":50/, 'no error logged');

  const handle = await openDatabase({ url: database.url });
  t.teardown(() => handle.close());
  const store = new KlineStore(handle.db);
  for (const symbol of exchange.market.symbols().map((s) => s.symbol)) {
    for (const interval of INTERVALS) {
      const from = openTimeOf(interval, joinedAt);
      const truth = exchange.market.klines(symbol, interval, { startTime: from, endTime: end, limit: 10_000 });
      const stored = new Map((await store.range('binance', 'usdm', symbol, interval, { startTime: from, limit: 10_000 })).map((k) => [k.openTime, k]));
      let differ = 0;
      for (const want of truth) {
        const got = stored.get(want.openTime);
        const closed = want.closeTime < end;
        if (got === undefined || (closed && !got.isFinal) || values(got) !== values(want)) {
          differ++;
          if (differ <= 3) t.fail(`${symbol} ${interval} ${new Date(want.openTime).toISOString()} differs`, { stored: got, exchange: want });
        }
      }
      t.equal(differ, 0, `${symbol} ${interval}: ${truth.length} klines stored equal to the exchange's (the killed period included)`);
    }
  }
  const killedPeriod = exchange.market.klines(exchange.market.symbols()[0]!.symbol, '5m', { startTime: period, endTime: period, limit: 1 })[0];
  t.ok(killedPeriod && killedPeriod.tradeCount > 0, `the 5m period of the kill had trades (${killedPeriod?.tradeCount})`);
}
