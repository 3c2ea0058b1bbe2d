/**
 * klagg's own routes over real sockets against a real KlaggSystem and PostgreSQL: /api/symbols, /health, /metrics,
 * the admin routes (off without a token, 401 without or with a wrong one, acting with the right one), the router's
 * 404/405/500 and static files.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reportHealth } from '../../../src/actors/health-board.ts';
import type { KlaggSystem } from '../../../src/actors/klagg-system.ts';
import type { IntervalName } from '../../../src/domain/interval.ts';
import { systemClock } from '../../../src/infra/clock.ts';
import { openDatabase } from '../../../src/infra/db/open-database.ts';
import { tokenMatches } from '../../../src/infra/http/admin-routes.ts';
import { HttpServer } from '../../../src/infra/http/http-server.ts';
import { LiveKlineView } from '../../../src/infra/http/kline-view.ts';
import { readTradeFrames } from '../../support/fixtures.ts';
import { MemorySink } from '../../support/memory-sink.ts';
import { createTestDatabase } from '../../support/postgres.ts';
import { getJson, newSystem, serve, silentLogger, XRPETH } from './helpers.ts';

const TOKEN = 'correct-horse-battery-staple-42';
const INTERVALS: IntervalName[] = ['1m', '1h'];
const frames = readTradeFrames().slice(0, 3000);

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The value of one sample line of Prometheus text (`name{labels} value`), or undefined. */
function sample(text: string, name: string, labels = ''): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    const key = line.slice(0, space);
    if (key === name + labels || (labels === '' && key === name)) return Number(line.slice(space + 1));
    if (labels !== '' && key.startsWith(`${name}{`) && labels.slice(1, -1).split(',').every((pair) => key.includes(pair))) return Number(line.slice(space + 1));
  }
  return undefined;
}

