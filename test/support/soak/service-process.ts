/**
 * The soak's service: `klagg run` as a child process (its real configuration, worker threads as by default), so a
 * SIGKILL is a real crash and a restart a real start on the same database. It keeps one HTTP port across lives, so the
 * stream clients reconnect to the same URL. Its log (every life) goes to a file; only the lines that matter (the
 * "running" line, errors) are kept in memory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { forgetChild, watchChild } from '../child-reaper.ts';

const MAIN = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));

export interface ServiceProcessOptions {
  readonly restUrl: string;
  readonly wsUrl: string;
  /** The database as the service reaches it (through the TCP proxy). */
  readonly databaseUrl: string;
  /** Where every life's stderr/stdout is appended. */
  readonly logPath: string;
}

export class ServiceProcess {
  readonly #options: ServiceProcessOptions;
  readonly #log: WriteStream;
  #child: ChildProcess | undefined;
  #exited: Promise<number | null> | undefined;
  /** Lives started (1 after the first start). */
  lives = 0;
  /** Error-level (50, 60) log lines of every life, first 20 kept. */
  readonly errors: string[] = [];
  errorCount = 0;
  port = 0;

  constructor(options: ServiceProcessOptions) {
    this.#options = options;
    this.#log = createWriteStream(options.logPath, { flags: 'a' });
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Starts a life and resolves once it logs "klagg is running" (rejects if it exits, or is killed after `timeoutMs`). */
  async start(timeoutMs = 300_000): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    const o = this.#options;
    const args = [MAIN, 'run', '--rest-url', o.restUrl, '--ws-url', o.wsUrl, '--database-url', o.databaseUrl, '--port', String(this.port)];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KLAGG_LOG_LEVEL: 'info', KLAGG_LOG__PRETTY: 'false', ...serviceNodeOptions() } });
    watchChild(child.pid!);
    this.#child = child;
    this.lives++;
    this.#log.write(`\n---- life ${this.lives} (pid ${child.pid}) at ${new Date().toISOString()} ----\n`);
    let running = false;
    let pending = '';
    const onData = (chunk: Buffer): void => {
      this.#log.write(chunk);
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line.includes('"klagg is running"')) running = true;
        if (/"level":(50|60)/.test(line)) {
          this.errorCount++;
          if (this.errors.length < 20) this.errors.push(line.slice(0, 2000));
        }
      }
    };
    child.stderr!.on('data', onData);
    child.stdout!.on('data', onData);
    this.#exited = once(child, 'exit').then(([code]) => {
      forgetChild(child.pid!);
      return code as number | null;
    });
    const deadline = Date.now() + timeoutMs;
    while (!running) {
      if (!this.running) throw new Error(`klagg run exited during its start (life ${this.lives}); see ${o.logPath}`);
      if (Date.now() > deadline) {
        // As a supervisor would (systemd's TimeoutStartSec): a start that takes too long is killed before the next
        // try. Left running, the 30-minute soak had two lives on one database and one exchange at once.
        await this.kill();
        throw new Error(`klagg run did not start within ${timeoutMs} ms (life ${this.lives}), killed; see ${o.logPath}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** SIGKILL: the crash. Resolves once the process is gone. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.#child!.kill('SIGKILL');
    await this.#exited;
  }

  /** SIGTERM: the orderly stop (everything stored); resolves with the exit code. */
  async stop(timeoutMs = 120_000): Promise<number | null> {
    if (!this.running) return (await this.#exited) ?? null;
    this.#child!.kill('SIGTERM');
    const timer = setTimeout(() => this.#child?.kill('SIGKILL'), timeoutMs);
    try {
      return await this.#exited!;
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.kill();
    await new Promise<void>((resolve) => this.#log.end(() => resolve()));
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** `SOAK_SERVICE_NODE_OPTIONS` (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`): Node options for the service only. */
function serviceNodeOptions(): { NODE_OPTIONS?: string } {
  const options = process.env['SOAK_SERVICE_NODE_OPTIONS'];
  return options === undefined ? {} : { NODE_OPTIONS: options };
}
