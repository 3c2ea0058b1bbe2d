/**
 * The schema, as migrations kept in code (not files on disk) so the service carries its schema wherever it runs,
 * including a fresh machine with PGlite. Kysely's Migrator records what ran in `kysely_migration` and takes a lock
 * (an advisory lock on PostgreSQL), so running `migrateToLatest` on every start is idempotent and safe even when
 * two processes start at once.
 */
import { sql, type Kysely } from 'kysely';
// Kysely 0.29 serves the migrator from its own entry point (the root re-exports are type errors pointing here).
import { Migrator, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely/migration';

/** Append only: a migration that has run somewhere must never change, new changes get a new, later-sorting name. */
const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001_klines_and_symbols': {
    async up(db: Kysely<any>): Promise<void> {
      // `numeric` without precision or scale keeps each value's own display scale, so '1482.00000000' reads back
      // with its eight zeros and a 16-decimal quote volume larger than 2^53 stays exact.
      await db.schema
        .createTable('klines')
        .addColumn('venue', 'text', (c) => c.notNull())
        .addColumn('market', 'text', (c) => c.notNull())
        .addColumn('symbol', 'text', (c) => c.notNull())
        .addColumn('interval', 'text', (c) => c.notNull())
        .addColumn('open_time', 'int8', (c) => c.notNull())
        .addColumn('close_time', 'int8', (c) => c.notNull())
        .addColumn('open', 'numeric', (c) => c.notNull())
        .addColumn('high', 'numeric', (c) => c.notNull())
        .addColumn('low', 'numeric', (c) => c.notNull())
        .addColumn('close', 'numeric', (c) => c.notNull())
        .addColumn('volume', 'numeric', (c) => c.notNull())
        .addColumn('quote_volume', 'numeric', (c) => c.notNull())
        .addColumn('taker_buy_volume', 'numeric', (c) => c.notNull())
        .addColumn('taker_buy_quote_volume', 'numeric', (c) => c.notNull())
        .addColumn('trade_count', 'int8', (c) => c.notNull())
        .addColumn('first_trade_id', 'int8', (c) => c.notNull())
        .addColumn('last_trade_id', 'int8', (c) => c.notNull())
        .addColumn('last_agg_id', 'int8', (c) => c.notNull())
        .addColumn('is_final', 'boolean', (c) => c.notNull())
        .addColumn('revision', 'int4', (c) => c.notNull().defaultTo(0))
        .addColumn('source', 'text', (c) => c.notNull().check(sql`source in ('live', 'backfill', 'repair')`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        // Key order matters: with open_time last, "latest kline per symbol × interval" (`order by open_time desc
        // limit 1`) and time-range reads are a backward/forward scan of this one index; no second index is needed.
        .addPrimaryKeyConstraint('klines_pkey', ['venue', 'market', 'symbol', 'interval', 'open_time'])
        // Open klines are rewritten every flush: free room on each page lets PostgreSQL update them in place (HOT), so
        // flushes stay flat instead of slowing as dead versions pile up until autovacuum.
        .modifyEnd(sql`with (fillfactor = 70)`)
        .execute();

      await db.schema
        .createTable('symbols')
        .addColumn('venue', 'text', (c) => c.notNull())
        .addColumn('market', 'text', (c) => c.notNull())
        .addColumn('symbol', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        // Filters as the exchange's own decimal text: they define the symbol's scales.
        .addColumn('tick_size', 'text', (c) => c.notNull())
        .addColumn('step_size', 'text', (c) => c.notNull())
        .addColumn('lifecycle_state', 'text', (c) => c.notNull())
        .addColumn('last_error', 'text')
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addPrimaryKeyConstraint('symbols_pkey', ['venue', 'market', 'symbol'])
        .execute();
    },
    async down(db: Kysely<any>): Promise<void> {
      await db.schema.dropTable('symbols').ifExists().execute();
      await db.schema.dropTable('klines').ifExists().execute();
    },
  },
};

const provider: MigrationProvider = {
  async getMigrations() {
    return MIGRATIONS;
  },
};

export class MigrationError extends Error {
  readonly code = 'KLAGG_MIGRATION_FAILED';
  readonly migration: string | undefined;
  constructor(migration: string | undefined, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(migration ? `database migration ${migration} failed: ${reason}` : `database migrations failed: ${reason}`, { cause });
    this.name = 'MigrationError';
    this.migration = migration;
  }
}

/** Brings the schema to the latest version; returns the names of the migrations that ran now (empty if none). */
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({ db, provider });
  const { error, results }: MigrationResultSet = await migrator.migrateToLatest();
  if (error) throw new MigrationError(results?.find((r) => r.status === 'Error')?.migrationName, error);
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
