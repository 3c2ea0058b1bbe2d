/**
 * The chaos run: the fake exchange and the full service over loopback sockets with every fault kind injected
 * throughout. Nothing the exchange can still provide may be lost.
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runChaos } from '../../src/cli/chaos.ts';
import { auditKlines } from '../../src/actors/kline-auditor.ts';
import { BinanceRestClient } from '../../src/infra/binance/rest-client.ts';
import { KlineStore } from '../../src/infra/db/kline-store.ts';
import { openDatabase } from '../../src/infra/db/open-database.ts';
import { FakeExchange } from '../../src/infra/fake-exchange/fake-exchange.ts';
import { toCombinedFrame } from '../../src/domain/agg-trade.ts';
import { generateTrades } from '../../src/domain/synthetic-market.ts';
import { createRootLogger } from '../../src/infra/logger.ts';
import { XRPETH_TRADES } from '../support/fixtures.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { allStoredKlines, assertMatchesExchange, storedKlines } from '../support/stored-klines.ts';

const logger = createRootLogger({ level: 'silent' });

t.test('chaos on the real data leaves exactly the exchange’s 3,560 1m klines', async (t) => {
  const database = await createTestDatabase('klagg_chaos');
  t.teardown(() => database.drop());
  const summary = await runChaos({
    source: { kind: 'recording', path: XRPETH_TRADES, speed: 40_000 },
    intervals: ['1m'],
    databaseUrl: database.url,
    faults: true,
    faultEveryMs: 200,
    logger,
  });
  t.equal(summary.exitCode, 0);
  t.equal(summary.tradesServed, 12_477);
  t.equal(summary.aggregated, 12_477, 'every trade aggregated exactly once');
  for (const [kind, count] of Object.entries(summary.faultsInjected)) t.ok(count > 0, `fault ${kind} injected (${count}×)`);
  t.ok(summary.gapsRepaired > 0 && summary.tradesRepaired > 0, `gaps repaired over REST (${summary.gapsRepaired} gaps, ${summary.tradesRepaired} trades)`);
  t.ok(summary.duplicatesDropped > 0, `duplicates dropped (${summary.duplicatesDropped})`);
  t.ok(summary.reconnects > 0, `connections replaced (${summary.reconnects})`);
  t.ok(summary.rest.http429 > 0 && summary.rest.http418 > 0, 'injected 429 and 418 answers were honoured');
  assertMatchesExchange(t, await storedKlines({ url: database.url }, 'XRPETH', '1m'));

  // And the audit, comparing the store with the exchange's own klines, finds nothing after the chaos.
  const exchange = await FakeExchange.start({ source: { kind: 'recording', path: XRPETH_TRADES, speed: 'max' }, autoPublish: false });
  const handle = await openDatabase({ url: database.url });
  t.teardown(async () => {
    await exchange.close();
    await handle.close();
  });
  exchange.market.publishAll();
  const differences: unknown[] = [];
  const audit = await auditKlines({
    rest: new BinanceRestClient({ baseUrl: exchange.restUrl }),
    store: new KlineStore(handle.db),
    venue: 'binance',
    market: 'usdm',
    symbols: ['XRPETH'],
    intervals: ['1m'],
    since: Date.UTC(2019, 9, 11),
    until: Date.UTC(2019, 9, 14),
    onDifference: (d) => void differences.push(d),
  });
  t.ok(audit.compared >= 3_559, `audit compared ${audit.compared} klines`);
  t.same(differences, [], 'klagg audit reports zero differences after the chaos run');
  t.ok(audit.ok);
});

t.test('chaos on a generated market stores exactly what a fault-free run stores', async (t) => {
  const faulty = await createTestDatabase('klagg_chaos_faulty');
  const clean = await createTestDatabase('klagg_chaos_clean');
  t.teardown(async () => {
    await faulty.drop();
    await clean.drop();
  });
  // A generated market written as a recording, so 20 minutes of market time pass in seconds.
  const path = join(mkdtempSync(join(tmpdir(), 'klagg-chaos-market-')), 'market.jsonl');
  const lines = [...generateTrades({ seed: 11, symbols: 24, startTime: Date.UTC(2026, 10, 2), trades: 24_000, meanRatePerSecond: 20 })].map((trade) => toCombinedFrame(trade));
  writeFileSync(path, `${lines.join('\n')}\n`);
  const source = { kind: 'recording' as const, path, speed: 200 };
  const common = { source, intervals: ['1m', '5m', '1h'] as const, logger, faultEveryMs: 150 };
  const withFaults = await runChaos({ ...common, intervals: [...common.intervals], databaseUrl: faulty.url, faults: true });
  const reference = await runChaos({ ...common, intervals: [...common.intervals], databaseUrl: clean.url, faults: false });
  t.equal(withFaults.tradesServed, 24_000);
  t.equal(withFaults.aggregated, 24_000, 'every trade aggregated despite the faults');
  t.equal(reference.aggregated, 24_000);
  t.ok(withFaults.gapsRepaired > 0, `gaps repaired (${withFaults.gapsRepaired})`);
  const a = await allStoredKlines(faulty.url);
  const b = await allStoredKlines(clean.url);
  t.ok(a.length > 600, `${a.length} klines stored`);
  t.same(a, b, 'identical klines, row for row, to the fault-free run');
});
