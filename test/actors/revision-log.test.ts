import t from 'tap';
import pino from 'pino';
import { countAndLogRevisions } from '../../src/actors/revision-log.ts';
import type { Kline, RevisionCause } from '../../src/domain/kline.ts';

const T0 = Date.UTC(2026, 11, 7, 18, 0, 0);

function kline(i: number, revision?: number, revisionCause?: RevisionCause): Kline {
  return {
    symbol: `S${i}USDT`, interval: '1m', openTime: T0 + i * 60_000, closeTime: T0 + i * 60_000 + 59_999, open: '1', high: '1', low: '1', close: '1',
    volume: '1', quoteVolume: '1', tradeCount: 1, takerBuyVolume: '0', takerBuyQuoteVolume: '0', firstTradeId: i, lastTradeId: i, lastAggId: i, isFinal: true,
    ...(revision === undefined ? {} : { revision }), ...(revisionCause === undefined ? {} : { revisionCause }),
  };
}

function capture(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}

t.test('a batch of many revisions: every one counted by cause, one log line naming the first five', async (t) => {
  const { log, lines } = capture();
  const counts: Record<RevisionCause, number> = { late: 1, repair: 0, restart: 0, rebuild: 0 };
  const finals = [kline(0), ...Array.from({ length: 1000 }, (_, i) => kline(i + 1, 1, 'late')), kline(2000, 2, 'repair'), kline(2001, 1)];
  countAndLogRevisions(finals, counts, log);
  t.same(counts, { late: 1002, repair: 1, restart: 0, rebuild: 0 }, 'added to the counts (a revision without a cause is late)');
  t.equal(lines.length, 1, 'one line for the batch');
  t.match(lines[0], { msg: 'klines revised', revisions: 1002, byCause: { late: 1001, repair: 1 } });
  const first = lines[0]!['first'] as unknown[];
  t.equal(first.length, 5, 'names the first five');
  t.match(first[0], { symbol: 'S1USDT', interval: '1m', openTime: T0 + 60_000, revision: 1, cause: 'late', tradeCount: 1 });
});

t.test('a batch without revisions logs nothing', async (t) => {
  const { log, lines } = capture();
  const counts: Record<RevisionCause, number> = { late: 0, repair: 0, restart: 0, rebuild: 0 };
  countAndLogRevisions([kline(0), kline(1)], counts, log);
  t.same(counts, { late: 0, repair: 0, restart: 0, rebuild: 0 });
  t.equal(lines.length, 0);
});
