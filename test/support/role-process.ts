/**
 * A klagg CLI child process for multi-process tests (scale-out.md §5: ingest, aggregator, DB writer and stream server
 * roles, each its own process, SIGKILLed, SIGSTOPped, restarted). It runs `node_modules/.bin/node src/cli/main.ts
 * <args…>` from the repository root, the way an operator would start a role.
 *
 * Output goes to a log file (complete; its path is in every failure message) and the last lines stay in memory, so a
 * test can wait for a readiness line (`klagg <role> ready …`; the pattern is the caller's) and print a tail on failure.
 * Log files live in one temp directory per test process; it is removed at exit when the process exits 0, kept
 * otherwise (or with KLAGG_KEEP_ROLE_LOGS=1), so a failing run leaves its logs for reading.
 *
 * No leaks: a test calls `stop()` in `t.teardown`; the child reaper (child-reaper.ts) kills what a dying test leaves.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { forgetChild, watchChild } from './child-reaper.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = 'src/cli/main.ts';
/** The repository's pinned Node (the system's may be older); the running one if the link is missing. */
const NODE = existsSync(join(REPO, 'node_modules/.bin/node')) ? join(REPO, 'node_modules/.bin/node') : process.execPath;

export interface RoleProcessOptions {
  /** Arguments after `src/cli/main.ts`, e.g. ['fake-exchange', '--port', '0']. */
  readonly args: readonly string[];
  /** Added to (or, with `inheritEnv: false`, instead of) this process's environment; undefined removes a variable. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly inheritEnv?: boolean;
  /** Names the log file and error messages; default the first argument. */
  readonly name?: string;
  /** Lines kept in memory (stdout and stderr together). Default 500. */
  readonly keepLines?: number;
  /** How long `stop()` waits after SIGTERM before SIGKILL. Default 5 s. */
  readonly stopGraceMs?: number;
  /** Where the log file goes; default a temp directory shared by this test process. */
  readonly logDir?: string;
}

export interface RoleExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export type LineMatch = RegExp | ((line: string) => boolean);

let sharedLogDir: string | undefined;
let sequence = 0;

function defaultLogDir(): string {
  if (sharedLogDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'klagg-roles-'));
    sharedLogDir = dir;
    process.on('exit', (code) => {
      if (code === 0 && process.env.KLAGG_KEEP_ROLE_LOGS !== '1') rmSync(dir, { recursive: true, force: true });
    });
  }
  return sharedLogDir;
}

/** Spawns the role and resolves once the process exists (a spawn failure rejects). */
export async function startRoleProcess(options: RoleProcessOptions): Promise<RoleProcess> {
  const role = new RoleProcess(options);
  await role.spawned;
  return role;
}

export class RoleProcess {
  readonly name: string;
  readonly logPath: string;
  /** Resolves with the exit code or signal when the process has exited. */
  readonly exited: Promise<RoleExit>;
  /** @internal resolves once spawned. */
  readonly spawned: Promise<void>;
  readonly #child: ChildProcess;
  readonly #log: WriteStream;
  readonly #keep: number;
  readonly #grace: number;
  readonly #lines: string[] = [];
  #lineCount = 0;
  readonly #partial = { stdout: '', stderr: '' };
  readonly #waiters = new Set<(line: string | undefined) => void>();
  #exit: RoleExit | undefined;

