/**
 * Kysely's view of klagg's tables. Column types are what the queries see after the drivers' parsers run: int8 comes
 * back as a JS number (both backends are set up for that, see open-database.ts) and `numeric` as the exact decimal
 * text, never a float, so a stored kline reads back byte for byte as the exchange published it.
 */
import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** Where a stored kline came from: the live aggregation, a REST backfill, or a repair (which bumps the revision). */
export type KlineSource = 'live' | 'backfill' | 'repair';

/** A timestamptz the database fills in (default now()): optional on insert, writable on update. */
type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>;

export interface KlinesTable {
  venue: string;
  market: string;
  symbol: string;
  interval: string;
  /** ms since the epoch, UTC. */
  open_time: number;
  close_time: number;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
  quote_volume: string;
  taker_buy_volume: string;
  taker_buy_quote_volume: string;
  trade_count: number;
  first_trade_id: number;
  last_trade_id: number;
  /** The version of an open kline: the aggregate id of its last trade (−1 if none). */
  last_agg_id: number;
  is_final: boolean;
  /** Bumped by every repair; the primary component of the version guard. */
  revision: Generated<number>;
  source: KlineSource;
  updated_at: UpdatedAt;
}

export interface SymbolsTable {
  venue: string;
  market: string;
  symbol: string;
  /** The exchange's status (`TRADING`, `SETTLING`, …). */
  status: string;
  tick_size: string;
  step_size: string;
  /** klagg's own state of the symbol (the lifecycle machine's state name). */
  lifecycle_state: string;
  last_error: string | null;
  updated_at: UpdatedAt;
}

export interface Database {
  klines: KlinesTable;
  symbols: SymbolsTable;
}

export type KlineRecord = Selectable<KlinesTable>;
export type NewKlineRecord = Insertable<KlinesTable>;
export type SymbolRecord = Selectable<SymbolsTable>;
