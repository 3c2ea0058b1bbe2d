/**
 * KlineBackfiller against the real fake exchange (loopback REST) and the real databases (PostgreSQL and PGlite).
 *
 * The fake market trades from 2026-09-30 23:57 UTC for about 7 minutes (its symbols are listed 90 days earlier, on
 * 2026-07-02) and serves flat klines after that; its clock is then set to NOW, 2027-02-10 12:34:56.789 UTC, a
 * Wednesday, so there is history for every interval, month boundaries included, and an open period in each.
 */
import t from 'tap';
import type { Test } from 'tap';
import { pino } from 'pino';
import type { MissingRange } from '../../src/actors/backfill-planner.ts';
import { BackfillStoppedError } from '../../src/actors/backfill-range-fetch.ts';
import { KlineBackfiller, type BackfillProgress, type KlineBackfillerOptions, type SymbolBackfillOutcome } from '../../src/actors/kline-backfiller.ts';
import { openTimeOf, type IntervalName } from '../../src/domain/interval.ts';
import type { Kline } from '../../src/domain/kline.ts';
import { BinanceRestClient } from '../../src/infra/binance/rest-client.ts';
import type { RestKline } from '../../src/domain/exchange-api.ts';
import { KlineStore } from '../../src/infra/db/kline-store.ts';
import type { DatabaseHandle, DatabaseKind } from '../../src/infra/db/open-database.ts';
import { FakeExchange, ManualScheduler } from '../../src/infra/fake-exchange/fake-exchange.ts';
import { BACKENDS, createBackend } from '../infra/db/backends.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
const MARKET = 'usdm';
const START = Date.UTC(2026, 8, 30, 23, 57);
const LISTED = Date.UTC(2026, 6, 2);
const NOW = Date.UTC(2027, 1, 10, 12, 34, 56, 789);
const SYMBOLS = ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'] as const;
const ALL: readonly IntervalName[] = ['1m', '5m', '1h', '1d', '1w', '1M'];

/** The target ranges at NOW with the defaults (depth 1000, full history for 1d and 1w), worked out by hand. */
const TARGET: Readonly<Record<string, { from: number; to: number }>> = {
  '1m': { from: Date.UTC(2027, 1, 10, 12, 34) - 1000 * MINUTE, to: Date.UTC(2027, 1, 10, 12, 33) },
  '5m': { from: Date.UTC(2027, 1, 10, 12, 30) - 5000 * MINUTE, to: Date.UTC(2027, 1, 10, 12, 25) },
  '1h': { from: Date.UTC(2027, 1, 10, 12) - 1000 * HOUR, to: Date.UTC(2027, 1, 10, 11) },
  '1d': { from: Date.UTC(2026, 6, 2), to: Date.UTC(2027, 1, 9) },
  '1w': { from: Date.UTC(2026, 5, 29), to: Date.UTC(2027, 1, 1) }, // Mondays: the listing's week … the last closed week
  '1M': { from: Date.UTC(2026, 6, 1), to: Date.UTC(2027, 0, 1) }, // depth 1000 months reach back past the listing
};
/** The stretches before the fake's first kline (its trades start 2026-09-30 23:57): nothing to fetch there. */
const BEFORE_DATA: readonly MissingRange[] = [
  { interval: '1d', from: Date.UTC(2026, 6, 2), to: Date.UTC(2026, 8, 29) },
  { interval: '1w', from: Date.UTC(2026, 5, 29), to: Date.UTC(2026, 8, 21) },
  { interval: '1M', from: Date.UTC(2026, 6, 1), to: Date.UTC(2026, 7, 1) },
];

