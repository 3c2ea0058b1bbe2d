/**
 * The other ways of flushing open klines that the DB-flush bench measures beside `KlineStore.upsert`, so the choice
 * made in kline-store.ts can be re-checked on any machine. Every one keeps the store's semantics (the same version
 * guard, the same rows in the table, the count of rows written) except the one marked as not durable, which is a
 * reference for what commit durability costs, not a candidate. PostgreSQL only.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CompiledQuery, Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { boolArrayLiteral, decimalArrayLiteral, intArrayLiteral, textArrayLiteral } from '../src/infra/db/array-literal.ts';
import { KlineStore, type KlineRow } from '../src/infra/db/kline-store.ts';
import type { Database } from '../src/infra/db/schema.ts';

export interface FlushAlternative {
  readonly name: string;
  flush(rows: readonly KlineRow[]): Promise<number>;
}

const COLUMNS = [
  'venue', 'market', 'symbol', 'interval', 'open_time', 'close_time',
  'open', 'high', 'low', 'close', 'volume', 'quote_volume', 'taker_buy_volume', 'taker_buy_quote_volume',
  'trade_count', 'first_trade_id', 'last_trade_id', 'last_agg_id', 'is_final', 'revision', 'source',
] as const;
const TYPES = ['text', 'text', 'text', 'text', 'int8', 'int8', 'numeric', 'numeric', 'numeric', 'numeric', 'numeric', 'numeric', 'numeric', 'numeric', 'int8', 'int8', 'int8', 'int8', 'bool', 'int4', 'text'] as const;
const KEY = ['venue', 'market', 'symbol', 'interval', 'open_time'];
/** The store's ON CONFLICT clause and version guard, word for word. */
const ON_CONFLICT = `on conflict (${KEY.join(', ')}) do update set ${COLUMNS.filter((c) => !KEY.includes(c))
  .map((c) => `${c} = excluded.${c}`)
  .join(', ')}, updated_at = now()
  where excluded.revision > klines.revision
    or (excluded.revision = klines.revision and not klines.is_final
        and (excluded.is_final or excluded.last_agg_id > klines.last_agg_id))`;

/** The 21 column arrays as literals, built as the store builds them. */
function arrayLiterals(rows: readonly KlineRow[]): string[] {
  const column = <T>(pick: (row: KlineRow) => T): T[] => rows.map(pick);
  return [
    textArrayLiteral(column((r) => r.venue)),
    textArrayLiteral(column((r) => r.market)),
    textArrayLiteral(column((r) => r.kline.symbol)),
    textArrayLiteral(column((r) => r.kline.interval)),
    intArrayLiteral(column((r) => r.kline.openTime), 'openTime'),
    intArrayLiteral(column((r) => r.kline.closeTime), 'closeTime'),
    decimalArrayLiteral(column((r) => r.kline.open), 'open'),
    decimalArrayLiteral(column((r) => r.kline.high), 'high'),
    decimalArrayLiteral(column((r) => r.kline.low), 'low'),
    decimalArrayLiteral(column((r) => r.kline.close), 'close'),
    decimalArrayLiteral(column((r) => r.kline.volume), 'volume'),
    decimalArrayLiteral(column((r) => r.kline.quoteVolume), 'quoteVolume'),
    decimalArrayLiteral(column((r) => r.kline.takerBuyVolume), 'takerBuyVolume'),
    decimalArrayLiteral(column((r) => r.kline.takerBuyQuoteVolume), 'takerBuyQuoteVolume'),
    intArrayLiteral(column((r) => r.kline.tradeCount), 'tradeCount'),
    intArrayLiteral(column((r) => r.kline.firstTradeId), 'firstTradeId'),
    intArrayLiteral(column((r) => r.kline.lastTradeId), 'lastTradeId'),
    intArrayLiteral(column((r) => r.kline.lastAggId), 'lastAggId'),
    boolArrayLiteral(column((r) => r.kline.isFinal)),
    intArrayLiteral(column((r) => r.revision), 'revision'),
    textArrayLiteral(column((r) => r.source)),
  ];
}

/** `insert … select * from unnest($1::text::text[], …)`: the store's statement before the ProjectSet rewrite. */
const FORMER_UNNEST = `insert into klines (${COLUMNS.join(', ')})
  select * from unnest(${TYPES.map((type, i) => `$${i + 1}::text::${type}[]`).join(', ')}) ${ON_CONFLICT}`;
/** The same with parameters typed as arrays (parsed once, at bind), still a function scan. */
const TYPED_UNNEST = `insert into klines (${COLUMNS.join(', ')})
  select * from unnest(${TYPES.map((type, i) => `$${i + 1}::${type}[]`).join(', ')}) ${ON_CONFLICT}`;

