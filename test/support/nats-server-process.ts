/**
 * One nats-server process that a test owns: its config file, its store directory, its log, its pid. The two shapes
 * tests use (a single node, a 3-node cluster) are built from this in `nats-cluster.ts`.
 *
 * Why a config file rather than flags: JetStream clustering needs `server_name` and a `cluster {}` block, which the
 * command line cannot express; one code path for both shapes keeps them alike.
 *
 * Why the monitor port: readiness is `/healthz` answering 200 (on 2.9 that includes JetStream being up), and tests read
 * `/varz` and `/jsz` to see what a server thinks without going through a client.
 *
 * The machine's own nats-server on :4222 is never touched: every port here is given by the caller or found free,
 * and every signal goes to a pid this module spawned.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { delimiter, join } from 'node:path';
import { forgetChild, watchChild } from './child-reaper.ts';

export interface NatsServerPorts {
  /** Client port (nats://127.0.0.1:client). */
  readonly client: number;
  /** HTTP monitor port (`-m`): /healthz, /varz, /jsz. */
  readonly http: number;
  /** Cluster route port; absent for a single node. */
  readonly cluster?: number;
}

export interface NatsServerSpec {
  /** `server_name`; JetStream reports stream leaders by this name. */
  readonly name: string;
  /** Position in its cluster (0 for a single node). */
  readonly index: number;
  readonly ports: NatsServerPorts;
  /** A directory of its own (config, log and JetStream store go in it); removed by `stop()`. */
  readonly dir: string;
  /** For a cluster member: the cluster's name and every member's route port (its own included; the server skips it). */
  readonly cluster?: { readonly name: string; readonly routePorts: readonly number[] };
  /** JetStream on (default). Off only to test how klagg reacts to a server without it. */
  readonly jetstream?: boolean;
  readonly bin?: string;
  /** How long `start`/`restart` wait for /healthz. Default 20 s (three servers and tests share 2 cores). */
  readonly readyTimeoutMs?: number;
}

/** How long a SIGTERM'd server gets to shut down (it flushes its store) before SIGKILL. */
const STOP_GRACE_MS = 5_000;

/** The nats-server binary: env NATS_SERVER_BIN, else Debian's /usr/sbin/nats-server, else `nats-server` on PATH. */
export function natsServerBin(): string {
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (existsSync('/usr/sbin/nats-server')) return '/usr/sbin/nats-server';
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, 'nats-server'))) return join(dir, 'nats-server');
  }
  throw new Error('nats-server not found: set NATS_SERVER_BIN, or install it (apt-get install nats-server; .ci/run does)');
}