const logger = pino({ level: 'silent' });
const scheduler = new ManualScheduler(START);
const fx = await FakeExchange.start({
  source: { kind: 'generated', symbols: 3, rate: 50, seed: 1, trades: 20_000, startTime: START },
  autoPublish: false,
  clock: scheduler,
  weightLimit: 1_000_000, // its weight minute never ends on a clock that stands still
});
t.teardown(() => fx.close());
t.equal(fx.market.publishAll(), 20_000);
scheduler.set(NOW);
t.same(
  fx.market.symbols().map((s) => [s.symbol, s.onboardDate]),
  SYMBOLS.map((symbol) => [symbol, LISTED]),
  'the fake market is the one these tests were worked out for',
);
/** For reading the exchange's klines directly (not counted by any test). */
const reader = new BinanceRestClient({ baseUrl: fx.restUrl });

/** One database per backend for the whole file (opening PGlite takes seconds); tests keep apart by venue. */
const databases = new Map<DatabaseKind, Promise<{ handle: DatabaseHandle; store: KlineStore }>>();
function database(kind: DatabaseKind): Promise<{ handle: DatabaseHandle; store: KlineStore }> {
  let opened = databases.get(kind);
  if (opened === undefined) {
    opened = (async () => {
      const backend = await createBackend(kind, 'klagg_backfiller');
      t.teardown(() => backend.destroy());
      const handle = await backend.open();
      t.teardown(() => handle.close());
      return { handle, store: new KlineStore(handle.db) };
    })();
    databases.set(kind, opened);
  }
  return opened;
}

interface Call {
  readonly symbol: string;
  readonly interval: IntervalName;
  readonly start: number;
  readonly end: number;
  readonly limit: number | undefined;
}

/** A client of its own whose klinesRange calls are recorded (its HTTP requests are in `client.stats`). */
function recordingRest(wrap?: (call: Call, index: number, inner: () => Promise<RestKline[]>) => Promise<RestKline[]>) {
  const client = new BinanceRestClient({ baseUrl: fx.restUrl });
  const calls: Call[] = [];
  const rest: KlineBackfillerOptions['rest'] = {
    klinesRange: (symbol, interval, start, end, limit) => {
      const call = { symbol, interval, start, end, limit };
      calls.push(call);
      const inner = () => client.klinesRange(symbol, interval, start, end, limit);
      return wrap === undefined ? inner() : wrap(call, calls.length - 1, inner);
    },
  };
  return { client, calls, rest };
}

function backfiller(store: KlineStore, venue: string, rest: KlineBackfillerOptions['rest'], options: Partial<KlineBackfillerOptions> = {}): KlineBackfiller {
  return new KlineBackfiller({ rest, store, venue, market: MARKET, intervals: ALL, clock: scheduler, logger, ...options });
}

/** The eleven REST fields, in one order, so stored and fetched klines compare as JSON text. */
function restFields(k: RestKline | Kline): unknown[] {
  return [k.openTime, k.open, k.high, k.low, k.close, k.volume, k.closeTime, k.quoteVolume, k.tradeCount, k.takerBuyVolume, k.takerBuyQuoteVolume];
}

/** The stored klines of [from, to] are exactly the exchange's, byte for byte, all final backfill rows without ids. */
async function assertMatchesExchange(t: Test, store: KlineStore, venue: string, symbol: string, interval: IntervalName, from: number, to: number): Promise<number> {
  const want = await reader.klines(symbol, interval, { startTime: from, endTime: to, limit: 1500 });
  const got = await store.range(venue, MARKET, symbol, interval, { startTime: from, endTime: to, limit: 10_000 });
  t.ok(want.length > 0, `${symbol} ${interval}: the exchange has klines in the range`);
  t.equal(JSON.stringify(got.map(restFields)), JSON.stringify(want.map(restFields)), `${symbol} ${interval}: ${want.length} stored klines equal the exchange's byte for byte`);
  t.ok(
    got.every((k) => k.isFinal && k.firstTradeId === -1 && k.lastTradeId === -1 && k.lastAggId === -1 && k.symbol === symbol && k.interval === interval),
    `${symbol} ${interval}: final, ids −1`,
  );
  return want.length;
}

