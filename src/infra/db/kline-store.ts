/**
 * Stored klines: version-guarded batch upserts and the reads the service needs (initial data on activation, the
 * HTTP range API, counts). One table for every venue × market × symbol × interval.
 */
import { sql, type Kysely } from 'kysely';
import { parseInterval, type IntervalName } from '../../domain/interval.ts';
import type { Kline } from '../../domain/kline.ts';
import { isNewerVersion } from '../../domain/kline-version.ts';
import { boolArrayLiteral, decimalArrayLiteral, intArrayLiteral, textArrayLiteral } from './array-literal.ts';
import type { DatabaseHandle } from './open-database.ts';
import type { Database, KlineRecord, KlineSource } from './schema.ts';

export type { KlineSource };

/** One kline to store, with its key's venue and market and its version beyond the kline itself. */
export interface KlineRow {
  readonly venue: string;
  readonly market: string;
  readonly kline: Kline;
  /** 0 for live and backfilled klines; every repair of a final kline stores it with a higher revision. */
  readonly revision: number;
  readonly source: KlineSource;
}

export interface KlineRangeQuery {
  /** Inclusive lower bound on openTime (Binance semantics: a startTime inside a period skips that period). */
  readonly startTime?: number;
  /** Inclusive upper bound on openTime. */
  readonly endTime?: number;
  readonly limit: number;
}

export interface KlineStoreOptions {
  /**
   * Rows per statement at most. unnest() has no bind-parameter limit (21 parameters whatever the row count); chunking
   * only bounds the size of one statement and of the lock set it holds. Default 5,000.
   */
  readonly chunkSize?: number;
  /**
   * Statements of one upsert in flight at once, each on its own pooled connection: a batch of at least
   * parallelism × 1,000 rows is split into this many statements (more if chunkSize asks), which PostgreSQL runs on
   * separate cores. Default 1; `KlineStore.forDatabase` picks 2 on PostgreSQL.
   */
  readonly parallelism?: number;
}

const DEFAULT_CHUNK_SIZE = 5_000;
/**
 * Two statements at once on PostgreSQL: a 5,000-row all-update flush is CPU-bound in its backend, so two halves on
 * two backends finish sooner when a core is free (2-core machine, same rows: one 5,000-row statement 74–102 ms,
 * two 2,500-row statements at once 44–62 ms; the whole upsert 83–113 ms with one statement, 54–74 ms with two).
 * Three or four measured no better there (75–81 ms) and take more of the pool.
 */
const POSTGRES_PARALLELISM = 2;
/** Below this many rows per statement a split costs more (one more round trip and commit) than a second core saves. */
const MIN_PARALLEL_ROWS = 1_000;

export { isNewerVersion };

/** The same rule as `isNewerVersion`, over the stored row (`klines`) and the proposed one (`excluded`). */
const VERSION_GUARD = sql<boolean>`excluded.revision > klines.revision
  or (excluded.revision = klines.revision and not klines.is_final
      and (excluded.is_final or excluded.last_agg_id > klines.last_agg_id))`;

export class KlineStore {
  readonly #db: Kysely<Database>;
  readonly #chunkSize: number;
  readonly #parallelism: number;

