/**
 * The configuration schema: the one source of truth for klagg's settings, their defaults (SYSTEM.md's) and their
 * limits. `KlaggConfig` is inferred from it; the environment-variable names and the coercion of environment strings
 * are derived from it too (see load-config.ts), so a setting added here is configurable everywhere at once.
 *
 * Every constraint carries a message that says what is expected ("must be an integer from 1 to 64"); the loader
 * appends what it got and where it came from. Objects are strict: an unknown key is an error, never silently ignored.
 */
import { z } from 'zod';
import { DEFAULT_INTERVALS, INTERVALS } from '../../domain/interval.ts';
import { isAddressOrBlock } from '../http/admin-access.ts';

/** pino's levels plus `silent`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Settings whose values are never echoed in an error message. */
export const SECRET_PATHS: ReadonlySet<string> = new Set(['adminToken']);
/** URL settings that may carry a password; an error message shows them with the password masked. */
export const CREDENTIAL_URL_PATHS: ReadonlySet<string> = new Set(['database.url']);

/** An integer in [min, max], with one message for every way of missing it (wrong type, fraction, out of range). */
function int(min: number, max: number, expectation = `must be an integer from ${min} to ${max}`) {
  return z.int({ error: expectation }).min(min, { error: expectation }).max(max, { error: expectation });
}

function nonEmptyString(expectation = 'must be a non-empty string') {
  return z.string({ error: expectation }).min(1, { error: expectation });
}