for (const kind of BACKENDS) {
  t.test(kind, async (t) => {
    const { handle, store } = await database(kind);

    const venue = `cold-${kind}`;
    const { client, calls, rest } = recordingRest();
    const first = backfiller(store, venue, rest);

    t.test('a cold store is planned as exactly the target ranges and filled with the exchange’s klines', async (t) => {
      for (const symbol of SYMBOLS) {
        t.same(await first.missingRanges(symbol, LISTED, NOW), ALL.map((interval) => ({ interval, ...TARGET[interval] })), `${symbol}: the target ranges`);
      }
      const done: string[] = [];
      const summary = await first.run(SYMBOLS.map((symbol) => ({ symbol, listedAt: LISTED })), NOW, (symbol, outcome) => {
        done.push(symbol);
        t.equal(outcome.ok, true, `${symbol} ok`);
      });
      t.same([...done].sort(), [...SYMBOLS], 'onSymbolDone for every symbol');

      // 1000 periods are three pages of ≤ 499 (499, 499, 2); 1d, 1w and 1M fit one page each.
      const pagesOf = (interval: IntervalName, length: number) => {
        const { from, to } = TARGET[interval]!;
        return [
          { interval, start: from, end: from + 498 * length },
          { interval, start: from + 499 * length, end: from + 997 * length },
          { interval, start: from + 998 * length, end: to },
        ];
      };
      const expectedCalls = [
        ...pagesOf('1m', MINUTE),
        ...pagesOf('5m', 5 * MINUTE),
        ...pagesOf('1h', HOUR),
        ...(['1d', '1w', '1M'] as const).map((interval) => ({ interval, start: TARGET[interval]!.from, end: TARGET[interval]!.to })),
      ];
      for (const symbol of SYMBOLS) {
        t.same(
          calls.filter((c) => c.symbol === symbol).map(({ interval, start, end, limit }) => ({ interval, start, end, limit })),
          expectedCalls.map((c) => ({ ...c, limit: 499 })),
          `${symbol}: one request per page of 499 periods, nothing else`,
        );
      }
      // `requests` counts attempts: a keep-alive socket the fake closed while a slow page was being stored is retried.
      t.equal(client.stats.requests - client.stats.retries, 36, 'one HTTP request per page');
      t.equal(client.stats.weightUsed / client.stats.requests, 2, 'weight 2 per page of 499');

      let stored = 0;
      for (const symbol of SYMBOLS) {
        for (const interval of ALL) stored += await assertMatchesExchange(t, store, venue, symbol, interval, TARGET[interval]!.from, TARGET[interval]!.to);
      }
      t.equal(await store.count(venue, MARKET), stored, 'nothing outside the target ranges is stored');
      t.same(
        { succeeded: summary.symbolsSucceeded, failed: summary.symbolsFailed, skipped: summary.symbolsSkipped, fetched: summary.klinesFetched, written: summary.klinesWritten, ranges: summary.rangesDone },
        { succeeded: 3, failed: 0, skipped: 0, fetched: stored, written: stored, ranges: 18 },
        'summary',
      );
      const rows = await handle.db.selectFrom('klines').select(['source', 'revision']).where('venue', '=', venue).distinct().execute();
      t.same(rows, [{ source: 'backfill', revision: 0 }], 'every row is a revision-0 backfill');

      // Calendar months: September (the trades) to January, each closing the ms before the next month opens.
      const months = await store.range(venue, MARKET, 'BTCUSDT', '1M', { limit: 100 });
      t.same(
        months.map((k) => [k.openTime, k.closeTime]),
        [8, 9, 10, 11, 12].map((m) => [Date.UTC(2026, m, 1), Date.UTC(2026, m + 1, 1) - 1]),
        '1M klines Sep 2026 … Jan 2027 with calendar close times',
      );
      t.equal(months[0]!.tradeCount > 0 && months[1]!.tradeCount > 0, true, 'the months holding the trades are not flat');
    });

    t.test('the open period is never written', async (t) => {
      for (const interval of ALL) {
        const current = openTimeOf(interval, NOW);
        t.same(await store.openTimes(venue, MARKET, 'BTCUSDT', interval, current, current + 400 * DAY), [], `${interval}: nothing at or after the open period`);
        t.equal((await store.latest(venue, MARKET, 'BTCUSDT', [interval]))[0]?.openTime, TARGET[interval]!.to, `${interval}: the latest stored is the last closed period`);
      }
    });

    t.test('a filled store plans nothing more; a fresh backfiller re-asks only for the stretch before the exchange’s data', async (t) => {
      for (const symbol of SYMBOLS) t.same(await first.missingRanges(symbol, LISTED, NOW), [], `${symbol}: nothing missing`);
      const before = calls.length;
      const summary = await first.run(SYMBOLS.map((symbol) => ({ symbol, listedAt: LISTED })), NOW);
      t.equal(calls.length, before, 'a second run sends no request');
      t.equal(summary.klinesWritten, 0);

      const again = recordingRest();
      const fresh = backfiller(store, venue, again.rest);
      t.same(await fresh.missingRanges('SOLUSDT', LISTED, NOW), BEFORE_DATA, 'a new instance does not know the exchange has nothing there');
      const result = await fresh.backfillSymbol('SOLUSDT', LISTED, NOW);
      t.same(result, { fetched: 0, written: 0, ranges: 3 });
      t.same(again.calls.map((c) => [c.interval, c.start, c.end]), BEFORE_DATA.map((r) => [r.interval, r.from, r.to]), 'one request per stretch');
      t.same(await fresh.missingRanges('SOLUSDT', LISTED, NOW), BEFORE_DATA, 'an empty answer is not taken as proof of absence');
    });

    t.test('holes anywhere in stored history are found, merged and filled; nothing else is fetched', async (t) => {
      const symbol = 'BTCUSDT';
      const m1 = TARGET['1m']!.from;
      const deleted: [IntervalName, number][] = [
        ['1m', m1], // the head
        ['1m', m1 + 100 * MINUTE],
        ['1m', m1 + 101 * MINUTE],
        ['1m', m1 + 102 * MINUTE],
        ['1m', m1 + 500 * MINUTE],
        ['1m', TARGET['1m']!.to], // the tail
        ['5m', TARGET['5m']!.from + 777 * 5 * MINUTE],
        ['1d', Date.UTC(2026, 10, 15)],
        ['1w', Date.UTC(2026, 9, 5)], // the week after the trades' week
        ['1M', Date.UTC(2026, 10, 1)],
      ];
      const partial1h = TARGET['1h']!.from + 10 * HOUR;
      for (const [interval, openTime] of [...deleted, ['1h', partial1h] as [IntervalName, number]]) {
        const result = await handle.db
          .deleteFrom('klines')
          .where('venue', '=', venue)
          .where('symbol', '=', symbol)
          .where('interval', '=', interval)
          .where('open_time', '=', openTime)
          .executeTakeFirst();
        t.equal(Number(result.numDeletedRows), 1, `deleted ${interval} ${new Date(openTime).toISOString()}`);
      }
      // A crash left an in-progress kline in a period that is closed now: it is a hole too.
      const stale = (await reader.klines(symbol, '1h', { startTime: partial1h, limit: 1 }))[0]!;
      const staleKline: Kline = { ...stale, symbol, interval: '1h', close: '1.00', firstTradeId: 5, lastTradeId: 6, lastAggId: 7, isFinal: false };
      t.equal(await store.upsert([{ venue, market: MARKET, kline: staleKline, revision: 0, source: 'live' }]), 1);

      const holes: MissingRange[] = [
        { interval: '1m', from: m1, to: m1 },
        { interval: '1m', from: m1 + 100 * MINUTE, to: m1 + 102 * MINUTE },
        { interval: '1m', from: m1 + 500 * MINUTE, to: m1 + 500 * MINUTE },
        { interval: '1m', from: TARGET['1m']!.to, to: TARGET['1m']!.to },
        { interval: '5m', from: TARGET['5m']!.from + 777 * 5 * MINUTE, to: TARGET['5m']!.from + 777 * 5 * MINUTE },
        { interval: '1h', from: partial1h, to: partial1h },
        { interval: '1d', from: Date.UTC(2026, 10, 15), to: Date.UTC(2026, 10, 15) },
        { interval: '1w', from: Date.UTC(2026, 9, 5), to: Date.UTC(2026, 9, 5) },
        { interval: '1M', from: Date.UTC(2026, 10, 1), to: Date.UTC(2026, 10, 1) },
      ];
      t.same(await first.missingRanges(symbol, LISTED, NOW), holes, 'exactly the holes, merged');
      t.same(await first.missingRanges('ETHUSDT', LISTED, NOW), [], 'other symbols untouched');

      const before = calls.length;
      const requests = client.stats.requests - client.stats.retries;
      const result = await first.backfillSymbol(symbol, LISTED, NOW);
      t.same(
        calls.slice(before).map((c) => ({ interval: c.interval, from: c.start, to: c.end })),
        holes,
        'one request per hole, for exactly its periods',
      );
      t.equal(client.stats.requests - client.stats.retries - requests, holes.length, 'one HTTP request per hole (retried attempts aside)');
      t.same(result, { fetched: 11, written: 11, ranges: 9 }, 'ten deleted rows and the stale one written');
      for (const interval of ALL) await assertMatchesExchange(t, store, venue, symbol, interval, TARGET[interval]!.from, TARGET[interval]!.to);
      const repaired = await handle.db
        .selectFrom('klines')
        .select(['is_final', 'source', 'close'])
        .where('venue', '=', venue)
        .where('symbol', '=', symbol)
        .where('interval', '=', '1h')
        .where('open_time', '=', partial1h)
        .executeTakeFirstOrThrow();
      t.same(repaired, { is_final: true, source: 'backfill', close: stale.close }, 'the stale in-progress kline was replaced by the exchange’s final one');
      t.same(await first.missingRanges(symbol, LISTED, NOW), [], 'no hole left');
    });

    t.test('a crash midway: the next backfill fetches only what is missing', async (t) => {
      const crashVenue = `crash-${kind}`;
      const options = { intervals: ['1m', '1h'] as IntervalName[], pageLimit: 100 };
      const crashing = recordingRest(async (_call, index, inner) => {
        if (index === 3) throw new Error('injected crash');
        return inner();
      });
      await t.rejects(backfiller(store, crashVenue, crashing.rest, options).backfillSymbol('BTCUSDT', LISTED, NOW), /injected crash/);
      t.equal(crashing.calls.length, 4, 'it stopped at the failing page');
      const m1 = TARGET['1m']!.from;
      t.equal(await store.count(crashVenue, MARKET, 'BTCUSDT', '1m'), 300, 'the three pages before the crash were stored as they arrived');
      t.equal(await store.count(crashVenue, MARKET, 'BTCUSDT', '1h'), 0);

      const resumed = recordingRest();
      const second = backfiller(store, crashVenue, resumed.rest, options);
      t.same(
        await second.missingRanges('BTCUSDT', LISTED, NOW),
        [
          { interval: '1m', from: m1 + 300 * MINUTE, to: TARGET['1m']!.to },
          { interval: '1h', ...TARGET['1h'] },
        ],
        'the plan starts where the crash stopped',
      );
      const result = await second.backfillSymbol('BTCUSDT', LISTED, NOW);
      const oneMinute = resumed.calls.filter((c) => c.interval === '1m');
      t.same(
        oneMinute.map((c) => [c.start, c.end]),
        Array.from({ length: 7 }, (_, i) => [m1 + (300 + 100 * i) * MINUTE, m1 + (399 + 100 * i) * MINUTE]),
        'seven pages of 100 from the first missing minute: nothing stored is fetched again',
      );
      t.equal(resumed.calls.filter((c) => c.interval === '1h').length, 10);
      t.same(result, { fetched: 1700, written: 1700, ranges: 2 });
      await assertMatchesExchange(t, store, crashVenue, 'BTCUSDT', '1m', TARGET['1m']!.from, TARGET['1m']!.to);
      await assertMatchesExchange(t, store, crashVenue, 'BTCUSDT', '1h', TARGET['1h']!.from, TARGET['1h']!.to);
    });
  });
}

