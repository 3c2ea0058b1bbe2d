/**
 * The embedded PGlite behind its worker thread, through `openDatabase` as the service uses it: Kysely transactions
 * commit and roll back as in-process PGlite did, nothing from outside a transaction runs inside it, PostgreSQL's
 * error fields (code, constraint) survive the trip from the worker, values keep their types, and a closed database
 * refuses further queries.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { openDatabase } from '../../../src/infra/db/open-database.ts';
import { workerExecArgv } from '../../../src/infra/db/pglite-worker-client.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'klagg-pglite-worker-'));
t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
const handle = await openDatabase({ dataDir });
t.teardown(() => handle.close());
const { db } = handle;
await sql`create table t (id int primary key, note text)`.execute(db);

t.test('a transaction commits; a failing one rolls back', async (t) => {
  await db.transaction().execute(async (tx) => {
    await tx.insertInto('t' as never).values({ id: 1, note: 'committed' } as never).execute();
  });
  await t.rejects(
    db.transaction().execute(async (tx) => {
      await tx.insertInto('t' as never).values({ id: 2, note: 'rolled back' } as never).execute();
      throw new Error('abort');
    }),
    { message: 'abort' },
  );
  const { rows } = await sql<{ id: number }>`select id from t order by id`.execute(db);
  t.same(rows.map((r) => r.id), [1]);
});

t.test('a query from outside waits for the open transaction to end', async (t) => {
  let releaseTx!: () => void;
  const held = new Promise<void>((resolve) => (releaseTx = resolve));
  const transaction = db.transaction().execute(async (tx) => {
    await sql`insert into t values (10, 'inside')`.execute(tx);
    await held;
    await sql`delete from t where id = 10`.execute(tx);
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  const outside = sql<{ n: number }>`select count(*)::int as n from t where id = 10`.execute(db);
  await new Promise((resolve) => setTimeout(resolve, 50));
  releaseTx();
  await transaction;
  t.equal((await outside).rows[0]?.n, 0, 'the outside read never saw the transaction’s uncommitted row');
});

t.test('errors keep PostgreSQL’s fields; the transaction that hit one is rolled back', async (t) => {
  const error = await db
    .transaction()
    .execute(async (tx) => {
      await sql`insert into t values (20, 'x')`.execute(tx);
      await sql`insert into t values (1, 'duplicate')`.execute(tx);
    })
    .then(
      () => undefined,
      (e: unknown) => e as { code?: string; constraint?: string; message: string },
    );
  t.equal(error?.code, '23505', 'unique violation');
  t.equal(error?.constraint, 't_pkey');
  t.match(error?.message, /duplicate key/);
  t.same((await sql<{ id: number }>`select id from t where id = 20`.execute(db)).rows, []);
  await t.rejects(sql`select * from nope`.execute(db), { code: '42P01' });
});

t.test('values keep their types across the thread boundary', async (t) => {
  const { rows } = await sql<{ small: number; big: bigint; dec: string; at: Date; flag: boolean; arr: string[]; nothing: null }>`
    select 9007199254740991::int8 as small, 9007199254740993::int8 as big, 1482.00000000::numeric as dec,
           '2026-01-01T00:00:00Z'::timestamptz as at, true as flag, array['a', null, 'c'] as arr, null as nothing`.execute(db);
  t.same(rows[0], { small: 9007199254740991, big: 9007199254740993n, dec: '1482.00000000', at: new Date('2026-01-01T00:00:00Z'), flag: true, arr: ['a', null, 'c'], nothing: null });
  t.ok(rows[0]!.at instanceof Date);
  const params = await sql<{ echo: string }>`select ${['x', 'y']}::text[]::text as echo`.execute(db);
  t.equal(params.rows[0]?.echo, '{x,y}', 'array parameters travel too');
});

t.test('the worker leaves out only the flags about the process’s own entry', async (t) => {
  t.same(workerExecArgv(['--import=x.mjs', '--input-type=module', '-e', 'code()', '--no-warnings']), ['--import=x.mjs', '--no-warnings']);
  t.same(workerExecArgv(['--eval', 'code()', '--print=1', '--experimental-strip-types']), ['--experimental-strip-types']);
});

t.test('after close, queries are refused', async (t) => {
  const otherDir = mkdtempSync(join(tmpdir(), 'klagg-pglite-worker-closed-'));
  t.teardown(() => rmSync(otherDir, { recursive: true, force: true }));
  const other = await openDatabase({ dataDir: otherDir });
  await other.close();
  await other.close(); // idempotent
  await t.rejects(sql`select 1`.execute(other.db));
});
