/** IP weight accounting: 429 + Retry-After over the limit, a 418 ban for ignoring it, and recovery. */
import t, { type Test } from 'tap';
import { FakeExchange } from '../../../src/infra/fake-exchange/fake-exchange.ts';
import { ManualScheduler } from '../../../src/infra/fake-exchange/scheduler.ts';
import { getJson } from './helpers.ts';

const MINUTE = 60_000;
const START = Date.UTC(2026, 0, 5, 12, 0, 30); // 30 s into a calendar minute

async function start(t: Test) {
  const scheduler = new ManualScheduler(START);
  const fx = await FakeExchange.start({
    source: { kind: 'generated', symbols: 2, rate: 5, seed: 1, trades: 10 },
    autoPublish: false,
    clock: scheduler,
    weightLimit: 50,
    banMs: 120_000,
  });
  t.teardown(() => fx.close());
  const symbol = fx.market.symbols()[0]!.symbol;
  return { fx, scheduler, agg: () => getJson(`${fx.restUrl}/fapi/v1/aggTrades?symbol=${symbol}&limit=5`), time: () => getJson(`${fx.restUrl}/fapi/v1/time`) };
}

t.test('over the limit: 429 with Retry-After to the next minute; ignoring it: 418 ban until banMs', async (t) => {
  const { fx, scheduler, agg, time } = await start(t);
  t.equal((await agg()).headers.get('x-mbx-used-weight-1m'), '20');
  t.equal((await agg()).headers.get('x-mbx-used-weight-1m'), '40');
  const limited = await agg();
  t.equal(limited.status, 429);
  t.equal(limited.headers.get('retry-after'), '30', 'seconds until the next calendar minute');
  t.equal(limited.headers.get('x-mbx-used-weight-1m'), '60');
  t.same(limited.body, {
    code: -1003,
    msg: 'Too many requests; current limit of IP(127.0.0.1) is 50 requests per minute. Please use the websocket for live updates to avoid polling the API.',
  });
  scheduler.advance(1_000);
  const banned = await time();
  t.equal(banned.status, 418, 'the next request after a 429 in the same minute gets the IP banned');
  t.equal(banned.headers.get('retry-after'), '120');
  const until = START + 1_000 + 120_000;
  t.same(banned.body, { code: -1003, msg: `Way too many requests; IP(127.0.0.1) banned until ${until}. Please use the websocket for live updates to avoid bans.` });
  scheduler.set(START + 2 * MINUTE);
  const stillBanned = await time();
  t.equal(stillBanned.status, 418, 'the ban outlasts the minute');
  t.equal(stillBanned.headers.get('retry-after'), String(Math.ceil((until - scheduler.now()) / 1000)));
  scheduler.set(until);
  const free = await time();
  t.equal(free.status, 200, 'after the ban the IP is served again');
  t.equal(free.headers.get('x-mbx-used-weight-1m'), '1');
  const stats = fx.stats().rest;
  t.equal(stats.byStatus[429], 1);
  t.equal(stats.byStatus[418], 2);
  t.equal(stats.bans, 1);
});

t.test('a client that honours Retry-After is not banned', async (t) => {
  const { scheduler, agg, time } = await start(t);
  await agg();
  await agg();
  const limited = await agg();
  t.equal(limited.status, 429);
  scheduler.advance(Number(limited.headers.get('retry-after')) * 1000);
  const next = await time();
  t.equal(next.status, 200);
  t.equal(next.headers.get('x-mbx-used-weight-1m'), '1');
});

t.test('the admin route resets weights and bans', async (t) => {
  const { fx, agg, time } = await start(t);
  await agg();
  await agg();
  await agg();
  t.equal((await time()).status, 418);
  const reset = await fetch(`${fx.restUrl}/_fake/rate-limits/reset`, { method: 'POST' });
  t.equal(reset.status, 200);
  t.equal((await time()).status, 200);
});
