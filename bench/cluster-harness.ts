/**
 * What `npm run bench:cluster` (bench/cluster.ts) drives: klagg role processes on a NATS cluster the bench started,
 * and the bench's own eyes on it — every live kline message (arrival time, partition, epoch, position) and every
 * ownership record (`<ns>_own`) as the coordinator writes it — plus a paced market the bench publishes itself, so
 * the publish time of every trade is known. Nothing here asserts: the bench prints what it saw.
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { aggTradeFrame, decodeKlineBatch, type KlineBatchMessage } from '../src/domain/cluster-messages.ts';
import type { SymbolScales } from '../src/domain/kline-engine.ts';
import { ClusterNames, DEFAULT_LAYOUT, type ClusterLayout } from '../src/infra/nats/cluster-layout.ts';
import type { OwnershipPhase } from '../src/infra/nats/ownership-store.ts';
import { ensureTopology } from '../src/infra/nats/topology.ts';
import { TradeLogPublisher } from '../src/infra/nats/trade-log-publisher.ts';
import { startRoleProcess, type RoleProcess } from '../test/support/role-process.ts';

export const VENUE = 'binance';
/**
 * The test harness's own switches are `KLAGG_`-named but no setting: a role process inheriting one refuses to start
 * (unknown KLAGG_ variable), so they are removed from every child's environment.
 */
