/**
 * The soak's verdicts on what the service stored: its klines against a fault-free replay of the exact trades the
 * exchange emitted (the oracle), the trades lost, and the stream clients' last events against the store.
 *
 * The oracle: `replaySystem` of the recording (every published trade, in publishing order) into a database of its
 * own, with the service's intervals and grace. It finalizes every begun kline at the recording's last trade (time L).
 *
 * Compared, kline by kline (symbol, interval, open time), field for field as canonical decimals:
 * - every kline either side opening at or before L — the service's clock runs on after the exchange stops, so it has
 *   flat klines of later periods that the oracle cannot have; those are not compared (nor its flat klines opening
 *   in the last grace before L, which the oracle's clock, stopped at L, never reached: see flatAfterOracle);
 * - except, for a delisted symbol, klines opening at or after its delisting: the exchange publishes nothing for it
 *   from then on (Binance has no klines there), and klagg's flat klines there are nobody's truth;
 * - a kline that closed before L must be final in the service too; one still open at L (its period outlasts the run,
 *   e.g. the hour and the day) is compared by values only: the service stops with it open, the oracle finalizes it.
 * A kline on one side only is a difference.
 *
 * Lost trades: per symbol and 1m period, the raw trades the exchange emitted less the service's stored 1m `n` (Binance
 * counts raw trades), summed where positive — a duplicate counted twice cannot hide a lost trade elsewhere.
 */
import pg from 'pg';
import { replaySystem } from '../../../src/app/system-replay.ts';
import type { IntervalName } from '../../../src/domain/interval.ts';
import { createRootLogger } from '../../../src/infra/logger.ts';
import { canonicalDecimal } from '../fixtures.ts';
import type { KlineEventBody } from './stream-clients.ts';

interface Row {
  readonly key: string;
  readonly symbol: string;
  readonly openTime: number;
  readonly closeTime: number;
  /** o h l c v q V Q n, canonical. */
  readonly values: string;
  readonly isFinal: boolean;
  readonly trades: number;
}

const COLUMNS = `symbol, interval, open_time::text as open_time, close_time::text as close_time, open::text, high::text, low::text, close::text,
  volume::text, quote_volume::text, taker_buy_volume::text, taker_buy_quote_volume::text, trade_count::text, is_final`;

async function readRows(url: string): Promise<Map<string, Row>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<Record<string, string | boolean>>(`select ${COLUMNS} from klines where venue = 'binance' and market = 'usdm'`);
    const rows = new Map<string, Row>();
    for (const r of result.rows) {
      const key = `${String(r['symbol'])} ${String(r['interval'])} ${String(r['open_time'])}`;
      const decimals = ['open', 'high', 'low', 'close', 'volume', 'quote_volume', 'taker_buy_volume', 'taker_buy_quote_volume'].map((c) => canonicalDecimal(String(r[c])));
      rows.set(key, { key, symbol: String(r['symbol']), openTime: Number(r['open_time']), closeTime: Number(r['close_time']), values: [...decimals, String(r['trade_count'])].join(' '), isFinal: r['is_final'] === true, trades: Number(r['trade_count']) });
    }
    return rows;
  } finally {
    await client.end();
  }
}

export interface OracleVerdict {
  /** Klines compared. */
  readonly compared: number;
  readonly differ: number;
  /** The first few differences, for the report. */
  readonly examples: readonly string[];
  readonly oracleSeconds: number;
}

