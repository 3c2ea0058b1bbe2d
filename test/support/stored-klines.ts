/** Reading stored klines back, and comparing them with Binance's published ones, for tests across the suite. */
import type { Test } from 'tap';
import type { IntervalName } from '../../src/domain/interval.ts';
import type { Kline } from '../../src/domain/kline.ts';
import { KlineStore } from '../../src/infra/db/kline-store.ts';
import { openDatabase } from '../../src/infra/db/open-database.ts';
import { canonicalDecimal, readPublishedKlines } from './fixtures.ts';

export async function storedKlines(location: { url?: string; dataDir?: string }, symbol: string, interval: IntervalName): Promise<Kline[]> {
  const handle = await openDatabase(location);
  try {
    return await new KlineStore(handle.db).range('binance', 'usdm', symbol, interval, { limit: 1_000_000 });
  } finally {
    await handle.close();
  }
}

/** Every kline row of a database, in key order (to compare two runs). */
export async function allStoredKlines(url: string): Promise<string[]> {
  const handle = await openDatabase({ url });
  try {
    const rows = await handle.db.selectFrom('klines').selectAll().orderBy('symbol').orderBy('interval').orderBy('open_time').execute();
    return rows.map((row) => JSON.stringify({ ...row, updated_at: undefined }));
  } finally {
    await handle.close();
  }
}

/**
 * Every kline of a database as the exchange would give it — key, the Binance fields as canonical decimals, final or
 * not — without how it got there (revision, source, trade ids, which a rebuild from the exchange's klines lacks).
 */
export async function storedKlineValues(url: string): Promise<string[]> {
  const handle = await openDatabase({ url });
  try {
    const rows = await handle.db.selectFrom('klines').selectAll().orderBy('symbol').orderBy('interval').orderBy('open_time').execute();
    return rows.map((r) =>
      [r.symbol, r.interval, String(r.open_time), ...[r.open, r.high, r.low, r.close, r.volume, r.quote_volume, r.taker_buy_volume, r.taker_buy_quote_volume].map(canonicalDecimal), String(r.trade_count), String(r.is_final)].join(' '),
    );
  } finally {
    await handle.close();
  }
}

const published = readPublishedKlines();

/** Asserts that `klines` are exactly Binance's 3,560 published XRPETH 1m klines, all final. */
export function assertMatchesExchange(t: Test, klines: readonly Kline[]): void {
  t.equal(klines.length, published.length, 'exactly the exchange’s 3,560 1m klines are stored');
  let mismatches = 0;
  klines.forEach((k, i) => {
    const want = published[i]!;
    const same =
      k.isFinal &&
      k.openTime === want.openTime &&
      [k.open, k.high, k.low, k.close, k.volume].map(canonicalDecimal).join() === [want.open, want.high, want.low, want.close, want.volume].map(canonicalDecimal).join();
    if (!same && mismatches++ < 3) t.fail(`stored kline ${i} differs`, { stored: k, published: want });
  });
  t.equal(mismatches, 0, 'every stored kline is final and equals the published one');
}
