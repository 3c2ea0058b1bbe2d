/**
 * Every command goes through the configuration before it starts: the root logger's level comes from `log.level` (a
 * config file, KLAGG_LOG__LEVEL or its alias KLAGG_LOG_LEVEL), and a bad configuration stops any command with exit 2,
 * including those with no settings of their own (record, chaos, fake-exchange).
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { XRPETH_TRADES } from '../support/fixtures.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

function cleanEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('KLAGG_') && name !== 'DATABASE_URL'));
  return { ...base, ...env };
}

async function klagg(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv(env) });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

function configFile(t: Test, content: unknown): string {
  return `${t.testdir({ 'klagg.json': JSON.stringify(content) })}/klagg.json`;
}

t.test('replay: the log level comes from the configuration', async (t) => {
  // The recording's first 2000 trades: enough for klines, quick to replay.
  const trades = readFileSync(XRPETH_TRADES, 'utf8').split('\n').slice(0, 2000).join('\n');
  const dir = t.testdir({ 'trades.jsonl': `${trades}\n`, 'klagg.json': JSON.stringify({ log: { level: 'warn' } }) });
  const args = ['replay', '--input', `${dir}/trades.jsonl`, '--intervals', '1m'];
  const info = await klagg(args, { KLAGG_LOG__LEVEL: 'info' });
  t.equal(info.code, 0);
  t.match(info.stderr, '"msg":"replay finished"');
  const alias = await klagg(args, { KLAGG_LOG_LEVEL: 'info' });
  t.match(alias.stderr, '"msg":"replay finished"', 'KLAGG_LOG_LEVEL is the alias of log.level');
  const quiet = await klagg(['--config', `${dir}/klagg.json`, ...args]);
  t.equal(quiet.code, 0);
  t.equal(quiet.stderr, '', 'log.level warn from the file: no info lines');
  t.ok(info.stdout.length > 0, 'klines printed');
  t.equal(quiet.stdout, info.stdout, 'the same klines either way');
  const pretty = await klagg(args, { KLAGG_LOG__PRETTY: 'true', KLAGG_LOG__LEVEL: 'info' });
  t.match(pretty.stderr, 'replay finished');
  t.notMatch(pretty.stderr, '"msg":', 'log.pretty: human-readable lines, not JSON');
});

t.test('fake-exchange: log settings from the configuration; SIGTERM stops it', async (t) => {
  const run = async (env: Record<string, string>, args: string[] = []): Promise<string> => {
    const child = spawn(process.execPath, [MAIN, ...args, 'fake-exchange', '--symbols', '2', '--rate', '5'], { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv(env) });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await new Promise<void>((resolve) => createInterface({ input: child.stdout! }).once('line', () => resolve()));
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    t.equal(code, 0, 'exit 0 after SIGTERM');
    return stderr;
  };
  t.match(await run({ KLAGG_LOG_LEVEL: 'info' }), 'fake exchange: stopping');
  t.notMatch(await run({}, ['--config', configFile(t, { log: { level: 'error' } })]), 'fake exchange: stopping');
});

t.test('a bad configuration stops every command with exit 2, before it starts', async (t) => {
  const commands: readonly (readonly string[])[] = [
    ['fake-exchange'],
    ['record', '--symbols', 'BTCUSDT', '--duration', '1s', '--output', `${t.testdir()}/rec.jsonl`],
    ['chaos', '--symbols', '2'],
    ['replay', '--input', XRPETH_TRADES, '--intervals', '1d'],
    ['run', '--port', '0'],
    ['demo', '--port', '0'],
    ['backfill'],
    ['audit'],
  ];
  const results = await Promise.all(commands.map((args) => klagg(args, { KLAGG_LOG__LEVL: 'info' })));
  for (const [index, args] of commands.entries()) {
    const result = results[index]!;
    t.equal(result.code, 2, `${args[0]}: exit 2`);
    t.match(result.stderr, 'log.levl: unknown environment variable, did you mean KLAGG_LOG__LEVEL? (from env KLAGG_LOG__LEVL)', args[0]!);
  }
});
