/**
 * Starts that cannot complete, as a user meets them: `klagg` child processes against a taken port, an exchange and a
 * database that do not answer, and a Ctrl+C while the service is still starting. Each must end the process within
 * seconds, the failures with exit 1 and one plain line on stderr naming the cause and the fix (no stack trace).
 */
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { FakeExchange } from '../../src/infra/fake-exchange/fake-exchange.ts';
import { createRootLogger } from '../../src/infra/logger.ts';
import { createTestDatabase } from '../support/postgres.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  /** From spawn to exit. */
  readonly ms: number;
}

interface Started {
  readonly child: ChildProcess;
  /** All stderr so far. */
  stderr(): string;
  readonly exit: Promise<Exit>;
}

/** `klagg …` with the machine's KLAGG_ settings removed; killed at teardown if still running. */
function klagg(t: Test, args: readonly string[], env: Record<string, string> = {}): Started {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('KLAGG_') && name !== 'DATABASE_URL'));
  const started = performance.now();
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...base, KLAGG_LOG_LEVEL: 'error', ...env } });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null, stderr, ms: performance.now() - started }));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, stderr: () => stderr, exit };
}

/** A loopback port nothing listens on (taken and released again). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function takenPort(t: Test): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

/** The stderr is exactly one line with this code, naming the fix, and no stack trace. */
function assertOneLine(t: Test, exit: Exit, code: string): string {
  const lines = exit.stderr.split('\n').filter((line) => line !== '');
  t.equal(lines.length, 1, `one line on stderr: ${exit.stderr}`);
  const line = lines[0] ?? '';
  t.match(line, new RegExp(`^${code}: .+ — .+`), 'code: cause — fix');
  t.notMatch(exit.stderr, /\n\s+at /, 'no stack trace');
  return line;
}

t.test('exchange unreachable: exit 1 after its configured retries, one line', async (t) => {
  const database = await createTestDatabase('klagg_start_exchange');
  t.teardown(() => database.drop());
  const port = await closedPort();
  const run = klagg(t, ['run', '--port', '0', '--rest-url', `http://127.0.0.1:${port}`, '--ws-url', `ws://127.0.0.1:${port}`, '--database-url', database.url], {
    KLAGG_EXCHANGE__MAX_RETRIES: '2',
    KLAGG_EXCHANGE__BACKOFF_INITIAL_MS: '20',
  });
  const exit = await run.exit;
  t.equal(exit.code, 1);
  const line = assertOneLine(t, exit, 'KLAGG_ERR_START_EXCHANGE_UNREACHABLE');
  t.match(line, `exchange http://127.0.0.1:${port} unreachable after 3 attempts`, 'the first attempt and the 2 retries');
  t.match(line, 'ECONNREFUSED');
  t.match(line, 'exchange.maxRetries', 'the fix names the settings');
  t.ok(exit.ms < 15_000, `exited within seconds (${Math.round(exit.ms)} ms)`);
});

t.test('database unreachable: exit 1, one line, the password not shown', async (t) => {
  const port = await closedPort();
  const run = klagg(t, ['run', '--port', '0', '--rest-url', 'http://127.0.0.1:9', '--database-url', `postgres://klagg:s3cret-pw@127.0.0.1:${port}/klagg`]);
  const exit = await run.exit;
  t.equal(exit.code, 1);
  const line = assertOneLine(t, exit, 'KLAGG_ERR_START_DB_UNREACHABLE');
  t.match(line, `127.0.0.1:${port}`);
  t.match(line, 'ECONNREFUSED');
  t.match(line, 'database.url');
  t.notMatch(exit.stderr, 's3cret-pw');
  t.ok(exit.ms < 10_000, `exited within seconds (${Math.round(exit.ms)} ms)`);
});