t.test('planning: depth, full history, young and unlisted symbols, period boundaries (postgres)', async (t) => {
  const { store } = await database('postgres');
  const never: KlineBackfillerOptions['rest'] = { klinesRange: () => Promise.reject(new Error('no request expected')) };
  const plan = (options: Partial<KlineBackfillerOptions>, listedAt: number, now: number) => backfiller(store, 'plan', never, options).missingRanges('BTCUSDT', listedAt, now);

  t.same(
    await plan({ depth: 3, fullHistory: ['1M'] }, LISTED, NOW),
    [
      { interval: '1m', from: Date.UTC(2027, 1, 10, 12, 31), to: Date.UTC(2027, 1, 10, 12, 33) },
      { interval: '5m', from: Date.UTC(2027, 1, 10, 12, 15), to: Date.UTC(2027, 1, 10, 12, 25) },
      { interval: '1h', from: Date.UTC(2027, 1, 10, 9), to: Date.UTC(2027, 1, 10, 11) },
      { interval: '1d', from: Date.UTC(2027, 1, 7), to: Date.UTC(2027, 1, 9) },
      { interval: '1w', from: Date.UTC(2027, 0, 18), to: Date.UTC(2027, 1, 1) },
      { interval: '1M', from: Date.UTC(2026, 6, 1), to: Date.UTC(2027, 0, 1) },
    ],
    'depth 3 everywhere but 1M, which goes back to the listing',
  );
  t.same(
    await plan({ depth: 3, fullHistory: [], intervals: ['1M', '1w'] }, LISTED, NOW),
    [
      { interval: '1M', from: Date.UTC(2026, 10, 1), to: Date.UTC(2027, 0, 1) },
      { interval: '1w', from: Date.UTC(2027, 0, 18), to: Date.UTC(2027, 1, 1) },
    ],
    'three months back across the year boundary; intervals in the configured order',
  );
  t.same(
    await plan({}, Date.UTC(2027, 1, 10, 10, 17, 3), NOW),
    [
      { interval: '1m', from: Date.UTC(2027, 1, 10, 10, 17), to: Date.UTC(2027, 1, 10, 12, 33) },
      { interval: '5m', from: Date.UTC(2027, 1, 10, 10, 15), to: Date.UTC(2027, 1, 10, 12, 25) },
      { interval: '1h', from: Date.UTC(2027, 1, 10, 10), to: Date.UTC(2027, 1, 10, 11) },
    ],
    'a symbol listed today: from its listing period; no closed day, week or month yet',
  );
  t.same(await plan({}, NOW + DAY, NOW), [], 'not listed yet');
  t.same(await plan({ depth: 0, fullHistory: [] }, LISTED, NOW), [], 'depth 0 without full history wants nothing');
  const boundary = Date.UTC(2027, 2, 1); // Monday 2027-03-01 00:00:00.000: every period opens here and is open
  t.same(
    await plan({ depth: 2, fullHistory: [] }, LISTED, boundary),
    [
      { interval: '1m', from: boundary - 2 * MINUTE, to: boundary - MINUTE },
      { interval: '5m', from: boundary - 10 * MINUTE, to: boundary - 5 * MINUTE },
      { interval: '1h', from: boundary - 2 * HOUR, to: boundary - HOUR },
      { interval: '1d', from: boundary - 2 * DAY, to: boundary - DAY },
      { interval: '1w', from: boundary - 2 * WEEK, to: boundary - WEEK },
      { interval: '1M', from: Date.UTC(2027, 0, 1), to: Date.UTC(2027, 1, 1) },
    ],
    'at a boundary the period opening at now is open; February is the last closed month',
  );
  await t.rejects(plan({}, Number.NaN, NOW), RangeError);
  t.throws(() => backfiller(store, 'plan', never, { concurrency: 0 }), RangeError);
  t.throws(() => backfiller(store, 'plan', never, { pageLimit: 1501 }), RangeError);
  t.throws(() => backfiller(store, 'plan', never, { depth: -1 }), RangeError);
});

