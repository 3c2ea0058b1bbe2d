/**
 * The last line of defence against leaked child processes (nats-servers, klagg role processes) of a test file.
 *
 * A test stops its children in `t.teardown`, and the harnesses also kill them synchronously on the process's 'exit'
 * event. Neither runs when the test process itself dies by a signal: tap's timeout (SIGTERM, then SIGKILL), a ^C, an
 * OOM kill. So each test process that spawns children also starts one tiny `sh` watcher whose stdin is a pipe from
 * this process. The watcher learns each child's pid as it is spawned (`add <pid>`) and forgets it once the child has
 * exited (`del <pid>`); when its stdin reaches EOF, which the kernel guarantees however this process ends, it
 * SIGKILLs whatever pids it still holds. Forgetting exited children matters: a stale pid could by then belong to
 * someone else's process (the machine is shared).
 *
 * Temp directories (a NATS server's store) can be registered too (`dir <path>`): removed after the kills.
 *
 * The watcher is unref'd (and so is its pipe), so it never keeps the test process alive.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';

// POSIX sh (dash on Debian): `case` + `sed` only. No SIGCONT needed: SIGKILL ends stopped processes too. Directories
// are removed after the kills, so no server is still writing into one.
const WATCHER = `
pids=" "
dirs=""
while read -r op arg; do
  case "$op" in
    add) pids="$pids$arg " ;;
    del) pids=$(printf '%s' "$pids" | sed "s/ $arg / /") ;;
    dir) dirs="$dirs$arg
" ;;
  esac
done
for p in $pids; do kill -9 "$p" 2>/dev/null; done
printf '%s' "$dirs" | while IFS= read -r d; do [ -n "$d" ] && rm -rf -- "$d"; done
`;

let watcher: ChildProcess | undefined;
const live = new Set<number>();
const dirs = new Set<string>();

function ensureWatcher(): ChildProcess {
  if (watcher !== undefined && watcher.exitCode === null && watcher.signalCode === null) return watcher;
  const child = spawn('sh', ['-c', WATCHER], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  child.unref();
  (child.stdin as unknown as Socket).unref();
  // A write to a watcher that died anyway must not crash the test process.
  child.stdin!.on('error', () => {});
  for (const pid of live) child.stdin!.write(`add ${pid}\n`);
  for (const dir of dirs) child.stdin!.write(`dir ${dir}\n`);
  watcher = child;
  return child;
}

/** Registers a running child so that it is SIGKILLed if this process dies before `forgetChild(pid)`. */
export function watchChild(pid: number): void {
  live.add(pid);
  ensureWatcher().stdin!.write(`add ${pid}\n`);
}

/** The child has exited (its 'exit' event fired): its pid must no longer be killed. */
export function forgetChild(pid: number): void {
  if (!live.delete(pid)) return;
  watcher?.stdin?.write(`del ${pid}\n`);
}

/** Registers a directory to remove if this process dies without cleaning up (removing it earlier is fine). */
export function removeDirOnDeath(dir: string): void {
  if (dir.includes('\n')) return;
  dirs.add(dir);
  ensureWatcher().stdin!.write(`dir ${dir}\n`);
}

/** Synchronous SIGKILL of every registered child: for `process.on('exit')`, where nothing async runs. */
export function killAllWatchedSync(): void {
  for (const pid of live) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** Whether a process with this pid exists (signal 0 probes without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

process.on('exit', killAllWatchedSync);
