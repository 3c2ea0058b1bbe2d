/**
 * `klagg demo` as a child process for end-to-end tests: its own PostgreSQL database, its printed URLs, and a teardown
 * that stops it (SIGTERM, SIGKILL after 5 s) and drops the database.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { createTestDatabase } from './postgres.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface RunningDemo {
  readonly child: ChildProcess;
  /** The JSON line of URLs the demo prints (rest, streams, symbols, health, metrics, chart, inspector, exchange). */
  readonly urls: Readonly<Record<string, string>>;
  /** http://127.0.0.1:port */
  readonly base: string;
  /** The symbol the printed URLs name. */
  readonly symbol: string;
  /** The demo's PostgreSQL database (to read or write its store beside it). */
  readonly databaseUrl: string;
  /** SIGTERM, and the exit code once it has exited. */
  stop(): Promise<number | null>;
}

export async function startDemo(t: Test, options: { prefix: string; symbols: number; rate: number; env?: Readonly<Record<string, string>> }): Promise<RunningDemo> {
  const database = await createTestDatabase(options.prefix);
  const child = spawn(process.execPath, [MAIN, 'demo', '--symbols', String(options.symbols), '--rate', String(options.rate), '--port', '0', '--database-url', database.url], {
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, KLAGG_LOG_LEVEL: 'warn', ...options.env },
  });
  const stop = async (): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(timer);
    return code;
  };
  t.teardown(async () => {
    await stop();
    await database.drop();
  });
  const urls = await new Promise<Record<string, string>>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve(JSON.parse(line) as Record<string, string>));
    child.once('exit', (code) => reject(new Error(`klagg demo exited with ${code} before printing its URLs`)));
  });
  const rest = new URL(urls['rest']!);
  return { child, urls, base: rest.origin, symbol: rest.searchParams.get('symbol')!, databaseUrl: database.url, stop };
}
