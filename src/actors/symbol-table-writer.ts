/**
 * The SymbolTableWriter keeps the `symbols` table equal to the SymbolRegistry: every symbol's lifecycle state and last
 * error, with the exchange's facts about it (status, tick and step size) when known, so a Failed symbol's reason and
 * the universe outlive the process and other readers of the database see them.
 *
 * It subscribes to the registry and writes what changed, coalesced: a startup moves hundreds of symbols through
 * Pending → Activating → Active within a second, and trade-time updates change the registry constantly without
 * touching anything stored. Writes go out at most once per `intervalMs` (so at most one write per symbol per
 * interval), each carrying every changed symbol's *current* entry, in one statement; a change arriving during a write
 * is written by the next one, and `stop()` writes what is still pending, so the last state is never lost. A failed
 * write (database down) is logged, counted, and retried with the next interval; it never throws into the registry.
 */
import type { SymbolStore, SymbolState } from '../infra/db/symbol-store.ts';
import type { Logger } from '../infra/logger.ts';
import type { SymbolEntry, SymbolRegistry } from './symbol-registry.ts';

/** What the exchange says about a symbol (the SymbolManager's `exchangeSymbol` gives exactly this). */
export interface SymbolFacts {
  readonly status: string;
  readonly tickSize: string | undefined;
  readonly stepSize: string | undefined;
}

export interface SymbolTableWriterOptions {
  readonly registry: SymbolRegistry;
  readonly store: Pick<SymbolStore, 'saveStates'>;
  readonly venue: string;
  readonly market: string;
  /** The exchange's facts about a symbol, if known; without them only an existing row's lifecycle is updated. */
  readonly describe?: (symbol: string) => SymbolFacts | undefined;
  /** Least time between two writes. Default 1,000 ms. */
  readonly intervalMs?: number;
  readonly logger?: Logger;
}

export class SymbolTableWriter {
  readonly #options: SymbolTableWriterOptions;
  readonly #intervalMs: number;
  /** The registry entry last looked at per symbol: a new object means the registry changed that symbol. */
  readonly #seen = new Map<string, SymbolEntry>();
  /** What is stored per symbol (as this writer last wrote it), to skip changes that touch no stored column. */
  readonly #stored = new Map<string, string>();
  #dirty = new Set<string>();
  #unsubscribe: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;
  #lastWriteAt = -Infinity;
  /** Writes made, rows written, and writes that failed (and will be retried). */
  readonly stats = { writes: 0, rows: 0, failures: 0 };

  constructor(options: SymbolTableWriterOptions) {
    const intervalMs = options.intervalMs ?? 1_000;
    if (!(intervalMs >= 0)) throw new RangeError(`intervalMs must be ≥ 0, got ${intervalMs}`);
    this.#options = options;
    this.#intervalMs = intervalMs;
  }

  /** Starts following the registry; the symbols it already holds are written too. */
  start(): void {
    if (this.#unsubscribe !== undefined) return;
    const subscription = this.#options.registry.subscribe((snapshot) => this.#noticeChanges(snapshot.context.symbols));
    this.#unsubscribe = () => subscription.unsubscribe();
    this.#noticeChanges(this.#options.registry.getSnapshot().context.symbols);
  }

  /** Stops following the registry and writes whatever is still pending (one last attempt if the database fails). */
  async stop(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  /** Writes the pending changes now (after a write already under way), without waiting for the interval. */
  async flush(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing;
    if (this.#dirty.size === 0) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#write();
  }

  #noticeChanges(symbols: Readonly<Record<string, SymbolEntry>>): void {
    for (const entry of Object.values(symbols)) {
      if (this.#seen.get(entry.symbol) === entry) continue;
      this.#seen.set(entry.symbol, entry);
      this.#dirty.add(entry.symbol);
    }
    if (this.#dirty.size > 0) this.#schedule();
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#writing !== undefined || this.#unsubscribe === undefined) return;
    // Leading edge after a quiet spell (a timer of 0 still gathers the rest of a synchronous burst), then at most
    // one write per interval while changes keep coming.
    const delay = Math.max(0, this.#lastWriteAt + this.#intervalMs - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#write();
    }, delay);
    // Not a reason for the process to stay up: shutdown calls stop(), which writes what is pending.
    this.#timer.unref();
  }

  #write(): Promise<void> {
    const writing = this.#writeDirty().finally(() => {
      this.#writing = undefined;
      if (this.#dirty.size > 0) this.#schedule();
    });
    this.#writing = writing;
    return writing;
  }

  async #writeDirty(): Promise<void> {
    this.#lastWriteAt = performance.now();
    const dirty = this.#dirty;
    this.#dirty = new Set();
    const rows: SymbolState[] = [];
    const signatures = new Map<string, string>();
    const symbols = this.#options.registry.getSnapshot().context.symbols;
    for (const symbol of dirty) {
      const entry = symbols[symbol];
      if (entry === undefined) continue; // the registry never removes symbols; nothing to store if it did
      const row = this.#row(entry);
      const signature = JSON.stringify([row.lifecycleState, row.lastError, row.facts ?? null]);
      if (this.#stored.get(symbol) === signature) continue; // a trade-time change: nothing stored changed
      rows.push(row);
      signatures.set(symbol, signature);
    }
    if (rows.length === 0) return;
    try {
      const written = await this.#options.store.saveStates(rows);
      for (const [symbol, signature] of signatures) this.#stored.set(symbol, signature);
      this.stats.writes++;
      this.stats.rows += written;
    } catch (error) {
      // Kept for the next write: a symbol changed meanwhile is already dirty again and is written as it is then.
      for (const symbol of signatures.keys()) this.#dirty.add(symbol);
      this.stats.failures++;
      this.#options.logger?.warn({ err: error, symbols: rows.length }, 'writing the symbols table failed; retrying with the next write');
    }
  }

  #row(entry: SymbolEntry): SymbolState {
    const { venue, market } = this.#options;
    const facts = this.#options.describe?.(entry.symbol);
    const base = { venue, market, symbol: entry.symbol, lifecycleState: entry.state, lastError: entry.lastError };
    if (facts === undefined || facts.tickSize === undefined || facts.stepSize === undefined) return base;
    return { ...base, facts: { status: facts.status, tickSize: facts.tickSize, stepSize: facts.stepSize } };
  }
}
