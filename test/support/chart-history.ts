/**
 * History for the chart's browser test, written into the store of a running klagg as its backfill or a repair would:
 * older final klines before the earliest one it serves (a seeded random walk at the stored kline's decimals, so they are
 * at the symbol's scales), and a stored final written again with the next revision.
 */
import { fixedLengthMs, type IntervalName } from '../../src/domain/interval.ts';
import type { Kline } from '../../src/domain/kline.ts';
import { KlineStore } from '../../src/infra/db/kline-store.ts';
import { openDatabase } from '../../src/infra/db/open-database.ts';
import { unitSource } from './random.ts';

const VENUE = 'binance';
const MARKET = 'usdm';

const decimalsOf = (text: string): number => (text.includes('.') ? text.split('.')[1]!.length : 0);

/** `value` with exactly `decimals` decimals (units are value · 10^decimals, rounded). */
function fixed(units: number, decimals: number): string {
  const digits = String(Math.max(0, Math.round(units))).padStart(decimals + 1, '0');
  return decimals === 0 ? digits : `${digits.slice(0, -decimals)}.${digits.slice(-decimals)}`;
}

/** What the seeded history ends before: the earliest kline served (stored, or the live open one when none is stored yet). */
export interface EarliestKline {
  readonly openTime: number;
  readonly open: string;
  readonly volume: string;
}

/**
 * Writes `count` final klines of a symbol and fixed-length interval just before `earliest`, at its decimals; returns
 * the earliest open time written.
 */
export async function seedOlderKlines(databaseUrl: string, symbol: string, interval: IntervalName, count: number, earliest: EarliestKline): Promise<{ firstOpenTime: number }> {
  const stepMs = fixedLengthMs(interval);
  if (stepMs === undefined) throw new Error(`${interval} has no fixed length`);
  const handle = await openDatabase({ url: databaseUrl });
  try {
    const store = new KlineStore(handle.db);
    const priceDecimals = decimalsOf(earliest.open);
    const qtyDecimals = decimalsOf(earliest.volume);
    const random = unitSource(7);
    const tick = 10 ** priceDecimals;
    let close = Number(earliest.open) * tick;
    const klines: Kline[] = [];
    // Backwards from the earliest: each kline's close is the open of the one after it.
    for (let i = 1; i <= count; i++) {
      const openTime = earliest.openTime - i * stepMs;
      const open = close * (1 + (random() - 0.5) * 0.004);
      const high = Math.max(open, close) * (1 + random() * 0.0015);
      const low = Math.min(open, close) * (1 - random() * 0.0015);
      const qtyUnits = Math.round((0.5 + random() * 20) * 10 ** qtyDecimals);
      const volume = fixed(qtyUnits, qtyDecimals);
      const takerUnits = Math.round(qtyUnits * random());
      const mid = (open + close) / 2 / tick;
      const trades = 20 + Math.floor(random() * 2000);
      klines.push({
        symbol, interval, openTime, closeTime: openTime + stepMs - 1,
        open: fixed(open, priceDecimals), high: fixed(high, priceDecimals), low: fixed(low, priceDecimals), close: fixed(close, priceDecimals),
        volume, quoteVolume: (Number(volume) * mid).toFixed(5), tradeCount: trades,
        takerBuyVolume: fixed(takerUnits, qtyDecimals), takerBuyQuoteVolume: ((takerUnits / 10 ** qtyDecimals) * mid).toFixed(5),
        firstTradeId: -1, lastTradeId: -1, lastAggId: -1, isFinal: true,
      });
      close = open;
    }
    await store.upsert(klines.reverse().map((kline) => ({ venue: VENUE, market: MARKET, kline, revision: 0, source: 'backfill' as const })));
    return { firstOpenTime: klines[0]!.openTime };
  } finally {
    await handle.close();
  }
}

/** Stores the final kline of `openTime` again, corrected (one more trade's worth of volume), at the next revision. */
export async function reviseStoredKline(databaseUrl: string, symbol: string, interval: IntervalName, openTime: number): Promise<Kline> {
  const handle = await openDatabase({ url: databaseUrl });
  try {
    const store = new KlineStore(handle.db);
    const [kline] = await store.range(VENUE, MARKET, symbol, interval, { startTime: openTime, endTime: openTime, limit: 1 });
    if (kline === undefined || !kline.isFinal) throw new Error(`no stored final ${symbol} ${interval} kline at ${openTime}`);
    const qtyDecimals = decimalsOf(kline.volume);
    const step = 10 ** qtyDecimals;
    const revised: Kline = { ...kline, volume: fixed(Math.round(Number(kline.volume) * step) + 1, qtyDecimals), tradeCount: kline.tradeCount + 1, revision: (kline.revision ?? 0) + 1 };
    await store.upsert([{ venue: VENUE, market: MARKET, kline: revised, revision: revised.revision!, source: 'repair' }]);
    return revised;
  } finally {
    await handle.close();
  }
}