export const HARNESS_ENV = { KLAGG_KEEP_ROLE_LOGS: undefined, KLAGG_KEEP_NATS_DIRS: undefined } as const;
export const MARKET = 'usdm';

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  // Nearest rank: p99 of fewer than 100 samples is the maximum.
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every `everyMs` until it returns a value (not undefined); throws `what()` after `timeoutMs`. */
export async function waitFor<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs: number, what: () => string, everyMs = 50): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what()}`);
    await sleep(everyMs);
  }
}

/** One cluster namespace (its own streams and buckets on the shared servers), and the bench's connection to it. */
export class BenchNamespace {
  readonly names: ClusterNames;
  readonly urls: readonly string[];
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly ownership: KV;
  readonly coordinator: KV;
  readonly roles = new Set<RoleProcess>();
  readonly #ending = new WeakSet<RoleProcess>();
  readonly #lost: string[] = [];

  private constructor(names: ClusterNames, urls: readonly string[], nc: NatsConnection, jsm: JetStreamManager, ownership: KV, coordinator: KV) {
    this.names = names;
    this.urls = urls;
    this.nc = nc;
    this.js = jetstream(nc);
    this.jsm = jsm;
    this.ownership = ownership;
    this.coordinator = coordinator;
  }

  /** Creates the namespace's streams and buckets (as every role would) and connects the bench to them. */
  static async open(urls: readonly string[], layout: Partial<ClusterLayout> & { namespace: string }, coordinatorLeaseMs: number): Promise<BenchNamespace> {
    const names = new ClusterNames({ ...DEFAULT_LAYOUT, ...layout });
    const nc = await connect({ servers: [...urls], name: `klagg-bench-${layout.namespace}`, maxReconnectAttempts: -1, reconnectTimeWait: 100, timeout: 10_000 });
    try {
      const buckets = await ensureTopology(nc, names, { coordinatorLeaseMs });
      const jsm = await jetstreamManager(nc, { timeout: 10_000 });
      return new BenchNamespace(names, urls, nc, jsm, buckets.ownership, buckets.coordinator);
    } catch (error) {
      await nc.close();
      throw error;
    }
  }

  get namespace(): string {
    return this.names.layout.namespace;
  }

  /** Arguments every role of this namespace takes. */
  clusterArgs(node: string): string[] {
    const l = this.names.layout;
    return ['--nats', this.urls.join(','), '--namespace', l.namespace, '--partitions', String(l.partitions), '--replicas', String(l.replicas), '--node', node];
  }

  clusterEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
    const l = this.names.layout;
    return { ...HARNESS_ENV, KLAGG_CLUSTER__TRADE_STREAMS: String(l.tradeStreams), KLAGG_CLUSTER__KLINE_STREAMS: String(l.klineStreams), KLAGG_LOG__LEVEL: process.env.BENCH_ROLE_LOG_LEVEL ?? 'warn', ...extra };
  }

  /** Starts a role process and waits for its `klagg <role> ready` line. */
  async startRole(role: string, node: string, extraArgs: readonly string[], env: Record<string, string>, readyTimeoutMs = 60_000): Promise<RoleProcess> {
    const proc = await startRoleProcess({ args: [role, ...this.clusterArgs(node), ...extraArgs], env: this.clusterEnv(env), name: `${this.namespace}-${node}` });
    this.roles.add(proc);
    void proc.exited.then((exit) => {
      if (!this.#ending.has(proc) && !(role === 'ingest' && exit.code === 0)) this.#lost.push(`${node} (${role}, pid ${proc.pid}) exited on its own: code ${exit.code}, signal ${exit.signal}; log ${proc.logPath}`);
    });
    await proc.waitForLine(new RegExp(`^klagg ${role} ready`), readyTimeoutMs);
    return proc;
  }

  /** Sends a signal the bench means (a crash it injects); any other exit of a role is reported by assertRolesAlive. */
  kill(proc: RoleProcess, signal: NodeJS.Signals): void {
    this.#ending.add(proc);
    proc.kill(signal);
  }

  /**
   * Throws when a role process ended without the bench asking (on a shared machine something else may signal it):
   * waiting on would only end in a timeout that hides why.
   */
  assertRolesAlive(): void {
    if (this.#lost.length > 0) throw new Error(`a role process of ${this.namespace} ended unexpectedly: ${this.#lost.join('; ')}`);
  }

  /** The node holding the coordinator lease now, if any. */
  async coordinatorNode(): Promise<string | undefined> {
    const entry = await this.coordinator.get('coord').catch(() => null);
    if (entry === null || entry.operation !== 'PUT' || entry.length === 0) return undefined;
    return (entry.json() as { node?: string }).node;
  }

  /** Message and byte counts of the trade streams. */
  async tradeStreamTotals(): Promise<{ messages: number; bytes: number }> {
    let messages = 0;
    let bytes = 0;
    for (let i = 0; i < this.names.layout.tradeStreams; i++) {
      const info = await this.jsm.streams.info(this.names.tradeStream(i));
      messages += info.state.messages;
      bytes += info.state.bytes;
    }
    return { messages, bytes };
  }

  /** Stops every role process of the namespace, then deletes its streams and buckets (the servers stay). */
  async close(): Promise<void> {
    for (const role of this.roles) this.#ending.add(role);
    await Promise.all([...this.roles].map((role) => role.stop(5_000).catch(() => undefined)));
    this.roles.clear();
    try {
      const NS = this.namespace.toUpperCase().replace(/-/g, '_');
      const mine: string[] = [];
      for await (const name of this.jsm.streams.names()) if (name.startsWith(`${NS}_`) || name.startsWith(`KV_${this.namespace}_`)) mine.push(name);
      for (const name of mine) await this.jsm.streams.delete(name).catch(() => undefined);
    } finally {
      await this.nc.close();
    }
  }
}

interface EpochSpan {
  first: number;
  last: number;
  count: number;
}

/** Every live kline message of a namespace as the bench receives it: when, which partition, which epoch. */
export class LiveRecorder {
  readonly #spans = new Map<number, Map<number, EpochSpan>>();
  readonly #subscription: Subscription;
  readonly #positions = new Map<number, number>();
  messages = 0;
  onBatch: ((batch: KlineBatchMessage, at: number) => void) | undefined;

  constructor(ns: BenchNamespace) {
    this.#subscription = ns.nc.subscribe(`${ns.namespace}.kl.live.>`, {
      callback: (error, msg) => {
        if (error) return;
        const at = performance.now();
        const batch = decodeKlineBatch(msg.data);
        if (batch === null) return;
        this.messages++;
        let epochs = this.#spans.get(batch.partition);
        if (epochs === undefined) this.#spans.set(batch.partition, (epochs = new Map()));
        const span = epochs.get(batch.epoch);
        if (span === undefined) epochs.set(batch.epoch, { first: at, last: at, count: 1 });
        else {
          span.last = at;
          span.count++;
        }
        if (batch.position > (this.#positions.get(batch.partition) ?? 0)) this.#positions.set(batch.partition, batch.position);
        this.onBatch?.(batch, at);
      },
    });
  }

