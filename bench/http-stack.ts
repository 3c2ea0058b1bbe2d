/**
 * HTTP stack comparison (not part of `npm run bench` nor of the tests): `GET /fapi/v1/klines?symbol=…&limit=500`
 * served by (a) a bare node:http server with a hand-written dispatch — the stack klagg had before Fastify — and
 * (b) klagg's HttpServer as it is now, both answering from the same in-memory 500 klines through the same route code
 * (parse, select, format, 12-field rows), so the difference is the HTTP stack alone.
 *
 * Load comes from a second process (this file with `--load`): `--connections` keep-alive sockets, each sending its
 * next request as soon as the previous answer is read, for `--seconds`; it reports requests/s and latency
 * percentiles. Everything stays on loopback.
 *
 * Rounds rotate the servers' order (the machine's other load hits both alike); the summary is the median per server.
 * `--path` measures another route, e.g. `/fapi/v1/ping` for the stack's own cost per request.
 *
 * `--baseline <checkout>` adds that checkout's HttpServer (e.g. a `git worktree` of the commit before Fastify, whose
 * server was node:http with klagg's hand-written router) as a third server.
 *
 *   node bench/http-stack.ts [--connections 64] [--seconds 10] [--rounds 3] [--path /fapi/v1/ping] [--baseline dir]
 */
