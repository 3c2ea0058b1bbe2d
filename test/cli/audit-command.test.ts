/**
 * `klagg audit` as a user runs it: a child process (the command in a commander program built as main.ts builds it)
 * against the fake exchange serving the real XRPETH data and a PostgreSQL database the recording was replayed into.
 * Checks the summary line, the JSONL report and the exit codes 0 (clean), 1 (differences) and 2 (bad arguments).
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { replaySystem } from '../../src/app/system-replay.ts';
import { openDatabase } from '../../src/infra/db/open-database.ts';
import { FakeExchange } from '../../src/infra/fake-exchange/fake-exchange.ts';
import { createRootLogger } from '../../src/infra/logger.ts';
import { readPublishedKlines, XRPETH_TRADES } from '../support/fixtures.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';

const logger = createRootLogger({ level: 'silent' });
const published = readPublishedKlines();

/** What main.ts does around a command: a root program with --config, ConfigError → exit 2, anything else → 1. */
const RUNNER = `
const { Command } = await import(${JSON.stringify(import.meta.resolve('commander'))});
const { auditCommand } = await import(${JSON.stringify(new URL('../../src/cli/audit-command.ts', import.meta.url).href)});
const { ConfigError } = await import(${JSON.stringify(new URL('../../src/infra/config/config-error.ts', import.meta.url).href)});
const { createRootLogger } = await import(${JSON.stringify(new URL('../../src/infra/logger.ts', import.meta.url).href)});
const program = new Command('klagg').option('-c, --config <file>').addCommand(auditCommand(createRootLogger({ level: 'warn' })));
try {
  await program.parseAsync(process.argv.slice(1), { from: 'user' });
} catch (error) {
  process.stderr.write(String(error instanceof ConfigError ? error.message : error?.stack ?? error) + '\\n');
  process.exitCode = error instanceof ConfigError ? 2 : 1;
}`;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment without any klagg setting of the machine running the tests, plus `env`. */
function cleanEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('KLAGG_') && name !== 'DATABASE_URL'));
  return { ...base, ...env };
}

function klagg(args: readonly string[], options: { cwd: string; env?: Record<string, string> }): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', RUNNER, '--', 'audit', ...args], { cwd: options.cwd, env: cleanEnv(options.env ?? {}), timeout: 60_000 }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number') reject(error);
      else resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
    });
  });
}

let database: TestDatabase;
let fx: FakeExchange;
let cwd: string;

t.before(async () => {
  database = await createTestDatabase('klagg_audit_cli');
  const replay = await replaySystem({ input: XRPETH_TRADES, intervals: ['1m'], graceMs: 1000, databaseUrl: database.url, logger });
  if (replay.exitCode !== 0) throw new Error(`the replay into ${database.name} failed (exit code ${replay.exitCode})`);
  fx = await FakeExchange.start({ source: { kind: 'recording', path: XRPETH_TRADES, speed: 'max' }, autoPublish: false, logger });
  fx.market.publishAll();
  cwd = mkdtempSync(join(tmpdir(), 'klagg-audit-'));
});
t.teardown(async () => {
  await fx?.close();
  await database?.drop();
  if (cwd) rmSync(cwd, { recursive: true, force: true });
});

t.test('a faithful store: every default from the store and config, the OK line, an empty report, exit 0', async (t) => {
  // No --symbols, --intervals or --since: every stored symbol, the configured intervals (only 1m is stored), each
  // series from its first stored kline; the exchange's last minute is still open there, so 3,559 are compared.
  const run = await klagg(['--database-url', database.url, '--rest-url', fx.restUrl], { cwd });
  t.equal(run.code, 0, run.stderr);
  t.equal(run.stdout, `audit: ${published.length - 1} klines compared, 0 missing, 0 extra, 0 differing, 0 not final — OK\n`);
  t.equal(readFileSync(join(cwd, 'audit-report.jsonl'), 'utf8'), '', 'the default report is written, empty');
});

