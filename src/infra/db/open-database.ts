/**
 * Opens klagg's database: PostgreSQL (Kysely + `pg` pool) when a URL is given, otherwise an embedded, file-backed
 * PGlite so the service runs on a fresh machine with no server. Either way the schema is migrated before the handle
 * is returned, and int8 reads back as a JS number (trade ids and times are far below 2^53) while `numeric` stays
 * exact text. The embedded PGlite runs in a worker thread (its WebAssembly work would otherwise stall the event
 * loop, see pglite-worker-client.ts) and holds its folder's lock file (data-dir-lock.ts) until closed.
 */
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Kysely, PGliteDialect, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import { lockDataDir } from './data-dir-lock.ts';
import { migrateToLatest } from './migrations.ts';
import { startPgliteWorker } from './pglite-worker-client.ts';
import type { Database } from './schema.ts';

export type DatabaseKind = 'postgres' | 'pglite';

export interface OpenDatabaseOptions {
  /** A PostgreSQL connection URL (`DATABASE_URL`); without it the embedded PGlite is used. */
  readonly url?: string;
  /** PGlite's data directory, created if missing. Default `./data`. Ignored when `url` is set. */
  readonly dataDir?: string;
  readonly logger?: Logger;
  /** PostgreSQL pool size. Default 10. */
  readonly poolSize?: number;
  /** How long a new PostgreSQL connection may take before it fails (a blackholed server must not hang a flush). */
  readonly connectTimeoutMs?: number;
}

export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  readonly kind: DatabaseKind;
  /** Where the data lives, safe to log: the URL without its password, or the PGlite directory. */
  readonly location: string;
  close(): Promise<void>;
}

export class DatabaseConnectionError extends Error {
  readonly code = 'KLAGG_DB_CONNECT';
  readonly location: string;
  constructor(location: string, cause: unknown) {
    super(`cannot connect to the database at ${location}: ${describeError(cause)}`, { cause });
    this.name = 'DatabaseConnectionError';
    this.location = location;
  }
}

export async function openDatabase(options: OpenDatabaseOptions = {}): Promise<DatabaseHandle> {
  const handle = options.url !== undefined ? openPostgres(options.url, options) : await openPglite(options.dataDir ?? './data');
  try {
    // A probe first, so an unreachable server gives one clear error instead of a migration failure.
    await sql`select 1`.execute(handle.db).catch((error: unknown) => {
      throw new DatabaseConnectionError(handle.location, error);
    });
    const ran = await migrateToLatest(handle.db);
    options.logger?.info({ kind: handle.kind, location: handle.location, migrations: ran }, 'database opened');
    return handle;
  } catch (error) {
    await handle.close().catch(() => {});
    throw error;
  }
}

/** Same rule as PGlite's own int8 parser, so both backends return the same values: a number when it is exact. */
export function parseInt8(text: string): number | bigint {
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : BigInt(text);
}

const INT8_OID = 20;

const pgTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

function openPostgres(url: string, options: OpenDatabaseOptions): DatabaseHandle {
  const location = redactUrl(url);
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    keepAlive: true,
    application_name: 'klagg',
    // Per pool, not `pg.types.setTypeParser`: a global parser would change every other pg user in the process.
    types: pgTypes,
  });
  // An idle client whose server goes away emits 'error' on the pool; unhandled, that would crash the process. The
  // pool drops the client and the next query opens a new connection, so logging is all that is needed here.
  pool.on('error', (error) => {
    options.logger?.warn({ err: error, location }, 'idle PostgreSQL connection failed');
  });
  // A checked-out client has no pool listener: when its connection drops mid-query, pg rejects the query *and*
  // emits 'error' on the client, which nothing (Kysely included) listens to, so an outage would crash the process.
  // The rejected query carries the error to the caller; the pool discards the dead client on release.
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, kind: 'postgres', location, close: once(() => db.destroy()) };
}

async function openPglite(dataDir: string): Promise<DatabaseHandle> {
  const location = resolve(dataDir);
  await mkdir(location, { recursive: true });
  // Before PGlite touches a file: a folder another live process holds is refused here, untouched.
  const lock = await lockDataDir(location);
  let pglite;
  try {
    pglite = await startPgliteWorker(location);
  } catch (error) {
    await lock.release();
    throw error;
  }
  const db = new Kysely<Database>({ dialect: new PGliteDialect({ pglite }) });
  const close = async () => {
    try {
      await db.destroy();
      await pglite.close(); // Kysely closes it only if a query ever ran; idempotent either way
    } finally {
      await lock.release();
    }
  };
  return { db, kind: 'pglite', location: `pglite:${location}`, close: once(close) };
}

/** `close()` may be called from several shutdown paths; pg's pool throws on a second `end()`. */
function once(close: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => (closing ??= close());
}

/** The URL without its password (and without query parameters, which may carry one too). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    parsed.search = '';
    return parsed.toString();
  } catch {
    return url.replace(/:\/\/([^:@/]*):[^@/]*@/, '://$1@');
  }
}

/** Node reports a refused connection to a multi-address host as an AggregateError with an empty message. */
function describeError(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return [...new Set(error.errors.map(describeError))].join('; ');
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    if (error.message) return error.message;
    if (typeof code === 'string') return code;
  }
  return String(error);
}