import { fork } from 'node:child_process';
import { Agent, createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { toBinanceRow, type Kline } from '../src/domain/kline.ts';
import { systemClock } from '../src/infra/clock.ts';
import { formatServedKlines, parseKlinesQuery, selectKlines } from '../src/infra/http/binance-routes.ts';
import type { HttpContext, ServedSymbol } from '../src/infra/http/context.ts';
import { HttpServer } from '../src/infra/http/http-server.ts';
import { createRootLogger } from '../src/infra/logger.ts';

const { values } = parseArgs({
  options: {
    load: { type: 'string' },
    connections: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    baseline: { type: 'string' },
    path: { type: 'string', default: '/fapi/v1/klines?symbol=XRPETH&interval=1m&limit=500' },
  },
});

const PATH = values.path;

if (values.load !== undefined) {
  await runLoad(values.load, Number(values.connections), Number(values.seconds));
} else {
  await main();
}

async function main(): Promise<void> {
  const context = memoryContext();
  const connections = Number(values.connections);
  const seconds = Number(values.seconds);
  const bare = await startBareNodeHttp(context);
  const klagg = await HttpServer.start({ host: '127.0.0.1', port: 0, context, logger: createRootLogger({ level: 'silent' }), defaultMetrics: false });
  const servers = [
    { name: 'node:http + hand dispatch', url: bare.url, runs: [] as LoadResult[] },
    { name: 'klagg HttpServer (now)', url: klagg.url, runs: [] as LoadResult[] },
  ];
  let baseline: { close(): Promise<void> } | undefined;
  if (values.baseline !== undefined) {
    const module = (await import(pathToFileURL(`${values.baseline}/src/infra/http/http-server.ts`).href)) as { HttpServer: typeof HttpServer };
    const old = await module.HttpServer.start({ host: '127.0.0.1', port: 0, context, logger: createRootLogger({ level: 'silent' }), defaultMetrics: false });
    baseline = old;
    servers.push({ name: 'baseline HttpServer', url: old.url, runs: [] });
  }
  const same = await (await fetch(`${bare.url}${PATH}`)).text();
  for (const server of servers) if (same !== (await (await fetch(`${server.url}${PATH}`)).text())) throw new Error(`${server.name} answers differently`);
  console.log(`GET ${PATH} (${same.length} bytes), ${connections} keep-alive connections, ${seconds} s per run, node ${process.version}`);
  for (let round = 1; round <= Number(values.rounds); round++) {
    for (const server of servers.map((_, i) => servers[(i + round) % servers.length]!)) {
      const r = await load(server.url, connections, seconds);
      server.runs.push(r);
      console.log(`round ${round}  ${server.name.padEnd(28)} ${Math.round(r.rps).toString().padStart(7)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${r.errors}`);
    }
  }
  const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (const server of servers) {
    console.log(`median  ${server.name.padEnd(28)} ${Math.round(median(server.runs.map((r) => r.rps))).toString().padStart(7)} req/s  p99 ${median(server.runs.map((r) => r.p99)).toFixed(2)} ms`);
  }
  await new Promise<void>((resolve) => bare.server.close(() => resolve()));
  bare.server.closeAllConnections();
  await klagg.close();
  await baseline?.close();
}

/** 500 one-minute klines in memory; the store answers from them as the PostgreSQL one would. */
function memoryContext(): HttpContext {
  const start = Date.UTC(2024, 0, 1);
  const klines: Kline[] = Array.from({ length: 500 }, (_, i) => ({
    symbol: 'XRPETH',
    interval: '1m',
    openTime: start + i * 60_000,
    closeTime: start + (i + 1) * 60_000 - 1,
    open: '0.00123456',
    high: '0.00124000',
    low: '0.00122000',
    close: '0.00123999',
    volume: '12345.00000000',
    quoteVolume: '15.23456789',
    tradeCount: 42 + i,
    takerBuyVolume: '6000.00000000',
    takerBuyQuoteVolume: '7.40000000',
    firstTradeId: i * 100,
    lastTradeId: i * 100 + 41,
    lastAggId: i * 50,
    isFinal: true,
  }));
  const served: ServedSymbol = { symbol: 'XRPETH', status: 'TRADING', tickSize: '0.00000001', stepSize: '0.00000001', baseAsset: 'XRP', quoteAsset: 'ETH' };
  const empty = { getSnapshot: () => ({ context: { symbols: {}, actors: {} } }) };
  return {
    venue: 'binance',
    market: 'usdm',
    intervals: ['1m'],
    store: { range: async (_v, _m, _s, _i, q) => klines.slice(Math.max(0, klines.length - q.limit)) },
    system: { state: 'running', registry: empty, health: empty, symbolState: () => undefined, activate: () => {}, deactivate: () => {} } as never,
    view: { open: () => undefined } as never,
    clock: systemClock,
    symbols: () => [served],
    activationFor: async () => undefined,
  };
}

/** The pre-Fastify shape: node:http, URL parsing, a path → handler map, the reply written by hand. */
async function startBareNodeHttp(context: HttpContext): Promise<{ server: Server; url: string }> {
  const routes = new Map<string, (query: URLSearchParams) => Promise<unknown>>([
    ['/fapi/v1/ping', async () => ({})],
    ['/fapi/v1/klines', async (query) => {
      const q = parseKlinesQuery(context, query);
      return formatServedKlines(context, q.symbol, await selectKlines(context, q)).map(toBinanceRow);
    }],
  ]);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const handler = req.method === 'GET' ? routes.get(url.pathname) : undefined;
    const send = (status: number, body: unknown): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
      res.end(text);
    };
    if (handler === undefined) return send(404, { error: 'no route' });
    handler(url.searchParams).then((body) => send(200, body), () => send(500, { error: 'failed' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

interface LoadResult {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
}

function load(url: string, connections: number, seconds: number): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(new URL(import.meta.url), ['--load', url, '--connections', String(connections), '--seconds', String(seconds)], { execArgv: [] });
    child.once('message', (result) => resolve(result as LoadResult));
    child.once('error', reject);
  });
}

/** The load generator (child process): `connections` keep-alive request loops. */
async function runLoad(url: string, connections: number, seconds: number): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const latencies: number[] = [];
  let errors = 0;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const started = performance.now();
      const req = httpRequest(`${url}${PATH}`, { agent }, (res) => {
        res.on('data', () => {});
        res.on('end', () => {
          if (res.statusCode === 200) latencies.push(performance.now() - started);
          else errors++;
          resolve();
        });
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end();
    });
  // Warm-up (JIT, sockets), not measured.
  const warmUntil = performance.now() + 1000;
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < warmUntil) await one();
  }));
  latencies.length = 0;
  errors = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < until) await one();
  }));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  agent.destroy();
  process.send!({ rps: latencies.length / elapsed, p50: at(0.5), p99: at(0.99), errors } satisfies LoadResult);
  process.disconnect();
}