function hasProtocol(value: string, protocols: readonly string[]): boolean {
  try {
    return protocols.includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

/** A URL string whose scheme is one of `protocols` (given with their colon, as `URL#protocol` reports them). */
function url(protocols: readonly string[]) {
  const expectation = `must be a ${protocols.map((p) => `${p}//`).join(' or ')} URL`;
  return z.string({ error: expectation }).refine((value) => hasProtocol(value, protocols), { error: expectation });
}

function section<Shape extends z.ZodRawShape>(shape: Shape) {
  return z.strictObject(shape, { error: 'must be an object' });
}

/** Extra data on a cross-field issue: the same conflict described from the other field's side, used when the field the
 * issue is filed under still has its default and the other one is what the user actually set. */
export interface RelatedIssueParams {
  readonly related: { readonly path: readonly string[]; readonly message: string; readonly input: unknown };
}

/**
 * Files an issue when `low` is not below `high` (or not at most `high` when `strict` is false), under the `low` field,
 * with the mirrored description attached for the loader (see RelatedIssueParams).
 */
function requireOrder<T extends Record<string, unknown>>(
  sectionName: string,
  lowKey: keyof T & string,
  highKey: keyof T & string,
  strict: boolean,
) {
  return (value: T, ctx: z.RefinementCtx<T>): void => {
    const low = value[lowKey] as number;
    const high = value[highKey] as number;
    if (strict ? low < high : low <= high) return;
    const params: RelatedIssueParams = {
      related: {
        path: [sectionName, highKey],
        message: `must be ${strict ? 'greater than' : 'at least'} ${sectionName}.${lowKey} (${low})`,
        input: high,
      },
    };
    ctx.addIssue({
      code: 'custom',
      path: [lowKey],
      message: `must be ${strict ? 'less than' : 'at most'} ${sectionName}.${highKey} (${high})`,
      input: low,
      params: params as unknown as Record<string, unknown>,
    });
  };
}

const intervalExpectation = `must be one of ${INTERVALS.join(' ')} (1m is a minute, 1M a month)`;

const intervals = z
  .array(z.enum(INTERVALS, { error: intervalExpectation }), { error: 'must be a list of intervals' })
  .min(1, { error: 'must list at least one interval' })
  .superRefine((list, ctx) => {
    list.forEach((name, index) => {
      const first = list.indexOf(name);
      if (first !== index) ctx.addIssue({ code: 'custom', path: [index], message: `repeats ${name} (already intervals[${first}])`, input: name });
    });
  })
  .default(() => [...DEFAULT_INTERVALS]);

const database = section({
  /** postgres:// or postgresql:// URL; absent means the embedded PGlite database at `dataDir`. */
  url: url(['postgres:', 'postgresql:']).optional(),
  dataDir: nonEmptyString().default('./data'),
}).prefault({});

const workers = section({
  count: int(1, 64).default(2),
  /** Fixed number of partitions (stable hash of the instrument key); workers own sets of partitions. */
  partitions: int(16, 4096, 'must be a power of two from 16 to 4096')
    .refine((n) => (n & (n - 1)) === 0, { error: 'must be a power of two from 16 to 4096' })
    .default(256),
  /**
   * Run workers in worker threads, each owning the exchange connections of its symbols (per-worker I/O): reading,
   * parsing and aggregation on every core. Measured on 2 cores: 451k trades/s with, 181k without (`npm run bench`).
   */
  threads: z.boolean({ error: 'must be true or false' }).default(true),
}).prefault({});

const engine = section({
  /** How long after a period's close time a quiet symbol's kline is finalised by the clock. */
  graceMs: int(0, 60_000).default(1000),
}).prefault({});

const gateway = section({
  // Open updates wait for the next pull: 250 ms (Binance's own push cadence) measured open-update p99 ~290–350 ms with
  // 500 clients, against ~540–650 ms at 500 ms; 100 ms gained nothing more (the 250 ms stream throttle decides) for
  // three times the CPU. Finals do not wait for it (a worker with finals asks for a pull at once).
  pullIntervalMs: int(10, 60_000).default(250),
  pullTimeoutMs: int(1, 60_000).default(200),
  /** Consecutive pull timeouts of one worker that raise an error in health. */
  timeoutAlertThreshold: int(1, 1000).default(5),
})
  .superRefine(requireOrder('gateway', 'pullTimeoutMs', 'pullIntervalMs', true))
  .prefault({});

const dispatcher = section({
  queueCapacity: int(1, 1_000_000).default(2048),
  maxRetries: int(0, 100).default(5),
  retryDelayMs: int(0, 600_000).default(1000),
}).prefault({});

const dbWriter = section({
  /** Final klines must be stored within 1 s, so the flush interval cannot exceed it. */
  flushIntervalMs: int(10, 1000).default(1000),
  maxBatchRows: int(1, 100_000).default(5000),
  backoffInitialMs: int(1, 600_000).default(250),
  backoffMaxMs: int(1, 3_600_000).default(30_000),
  /** Rows held while the database is slow or down before the writer raises the alarm (finals are never dropped). */
  maxBufferedRows: int(1000, 100_000_000).default(1_000_000),
})
  .superRefine(requireOrder('dbWriter', 'backoffInitialMs', 'backoffMaxMs', false))
  .superRefine(requireOrder('dbWriter', 'maxBatchRows', 'maxBufferedRows', false))
  .prefault({});

const clock = section({
  // Quiet periods close at the first tick past close + grace: 100 ms keeps that within a tenth of a second of due.
  tickIntervalMs: int(10, 60_000).default(100),
  timeSyncIntervalMs: int(1000, 86_400_000).default(60_000),
}).prefault({});

const watchdog = section({
  checkIntervalMs: int(10, 60_000).default(1000),
  silenceMs: int(1000, 3_600_000).default(30_000),
})
  .superRefine(requireOrder('watchdog', 'checkIntervalMs', 'silenceMs', true))
  .prefault({});

const exchange = section({
  restBaseUrl: url(['https:', 'http:']).default('https://fapi.binance.com'),
  wsBaseUrl: url(['wss:', 'ws:']).default('wss://fstream.binance.com'),
  /** Share of the exchange's 2400/min request-weight budget klagg allows itself. */
  weightBudgetShare: z
    .number({ error: 'must be a number greater than 0 and at most 1' })
    .gt(0, { error: 'must be a number greater than 0 and at most 1' })
    .max(1, { error: 'must be a number greater than 0 and at most 1' })
    .default(0.8),
  /** Retries of a failed REST request after its first attempt; a start gives up on an unreachable exchange after them. */
  maxRetries: int(0, 20).default(5),
  /** Wait before the first retry; doubles per retry (with jitter), up to 10 s. */
  backoffInitialMs: int(1, 10_000).default(250),
}).prefault({});

/** The HTTP server, and the limits that keep it up when it is public (docs/configuration.md, "Limits"). */
const server = section({
  host: nonEmptyString().default('127.0.0.1'),
  /** 0 lets the system pick a free port. */
  port: int(0, 65_535).default(8080),
  /** Longest request URL (longer: 414). */
  maxUrlLength: int(256, 1_048_576).default(8192),
  /** Largest header section, request line included (larger: 431). Node's default. */
  maxHeaderBytes: int(1024, 1_048_576).default(16_384),
  /** Largest request body (larger: 413); no route reads more than a small JSON. */
  maxBodyBytes: int(1024, 16_777_216).default(65_536),
  /** A client that has not sent its headers by then gets 408 and is disconnected. */
  headersTimeoutMs: int(100, 600_000).default(10_000),
  /** A client that has not sent its whole request by then gets 408 and is disconnected. */
  requestTimeoutMs: int(100, 3_600_000).default(30_000),
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: int(100, 600_000).default(5000),
  /** Open connections per client IP (IPv6: per /64), stream connections included; past it requests get 429. 0: no limit. */
  maxConnectionsPerIp: int(0, 1_000_000).default(500),
})
  .superRefine(requireOrder('server', 'headersTimeoutMs', 'requestTimeoutMs', false))
  .prefault({});

/** The kline stream server (Binance's WebSocket protocol) klagg serves on the HTTP port: its limits. */
const streamServer = section({
  /** Open connections per client IP (IPv6: per /64); one more is refused at its upgrade with 429. 0: no limit. */
  maxConnectionsPerIp: int(0, 1_000_000).default(300),
  /** Subscriptions over all the connections of one client IP. 0: no limit. */
  maxSubscriptionsPerIp: int(0, 100_000_000).default(10_240),
  /** Binance's 1024. */
  maxStreamsPerConnection: int(1, 100_000).default(1024),
  /** Incoming messages (requests, pings, pongs) per second per connection; more closes it (1008). Binance's 10. */
  maxMessagesPerSecond: int(1, 10_000).default(10),
  /** Largest incoming message; larger closes the connection (1009). */
  maxPayloadBytes: int(1024, 16_777_216).default(65_536),
  /** Unsent bytes a connection may have queued before it is dropped as a slow consumer (1008). */
  maxBufferedBytes: int(65_536, 1_073_741_824).default(1_048_576),
}).prefault({});

const addressesExpectation = 'must be a list of IP addresses or CIDR blocks (192.0.2.7, 10.0.0.0/8, 2001:db8::/32)';

/** Who may reach the admin routes besides this machine (they also need `adminToken`). */
const admin = section({
  /** Any address may ask (with the token). */
  allowRemote: z.boolean({ error: 'must be true or false' }).default(false),
  allowFrom: z
    .array(z.string({ error: addressesExpectation }).refine(isAddressOrBlock, { error: addressesExpectation }), { error: addressesExpectation })
    .default(() => []),
}).prefault({});

/** The scale-out roles (`klagg ingest|aggregate|write|serve`) on NATS JetStream: see docs/scale-out.md. */
const cluster = section({
  /** Comma-separated NATS server URLs (every member of the cluster, so a client survives one's loss). */
  servers: nonEmptyString('must be a comma-separated list of nats:// URLs')
    .refine((value) => value.split(',').every((u) => hasProtocol(u.trim(), ['nats:'])), { error: 'must be a comma-separated list of nats:// URLs' })
    .default('nats://127.0.0.1:4222'),
  /** Prefix of every subject, stream and bucket: several clusters can share one NATS. */
  namespace: z.string({ error: 'must be lower-case letters, digits, "_" or "-"' }).regex(/^[a-z0-9_-]+$/, { error: 'must be lower-case letters, digits, "_" or "-"' }).default('klagg'),
  /** Fixed virtual partitions (changing it is a migration). */
  partitions: int(1, 4096).default(256),
  tradeStreams: int(1, 256).default(16),
  klineStreams: int(1, 256).default(4),
  /** 1 on a single server; 3 on a cluster (every stream and bucket survives the loss of one server). */
  replicas: int(1, 5).default(1),
  /** This process's name in heartbeats and ownership records (default: host-pid). */
  node: z.string({ error: 'must be letters, digits, "_" or "-"' }).regex(/^[A-Za-z0-9_-]+$/, { error: 'must be letters, digits, "_" or "-"' }).optional(),
  /** How often an aggregator publishes what changed (live and durable). */
  tickMs: int(10, 10_000).default(250),
  checkpointEveryMs: int(100, 600_000).default(10_000),
  heartbeatMs: int(50, 10_000).default(500),
  /** A member is dead after this long without a heartbeat. */
  deadAfterMs: int(200, 60_000).default(3_000),
  coordinatorLeaseMs: int(500, 60_000).default(10_000),
  /** A planned move that has not released within this falls back to the crash path. */
  moveTimeoutMs: int(100, 60_000).default(2_000),
  /** How often ingest publishes watermarks. */
  watermarkMs: int(50, 10_000).default(500),
}).prefault({});

const log = section({
  level: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(' ')}` }).default('info'),
  /** `auto`: pretty when stderr is a terminal. */
  pretty: z.union([z.boolean(), z.literal('auto')], { error: 'must be true, false or "auto"' }).default('auto'),
}).prefault({});

export const klaggConfigSchema = z.strictObject(
  {
    venue: z.enum(['binance'], { error: 'must be "binance"' }).default('binance'),
    market: z.enum(['usdm'], { error: 'must be "usdm"' }).default('usdm'),
    intervals,
    database,
    workers,
    engine,
    gateway,
    dispatcher,
    dbWriter,
    clock,
    watchdog,
    exchange,
    server,
    streamServer,
    cluster,
    /** Required by the admin HTTP routes; they are disabled without it. */
    adminToken: z
      .string({ error: 'must be a string of at least 16 characters' })
      .min(16, { error: 'must be a string of at least 16 characters' })
      .optional(),
    admin,
    log,
  },
  { error: 'must be an object' },
);

export type KlaggConfig = z.output<typeof klaggConfigSchema>;

/** What a file or the flags may give: any subset of the settings. `undefined` leaves are ignored. */
export type DeepPartial<T> = T extends readonly (infer U)[]
  ? readonly U[]
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> | undefined }
    : T;

/** The configuration with every default and nothing else. */
export function defaultConfig(): KlaggConfig {
  return klaggConfigSchema.parse({});
}
