/**
 * A klagg cluster of processes for tests and benchmarks (scale-out.md §5): ingest, aggregator, writer and stream
 * server roles, each `node src/cli/main.ts <role>` with one shared environment (namespace, partitions, streams,
 * timings), against a NATS cluster the caller started. Each role can be given its own NATS URLs (a TCP proxy in
 * front of each server, so one process's link can be cut). Plus the oracle: `klagg replay --system` of the same
 * recording into a database of its own, and row-for-row comparison.
 */
import type { IntervalName } from '../../src/domain/interval.ts';
import { allStoredKlines } from './stored-klines.ts';
import { startRoleProcess, type RoleProcess } from './role-process.ts';
import { createTestDatabase, type TestDatabase } from './postgres.ts';

export interface KlaggClusterOptions {
  /** Client URLs of every NATS server. */
  readonly natsUrls: readonly string[];
  readonly namespace: string;
  readonly partitions: number;
  readonly tradeStreams: number;
  readonly klineStreams: number;
  readonly replicas: number;
  readonly intervals: readonly IntervalName[];
  /** Extra environment for every role (timings: KLAGG_CLUSTER__DEAD_AFTER_MS, …). */
  readonly env?: Readonly<Record<string, string>>;
}

export const READY = (role: string): RegExp => new RegExp(`^klagg ${role} ready: `);

export class KlaggCluster {
  readonly options: KlaggClusterOptions;
  readonly processes: RoleProcess[] = [];

  constructor(options: KlaggClusterOptions) {
    this.options = options;
  }

  env(): Record<string, string> {
    const o = this.options;
    return {
      KLAGG_CLUSTER__NAMESPACE: o.namespace,
      KLAGG_CLUSTER__PARTITIONS: String(o.partitions),
      KLAGG_CLUSTER__TRADE_STREAMS: String(o.tradeStreams),
      KLAGG_CLUSTER__KLINE_STREAMS: String(o.klineStreams),
      KLAGG_CLUSTER__REPLICAS: String(o.replicas),
      KLAGG_INTERVALS: o.intervals.join(','),
      KLAGG_LOG__PRETTY: 'false',
      ...o.env,
    };
  }

  async #start(role: string, node: string, args: readonly string[], natsUrls?: readonly string[], ready = true): Promise<RoleProcess> {
    const process = await startRoleProcess({
      name: node,
      args: [role, '--node', node, '--nats', (natsUrls ?? this.options.natsUrls).join(','), ...args],
      env: this.env(),
    });
    this.processes.push(process);
    if (ready) await process.waitForLine(READY(role), 60_000);
    return process;
  }

  startAggregator(node: string, natsUrls?: readonly string[]): Promise<RoleProcess> {
    return this.#start('aggregate', node, [], natsUrls);
  }

  startWriter(node: string, databaseUrl: string, natsUrls?: readonly string[], extra: readonly string[] = []): Promise<RoleProcess> {
    return this.#start('write', node, ['--database-url', databaseUrl, ...extra], natsUrls);
  }

  startServe(node: string, databaseUrl: string, natsUrls?: readonly string[]): Promise<RoleProcess> {
    return this.#start('serve', node, ['--database-url', databaseUrl, '--port', '0'], natsUrls);
  }

  startIngest(node: string, input: string, options: { rate?: number; natsUrls?: readonly string[] } = {}): Promise<RoleProcess> {
    return this.#start('ingest', node, ['--input', input, ...(options.rate === undefined ? [] : ['--rate', String(options.rate)])], options.natsUrls);
  }

  /** A role's HTTP base URL (`http://host:port`), from its ready line. */
  static roleUrl(process: RoleProcess, role: string): string {
    const line = process.lines.find((l) => READY(role).test(l));
    const match = line?.match(/(http:\/\/[^\s/]+)\/health/);
    if (!match) throw new Error(`no URL in the ${role} ready line: ${line}`);
    return match[1]!;
  }

  /** The stream server's HTTP URL, from its ready line. */
  static serveUrl(serve: RoleProcess): string {
    return KlaggCluster.roleUrl(serve, 'serve');
  }

  async stop(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop().catch(() => undefined)));
  }
}

/** `klagg replay --system` of a recording into a fresh database: the oracle's rows (see allStoredKlines). */
export async function oracleRows(input: string, intervals: readonly IntervalName[]): Promise<{ rows: string[]; db: TestDatabase }> {
  const db = await createTestDatabase('klagg_oracle');
  const replay = await startRoleProcess({ name: 'oracle', args: ['replay', '--system', '--input', input, '--intervals', intervals.join(','), '--database-url', db.url], env: { KLAGG_LOG__LEVEL: 'warn' } });
  const exit = await replay.exited;
  if (exit.code !== 0) throw new Error(`replay --system failed (${JSON.stringify(exit)}); log ${replay.logPath}:\n${replay.tail(20)}`);
  return { rows: await allStoredKlines(db.url), db };
}

/** Rows that differ between two sorted row lists (by position and by key), for a readable failure. */
export function rowDifferences(expected: readonly string[], actual: readonly string[], max = 5): { count: number; examples: string[] } {
  const want = new Set(expected);
  const got = new Set(actual);
  const missing = expected.filter((row) => !got.has(row));
  const extra = actual.filter((row) => !want.has(row));
  return { count: Math.max(missing.length, extra.length), examples: [...missing.slice(0, max).map((r) => `- ${r}`), ...extra.slice(0, max).map((r) => `+ ${r}`)] };
}
