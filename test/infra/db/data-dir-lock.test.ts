/**
 * The embedded database's folder lock, through `openDatabase` as the service opens it: a second process is refused
 * with KLAGG_ERR_START_DATA_DIR_LOCKED while the first holds the folder, a lock left by a dead process is taken over,
 * and close releases the folder. The other process is a real one (a tiny node script), not a simulated pid.
 */
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KlaggError } from '../../../src/domain/errors.ts';
import { LOCK_FILE, isAlive, lockDataDir } from '../../../src/infra/db/data-dir-lock.ts';
import { openDatabase } from '../../../src/infra/db/open-database.ts';

const OPEN_DATABASE = new URL('../../../src/infra/db/open-database.ts', import.meta.url).href;

/** Runs a node script that opens `dataDir` and prints `{code}` (or `ok`) on its stdout; resolves with that line. */
function openInOtherProcess(dataDir: string): { code: string | null; stderr: string } {
  const script = `
    import { openDatabase } from ${JSON.stringify(OPEN_DATABASE)};
    try {
      const handle = await openDatabase({ dataDir: ${JSON.stringify(dataDir)} });
      await handle.close();
      console.log(JSON.stringify({ code: null }));
    } catch (error) {
      console.log(JSON.stringify({ code: error.code ?? String(error), message: error.message }));
    }`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  const line = child.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return { code: (JSON.parse(line) as { code: string | null }).code, stderr: child.stderr };
  } catch {
    return { code: `no answer: ${line}`, stderr: child.stderr };
  }
}

/** A pid that is certainly not running: a child that has already exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  const pid = child.pid!;
  if (isAlive(pid)) throw new Error(`pid ${pid} is still alive`);
  return pid;
}

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'klagg-lock-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('another process is refused while this one holds the folder; close releases it', async (t) => {
  const dataDir = tempDir(t);
  const handle = await openDatabase({ dataDir });
  let closed = false;
  t.teardown(() => (closed ? undefined : handle.close()));
  t.equal(readFileSync(join(dataDir, LOCK_FILE), 'utf8').trim(), String(process.pid), 'the lock names this process');

  const refused = openInOtherProcess(dataDir);
  t.equal(refused.code, 'KLAGG_ERR_START_DATA_DIR_LOCKED', `second process refused (stderr: ${refused.stderr.slice(0, 500)})`);

  await handle.close();
  closed = true;
  t.notOk(existsSync(join(dataDir, LOCK_FILE)), 'close removes the lock file');
  const after = openInOtherProcess(dataDir);
  t.equal(after.code, null, `after close another process opens it (stderr: ${after.stderr.slice(0, 500)})`);
  t.notOk(existsSync(join(dataDir, LOCK_FILE)), 'and its close removes its lock too');
});

t.test('the error names the folder and the holding pid', async (t) => {
  const dataDir = tempDir(t);
  const lock = await lockDataDir(dataDir);
  t.teardown(() => lock.release());
  const error = await lockDataDir(dataDir).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(error instanceof KlaggError, 'a KlaggError');
  t.equal((error as KlaggError).code, 'KLAGG_ERR_START_DATA_DIR_LOCKED');
  t.match((error as KlaggError).message, `data directory ${dataDir} is in use by process ${process.pid}`);
  // The same process opening the folder twice is refused as well: two PGlite instances on one folder corrupt it.
  await t.rejects(openDatabase({ dataDir }), { code: 'KLAGG_ERR_START_DATA_DIR_LOCKED' });
});

t.test('a stale lock (its process is dead) is taken over', async (t) => {
  const dataDir = tempDir(t);
  const dead = await deadPid();
  writeFileSync(join(dataDir, LOCK_FILE), `${dead}\n`);
  // The lock alone: opening PGlite behind it is the first test's part (and takes seconds).
  const lock = await lockDataDir(dataDir);
  t.equal(readFileSync(join(dataDir, LOCK_FILE), 'utf8').trim(), String(process.pid), 'the lock now names this process');
  await lock.release();
  t.notOk(existsSync(join(dataDir, LOCK_FILE)), 'release removes it');
});

t.test('a lock naming this pid that this process does not hold is stale (a container restart: pid 1 again)', async (t) => {
  const dataDir = tempDir(t);
  writeFileSync(join(dataDir, LOCK_FILE), `${process.pid}\n`);
  const lock = await lockDataDir(dataDir);
  t.equal(readFileSync(lock.path, 'utf8').trim(), String(process.pid));
  await t.rejects(lockDataDir(dataDir), { code: 'KLAGG_ERR_START_DATA_DIR_LOCKED' }, 'but once held here, a second open is refused');
  await lock.release();
  t.notOk(existsSync(lock.path));
});

t.test('a lock file left empty (a crash between create and write) is taken over after a short wait', async (t) => {
  const dataDir = tempDir(t);
  writeFileSync(join(dataDir, LOCK_FILE), '');
  const lock = await lockDataDir(dataDir);
  t.equal(readFileSync(lock.path, 'utf8').trim(), String(process.pid));
  await lock.release();
});

t.test('release leaves a lock that is no longer ours alone', async (t) => {
  const dataDir = tempDir(t);
  const lock = await lockDataDir(dataDir);
  writeFileSync(lock.path, '1\n'); // as if another process had taken over (pid 1 is always alive)
  await lock.release();
  t.equal(readFileSync(lock.path, 'utf8').trim(), '1', 'the other owner’s lock stays');
});

t.test('two processes starting at once on a fresh folder: exactly one wins', async (t) => {
  const dataDir = tempDir(t);
  const script = (id: number) => `
    import { lockDataDir } from ${JSON.stringify(new URL('../../../src/infra/db/data-dir-lock.ts', import.meta.url).href)};
    try {
      await lockDataDir(${JSON.stringify(dataDir)});
      console.log('won ${id}');
      await new Promise((r) => setTimeout(r, 1500));
    } catch (error) {
      console.log(error.code);
    }`;
  const run = (id: number) =>
    new Promise<string>((resolve) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script(id)]);
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.on('exit', () => resolve(out.trim()));
    });
  const results = await Promise.all([run(1), run(2), run(3)]);
  t.equal(results.filter((r) => r.startsWith('won')).length, 1, `one winner: ${results.join(', ')}`);
  t.equal(results.filter((r) => r === 'KLAGG_ERR_START_DATA_DIR_LOCKED').length, 2, 'the others refused');
});