t.test('differences: counted in the summary, one JSON line each in the report, exit 1', async (t) => {
  const handle = await openDatabase({ url: database.url });
  const [gone, heavier] = [published[600]!, published[500]!];
  const where = (openTime: number) => sql`symbol = 'XRPETH' and interval = '1m' and open_time = ${openTime}`;
  try {
    await sql`delete from klines where ${where(gone.openTime)}`.execute(handle.db);
    await sql`update klines set volume = volume + 1 where ${where(heavier.openTime)}`.execute(handle.db);
  } finally {
    await handle.close();
  }
  const report = join(cwd, 'differences.jsonl');
  const since = new Date(published[0]!.openTime).toISOString();
  const until = String(published[1000]!.openTime);
  // The database from DATABASE_URL (the configuration's environment), the symbol in lower case.
  const run = await klagg(['--symbols', 'xrpeth', '--intervals', '1m', '--since', since, '--until', until, '--rest-url', fx.restUrl, '--report', report], { cwd, env: { DATABASE_URL: database.url } });
  t.equal(run.code, 1, run.stderr);
  t.equal(run.stdout, `audit: 1000 klines compared, 1 missing, 0 extra, 1 differing, 0 not final — 2 differences, see ${report}\n`);
  const lines = readFileSync(report, 'utf8').split('\n');
  t.equal(lines.pop(), '', 'the report ends with a newline');
  t.equal(lines.length, 2);
  const [differs, missing] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  const key = { venue: 'binance', market: 'usdm', symbol: 'XRPETH', interval: '1m' };
  t.match(differs, { ...key, openTime: heavier.openTime, kind: 'differs', fields: [{ field: 'volume', exchange: String, stored: String }] });
  const [field] = (differs!['fields'] as { exchange: string; stored: string }[]);
  t.equal(Number(field!.stored) - Number(field!.exchange), 1, `volume ${field!.exchange} → ${field!.stored}`);
  t.equal((differs!['fields'] as unknown[]).length, 1, 'only the volume differs');
  t.match(missing, { ...key, openTime: gone.openTime, kind: 'missing', exchange: { open: String, close: String, volume: String, tradeCount: Number, closeTime: gone.openTime + 59_999 } });

  // Outside the damaged periods the same store audits clean.
  const clean = await klagg(['--symbols', 'XRPETH', '--intervals', '1m', '--since', String(published[700]!.openTime), '--until', '2019-10-12T00:00', '--rest-url', fx.restUrl, '--report', report], { cwd, env: { DATABASE_URL: database.url } });
  t.equal(clean.code, 0, clean.stderr);
  t.match(clean.stdout, /^audit: \d+ klines compared, 0 missing, 0 extra, 0 differing, 0 not final — OK\n$/);
  t.equal(readFileSync(report, 'utf8'), '', 'a clean audit leaves no stale report behind');
});

t.test('bad arguments exit 2 with a message, before touching anything', async (t) => {
  const cases: [string, string[], RegExp][] = [
    ['an unknown interval', ['--intervals', '1m,7m'], /invalid interval "7m"/],
    ['a time that is neither ISO 8601 nor ms', ['--since', 'yesterday'], /expected an ISO 8601 date/],
    ['an impossible date', ['--until', '2019-13-45'], /expected an ISO 8601 date/],
    ['since not before until', ['--since', '2019-10-12', '--until', '2019-10-11'], /--since .* must be before --until/],
    ['a malformed symbol', ['--symbols', 'XRPETH,,BTCUSDT'], /not a symbol/],
    ['an unknown option', ['--frobnicate'], /unknown option '--frobnicate'/],
    ['a REST URL that is not http(s) (a configuration error)', ['--rest-url', 'ftp://example.invalid'], /exchange\.restBaseUrl/],
    ['no database URL and no embedded database', ['--data-dir', join(cwd, 'nothing-here')], /no embedded database/],
  ];
  for (const [name, args, message] of cases) {
    const run = await klagg([...args, '--report', join(cwd, 'bad.jsonl')], { cwd });
    t.equal(run.code, 2, `${name}: exit 2`);
    t.match(run.stderr, message, `${name}: says why`);
    t.equal(run.stdout, '', `${name}: no summary`);
  }
  t.notOk(existsSync(join(cwd, 'bad.jsonl')), 'no report was written');
  t.notOk(existsSync(join(cwd, 'nothing-here')), 'no embedded database was created');
});