  constructor(db: Kysely<Database>, options: KlineStoreOptions = {}) {
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    const parallelism = options.parallelism ?? 1;
    if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`);
    if (!Number.isInteger(parallelism) || parallelism < 1) throw new RangeError(`parallelism must be a positive integer, got ${parallelism}`);
    this.#db = db;
    this.#chunkSize = chunkSize;
    this.#parallelism = parallelism;
  }

  /**
   * The store as the service uses it on an opened database: on PostgreSQL a large upsert runs as two statements at
   * once; PGlite has one connection, where a split would only add a statement (measured slightly slower).
   */
  static forDatabase(database: Pick<DatabaseHandle, 'db' | 'kind'>, options: KlineStoreOptions = {}): KlineStore {
    return new KlineStore(database.db, { parallelism: database.kind === 'postgres' ? POSTGRES_PARALLELISM : 1, ...options });
  }

  /**
   * Inserts new klines and replaces stored ones with newer versions; returns how many rows were actually written
   * (an unchanged or older version counts 0). Idempotent: writing the same batch twice writes nothing the second
   * time. Chunks are independent statements (up to `parallelism` of them at once), so a failure part-way leaves
   * other chunks stored, which a retry of the whole batch handles by the same guard; the call settles only once no
   * statement of it is still running, so a retry never overlaps it. A value that cannot be stored exactly (a
   * decimal not in plain notation, a non-integer or unsafe id) throws a TypeError before its chunk is sent: bad
   * data, not an outage, so retrying it cannot help.
   */
  async upsert(rows: readonly KlineRow[]): Promise<number> {
    const unique = newestPerKey(rows);
    const n = unique.length;
    if (n === 0) return 0;
    // Contiguous ranges of the key order: chunks share no key, and every statement (of this call or a concurrent
    // one) locks its rows in the same order, so concurrent upserts wait for each other but cannot deadlock.
    const statements = Math.max(Math.ceil(n / this.#chunkSize), Math.min(this.#parallelism, Math.floor(n / MIN_PARALLEL_ROWS)));
    const size = Math.ceil(n / statements);
    const chunks: KlineRow[][] = [];
    for (let start = 0; start < n; start += size) chunks.push(unique.slice(start, start + size));
    if (chunks.length === 1) return this.#upsertChunk(chunks[0]!);

    let next = 0;
    let written = 0;
    const errors: unknown[] = [];
    const worker = async (): Promise<void> => {
      while (next < chunks.length && errors.length === 0) {
        const chunk = chunks[next++]!;
        try {
          // Not `written += await …`: that reads `written` before the await and would lose the other worker's rows.
          const count = await this.#upsertChunk(chunk);
          written += count;
        } catch (error) {
          errors.push(error);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#parallelism, chunks.length) }, worker));
    if (errors.length > 0) throw errors[0];
    return written;
  }

  async #upsertChunk(rows: readonly KlineRow[]): Promise<number> {
    const n = rows.length;
    const venue: string[] = new Array(n);
    const market: string[] = new Array(n);
    const symbol: string[] = new Array(n);
    const interval: string[] = new Array(n);
    const openTime: number[] = new Array(n);
    const closeTime: number[] = new Array(n);
    const open: string[] = new Array(n);
    const high: string[] = new Array(n);
    const low: string[] = new Array(n);
    const close: string[] = new Array(n);
    const volume: string[] = new Array(n);
    const quoteVolume: string[] = new Array(n);
    const takerBuyVolume: string[] = new Array(n);
    const takerBuyQuoteVolume: string[] = new Array(n);
    const tradeCount: number[] = new Array(n);
    const firstTradeId: number[] = new Array(n);
    const lastTradeId: number[] = new Array(n);
    const lastAggId: number[] = new Array(n);
    const isFinal: boolean[] = new Array(n);
    const revision: number[] = new Array(n);
    const source: string[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const row = rows[i]!;
      const k = row.kline;
      venue[i] = row.venue;
      market[i] = row.market;
      symbol[i] = k.symbol;
      interval[i] = k.interval;
      openTime[i] = k.openTime;
      closeTime[i] = k.closeTime;
      open[i] = k.open;
      high[i] = k.high;
      low[i] = k.low;
      close[i] = k.close;
      volume[i] = k.volume;
      quoteVolume[i] = k.quoteVolume;
      takerBuyVolume[i] = k.takerBuyVolume;
      takerBuyQuoteVolume[i] = k.takerBuyQuoteVolume;
      tradeCount[i] = k.tradeCount;
      firstTradeId[i] = k.firstTradeId;
      lastTradeId[i] = k.lastTradeId;
      lastAggId[i] = k.lastAggId;
      isFinal[i] = k.isFinal;
      revision[i] = row.revision;
      source[i] = row.source;
    }

    // One array parameter per column: the statement has 21 parameters whatever the row count, so the 65,535
    // bind-parameter limit of multi-row VALUES never applies. Each travels as one array literal (see
    // array-literal.ts for why); decimals stay text until PostgreSQL parses them, so nothing can round them.
    //
    // The shape is what a 5,000-row all-update flush measured fastest in (PostgreSQL 15 on a shared 2-core machine,
    // backend CPU per flush: 156 ms for the former `select * from unnest($1::text::text[], …)`, 95 ms for this one;
    // bench/db-flush.ts prints both, and COPY into a temp table + one merge, beside the store):
    // - `$1::numeric[]`, not `$1::text::numeric[]`: typed as an array, the parameter is parsed once, when it is
    //   bound. Cast from text, the planner parsed every array to estimate unnest()'s row count and the executor
    //   parsed it again (array_in was 28% of the backend's time, half of it in the planner).
    // - `select unnest($1), unnest($2), …` (a ProjectSet, the arrays zipped row by row exactly like a multi-argument
    //   unnest) instead of `select * from unnest($1, $2, …)`: a function scan first copies all its rows into a
    //   tuplestore (another 14%).
    // What is left is the index probe of ON CONFLICT (~35%), the HOT update itself and constraint checks: the work
    // of a guarded upsert. A named (prepared) statement saved nothing measurable once planning stopped parsing.
    // PGlite passes a string for an array parameter through untouched, so both backends take the same statement.
    const text = (values: readonly string[]) => sql`unnest(${textArrayLiteral(values)}::text[])`;
    const int8 = (values: readonly number[], column: string) => sql`unnest(${intArrayLiteral(values, column)}::int8[])`;
    const decimal = (values: readonly string[], column: string) => sql`unnest(${decimalArrayLiteral(values, column)}::numeric[])`;
    const result = await this.#db
      .insertInto('klines')
      .columns([
        'venue', 'market', 'symbol', 'interval', 'open_time', 'close_time',
        'open', 'high', 'low', 'close', 'volume', 'quote_volume', 'taker_buy_volume', 'taker_buy_quote_volume',
        'trade_count', 'first_trade_id', 'last_trade_id', 'last_agg_id', 'is_final', 'revision', 'source',
      ])
      .expression(
        sql`select
          ${text(venue)}, ${text(market)}, ${text(symbol)}, ${text(interval)},
          ${int8(openTime, 'openTime')}, ${int8(closeTime, 'closeTime')},
          ${decimal(open, 'open')}, ${decimal(high, 'high')}, ${decimal(low, 'low')}, ${decimal(close, 'close')},
          ${decimal(volume, 'volume')}, ${decimal(quoteVolume, 'quoteVolume')},
          ${decimal(takerBuyVolume, 'takerBuyVolume')}, ${decimal(takerBuyQuoteVolume, 'takerBuyQuoteVolume')},
          ${int8(tradeCount, 'tradeCount')}, ${int8(firstTradeId, 'firstTradeId')}, ${int8(lastTradeId, 'lastTradeId')},
          ${int8(lastAggId, 'lastAggId')}, ${sql`unnest(${boolArrayLiteral(isFinal)}::bool[])`},
          ${sql`unnest(${intArrayLiteral(revision, 'revision')}::int4[])`}, ${text(source)}`,
      )
      .onConflict((oc) =>
        oc
          .columns(['venue', 'market', 'symbol', 'interval', 'open_time'])
          .doUpdateSet((eb) => ({
            close_time: eb.ref('excluded.close_time'),
            open: eb.ref('excluded.open'),
            high: eb.ref('excluded.high'),
            low: eb.ref('excluded.low'),
            close: eb.ref('excluded.close'),
            volume: eb.ref('excluded.volume'),
            quote_volume: eb.ref('excluded.quote_volume'),
            taker_buy_volume: eb.ref('excluded.taker_buy_volume'),
            taker_buy_quote_volume: eb.ref('excluded.taker_buy_quote_volume'),
            trade_count: eb.ref('excluded.trade_count'),
            first_trade_id: eb.ref('excluded.first_trade_id'),
            last_trade_id: eb.ref('excluded.last_trade_id'),
            last_agg_id: eb.ref('excluded.last_agg_id'),
            is_final: eb.ref('excluded.is_final'),
            revision: eb.ref('excluded.revision'),
            source: eb.ref('excluded.source'),
            updated_at: sql`now()`,
          }))
          .where(VERSION_GUARD),
      )
      .executeTakeFirst();
    // Rows the guard rejected are neither inserted nor updated, so they are not in this count.
    return Number(result.numInsertedOrUpdatedRows ?? 0n);
  }

  /**
   * The latest stored kline (greatest openTime) of each interval, in the order asked, skipping intervals with none:
   * the initial data of an activating symbol, so a restarted service continues its open klines.
   */
  async latest(venue: string, market: string, symbol: string, intervals: readonly IntervalName[]): Promise<Kline[]> {
    if (intervals.length === 0) return [];
    // A lateral `order by open_time desc limit 1` per interval is one backward step of the primary key each;
    // `distinct on` would read every stored kline of the symbol.
    const { rows } = await sql<KlineRecord>`
      select k.* from unnest(${[...intervals]}::text[]) with ordinality as wanted(interval, position)
      cross join lateral (
        select * from klines
        where venue = ${venue} and market = ${market} and symbol = ${symbol} and interval = wanted.interval
        order by open_time desc
        limit 1
      ) as k
      order by wanted.position`.execute(this.#db);
    return rows.map(toKline);
  }

  /**
   * Klines by openTime, ascending, as Binance's `/fapi/v1/klines` selects them: with a startTime, the first `limit`
   * from it; otherwise the most recent `limit` at or before endTime (or overall).
   */
  async range(venue: string, market: string, symbol: string, interval: IntervalName, query: KlineRangeQuery): Promise<Kline[]> {
    const { startTime, endTime, limit } = query;
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, got ${limit}`);
    let select = this.#db
      .selectFrom('klines')
      .selectAll()
      .where('venue', '=', venue)
      .where('market', '=', market)
      .where('symbol', '=', symbol)
      .where('interval', '=', interval);
    if (startTime !== undefined) select = select.where('open_time', '>=', startTime);
    if (endTime !== undefined) select = select.where('open_time', '<=', endTime);
    const fromStart = startTime !== undefined;
    const rows = await select
      .orderBy('open_time', fromStart ? 'asc' : 'desc')
      .limit(limit)
      .execute();
    if (!fromStart) rows.reverse();
    return rows.map(toKline);
  }

  /**
   * Open times of the stored klines of one symbol and interval with `from ≤ openTime ≤ to`, ascending; with
   * `finalOnly`, only of final ones. What hole detection subtracts from the periods it expects: one read of the
   * primary key (plus `is_final` when asked), no kline fields, however long the range.
   */
  async openTimes(
    venue: string,
    market: string,
    symbol: string,
    interval: IntervalName,
    from: number,
    to: number,
    options: { readonly finalOnly?: boolean } = {},
  ): Promise<number[]> {
    let select = this.#db
      .selectFrom('klines')
      .select('open_time')
      .where('venue', '=', venue)
      .where('market', '=', market)
      .where('symbol', '=', symbol)
      .where('interval', '=', interval)
      .where('open_time', '>=', from)
      .where('open_time', '<=', to);
    if (options.finalOnly === true) select = select.where('is_final', '=', true);
    const rows = await select.orderBy('open_time', 'asc').execute();
    return rows.map((row) => toSafeNumber(row.open_time, 'open_time'));
  }

  /** Stored klines of a venue and market, optionally of one symbol and one interval. */
  async count(venue: string, market: string, symbol?: string, interval?: IntervalName): Promise<number> {
    let select = this.#db
      .selectFrom('klines')
      .select((eb) => eb.fn.countAll<number | bigint>().as('count'))
      .where('venue', '=', venue)
      .where('market', '=', market);
    if (symbol !== undefined) select = select.where('symbol', '=', symbol);
    if (interval !== undefined) select = select.where('interval', '=', interval);
    const { count } = await select.executeTakeFirstOrThrow();
    return toSafeNumber(count, 'count');
  }
}

