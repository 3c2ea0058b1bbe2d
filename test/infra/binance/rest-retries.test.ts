import t from 'tap';
import type { ServerResponse } from 'node:http';
import {
  BinanceApiError,
  BinanceBannedError,
  BinanceNetworkError,
  BinanceRetriesExhaustedError,
} from '../../../src/infra/binance/binance-error.ts';
import { BinanceRestClient } from '../../../src/infra/binance/rest-client.ts';
import { capturingLogger, FakeTime, MINUTE_START, rejectionOf, sendJson, startServer } from './support.ts';

const TIME = { serverTime: 1784550896789 };

t.test('5xx and 408 are retried with exponential backoff and jitter, then succeed', async (t) => {
  const statuses = [503, 500, 408, 502];
  const server = await startServer((_request, response) => {
    const status = statuses.shift();
    if (status === undefined) return sendJson(response, 200, TIME);
    if (status === 503) return sendJson(response, 503, { code: -1008, msg: 'Server is currently overloaded with other requests. Please try again in a few minutes.' });
    return sendJson(response, status, 'upstream failure');
  });
  t.teardown(() => server.close());
  const sleeps: number[] = [];
  const client = new BinanceRestClient({ baseUrl: server.baseUrl, sleep: async (ms) => void sleeps.push(ms), random: () => 0.5 });
  t.equal(await client.time(), TIME.serverTime);
  t.equal(server.requests.length, 5, 'four failures and a success');
  // ceiling 250 · 2^attempt (capped at 10 s), jitter factor 0.5 + 0.5 · 0.5 = 0.75
  t.same(sleeps, [188, 375, 750, 1500], 'backoff doubles per retry');
  t.same(client.stats, { requests: 5, retries: 4, http429: 0, http418: 0, weightUsed: 5, inFlight: 0 });
});

t.test('backoff is capped at backoffMaxMs and jitter spreads it over the upper half', async (t) => {
  const server = await startServer((_request, response) => sendJson(response, 500, { code: -1000, msg: 'An unknown error occured while processing the request.' }));
  t.teardown(() => server.close());
  const sleeps: number[] = [];
  const randoms = [0, 0.5, 0, 0.5, 0, 0.5, 0, 0.5];
  const client = new BinanceRestClient({
    baseUrl: server.baseUrl,
    maxRetries: 8,
    sleep: async (ms) => void sleeps.push(ms),
    random: () => randoms.shift() ?? 0,
  });
  const error = await rejectionOf(client.time());
  t.ok(error instanceof BinanceRetriesExhaustedError);
  t.same(sleeps, [125, 375, 500, 1500, 2000, 6000, 5000, 7500], 'ceilings 250, 500, 1000, 2000, 4000, 8000, 10000 (capped), 10000; factors 0.5 and 0.75');
});

t.test('gives up after maxRetries with a clear error carrying the last failure', async (t) => {
  const server = await startServer((_request, response) => sendJson(response, 503, { code: -1008, msg: 'Request throttled by system-level protection.' }));
  t.teardown(() => server.close());
  const client = new BinanceRestClient({ baseUrl: server.baseUrl, maxRetries: 3, sleep: async () => {} });
  const error = await rejectionOf(client.klines('BTCUSDT', '1m', { limit: 10 }));
  t.ok(error instanceof BinanceRetriesExhaustedError, 'a BinanceRetriesExhaustedError');
  const exhausted = error as BinanceRetriesExhaustedError;
  t.equal(exhausted.attempts, 4, '1 attempt + 3 retries');
  t.equal(exhausted.endpoint, '/fapi/v1/klines');
  t.equal(server.requests.length, 4);
  t.ok(exhausted.cause instanceof BinanceApiError, 'the cause is the last BinanceApiError');
  const cause = exhausted.cause as BinanceApiError;
  t.equal(cause.status, 503);
  t.equal(cause.code, -1008);
  t.match(cause.meaning, /overloaded and throttled/);
  t.equal(
    exhausted.message,
    'GET /fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit=10: gave up after 4 attempts; last error: GET /fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit=10: ' +
      'HTTP 503, code -1008 "Request throttled by system-level protection.": the exchange is overloaded and throttled the request; retry later',
  );
  t.same(client.stats, { requests: 4, retries: 3, http429: 0, http418: 0, weightUsed: 4, inFlight: 0 });
});

