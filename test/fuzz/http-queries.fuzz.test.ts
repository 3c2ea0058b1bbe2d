/**
 * Fuzzing klagg's HTTP server with property-based tests: arbitrary query strings (unicode, repeated keys, huge values,
 * %-escape garbage, empty values) and path parameters on every route — the Binance-shaped ones, klagg's API, health
 * and metrics, the chart page, the inspector, the admin routes with and without the token — through Fastify's
 * `inject` for volume and over real loopback sockets, against a real system and a real PostgreSQL store.
 *
 * Properties: every answer is a 200 or a 4xx in the shape of its path (Binance's `{code, msg}` under /fapi, klagg's
 * `{code: "KLAGG_ERR_…", message}` elsewhere), never a 5xx, never a hang; every refusal is counted in
 * `klagg_http_rejected_requests_total` under its reason (the Binance code, else the status); no unhandled rejection;
 * and the server still answers correctly afterwards.
 */
import t, { type Test } from 'tap';
import fc from 'fast-check';
import { request as httpRequest } from 'node:http';
import { isDeepStrictEqual } from 'node:util';
import type { IntervalName } from '../../src/domain/interval.ts';
import { KlineStore } from '../../src/infra/db/kline-store.ts';
import { openDatabase } from '../../src/infra/db/open-database.ts';
import { chartStaticRoutes } from '../../src/infra/http/chart-routes.ts';
import { HttpServer } from '../../src/infra/http/http-server.ts';
import { InspectorHub } from '../../src/infra/inspector/inspector-hub.ts';
import { InspectorServer } from '../../src/infra/inspector/inspector-routes.ts';
import { KLAGG_MACHINES } from '../../src/machines/registry.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { fuzzParameters, fuzzRuns, fuzzTitle } from '../support/fuzz.ts';
import { SCALES, silentLogger, testHttpContext, XRPETH } from '../infra/http/helpers.ts';

const TOKEN = 'fuzz-admin-token-0123456789';
const INTERVALS: readonly IntervalName[] = ['1m', '1h'];
const HANG_MS = 10_000;

const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));

async function setup(t: Test) {
  const database = await createTestDatabase('fuzz_http');
  t.teardown(() => database.drop());
  const handle = await openDatabase({ url: database.url });
  t.teardown(() => handle.close());
  const store = new KlineStore(handle.db);
  const hub = new InspectorHub({ throttleMs: 0, machines: KLAGG_MACHINES });
  const context = testHttpContext(t, {
    intervals: INTERVALS,
    systemOptions: { inspect: hub.inspect },
    store,
    adminToken: TOKEN,
    activationFor: async (symbol) => (symbol === 'XRPETH' ? { symbol, scales: SCALES, initialData: await store.latest('binance', 'usdm', symbol, INTERVALS) } : undefined),
    // The repair itself needs an exchange; the routes must only ever ask for a well-formed one.
    repair: async (symbol, interval, from, to) => {
      if (!INTERVALS.includes(interval) || !Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from > to) throw new Error(`ill-formed repair ${symbol} ${interval} ${from} ${to}`);
      return { klines: 0 };
    },
  });
  const inspector = new InspectorServer(hub, { heartbeatMs: 0 });
  t.teardown(() => inspector.close());
  const http = await HttpServer.start({ host: '127.0.0.1', port: 0, context, logger: silentLogger, defaultMetrics: false, staticRoutes: chartStaticRoutes(), mounts: [inspector.mount] });
  t.teardown(() => http.close());
  return { http };
}

// ---- generators ------------------------------------------------------------------------------------------------------

const PARAM_NAMES = ['symbol', 'interval', 'startTime', 'endTime', 'limit', 'from', 'to', 'timeZone', 'SYMBOL', ''];

/** Values that mean something somewhere, and garbage: unicode, %-escapes good and broken, huge, empty. */
const paramValue: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('XRPETH', 'xrpeth', 'BTCUSDT', '1m', '1h', '5m', '1M', '0', '1', '1500', '1501', '-1', '1e3', '1.5', '9007199254740991', '9007199254740992', '99999999999999999999', '', ' ', 'XRPETH ', '+1', '0x10').map(encodeURIComponent),
  fc.nat({ max: 2 ** 53 }).map(String),
  fc.string({ unit: 'grapheme', maxLength: 30 }).map(encodeURIComponent),
  fc.string({ unit: 'binary', maxLength: 30 }).map((text) => encodeURIComponent(text.replace(/[\uD800-\uDFFF]/g, ''))),
  fc.constantFrom('%', '%2', '%zz', '%E0%A4%A', '%C0%AF', '%FF%FE', '%00', '%ED%A0%80', '%%', '%25', '&', '=', '==', '+', '%2B', ';', '[]', '[0]=1'),
  fc.stringMatching(/^[!$'()*+,\-./0-9:;=?@A-Z_a-z~%]{0,40}$/),
  fc.integer({ min: 100, max: 9000 }).map((n) => 'A'.repeat(n)),
);

/** A raw query string: repeated keys, keys without values, empty pairs, stray separators. */
const queryString: fc.Arbitrary<string> = fc
  .array(
    fc.oneof(
      fc.tuple(fc.oneof(fc.constantFrom(...PARAM_NAMES), fc.string({ unit: 'grapheme', maxLength: 8 }).map(encodeURIComponent)), paramValue).map(([key, value]) => `${key}=${value}`),
      fc.constantFrom('symbol', 'interval=', '=', '', '&', 'limit', '%=%'),
    ),
    { maxLength: 8 },
  )
  .map((pairs) => pairs.join('&'));

/** A path parameter: names, unicode, %-escape garbage, slashes and dots. */
const pathParam: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('XRPETH', 'xrpeth', 'BTCUSDT', 'A'.repeat(33), '..', '.', '%2F', '%', '%zz', '%00', '%C0%AF', 'a%2Fb', 'supervisor', 'dbWriter'),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).map(encodeURIComponent),
  fc.stringMatching(/^[!$'()*+,\-.0-9:;=@A-Z_a-z~%]{1,30}$/),
);

type Auth = 'none' | 'token' | 'wrong' | 'garbage';

interface FuzzRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly url: string;
  readonly auth: Auth;
}