t.test('an exchange answer reaching into the open period: only closed klines are written (pglite)', async (t) => {
  const { store } = await database('pglite');
  const intervals: IntervalName[] = ['1m', '1h', '1d', '1M'];
  const openSeen = new Set<IntervalName>();
  // Asks the exchange for everything up to now instead of the range given, so the open period comes back too.
  const greedy = recordingRest(async (call) => {
    const klines = await reader.klinesRange(call.symbol, call.interval, call.start, NOW, call.limit);
    if (klines.some((k) => k.closeTime >= NOW)) openSeen.add(call.interval);
    return klines;
  });
  const result = await backfiller(store, 'open', greedy.rest, { intervals, depth: 5, fullHistory: [] }).backfillSymbol('SOLUSDT', LISTED, NOW);
  t.same([...openSeen].sort(), [...intervals].sort(), 'the exchange did return the open period of every interval');
  t.same(result, { fetched: 24, written: 20, ranges: 4 }, 'five closed periods each written, the open one dropped');
  for (const interval of intervals) {
    const current = openTimeOf(interval, NOW);
    t.same(await store.openTimes('open', MARKET, 'SOLUSDT', interval, current, current + 400 * DAY), [], `${interval}: the open period is not stored`);
    t.equal(await store.count('open', MARKET, 'SOLUSDT', interval), 5);
  }
});

