/**
 * A generated market with a past (`historyMs`, as `klagg demo --history` makes it): the past is served over REST from
 * the start, listed from its first trade, at the lower history rate; its ids run on into the live trades without a
 * break; and the REST klines are exactly the aggregation of the REST aggTrades — past and live — computed here
 * independently by the project's Replayer from those trades alone.
 */
import t from 'tap';
import { openTimeOf } from '../../../src/domain/interval.ts';
import { toBinanceRow, type Kline } from '../../../src/domain/kline.ts';
import { Replayer } from '../../../src/domain/replay.ts';
import { scalesFromSizes } from '../../../src/domain/kline-format.ts';
import { type Json } from '../../support/ws-client.ts';
import { getJson, startManualExchange } from './helpers.ts';

const START = Date.UTC(2024, 4, 1, 12, 0, 0);
const HOUR = 3_600_000;
const HISTORY_MS = 3 * HOUR;

t.test('the past of a generated market: served at once, contiguous with the live trades, its REST klines the aggregation of its trades', async (t) => {
  const source = { kind: 'generated', symbols: 3, rate: 40, seed: 7, historyMs: HISTORY_MS, historyRate: 4 } as const;
  const { fx, scheduler, A } = await startManualExchange(t, source, { autoPublish: true, startTime: START });
  // Two minutes of live trading after the past.
  scheduler.advance(2 * 60_000);
  fx.market.publishDue();

  const info = (await getJson(`${fx.restUrl}/fapi/v1/exchangeInfo`)).body as { symbols: { symbol: string; onboardDate: number; tickSize?: string; filters: Json[] }[] };
  const listed = info.symbols.find((s) => s.symbol === A)!;
  t.equal(listed.onboardDate, START - HISTORY_MS, 'listed when its history starts');

  // Every trade of A over REST, page by page from its first id.
  const trades: Json[] = [];
  for (let fromId = 0; ; ) {
    const page = await getJson(`${fx.restUrl}/fapi/v1/aggTrades?symbol=${A}&fromId=${fromId}&limit=1000`);
    t.equal(page.status, 200);
    if (page.body.length === 0) break;
    trades.push(...page.body);
    fromId = page.body.at(-1).a + 1;
  }
  const past = trades.filter((trade) => trade.T < START);
  const live = trades.filter((trade) => trade.T >= START);
  t.ok(past.length > 100 && live.length > 10, `trades before and after the start (${past.length} past, ${live.length} live)`);
  t.ok(past[0].T >= START - HISTORY_MS && past[0].T < START - HISTORY_MS + 60_000, 'the past begins at the history start');
  const pastPerMinute = past.length / (HISTORY_MS / 60_000);
  const livePerMinute = live.length / 2;
  t.ok(livePerMinute > 3 * pastPerMinute, `the past trades at the lower rate (${pastPerMinute.toFixed(1)} vs ${livePerMinute.toFixed(1)} a minute)`);
  const breaks = trades.slice(1).filter((trade, i) => trade.a !== trades[i]!.a + 1 || trade.f !== trades[i]!.l + 1 || trade.T < trades[i]!.T);
  t.same(breaks, [], 'aggregate ids +1, trade ids contiguous, times non-decreasing, across the start');

  // The same trades aggregated by the Replayer (as aggTrade stream frames), at the symbol's exchangeInfo scales.
  const filters = Object.fromEntries(listed.filters.map((f) => [f.filterType, f]));
  const scales = scalesFromSizes({ tickSize: filters['PRICE_FILTER'].tickSize, stepSize: filters['LOT_SIZE'].stepSize })!;
  for (const interval of ['1m', '1h'] as const) {
    const expected: Kline[] = [];
    const replayer = new Replayer({ intervals: [interval], graceMs: 0, scales: new Map([[A, scales]]) }, { onFinal: (kline) => expected.push(kline) });
    for (const trade of trades) {
      replayer.feed(Buffer.from(JSON.stringify({ e: 'aggTrade', E: trade.T, s: A, a: trade.a, p: trade.p, q: trade.q, f: trade.f, l: trade.l, T: trade.T, m: trade.m })));
    }
    replayer.end();
    // Up to the period of the last trade (still open on the exchange).
    const lastOpen = openTimeOf(interval, trades.at(-1).T);
    const wanted = expected.filter((kline) => kline.openTime < lastOpen).map(toBinanceRow);
    const rows: Json[] = [];
    for (let startTime = START - HISTORY_MS; ; ) {
      const page = await getJson(`${fx.restUrl}/fapi/v1/klines?symbol=${A}&interval=${interval}&startTime=${startTime}&endTime=${lastOpen - 1}&limit=1500`);
      t.equal(page.status, 200);
      if (page.body.length === 0) break;
      rows.push(...page.body);
      startTime = page.body.at(-1)[0] + 1;
    }
    t.ok(wanted.length >= (interval === '1m' ? 180 : 3), `${interval}: klines over the whole past (${wanted.length})`);
    t.same(rows, wanted, `${interval}: the REST klines are the aggregation of the REST trades, every field`);
  }
});
