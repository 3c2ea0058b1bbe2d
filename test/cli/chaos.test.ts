/**
 * The chaos run: the fake exchange and the full service over loopback sockets with every fault kind injected
 * throughout. Nothing the exchange can still provide may be lost.
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runChaos } from '../../src/app/chaos.ts';
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
import { assertMatchesExchange, storedKlineValues, storedKlines } from '../support/stored-klines.ts';

const logger = createRootLogger({ level: 'silent' });

t.test('chaos on the real data, the shared clock finalizing, faults on ids and on time: exactly the exchange’s 3,560 1m klines', async (t) => {
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
  t.equal(summary.lateDropped, 0, 'no trade dropped as late');
  t.ok(summary.trailingGapsFound >= 1, `the withheld last trades were found by the trailing-gap watch (${summary.trailingGapsFound})`);
  t.comment(`late trades amended ${summary.lateAmended}, beyond memory ${summary.lateBeyondMemory}, revisions ${summary.revisions}`);
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

t.test('chaos on a generated market, the shared clock finalizing, faults on ids and on time: every kline equals the fault-free run’s', async (t) => {
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
  t.equal(withFaults.lateDropped, 0, 'no trade dropped as late');
  t.equal(reference.lateDropped, 0);
  t.ok(withFaults.trailingGapsFound >= 1, `the withheld last trades were found (${withFaults.trailingGapsFound})`);
  t.comment(`faulty run: late trades amended ${withFaults.lateAmended}, beyond memory ${withFaults.lateBeyondMemory}, revisions ${withFaults.revisions}`);
  const a = await storedKlineValues(faulty.url);
  const b = await storedKlineValues(clean.url);
  t.ok(a.length > 600, `${a.length} klines stored`);
  const differ = a.filter((row, i) => row !== b[i]).length + Math.abs(a.length - b.length);
  t.equal(differ, 0, '0 klines differ from the fault-free run');
  t.same(a, b, 'identical klines, field for field, to the fault-free run');
});