t.test('a timeout is retried; an answer that never comes fails with timedOut after maxRetries', async (t) => {
  let answered = 0;
  const held: ServerResponse[] = [];
  const server = await startServer((_request, response) => {
    if (answered >= 1) return sendJson(response, 200, TIME);
    held.push(response); // never answered: the client must time out
    if (held.length === 2) answered += 1; // the third request gets an answer
  });
  t.teardown(() => server.close());
  const client = new BinanceRestClient({ baseUrl: server.baseUrl, timeoutMs: 150, sleep: async () => {} });
  t.equal(await client.time(), TIME.serverTime);
  t.equal(server.requests.length, 3, 'two timeouts, then an answer');
  t.equal(client.stats.retries, 2);

  const stuck = await startServer(() => {}); // accepts, never answers
  t.teardown(() => stuck.close());
  const impatient = new BinanceRestClient({ baseUrl: stuck.baseUrl, timeoutMs: 30, maxRetries: 2, sleep: async () => {} });
  const error = await rejectionOf(impatient.exchangeInfo());
  t.ok(error instanceof BinanceRetriesExhaustedError);
  const cause = (error as BinanceRetriesExhaustedError).cause;
  t.ok(cause instanceof BinanceNetworkError, 'the cause is a BinanceNetworkError');
  t.equal((cause as BinanceNetworkError).timedOut, true);
  t.match((error as Error).message, 'GET /fapi/v1/exchangeInfo: gave up after 3 attempts; last error: GET /fapi/v1/exchangeInfo: no complete answer within 30 ms');
  t.equal(stuck.requests.length, 3);
  t.equal(impatient.stats.inFlight, 0);
});

t.test('a refused connection is a network error, retried', async (t) => {
  const server = await startServer((_request, response) => sendJson(response, 200, TIME));
  const baseUrl = server.baseUrl;
  await server.close(); // nothing listens on the port now
  const client = new BinanceRestClient({ baseUrl, maxRetries: 2, sleep: async () => {} });
  const error = await rejectionOf(client.time());
  t.ok(error instanceof BinanceRetriesExhaustedError);
  const cause = (error as BinanceRetriesExhaustedError).cause as BinanceNetworkError;
  t.ok(cause instanceof BinanceNetworkError);
  t.equal(cause.timedOut, false);
  t.match(cause.message, /GET \/fapi\/v1\/time: network error: fetch failed: ECONNREFUSED/);
  t.equal(client.stats.requests, 3);
});

t.test('request errors (4xx) are not retried and explain themselves', async (t) => {
  const cases = [
    { status: 400, body: { code: -1121, msg: 'Invalid symbol.' }, code: -1121, meaning: /invalid symbol: the exchange does not list it/ },
    { status: 400, body: { code: -1120, msg: 'Invalid interval.' }, code: -1120, meaning: /invalid kline interval/ },
    { status: 400, body: { code: -1130, msg: "Data sent for parameter 'limit' is not valid." }, code: -1130, meaning: /invalid value/ },
    { status: 400, body: { code: -1127, msg: 'More than 1 hours between startTime and endTime.' }, code: -1127, meaning: /time window is too long/ },
    { status: 400, body: { code: -1023, msg: 'Start time is greater than end time.' }, code: -1023, meaning: /startTime is after endTime/ },
    { status: 400, body: { code: -1102, msg: "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed." }, code: -1102, meaning: /mandatory parameter/ },
    { status: 403, body: '<html><body><h1>403 Forbidden</h1>Request blocked.</body></html>', code: undefined, meaning: /web application firewall/ },
  ];
  for (const testCase of cases) {
    const server = await startServer((_request, response) => {
      if (typeof testCase.body === 'string') {
        response.writeHead(testCase.status, { 'content-type': 'text/html' });
        response.end(testCase.body);
        return;
      }
      sendJson(response, testCase.status, testCase.body);
    });
    const client = new BinanceRestClient({ baseUrl: server.baseUrl, sleep: async () => {} });
    const error = await rejectionOf(client.aggTrades('NOPEUSDT', { limit: 5 }));
    await server.close();
    t.ok(error instanceof BinanceApiError, `${testCase.code ?? testCase.status}: a BinanceApiError`);
    const apiError = error as BinanceApiError;
    t.equal(apiError.status, testCase.status);
    t.equal(apiError.code, testCase.code);
    t.equal(apiError.endpoint, '/fapi/v1/aggTrades');
    t.match(apiError.meaning, testCase.meaning);
    t.equal(apiError.retryable, false);
    t.equal(server.requests.length, 1, 'sent once, never retried');
    t.equal(client.stats.retries, 0);
    if (typeof testCase.body === 'string') {
      t.equal(apiError.binanceMsg, undefined);
      t.match(apiError.message, 'HTTP 403, body "<html><body><h1>403 Forbidden</h1>Request blocked.</body></html>"', 'the HTML is quoted');
    } else {
      t.equal(apiError.binanceMsg, testCase.body.msg);
    }
  }
});

t.test('429: no request is sent until Retry-After has passed, then the request succeeds', async (t) => {
  const time = new FakeTime(MINUTE_START + 20_000);
  const arrivals: number[] = [];
  const server = await startServer((_request, response) => {
    arrivals.push(time.clock.now());
    if (arrivals.length === 1) {
      return sendJson(response, 429, { code: -1003, msg: 'Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute.' }, { 'retry-after': 7 });
    }
    sendJson(response, 200, TIME);
  });
  t.teardown(() => server.close());
  const client = new BinanceRestClient({ baseUrl: server.baseUrl, clock: time.clock, sleep: time.sleep });
  time.busyWhen(() => client.stats.inFlight > 0);
  t.equal(await client.time(), TIME.serverTime);
  t.same(arrivals, [MINUTE_START + 20_000, MINUTE_START + 27_000], 'the retry goes out exactly when Retry-After (7 s) ends');
  t.same(time.sleeps, [7_000], 'one wait, in the budget');
  t.same(client.stats, { requests: 2, retries: 1, http429: 1, http418: 0, weightUsed: 2, inFlight: 0 });
});