/** COPY's text format: backslash, tab, newline and carriage return escaped. */
const COPY_ESCAPE = /[\\\t\n\r]/g;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const text = (value: string): string => value.replace(COPY_ESCAPE, (c) => COPY_ESCAPES[c]!);
/** The store's checks: plain-notation decimals and safe integers only. */
const DECIMAL = /^-?\d+(?:\.\d+)?$/;
function decimal(value: string, column: string): string {
  if (!DECIMAL.test(value)) throw new TypeError(`${column}: ${JSON.stringify(value)} is not a plain decimal`);
  return value;
}
function int(value: number, column: string): string {
  if (!Number.isSafeInteger(value)) throw new TypeError(`${column}: ${value} is not a safe integer`);
  return String(value);
}
function copyRows(rows: readonly KlineRow[]): string {
  let out = '';
  for (const row of rows) {
    const k = row.kline;
    out += `${[
      text(row.venue), text(row.market), text(k.symbol), text(k.interval), int(k.openTime, 'openTime'), int(k.closeTime, 'closeTime'),
      decimal(k.open, 'open'), decimal(k.high, 'high'), decimal(k.low, 'low'), decimal(k.close, 'close'), decimal(k.volume, 'volume'),
      decimal(k.quoteVolume, 'quoteVolume'), decimal(k.takerBuyVolume, 'takerBuyVolume'), decimal(k.takerBuyQuoteVolume, 'takerBuyQuoteVolume'),
      int(k.tradeCount, 'tradeCount'), int(k.firstTradeId, 'firstTradeId'), int(k.lastTradeId, 'lastTradeId'), int(k.lastAggId, 'lastAggId'),
      k.isFinal ? 't' : 'f', int(row.revision, 'revision'), text(row.source),
    ].join('\t')}\n`;
  }
  return out;
}

/**
 * COPY (text) into a session temp table, then one `insert … select … on conflict` merge, in one transaction (the
 * temp table empties itself at commit).
 */
async function copyMerge(pool: pg.Pool, rows: readonly KlineRow[]): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query(
      `create temp table if not exists klines_flush (${COLUMNS.map((c, i) => `${c} ${TYPES[i]} not null`).join(', ')}) on commit delete rows`,
    );
    await client.query('begin');
    try {
      await pipeline(Readable.from([copyRows(rows)]), client.query(copyFrom(`copy klines_flush (${COLUMNS.join(', ')}) from stdin`)));
      const result = await client.query(`insert into klines (${COLUMNS.join(', ')}) select ${COLUMNS.join(', ')} from klines_flush ${ON_CONFLICT}`);
      await client.query('commit');
      return result.rowCount ?? 0;
    } catch (error) {
      await client.query('rollback');
      throw error;
    }
  } finally {
    client.release();
  }
}

export interface FlushAlternatives {
  readonly alternatives: readonly FlushAlternative[];
  close(): Promise<void>;
}

/**
 * The alternatives on the database at `url`, which `db` (the bench's `openDatabase` handle) is open on too: the
 * statement variants run through `db` as the store does, COPY needs a pg client of its own, and the not-durable
 * reference a pool whose sessions have `synchronous_commit = off`. Each writes only the rows it is given.
 */
export function openFlushAlternatives(db: Kysely<Database>, url: string): FlushAlternatives {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const noSyncPool = new pg.Pool({ connectionString: url, max: 2, options: '-c synchronous_commit=off' });
  // As openDatabase does: a connection the server ends while idle (as dropping the bench database does) must not
  // crash the process with an unhandled 'error' event.
  for (const p of [pool, noSyncPool]) {
    p.on('error', () => {});
    p.on('connect', (client) => client.on('error', () => {}));
  }
  const noSyncDb = new Kysely<Database>({ dialect: new PostgresDialect({ pool: noSyncPool }) });
  const statement = (text: string) => async (rows: readonly KlineRow[]) =>
    Number((await db.executeQuery(CompiledQuery.raw(text, arrayLiterals(rows)))).numAffectedRows ?? 0n);
  const oneStatement = new KlineStore(db, { parallelism: 1 });
  const noSync = new KlineStore(noSyncDb, { parallelism: 2 });
  return {
    alternatives: [
      { name: 'former unnest', flush: statement(FORMER_UNNEST) },
      { name: 'typed unnest', flush: statement(TYPED_UNNEST) },
      { name: 'projectset 1 statement', flush: (rows) => oneStatement.upsert(rows) },
      { name: 'copy+merge', flush: (rows) => copyMerge(pool, rows) },
      { name: 'projectset ×2 synchronous_commit=off (not durable, reference only)', flush: (rows) => noSync.upsert(rows) },
    ],
    close: async () => {
      await noSyncDb.destroy();
      await pool.end();
    },
  };
}