/**
 * `count` distinct free TCP ports on 127.0.0.1. All are held open until all are found, so none repeats; another
 * process could still take one before the server binds it, which the server's start then reports.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
    }
    return servers.map((server) => (server.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }
}

export class NatsServer {
  readonly name: string;
  readonly index: number;
  readonly ports: NatsServerPorts;
  /** nats://127.0.0.1:<client port>. */
  readonly url: string;
  /** http://127.0.0.1:<monitor port>. */
  readonly monitorUrl: string;
  readonly dir: string;
  readonly storeDir: string;
  readonly configPath: string;
  readonly logPath: string;
  readonly #bin: string;
  readonly #readyTimeoutMs: number;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #removed = false;

  private constructor(spec: NatsServerSpec) {
    this.name = spec.name;
    this.index = spec.index;
    this.ports = spec.ports;
    this.url = `nats://127.0.0.1:${spec.ports.client}`;
    this.monitorUrl = `http://127.0.0.1:${spec.ports.http}`;
    this.dir = spec.dir;
    this.storeDir = join(spec.dir, 'store');
    this.configPath = join(spec.dir, `${spec.name}.conf`);
    this.logPath = join(spec.dir, `${spec.name}.log`);
    this.#bin = spec.bin ?? natsServerBin();
    this.#readyTimeoutMs = spec.readyTimeoutMs ?? 20_000;
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(this.configPath, configText(spec, this.storeDir));
  }

  /** Writes the config, spawns the server and waits until /healthz answers 200. */
  static async start(spec: NatsServerSpec): Promise<NatsServer> {
    const server = new NatsServer(spec);
    try {
      await server.#spawnAndWait();
    } catch (error) {
      await server.stop({ keepDir: true });
      throw error;
    }
    return server;
  }

  /** The current process's pid (a restart changes it); undefined once it has exited. */
  get pid(): number | undefined {
    return this.running ? this.#child?.pid : undefined;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Sends a signal to the current process: SIGKILL (crash), SIGSTOP/SIGCONT (freeze), SIGTERM (clean shutdown). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    const pid = this.pid;
    if (pid === undefined) throw new Error(`nats-server ${this.name} is not running`);
    process.kill(pid, signal);
  }

  /** Resolves when the current process has exited (at once if none runs). */
  exited(): Promise<void> {
    return this.#exited;
  }

  /**
   * Starts the server again with the same config: same ports, same store directory, so a cluster member rejoins
   * with the data it had (a crash-and-restart, not a new peer). A running process is stopped first.
   */
  async restart(): Promise<void> {
    if (this.#removed) throw new Error(`nats-server ${this.name} was stopped and its directory removed`);
    await this.terminate();
    await this.#spawnAndWait();
  }

  /** Ends the process (SIGCONT in case it is stopped, SIGTERM, SIGKILL after a bound) and keeps the directory. */
  async terminate(graceMs = STOP_GRACE_MS): Promise<void> {
    const child = this.#child;
    if (child === undefined || !this.running) return this.#exited;
    try {
      process.kill(child.pid!, 'SIGCONT');
      process.kill(child.pid!, 'SIGTERM');
    } catch {
      // It exited in between.
    }
    const timer = setTimeout(() => {
      if (this.#child === child && this.running) child.kill('SIGKILL');
    }, graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** Ends the process and removes its directory (config, log, store), unless `keepDir` or KLAGG_KEEP_NATS_DIRS=1. */
  async stop(options: { keepDir?: boolean } = {}): Promise<void> {
    await this.terminate();
    if (options.keepDir === true || process.env.KLAGG_KEEP_NATS_DIRS === '1') return;
    this.#removed = true;
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The last lines of the server's log (its stdout and stderr), for a failing test to print. */
  logTail(lines = 30): string {
    try {
      return readFileSync(this.logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** GET a monitor endpoint (`/varz`, `/jsz?streams=true`, …) as JSON. */
  async monitor<T = Record<string, unknown>>(path: string): Promise<T> {
    const response = await fetch(`${this.monitorUrl}${path}`, { signal: AbortSignal.timeout(2_000) });
    if (!response.ok) throw new Error(`${this.name} ${path}: HTTP ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  }

  /** An error naming this server, with its log's path and tail (the log is removed with the directory on stop). */
  failure(what: string): Error {
    return new Error(`nats-server ${this.name} (${this.url}): ${what}\nlog ${this.logPath}:\n${this.logTail()}`);
  }

  async #spawnAndWait(): Promise<void> {
    const log = openSync(this.logPath, 'a');
    writeSync(log, `--- klagg test harness: starting ${this.#bin} -c ${this.configPath} at ${new Date().toISOString()}\n`);
    // The log file as stdout/stderr (not pipes): a SIGSTOP'd or orphaned server can never block on a full pipe.
    const child = spawn(this.#bin, ['-c', this.configPath], { stdio: ['ignore', log, log] });
    closeSync(log);
    this.#child = child;
    this.#exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        if (child.pid !== undefined) forgetChild(child.pid);
        resolve();
      });
      // A spawn failure (ENOENT) emits 'error' and 'exit' may never follow.
      child.once('error', () => resolve());
    });
    if (child.pid !== undefined) watchChild(child.pid);
    await this.#waitHealthy();
  }

  async #waitHealthy(): Promise<void> {
    const child = this.#child!;
    const deadline = Date.now() + this.#readyTimeoutMs;
    let last = 'no answer';
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
        throw this.failure(`exited while starting (code ${child.exitCode}, signal ${child.signalCode})`);
      }
      try {
        const response = await fetch(`${this.monitorUrl}/healthz`, { signal: AbortSignal.timeout(1_000) });
        last = `HTTP ${response.status} ${(await response.text()).trim()}`;
        if (response.ok) return;
      } catch (error) {
        last = (error as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw this.failure(`not healthy within ${this.#readyTimeoutMs} ms (last /healthz: ${last})`);
  }
}

/** nats-server's config syntax accepts JSON-like values; strings are JSON-quoted so paths with spaces work. */
function configText(spec: NatsServerSpec, storeDir: string): string {
  const lines = [
    `server_name: ${JSON.stringify(spec.name)}`,
    `listen: "127.0.0.1:${spec.ports.client}"`,
    `http: "127.0.0.1:${spec.ports.http}"`,
  ];
  // Small limits: tests keep streams far below them, and the machine is shared.
  if (spec.jetstream !== false) lines.push(`jetstream { store_dir: ${JSON.stringify(storeDir)}, max_memory_store: 64MB, max_file_store: 512MB }`);
  if (spec.cluster !== undefined) {
    if (spec.ports.cluster === undefined) throw new Error(`cluster member ${spec.name} needs a cluster port`);
    const routes = spec.cluster.routePorts.map((port) => JSON.stringify(`nats-route://127.0.0.1:${port}`)).join(', ');
    lines.push(`cluster { name: ${JSON.stringify(spec.cluster.name)}, listen: "127.0.0.1:${spec.ports.cluster}", routes: [${routes}] }`);
  }
  return `${lines.join('\n')}\n`;
}