  constructor(options: RoleProcessOptions) {
    this.name = options.name ?? options.args[0] ?? 'klagg';
    this.#keep = options.keepLines ?? 500;
    this.#grace = options.stopGraceMs ?? 5_000;
    this.logPath = join(options.logDir ?? defaultLogDir(), `${this.name.replace(/[^\w.-]/g, '_')}-${process.pid}-${++sequence}.log`);
    this.#log = createWriteStream(this.logPath, { flags: 'a' });
    this.#log.write(`--- ${NODE} ${MAIN} ${options.args.join(' ')} (cwd ${REPO}) at ${new Date().toISOString()}\n`);
    const env: Record<string, string | undefined> = { ...(options.inheritEnv === false ? {} : process.env), ...options.env };
    // The test harness's own switches are not klagg settings (klagg refuses unknown KLAGG_ variables).
    delete env.KLAGG_KEEP_ROLE_LOGS;
    delete env.KLAGG_KEEP_NATS_DIRS;
    for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
    this.#child = spawn(NODE, [MAIN, ...options.args], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.spawned = new Promise<void>((resolve, reject) => {
      this.#child.once('spawn', resolve);
      this.#child.once('error', reject);
    });
    this.spawned.catch(() => {}); // Reported to whoever awaits `spawned` (startRoleProcess), never as unhandled.
    if (this.#child.pid !== undefined) watchChild(this.#child.pid);
    this.#child.stdout!.on('data', (chunk: Buffer) => this.#take('stdout', chunk));
    this.#child.stderr!.on('data', (chunk: Buffer) => this.#take('stderr', chunk));
    this.exited = new Promise<RoleExit>((resolve) => {
      // 'close' (not 'exit'): all output has been read by then, so the last lines are in `lines` and the log.
      this.#child.once('close', (code, signal) => {
        if (this.#child.pid !== undefined) forgetChild(this.#child.pid);
        for (const stream of ['stdout', 'stderr'] as const) if (this.#partial[stream] !== '') this.#push(this.#partial[stream]);
        this.#exit = { code, signal };
        for (const waiter of this.#waiters) waiter(undefined);
        // Resolved once the log file is complete, so a test can read it right after.
        const exit = this.#exit;
        this.#log.end(`--- exited: code ${code}, signal ${signal}\n`, () => resolve(exit));
      });
    });
  }

  get pid(): number {
    return this.#child.pid ?? -1;
  }

  get running(): boolean {
    return this.#exit === undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** The last `keepLines` lines of output, oldest first. */
  get lines(): readonly string[] {
    return this.#lines;
  }

  /** Lines seen so far: pass it as `since` to wait only for lines printed after now. */
  get lineCount(): number {
    return this.#lineCount;
  }

  tail(lines = 30): string {
    return this.#lines.slice(-lines).join('\n');
  }

  /**
   * The first line matching `match`, among the kept lines (or only those after line number `since`) and the ones to
   * come. Rejects after `timeoutMs`, or when the process exits first, with the log's path and tail.
   */
  waitForLine(match: LineMatch, timeoutMs = 30_000, since = 0): Promise<string> {
    const test = typeof match === 'function' ? match : (line: string) => match.test(line);
    const firstKept = this.#lineCount - this.#lines.length;
    const found = this.#lines.find((line, i) => firstKept + i >= since && test(line));
    if (found !== undefined) return Promise.resolve(found);
    if (!this.running) return Promise.reject(this.failure(`exited before printing a line matching ${String(match)}`));
    return new Promise<string>((resolve, reject) => {
      const waiter = (line: string | undefined): void => {
        if (line !== undefined && !test(line)) return;
        this.#waiters.delete(waiter);
        clearTimeout(timer);
        if (line !== undefined) resolve(line);
        else reject(this.failure(`exited before printing a line matching ${String(match)}`));
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(this.failure(`no line matching ${String(match)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  /** Sends a signal: SIGKILL (crash), SIGSTOP/SIGCONT (freeze), SIGTERM/SIGINT (orderly stop). No-op once exited. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.running) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // It exited in between.
    }
  }

  /** SIGCONT (a frozen process cannot handle SIGTERM), SIGTERM, then SIGKILL after the grace; resolves on exit. */
  async stop(graceMs = this.#grace): Promise<RoleExit> {
    if (this.running) {
      this.kill('SIGCONT');
      this.kill('SIGTERM');
      const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
      const exit = await this.exited;
      clearTimeout(timer);
      return exit;
    }
    return this.exited;
  }

  /** An error naming this role, its exit if any, its log and the log's tail. */
  failure(what: string): Error {
    const exit = this.#exit === undefined ? 'running' : `exit code ${this.#exit.code}, signal ${this.#exit.signal}`;
    return new Error(`role ${this.name} (pid ${this.pid}, ${exit}): ${what}\nlog ${this.logPath}; last lines:\n${this.tail(20)}`);
  }

  #take(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    this.#log.write(chunk);
    const parts = (this.#partial[stream] + chunk.toString('utf8')).split('\n');
    this.#partial[stream] = parts.pop()!;
    for (const line of parts) this.#push(line);
  }

  #push(line: string): void {
    this.#lineCount++;
    this.#lines.push(line);
    if (this.#lines.length > this.#keep) this.#lines.splice(0, this.#lines.length - this.#keep);
    for (const waiter of [...this.#waiters]) waiter(line);
  }
}
