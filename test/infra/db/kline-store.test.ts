import t from 'tap';
import { sql } from 'kysely';
import type { Kline } from '../../../src/domain/kline.ts';
import { KlineStore, isNewerVersion, type KlineRow, type KlineSource } from '../../../src/infra/db/kline-store.ts';
import type { DatabaseHandle } from '../../../src/infra/db/open-database.ts';
import { SymbolStore } from '../../../src/infra/db/symbol-store.ts';
import { BACKENDS, createBackend } from './backends.ts';

const MARKET = 'usdm';
/** 2019-10-01T00:00:00Z. */
const T0 = 1_569_888_000_000;
const MINUTE = 60_000;

function kline(overrides: Partial<Kline> = {}): Kline {
  const openTime = overrides.openTime ?? T0;
  return {
    symbol: 'XRPETH',
    interval: '1m',
    openTime,
    closeTime: openTime + MINUTE - 1,
    open: '0.00142100',
    high: '0.00142300',
    low: '0.00142000',
    close: '0.00142200',
    volume: '1482.00000000',
    quoteVolume: '2.1063012000000000',
    tradeCount: 7,
    takerBuyVolume: '1000.00000000',
    takerBuyQuoteVolume: '1.4221000000000000',
    firstTradeId: 3_000_001,
    lastTradeId: 3_000_007,
    lastAggId: 100,
    isFinal: false,
    ...overrides,
  };
}

function row(venue: string, k: Kline, revision = 0, source: KlineSource = 'live'): KlineRow {
  return { venue, market: MARKET, kline: k, revision, source };
}

interface Version {
  readonly lastAggId: number;
  readonly isFinal: boolean;
  readonly revision: number;
}

/** Each case writes `first`, then `second`; `replaces` says whether the stored row must become `second`. */
const GUARD_CASES: readonly { name: string; first: Version; second: Version; replaces: boolean }[] = [
  { name: 'open → newer open replaces', first: { lastAggId: 100, isFinal: false, revision: 0 }, second: { lastAggId: 101, isFinal: false, revision: 0 }, replaces: true },
  { name: 'open with a lower last_agg_id does not replace', first: { lastAggId: 100, isFinal: false, revision: 0 }, second: { lastAggId: 99, isFinal: false, revision: 0 }, replaces: false },
  { name: 'the same open state is not rewritten', first: { lastAggId: 100, isFinal: false, revision: 0 }, second: { lastAggId: 100, isFinal: false, revision: 0 }, replaces: false },
  { name: 'open does not replace final', first: { lastAggId: 100, isFinal: true, revision: 0 }, second: { lastAggId: 101, isFinal: false, revision: 0 }, replaces: false },
  { name: 'final replaces open (same last_agg_id)', first: { lastAggId: 100, isFinal: false, revision: 0 }, second: { lastAggId: 100, isFinal: true, revision: 0 }, replaces: true },
  { name: 'final replaces open (higher last_agg_id)', first: { lastAggId: 100, isFinal: false, revision: 0 }, second: { lastAggId: 105, isFinal: true, revision: 0 }, replaces: true },
  { name: 'final does not replace final of the same revision', first: { lastAggId: 100, isFinal: true, revision: 0 }, second: { lastAggId: 101, isFinal: true, revision: 0 }, replaces: false },
  { name: 'higher revision replaces final', first: { lastAggId: 100, isFinal: true, revision: 0 }, second: { lastAggId: 100, isFinal: true, revision: 1 }, replaces: true },
  { name: 'lower revision never replaces a final', first: { lastAggId: 100, isFinal: true, revision: 1 }, second: { lastAggId: 200, isFinal: true, revision: 0 }, replaces: false },
  { name: 'lower revision never replaces an open', first: { lastAggId: 100, isFinal: false, revision: 1 }, second: { lastAggId: 200, isFinal: false, revision: 0 }, replaces: false },
];

function versioned(venue: string, openTime: number, version: Version, marker: string): KlineRow {
  const k = kline({ openTime, lastAggId: version.lastAggId, isFinal: version.isFinal, close: marker });
  return row(venue, k, version.revision, version.revision > 0 ? 'repair' : 'live');
}

t.test('isNewerVersion matches every guard case', async (t) => {
  for (const c of GUARD_CASES) {
    t.equal(isNewerVersion(versioned('v', T0, c.second, '2'), versioned('v', T0, c.first, '1')), c.replaces, c.name);
  }
});

