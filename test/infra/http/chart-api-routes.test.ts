/**
 * The chart page's own routes over a real socket, a real KlaggSystem and PostgreSQL: `/api/intervals` lists the served
 * intervals; `/api/klines` selects exactly what `/fapi/v1/klines` selects (same rows, same values, same paging by
 * endTime, same errors) and adds each kline's final flag and revision — while `/fapi/v1/klines` keeps Binance's 12
 * fields for a revised kline too.
 */
import t from 'tap';
import type { IntervalName } from '../../../src/domain/interval.ts';
import type { BinanceKlineRow, Kline } from '../../../src/domain/kline.ts';
import { openDatabase } from '../../../src/infra/db/open-database.ts';
import type { ChartKline } from '../../../src/infra/http/chart-api-routes.ts';
import { MemorySink } from '../../support/memory-sink.ts';
import { createTestDatabase } from '../../support/postgres.ts';
import { getJson, newSystem, serve } from './helpers.ts';

const INTERVALS: IntervalName[] = ['1m', '5m', '1h'];
const MINUTE = 60_000;
const FIRST = Date.UTC(2019, 9, 1);

function kline(i: number, isFinal: boolean): Kline {
  const price = (0.0012 + i * 0.00000001).toFixed(8);
  return {
    symbol: 'XRPETH', interval: '1m', openTime: FIRST + i * MINUTE, closeTime: FIRST + (i + 1) * MINUTE - 1,
    open: price, high: price, low: price, close: price, volume: `${i + 1}.00000000`, quoteVolume: '0.00120000', tradeCount: i + 1,
    takerBuyVolume: '1.00000000', takerBuyQuoteVolume: '0.00120000', firstTradeId: i, lastTradeId: i, lastAggId: i, isFinal,
  };
}

t.test('/api/intervals and /api/klines', async (t) => {
  const database = await createTestDatabase('klagg_http_chart_api');
  t.teardown(() => database.drop());
  const handle = await openDatabase({ url: database.url });
  t.teardown(() => handle.close());
  const system = newSystem(new MemorySink(), INTERVALS);
  t.teardown(() => system.stop());
  const served = await serve(system, handle, INTERVALS);
  t.teardown(() => served.close());
  const url = served.http.url;

  t.same((await getJson(`${url}/api/intervals`)).body, { intervals: INTERVALS }, 'the served intervals, in order');

  // 30 final minutes, the 10th revised twice, and a last one still open.
  const rows = Array.from({ length: 31 }, (_, i) => kline(i, i < 30));
  await served.store.upsert(rows.map((k, i) => ({ venue: 'binance', market: 'usdm', kline: i === 10 ? { ...k, volume: '99.00000000' } : k, revision: i === 10 ? 2 : 0, source: i === 10 ? 'repair' as const : 'live' as const })));

  for (const query of ['limit=500', 'limit=7', 'endTime=' + String(FIRST + 20 * MINUTE - 1) + '&limit=5', 'startTime=' + String(FIRST + 5 * MINUTE) + '&limit=3']) {
    const binance = (await getJson(`${url}/fapi/v1/klines?symbol=XRPETH&interval=1m&${query}`)).body as BinanceKlineRow[];
    const ours = (await getJson(`${url}/api/klines?symbol=XRPETH&interval=1m&${query}`)).body as { symbol: string; interval: string; klines: ChartKline[] };
    t.equal(ours.symbol, 'XRPETH');
    t.equal(ours.interval, '1m');
    t.same(
      ours.klines.map((k) => [k.openTime, k.open, k.high, k.low, k.close, k.volume, k.closeTime, k.quoteVolume, k.tradeCount, k.takerBuyVolume, k.takerBuyQuoteVolume, '0']),
      binance,
      `${query}: the same klines with the same values as /fapi/v1/klines`,
    );
  }

  const page = ((await getJson(`${url}/api/klines?symbol=XRPETH&interval=1m&endTime=${FIRST + 11 * MINUTE - 1}&limit=2`)).body as { klines: ChartKline[] }).klines;
  t.same(page.map((k) => [k.openTime, k.final, k.revision, k.volume]), [[FIRST + 9 * MINUTE, true, 0, '10.00000000'], [FIRST + 10 * MINUTE, true, 2, '99.00000000']], 'final flags and the stored revision');
  const last = ((await getJson(`${url}/api/klines?symbol=XRPETH&interval=1m&limit=1`)).body as { klines: ChartKline[] }).klines;
  t.same(last.map((k) => [k.openTime, k.final, k.revision]), [[FIRST + 30 * MINUTE, false, 0]], 'an open kline is not final');

  const revisedRow = (await getJson(`${url}/fapi/v1/klines?symbol=XRPETH&interval=1m&startTime=${FIRST + 10 * MINUTE}&limit=1`)).body as unknown[][];
  t.equal(revisedRow[0]!.length, 12, 'the Binance route keeps its 12 fields for a revised kline');
  t.equal(revisedRow[0]![5], '99.00000000', 'with the corrected values');

  t.same((await getJson(`${url}/api/klines?symbol=NOPE&interval=1m`)).body, (await getJson(`${url}/fapi/v1/klines?symbol=NOPE&interval=1m`)).body, 'an unknown symbol: the same refusal');
  const unserved = await getJson(`${url}/api/klines?symbol=XRPETH&interval=3m`);
  t.equal(unserved.status, 400, 'an interval klagg does not serve is refused');
  t.equal((await getJson(`${url}/api/klines?symbol=XRPETH`)).status, 400, 'interval is mandatory');
});
