/** `klagg backfill` and `klagg run` as a user runs them: child processes against a fake exchange in another process. */
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { KlineStore } from '../../src/infra/db/kline-store.ts';
import { openDatabase } from '../../src/infra/db/open-database.ts';
import { SymbolStore } from '../../src/infra/db/symbol-store.ts';
import { XRPETH_TRADES } from '../support/fixtures.ts';
import { createTestDatabase } from '../support/postgres.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

async function fakeExchange(t: Test, args: string[] = ['--symbols', '4', '--rate', '40', '--seed', '2']): Promise<{ restUrl: string; wsUrl: string }> {
  const child = spawn(process.execPath, [MAIN, 'fake-exchange', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(async () => {
    child.kill('SIGTERM');
    await once(child, 'exit');
  });
  return new Promise((resolve) => createInterface({ input: child.stdout! }).once('line', (line) => resolve(JSON.parse(line) as { restUrl: string; wsUrl: string })));
}

function klagg(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KLAGG_LOG_LEVEL: 'warn', ...env } });
}

async function rows(url: string): Promise<number> {
  const handle = await openDatabase({ url });
  try {
    return await new KlineStore(handle.db).count('binance', 'usdm');
  } finally {
    await handle.close();
  }
}

t.test('klagg run: live klines into the database; SIGTERM stops it in order with exit 0', async (t) => {
  const exchange = await fakeExchange(t);
  const database = await createTestDatabase('klagg_run');
  t.teardown(() => database.drop());
  const child = klagg(['run', '--rest-url', exchange.restUrl, '--ws-url', exchange.wsUrl, '--database-url', database.url, '--port', '0'], { KLAGG_LOG_LEVEL: 'info' });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  for (let i = 0; i < 200 && !stderr.includes('klagg is running'); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  t.match(stderr, /klagg is running/);
  await new Promise((resolve) => setTimeout(resolve, 2_500));
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number];
  t.equal(code, 0, 'exit 0 after SIGTERM');
  t.ok((await rows(database.url)) > 0, 'klines were stored');
  const handle = await openDatabase({ url: database.url });
  const symbols = await new SymbolStore(handle.db).list('binance', 'usdm').finally(() => handle.close());
  t.equal(symbols.length, 4, 'the symbols table has every symbol');
  t.ok(symbols.every((row) => row.lifecycleState === 'Active' && row.status === 'TRADING' && row.tickSize !== ''), 'Active, with the exchange facts');
});

t.test('klagg run serves while its symbols are activated: /health says degraded (startup) until then, ok after', async (t) => {
  const exchange = await fakeExchange(t);
  // The cold joins' trade reads answer 4 s late: the start takes seconds, as one waiting for REST weight does.
  const fault = await fetch(`${exchange.restUrl}/_fake/faults`, { method: 'POST', body: JSON.stringify({ type: 'slowRest', ms: 4_000, count: 8, path: '/fapi/v1/aggTrades' }) });
  t.equal(fault.status, 200, 'fault injected');
  const database = await createTestDatabase('klagg_run_serving');
  t.teardown(() => database.drop());
  const child = klagg(['run', '--rest-url', exchange.restUrl, '--ws-url', exchange.wsUrl, '--database-url', database.url, '--port', '0'], { KLAGG_LOG_LEVEL: 'info' });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const serving = () => stderr.split('\n').find((line) => line.includes('serving while the symbols are activated'));
  for (let i = 0; i < 200 && serving() === undefined; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  const url = (JSON.parse(serving()!) as { url: string }).url;
  type Health = { status: string; actors: { actor: string; status: string; detail: string }[] };
  const during = (await (await fetch(`${url}/health`)).json()) as Health;
  t.notMatch(stderr, /klagg is running/, 'asked while the start is still under way');
  t.equal(during.status, 'degraded', '/health answers during the start, degraded');
  t.match(during.actors.find((a) => a.actor === 'startup'), { status: 'degraded', detail: /activating the symbols/ });
  for (let i = 0; i < 400 && !stderr.includes('klagg is running'); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  t.match(stderr, /klagg is running/);
  const after = (await (await fetch(`${url}/health`)).json()) as Health;
  t.match(after.actors.find((a) => a.actor === 'startup'), { status: 'ok', detail: /every symbol activated in \d+\.\d s/ }, 'ok once every symbol is activated');
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number];
  t.equal(code, 0, 'exit 0 after SIGTERM');
});

t.test('klagg backfill: full daily history into the database, exit 0, nothing fetched again on a second run', async (t) => {
  // The real XRPETH recording is the exchange's history (its clock stands at the last trade, 2019-10-13 11:19).
  const exchange = await fakeExchange(t, ['--replay', XRPETH_TRADES, '--speed', 'max']);
  const database = await createTestDatabase('klagg_backfill');
  t.teardown(() => database.drop());
  const summaryOf = async (args: string[]): Promise<{ code: number; summary: Record<string, number> }> => {
    const child = klagg(['backfill', '--rest-url', exchange.restUrl, '--database-url', database.url, ...args], { KLAGG_LOG_LEVEL: 'info' });
    let log = '';
    child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number];
    const line = log.split('\n').reverse().find((l) => l.includes('"backfill finished"') && l.includes('"rest"'));
    return { code, summary: JSON.parse(line ?? '{}') as Record<string, number> };
  };
  const first = await summaryOf(['--intervals', '1d']);
  const served = (await (await fetch(`${exchange.restUrl}/fapi/v1/klines?symbol=XRPETH&interval=1d&limit=1500`)).json()) as unknown[][];
  const serverTime = ((await (await fetch(`${exchange.restUrl}/fapi/v1/time`)).json()) as { serverTime: number }).serverTime;
  const closed = served.filter((row) => (row[6] as number) < serverTime);
  t.equal(first.code, 0);
  t.equal(closed.length, 2, 'the exchange has two closed days (the third is still open on its clock)');
  t.equal(first.summary['klinesWritten'], closed.length, 'exactly the closed daily klines written — the open day is left to the live engine');
  const stored = await rows(database.url);
  t.equal(stored, first.summary['klinesWritten'], 'all of them stored');
  const second = await summaryOf(['--intervals', '1d']);
  t.equal(second.code, 0);
  t.equal(second.summary['klinesFetched'], 0, 'a second run downloads nothing it has');
  t.equal(await rows(database.url), stored);

  const bad = klagg(['backfill', '--rest-url', exchange.restUrl, '--database-url', database.url, '--symbols', 'NOPEUSDT']);
  let badErr = '';
  bad.stderr!.on('data', (chunk: Buffer) => (badErr += chunk.toString()));
  const [badCode] = (await once(bad, 'exit')) as [number];
  t.not(badCode, 0);
  t.match(badErr, /unknown symbols: NOPEUSDT/);
});
