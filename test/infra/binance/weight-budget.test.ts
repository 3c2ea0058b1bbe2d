import t from 'tap';
import { BinanceBannedError } from '../../../src/infra/binance/binance-error.ts';
import { WeightBudget } from '../../../src/infra/binance/weight-budget.ts';
import { FakeTime, MINUTE_START, rejectionOf } from './support.ts';

/** Acquires every weight at once; resolves to the clock time at which each was granted, in grant order. */
async function grants(time: FakeTime, budget: WeightBudget, weights: number[]): Promise<{ index: number; at: number }[]> {
  const granted: { index: number; at: number }[] = [];
  await Promise.all(weights.map((weight, index) => budget.acquire(weight).then(() => void granted.push({ index, at: time.clock.now() }))));
  return granted;
}

t.test('budget = share × limit; requests beyond it wait for the next minute, in arrival order', async (t) => {
  const time = new FakeTime(MINUTE_START + 30_000);
  const budget = new WeightBudget({ clock: time.clock, sleep: time.sleep, edgeMs: 0 });
  t.equal(budget.limit, 2400);
  t.equal(budget.budget, 1920);
  t.equal(budget.headroom, 480);
  const granted = await grants(time, budget, Array.from({ length: 100 }, () => 20));
  t.same(
    granted.map((grant) => grant.index),
    Array.from({ length: 100 }, (_, i) => i),
    'first come, first served',
  );
  t.same(
    granted.map((grant) => grant.at),
    [...Array.from({ length: 96 }, () => MINUTE_START + 30_000), ...Array.from({ length: 4 }, () => MINUTE_START + 60_000)],
    '96 × 20 = 1920 fit this minute, the other 4 go at the next minute',
  );
  t.same(time.sleeps, [30_000], 'one wait, to the minute boundary');
  t.equal(budget.usedThisMinute, 80);
});

t.test('a big request at the head is not overtaken by small ones behind it', async (t) => {
  const time = new FakeTime(MINUTE_START + 1_000);
  const budget = new WeightBudget({ clock: time.clock, sleep: time.sleep, limit: 100, share: 1, edgeMs: 0 });
  await budget.acquire(95);
  const granted = await grants(time, budget, [10, 1, 1]);
  t.same(granted, [
    { index: 0, at: MINUTE_START + 60_000 },
    { index: 1, at: MINUTE_START + 60_000 },
    { index: 2, at: MINUTE_START + 60_000 },
  ]);
});

t.test('the limit can be set from exchangeInfo; a request heavier than the whole budget is refused', async (t) => {
  const time = new FakeTime(MINUTE_START);
  const budget = new WeightBudget({ clock: time.clock, sleep: time.sleep });
  budget.setLimit(1200);
  t.equal(budget.budget, 960);
  t.match(await rejectionOf(budget.acquire(961)), { name: 'RangeError', message: 'request weight 961 exceeds the whole per-minute budget 960 (0.8 × 1200)' });
  t.match(await rejectionOf(budget.acquire(-1)), { name: 'RangeError' });
  t.throws(() => budget.setLimit(0), RangeError);
  t.throws(() => new WeightBudget({ share: 0 }), RangeError);
  t.throws(() => new WeightBudget({ share: 1.2 }), RangeError);
  t.throws(() => new WeightBudget({ minuteMs: 1000, edgeMs: 300 }), RangeError);
});

t.test('the used-weight header is the truth when it shows more than our own count', async (t) => {
  const time = new FakeTime(MINUTE_START + 10_000);
  const budget = new WeightBudget({ clock: time.clock, sleep: time.sleep });
  const tickets = [await budget.reserve(10), await budget.reserve(10), await budget.reserve(10)];
  t.equal(budget.usedThisMinute, 30);
  budget.observe(20, tickets[1]);
  t.equal(budget.usedThisMinute, 30, 'a header below our own count changes nothing');
  budget.observe(1000, tickets[0]);
  t.equal(budget.usedThisMinute, 1000, 'max(own 30, header 1000)');
  await budget.acquire(20);
  t.equal(budget.usedThisMinute, 1020, 'our later reservations add on top');
  budget.observe(900, tickets[2]);
  t.equal(budget.usedThisMinute, 1020, 'a lower header later does not lower the estimate');
  budget.observe(1905);
  t.equal(budget.usedThisMinute, 1905);
  const granted = await grants(time, budget, [15, 1]);
  t.same(granted, [
    { index: 0, at: MINUTE_START + 10_000 },
    { index: 1, at: MINUTE_START + 60_000 },
  ], '1905 + 15 = 1920 fits; one more waits for the next minute');
  t.equal(budget.usedThisMinute, 1, 'a new minute starts from zero');
});