/**
 * One row per key, the newest version winning, in key order. One per key: PostgreSQL rejects a statement that would
 * update the same row twice ("ON CONFLICT DO UPDATE command cannot affect row a second time"), and the guard must
 * see only the newest. Key order (any fixed total order does): the order every statement locks its rows in. Sorting
 * first puts a key's versions side by side (in their batch order: the sort is stable, so of equal versions the first
 * stays, as before), which saves building a key string and a Map entry per row: about 1 ms for 5,000 rows grouped
 * by symbol, as a flush is.
 */
function newestPerKey(rows: readonly KlineRow[]): KlineRow[] {
  const sorted = [...rows].sort(compareKeys);
  const unique: KlineRow[] = [];
  for (const row of sorted) {
    const last = unique.length - 1;
    if (last >= 0 && compareKeys(unique[last]!, row) === 0) {
      if (isNewerVersion(row, unique[last]!)) unique[last] = row;
    } else {
      unique.push(row);
    }
  }
  return unique;
}

/** By symbol first (the field that differs most in a flush), then interval, open time, venue, market. */
function compareKeys(a: KlineRow, b: KlineRow): number {
  const x = a.kline;
  const y = b.kline;
  if (x.symbol !== y.symbol) return x.symbol < y.symbol ? -1 : 1;
  if (x.interval !== y.interval) return x.interval < y.interval ? -1 : 1;
  if (x.openTime !== y.openTime) return x.openTime - y.openTime;
  if (a.venue !== b.venue) return a.venue < b.venue ? -1 : 1;
  if (a.market !== b.market) return a.market < b.market ? -1 : 1;
  return 0;
}

function toKline(row: KlineRecord): Kline {
  return {
    symbol: row.symbol,
    interval: parseInterval(row.interval),
    openTime: toSafeNumber(row.open_time, 'open_time'),
    closeTime: toSafeNumber(row.close_time, 'close_time'),
    open: row.open,
    high: row.high,
    low: row.low,
    close: row.close,
    volume: row.volume,
    quoteVolume: row.quote_volume,
    tradeCount: toSafeNumber(row.trade_count, 'trade_count'),
    takerBuyVolume: row.taker_buy_volume,
    takerBuyQuoteVolume: row.taker_buy_quote_volume,
    firstTradeId: toSafeNumber(row.first_trade_id, 'first_trade_id'),
    lastTradeId: toSafeNumber(row.last_trade_id, 'last_trade_id'),
    lastAggId: toSafeNumber(row.last_agg_id, 'last_agg_id'),
    isFinal: row.is_final,
    ...(row.revision > 0 ? { revision: row.revision } : {}),
  };
}

/** Both backends hand int8 over as a number when exact and as a bigint beyond 2^53, which a kline cannot hold. */
function toSafeNumber(value: number | bigint | string, column: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number)) throw new RangeError(`${column} ${String(value)} is not a safe integer`);
  return number;
}