/** Replays the recording into `oracleUrl`, then compares the service's store (`serviceUrl`) with it. */
export async function compareWithOracle(options: {
  readonly recording: string;
  readonly intervals: readonly IntervalName[];
  readonly graceMs: number;
  readonly serviceUrl: string;
  readonly oracleUrl: string;
  /** The recording's last trade time. */
  readonly lastTradeTime: number;
  /** Delisted symbols and when they stopped trading. */
  readonly delistedAt: ReadonlyMap<string, number>;
}): Promise<OracleVerdict> {
  const started = performance.now();
  const summary = await replaySystem({ input: options.recording, intervals: options.intervals, graceMs: options.graceMs, databaseUrl: options.oracleUrl, logger: createRootLogger({ level: 'warn' }) });
  if (summary.exitCode !== 0) throw new Error(`the oracle replay failed (exit code ${summary.exitCode})`);
  const oracleSeconds = (performance.now() - started) / 1000;
  const [service, oracle] = await Promise.all([readRows(options.serviceUrl), readRows(options.oracleUrl)]);
  const inRange = (row: Row): boolean => row.openTime <= options.lastTradeTime && row.openTime < (options.delistedAt.get(row.symbol) ?? Number.POSITIVE_INFINITY);
  // The oracle's clock stops at L, so it opened a period without trades (a flat kline) only if L − grace reached it;
  // the service's went on. A flat service kline opening after that is no difference; one with trades is.
  const flatAfterOracle = (row: Row): boolean => row.openTime > options.lastTradeTime - options.graceMs && row.trades === 0 && !oracle.has(row.key);
  const keys = new Set([...[...service.values()].filter((r) => inRange(r) && !flatAfterOracle(r)).map((r) => r.key), ...[...oracle.values()].filter(inRange).map((r) => r.key)]);
  let differ = 0;
  const examples: string[] = [];
  for (const key of [...keys].sort()) {
    const got = service.get(key);
    const want = oracle.get(key);
    const closed = want !== undefined && want.closeTime < options.lastTradeTime;
    const same = got !== undefined && want !== undefined && got.values === want.values && (!closed || got.isFinal);
    if (same) continue;
    differ++;
    if (examples.length < 5) examples.push(`${key}: service ${got === undefined ? '(none)' : `${got.values} final=${got.isFinal}`}; oracle ${want === undefined ? '(none)' : `${want.values} final=${want.isFinal}`}`);
  }
  return { compared: keys.size, differ, examples, oracleSeconds };
}

/** Raw trades emitted and not counted in the service's stored 1m klines (see the file comment). */
export async function lostTrades(serviceUrl: string, rawByMinute: ReadonlyMap<string, ReadonlyMap<number, number>>): Promise<number> {
  const client = new pg.Client({ connectionString: serviceUrl });
  await client.connect();
  try {
    const result = await client.query<{ symbol: string; open_time: string; n: string }>(
      `select symbol, open_time::text as open_time, trade_count::text as n from klines where venue = 'binance' and market = 'usdm' and interval = '1m'`,
    );
    const stored = new Map(result.rows.map((r) => [`${r.symbol} ${r.open_time}`, Number(r.n)]));
    let lost = 0;
    for (const [symbol, minutes] of rawByMinute) {
      for (const [minute, raw] of minutes) lost += Math.max(0, raw - (stored.get(`${symbol} ${minute}`) ?? 0));
    }
    return lost;
  } finally {
    await client.end();
  }
}

/**
 * Clients stale: every client stream's last event against the store's row of that kline (same open time), values and
 * final flag exactly. A stream that never got an event is stale when the store has a kline of it (else the symbol has
 * not traded yet, and both agree there is nothing to show).
 */
export async function staleClients(serviceUrl: string, events: readonly { stream: string; kline: KlineEventBody | undefined }[]): Promise<{ stale: number; streams: number; examples: string[] }> {
  const rows = await readRows(serviceUrl);
  const stored = new Set([...rows.keys()].map((key) => key.slice(0, key.lastIndexOf(' '))));
  let stale = 0;
  const examples: string[] = [];
  for (const { stream, kline } of events) {
    // No event and no kline stored: the symbol has not traded yet, nothing to show (agreed).
    const [symbol, interval] = [stream.slice(0, stream.indexOf('@')).toUpperCase(), stream.slice(stream.indexOf('_') + 1)];
    if (kline === undefined && !stored.has(`${symbol} ${interval}`)) continue;
    const row = kline === undefined ? undefined : rows.get(`${kline.s} ${kline.i} ${kline.t}`);
    const values = kline === undefined ? undefined : [kline.o, kline.h, kline.l, kline.c, kline.v, kline.q, kline.V, kline.Q].map(canonicalDecimal).join(' ') + ` ${kline.n}`;
    if (row !== undefined && kline !== undefined && row.values === values && row.isFinal === kline.x) continue;
    stale++;
    if (examples.length < 5) examples.push(`${stream}: last event ${kline === undefined ? '(none)' : `${kline.t} ${values} x=${kline.x}`}; stored ${row === undefined ? '(none)' : `${row.values} final=${row.isFinal}`}`);
  }
  return { stale, streams: events.length, examples };
}