t.test('data directory in use: a second klagg on the same folder is refused, exit 1, one line naming the holder', async (t) => {
  // The folder is held by a live process (this test's): its pid in the lock file, as a running klagg leaves it.
  const dir = await mkdtemp(join(tmpdir(), 'klagg-locked-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'klagg.lock'), `${process.pid}\n`);
  const exit = await klagg(t, ['run', '--port', '0', '--rest-url', 'http://127.0.0.1:9'], { KLAGG_DATABASE__DATA_DIR: dir }).exit;
  t.equal(exit.code, 1);
  const line = assertOneLine(t, exit, 'KLAGG_ERR_START_DATA_DIR_LOCKED');
  t.match(line, `data directory ${dir} is in use by process ${process.pid}`);
  t.match(line, 'database.dataDir');
  t.equal(await readFile(join(dir, 'klagg.lock'), 'utf8'), `${process.pid}\n`, "the holder's lock is left alone");
  t.ok(exit.ms < 10_000, `exited within seconds (${Math.round(exit.ms)} ms)`);
});

for (const command of ['run', 'demo'] as const) {
  t.test(`${command}: HTTP port taken → exit 1 within 2 s, one line`, async (t) => {
    const port = await takenPort(t);
    const closed = await closedPort();
    // Nothing else is reachable either: the port is checked before anything slow starts.
    const args = command === 'run' ? ['--rest-url', `http://127.0.0.1:${closed}`] : [];
    const exit = await klagg(t, [command, '--port', String(port), ...args, '--database-url', `postgres://postgres@127.0.0.1:${closed}/x`]).exit;
    t.equal(exit.code, 1);
    const line = assertOneLine(t, exit, 'KLAGG_ERR_START_PORT_IN_USE');
    t.match(line, `port ${port} on 127.0.0.1 is already in use`);
    t.match(line, 'server.port');
    t.ok(exit.ms < 2_000, `exited within 2 s (${Math.round(exit.ms)} ms)`);
  });
}

/** A fake exchange whose exchangeInfo answers only after a long wait: a start that hangs in the universe load. */
async function slowExchange(t: Test): Promise<FakeExchange> {
  const exchange = await FakeExchange.start({ source: { kind: 'generated', symbols: 3, rate: 20, seed: 3 }, logger: createRootLogger({ level: 'silent' }) });
  t.teardown(() => exchange.close());
  const reply = await fetch(`${exchange.restUrl}/_fake/faults`, {
    method: 'POST',
    body: JSON.stringify({ type: 'slowRest', ms: 60_000, count: 10, path: '/fapi/v1/exchangeInfo' }),
  });
  t.equal(reply.status, 200, 'fault injected');
  return exchange;
}

/** Waits until stderr says the database is open (the start then waits for exchangeInfo, its weight limit first). */
async function whileStarting(t: Test, run: Started): Promise<void> {
  for (let i = 0; i < 300 && !run.stderr().includes('database opened'); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  t.match(run.stderr(), 'database opened', 'the start is under way');
  t.notMatch(run.stderr(), 'klagg is running', 'and not finished');
}

t.test('one SIGINT stops a service that is still starting: exit 0 within seconds', async (t) => {
  const exchange = await slowExchange(t);
  const database = await createTestDatabase('klagg_start_sigint');
  t.teardown(() => database.drop());
  const run = klagg(t, ['run', '--port', '0', '--rest-url', exchange.restUrl, '--ws-url', exchange.wsUrl, '--database-url', database.url], { KLAGG_LOG_LEVEL: 'info' });
  await whileStarting(t, run);
  const sent = performance.now();
  run.child.kill('SIGINT');
  const exit = await run.exit;
  const ms = performance.now() - sent;
  t.equal(exit.code, 0, 'an orderly stop on request');
  t.ok(ms < 5_000, `stopped ${Math.round(ms)} ms after the SIGINT`);
  t.match(exit.stderr, 'stopping (send it again to exit at once)');
  t.notMatch(exit.stderr, 'klagg is running');
  t.notMatch(exit.stderr, '"level":60', 'no fatal error');
});

t.test('a second SIGINT exits at once', async (t) => {
  const exchange = await slowExchange(t);
  const database = await createTestDatabase('klagg_start_sigint2');
  t.teardown(() => database.drop());
  const run = klagg(t, ['run', '--port', '0', '--rest-url', exchange.restUrl, '--ws-url', exchange.wsUrl, '--database-url', database.url], { KLAGG_LOG_LEVEL: 'info' });
  await whileStarting(t, run);
  run.child.kill('SIGINT');
  run.child.kill('SIGINT');
  const exit = await run.exit;
  t.ok(exit.code === 130 || exit.code === 0, `exit 130 when forced (0 if the first had already finished): ${exit.code}`);
  t.ok(exit.ms < 20_000);
});