t.test('run: at most `concurrency` symbols at once; one symbol’s failure does not stop the others (pglite)', async (t) => {
  const { store } = await database('pglite');

  for (const concurrency of [2, 1]) {
    t.test(`concurrency ${concurrency}`, async (t) => {
      const venue = `run-${concurrency}`;
      const inFlight = new Map<string, number>();
      let maxSymbolsInFlight = 0;
      const traced = recordingRest(async (call, _index, inner) => {
        if (call.symbol === 'ETHUSDT' && call.interval === '1d') throw new Error('ETHUSDT is broken');
        inFlight.set(call.symbol, (inFlight.get(call.symbol) ?? 0) + 1);
        maxSymbolsInFlight = Math.max(maxSymbolsInFlight, inFlight.size);
        try {
          await new Promise((resolve) => setTimeout(resolve, 15));
          return await inner();
        } finally {
          const left = inFlight.get(call.symbol)! - 1;
          if (left === 0) inFlight.delete(call.symbol);
          else inFlight.set(call.symbol, left);
        }
      });
      const snapshots: BackfillProgress[] = [];
      const instance = backfiller(store, venue, traced.rest, {
        intervals: ['1m', '1h', '1d'],
        depth: 40,
        pageLimit: 10,
        concurrency,
        onProgress: (progress) => snapshots.push(progress),
      });
      const outcomes = new Map<string, SymbolBackfillOutcome>();
      const summary = await instance.run(
        SYMBOLS.map((symbol) => ({ symbol, listedAt: LISTED })),
        NOW,
        (symbol, outcome) => outcomes.set(symbol, outcome),
      );

      t.equal(maxSymbolsInFlight, concurrency, `requests of ${concurrency} symbol(s) in flight at most, and that many at some point`);
      t.equal(Math.max(...snapshots.map((p) => p.currentSymbols.length)), concurrency, 'progress.currentSymbols never longer than the limit');
      t.same(summary.failures.map((f) => [f.symbol, f.error.message]), [['ETHUSDT', 'ETHUSDT is broken']], 'the failure is reported');
      t.same(
        { succeeded: summary.symbolsSucceeded, failed: summary.symbolsFailed, skipped: summary.symbolsSkipped, total: summary.symbolsTotal },
        { succeeded: 2, failed: 1, skipped: 0, total: 3 },
      );
      t.same([...outcomes.keys()].sort(), [...SYMBOLS], 'onSymbolDone for each symbol, the failed one too');
      t.equal(outcomes.get('ETHUSDT')?.ok, false);
      t.match(outcomes.get('BTCUSDT'), { ok: true, ranges: 3, written: 40 + 40 + 133 });
      for (const symbol of ['BTCUSDT', 'SOLUSDT']) {
        for (const interval of ['1m', '1h'] as const) t.equal(await store.count(venue, MARKET, symbol, interval), 40, `${symbol} ${interval}`);
        t.equal(await store.count(venue, MARKET, symbol, '1d'), 133, `${symbol} 1d: 2026-09-30 … 2027-02-09`);
      }
      t.equal(await store.count(venue, MARKET, 'ETHUSDT', '1d'), 0);
      t.equal(await store.count(venue, MARKET, 'ETHUSDT', '1m'), 40, 'what the failed symbol stored before failing stays');
      const last = instance.progress;
      t.same(
        { ...last, currentSymbols: [...last.currentSymbols] },
        { symbolsDone: 3, symbolsFailed: 1, symbolsTotal: 3, rangesPlanned: 9, rangesDone: 8, klinesFetched: 2 * 213 + 80, klinesWritten: 2 * 213 + 80, currentSymbols: [] },
        'final progress',
      );
      t.ok(snapshots.every((p, i) => i === 0 || p.klinesWritten >= snapshots[i - 1]!.klinesWritten), 'progress only grows');
      t.ok(snapshots.filter((p) => p.klinesWritten > 0).length >= 20, 'progress is reported page by page');
    });
  }
});

