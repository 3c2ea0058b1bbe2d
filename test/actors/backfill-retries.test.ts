/**
 * A start's backfill whose symbols failed (the store or the exchange out for a while) runs again for those symbols,
 * after growing waits, until none fails — not only at the next start.
 */
import t from 'tap';
import { backfillRetryingFailures } from '../../src/actors/backfill-retries.ts';
import type { BackfillSummary } from '../../src/actors/kline-backfiller.ts';
import { createRootLogger } from '../../src/infra/logger.ts';

const logger = createRootLogger({ level: 'silent' });
type Symbols = readonly { readonly symbol: string; readonly listedAt: number }[];

function summaryOf(symbols: Symbols, failing: ReadonlySet<string>): BackfillSummary {
  const failures = symbols.filter((s) => failing.has(s.symbol)).map((s) => ({ symbol: s.symbol, error: new Error('Connection terminated unexpectedly') }));
  return { symbolsTotal: symbols.length, symbolsSucceeded: symbols.length - failures.length, symbolsFailed: failures.length, symbolsSkipped: 0, rangesDone: 0, klinesFetched: 0, klinesWritten: 0, failures, durationMs: 0 };
}

const SYMBOLS = ['AUSDT', 'BUSDT', 'CUSDT', 'DUSDT'].map((symbol) => ({ symbol, listedAt: 0 }));

t.test('the failed symbols are run again, alone, after each wait, until none fails', async (t) => {
  const rounds: { symbols: string[]; now: number }[] = [];
  const waits: number[] = [];
  let outageRounds = 2; // the store is out for the first two rounds: B and D fail, then C too
  let clock = 1_000;
  const summary = await backfillRetryingFailures(
    async (symbols, now) => {
      rounds.push({ symbols: symbols.map((s) => s.symbol), now });
      const failing = outageRounds-- > 0 ? new Set(rounds.length === 1 ? ['BUSDT', 'DUSDT'] : ['DUSDT']) : new Set<string>();
      return summaryOf(symbols, failing);
    },
    SYMBOLS,
    500,
    { delaysMs: [10, 20, 40], now: () => clock, logger, sleep: async (ms) => void (waits.push(ms), (clock += ms)) },
  );
  t.same(rounds, [
    { symbols: ['AUSDT', 'BUSDT', 'CUSDT', 'DUSDT'], now: 500 },
    { symbols: ['BUSDT', 'DUSDT'], now: 1_010 },
    { symbols: ['DUSDT'], now: 1_030 },
  ], 'each round only the symbols that failed, planned up to the time it starts');
  t.same(waits, [10, 20], 'growing waits, none after the last success');
  t.equal(summary.symbolsFailed, 0, 'nothing left failing');
});

t.test('the waits are spent: the last round says what still fails', async (t) => {
  const summary = await backfillRetryingFailures(async (symbols) => summaryOf(symbols, new Set(['CUSDT'])), SYMBOLS, 0, { delaysMs: [1, 1], now: () => 0, logger, sleep: async () => {} });
  t.same(summary.failures.map((f) => f.symbol), ['CUSDT']);
});

t.test('no further round once the service stops', async (t) => {
  let rounds = 0;
  let stopped = false;
  await backfillRetryingFailures(
    async (symbols) => {
      rounds++;
      return summaryOf(symbols, new Set(['AUSDT']));
    },
    SYMBOLS,
    0,
    { delaysMs: [1, 1, 1], now: () => 0, stopped: () => stopped, logger, sleep: async () => void (stopped = true) },
  );
  t.equal(rounds, 1, 'the stop during the wait ends it');
});