t.test('headers of requests sent in another minute or in the first edgeMs of this one are ignored', async (t) => {
  const time = new FakeTime(MINUTE_START + 59_000);
  const budget = new WeightBudget({ clock: time.clock, sleep: time.sleep, edgeMs: 1000 });
  const lastMinute = await budget.reserve(5);
  time.clock.set(MINUTE_START + 60_200);
  const early = await budget.reserve(5);
  budget.observe(1500, lastMinute);
  budget.observe(1500, early);
  budget.observe(1500);
  t.equal(budget.usedThisMinute, 5, 'the server may still be counting the previous minute');
  time.clock.set(MINUTE_START + 61_000);
  const later = await budget.reserve(5);
  budget.observe(1500, later);
  t.equal(budget.usedThisMinute, 1500);
});

t.test('around a minute boundary at most the headroom goes out (clock skew between client and server)', async (t) => {
  const time = new FakeTime(MINUTE_START + 59_500);
  const budget = new WeightBudget({ clock: time.clock, sleep: time.sleep, edgeMs: 1000 });
  const granted = await grants(time, budget, Array.from({ length: 30 }, () => 20));
  t.same(
    granted.map((grant) => grant.at),
    [...Array.from({ length: 24 }, () => MINUTE_START + 59_500), ...Array.from({ length: 6 }, () => MINUTE_START + 61_000)],
    '480 weight within 1 s of the boundary, the rest once the guarded window has passed',
  );
});

t.test('after a 429 nothing is granted until Retry-After has passed', async (t) => {
  const time = new FakeTime(MINUTE_START + 10_000);
  const budget = new WeightBudget({ clock: time.clock, sleep: time.sleep });
  budget.rateLimited(7_000);
  t.equal(budget.blockedUntil, MINUTE_START + 17_000);
  t.same(await grants(time, budget, [1, 1]), [
    { index: 0, at: MINUTE_START + 17_000 },
    { index: 1, at: MINUTE_START + 17_000 },
  ]);
  budget.rateLimited(undefined);
  t.same(await grants(time, budget, [1]), [{ index: 0, at: MINUTE_START + 60_000 }], 'without Retry-After: until the next minute');
});

t.test('a 418 ban: a short one is waited out, a long one fails every waiting caller', async (t) => {
  const time = new FakeTime(MINUTE_START);
  const budget = new WeightBudget({ clock: time.clock, sleep: time.sleep, maxBanWaitMs: 300_000 });
  budget.banned(MINUTE_START + 120_000);
  t.same(await grants(time, budget, [1]), [{ index: 0, at: MINUTE_START + 120_000 }]);
  budget.banned(time.clock.now() + 3 * 86_400_000);
  const errors = await Promise.all([rejectionOf(budget.acquire(1)), rejectionOf(budget.acquire(2))]);
  t.ok(errors.every((error) => error instanceof BinanceBannedError), 'both fail with BinanceBannedError');
  t.equal((errors[0] as BinanceBannedError).bannedUntil, MINUTE_START + 120_000 + 3 * 86_400_000);
  t.equal(budget.waiting, 0);
});

t.test('callers already waiting fail once a long ban arrives; new callers fail at once', async (t) => {
  const time = new FakeTime(MINUTE_START + 10_000);
  const budget = new WeightBudget({ clock: time.clock, sleep: time.sleep, maxBanWaitMs: 300_000 });
  await budget.acquire(1920);
  const waiting = rejectionOf(budget.acquire(1)); // waits for the next minute
  budget.banned(MINUTE_START + 10_000 + 86_400_000);
  t.ok((await rejectionOf(budget.acquire(1))) instanceof BinanceBannedError, 'a new caller fails without waiting');
  t.equal(time.clock.now(), MINUTE_START + 10_000, 'no time passed');
  t.ok((await waiting) instanceof BinanceBannedError, 'the waiting caller fails when it wakes');
  t.equal(budget.waiting, 0);
});
