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

/** A symbol's whole row as klagg knows it now: its lifecycle and, when the exchange has described it, its facts. */
export interface SymbolState {
  readonly venue: string;
  readonly market: string;
  readonly symbol: string;
  readonly lifecycleState: string;
  readonly lastError: string | null;
  /** Absent when the exchange's description is not at hand: the row's facts are kept (or, for a new symbol, no row). */
  readonly facts?: { readonly status: string; readonly tickSize: string; readonly stepSize: string };
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

  /**
   * Writes many symbols' states in at most two statements per chunk (one insert-or-update for those with facts, one
   * update for those without), so a burst of lifecycle changes across hundreds of symbols is one round trip, not
   * hundreds. A row whose values are all unchanged is not rewritten (its `updated_at` stays). A symbol without facts
   * and without a row is not written (status and filters cannot be null). Returns the rows written.
   */
  async saveStates(rows: readonly SymbolState[]): Promise<number> {
    let written = 0;
    for (let start = 0; start < rows.length; start += CHUNK_SIZE) {
      const chunk = rows.slice(start, start + CHUNK_SIZE);
      const withFacts = chunk.filter((row) => row.facts !== undefined);
      const withoutFacts = chunk.filter((row) => row.facts === undefined);
      if (withFacts.length > 0) {
        const result = await this.#db
          .insertInto('symbols')
          .values(
            withFacts.map((row) => ({
              venue: row.venue,
              market: row.market,
              symbol: row.symbol,
              status: row.facts!.status,
              tick_size: row.facts!.tickSize,
              step_size: row.facts!.stepSize,
              lifecycle_state: row.lifecycleState,
              last_error: row.lastError,
            })),
          )
          .onConflict((oc) =>
            oc
              .columns(['venue', 'market', 'symbol'])
              .doUpdateSet((eb) => ({
                status: eb.ref('excluded.status'),
                tick_size: eb.ref('excluded.tick_size'),
                step_size: eb.ref('excluded.step_size'),
                lifecycle_state: eb.ref('excluded.lifecycle_state'),
                last_error: eb.ref('excluded.last_error'),
                updated_at: sql`now()`,
              }))
              .where((eb) =>
                eb.or([
                  eb('symbols.status', 'is distinct from', eb.ref('excluded.status')),
                  eb('symbols.tick_size', 'is distinct from', eb.ref('excluded.tick_size')),
                  eb('symbols.step_size', 'is distinct from', eb.ref('excluded.step_size')),
                  eb('symbols.lifecycle_state', 'is distinct from', eb.ref('excluded.lifecycle_state')),
                  eb('symbols.last_error', 'is distinct from', eb.ref('excluded.last_error')),
                ]),
              ),
          )
          .executeTakeFirst();
        written += Number(result.numInsertedOrUpdatedRows ?? 0n);
      }
      if (withoutFacts.length > 0) {
        // Arrays, not a VALUES list: 5 parameters whatever the count. last_error travels as a text array with NULLs.
        const result = await sql`
          update symbols set lifecycle_state = s.lifecycle_state, last_error = s.last_error, updated_at = now()
          from unnest(${withoutFacts.map((r) => r.venue)}::text[], ${withoutFacts.map((r) => r.market)}::text[],
                      ${withoutFacts.map((r) => r.symbol)}::text[], ${withoutFacts.map((r) => r.lifecycleState)}::text[],
                      ${withoutFacts.map((r) => r.lastError)}::text[])
            as s(venue, market, symbol, lifecycle_state, last_error)
          where symbols.venue = s.venue and symbols.market = s.market and symbols.symbol = s.symbol
            and (symbols.lifecycle_state is distinct from s.lifecycle_state or symbols.last_error is distinct from s.last_error)`.execute(this.#db);
        written += Number(result.numAffectedRows ?? 0n);
      }
    }
    return written;
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
