/**
 * Time to recover from each fault, measured from outside the service, on what it stores.
 *
 * One definition for every fault: a fault has an end (a stall's or lag's window over, the last skipped or withheld
 * trade published, the PostgreSQL link restored, the killed service started again…); at that end the exchange's last
 * trade id of every affected symbol is taken as the target; the fault is recovered once the store holds, for every
 * affected symbol, a kline whose last aggregate id reaches the target (the service applies a symbol's trades in id
 * order and repairs a gap before anything after it, so that means every trade published by the fault's end is stored),
 * and any extra condition of the fault holds (after a restart: /health says ok). Recovery time = recovered − end, so it
 * includes the DB writer's flush (≤ 1 s with the default configuration).
 *
 * The store is read over a direct connection, not through the proxy the service uses (so the outage does not hide it).
 */
import pg from 'pg';

export interface FaultRecord {
  /** The kind in the report (a fault type, `stall@minute` for one across a period end, `db outage`, `sigkill`). */
  readonly kind: string;
  readonly injectedAt: number;
  /** The affected symbols; their targets are read at the end. */
  readonly symbols: readonly string[];
  /** The time the fault ended, once it has (undefined while it lasts). */
  readonly endedAt: () => number | undefined;
  /** Another condition of recovery (checked once the store has caught up). */
  readonly extra?: () => Promise<boolean>;
  endAt?: number;
  targets?: Map<string, { aggId: number; time: number }>;
  recoveredAt?: number;
  /** Gave up waiting (`timeoutMs` after its end). */
  timedOut?: boolean;
}

export interface ExchangePositions {
  /** The symbol's last published trade (id and time), undefined when it has none. */
  lastTrade(symbol: string): { aggId: number; time: number } | undefined;
}

export class RecoveryTracker {
  readonly records: FaultRecord[] = [];
  readonly #client: pg.Client;
  readonly #exchange: ExchangePositions;
  readonly #timeoutMs: number;
  #timer: NodeJS.Timeout | undefined;
  #busy = false;

  private constructor(client: pg.Client, exchange: ExchangePositions, timeoutMs: number) {
    this.#client = client;
    this.#exchange = exchange;
    this.#timeoutMs = timeoutMs;
  }

  static async start(directUrl: string, exchange: ExchangePositions, timeoutMs: number): Promise<RecoveryTracker> {
    const client = new pg.Client({ connectionString: directUrl });
    client.on('error', () => {});
    await client.connect();
    const tracker = new RecoveryTracker(client, exchange, timeoutMs);
    tracker.#timer = setInterval(() => void tracker.check(), 500);
    return tracker;
  }

  add(record: FaultRecord): FaultRecord {
    this.records.push(record);
    return record;
  }

  /** Faults that have ended and are neither recovered nor given up on. */
  get pending(): number {
    return this.records.filter((r) => r.endAt !== undefined && r.recoveredAt === undefined && r.timedOut !== true).length;
  }

  /** One round: ends noted (targets taken), then the store compared with the targets of every ended fault. */
  async check(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const now = Date.now();
      const open = this.records.filter((r) => r.recoveredAt === undefined && r.timedOut !== true);
      for (const record of open) {
        if (record.endAt !== undefined) continue;
        const end = record.endedAt();
        if (end === undefined || end > now) continue;
        record.endAt = end;
        record.targets = new Map();
        for (const symbol of record.symbols) {
          const last = this.#exchange.lastTrade(symbol);
          if (last !== undefined) record.targets.set(symbol, last);
        }
      }
      const ended = open.filter((r) => r.endAt !== undefined);
      if (ended.length === 0) return;
      const positions = await this.storedPositions(ended.flatMap((r) => [...r.targets!.entries()]));
      for (const record of ended) {
        const caughtUp = [...record.targets!].every(([symbol, target]) => (positions.get(symbol) ?? -1) >= target.aggId);
        if (caughtUp && (record.extra === undefined || (await record.extra()))) record.recoveredAt = Date.now();
        else if (Date.now() - record.endAt! > this.#timeoutMs) record.timedOut = true;
      }
    } catch {
      // The next round tries again (a slow query, the server busy).
    } finally {
      this.#busy = false;
    }
  }

  /**
   * Per symbol, the highest aggregate id stored in a kline of any interval whose period ends after the oldest
   * target's time. Any interval: klines made from the exchange's klines (backfill, rebuild) carry no ids, and a join
   * mid-period composes the open periods with its position as their last id — the 1m kline alone can miss it.
   */
  async storedPositions(targets: readonly [string, { aggId: number; time: number }][]): Promise<Map<string, number>> {
    if (targets.length === 0) return new Map();
    const symbols = [...new Set(targets.map(([symbol]) => symbol))];
    const since = Math.min(...targets.map(([, t]) => t.time));
    const result = await this.#client.query<{ symbol: string; p: string }>(
      `select symbol, max(last_agg_id)::text as p from klines where venue = 'binance' and market = 'usdm' and close_time >= $1 and symbol = any($2) group by symbol`,
      [since, symbols],
    );
    return new Map(result.rows.map((row) => [row.symbol, Number(row.p)]));
  }

  /** Waits until no fault is pending (recovered or timed out), or `ms` have passed. */
  async settle(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.pending > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    while (this.#busy) await new Promise((resolve) => setTimeout(resolve, 20));
    await this.#client.end();
  }
}
