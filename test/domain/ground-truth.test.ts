/**
 * The product's promise, checked against the exchange itself: replaying Binance's real XRPETH trades reproduces every
 * 1m kline Binance published for them, the empty ones included.
 */
import t from 'tap';
import { Replayer, ScaleInference } from '../../src/domain/replay.ts';
import type { Kline } from '../../src/domain/kline.ts';
import { canonicalDecimal, readPublishedKlines, readTradeFrames } from '../support/fixtures.ts';

const frames = readTradeFrames();
const published = readPublishedKlines();

function replay1m(): Kline[] {
  const inference = new ScaleInference();
  for (const frame of frames) inference.feed(frame);
  const klines: Kline[] = [];
  const replayer = new Replayer({ intervals: ['1m'], graceMs: 1000, scales: inference.scales }, { onFinal: (k) => klines.push(k) });
  for (const frame of frames) replayer.feed(frame);
  const summary = replayer.end();
  t.equal(summary.engine.applied, 12_477, 'every trade of the data set was applied');
  t.equal(summary.engine.gaps + summary.engine.duplicates + summary.engine.late, 0, 'no gap, duplicate or late trade');
  return klines;
}

t.test('the data set is what its README says', async (t) => {
  t.equal(frames.length, 12_477);
  t.equal(published.length, 3_560);
  t.equal(published.filter((k) => canonicalDecimal(k.volume) === '0').length, 1_091, '1,091 published klines are empty');
});

t.test('replay reproduces all 3,560 published 1m klines exactly', async (t) => {
  const klines = replay1m();
  t.equal(klines.length, published.length, 'one kline per published kline, no more, no fewer');
  let mismatches = 0;
  let empty = 0;
  for (let i = 0; i < published.length; i++) {
    const want = published[i]!;
    const got = klines[i];
    const same =
      got !== undefined &&
      got.openTime === want.openTime &&
      got.closeTime === want.openTime + 59_999 &&
      got.isFinal &&
      canonicalDecimal(got.open) === canonicalDecimal(want.open) &&
      canonicalDecimal(got.high) === canonicalDecimal(want.high) &&
      canonicalDecimal(got.low) === canonicalDecimal(want.low) &&
      canonicalDecimal(got.close) === canonicalDecimal(want.close) &&
      canonicalDecimal(got.volume) === canonicalDecimal(want.volume);
    if (!same) {
      if (mismatches < 5) t.fail(`kline ${i} differs`, { got, want });
      mismatches++;
    }
    if (got !== undefined && got.tradeCount === 0) {
      empty++;
      if (got.volume !== '0.00000000' || got.quoteVolume !== '0.0000000000000000' || got.firstTradeId !== -1) t.fail(`empty kline ${i} is not flat`, { got });
    }
  }
  t.equal(mismatches, 0, 'no kline differs from the exchange in any field');
  t.equal(empty, 1_091, 'the 1,091 empty periods are reproduced as empty klines');
  t.equal(klines[0]!.open, '0.00141342', 'prices print with the scale of the data (8 decimals)');
});

t.test('trade counts and taker volumes sum to the trades themselves', async (t) => {
  const klines = replay1m();
  let rawTrades = 0;
  let takerBuyQty = 0n;
  for (const frame of frames) {
    const trade = JSON.parse(frame.toString()) as { f: number; l: number; q: string; m: boolean };
    rawTrades += trade.l - trade.f + 1;
    if (!trade.m) takerBuyQty += BigInt(trade.q.replace('.', ''));
  }
  t.equal(
    klines.reduce((sum, k) => sum + k.tradeCount, 0),
    rawTrades,
    'Σ trade counts = Σ (l − f + 1) over all trades',
  );
  t.equal(
    klines.reduce((sum, k) => sum + BigInt(k.takerBuyVolume.replace('.', '')), 0n),
    takerBuyQty,
    'Σ taker-buy volume = Σ q of trades whose buyer was the taker (m = false)',
  );
});