for (const kind of BACKENDS) {
  t.test(kind, async (t) => {
    const backend = await createBackend(kind, 'klagg_kline_store');
    t.teardown(() => backend.destroy());
    const handle: DatabaseHandle = await backend.open();
    t.teardown(() => handle.close());
    t.equal(handle.kind, kind);
    const store = KlineStore.forDatabase(handle);

    t.test('migrations are idempotent: a second open finds the schema and keeps the data', async (t) => {
      // A separate database: PGlite must not have two instances on one directory.
      const other = await createBackend(kind, 'klagg_migrate');
      t.teardown(() => other.destroy());
      const first = await other.open();
      const stored = kline({ volume: '42.00000000' });
      t.equal(await new KlineStore(first.db).upsert([row('binance', stored)]), 1);
      await first.close();
      const second = await other.open();
      const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(second.db);
      t.same(rows.map((r) => r.name), ['0001_klines_and_symbols']);
      t.same(await new KlineStore(second.db).latest('binance', MARKET, 'XRPETH', ['1m']), [stored]);
      await second.close();
      await second.close(); // idempotent: several shutdown paths may close
    });

    if (kind === 'postgres') {
      t.test('several services starting at once on a fresh database all migrate it', async (t) => {
        const fresh = await createBackend(kind, 'klagg_migrate_race');
        t.teardown(() => fresh.destroy());
        const handles = await Promise.all([1, 2, 3, 4].map(() => fresh.open()));
        for (const h of handles) await h.close();
      });
    }

    t.test('decimals read back as the exact strings written', async (t) => {
      const venue = 'exact';
      const klines = [
        kline({ openTime: T0, volume: '1482.00000000', quoteVolume: '2.1063012000000000' }),
        kline({ openTime: T0 + MINUTE, quoteVolume: '123456789012.3456789012345678', takerBuyQuoteVolume: '0.0000000000000001' }),
        kline({
          openTime: T0 + 2 * MINUTE,
          open: '0.00142200',
          high: '0.00142200',
          low: '0.00142200',
          close: '0.00142200',
          volume: '0.00000000',
          quoteVolume: '0.0000000000000000',
          takerBuyVolume: '0.00000000',
          takerBuyQuoteVolume: '0.0000000000000000',
          tradeCount: 0,
          firstTradeId: -1,
          lastTradeId: -1,
          lastAggId: -1,
          isFinal: true,
        }),
        kline({ openTime: T0 + 3 * MINUTE, open: '8000.10', high: '99999999.99', firstTradeId: 2 ** 53 - 10, lastTradeId: 2 ** 53 - 1 }),
      ];
      t.equal(await store.upsert(klines.map((k) => row(venue, k))), 4);
      const read = await store.range(venue, MARKET, 'XRPETH', '1m', { startTime: T0, limit: 10 });
      t.same(read, klines);
      t.strictSame(read, klines, 'same types too: numbers for times, ids and counts, strings for decimals');
    });

    t.test('any symbol text survives the array literals; values they cannot carry exactly are refused', async (t) => {
      const venue = 'text';
      const names = ['我踏马来了USDT', 'A"B\\C', 'NULL', '', 'x,y{z} w'];
      const klines = names.map((symbol) => kline({ symbol }));
      t.equal(await store.upsert(klines.map((k) => row(venue, k))), names.length);
      for (const k of klines) t.same(await store.latest(venue, MARKET, k.symbol, ['1m']), [k], JSON.stringify(k.symbol));
      await t.rejects(store.upsert([row(venue, kline({ volume: '1e5' }))]), { name: 'TypeError', message: /volume: "1e5" is not a plain decimal/ });
      await t.rejects(store.upsert([row(venue, kline({ tradeCount: Number.NaN }))]), { name: 'TypeError', message: /tradeCount: NaN/ });
      await t.rejects(store.upsert([row(venue, kline({ lastAggId: 2 ** 53 }))]), TypeError);
    });

    t.test('version guard', async (t) => {
      const venue = 'guard';
      for (const [i, c] of GUARD_CASES.entries()) {
        const openTime = T0 + i * MINUTE;
        t.equal(await store.upsert([versioned(venue, openTime, c.first, '1.0')]), 1, `${c.name}: first insert`);
        t.equal(await store.upsert([versioned(venue, openTime, c.second, '2.0')]), c.replaces ? 1 : 0, `${c.name}: rows written`);
        const [stored] = await store.range(venue, MARKET, 'XRPETH', '1m', { startTime: openTime, endTime: openTime, limit: 1 });
        const expected = c.replaces ? c.second : c.first;
        t.same(
          { close: stored?.close, lastAggId: stored?.lastAggId, isFinal: stored?.isFinal },
          { close: c.replaces ? '2.0' : '1.0', lastAggId: expected.lastAggId, isFinal: expected.isFinal },
          c.name,
        );
      }
    });

    t.test('within one batch the newest version of a key wins, in either order', async (t) => {
      const venue = 'batch';
      for (const [i, c] of GUARD_CASES.entries()) {
        const first = versioned(venue, T0 + i * MINUTE, c.first, '1.0');
        const second = versioned(venue, T0 + i * MINUTE, c.second, '2.0');
        const batch = i % 2 === 0 ? [first, second] : [second, first];
        t.equal(await store.upsert(batch), 1, `${c.name}: one row`);
      }
      const stored = await store.range(venue, MARKET, 'XRPETH', '1m', { startTime: T0, limit: 100 });
      t.same(
        stored.map((k) => k.close),
        GUARD_CASES.map((c) => (c.replaces ? '2.0' : '1.0')),
      );
    });

    t.test('12,000 rows in one call, and in one statement', async (t) => {
      const rows = (venue: string, lastAggId: number): KlineRow[] =>
        Array.from({ length: 12_000 }, (_, i) =>
          row(venue, kline({ symbol: `S${i % 100}`, openTime: T0 + Math.floor(i / 100) * MINUTE, lastAggId, quoteVolume: `${i}.0000000000000001` })),
        );
      t.equal(await store.upsert(rows('bulk', 1)), 12_000, 'chunked (default 5,000 per statement)');
      // 12,000 rows × 21 columns would be 252,000 bind parameters as VALUES; as arrays it is 21.
      const oneStatement = new KlineStore(handle.db, { chunkSize: 20_000, parallelism: 1 });
      t.equal(await oneStatement.upsert(rows('bulk1', 1)), 12_000, 'one statement: inserts');
      t.equal(await oneStatement.upsert(rows('bulk1', 2)), 12_000, 'one statement: all conflicts, all newer');
      t.equal(await oneStatement.upsert(rows('bulk1', 2)), 0, 'the same batch again writes nothing');
      t.equal(await store.count('bulk', MARKET), 12_000);
      t.equal(await store.count('bulk1', MARKET), 12_000);
      t.equal(await store.count('bulk1', MARKET, 'S7'), 120);
      const [last] = await store.latest('bulk1', MARKET, 'S99', ['1m']);
      t.same({ openTime: last?.openTime, lastAggId: last?.lastAggId, quoteVolume: last?.quoteVolume }, { openTime: T0 + 119 * MINUTE, lastAggId: 2, quoteVolume: '11999.0000000000000001' });
    });

    t.test('statements in parallel store exactly what one statement stores, and count the same', async (t) => {
      // Every guard case on 300 keys each, shuffled, with a stale duplicate of some keys in the same batch, plus
      // 600 new keys: written once by one statement, once as 4 statements of ≤ 1,200 rows, 3 at a time.
      const SYMBOLS = 30;
      const keyAt = (i: number) => ({ symbol: `P${i % SYMBOLS}`, openTime: T0 + Math.floor(i / SYMBOLS) * MINUTE });
      const stored = (venue: string): KlineRow[] =>
        Array.from({ length: 3_000 }, (_, i) => {
          const c = GUARD_CASES[i % GUARD_CASES.length]!;
          return row(venue, kline({ ...keyAt(i), lastAggId: c.first.lastAggId, isFinal: c.first.isFinal, close: '1.0' }), c.first.revision);
        });
      const batch = (venue: string): KlineRow[] => {
        const rows: KlineRow[] = [];
        for (let i = 0; i < 3_600; i++) {
          const c = GUARD_CASES[i % GUARD_CASES.length]!;
          const version = i < 3_000 ? c.second : { lastAggId: 7, isFinal: i % 2 === 0, revision: 0 };
          rows.push(row(venue, kline({ ...keyAt(i), lastAggId: version.lastAggId, isFinal: version.isFinal, close: `2.${i}` }), version.revision, version.revision > 0 ? 'repair' : 'live'));
          if (i % 7 === 0) rows.push(row(venue, kline({ ...keyAt(i), lastAggId: -1, close: '9.9' }))); // stale: loses within the batch
        }
        // A fixed shuffle, so the statements are not handed their keys in order.
        return rows.map((r, i) => ({ r, order: (i * 7_919) % rows.length })).sort((a, b) => a.order - b.order).map(({ r }) => r);
      };
      const one = new KlineStore(handle.db, { parallelism: 1, chunkSize: 100_000 });
      const many = new KlineStore(handle.db, { parallelism: 3, chunkSize: 1_200 });
      t.equal(await one.upsert(stored('par-one')), 3_000);
      t.equal(await many.upsert(stored('par-many')), 3_000);
      const replaced = GUARD_CASES.filter((c) => c.replaces).length * (3_000 / GUARD_CASES.length);
      t.equal(await one.upsert(batch('par-one')), replaced + 600, 'one statement: replaced + inserted');
      t.equal(await many.upsert(batch('par-many')), replaced + 600, 'parallel statements: the same count');
      t.equal(await many.upsert(batch('par-many')), 0, 'the same batch again writes nothing');
      const all = async (venue: string) => {
        const { rows } = await sql<Record<string, unknown>>`
          select symbol, interval, open_time, close, last_agg_id, is_final, revision, source, volume, quote_volume
          from klines where venue = ${venue} order by symbol, open_time`.execute(handle.db);
        return rows;
      };
      const [a, b] = [await all('par-one'), await all('par-many')];
      t.equal(b.length, 3_600);
      t.same(b, a, 'row for row the same table contents');
      t.notOk(b.some((r) => r['close'] === '9.9'), 'no stale duplicate was stored');
    });

    t.test('a bad value fails the whole call only after its other statements have settled; a retry stores the rest', async (t) => {
      const venue = 'par-bad';
      const many = new KlineStore(handle.db, { parallelism: 2, chunkSize: 1_000 });
      const rows = Array.from({ length: 3_000 }, (_, i) => row(venue, kline({ symbol: `B${i % 10}`, openTime: T0 + Math.floor(i / 10) * MINUTE })));
      const bad = [...rows];
      bad[1_500] = row(venue, kline({ ...rows[1_500]!.kline, volume: '1e5' }));
      await t.rejects(many.upsert(bad), { name: 'TypeError', message: /volume: "1e5" is not a plain decimal/ });
      const before = await store.count(venue, MARKET);
      t.ok(before < 3_000, `${before} rows stored by the statements that ran`);
      t.equal(await many.upsert(rows), 3_000 - before, 'the retry writes exactly the rest');
      t.equal(await store.count(venue, MARKET), 3_000);
    });

    t.test('latest() gives the newest kline of each interval asked, in that order', async (t) => {
      const venue = 'latest';
      const ones = [0, 1, 2].map((m) => kline({ openTime: T0 + m * MINUTE, isFinal: m < 2 }));
      const fives = [0, 1].map((p) => kline({ interval: '5m', openTime: T0 + p * 5 * MINUTE, closeTime: T0 + (p + 1) * 5 * MINUTE - 1 }));
      const elsewhere = kline({ symbol: 'BTCUSDT', openTime: T0 + 10 * MINUTE });
      await store.upsert([...ones, ...fives, elsewhere].map((k) => row(venue, k)));
      t.same(await store.latest(venue, MARKET, 'XRPETH', ['1h', '5m', '1m']), [fives[1], ones[2]]);
      t.same(await store.latest(venue, MARKET, 'XRPETH', []), []);
      t.same(await store.latest(venue, 'other', 'XRPETH', ['1m']), []);
    });

    t.test('range() follows Binance: openTime within [startTime, endTime], ascending, limit', async (t) => {
      const venue = 'range';
      const klines = Array.from({ length: 10 }, (_, m) => kline({ openTime: T0 + m * MINUTE }));
      await store.upsert(klines.map((k) => row(venue, k)));
      const times = (list: readonly Kline[]): number[] => list.map((k) => (k.openTime - T0) / MINUTE);
      const range = (query: { startTime?: number; endTime?: number; limit: number }): Promise<Kline[]> =>
        store.range(venue, MARKET, 'XRPETH', '1m', query);
      t.same(times(await range({ startTime: T0 + 2 * MINUTE + 1, endTime: T0 + 6 * MINUTE, limit: 100 })), [3, 4, 5, 6], 'a mid-period startTime skips that period; endTime inclusive');
      t.same(times(await range({ startTime: T0 + 2 * MINUTE, limit: 3 })), [2, 3, 4], 'startTime inclusive, first `limit`');
      t.same(times(await range({ endTime: T0 + 6 * MINUTE, limit: 3 })), [4, 5, 6], 'only endTime: the latest `limit` at or before it');
      t.same(times(await range({ limit: 2 })), [8, 9], 'no bounds: the most recent');
      t.same(await range({ startTime: T0 + 20 * MINUTE, limit: 5 }), []);
      t.same(await store.range(venue, MARKET, 'XRPETH', '5m', { limit: 5 }), [], 'other intervals are separate');
      await t.rejects(range({ limit: 0 }), RangeError);
    });

    t.test('count() by venue and market, symbol, interval', async (t) => {
      const venue = 'count';
      await store.upsert([
        row(venue, kline({ openTime: T0 })),
        row(venue, kline({ openTime: T0 + MINUTE })),
        row(venue, kline({ interval: '5m' })),
        row(venue, kline({ symbol: 'BTCUSDT' })),
      ]);
      t.equal(await store.count(venue, MARKET), 4);
      t.equal(await store.count(venue, MARKET, 'XRPETH'), 3);
      t.equal(await store.count(venue, MARKET, 'XRPETH', '1m'), 2);
      t.equal(await store.count(venue, 'spot'), 0);
    });

    t.test('openTimes() lists stored open times in [from, to], ascending, optionally only final ones', async (t) => {
      const venue = 'open-times';
      const minutes = [7, 2, 0, 5, 3, 9];
      await store.upsert([
        ...minutes.map((m) => row(venue, kline({ openTime: T0 + m * MINUTE, isFinal: m !== 5 }))),
        row(venue, kline({ interval: '5m', openTime: T0 + 5 * MINUTE, closeTime: T0 + 10 * MINUTE - 1 })),
        row(venue, kline({ symbol: 'BTCUSDT', openTime: T0 + 4 * MINUTE })),
        row('elsewhere', kline({ openTime: T0 + 6 * MINUTE })),
      ]);
      const times = async (from: number, to: number, finalOnly?: boolean): Promise<number[]> =>
        (await store.openTimes(venue, MARKET, 'XRPETH', '1m', T0 + from * MINUTE, T0 + to * MINUTE, finalOnly === undefined ? undefined : { finalOnly })).map(
          (time) => (time - T0) / MINUTE,
        );
      t.same(await times(0, 100), [0, 2, 3, 5, 7, 9], 'ascending, other intervals, symbols and venues excluded');
      t.same(await times(2, 7), [2, 3, 5, 7], 'both bounds inclusive');
      t.same(await times(0, 100, true), [0, 2, 3, 7, 9], 'finalOnly leaves the open kline out');
      t.same(await times(0, 100, false), [0, 2, 3, 5, 7, 9]);
      t.same(await times(10, 20), []);
      t.same(await store.openTimes(venue, MARKET, 'XRPETH', '5m', T0, T0 + 100 * MINUTE), [T0 + 5 * MINUTE]);
    });

    t.test('SymbolStore round-trip', async (t) => {
      const symbols = new SymbolStore(handle.db);
      const info = [
        { venue: 'binance', market: MARKET, symbol: 'BTCUSDT', status: 'TRADING', tickSize: '0.10', stepSize: '0.001' },
        { venue: 'binance', market: MARKET, symbol: 'ETHUSDT', status: 'TRADING', tickSize: '0.01', stepSize: '0.001' },
      ];
      t.equal(await symbols.upsert(info), 2);
      t.equal(await symbols.upsert(info), 0, 'unchanged facts are not rewritten');
      t.equal(await symbols.setLifecycle('binance', MARKET, 'ETHUSDT', 'Failed', 'activation failed 5 times: timeout'), true);
      t.equal(await symbols.setLifecycle('binance', MARKET, 'NOPEUSDT', 'Active', null), false, 'unknown symbol');
      t.equal(await symbols.upsert([{ ...info[1]!, status: 'SETTLING' }]), 1);
      const listed = await symbols.list('binance', MARKET);
      t.same(
        listed.map(({ updatedAt, ...rest }) => rest),
        [
          { ...info[0], lifecycleState: 'Pending', lastError: null },
          { ...info[1], status: 'SETTLING', lifecycleState: 'Failed', lastError: 'activation failed 5 times: timeout' },
        ],
        'a status change keeps the lifecycle state and error',
      );
      t.ok(listed.every((s) => s.updatedAt instanceof Date));
      await symbols.setLifecycle('binance', MARKET, 'ETHUSDT', 'Active', null);
      t.same((await symbols.list('binance', MARKET))[1]?.lastError, null);
      t.same(await symbols.list('binance', 'spot'), []);
    });
  });
}