  span(partition: number, epoch: number): EpochSpan | undefined {
    return this.#spans.get(partition)?.get(epoch);
  }

  /** The first arrival of any epoch newer than `epoch` (a new owner's first output). */
  firstAfterEpoch(partition: number, epoch: number): number | undefined {
    let first: number | undefined;
    for (const [e, span] of this.#spans.get(partition) ?? []) if (e > epoch && (first === undefined || span.first < first)) first = span.first;
    return first;
  }

  /** Highest log position a live message of the partition covered. */
  position(partition: number): number {
    return this.#positions.get(partition) ?? 0;
  }

  close(): void {
    this.#subscription.unsubscribe();
  }
}

export interface OwnershipEvent {
  readonly partition: number;
  readonly node: string;
  readonly phase: OwnershipPhase;
  readonly next?: string;
  readonly revision: number;
  readonly at: number;
}

/** The ownership records (`own.<p>`) as they change, with the bench's arrival time of each. */
export class OwnershipWatch {
  readonly current = new Map<number, OwnershipEvent>();
  readonly history: OwnershipEvent[] = [];
  #stop: (() => void) | undefined;

  static async start(ns: BenchNamespace): Promise<OwnershipWatch> {
    const watch = new OwnershipWatch();
    const iterator = await ns.ownership.watch({ key: 'own.>' });
    watch.#stop = () => iterator.stop();
    void (async () => {
      for await (const entry of iterator) {
        if (entry.operation !== 'PUT') continue;
        const record = entry.json() as { node: string; phase: OwnershipPhase; next?: string };
        const event: OwnershipEvent = { partition: Number(entry.key.slice(entry.key.indexOf('.') + 1)), node: record.node, phase: record.phase, next: record.next, revision: entry.revision, at: performance.now() };
        watch.current.set(event.partition, event);
        watch.history.push(event);
      }
    })().catch(() => undefined);
    return watch;
  }

  /** Partitions per node among active records. */
  loads(): Map<string, number> {
    const loads = new Map<string, number>();
    for (const r of this.current.values()) if (r.phase === 'active') loads.set(r.node, (loads.get(r.node) ?? 0) + 1);
    return loads;
  }

