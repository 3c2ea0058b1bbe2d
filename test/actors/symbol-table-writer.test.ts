/**
 * SymbolTableWriter against a real registry (@xstate/store) and the real databases (PostgreSQL and the embedded
 * PGlite, through `openDatabase`): what the registry says ends up in the symbols table, bursts are coalesced to at
 * most one write per symbol per interval, the last state is never lost, and a failed write is retried.
 */
import t from 'tap';
import { createSymbolRegistry, type SymbolRegistry } from '../../src/actors/symbol-registry.ts';
import { SymbolTableWriter, type SymbolFacts } from '../../src/actors/symbol-table-writer.ts';
import type { SymbolLifecycleState } from '../../src/machines/symbol-lifecycle.ts';
import { SymbolStore, type SymbolState } from '../../src/infra/db/symbol-store.ts';
import { BACKENDS, createBackend } from '../infra/db/backends.ts';

const VENUE = 'binance';
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const FACTS: Record<string, SymbolFacts> = {
  BTCUSDT: { status: 'TRADING', tickSize: '0.10', stepSize: '0.001' },
  ETHUSDT: { status: 'TRADING', tickSize: '0.01', stepSize: '0.001' },
};

function change(registry: SymbolRegistry, symbol: string, state: SymbolLifecycleState, lastError: string | null = null): void {
  registry.trigger.lifecycleChanged({ symbol, state, worker: 0, attempts: 0, lastError, at: Date.now() });
}

/** The real store, with every call's rows recorded (and an optional failure injected before the real call). */
class RecordingStore {
  readonly calls: SymbolState[][] = [];
  failNext = 0;
  readonly #store: SymbolStore;
  constructor(store: SymbolStore) {
    this.#store = store;
  }
  async saveStates(rows: readonly SymbolState[]): Promise<number> {
    this.calls.push([...rows]);
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('injected: database unavailable');
    }
    return this.#store.saveStates(rows);
  }
  writesOf(symbol: string): number {
    return this.calls.filter((rows) => rows.some((row) => row.symbol === symbol)).length;
  }
}

for (const kind of BACKENDS) {
  t.test(kind, async (t) => {
    const backend = await createBackend(kind, 'klagg_symbol_writer');
    t.teardown(() => backend.destroy());
    const handle = await backend.open();
    t.teardown(() => handle.close());
    const symbols = new SymbolStore(handle.db);
    let marketNo = 0;
    /** Each test its own market, so they share the database without seeing each other's rows. */
    const setup = (intervalMs: number, describe: (symbol: string) => SymbolFacts | undefined = (s) => FACTS[s]) => {
      const market = `m${++marketNo}`;
      const registry = createSymbolRegistry();
      const store = new RecordingStore(symbols);
      const writer = new SymbolTableWriter({ registry, store, venue: VENUE, market, describe, intervalMs });
      const stored = async () => (await symbols.list(VENUE, market)).map(({ updatedAt, venue, market, ...rest }) => rest);
      return { market, registry, store, writer, stored };
    };

    t.test('the registry’s symbols, with their exchange facts, are written; also those present before start', async (t) => {
      const { registry, writer, stored } = setup(50);
      change(registry, 'BTCUSDT', 'Active');
      writer.start();
      change(registry, 'ETHUSDT', 'Failed', 'activation failed 5 times: timeout');
      await wait(150);
      t.same(await stored(), [
        { symbol: 'BTCUSDT', status: 'TRADING', tickSize: '0.10', stepSize: '0.001', lifecycleState: 'Active', lastError: null },
        { symbol: 'ETHUSDT', status: 'TRADING', tickSize: '0.01', stepSize: '0.001', lifecycleState: 'Failed', lastError: 'activation failed 5 times: timeout' },
      ]);
      await writer.stop();
    });

    t.test('a burst is coalesced: at most one write per interval, and the last state is the one stored', async (t) => {
      const { registry, store, writer, stored } = setup(400);
      writer.start();
      const started = performance.now();
      // 25 changes over ~1 s, each to a state not stored yet (attempt n's error): without coalescing, 25 writes.
      for (let i = 0; i < 24; i++) {
        change(registry, 'BTCUSDT', 'Activating', `attempt ${i} failed`);
        await wait(40);
      }
      change(registry, 'BTCUSDT', 'Active');
      const elapsed = performance.now() - started;
      await wait(500);
      const writes = store.writesOf('BTCUSDT');
      t.ok(writes >= 3, `changes kept being written during the burst (${writes} writes)`);
      t.ok(writes <= Math.ceil(elapsed / 400) + 2, `${writes} writes in ${Math.round(elapsed)} ms at one per 400 ms`);
      t.same((await stored()).map((s) => [s.lifecycleState, s.lastError]), [['Active', null]], 'the last state is stored');
      await writer.stop();
    });

    t.test('changes that touch nothing stored (trade times) write nothing', async (t) => {
      const { registry, store, writer } = setup(20);
      writer.start();
      change(registry, 'BTCUSDT', 'Active');
      await wait(100);
      const before = store.calls.length;
      for (let i = 0; i < 10; i++) {
        registry.trigger.tradesSeen({ lastTradeTimes: { BTCUSDT: 1_000 + i } });
        await wait(10);
      }
      await wait(100);
      t.equal(store.calls.length, before, 'no write for trade-time updates');
      await writer.stop();
    });

    t.test('stop writes what is pending at once (a long interval does not lose the last state)', async (t) => {
      const { registry, store, writer, stored } = setup(60_000);
      writer.start();
      change(registry, 'BTCUSDT', 'Activating');
      await wait(50); // the leading write
      change(registry, 'BTCUSDT', 'Active'); // within the interval: held back
      await wait(50);
      t.equal(store.writesOf('BTCUSDT'), 1, 'held back within the interval');
      await writer.stop();
      t.same((await stored()).map((s) => s.lifecycleState), ['Active'], 'written by stop');
      change(registry, 'BTCUSDT', 'Failed', 'after stop');
      await wait(50);
      t.same((await stored()).map((s) => s.lifecycleState), ['Active'], 'nothing after stop');
    });

    t.test('a failed write is retried with the state current by then', async (t) => {
      const { registry, store, writer, stored } = setup(100);
      store.failNext = 1;
      writer.start();
      change(registry, 'BTCUSDT', 'Activating');
      await wait(30);
      t.equal(writer.stats.failures, 1, 'the first write failed');
      change(registry, 'BTCUSDT', 'Active');
      await wait(300);
      t.same((await stored()).map((s) => s.lifecycleState), ['Active']);
      t.equal(writer.stats.failures, 1);
      await writer.stop();
    });

    t.test('without exchange facts: an existing row’s lifecycle is updated, no row is invented', async (t) => {
      const { market, registry, writer, stored } = setup(20, () => undefined);
      await symbols.upsert([{ venue: VENUE, market, symbol: 'BTCUSDT', ...FACTS['BTCUSDT']!, tickSize: '0.10', stepSize: '0.001' }]);
      writer.start();
      change(registry, 'BTCUSDT', 'Failed', 'boom');
      change(registry, 'DOGEUSDT', 'Active');
      await writer.flush();
      t.same(await stored(), [{ symbol: 'BTCUSDT', status: 'TRADING', tickSize: '0.10', stepSize: '0.001', lifecycleState: 'Failed', lastError: 'boom' }]);
      await writer.stop();
    });
  });
}