t.test('api, health, metrics and admin routes', async (t) => {
  const database = await createTestDatabase('klagg_http_api');
  t.teardown(() => database.drop());
  const handle = await openDatabase({ url: database.url });
  t.teardown(() => handle.close());
  const system = newSystem(new MemorySink(), INTERVALS);
  t.teardown(() => system.stop());
  const repairs: unknown[][] = [];
  const served = await serve(system, handle, INTERVALS, {
    adminToken: TOKEN,
    repair: async (...args) => {
      repairs.push(args);
      return { klines: 42 };
    },
  });
  t.teardown(() => served.close());
  const unguarded = await serve(system, handle, INTERVALS);
  t.teardown(() => unguarded.close());
  const url = served.http.url;
  const post = (path: string, token?: string) => getJson(`${url}${path}`, { method: 'POST', headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

  t.same((await getJson(`${url}/api/symbols`)).body, { symbols: [] }, 'no symbol yet');

  // Admin off without a token: 404 even with a header.
  const off = await getJson(`${unguarded.http.url}/admin/symbols/XRPETH/activate`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(off.status, 404, 'admin routes are off without a configured token');
  t.same(off.body, { code: 'KLAGG_ERR_ADMIN_DISABLED', message: 'not found (admin routes are off: no admin token is configured)' });
  t.equal(system.symbolState('XRPETH'), undefined, 'and nothing happened');

  // 401 without and with wrong tokens (shorter, longer, same length, wrong scheme).
  for (const [label, init] of [
    ['no header', {}],
    ['wrong token', { authorization: 'Bearer wrong' }],
    ['longer token', { authorization: `Bearer ${TOKEN}x` }],
    ['same length', { authorization: `Bearer ${TOKEN.slice(0, -1)}X` }],
    ['basic scheme', { authorization: `Basic ${TOKEN}` }],
  ] as const) {
    const answer = await getJson(`${url}/admin/symbols/XRPETH/activate`, { method: 'POST', headers: init });
    t.equal(answer.status, 401, `${label}: 401`);
    t.same(answer.body, { code: -2015, msg: 'Invalid API-key, IP, or permissions for action.' });
  }
  t.equal(system.symbolState('XRPETH'), undefined, 'no unauthorized request acted');
  t.equal(tokenMatches(TOKEN, TOKEN), true);
  t.equal(tokenMatches('', TOKEN), false);

  const unknownSymbol = await post('/admin/symbols/BTCUSDT/activate', TOKEN);
  t.equal(unknownSymbol.status, 404, 'unknown symbol: 404');
  t.match(unknownSymbol.body, { code: 'KLAGG_ERR_ADMIN_UNKNOWN_SYMBOL', message: /^unknown symbol BTCUSDT / });
  const badSymbol = await post('/admin/symbols/XRP%20ETH!/activate', TOKEN);
  t.equal(badSymbol.status, 400, 'malformed symbol: 400');
  t.match(badSymbol.body, { code: 'KLAGG_ERR_ADMIN_BAD_REQUEST', message: /invalid symbol/ });
  t.equal((await post('/admin/symbols/XRPETH/deactivate', TOKEN)).status, 404, 'deactivating a never-activated symbol: 404');

  // Right token: force-activate; the registry shows it Active; trades flow.
  const activated = await post('/admin/symbols/XRPETH/activate', TOKEN);
  t.equal(activated.status, 200);
  t.match(activated.body, { symbol: 'XRPETH', action: 'activate', accepted: true });
  await system.whenSubscribed(['XRPETH']);
  t.equal(system.symbolState('XRPETH'), 'Active');
  for (const frame of frames) system.ingestFrame(frame);
  await system.flush();
  await until('the last trade time', () => system.registry.getSnapshot().context.symbols['XRPETH']?.lastTradeTime != null);
  const symbols = (await getJson(`${url}/api/symbols`)).body as { symbols: Record<string, unknown>[] };
  t.equal(symbols.symbols.length, 1);
  t.match(symbols.symbols[0], { symbol: 'XRPETH', state: 'Active', worker: 0, lastError: null });
  t.equal(symbols.symbols[0]!['lastTradeTime'], (JSON.parse(frames.at(-1)!.toString()) as { T: number }).T, 'last trade time from the registry');
  t.ok((symbols.symbols[0]!['attempts'] as number) >= 1);

  // Health: 200 while nothing is in error, 503 once an actor reports an error, 200 again when it recovers.
  const healthy = await getJson(`${url}/health`);
  t.equal(healthy.status, 200);
  t.match(healthy.body, { status: /ok|degraded/, service: 'running' });
  reportHealth(system.health, 'exchangeStream', 'error', 'connection refused', systemClock.now());
  const sick = await getJson(`${url}/health`);
  t.equal(sick.status, 503, 'an actor in error: 503');
  t.match(sick.body, { status: 'error' });
  t.match((sick.body as { actors: { actor: string }[] }).actors.find((a) => a.actor === 'exchangeStream'), { status: 'error', detail: 'connection refused', fatal: false });
  reportHealth(system.health, 'exchangeStream', 'degraded', 'reconnecting', systemClock.now());
  const degraded = await getJson(`${url}/health`);
  t.equal(degraded.status, 200, 'degraded is still 200');
  t.match(degraded.body, { status: 'degraded' });

  // Repair: validation, then the port.
  const repairBase = '/admin/symbols/XRPETH/repair';
  for (const [query, why] of [
    ['', 'no interval'],
    ['?interval=5m&from=0&to=1', 'interval not served'],
    ['?interval=1m&to=1', 'no from'],
    ['?interval=1m&from=abc&to=1', 'from not a number'],
    ['?interval=1m&from=5&to=1', 'from after to'],
  ]) {
    const answer = await post(`${repairBase}${query}`, TOKEN);
    t.equal(answer.status, 400, `repair ${why}: 400`);
    t.match(answer.body, { code: 'KLAGG_ERR_ADMIN_BAD_REQUEST', message: /\S/ });
  }
  t.equal((await post('/admin/symbols/BTCUSDT/repair?interval=1m&from=0&to=1', TOKEN)).status, 404, 'repair of an unknown symbol: 404');
  t.equal((await post(`${repairBase}?interval=1m&from=0&to=1`, 'nope')).status, 401);
  t.same(repairs, [], 'no refused request reached the port');
  const repaired = await post(`${repairBase}?interval=1h&from=1570752000000&to=1570838400000`, TOKEN);
  t.equal(repaired.status, 200);
  t.match(repaired.body, { symbol: 'XRPETH', action: 'repair', klines: 42 });
  t.same(repairs, [['XRPETH', '1h', 1570752000000, 1570838400000]]);

  // Metrics: names and values that follow the system.
  const metrics = await fetch(`${url}/metrics`);
  t.equal(metrics.status, 200);
  t.match(metrics.headers.get('content-type'), /text\/plain/);
  const text = await metrics.text();
  t.equal(sample(text, 'klagg_frames_routed_total'), system.counters.framesRouted);
  t.equal(sample(text, 'klagg_frames_routed_total'), frames.length, 'every frame routed');
  t.equal(sample(text, 'klagg_frames_unrouted_total'), 0);
  const stats = await system.workers[0]!.stats();
  t.equal(sample(text, 'klagg_trades_applied_total'), stats.applied);
  t.ok(stats.applied > 0);
  t.equal(sample(text, 'klagg_trades_duplicate_total'), 0);
  t.equal(sample(text, 'klagg_gaps_repaired_total'), 0);
  t.equal(sample(text, 'klagg_gaps_unrepaired_total'), 0);
  t.ok((sample(text, 'klagg_gateway_pulls_total') ?? 0) > 0, 'gateway pulls counted');
  t.equal(sample(text, 'klagg_gateway_pull_timeouts_total'), system.counters.gateway.timeouts);
  t.equal(sample(text, 'klagg_symbols', '{state="Active"}'), 1);
  t.equal(sample(text, 'klagg_symbols', '{state="Failed"}'), 0);
  t.ok(sample(text, 'klagg_db_writer_written_rows_total')! > 0, 'the writer wrote rows');
  t.equal(sample(text, 'klagg_db_writer_failed_flushes_total'), 0);
  t.type(sample(text, 'klagg_db_writer_buffered_rows'), 'number');
  t.ok(sample(text, 'klagg_db_writer_lag_seconds')! >= 0);
  t.equal(sample(text, 'klagg_actor_health', '{actor="exchangeStream"}'), 1, 'degraded actor is 1');
  t.ok(sample(text, 'klagg_nodejs_eventloop_lag_seconds')! >= 0, 'event-loop lag');
  t.equal(sample(text, 'klagg_http_requests_total', '{method="POST",route="/admin/symbols/:symbol/activate",status="401"}'), 5);
  t.equal(sample(text, 'klagg_http_requests_total', '{method="GET",route="/health",status="503"}'), 1);
  t.equal(sample(text, 'klagg_http_rejected_requests_total', '{route="/admin/symbols/:symbol/activate",reason="-2015"}'), 5);
  t.equal(sample(text, 'klagg_http_rejected_requests_total', '{route="/admin/symbols/:symbol/repair",reason="400"}'), 5);

  // Deactivate: back to Pending.
  const deactivated = await post('/admin/symbols/xrpeth/deactivate', TOKEN);
  t.equal(deactivated.status, 200);
  await until('Pending', () => system.symbolState('XRPETH') === 'Pending');
  t.match(((await getJson(`${url}/api/symbols`)).body as { symbols: unknown[] }).symbols, [{ symbol: 'XRPETH', state: 'Pending' }]);
  // And force-activate again.
  t.equal((await post('/admin/symbols/XRPETH/activate', TOKEN)).status, 200);
  await until('Active again', () => system.symbolState('XRPETH') === 'Active');

  // Router: unknown route, wrong method, malformed input never crash.
  const unknown = await getJson(`${url}/nope`);
  t.equal(unknown.status, 404);
  t.same(unknown.body, { code: 'KLAGG_ERR_HTTP_NOT_FOUND', message: 'no route for GET /nope' });
  const wrongMethod = await getJson(`${url}/fapi/v1/klines`, { method: 'POST' });
  t.equal(wrongMethod.status, 405);
  t.same(wrongMethod.body, { code: -5000, msg: 'Path /fapi/v1/klines, Method POST is invalid' }, 'a Binance path answers in Binance\'s shape');
  const getAdmin = await fetch(`${url}/admin/symbols/XRPETH/activate`);
  t.equal(getAdmin.status, 405, 'GET on an admin route: 405');
  t.equal(getAdmin.headers.get('allow'), 'POST', 'with Allow');
  t.same(await getAdmin.json(), { code: 'KLAGG_ERR_HTTP_METHOD_NOT_ALLOWED', message: 'method GET not allowed; use POST' });
  t.equal((await getJson(`${url}/admin/symbols/%E0%A4%A/activate`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })).status, 404, 'undecodable path segment: 404');
  t.equal((await getJson(`${url}/fapi/v1/klines?symbol=${'A'.repeat(9000)}`)).status, 414, 'oversized URL: 414');
  t.equal((await getJson(`${url}/fapi/v1/ping`)).status, 200, 'still serving');
});

t.test('a failing handler is a 500 without internals; static files are served', async (t) => {
  const system: KlaggSystem = newSystem(new MemorySink(), ['1m']);
  t.teardown(() => system.stop());
  const dir = mkdtempSync(join(tmpdir(), 'klagg-http-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'page.html'), '<h1>klagg</h1>');
  const view = new LiveKlineView(system);
  const logged: string[] = [];
  const logger = silentLogger.child({});
  logger.error = ((obj: unknown, msg?: string) => void logged.push(String(msg))) as typeof logger.error;
  const http = await HttpServer.start({
    host: '127.0.0.1',
    port: 0,
    logger: { child: () => logger } as unknown as typeof silentLogger,
    defaultMetrics: false,
    staticRoutes: new Map([
      ['/inspector', { file: join(dir, 'page.html'), contentType: 'text/html; charset=utf-8' }],
      ['/missing.js', { file: join(dir, 'missing.js'), contentType: 'text/javascript' }],
    ]),
    context: {
      venue: 'binance',
      market: 'usdm',
      intervals: ['1m'],
      store: { range: async () => { throw new Error('secret connection string postgres://user:pw@db'); } },
      system,
      view,
      clock: systemClock,
      symbols: () => [XRPETH],
      activationFor: async () => undefined,
    },
  });
  t.teardown(() => http.close());
  const failed = await getJson(`${http.url}/fapi/v1/klines?symbol=XRPETH&interval=1m`);
  t.equal(failed.status, 500);
  t.same(failed.body, { code: -1000, msg: 'An unknown error occurred while processing the request.' });
  t.notMatch(JSON.stringify(failed.body), /secret|postgres/, 'no internals leak');
  t.same(logged, ['HTTP handler failed'], 'the error is logged');
  const page = await fetch(`${http.url}/inspector`);
  t.equal(page.status, 200);
  t.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  t.equal(await page.text(), '<h1>klagg</h1>');
  t.equal((await fetch(`${http.url}/missing.js`)).status, 404);
  t.equal((await getJson(`${http.url}/admin/symbols/XRPETH/activate`, { method: 'POST' })).status, 404, 'admin off');
  const text = await (await fetch(`${http.url}/metrics`)).text();
  t.equal(sample(text, 'klagg_http_requests_total', '{method="GET",route="/fapi/v1/klines",status="500"}'), 1);
  t.equal(sample(text, 'klagg_nodejs_eventloop_lag_seconds'), undefined, 'default metrics off when asked');
  t.equal(typeof http.port, 'number');
});