  stop(): void {
    this.#stop?.();
  }
}

/**
 * Waits until the namespace is at rest with exactly `nodes` as owners: every partition active, the counts per node
 * within one of each other, every partition's current owner heard on kl.live, and nothing changed for `quietMs`.
 */
export async function waitSettled(ns: BenchNamespace, own: OwnershipWatch, live: LiveRecorder, nodes: readonly string[], timeoutMs: number, quietMs = 1500): Promise<void> {
  let stableSince = 0;
  let signature = '';
  const P = ns.names.layout.partitions;
  await waitFor(
    () => {
      const loads = own.loads();
      const counts = nodes.map((n) => loads.get(n) ?? 0);
      let ok = own.current.size === P && counts.reduce((a, b) => a + b, 0) === P && Math.max(...counts) - Math.min(...counts) <= 1;
      for (const r of own.current.values()) if (ok && (r.phase !== 'active' || live.span(r.partition, r.revision) === undefined)) ok = false;
      ns.assertRolesAlive();
      const now = performance.now();
      const sig = [...own.current.values()].map((r) => `${r.partition}@${r.revision}`).join(',');
      if (!ok) {
        stableSince = 0;
        return undefined;
      }
      if (sig !== signature || stableSince === 0) {
        signature = sig;
        stableSince = now;
        return undefined;
      }
      return now - stableSince >= quietMs ? true : undefined;
    },
    timeoutMs,
    () => `namespace ${ns.namespace} did not settle on ${nodes.join(', ')}: loads ${JSON.stringify(Object.fromEntries(own.loads()))}, ${[...own.current.values()].filter((r) => r.phase !== 'active').length} partitions not active`,
    100,
  );
}

/** Symbol names chosen so that every partition holds `perPartition` of them. */
export function symbolsCoveringPartitions(names: ClusterNames, perPartition: number, prefix = 'BX'): string[] {
  const P = names.layout.partitions;
  const counts = new Array<number>(P).fill(0);
  const chosen: string[] = [];
  for (let i = 0; chosen.length < P * perPartition; i++) {
    const symbol = `${prefix}${i}USDT`;
    const p = names.partitionOf(VENUE, MARKET, symbol);
    if (counts[p]! < perPartition) {
      counts[p]!++;
      chosen.push(symbol);
    }
  }
  return chosen;
}

/**
 * A steady market published by the bench itself through klagg's TradeLogPublisher (one unacknowledged batch per
 * symbol, as ingest does): `rate` trades per second round-robin over the symbols (so every partition gets the same
 * share), trade time = wall time, and a watermark to every partition every 500 ms.
 */
export class PacedMarket {
  readonly publisher: TradeLogPublisher;
  readonly symbols: readonly string[];
  readonly #scales: SymbolScales = { priceScale: 2, qtyScale: 3 };
  readonly #rate: number;
  readonly #next = new Map<string, number>();
  readonly #price = new Map<string, number>();
  #sent = 0;
  #cursor = 0;
  #started = 0;
  #timer: NodeJS.Timeout | null = null;
  #wmTimer: NodeJS.Timeout | null = null;
  #watermarking: Promise<void> | null = null;
  #maxTime = 0;
  /** Called for each trade as it is handed to the publisher (symbol, raw trade id, performance.now()). */
  onTrade: ((symbol: string, tradeId: number, at: number) => void) | undefined;

  constructor(ns: BenchNamespace, symbols: readonly string[], rate: number) {
    this.symbols = symbols;
    this.#rate = rate;
    this.publisher = new TradeLogPublisher({ js: ns.js, names: ns.names, venue: VENUE, market: MARKET, ingestId: 'bench' });
    for (const s of symbols) {
      this.#next.set(s, 1);
      this.#price.set(s, 10_000);
    }
  }

  get sent(): number {
    return this.#sent;
  }

  start(): void {
    this.#started = performance.now();
    this.#timer = setInterval(() => this.#pump(), 10);
    this.#wmTimer = setInterval(() => this.#watermark(), 500);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#wmTimer) clearInterval(this.#wmTimer);
    this.#timer = this.#wmTimer = null;
    await this.#watermarking;
    this.publisher.close();
  }

  #pump(): void {
    const due = Math.floor(((performance.now() - this.#started) / 1000) * this.#rate) - this.#sent;
    const now = Date.now();
    for (let i = 0; i < due; i++) {
      const symbol = this.symbols[this.#cursor++ % this.symbols.length]!;
      const id = this.#next.get(symbol)!;
      this.#next.set(symbol, id + 1);
      const price = Math.max(100, this.#price.get(symbol)! + ((id * 7919) % 11) - 5);
      this.#price.set(symbol, price);
      const frame = aggTradeFrame(symbol, { symbol, aggId: id, price: (price / 100).toFixed(2), qty: (1 + (id % 7) / 4).toFixed(3), firstTradeId: id, lastTradeId: id, tradeTime: now, buyerIsMaker: id % 2 === 0 });
      this.onTrade?.(symbol, id, performance.now());
      this.publisher.enqueue(symbol, this.#scales, id, frame);
      this.#sent++;
    }
    this.#maxTime = now;
  }

  #watermark(): void {
    if (this.#watermarking !== null || this.#maxTime === 0) return;
    const wm = this.#maxTime;
    this.#watermarking = this.publisher
      .whenAcked()
      .then(() => this.publisher.publishWatermark(wm))
      .catch(() => undefined)
      .finally(() => (this.#watermarking = null));
  }
}

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the command: state is field 3, utime 14, stime 15 (1-based over the whole line).
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