const readRoutes = ['/fapi/v1/klines', '/fapi/v1/time', '/fapi/v1/ping', '/fapi/v1/exchangeInfo', '/fapi/v2/nope', '/fapi', '/api/symbols', '/api/intervals', '/api/klines', '/api/nope', '/health', '/metrics', '/chart', '/chart/chart.js', '/chart/nope.js', '/vendor/lightweight-charts.js', '/inspector', '/inspector/graphs.json', '/inspector/machines', '/inspector/state.json', '/', '/nope'];

const fuzzRequest: fc.Arbitrary<FuzzRequest> = fc.oneof(
  // Reads with arbitrary queries (and now and then another method).
  fc.record({
    method: fc.constantFrom('GET' as const, 'GET' as const, 'GET' as const, 'GET' as const, 'POST' as const, 'PUT' as const, 'DELETE' as const),
    url: fc.tuple(fc.constantFrom(...readRoutes), queryString).map(([path, query]) => `${path}?${query}`),
    auth: fc.constant<Auth>('none'),
  }),
  // The routes with a path parameter.
  fc.record({
    method: fc.constantFrom('GET' as const, 'POST' as const),
    url: fc.tuple(fc.constantFrom('/inspector/actors/', '/admin/symbols/'), pathParam, fc.constantFrom('', '/activate', '/deactivate', '/repair', '/nope'), queryString).map(([base, param, action, query]) => `${base}${param}${base === '/admin/symbols/' ? action : ''}?${query}`),
    auth: fc.constantFrom<Auth>('none', 'token', 'wrong', 'garbage'),
  }),
  // Admin actions with and without the token.
  fc.record({
    method: fc.constant('POST' as const),
    url: fc.tuple(fc.constantFrom('activate', 'deactivate', 'repair'), fc.constantFrom('XRPETH', 'xrpeth', 'BTCUSDT'), queryString).map(([action, symbol, query]) => `/admin/symbols/${symbol}/${action}?${query}`),
    auth: fc.constantFrom<Auth>('none', 'token', 'token', 'wrong', 'garbage'),
  }),
);

const AUTH_HEADERS: Record<Auth, Record<string, string>> = {
  none: {},
  token: { authorization: `Bearer ${TOKEN}` },
  wrong: { authorization: 'Bearer not-the-token' },
  garbage: { authorization: 'Basic Zm9vOmJhcg==' },
};

// ---- checks ------------------------------------------------------------------------------------------------------------

interface Answer {
  readonly status: number;
  readonly type: string | undefined;
  readonly body: string;
}

/** The reason the rejected-requests counter must carry for a refusal, after checking its shape. */
function checkAnswer(request: FuzzRequest, answer: Answer): string | undefined {
  const where = `${request.method} ${request.url.slice(0, 300)} → ${answer.status} ${answer.body.slice(0, 300)}`;
  if (answer.status >= 500) throw new Error(`5xx: ${where}`);
  if (answer.status < 400) {
    if (answer.status !== 200) throw new Error(`unexpected status: ${where}`);
    return undefined;
  }
  if (!answer.type?.startsWith('application/json')) throw new Error(`refusal not JSON: ${where}`);
  const body = JSON.parse(answer.body) as Record<string, unknown>;
  const path = request.url.split('?')[0]!;
  // Binance's shape on its paths; on /api/klines, which has /fapi/v1/klines's parameters and errors (chart-api-routes.ts);
  // and for the admin routes' bad token (Binance's -2015, as Binance answers a bad API key).
  const binance = path === '/fapi' || path.startsWith('/fapi/') || (path === '/api/klines' && body['msg'] !== undefined) || (path.startsWith('/admin/') && body['code'] === -2015);
  if (binance) {
    const keys = Object.keys(body).sort().join(',');
    if (keys !== 'code,msg' || typeof body['code'] !== 'number' || !Number.isInteger(body['code']) || (body['code'] as number) >= 0 || typeof body['msg'] !== 'string' || body['msg'] === '') throw new Error(`not Binance's {code,msg}: ${where}`);
    return String(body['code']);
  }
  const keys = Object.keys(body).sort().join(',');
  if (keys !== 'code,message' || typeof body['code'] !== 'string' || !/^KLAGG_ERR_[A-Z_]+$/.test(body['code']) || typeof body['message'] !== 'string' || body['message'] === '') throw new Error(`not klagg's {code,message}: ${where}`);
  return String(answer.status);
}

