/**
 * A period without trades yet stands as a flat kline at the previous close. When a late trade changes that close (the
 * stream lagged past the grace; a repair landed after the minute ended), the flat open kline takes the new price — and
 * that new price must reach the store, through the real system, DB writer and store, on both backends. Found by the
 * soak: the store takes an open kline only at a higher last aggregate id, a flat kline's stayed at −1, so its first
 * price stayed stored (one tick off, "clients stale") and a restart installed it, making the final wrong too.
 */
import t from 'tap';
import type { KlaggSystem } from '../../src/actors/klagg-system.ts';
import type { IntervalName } from '../../src/domain/interval.ts';
import { KlineStore } from '../../src/infra/db/kline-store.ts';
import { BACKENDS, createBackend } from '../infra/db/backends.ts';
import { startSystem } from '../support/system.ts';

const T0 = Date.UTC(2026, 11, 7, 18, 0, 0);
const INTERVALS: IntervalName[] = ['1m', '3m'];
const SCALES = { priceScale: 5, qtyScale: 0 };

function frame(symbol: string, a: number, price: string, time: number): Buffer {
  return Buffer.from(JSON.stringify({ e: 'aggTrade', E: time, s: symbol, a, p: price, q: '10', f: a, l: a, T: time, m: false }));
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

for (const kind of BACKENDS) t.test(`a late trade re-prices a flat open kline: the store holds the new price, and a restart continues from it (${kind})`, async (t) => {
  const backend = await createBackend(kind, 'klagg_flat_reprice');
  t.teardown(() => backend.destroy());
  const handle = await backend.open();
  const store = new KlineStore(handle.db);
  const sink = { write: async (records: Parameters<KlineStore['upsert']>[0]) => void (await store.upsert(records)) };
  const stored = async (symbol: string, interval: IntervalName, openTime: number) =>
    (await store.range('binance', 'usdm', symbol, interval, { startTime: openTime, endTime: openTime, limit: 1 }))[0];
  const activate = async (system: KlaggSystem) => {
    for (const symbol of ['HERUSDT', 'CLOCKUSDT']) system.activate({ symbol, scales: SCALES, initialData: await store.latest('binance', 'usdm', symbol, INTERVALS) });
    await system.whenSubscribed(['HERUSDT', 'CLOCKUSDT']);
  };

  // One worker, its time from its trades: CLOCKUSDT's trade moves the time past HERUSDT's minutes.
  const first = startSystem({ sink, intervals: INTERVALS, workers: 1 });
  await activate(first);
  first.ingestFrame(frame('HERUSDT', 7, '0.11249', T0 + 100_000));
  first.ingestFrame(frame('CLOCKUSDT', 1, '1.00000', T0 + 181_500));
  await until('the flat open klines are stored', async () => (await stored('HERUSDT', '3m', T0 + 180_000))?.close === '0.11249');
  t.match(await stored('HERUSDT', '1m', T0 + 180_000), { close: '0.11249', tradeCount: 0, isFinal: false }, 'minute 3 is stored open and flat at the last price');

  // The last trade of minute 2, late: minute 2 and the first 3m period are revised, and the flat klines after them
  // now stand at its price.
  first.ingestFrame(frame('HERUSDT', 8, '0.11250', T0 + 170_000));
  await until('the revision is stored', async () => (await stored('HERUSDT', '3m', T0))?.revision === 1);
  t.equal(await first.stop('test'), 0);
  t.match(await stored('HERUSDT', '3m', T0), { close: '0.1125', tradeCount: 2, isFinal: true, revision: 1 }, 'the first 3m period, revised');
  for (const interval of INTERVALS) {
    t.match(await stored('HERUSDT', interval, T0 + 180_000), { open: '0.1125', high: '0.1125', low: '0.1125', close: '0.1125', tradeCount: 0, isFinal: false }, `the open flat ${interval} kline is stored at the late trade's price`);
  }

  // A restart installs the stored open klines and continues them: with no trade in them, they end flat at that price.
  const second = startSystem({ sink, intervals: INTERVALS, workers: 1 });
  await activate(second);
  second.ingestFrame(frame('CLOCKUSDT', 2, '1.00000', T0 + 361_500));
  await until('the period is final', async () => (await stored('HERUSDT', '3m', T0 + 180_000))?.isFinal === true);
  t.equal(await second.stop('test'), 0);
  for (const interval of INTERVALS) {
    t.match(await stored('HERUSDT', interval, T0 + 180_000), { close: '0.1125', tradeCount: 0, isFinal: true }, `after the restart the flat ${interval} kline ends final at the late trade's price`);
  }
  await handle.close();
});