t.test('stop(): in-flight symbols end after their current page, no new one starts (postgres)', async (t) => {
  const { store } = await database('postgres');
  let instance: KlineBackfiller | undefined;
  const stopping = recordingRest(async (_call, index, inner) => {
    if (index === 1) instance!.stop();
    return inner();
  });
  instance = backfiller(store, 'stop', stopping.rest, { intervals: ['1m'], concurrency: 1 });
  const outcomes: string[] = [];
  const summary = await instance.run(
    SYMBOLS.map((symbol) => ({ symbol, listedAt: LISTED })),
    NOW,
    (symbol) => outcomes.push(symbol),
  );
  t.equal(stopping.calls.length, 2, 'the page in flight completed, no further page was asked for');
  t.equal(await store.count('stop', MARKET), 998, 'both pages were stored');
  t.same({ succeeded: summary.symbolsSucceeded, failed: summary.symbolsFailed, skipped: summary.symbolsSkipped }, { succeeded: 0, failed: 0, skipped: 3 });
  t.same(outcomes, [], 'a stopped symbol is not reported done');
  t.ok(new BackfillStoppedError('X') instanceof Error);
});

t.test('run plans each symbol against the later of `now` and the clock (postgres)', async (t) => {
  const { store } = await database('postgres');
  const traced = recordingRest();
  const summary = await backfiller(store, 'late', traced.rest, { intervals: ['1m'], depth: 5 }).run([{ symbol: 'BTCUSDT', listedAt: LISTED }], NOW - HOUR);
  t.equal(summary.symbolsSucceeded, 1);
  t.same(
    traced.calls.map((c) => [c.start, c.end]),
    [[TARGET['1m']!.to - 4 * MINUTE, TARGET['1m']!.to]],
    'the clock (NOW) is later than the `now` given (an hour earlier): its last closed minute is the end',
  );
});
