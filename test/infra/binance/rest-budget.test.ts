import t from 'tap';
import { BinanceRestClient } from '../../../src/infra/binance/rest-client.ts';
import { WeightBudget } from '../../../src/infra/binance/weight-budget.ts';
import { FakeTime, MINUTE_START, sendJson, startServer, type TestServer } from './support.ts';

/**
 * A server that accounts weight like Binance: per fixed minute of its own clock, 429 + Retry-After beyond the limit,
 * and a 418 ban for any request that arrives during a 429 period after the instant of that 429.
 */
interface CountingServer {
  readonly server: TestServer;
  /** Weight per server minute, in minute order (external load included). */
  perMinute(): number[];
  readonly rejected: { http429: number; http418: number };
}

async function countingServer(options: { serverTime: () => number; limit?: number; externalPerMinute?: number }): Promise<CountingServer> {
  const limit = options.limit ?? 2400;
  const weights = new Map<number, number>();
  const rejected = { http429: 0, http418: 0 };
  let period: { from: number; until: number } | undefined;
  const server = await startServer((request, response) => {
    const now = options.serverTime();
    if (period !== undefined && now > period.from && now < period.until) {
      rejected.http418 += 1;
      return sendJson(response, 418, { code: -1003, msg: `Way too many requests; IP(127.0.0.1) banned until ${now + 120_000}.` }, { 'retry-after': 120 });
    }
    const minute = Math.floor(now / 60_000);
    const weight = request.path === '/fapi/v1/aggTrades' ? 20 : 1;
    const used = (weights.get(minute) ?? options.externalPerMinute ?? 0) + weight;
    weights.set(minute, used);
    if (used > limit) {
      rejected.http429 += 1;
      const retryAfterS = Math.ceil(((minute + 1) * 60_000 - now) / 1000);
      period = { from: now, until: now + retryAfterS * 1000 };
      return sendJson(response, 429, { code: -1003, msg: 'Too many requests; current limit of IP(127.0.0.1) is 2400 requests per minute.' }, {
        'retry-after': retryAfterS,
        'x-mbx-used-weight-1m': used,
      });
    }
    sendJson(response, 200, [], { 'x-mbx-used-weight-1m': used });
  });
  return {
    server,
    rejected,
    perMinute: () => [...weights.entries()].sort((a, b) => a[0] - b[0]).map(([, weight]) => weight),
  };
}

async function runWorkers(client: BinanceRestClient, workers: number, requestsPerWorker: number): Promise<number> {
  let done = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (let i = 0; i < requestsPerWorker; i += 1) {
        await client.aggTrades('BTCUSDT', { limit: 1000 });
        done += 1;
      }
    }),
  );
  return done;
}

t.test('700 aggTrades requests (weight 20) from 20 callers at once never trigger a 429', async (t) => {
  const time = new FakeTime(MINUTE_START + 30_000);
  const exchange = await countingServer({ serverTime: () => time.clock.now() });
  t.teardown(() => exchange.server.close());
  const client = new BinanceRestClient({ baseUrl: exchange.server.baseUrl, clock: time.clock, sleep: time.sleep });
  time.busyWhen(() => client.stats.inFlight > 0);
  const started = performance.now();
  t.equal(await runWorkers(client, 20, 35), 700);
  t.comment(`700 requests in ${Math.round(performance.now() - started)} ms real time, ${(time.clock.now() - MINUTE_START) / 1000} s simulated`);
  t.same(exchange.rejected, { http429: 0, http418: 0 }, 'no 429, no 418');
  t.same(exchange.perMinute(), [1920, 1920, 1920, 1920, 1920, 1920, 1920, 560], '96 requests (1920 = 0.8 × 2400) per minute, the rest in the 8th');
  t.same(client.stats, { requests: 700, retries: 0, http429: 0, http418: 0, weightUsed: 14_000, inFlight: 0 });
});

t.test('weight another process uses on the same IP is learnt from x-mbx-used-weight-1m', async (t) => {
  const time = new FakeTime(MINUTE_START + 30_000);
  const exchange = await countingServer({ serverTime: () => time.clock.now(), externalPerMinute: 1000 });
  t.teardown(() => exchange.server.close());
  const client = new BinanceRestClient({ baseUrl: exchange.server.baseUrl, clock: time.clock, sleep: time.sleep });
  time.busyWhen(() => client.stats.inFlight > 0);
  t.equal(await runWorkers(client, 1, 120), 120);
  t.same(exchange.rejected, { http429: 0, http418: 0 });
  // 46 × 20 = 920 of ours + 1000 of the other process = 1920 per full minute; 28 requests in the last one.
  t.same(exchange.perMinute(), [1920, 1920, 1000 + 28 * 20]);
  t.equal(client.budget.usedThisMinute, 1560, 'the budget knows the whole IP usage');

  const blind = await countingServer({ serverTime: () => time.clock.now(), externalPerMinute: 1000 });
  t.teardown(() => blind.server.close());
  const noHeaders = new BinanceRestClient({ baseUrl: blind.server.baseUrl, clock: time.clock, sleep: time.sleep });
  noHeaders.budget.observe = () => {}; // what happens when headers are ignored
  time.busyWhen(() => noHeaders.stats.inFlight > 0);
  await runWorkers(noHeaders, 1, 100);
  t.ok(blind.rejected.http429 > 0, `ignoring the header runs into 429s (${blind.rejected.http429}): the test can fail`);
});

t.test('a server clock 500 ms behind: the guard around minute boundaries keeps every server minute within the limit', async (t) => {
  const time = new FakeTime(MINUTE_START + 30_000);
  const exchange = await countingServer({ serverTime: () => time.clock.now() - 500 });
  t.teardown(() => exchange.server.close());
  const client = new BinanceRestClient({ baseUrl: exchange.server.baseUrl, clock: time.clock, sleep: time.sleep });
  time.busyWhen(() => client.stats.inFlight > 0);
  t.equal(await runWorkers(client, 40, 8), 320);
  t.same(exchange.rejected, { http429: 0, http418: 0 });
  // Server minute 0: 96 requests of our minute 0 + 24 sent in the first second of our minute 1 = 2400, exactly the
  // limit; server minutes 1 and 2: 72 of our minute + 24 of the next one's first second; minute 3: the last 8.
  t.same(exchange.perMinute(), [2400, 1920, 1920, 160]);

  const again = new FakeTime(MINUTE_START + 30_000);
  const unguarded = await countingServer({ serverTime: () => again.clock.now() - 500 });
  t.teardown(() => unguarded.server.close());
  const budget = new WeightBudget({ clock: again.clock, sleep: again.sleep, edgeMs: 0 }); // the same budget, guard off
  const noEdgeClient = new BinanceRestClient({ baseUrl: unguarded.server.baseUrl, clock: again.clock, sleep: again.sleep, budget });
  again.busyWhen(() => noEdgeClient.stats.inFlight > 0);
  t.equal(await runWorkers(noEdgeClient, 40, 8), 320, 'still succeeds (429s are waited out)');
  t.ok(unguarded.rejected.http429 > 0, `without the guard the same load gets 429s (${unguarded.rejected.http429}): the test can fail`);
  t.equal(unguarded.rejected.http418, 0, 'but is never banned');
});