async function rejectedByReason(http: HttpServer): Promise<Map<string, number>> {
  const metric = http.metrics.registry.getSingleMetric('klagg_http_rejected_requests_total');
  const values = (await metric!.get()).values;
  const byReason = new Map<string, number>();
  for (const { labels, value } of values) byReason.set(String(labels['reason']), (byReason.get(String(labels['reason'])) ?? 0) + value);
  return byReason;
}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${HANG_MS} ms: ${what}`)), HANG_MS)))]).finally(() => clearTimeout(timer));
}

async function injected(http: HttpServer, request: FuzzRequest): Promise<Answer> {
  const response = await withTimeout(http.app.inject({ method: request.method, url: request.url, headers: AUTH_HEADERS[request.auth] }), request.url);
  return { status: response.statusCode, type: response.headers['content-type'] as string | undefined, body: response.body };
}

/** Over a real socket; the path is sent exactly as generated. */
function overSocket(http: HttpServer, request: FuzzRequest): Promise<Answer> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: http.port, method: request.method, path: request.url, headers: { ...AUTH_HEADERS[request.auth], connection: 'keep-alive' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end();
    }),
    request.url,
  );
}

async function stillAnswers(t: Test, http: HttpServer): Promise<void> {
  const ping = await fetch(`${http.url}/fapi/v1/ping`);
  t.equal(ping.status, 200);
  t.same(await ping.json(), {});
  const klines = await fetch(`${http.url}/fapi/v1/klines?symbol=XRPETH&interval=1m&limit=5`);
  t.equal(klines.status, 200);
  t.ok(Array.isArray(await klines.json()), 'klines still served');
  const bad = await fetch(`${http.url}/fapi/v1/klines?symbol=XRPETH`);
  t.same({ status: bad.status, body: await bad.json() }, { status: 400, body: { code: -1102, msg: "Mandatory parameter 'interval' was not sent, was empty/null, or malformed." } });
}

async function fuzzWith(t: Test, runs: number, requests: fc.Arbitrary<FuzzRequest>, send: (http: HttpServer, request: FuzzRequest) => Promise<Answer>): Promise<void> {
  const { http } = await setup(t);
  const expected = new Map<string, number>();
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(requests, async (request) => {
      const before = await rejectedByReason(http);
      const answer = await send(http, request);
      const reason = checkAnswer(request, answer);
      const wanted = reason === undefined ? [] : [`${reason}+1`];
      const countedSince = async (): Promise<string[]> => [...(await rejectedByReason(http))].filter(([key, value]) => value !== (before.get(key) ?? 0)).map(([key, value]) => `${key}+${value - (before.get(key) ?? 0)}`);
      // The server counts when its response has finished, which a client over a socket may see a moment earlier.
      let counted = await countedSince();
      for (let i = 0; i < 200 && !isDeepStrictEqual(counted, wanted); i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        counted = await countedSince();
      }
      if (!isDeepStrictEqual(counted, wanted)) throw new Error(`counted ${JSON.stringify(counted)}, wanted ${JSON.stringify(wanted)}: ${request.method} ${request.url.slice(0, 200)} → ${answer.status} ${answer.body.slice(0, 200)}`);
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      if (reason !== undefined) expected.set(reason, (expected.get(reason) ?? 0) + 1);
    }),
    fuzzParameters(runs),
  );
  t.same(Object.fromEntries(await rejectedByReason(http)), Object.fromEntries(expected), 'every refusal counted once, under its reason');
  t.ok((statuses.get(200) ?? 0) > 0 && [...statuses.keys()].some((s) => s >= 400), `both answers occur: ${JSON.stringify(Object.fromEntries(statuses))}`);
  await stillAnswers(t, http);
  t.same(unhandled, [], 'no unhandled rejection');
}

t.test(fuzzTitle(fuzzRuns(5000), 'requests with arbitrary queries and path parameters on every route (inject): 200 or a 4xx of the path’s shape, counted'), async (t) => {
  await fuzzWith(t, fuzzRuns(5000), fuzzRequest, injected);
});

t.test(fuzzTitle(fuzzRuns(500), 'requests with arbitrary queries and path parameters on every route over real sockets: the same'), async (t) => {
  // Node's HTTP parser refuses a request head over 16 KiB before any route sees it (a bare 400 from the server's
  // client-error handler): URLs up to the server's own limit (8192, a 414 in the path's shape) and a little beyond.
  await fuzzWith(t, fuzzRuns(500), fuzzRequest.filter((request) => request.url.length <= 15_000), overSocket);
});
