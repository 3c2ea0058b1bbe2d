/**
 * Fresh PostgreSQL databases for tests (and the flush benchmark) on the machine's shared server. Each call creates a
 * uniquely named database, so parallel test files never see each other's rows; `drop()` removes it. A stopped server
 * is started once; if it still does not answer the caller gets an error, never a silent skip.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

export const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  drop(): Promise<void>;
}

export interface CreateTestDatabaseOptions {
  /** A URL of a database on the server to create the new one on. Default the local server's `postgres` database. */
  readonly adminUrl?: string;
}

export async function createTestDatabase(prefix: string, options: CreateTestDatabaseOptions = {}): Promise<TestDatabase> {
  const adminUrl = options.adminUrl ?? DEFAULT_ADMIN_URL;
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  await withAdmin(adminUrl, (client) => client.query(`create database "${name}"`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    // `with (force)` ends sessions a failed test left open, which would otherwise block the drop.
    drop: () => withAdmin(adminUrl, (client) => client.query(`drop database if exists "${name}" with (force)`)).then(() => {}),
  };
}

async function withAdmin<T>(adminUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connectAdmin(adminUrl);
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function connectAdmin(adminUrl: string): Promise<pg.Client> {
  try {
    return await connect(adminUrl);
  } catch (first) {
    if (!isLocal(adminUrl)) throw describe(adminUrl, first);
    await startLocalServer();
    try {
      return await connect(adminUrl);
    } catch (second) {
      throw describe(adminUrl, second);
    }
  }
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {}); // a server restart mid-test must not crash the runner; the query fails instead
  try {
    await client.connect();
    return client;
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
}

/** Starts the machine's cluster (Debian's pg_ctlcluster) and waits up to 30 s for it to accept connections. */
async function startLocalServer(): Promise<void> {
  const versions = readdirSync('/etc/postgresql');
  for (const version of versions) {
    await run('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start']).catch(() => {});
  }
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const ready = await run('pg_isready', ['-h', '127.0.0.1']).then(
      () => true,
      () => false,
    );
    if (ready) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function isLocal(url: string): boolean {
  const host = new URL(url).hostname;
  return host === '127.0.0.1' || host === 'localhost' || host === '::1' || host === '[::1]';
}

function describe(url: string, error: unknown): Error {
  const redacted = new URL(url);
  redacted.password = '';
  const reason = error instanceof AggregateError ? error.errors.map(String).join('; ') : String(error);
  return new Error(
    `PostgreSQL is not reachable at ${redacted.toString()} (tried starting it with pg_ctlcluster): ${reason}. ` +
      'Start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`.',
    { cause: error },
  );
}
