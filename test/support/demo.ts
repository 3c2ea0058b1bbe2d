/**
 * `klagg demo` as a child process for end-to-end tests: its own PostgreSQL database, the URLs of the banner it prints
 * once its start is complete, and a teardown that stops it (SIGTERM, SIGKILL after 5 s) and drops the database.
 * Its stdout and stderr go to one file, in the order written, so a test can read where the banner came.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { parseBannerUrls } from '../../src/app/demo-banner.ts';
import { createTestDatabase } from './postgres.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
/** The banner's last line. */
const BANNER_END = /Ctrl\+C stops it\.\n/;

export interface RunningDemo {
  readonly child: ChildProcess;
  /** The banner's URLs by key (home, chart, inspector, rest, streams, symbols, health, metrics, exchange). */
  readonly urls: Readonly<Record<string, string>>;
  /** http://127.0.0.1:port */
  readonly base: string;
  /** The symbol the printed URLs name. */
  readonly symbol: string;
  /** The demo's PostgreSQL database (to read or write its store beside it). */
  readonly databaseUrl: string;
  /** Everything it wrote so far (stdout and stderr interleaved as written). */
  output(): string;
  /** SIGTERM, and the exit code once it has exited. */
  stop(): Promise<number | null>;
}

export interface DemoOptions {
  readonly prefix: string;
  readonly symbols: number;
  readonly rate: number;
  /** Days of history (`--history`); default 0, so a test pays for history only when it wants it. */
  readonly history?: number;
  readonly env?: Readonly<Record<string, string>>;
  /** Default 60 s. */
  readonly startTimeoutMs?: number;
}

export async function startDemo(t: Test, options: DemoOptions): Promise<RunningDemo> {
  const database = await createTestDatabase(options.prefix);
  const dir = mkdtempSync(join(tmpdir(), 'klagg-demo-test-'));
  const file = join(dir, 'output.txt');
  const fd = openSync(file, 'a');
  const args = [MAIN, 'demo', '--symbols', String(options.symbols), '--rate', String(options.rate), '--history', String(options.history ?? 0), '--port', '0', '--database-url', database.url];
  const child = spawn(process.execPath, args, { stdio: ['ignore', fd, fd], env: { ...process.env, KLAGG_LOG_LEVEL: 'warn', ...options.env } });
  closeSync(fd);
  const output = (): string => readFileSync(file, 'utf8');
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
    rmSync(dir, { recursive: true, force: true });
  });
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  while (!BANNER_END.test(output())) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`klagg demo exited (${child.exitCode ?? child.signalCode}) before printing its banner:\n${output()}`);
    if (Date.now() > deadline) throw new Error(`klagg demo printed no banner in ${options.startTimeoutMs ?? 60_000} ms:\n${output()}`);
    await sleep(100);
  }
  const urls = parseBannerUrls(output()) as Record<string, string>;
  const rest = new URL(urls['rest']!);
  return { child, urls, base: rest.origin, symbol: rest.searchParams.get('symbol')!, databaseUrl: database.url, output, stop };
}
