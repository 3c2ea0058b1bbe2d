import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { XRPETH_TRADES } from '../support/fixtures.ts';

const run = promisify(execFile);
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'klagg-replay-'));

async function klagg(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [MAIN, ...args], { maxBuffer: 64 << 20 });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const e = error as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

t.test('klagg replay writes one JSON line per final kline, byte-identical on every run', async (t) => {
  const first = join(dir, 'first.jsonl');
  const second = join(dir, 'second.jsonl');
  const a = await klagg('replay', '--input', XRPETH_TRADES, '--intervals', '1m,5m,1h', '--output', first);
  t.equal(a.code, 0, a.stderr);
  await klagg('replay', '--input', XRPETH_TRADES, '--intervals', '1m,5m,1h', '--output', second);
  const bytes = readFileSync(first);
  t.ok(bytes.equals(readFileSync(second)), 'the same input gives byte-identical output');
  const lines = bytes.toString().trimEnd().split('\n');
  const byInterval = (interval: string) => lines.filter((line) => line.includes(`"interval":"${interval}"`)).length;
  t.equal(byInterval('1m'), 3_560);
  t.equal(byInterval('5m'), 712);
  t.equal(byInterval('1h'), 60);
  t.same(JSON.parse(lines[0]!), {
    symbol: 'XRPETH',
    interval: '1m',
    kline: [1570752000000, '0.00141342', '0.00141557', '0.00141266', '0.00141418', '1482.00000000', 1570752059999, '2.0955056400000000', 9, '1182.00000000', '1.6711193600000000', '0'],
  });
  const summary = JSON.parse(a.stderr.trim().split('\n').at(-1)!) as { msg: string; engine: { applied: number } };
  t.equal(summary.msg, 'replay finished');
  t.equal(summary.engine.applied, 12_477, 'the closing log line reports the counts');
});

t.test('bad frames, duplicates and gaps are counted and reported, never fatal', async (t) => {
  const input = join(dir, 'messy.jsonl');
  const trade = (a: number, p: string, T: number) => JSON.stringify({ e: 'aggTrade', E: T, s: 'ABCUSDT', a, p, q: '1.0', f: a, l: a, T, m: false });
  writeFileSync(
    input,
    [trade(1, '10.5', 1_000), '{"result":null,"id":1}', trade(2, '11.0', 2_000), '{not json', trade(2, '11.0', 2_000), trade(5, '12.0', 61_000), '{"e":"aggTrade","s":"ABCUSDT"}', ''].join('\n'),
  );
  const out = await klagg('replay', '--input', input, '--intervals', '1m');
  t.equal(out.code, 0, 'the replay finishes');
  const lines = out.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { kline: unknown[] });
  t.same(lines.map((l) => l.kline.slice(0, 6)), [
    [0, '10.5', '11.0', '10.5', '11.0', '2.0'],
    [60_000, '12.0', '12.0', '12.0', '12.0', '1.0'],
  ]);
  const logs = out.stderr.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  const gaps = logs.find((l) => l['gaps'] !== undefined)!['gaps'];
  t.same(gaps, [{ symbol: 'ABCUSDT', fromId: 3, toId: 4 }]);
  const rejected = logs.find((l) => l['rejected'] !== undefined)!['rejected'];
  t.same(rejected, [
    { frame: 2, reason: 'not-aggtrade' },
    { frame: 4, reason: 'malformed' },
    { frame: 7, reason: 'missing-field a' },
  ]);
  const summary = logs.at(-1) as { engine: { duplicates: number }; frames: { malformed: number; notAggTrade: number; missingField: number } };
  t.equal(summary.engine.duplicates, 1);
  t.same([summary.frames.malformed, summary.frames.notAggTrade, summary.frames.missingField], [1, 1, 1]);
});

t.test('bad parameters stop with a precise message', async (t) => {
  const badInterval = await klagg('replay', '--input', XRPETH_TRADES, '--intervals', '1m,2m');
  t.not(badInterval.code, 0);
  t.match(badInterval.stderr, /invalid interval "2m"/);
  const badScale = await klagg('replay', '--input', XRPETH_TRADES, '--price-scale', '-3');
  t.not(badScale.code, 0);
  t.match(badScale.stderr, /--price-scale must be a whole number from 0 to 18/);
  const missing = await klagg('replay', '--input', join(dir, 'nope.jsonl'));
  t.not(missing.code, 0);
  t.match(missing.stderr, /ENOENT|no such file/);
  const noInput = await klagg('replay');
  t.not(noInput.code, 0);
  t.match(noInput.stderr, /--input/);
});

t.test('a bad configuration stops the start with one precise line per bad field', async (t) => {
  const run = promisify(execFile);
  const result = await run(process.execPath, [MAIN, 'replay', '--input', XRPETH_TRADES, '--system'], {
    env: { ...process.env, KLAGG_GATEWAY__PULL_TIMEOUT_MS: '900', KLAGG_WORKERS__COUNT: 'abc', KLAGG_ADMIN_TOKEN: 'short-secret' },
  }).then(
    () => ({ code: 0, stderr: '' }),
    (error: { code: number; stderr: string }) => error,
  );
  t.equal(result.code, 2, 'exit code 2');
  t.match(result.stderr, /invalid klagg configuration \(3 problems\)/);
  t.match(result.stderr, /workers\.count: must be an integer from 1 to 64, got "abc" \(from env KLAGG_WORKERS__COUNT\)/);
  t.match(result.stderr, /gateway\.pullTimeoutMs: must be less than gateway\.pullIntervalMs \(250\), got 900/);
  t.notMatch(result.stderr, /short-secret/, 'the admin token is never echoed');
});
