/**
 * The KlineRebuilder's calls in sequence: the service calls `rebuildClosed` on a timer and once more in `stop`, then
 * drains the system and closes the database. A rebuild still fetching when `stop` calls must have been written by the
 * time `stop`'s call resolves, or its klines are lost.
 */
import t from 'tap';
import { KlineRebuilder } from '../../src/actors/kline-rebuilder.ts';
import type { RestKline } from '../../src/domain/exchange-api.ts';
import type { KlineRecord } from '../../src/domain/kline-sink.ts';
import { createRootLogger } from '../../src/infra/logger.ts';

const MINUTE = 60_000;
const M = (i: number): number => Date.UTC(2025, 0, 1, 0, i);

function exchangeKline(openTime: number): RestKline {
  return { openTime, closeTime: openTime + MINUTE - 1, open: '1.5', high: '1.6', low: '1.4', close: '1.55', volume: '10', quoteVolume: '15.5', tradeCount: 4, takerBuyVolume: '5', takerBuyQuoteVolume: '7.75' };
}

t.test('a call made while another is fetching resolves only after that one has written its klines', async (t) => {
  const written: KlineRecord[] = [];
  const fetches: { symbol: string; release: () => void }[] = [];
  const rebuilder = new KlineRebuilder({
    venue: 'binance',
    market: 'usdm',
    intervals: ['1m'],
    fetchKlines: (symbol, _interval, start) =>
      new Promise((resolve) => fetches.push({ symbol, release: () => resolve([exchangeKline(start)]) })),
    write: (records) => void written.push(...records),
    logger: createRootLogger({ level: 'silent' }),
  });
  rebuilder.addRange('AUSDT', '1m', M(1), M(1));
  const timer = rebuilder.rebuildClosed(M(5)); // the timer's call: takes AUSDT and waits on the exchange
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(fetches.length, 1, 'the first call is fetching');
  rebuilder.addRange('BUSDT', '1m', M(2), M(2));

  let stopDone = false;
  const stop = rebuilder.rebuildClosed(Number.POSITIVE_INFINITY).then((n) => {
    stopDone = true;
    return n;
  });
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(stopDone, false, 'the second call waits for the first');
  t.equal(fetches.length, 1, 'and has not started fetching meanwhile');

  fetches[0]!.release();
  t.equal(await timer, 1, 'the first call wrote its kline');
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(fetches.length, 2, 'then the second call fetched what was left');
  fetches[1]!.release();
  t.equal(await stop, 1, 'and wrote it');
  t.same(written.map((r) => `${r.kline.symbol} ${r.kline.openTime} r${r.revision} ${r.source}`), [`AUSDT ${M(1)} r1 repair`, `BUSDT ${M(2)} r1 repair`]);
  t.equal(rebuilder.pending, 0, 'nothing left pending');
});

t.test('a failed call does not stop the next one', async (t) => {
  let fail = true;
  const written: KlineRecord[] = [];
  const rebuilder = new KlineRebuilder({
    venue: 'binance',
    market: 'usdm',
    intervals: ['1m'],
    fetchKlines: async (_symbol, _interval, start) => {
      if (fail) throw new Error('exchange down');
      return [exchangeKline(start)];
    },
    write: (records) => void written.push(...records),
    logger: createRootLogger({ level: 'silent' }),
  });
  rebuilder.addRange('AUSDT', '1m', M(1), M(1));
  t.equal(await rebuilder.rebuildClosed(M(5)), 0, 'nothing written while the exchange fails');
  t.equal(rebuilder.pending, 1, 'the range stays pending');
  fail = false;
  t.equal(await rebuilder.rebuildClosed(M(5)), 1, 'the next call rebuilds it');
  t.equal(written.length, 1);
});
