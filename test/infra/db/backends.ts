/**
 * The two storage backends every database test runs against: a fresh database on the machine's PostgreSQL and a
 * file-backed PGlite in a temp directory. Both go through `openDatabase`, as the service does.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type DatabaseHandle, type DatabaseKind } from '../../../src/infra/db/open-database.ts';
import { createTestDatabase } from '../../support/postgres.ts';

export interface Backend {
  readonly kind: DatabaseKind;
  /** Opens (another) handle on the same database: a restart, as far as the schema and data are concerned. */
  open(): Promise<DatabaseHandle>;
  /** Drops the database or deletes the directory. Close every handle first. */
  destroy(): Promise<void>;
}

export async function createBackend(kind: DatabaseKind, prefix: string): Promise<Backend> {
  if (kind === 'postgres') {
    const database = await createTestDatabase(prefix);
    return { kind, open: () => openDatabase({ url: database.url }), destroy: () => database.drop() };
  }
  const dataDir = await mkdtemp(join(tmpdir(), `${prefix}-`));
  return {
    kind,
    open: () => openDatabase({ dataDir }),
    destroy: () => rm(dataDir, { recursive: true, force: true }),
  };
}

export const BACKENDS: readonly DatabaseKind[] = ['postgres', 'pglite'];
