import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { runChaos } from '../src/app/chaos.ts';
import { toCombinedFrame } from '../src/domain/agg-trade.ts';
import { generateTrades } from '../src/domain/synthetic-market.ts';
import { createRootLogger } from '../src/infra/logger.ts';
import { createTestDatabase } from '../test/support/postgres.ts';
import { Replayer } from '../src/domain/replay.ts';
import { canonicalDecimal } from '../test/support/fixtures.ts';

const o = { symbols: 200, trades: 1_000_000, marketSeconds: 1800, wallSeconds: 25 };
const path = join(mkdtempSync(join(tmpdir(), 'klagg-chaos-diff-')), 'market.jsonl');
const lines = [...generateTrades({ seed: 99, symbols: o.symbols, startTime: Date.UTC(2026, 10, 2), trades: o.trades, meanRatePerSecond: o.trades / o.marketSeconds })].map((t) => toCombinedFrame(t));
writeFileSync(path, `${lines.join('\n')}\n`);
// The oracle: the same trades through the engine alone, on their own time.
const oracle = new Map<string, any>();
const replayer = new Replayer({ intervals: ['1m', '5m', '1h'], graceMs: 0, defaultScales: { priceScale: 8, qtyScale: 8 } }, {
  onFinal: (k: any) => oracle.set(`${k.symbol}|${k.interval}|${k.openTime}`, k),
  onUpdate: () => {},
} as any);
for (const line of lines) replayer.feed(Buffer.from(line));
replayer.end();
console.log('oracle klines', oracle.size);
const source = { kind: 'recording' as const, path, speed: o.marketSeconds / o.wallSeconds };
const logger = createRootLogger({ level: 'silent' });
const faulty = await createTestDatabase('klagg_chaos_diff_faulty');
const clean = await createTestDatabase('klagg_chaos_diff_clean');
const f = await runChaos({ source, intervals: ['1m', '5m', '1h'], databaseUrl: faulty.url, faults: true, faultEveryMs: 500, logger });
console.log('faults', JSON.stringify(f.faultsInjected), 'aggregated', f.aggregated);
await runChaos({ source, intervals: ['1m', '5m', '1h'], databaseUrl: clean.url, faults: false, logger });
const q = 'select symbol, interval, open_time, open::text, high::text, low::text, close::text, volume::text, quote_volume::text, trade_count, taker_buy_volume::text, is_final, revision, source, last_agg_id from klines order by symbol, interval, open_time';
const a = new pg.Client({ connectionString: faulty.url }); await a.connect();
const b = new pg.Client({ connectionString: clean.url }); await b.connect();
const ra = (await a.query(q)).rows; const rb = (await b.query(q)).rows;
const key = (r: any) => `${r.symbol}|${r.interval}|${r.open_time}`;
const mb = new Map(rb.map((r: any) => [key(r), r]));
let n = 0;
const fields = ['open', 'high', 'low', 'close', 'volume', 'quote_volume', 'trade_count', 'taker_buy_volume', 'is_final'];
for (const r of ra) {
  const c: any = mb.get(key(r));
  if (!c) { if (n++ < 10) console.log('only faulty', key(r)); continue; }
  const diff = fields.filter((k) => String(r[k]) !== String(c[k]));
  if (diff.length) {
    const o = oracle.get(`${r.symbol}|${r.interval}|${Number(r.open_time)}`);
    const ok = (x: any) => o !== undefined && canonicalDecimal(String(x.close)) === canonicalDecimal(o.close) && canonicalDecimal(String(x.volume)) === canonicalDecimal(o.volume) && Number(x.trade_count) === o.tradeCount;
    const verdict = o === undefined ? 'no oracle' : `faulty ${ok(r) ? 'right' : 'WRONG'}, clean ${ok(c) ? 'right' : 'WRONG'}`;
    if (n++ < 40) console.log(key(r), diff.map((k) => `${k}: ${r[k]} vs ${c[k]}`).join('; '), `rev ${r.revision}/${c.revision} src ${r.source}/${c.source} last ${r.last_agg_id}/${c.last_agg_id}`, verdict);
  }
}
console.log('rows', ra.length, rb.length, 'differ', n, 'faulty db', faulty.url, 'clean db', clean.url);
await a.end(); await b.end();
process.exit(0);
