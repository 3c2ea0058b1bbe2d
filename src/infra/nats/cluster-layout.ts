/**
 * The names a klagg cluster uses on NATS: subjects, streams and KV buckets, all under one namespace so several
 * clusters (or test runs) can share a server. Trades are partitioned at publish time by the stable instrument hash
 * (FNV-1a over venue‖market‖symbol, the server's `partition()` function), and the partitions are spread over several
 * streams because one stream has one Raft leader, which is its throughput ceiling (scale-out.md §1.1).
 */
import { stableHash } from '../../domain/partition.ts';
import { KlaggError } from '../../domain/errors.ts';

export interface ClusterLayout {
  /** Prefix of every subject, stream and bucket (lower-case letters, digits, '_' or '-'). */
  readonly namespace: string;
  /** Fixed virtual partitions; changing it is a migration (new streams), so pick it once. */
  readonly partitions: number;
  /** Streams the trade partitions are spread over (partitions must be a multiple of it). */
  readonly tradeStreams: number;
  /** Streams the durable kline batches are spread over. */
  readonly klineStreams: number;
  /** Stream and bucket replicas: 1 on a single server, 3 on a cluster. */
  readonly replicas: number;
  /** How long raw trades stay in the log: the longest an aggregator may lag or replay. */
  readonly tradeMaxAgeMs: number;
  /** How long kline batches wait for the writers: the database-outage budget. */
  readonly klineMaxAgeMs: number;
  /** Window in which a retried publish with the same message id is stored once. */
  readonly duplicateWindowMs: number;
}

export const DEFAULT_LAYOUT: ClusterLayout = {
  namespace: 'klagg',
  partitions: 256,
  tradeStreams: 16,
  klineStreams: 4,
  replicas: 1,
  tradeMaxAgeMs: 6 * 3600_000,
  klineMaxAgeMs: 72 * 3600_000,
  duplicateWindowMs: 60_000,
};

/** Tokens that are not symbols in a trade subject: a watermark, the end of a recording. */
export const WATERMARK_TOKEN = '_wm';
export const END_TOKEN = '_end';

export function checkLayout(layout: ClusterLayout): ClusterLayout {
  const bad = (what: string): never => {
    throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: `cluster layout: ${what}` });
  };
  if (!/^[a-z0-9_-]+$/.test(layout.namespace)) bad(`namespace must be lower-case letters, digits, '_' or '-', got ${JSON.stringify(layout.namespace)}`);
  for (const key of ['partitions', 'tradeStreams', 'klineStreams', 'replicas'] as const) {
    if (!Number.isInteger(layout[key]) || layout[key] < 1) bad(`${key} must be a whole number ≥ 1, got ${layout[key]}`);
  }
  if (layout.partitions % layout.tradeStreams !== 0) bad(`partitions (${layout.partitions}) must be a multiple of tradeStreams (${layout.tradeStreams})`);
  if (layout.partitions % layout.klineStreams !== 0) bad(`partitions (${layout.partitions}) must be a multiple of klineStreams (${layout.klineStreams})`);
  return layout;
}

/** A symbol's partition: FNV-1a 32 over the concatenated tokens, as nats-server's `partition(n, …)` computes it. */
export function clusterPartitionOf(layout: ClusterLayout, venue: string, market: string, symbol: string): number {
  return stableHash(venue + market + symbol) % layout.partitions;
}

/** Subject tokens must not hold '.', '*', '>' or whitespace. */
export function checkToken(token: string): string {
  if (token.length === 0 || /[.*>\s]/.test(token)) throw new KlaggError('KLAGG_ERR_SYSTEM_INVARIANT', { what: `${JSON.stringify(token)} cannot be a NATS subject token` });
  return token;
}

const pad = (n: number): string => String(n).padStart(2, '0');

export class ClusterNames {
  readonly layout: ClusterLayout;
  readonly #ns: string;
  readonly #NS: string;

  constructor(layout: ClusterLayout) {
    this.layout = checkLayout(layout);
    this.#ns = layout.namespace;
    this.#NS = layout.namespace.toUpperCase().replace(/-/g, '_');
  }

  partitionOf(venue: string, market: string, symbol: string): number {
    return clusterPartitionOf(this.layout, venue, market, symbol);
  }

  // Trades
  tradeStream(index: number): string {
    return `${this.#NS}_TRADES_${pad(index)}`;
  }
  tradeStreamOf(partition: number): string {
    return this.tradeStream(Math.floor(partition / (this.layout.partitions / this.layout.tradeStreams)));
  }
  /** The partitions a trade stream holds. */
  tradePartitions(index: number): number[] {
    const per = this.layout.partitions / this.layout.tradeStreams;
    return Array.from({ length: per }, (_, i) => index * per + i);
  }
  tradeSubject(partition: number, venue: string, market: string, symbol: string): string {
    return `${this.#ns}.trd.${partition}.${venue}.${market}.${checkToken(symbol)}`;
  }
  watermarkSubject(partition: number, venue: string, market: string): string {
    return `${this.#ns}.trd.${partition}.${venue}.${market}.${WATERMARK_TOKEN}`;
  }
  endSubject(partition: number, venue: string, market: string): string {
    return `${this.#ns}.trd.${partition}.${venue}.${market}.${END_TOKEN}`;
  }
  /** Everything of one partition (one ordered consumer's filter). */
  partitionFilter(partition: number): string {
    return `${this.#ns}.trd.${partition}.>`;
  }

  // Klines
  klineStream(index: number): string {
    return `${this.#NS}_KLINES_${pad(index)}`;
  }
  klineStreamOf(partition: number): string {
    return this.klineStream(Math.floor(partition / (this.layout.partitions / this.layout.klineStreams)));
  }
  klinePartitions(index: number): number[] {
    const per = this.layout.partitions / this.layout.klineStreams;
    return Array.from({ length: per }, (_, i) => index * per + i);
  }
  durableKlineSubject(partition: number): string {
    return `${this.#ns}.kl.db.${partition}`;
  }
  liveKlineSubject(partition: number, venue: string, market: string, symbol: string): string {
    return `${this.#ns}.kl.live.${partition}.${venue}.${market}.${symbol}`;
  }
  /** Every live kline of a venue-market (a stream server's subscription; no hash needed). */
  liveKlineWildcard(venue: string, market: string): string {
    return `${this.#ns}.kl.live.*.${venue}.${market}.*`;
  }

  // Control
  heartbeatSubject(role: string, node: string): string {
    return `${this.#ns}.hb.${role}.${checkToken(node)}`;
  }
  heartbeatWildcard(role: string): string {
    return `${this.#ns}.hb.${role}.*`;
  }
  get ownershipBucket(): string {
    return `${this.#ns}_own`;
  }
  get checkpointBucket(): string {
    return `${this.#ns}_ckpt`;
  }
  get coordinatorBucket(): string {
    return `${this.#ns}_coord`;
  }
  get symbolsBucket(): string {
    return `${this.#ns}_symbols`;
  }
  ownershipKey(partition: number): string {
    return `own.${partition}`;
  }
  checkpointKey(partition: number): string {
    return `ckpt.${partition}`;
  }
}