t.test('a server that bans any request sent during a 429 period never bans the client', async (t) => {
  const time = new FakeTime(MINUTE_START + 10_000);
  let rateLimitedAt: number | undefined;
  let served = 0;
  let bans = 0;
  const retryAfterS = 5;
  const afterPeriod: number[] = [];
  const server = await startServer((_request, response) => {
    const now = time.clock.now();
    // Requests already travelling when the 429 went out arrive at that same instant (simulated time stands still
    // while requests are in flight); anything later within Retry-After was sent after the client saw the 429.
    if (rateLimitedAt !== undefined && now > rateLimitedAt && now < rateLimitedAt + retryAfterS * 1000) {
      bans += 1;
      return sendJson(response, 418, { code: -1003, msg: `Way too many requests; IP(127.0.0.1) banned until ${now + 120_000}.` }, { 'retry-after': 120 });
    }
    if (rateLimitedAt === now || (rateLimitedAt === undefined && served === 12)) {
      rateLimitedAt = now;
      return sendJson(response, 429, { code: -1003, msg: 'Too many requests.' }, { 'retry-after': retryAfterS });
    }
    served += 1;
    if (rateLimitedAt !== undefined) afterPeriod.push(now);
    sendJson(response, 200, TIME);
  });
  t.teardown(() => server.close());
  const client = new BinanceRestClient({ baseUrl: server.baseUrl, clock: time.clock, sleep: time.sleep });
  time.busyWhen(() => client.stats.inFlight > 0);
  const worker = async (): Promise<number> => {
    let done = 0;
    for (let i = 0; i < 6; i += 1) {
      await client.time();
      done += 1;
    }
    return done;
  };
  const results = await Promise.all(Array.from({ length: 8 }, worker));
  t.same(results, [6, 6, 6, 6, 6, 6, 6, 6], 'every call succeeds');
  t.equal(bans, 0, 'never banned');
  t.equal(client.stats.http418, 0);
  t.ok(client.stats.http429 >= 1, `rate limited at least once (${client.stats.http429})`);
  t.equal(served, 48);
  t.equal(afterPeriod.length, 48 - 12, 'the rest was served after the period');
  t.ok(
    afterPeriod.every((at) => at >= rateLimitedAt! + retryAfterS * 1000),
    'every request after the 429 arrived once Retry-After had passed',
  );
});

t.test('418: waits out a short ban and reports it loudly; a long ban fails every caller without sending', async (t) => {
  const time = new FakeTime(MINUTE_START + 5_000);
  const { logger, lines } = capturingLogger();
  const banLengthS = [120, 3600];
  const arrivals: number[] = [];
  const server = await startServer((_request, response) => {
    const now = time.clock.now();
    arrivals.push(now);
    if (arrivals.length === 1 || arrivals.length === 3) {
      const seconds = banLengthS.shift()!;
      return sendJson(response, 418, { code: -1003, msg: `Way too many requests; IP(127.0.0.1) banned until ${now + seconds * 1000}.` }, { 'retry-after': seconds });
    }
    sendJson(response, 200, TIME);
  });
  t.teardown(() => server.close());
  const client = new BinanceRestClient({ baseUrl: server.baseUrl, clock: time.clock, sleep: time.sleep, logger, maxBanWaitMs: 600_000 });
  time.busyWhen(() => client.stats.inFlight > 0);

  t.equal(await client.time(), TIME.serverTime, 'a 2-minute ban is waited out');
  t.same(arrivals, [MINUTE_START + 5_000, MINUTE_START + 125_000]);
  const banLine = lines.find((line) => line.level === 50);
  t.ok(banLine, 'an error-level log line');
  t.match(String(banLine?.msg), /BANNED this IP \(HTTP 418\)/);
  t.equal(banLine?.bannedUntil, MINUTE_START + 125_000);

  const error = await rejectionOf(client.time());
  t.ok(error instanceof BinanceBannedError, 'a 1-hour ban is longer than maxBanWaitMs: BinanceBannedError');
  t.equal((error as BinanceBannedError).bannedUntil, MINUTE_START + 125_000 + 3_600_000);
  t.match((error as Error).message, /banned this IP \(HTTP 418\) until 2026-07-20T13:36:05\.000Z \(3600 s from now\)/);
  const other = await rejectionOf(client.exchangeInfo());
  t.ok(other instanceof BinanceBannedError, 'another caller fails at once too');
  t.equal(arrivals.length, 3, 'nothing was sent during the ban');
  t.same(client.stats, { requests: 3, retries: 2, http429: 0, http418: 2, weightUsed: 3, inFlight: 0 });
});
