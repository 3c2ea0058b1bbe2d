/**
 * The symbols table: what the exchange says about each symbol (status, filters) and klagg's own lifecycle state and
 * last error, so the API and inspector can show a Failed symbol's reason, and a restart knows the universe.
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.ts';

/** Exchange facts about a symbol, as exchangeInfo gives them (filters kept as the exchange's decimal text). */
export interface SymbolInfo {
  readonly venue: string;
  readonly market: string;
  readonly symbol: string;
  readonly status: string;
  readonly tickSize: string;
  readonly stepSize: string;
}

export interface StoredSymbol extends SymbolInfo {
  /** The lifecycle machine's state name (`Pending`, `Activating`, `Active`, `Failed`). */
  readonly lifecycleState: string;
  readonly lastError: string | null;
  readonly updatedAt: Date;
}

/** The lifecycle state a symbol first stored has until its machine reports one. */
export const INITIAL_LIFECYCLE_STATE = 'Pending';

/** exchangeInfo lists a few hundred symbols; 7 parameters each keeps a chunk far below the 65,535-parameter limit. */
const CHUNK_SIZE = 1_000;

export class SymbolStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /**
   * Records exchange facts. A new symbol starts `Pending`; a known one keeps its lifecycle state and last error, which
   * only `setLifecycle` changes. Returns the rows written (unchanged facts are not rewritten, so `updated_at` says
   * when something last changed).
   */
  async upsert(rows: readonly SymbolInfo[]): Promise<number> {
    let written = 0;
    for (let start = 0; start < rows.length; start += CHUNK_SIZE) {
      const chunk = rows.slice(start, start + CHUNK_SIZE);
      const result = await this.#db
        .insertInto('symbols')
        .values(
          chunk.map((row) => ({
            venue: row.venue,
            market: row.market,
            symbol: row.symbol,
            status: row.status,
            tick_size: row.tickSize,
            step_size: row.stepSize,
            lifecycle_state: INITIAL_LIFECYCLE_STATE,
            last_error: null,
          })),
        )
        .onConflict((oc) =>
          oc
            .columns(['venue', 'market', 'symbol'])
            .doUpdateSet((eb) => ({
              status: eb.ref('excluded.status'),
              tick_size: eb.ref('excluded.tick_size'),
              step_size: eb.ref('excluded.step_size'),
              updated_at: sql`now()`,
            }))
            .where((eb) =>
              eb.or([
                eb('symbols.status', 'is distinct from', eb.ref('excluded.status')),
                eb('symbols.tick_size', 'is distinct from', eb.ref('excluded.tick_size')),
                eb('symbols.step_size', 'is distinct from', eb.ref('excluded.step_size')),
              ]),
            ),
        )
        .executeTakeFirst();
      written += Number(result.numInsertedOrUpdatedRows ?? 0n);
    }
    return written;
  }

  /** Records the lifecycle state (and the error that caused a Failed state, or null). False if the symbol is unknown. */
  async setLifecycle(venue: string, market: string, symbol: string, state: string, lastError: string | null): Promise<boolean> {
    const result = await this.#db
      .updateTable('symbols')
      .set({ lifecycle_state: state, last_error: lastError, updated_at: sql`now()` })
      .where('venue', '=', venue)
      .where('market', '=', market)
      .where('symbol', '=', symbol)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Every stored symbol of a venue and market, by name. Delisted symbols stay listed: their history is kept. */
  async list(venue: string, market: string): Promise<StoredSymbol[]> {
    const rows = await this.#db
      .selectFrom('symbols')
      .selectAll()
      .where('venue', '=', venue)
      .where('market', '=', market)
      .orderBy('symbol')
      .execute();
    return rows.map((row) => ({
      venue: row.venue,
      market: row.market,
      symbol: row.symbol,
      status: row.status,
      tickSize: row.tick_size,
      stepSize: row.step_size,
      lifecycleState: row.lifecycle_state,
      lastError: row.last_error,
      updatedAt: row.updated_at,
    }));
  }
}
