/**
 * The role-process harness on commands klagg has today: `klagg fake-exchange` (a long-running role that prints a
 * ready line and stops cleanly on SIGTERM) and `klagg --help` (exits at once).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { isAlive } from './child-reaper.ts';
import { startRoleProcess } from './role-process.ts';

t.test('a long-running role: its ready line, its log, a clean SIGTERM stop, and a SIGSTOPped one still stops', async (t) => {
  const role = await startRoleProcess({ args: ['fake-exchange', '--symbols', '2', '--rate', '5', '--port', '0'], env: { KLAGG_LOG_LEVEL: 'warn' }, name: 'fake exchange' });
  t.teardown(() => role.stop());
  t.ok(role.pid > 0 && isAlive(role.pid), 'running');
  const ready = JSON.parse(await role.waitForLine(/"restUrl"/, 30_000)) as { restUrl: string };
  const info = (await (await fetch(`${ready.restUrl}/fapi/v1/exchangeInfo`)).json()) as { symbols: unknown[] };
  t.equal(info.symbols.length, 2, 'the role serves');

  const started = performance.now();
  await t.rejects(role.waitForLine(/never printed/, 300), { message: /no line matching \/never printed\/ within 300 ms\nlog .*fake_exchange-\d+-\d+\.log/ });
  t.ok(performance.now() - started < 2_000, 'the timeout is honoured');
  t.equal(await role.waitForLine((line) => line.includes('restUrl'), 100), role.lines.find((l) => l.includes('restUrl')), 'a kept line matches at once');

  role.kill('SIGSTOP');
  const exit = await role.stop(3_000);
  t.same(exit, { code: 0, signal: null }, 'SIGCONT then SIGTERM: an orderly exit 0');
  t.notOk(isAlive(role.pid), 'the pid is gone');
  t.match(readFileSync(role.logPath, 'utf8'), /"restUrl".*\n[\s\S]*--- exited: code 0, signal null/, 'stdout is in the log file');
  await t.rejects(role.waitForLine(/anything new/, 1_000, role.lineCount), { message: /exited before printing/ });
});

t.test('a role that exits: the exit code, its output, a SIGKILL reported as a signal', async (t) => {
  const help = await startRoleProcess({ args: ['--help'] });
  t.teardown(() => help.stop());
  t.match(await help.waitForLine(/^Usage: klagg/, 30_000), /Usage: klagg/);
  t.same(await help.exited, { code: 0, signal: null });
  t.ok(help.lines.some((line) => line.includes('fake-exchange')), 'the output is kept in memory');
  t.notOk(help.running);

  const role = await startRoleProcess({ args: ['fake-exchange', '--symbols', '1', '--rate', '1', '--port', '0'], env: { KLAGG_LOG_LEVEL: 'warn' } });
  t.teardown(() => role.stop());
  await role.waitForLine(/"restUrl"/, 30_000);
  role.kill('SIGKILL');
  t.same(await role.exited, { code: null, signal: 'SIGKILL' });
  t.notOk(isAlive(role.pid));
});
