/**
 * One process per embedded-database folder. PGlite has no lock of its own, and two processes writing one data
 * directory corrupt it, so opening a folder another live process holds fails at once with
 * KLAGG_ERR_START_DATA_DIR_LOCKED.
 *
 * The lock is `<dir>/klagg.lock` holding the owner's pid, created with O_EXCL (`wx`): creation is atomic, so of two
 * processes starting together exactly one wins. A lock whose pid is no longer running (a crash, a kill -9) is stale
 * and taken over; close removes it. A pid file rather than `proper-lockfile`: that library judges staleness by an
 * mtime it refreshes on a timer (a timer per open database, and a false "stale" when the event loop stalls longer
 * than its window), needs a new dependency, and cannot say *which* process holds the folder; the data directory is
 * always local, where "is this pid alive" is the exact question. (A pid the OS has reused for an unrelated process
 * reads as live; the error names the pid, so the user can check and delete the file.)
 */
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { KlaggError } from '../../domain/errors.ts';

export const LOCK_FILE = 'klagg.lock';

/**
 * Lock files this process holds. A lock naming this very pid that is not in here was left by an earlier process that
 * had the same pid: in a container klagg is often pid 1 on every start, and a persistent volume keeps the old lock.
 */
const held = new Set<string>();

export interface DataDirLock {
  readonly path: string;
  /** Removes the lock file (only if it is still ours). Idempotent. */
  release(): Promise<void>;
}

/** Takes `<dir>/klagg.lock` for this process, taking over a stale one; throws KLAGG_ERR_START_DATA_DIR_LOCKED. */
export async function lockDataDir(dir: string, pid: number = process.pid): Promise<DataDirLock> {
  const path = join(dir, LOCK_FILE);
  let unreadable = 0;
  // A few rounds: between reading a stale lock and creating ours, another starting process may get there first.
  for (let attempt = 0; attempt < 10; attempt++) {
    if (await tryCreate(path, pid)) return lockHandle(path, pid);
    const holder = await readPid(path);
    if (holder === 'missing') continue; // released meanwhile: try again
    if (holder === 'unreadable') {
      // Just created and not yet written by its owner, or left empty by a crash at that instant: wait a little,
      // and take it over once it has stayed unreadable well past any write.
      if (++unreadable < 4) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        continue;
      }
      await takeOver(path, holder);
      continue;
    }
    const ownedByEarlierSelf = holder === process.pid && !held.has(path);
    if (!ownedByEarlierSelf && isAlive(holder)) throw new KlaggError('KLAGG_ERR_START_DATA_DIR_LOCKED', { dir, pid: holder });
    await takeOver(path, holder);
  }
  const holder = await readPid(path);
  throw new KlaggError('KLAGG_ERR_START_DATA_DIR_LOCKED', { dir, pid: typeof holder === 'number' ? holder : 0 });
}

async function tryCreate(path: string, pid: number): Promise<boolean> {
  try {
    const file = await open(path, 'wx');
    try {
      await file.writeFile(`${pid}\n`);
    } finally {
      await file.close();
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/**
 * Moves a stale lock aside, but only while it still names the dead pid: renaming is atomic, and the file renamed is
 * checked afterwards, so a lock another process created in between (a live one) is put back instead of deleted.
 */
async function takeOver(path: string, stale: number | 'unreadable'): Promise<void> {
  const aside = `${path}.stale-${process.pid}-${Date.now()}`;
  try {
    await rename(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const moved = await readPid(aside);
  if (moved === stale || moved === 'missing') {
    await unlink(aside).catch(() => {});
    return;
  }
  // Someone else's fresh lock: put it back unless a third process has created one meanwhile (then theirs stands
  // and this one is dropped; the other would fail on its own next check, which is the safe direction).
  await rename(aside, path).catch(() => {});
}

async function readPid(path: string): Promise<number | 'missing' | 'unreadable'> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    const pid = Number(text);
    return text !== '' && Number.isSafeInteger(pid) && pid > 0 ? pid : 'unreadable';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
}

/** Signal 0 checks existence without signalling: ESRCH means gone; EPERM means alive under another user. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function lockHandle(path: string, pid: number): DataDirLock {
  held.add(path);
  let released: Promise<void> | undefined;
  return {
    path,
    release: () =>
      (released ??= (async () => {
        try {
          if ((await readPid(path)) === pid) await unlink(path).catch(() => {});
        } finally {
          held.delete(path);
        }
      })()),
  };
}
