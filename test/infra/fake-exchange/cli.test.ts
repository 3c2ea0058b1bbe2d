/** `klagg fake-exchange`: prints its URLs, serves, and stops cleanly on SIGTERM / SIGINT. */
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { runFakeExchange } from '../../../src/cli/fake-exchange-command.ts';
import { createRootLogger } from '../../../src/infra/logger.ts';
import { XRPETH_TRADES } from '../../support/fixtures.ts';
import { WsClient, type Json } from '../../support/ws-client.ts';
import { getJson, isAggTrade } from './helpers.ts';

const RUNNER = fileURLToPath(new URL('./support/run-cli.ts', import.meta.url));

async function startCli(args: string[]) {
  const child = spawn(process.execPath, [RUNNER, 'fake-exchange', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const urls = await new Promise<{ restUrl: string; wsUrl: string; adminFaults: string }>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      stdout += chunk.toString();
      const newline = stdout.indexOf('\n');
      if (newline < 0) return;
      child.stdout.off('data', onData);
      // Later lines (the blast's) are the caller's to read.
      if (newline + 1 < stdout.length) child.stdout.unshift(Buffer.from(stdout.slice(newline + 1)));
      resolve(JSON.parse(stdout.slice(0, newline)));
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${stderr}`)));
  });
  return { child, urls, stderr: () => stderr };
}

t.test('a generated market: prints the URLs, serves REST and WS, stops on SIGTERM', async (t) => {
  const { child, urls } = await startCli(['--symbols', '3', '--rate', '50', '--seed', '4', '--port', '0', '--weight-limit', '100', '--max-connection-age-ms', '60000']);
  t.match(urls.restUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.match(urls.wsUrl, /^ws:\/\/127\.0\.0\.1:\d+$/);
  const info = await getJson(`${urls.restUrl}/fapi/v1/exchangeInfo`);
  t.equal(info.body.symbols.length, 3);
  t.equal(info.body.rateLimits[0].limit, 100, '--weight-limit applies');
  const symbol = info.body.symbols[0].symbol.toLowerCase();
  const client = await WsClient.open(`${urls.wsUrl}/market/stream?streams=${symbol}@aggTrade`);
  await client.waitCount(isAggTrade, 3, 5_000);
  const fault = await fetch(urls.adminFaults, { method: 'POST', body: JSON.stringify({ type: 'dropConnections' }) });
  t.equal(fault.status, 200, 'the admin route takes faults from another process');
  t.equal((await client.closed).code, 1006);
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  t.equal(code, 0, 'a clean exit');
});

t.test('a replay at speed max; SIGINT stops it', async (t) => {
  const { child, urls } = await startCli(['--replay', XRPETH_TRADES, '--speed', 'max']);
  const allKlines = async (): Promise<number[][]> => {
    const rows: number[][] = [];
    for (let startTime = 0; ; ) {
      const page = (await getJson(`${urls.restUrl}/fapi/v1/klines?symbol=XRPETH&interval=1m&startTime=${startTime}&limit=1500`)).body as number[][];
      if (page.length === 0) return rows;
      rows.push(...page);
      startTime = page.at(-1)![0]! + 1;
    }
  };
  let klines = await allKlines();
  for (let i = 0; i < 50 && klines.length < 3_560; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    klines = await allKlines();
  }
  t.equal(klines.length, 3_560, 'the whole recording is served');
  child.kill('SIGINT');
  const [code] = await once(child, 'exit');
  t.equal(code, 0);
});

t.test('bad options are refused', async (t) => {
  const child = spawn(process.execPath, [RUNNER, 'fake-exchange', '--speed', 'fast'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = await once(child, 'exit');
  t.not(code, 0);
  t.match(stderr, /--speed/);
});

t.test('runFakeExchange in-process: stops when the signal aborts', async (t) => {
  const stop = new AbortController();
  const lines: string[] = [];
  let restUrl = '';
  const done = runFakeExchange(
    { speed: 1, symbols: 2, rate: 10, seed: 1, port: 0, legacySilent: true, listings: [{ atMs: 0 }], delistings: [{ symbol: 0, atMs: 0 }] },
    {
      logger: createRootLogger({ level: 'silent' }),
      signal: stop.signal,
      write: (line) => lines.push(line),
      onStarted: (exchange) => {
        restUrl = exchange.restUrl;
      },
    },
  );
  while (restUrl === '') await new Promise((resolve) => setTimeout(resolve, 5));
  const info = await getJson(`${restUrl}/fapi/v1/exchangeInfo`);
  t.same(
    info.body.symbols.map((s: { status: string }) => s.status),
    ['SETTLING', 'TRADING', 'PENDING_TRADING'],
    'listings and delistings from the options',
  );
  t.equal(JSON.parse(lines[0]!).restUrl, restUrl);
  stop.abort();
  await done;
  await t.rejects(fetch(`${restUrl}/fapi/v1/time`));
});

t.test('--blast: the URL line says how many trades, then a JSON line when the round starts and one when it ends', async (t) => {
  const { child, urls } = await startCli(['--replay', XRPETH_TRADES, '--blast', '--blast-chunk-bytes', '10000']);
  t.match(urls, { blast: { trades: 12_477 } });
  const lines: Json[] = [];
  const reader = createInterface({ input: child.stdout! });
  reader.on('line', (line) => lines.push(JSON.parse(line)));
  const client = await WsClient.open(`${urls.wsUrl}/market/stream?streams=xrpeth@aggTrade`);
  await client.waitCount(isAggTrade, 12_477, 10_000);
  for (let i = 0; i < 200 && lines.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.match(lines[0], { event: 'blastStart', round: 1, connections: 1, trades: 12_477, frames: 12_477 });
  t.match(lines[1], { event: 'blastEnd', round: 1, connections: 1, frames: 12_477, bytes: lines[0].bytes, complete: true });
  t.ok(lines[0].at > Date.now() - 60_000 && lines[1].at >= lines[0].at, 'times in ms since the epoch');
  t.ok(lines[1].cpuUserMs >= 0 && lines[1].cpuSystemMs >= 0);
  client.close();
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  t.equal(code, 0);
});

t.test('--blast without --replay is refused', async (t) => {
  await t.rejects(
    runFakeExchange({ speed: 1, symbols: 2, rate: 10, seed: 1, port: 0, legacySilent: true, blast: true }, { logger: createRootLogger({ level: 'silent' }), signal: new AbortController().signal, write: () => {} }),
    /--blast needs --replay/,
  );
});
