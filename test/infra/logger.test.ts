/**
 * The root logger writes JSON lines asynchronously (a slow stderr reader must not stop the event loop), yet
 * `logger.flush(cb)` must call back only once every line logged before it is written: `klagg demo` prints its banner
 * on stdout after it, and a user reading both on one terminal or file must see the start's log lines first.
 * A child process logs while the libuv threadpool (where the write happens) is busy, then writes to stdout once flush
 * calls back; both go to one file.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const LOGGER = fileURLToPath(new URL('../../src/infra/logger.ts', import.meta.url));

const CHILD = `
import { pbkdf2 } from 'node:crypto';
import { createRootLogger } from ${JSON.stringify(LOGGER)};
const logger = createRootLogger({ level: 'info', pretty: false });
// One threadpool thread, kept busy for a while: the log line's write waits behind it.
pbkdf2('secret', 'salt', 400_000, 64, 'sha512', () => {});
for (let i = 0; i < 3; i++) logger.info({ i }, 'logged before the flush');
logger.flush(() => process.stdout.write('after the flush\\n'));
`;

t.test('flush calls back only after the lines logged before it are written', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'klagg-logger-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'out.txt');
  const fd = openSync(file, 'a');
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD], { stdio: ['ignore', fd, fd], env: { ...process.env, UV_THREADPOOL_SIZE: '1' }, timeout: 30_000 });
  closeSync(fd);
  t.equal(child.status, 0, 'the child exits 0');
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  t.same(
    lines.map((line) => (line.startsWith('{') ? (JSON.parse(line) as { msg: string }).msg : line)),
    ['logged before the flush', 'logged before the flush', 'logged before the flush', 'after the flush'],
    'the log lines first, then what was written once flush called back',
  );
});
