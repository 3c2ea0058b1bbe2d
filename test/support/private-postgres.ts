/**
 * A PostgreSQL server of the test's own (Debian's binaries, a temp data directory, its own port), so a fault test can
 * really stop PostgreSQL — `pg_ctl stop -m immediate`, then start again — without touching the machine's shared
 * server that other test files use. initdb refuses to run as root, so it and the server run as the `postgres` user.
 */
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { removeDirOnDeath } from './child-reaper.ts';
import { freePorts } from './nats-server-process.ts';

const run = promisify(execFile);

function binDir(): string {
  const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error('no PostgreSQL binaries under /usr/lib/postgresql');
  return `/usr/lib/postgresql/${versions[0]}/bin`;
}

export class PrivatePostgres {
  readonly port: number;
  readonly dir: string;
  readonly #bin: string;
  #running = false;

  private constructor(port: number, dir: string, bin: string) {
    this.port = port;
    this.dir = dir;
    this.#bin = bin;
  }

  static async start(): Promise<PrivatePostgres> {
    const bin = binDir();
    const dir = mkdtempSync(join(tmpdir(), 'klagg-pg-'));
    removeDirOnDeath(dir);
    const [port] = await freePorts(1);
    const server = new PrivatePostgres(port!, dir, bin);
    if (userInfo().uid === 0) {
      const { stdout } = await run('id', ['-u', 'postgres']);
      const { stdout: gid } = await run('id', ['-g', 'postgres']);
      chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
    }
    chmodSync(dir, 0o700);
    await server.#as(`${bin}/initdb`, ['-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
    await server.startServer();
    return server;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  urlOf(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  get running(): boolean {
    return this.#running;
  }

  async startServer(): Promise<void> {
    await this.#as(`${this.#bin}/pg_ctl`, ['-D', join(this.dir, 'data'), '-l', join(this.dir, 'log'), '-w', '-t', '30', '-o', `-p ${this.port} -k ${this.dir} -h 127.0.0.1 -c fsync=off`, 'start']);
    this.#running = true;
  }

  /** Stops at once (connections cut, no checkpoint): what a crash or a stopped service looks like to clients. */
  async stopServer(): Promise<void> {
    this.#running = false;
    await this.#as(`${this.#bin}/pg_ctl`, ['-D', join(this.dir, 'data'), '-m', 'immediate', '-w', 'stop']);
  }

  async createDatabase(name: string): Promise<string> {
    await run(`${this.#bin}/psql`, ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', '-qc', `create database "${name}"`]);
    return this.urlOf(name);
  }

  async close(): Promise<void> {
    if (this.#running) await this.stopServer().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }

  async #as(command: string, args: string[]): Promise<void> {
    if (userInfo().uid === 0) await run('runuser', ['-u', 'postgres', '--', command, ...args], { cwd: this.dir });
    else await run(command, args, { cwd: this.dir });
  }
}
