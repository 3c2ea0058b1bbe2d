import t from 'tap';
import { DEFAULT_INTERVALS, INTERVALS } from '../../../src/domain/interval.ts';
import { ConfigError, formatConfigIssue, type ConfigIssue } from '../../../src/infra/config/config-error.ts';
import { configEnvVars, envVarName, loadConfig, maskUrlPassword, type ConfigSources } from '../../../src/infra/config/load-config.ts';
import { defaultConfig, type KlaggConfig } from '../../../src/infra/config/schema.ts';

/** SYSTEM.md's defaults, written out independently of the schema. */
const SYSTEM_DEFAULTS: KlaggConfig = {
  venue: 'binance',
  market: 'usdm',
  // All 15 of Binance's intervals (SYSTEM.md chose 7; every one is served now, so that any Binance client's interval is).
  intervals: ['1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d', '3d', '1w', '1M'],
  database: { dataDir: './data' },
  workers: { count: 2, partitions: 256, threads: true },
  engine: { graceMs: 1000 },
  gateway: { pullIntervalMs: 250, pullTimeoutMs: 200, timeoutAlertThreshold: 5 },
  dispatcher: { queueCapacity: 2048, maxRetries: 5, retryDelayMs: 1000 },
  dbWriter: { flushIntervalMs: 1000, maxBatchRows: 5000, backoffInitialMs: 250, backoffMaxMs: 30_000, maxBufferedRows: 1_000_000 },
  clock: { tickIntervalMs: 100, timeSyncIntervalMs: 60_000 },
  watchdog: { checkIntervalMs: 1000, silenceMs: 30_000 },
  exchange: {
    restBaseUrl: 'https://fapi.binance.com',
    wsBaseUrl: 'wss://fstream.binance.com',
    weightBudgetShare: 0.8,
    maxRetries: 5,
    backoffInitialMs: 250,
  },
  // The limits of a public endpoint (docs/configuration.md, "Limits"): Node's header size, Binance's stream rules.
  server: {
    host: '127.0.0.1',
    port: 8080,
    maxUrlLength: 8192,
    maxHeaderBytes: 16_384,
    maxBodyBytes: 65_536,
    headersTimeoutMs: 10_000,
    requestTimeoutMs: 30_000,
    keepAliveTimeoutMs: 5000,
    maxConnectionsPerIp: 500,
  },
  streamServer: {
    maxConnectionsPerIp: 300,
    maxSubscriptionsPerIp: 10_240,
    maxStreamsPerConnection: 1024,
    maxMessagesPerSecond: 10,
    maxPayloadBytes: 65_536,
    maxBufferedBytes: 1_048_576,
  },
  // scale-out.md's design values.
  cluster: {
    servers: 'nats://127.0.0.1:4222',
    namespace: 'klagg',
    partitions: 256,
    tradeStreams: 16,
    klineStreams: 4,
    replicas: 1,
    tickMs: 250,
    checkpointEveryMs: 10_000,
    heartbeatMs: 500,
    deadAfterMs: 3_000,
    coordinatorLeaseMs: 10_000,
    moveTimeoutMs: 2_000,
    watermarkMs: 500,
  },
  admin: { allowRemote: false, allowFrom: [] },
  log: { level: 'info', pretty: 'auto' },
};

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

/** Runs loadConfig expecting a ConfigError and returns it. */
function configError(t: Test, sources: ConfigSources): ConfigError {
  try {
    const config = loadConfig(sources);
    t.fail(`expected a ConfigError, got ${JSON.stringify(config)}`);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    t.fail(`expected a ConfigError, got ${String(error)}`);
  }
  throw new Error('unreachable');
}

/** The single issue of a ConfigError, checked to be the only one. */
function onlyIssue(t: Test, sources: ConfigSources): { error: ConfigError; issue: ConfigIssue } {
  const error = configError(t, sources);
  t.equal(error.issues.length, 1, `one issue: ${error.message}`);
  const issue = error.issues[0];
  if (issue === undefined) throw new Error('no issue');
  return { error, issue };
}

function jsonFile(t: Test, content: unknown, name = 'klagg.json'): string {
  const dir = t.testdir({ [name]: typeof content === 'string' ? content : JSON.stringify(content, null, 2) });
  return `${dir}/${name}`;
}

t.test('defaults are SYSTEM.md’s', async (t) => {
  t.same(loadConfig({}), SYSTEM_DEFAULTS);
  t.same(loadConfig(), SYSTEM_DEFAULTS);
  t.same(defaultConfig(), SYSTEM_DEFAULTS);
  t.same(loadConfig({}).intervals, DEFAULT_INTERVALS);
  t.equal(loadConfig({}).database.url, undefined, 'no DATABASE_URL means embedded PGlite');
  t.equal(loadConfig({}).adminToken, undefined);
  const first = loadConfig({});
  first.intervals.push('3d');
  t.same(loadConfig({}).intervals, DEFAULT_INTERVALS, 'defaults are not shared between loads');
});

t.test('precedence: defaults < file < env < flags, field by field', async (t) => {
  const file = jsonFile(t, {
    intervals: ['1m'],
    database: { url: 'postgres://file-host/klagg', dataDir: '/var/lib/klagg' },
    workers: { count: 4, partitions: 512, threads: true },
    gateway: { pullIntervalMs: 900, pullTimeoutMs: 300, timeoutAlertThreshold: 7 },
    server: { port: 9000 },
    log: { level: 'debug' },
  });
  const env = {
    KLAGG_INTERVALS: '5m, 1h',
    DATABASE_URL: 'postgresql://env-host/klagg',
    KLAGG_WORKERS__COUNT: '8',
    KLAGG_WORKERS__THREADS: 'false',
    KLAGG_GATEWAY__PULL_INTERVAL_MS: '800',
    KLAGG_GATEWAY__PULL_TIMEOUT_MS: '250',
    KLAGG_SERVER__PORT: '9100',
  };
  const flags = { workers: { count: 16 }, gateway: { pullIntervalMs: 700 }, server: { port: 9200 }, intervals: ['1d' as const] };

  const fileOnly = loadConfig({ file });
  t.same(fileOnly.intervals, ['1m']);
  t.equal(fileOnly.workers.count, 4);
  t.equal(fileOnly.workers.threads, true);
  t.equal(fileOnly.gateway.pullIntervalMs, 900);
  t.equal(fileOnly.dispatcher.queueCapacity, 2048, 'a section the file does not mention keeps its defaults');
  t.equal(fileOnly.server.host, '127.0.0.1', 'a key the file does not mention keeps its default');

  const withEnv = loadConfig({ file, env });
  t.same(withEnv.intervals, ['5m', '1h'], 'env list replaces the file list');
  t.equal(withEnv.database.url, 'postgresql://env-host/klagg');
  t.equal(withEnv.database.dataDir, '/var/lib/klagg', 'file value kept where env is silent');
  t.equal(withEnv.workers.count, 8);
  t.equal(withEnv.workers.partitions, 512);
  t.equal(withEnv.workers.threads, false, 'env false overrides file true');
  t.equal(withEnv.gateway.pullIntervalMs, 800);
  t.equal(withEnv.gateway.pullTimeoutMs, 250);
  t.equal(withEnv.gateway.timeoutAlertThreshold, 7);
  t.equal(withEnv.log.level, 'debug');

  const all = loadConfig({ file, env, flags });
  t.same(all.intervals, ['1d']);
  t.equal(all.workers.count, 16);
  t.equal(all.workers.threads, false);
  t.equal(all.gateway.pullIntervalMs, 700);
  t.equal(all.gateway.pullTimeoutMs, 250);
  t.equal(all.server.port, 9200);
  t.equal(all.database.url, 'postgresql://env-host/klagg');

  const envAndFlags = loadConfig({ env, flags: { server: { host: '0.0.0.0' } } });
  t.equal(envAndFlags.server.host, '0.0.0.0');
  t.equal(envAndFlags.server.port, 9100);
});

t.test('flags: undefined leaves are ignored (unset CLI options)', async (t) => {
  const config = loadConfig({
    env: { KLAGG_SERVER__PORT: '9100' },
    flags: { server: { port: undefined, host: undefined }, workers: undefined, log: { level: 'warn' } },
  });
  t.equal(config.server.port, 9100);
  t.equal(config.workers.count, 2);
  t.equal(config.log.level, 'warn');
});

t.test('environment strings are converted by the setting’s type', async (t) => {
  const config = loadConfig({
    env: {
      KLAGG_VENUE: 'binance',
      KLAGG_INTERVALS: '1m,3m,1M',
      KLAGG_DATABASE__DATA_DIR: '/tmp/klagg',
      KLAGG_WORKERS__THREADS: 'YES',
      KLAGG_ENGINE__GRACE_MS: '0',
      KLAGG_DISPATCHER__MAX_RETRIES: ' 3 ',
      KLAGG_DB_WRITER__MAX_BUFFERED_ROWS: '2e6',
      KLAGG_EXCHANGE__WEIGHT_BUDGET_SHARE: '0.5',
      KLAGG_EXCHANGE__WS_BASE_URL: 'ws://127.0.0.1:9443',
      KLAGG_ADMIN_TOKEN: 'a-long-enough-admin-token',
      KLAGG_LOG__PRETTY: 'true',
      KLAGG_EMPTY_IS_UNSET: undefined,
      PATH: '/usr/bin',
      HOME: '/root',
    },
  });
  t.same(config.intervals, ['1m', '3m', '1M']);
  t.equal(config.database.dataDir, '/tmp/klagg');
  t.equal(config.workers.threads, true);
  t.equal(config.engine.graceMs, 0);
  t.equal(config.dispatcher.maxRetries, 3);
  t.equal(config.dbWriter.maxBufferedRows, 2_000_000);
  t.equal(config.exchange.weightBudgetShare, 0.5);
  t.equal(config.exchange.wsBaseUrl, 'ws://127.0.0.1:9443');
  t.equal(config.adminToken, 'a-long-enough-admin-token');
  t.equal(config.log.pretty, true);
  t.equal(loadConfig({ env: { KLAGG_LOG__PRETTY: 'auto' } }).log.pretty, 'auto');
  t.equal(loadConfig({ env: { KLAGG_LOG__PRETTY: 'off' } }).log.pretty, false);
  t.equal(loadConfig({ env: { KLAGG_WORKERS__COUNT: '', DATABASE_URL: '' } }).workers.count, 2, 'empty values count as unset');
  t.equal(loadConfig({ env: { DATABASE_URL: '' } }).database.url, undefined);
});

t.test('conventional aliases: DATABASE_URL, KLAGG_LOG_LEVEL; the canonical name wins', async (t) => {
  t.equal(loadConfig({ env: { DATABASE_URL: 'postgres://u@h:5432/db' } }).database.url, 'postgres://u@h:5432/db');
  t.equal(loadConfig({ env: { KLAGG_LOG_LEVEL: 'trace' } }).log.level, 'trace');
  t.equal(loadConfig({ env: { KLAGG_LOG__LEVEL: 'silent' } }).log.level, 'silent');
  const both = loadConfig({
    env: { DATABASE_URL: 'postgres://alias/db', KLAGG_DATABASE__URL: 'postgres://canonical/db', KLAGG_LOG_LEVEL: 'warn', KLAGG_LOG__LEVEL: 'error' },
  });
  t.equal(both.database.url, 'postgres://canonical/db');
  t.equal(both.log.level, 'error');
});

t.test('KLAGG_CONFIG names the file; sources.file wins over it', async (t) => {
  const dir = t.testdir({ 'a.json': JSON.stringify({ server: { port: 1111 } }), 'b.json': JSON.stringify({ server: { port: 2222 } }) });
  t.equal(loadConfig({ env: { KLAGG_CONFIG: `${dir}/a.json` } }).server.port, 1111);
  t.equal(loadConfig({ file: `${dir}/b.json`, env: { KLAGG_CONFIG: `${dir}/a.json` } }).server.port, 2222);
});

t.test('environment variable names follow the schema', async (t) => {
  t.equal(envVarName(['gateway', 'pullIntervalMs']), 'KLAGG_GATEWAY__PULL_INTERVAL_MS');
  t.equal(envVarName('dbWriter.maxBufferedRows'), 'KLAGG_DB_WRITER__MAX_BUFFERED_ROWS');
  t.equal(envVarName('adminToken'), 'KLAGG_ADMIN_TOKEN');
  t.equal(envVarName('intervals'), 'KLAGG_INTERVALS');
  const vars = configEnvVars();
  const names = vars.map((v) => v.name);
  t.equal(new Set(names).size, names.length, 'no two settings share a variable');
  for (const expected of [
    'KLAGG_VENUE',
    'KLAGG_MARKET',
    'KLAGG_INTERVALS',
    'KLAGG_DATABASE__URL',
    'KLAGG_DATABASE__DATA_DIR',
    'KLAGG_WORKERS__PARTITIONS',
    'KLAGG_GATEWAY__TIMEOUT_ALERT_THRESHOLD',
    'KLAGG_EXCHANGE__REST_BASE_URL',
    'KLAGG_SERVER__HOST',
    'KLAGG_ADMIN_TOKEN',
    'KLAGG_LOG__PRETTY',
    'KLAGG_CLUSTER__SERVERS',
    'KLAGG_CLUSTER__TRADE_STREAMS',
    'KLAGG_CLUSTER__NODE',
    'DATABASE_URL',
    'KLAGG_LOG_LEVEL',
  ]) {
    t.ok(names.includes(expected), expected);
  }
  const leafCount = Object.values(SYSTEM_DEFAULTS).reduce<number>(
    (n, v) => n + (typeof v === 'object' && !Array.isArray(v) ? Object.keys(v).length : 1),
    0,
  );
  // + database.url, adminToken and cluster.node (no default) + the two aliases
  t.equal(vars.length, leafCount + 3 + 2);
});

t.test('wrong type', async (t) => {
  const file = jsonFile(t, { workers: { count: 'four' } });
  const fromFile = onlyIssue(t, { file }).issue;
  t.same(fromFile, { path: 'workers.count', message: 'must be an integer from 1 to 64, got "four"', source: 'file', from: file });

  const fromEnv = onlyIssue(t, { env: { KLAGG_WORKERS__COUNT: 'abc' } });
  t.same(fromEnv.issue, { path: 'workers.count', message: 'must be an integer from 1 to 64, got "abc"', source: 'env', from: 'KLAGG_WORKERS__COUNT' });
  t.match(fromEnv.error.message, 'workers.count: must be an integer from 1 to 64, got "abc" (from env KLAGG_WORKERS__COUNT)');

  for (const bad of ['12abc', '0x10', '1,5', 'NaN', 'Infinity']) {
    const { issue } = onlyIssue(t, { env: { KLAGG_GATEWAY__PULL_INTERVAL_MS: bad } });
    t.equal(issue.path, 'gateway.pullIntervalMs', bad);
    t.equal(issue.from, 'KLAGG_GATEWAY__PULL_INTERVAL_MS', bad);
  }
  t.equal(onlyIssue(t, { env: { KLAGG_WORKERS__COUNT: '1.5' } }).issue.message, 'must be an integer from 1 to 64, got 1.5');
  t.same(onlyIssue(t, { env: { KLAGG_WORKERS__THREADS: 'maybe' } }).issue, {
    path: 'workers.threads',
    message: 'must be true or false, got "maybe"',
    source: 'env',
    from: 'KLAGG_WORKERS__THREADS',
  });
  t.same(onlyIssue(t, { env: { KLAGG_LOG__PRETTY: 'sometimes' } }).issue.message, 'must be true, false or "auto", got "sometimes"');
  t.same(onlyIssue(t, { file: jsonFile(t, { gateway: 5 }) }).issue.path, 'gateway');
  t.match(onlyIssue(t, { file: jsonFile(t, { gateway: 5 }) }).issue.message, /^must be an object, got 5$/);
  t.same(onlyIssue(t, { file: jsonFile(t, { intervals: '1m' }) }).issue.message, 'must be a list of intervals, got "1m"');
  t.same(onlyIssue(t, { flags: { server: { port: '80' as unknown as number } } }).issue, {
    path: 'server.port',
    message: 'must be an integer from 0 to 65535, got "80"',
    source: 'flag',
    from: 'server.port',
  });
  t.same(onlyIssue(t, { flags: { venue: 'bybit' as 'binance' } }).issue.message, 'must be "binance", got "bybit"');
});

t.test('out of range', async (t) => {
  t.same(onlyIssue(t, { flags: { server: { port: 70_000 } } }).issue, {
    path: 'server.port',
    message: 'must be an integer from 0 to 65535, got 70000',
    source: 'flag',
    from: 'server.port',
  });
  t.same(onlyIssue(t, { env: { KLAGG_WORKERS__COUNT: '65' } }).issue.message, 'must be an integer from 1 to 64, got 65');
  t.same(onlyIssue(t, { env: { KLAGG_WORKERS__COUNT: '0' } }).issue.message, 'must be an integer from 1 to 64, got 0');
  for (const partitions of [3, 8, 48, 8192]) {
    const { issue } = onlyIssue(t, { flags: { workers: { partitions } } });
    t.same(issue, { path: 'workers.partitions', message: `must be a power of two from 16 to 4096, got ${partitions}`, source: 'flag', from: 'workers.partitions' });
  }
  t.equal(loadConfig({ flags: { workers: { partitions: 16 } } }).workers.partitions, 16);
  t.equal(loadConfig({ flags: { workers: { partitions: 4096 } } }).workers.partitions, 4096);
  t.same(onlyIssue(t, { env: { KLAGG_ENGINE__GRACE_MS: '60001' } }).issue.message, 'must be an integer from 0 to 60000, got 60001');
  const flush = onlyIssue(t, { env: { KLAGG_DB_WRITER__FLUSH_INTERVAL_MS: '2000' } }).issue;
  t.same(flush, { path: 'dbWriter.flushIntervalMs', message: 'must be an integer from 10 to 1000, got 2000', source: 'env', from: 'KLAGG_DB_WRITER__FLUSH_INTERVAL_MS' });
  t.same(onlyIssue(t, { env: { KLAGG_EXCHANGE__WEIGHT_BUDGET_SHARE: '0' } }).issue.message, 'must be a number greater than 0 and at most 1, got 0');
  t.same(onlyIssue(t, { env: { KLAGG_EXCHANGE__WEIGHT_BUDGET_SHARE: '1.2' } }).issue.message, 'must be a number greater than 0 and at most 1, got 1.2');
  t.same(onlyIssue(t, { flags: { server: { host: '' } } }).issue.message, 'must be a non-empty string, got ""');
  t.same(onlyIssue(t, { env: { KLAGG_EXCHANGE__REST_BASE_URL: 'ftp://x' } }).issue.message, 'must be a https:// or http:// URL, got "ftp://x"');
});

t.test('bad interval name: exact element, the valid list in the message', async (t) => {
  const { issue, error } = onlyIssue(t, { env: { KLAGG_INTERVALS: '1m,2m,1h' } });
  t.equal(issue.path, 'intervals[1]');
  t.equal(issue.source, 'env');
  t.equal(issue.from, 'KLAGG_INTERVALS');
  t.match(issue.message, INTERVALS.join(' '));
  t.match(issue.message, /got "2m"$/);
  t.match(error.message, /intervals\[1\]: must be one of 1m 3m .* 1M .*got "2m" \(from env KLAGG_INTERVALS\)/);

  const file = jsonFile(t, { intervals: ['1m', '1H'] });
  const fromFile = onlyIssue(t, { file }).issue;
  t.same([fromFile.path, fromFile.source, fromFile.from], ['intervals[1]', 'file', file]);
  t.match(fromFile.message, '1m is a minute, 1M a month');
});

t.test('repeated and empty interval lists', async (t) => {
  const { issue } = onlyIssue(t, { env: { KLAGG_INTERVALS: '1m,5m,5m' } });
  t.same(issue, { path: 'intervals[2]', message: 'repeats 5m (already intervals[1]), got "5m"', source: 'env', from: 'KLAGG_INTERVALS' });
  const empty = onlyIssue(t, { flags: { intervals: [] } }).issue;
  t.same(empty, { path: 'intervals', message: 'must list at least one interval, got []', source: 'flag', from: 'intervals' });
});

t.test('unknown key in the file, at any depth', async (t) => {
  const file = jsonFile(t, { gateway: { pullTimeout: 100 }, colour: 'red', server: { port: 8080, tls: true } });
  const error = configError(t, { file });
  t.same(
    error.issues.map((issue) => [issue.path, issue.source, issue.from]).sort(),
    [
      ['colour', 'file', file],
      ['gateway.pullTimeout', 'file', file],
      ['server.tls', 'file', file],
    ],
  );
  const byPath = new Map(error.issues.map((issue) => [issue.path, issue.message]));
  t.equal(byPath.get('gateway.pullTimeout'), 'unknown setting, did you mean gateway.pullTimeoutMs?');
  t.equal(byPath.get('server.tls'), 'unknown setting (known here: host, port, maxUrlLength, maxHeaderBytes, maxBodyBytes, headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs, maxConnectionsPerIp)');
  t.match(byPath.get('colour'), /^unknown setting \(known here: venue, market, intervals, .*log\)$/);
  t.match(error.message, `gateway.pullTimeout: unknown setting, did you mean gateway.pullTimeoutMs? (from file ${file})`);

  t.same(onlyIssue(t, { flags: { gateway: { bogus: 1 } as never } }).issue, {
    path: 'gateway.bogus',
    message: 'unknown setting (known here: pullIntervalMs, pullTimeoutMs, timeoutAlertThreshold)',
    source: 'flag',
    from: 'gateway.bogus',
  });
});

t.test('unknown KLAGG_ environment variable', async (t) => {
  t.same(onlyIssue(t, { env: { KLAGG_GATEWAY__PULL_INTERVAL: '400' } }).issue, {
    path: 'gateway.pullInterval',
    message: 'unknown environment variable, did you mean KLAGG_GATEWAY__PULL_INTERVAL_MS?',
    source: 'env',
    from: 'KLAGG_GATEWAY__PULL_INTERVAL',
  });
  const { issue, error } = onlyIssue(t, { env: { KLAGG_FROBNICATE: '1' } });
  t.same(issue, { path: 'frobnicate', message: 'unknown environment variable', source: 'env', from: 'KLAGG_FROBNICATE' });
  t.match(error.message, 'frobnicate: unknown environment variable (from env KLAGG_FROBNICATE)');
  t.equal(onlyIssue(t, { env: { KLAGG_PORT: '80' } }).issue.from, 'KLAGG_PORT', 'the section separator is required');
  t.equal(onlyIssue(t, { env: { KLAGG_GATEWAY_PULL_INTERVAL_MS: '80' } }).issue.message, 'unknown environment variable, did you mean KLAGG_GATEWAY__PULL_INTERVAL_MS?');
  t.same(loadConfig({ env: { KLAGGX: '1', NODE_ENV: 'test' } }), SYSTEM_DEFAULTS, 'other variables are not ours');
});

t.test('bad DATABASE_URL scheme; a password in it is masked', async (t) => {
  const { issue, error } = onlyIssue(t, { env: { DATABASE_URL: 'mysql://klagg:hunter2hunter2@db:3306/klagg' } });
  t.same(issue, {
    path: 'database.url',
    message: 'must be a postgres:// or postgresql:// URL, got "mysql://klagg:***@db:3306/klagg"',
    source: 'env',
    from: 'DATABASE_URL',
  });
  t.notMatch(error.message, 'hunter2');
  t.equal(onlyIssue(t, { env: { KLAGG_DATABASE__URL: 'not a url' } }).issue.from, 'KLAGG_DATABASE__URL');
  t.equal(onlyIssue(t, { flags: { database: { url: 'postgres//missing-colon' } } }).issue.path, 'database.url');
  t.equal(maskUrlPassword('postgres://u:p@h/db'), 'postgres://u:***@h/db');
  t.equal(maskUrlPassword('postgres://h:5432/db'), 'postgres://h:5432/db');
  t.equal(maskUrlPassword('u:secret@h/db'), 'u:***@h/db');
});

t.test('pull timeout must be below the pull interval', async (t) => {
  const { issue, error } = onlyIssue(t, { env: { KLAGG_GATEWAY__PULL_TIMEOUT_MS: '600' } });
  t.same(issue, {
    path: 'gateway.pullTimeoutMs',
    message: 'must be less than gateway.pullIntervalMs (250), got 600',
    source: 'env',
    from: 'KLAGG_GATEWAY__PULL_TIMEOUT_MS',
  });
  t.match(error.message, 'gateway.pullTimeoutMs: must be less than gateway.pullIntervalMs (250), got 600 (from env KLAGG_GATEWAY__PULL_TIMEOUT_MS)');
  t.equal(onlyIssue(t, { flags: { gateway: { pullTimeoutMs: 250 } } }).issue.message, 'must be less than gateway.pullIntervalMs (250), got 250', 'equal is not less');

  const file = jsonFile(t, { gateway: { pullIntervalMs: 300 } });
  t.same(onlyIssue(t, { file, env: { KLAGG_GATEWAY__PULL_TIMEOUT_MS: '300' } }).issue.source, 'env', 'blamed on the timeout when both were set');

  t.same(onlyIssue(t, { env: { KLAGG_GATEWAY__PULL_INTERVAL_MS: '150' } }).issue, {
    path: 'gateway.pullIntervalMs',
    message: 'must be greater than gateway.pullTimeoutMs (200), got 150',
    source: 'env',
    from: 'KLAGG_GATEWAY__PULL_INTERVAL_MS',
  }, 'blamed on the interval when the timeout is still the default');
  t.equal(loadConfig({ env: { KLAGG_GATEWAY__PULL_INTERVAL_MS: '150', KLAGG_GATEWAY__PULL_TIMEOUT_MS: '100' } }).gateway.pullTimeoutMs, 100);
});

t.test('other cross-field rules', async (t) => {
  t.same(onlyIssue(t, { flags: { dbWriter: { backoffInitialMs: 40_000 } } }).issue, {
    path: 'dbWriter.backoffInitialMs',
    message: 'must be at most dbWriter.backoffMaxMs (30000), got 40000',
    source: 'flag',
    from: 'dbWriter.backoffInitialMs',
  });
  t.same(onlyIssue(t, { flags: { dbWriter: { maxBufferedRows: 1000 } } }).issue.message, 'must be at least dbWriter.maxBatchRows (5000), got 1000');
  t.same(onlyIssue(t, { env: { KLAGG_WATCHDOG__SILENCE_MS: '1000' } }).issue.message, 'must be greater than watchdog.checkIntervalMs (1000), got 1000');
  t.same(onlyIssue(t, { env: { KLAGG_EXCHANGE__BACKOFF_INITIAL_MS: '20000' } }).issue, {
    path: 'exchange.backoffInitialMs',
    message: 'must be an integer from 1 to 10000, got 20000',
    source: 'env',
    from: 'KLAGG_EXCHANGE__BACKOFF_INITIAL_MS',
  });
  t.same(onlyIssue(t, { env: { KLAGG_EXCHANGE__MAX_RETRIES: '21' } }).issue.message, 'must be an integer from 0 to 20, got 21');
});

t.test('malformed JSON file: file name and position', async (t) => {
  const trailingComma = jsonFile(t, '{\n  "server": { "port": 8080, }\n}\n');
  const { issue, error } = onlyIssue(t, { file: trailingComma });
  t.equal(issue.path, '');
  t.equal(issue.source, 'file');
  t.equal(issue.from, trailingComma);
  t.match(issue.message, /^not valid JSON: .* at line 2 column 29 \(position 30\)$/);
  t.match(error.message, `config file ${trailingComma}: not valid JSON`);

  const badToken = jsonFile(t, '{\n  "a": tru}');
  t.match(onlyIssue(t, { file: badToken }).issue.message, /^not valid JSON: Unexpected token '\}' at line 2 column 11 \(position 12\)$/);

  const midToken = '{\n  "a": 1,\n  "b": nope,\n  "c": 3\n}';
  t.equal(
    onlyIssue(t, { file: jsonFile(t, midToken) }).issue.message,
    `not valid JSON: Unexpected token 'o' at line 3 column 9 (position ${midToken.indexOf('nope') + 1})`,
    'position found without echoing the text',
  );
  t.match(onlyIssue(t, { file: jsonFile(t, '') }).issue.message, /^not valid JSON: Unexpected end of input at line 1 column 1 \(position 0\)$/);
  t.match(onlyIssue(t, { file: jsonFile(t, '{"server": {"port": 1}') }).issue.message, / at line 1 column 23 \(position 22\)$/);
  t.equal(onlyIssue(t, { file: jsonFile(t, '[1, 2]') }).issue.message, 'must contain a JSON object, got list');
  t.equal(onlyIssue(t, { file: jsonFile(t, 'null') }).issue.message, 'must contain a JSON object, got null');
  t.same(loadConfig({ file: jsonFile(t, '\uFEFF{"server": {"port": 1234}}') }).server.port, 1234, 'a byte-order mark is tolerated');
});

t.test('missing file, directory, non-JSON file', async (t) => {
  const dir = t.testdir({ 'klagg.yaml': 'server:\n  port: 1\n', 'sub.json': {} });
  const missing = `${dir}/nope.json`;
  const { issue, error } = onlyIssue(t, { file: missing });
  t.same(issue, { path: '', message: 'file not found', source: 'file', from: missing });
  t.equal(error.message.split('\n')[1], `  config file ${missing}: file not found`);
  t.same(onlyIssue(t, { file: `${dir}/sub.json` }).issue.message, 'is a directory, not a file');
  t.same(onlyIssue(t, { file: `${dir}/klagg.yaml` }).issue.message, 'not a .json file (only JSON config files are supported)');
  t.same(onlyIssue(t, { env: { KLAGG_CONFIG: missing } }).issue.from, missing);
});

t.test('several bad fields at once: one line each', async (t) => {
  const file = jsonFile(t, { workers: { count: 0, partitions: 3 }, gateway: { pullIntervalMs: 'fast' }, extra: true });
  const error = configError(t, {
    file,
    env: { KLAGG_INTERVALS: '1m,2m', KLAGG_SERVER__PORT: 'http', KLAGG_NOPE: 'x', DATABASE_URL: 'sqlite://x' },
    flags: { log: { level: 'loud' as 'info' } },
  });
  const expected = new Map<string, [string, string]>([
    ['workers.count', ['file', file]],
    ['workers.partitions', ['file', file]],
    ['gateway.pullIntervalMs', ['file', file]],
    ['extra', ['file', file]],
    ['intervals[1]', ['env', 'KLAGG_INTERVALS']],
    ['server.port', ['env', 'KLAGG_SERVER__PORT']],
    ['nope', ['env', 'KLAGG_NOPE']],
    ['database.url', ['env', 'DATABASE_URL']],
    ['log.level', ['flag', 'log.level']],
  ]);
  t.equal(error.issues.length, expected.size, error.message);
  for (const issue of error.issues) t.same([issue.source, issue.from], expected.get(issue.path), issue.path);
  const lines = error.message.split('\n');
  t.equal(lines[0], 'invalid klagg configuration (9 problems):');
  t.equal(lines.length, 1 + expected.size, 'a header and one line per bad field');
  for (const issue of error.issues) t.ok(lines.includes(`  ${formatConfigIssue(issue)}`), issue.path);
  t.equal(new Set(error.issues.map((issue) => issue.path)).size, error.issues.length, 'no field twice');
});

t.test('the admin token never appears in an error message', async (t) => {
  const secret = 'tok3n-Sup3r-S3cret-value';
  const short = 'tiny-secret';

  const tooShort = onlyIssue(t, { env: { KLAGG_ADMIN_TOKEN: short } });
  t.same(tooShort.issue, {
    path: 'adminToken',
    message: `must be a string of at least 16 characters, got a ${short.length}-character string (value hidden)`,
    source: 'env',
    from: 'KLAGG_ADMIN_TOKEN',
  });
  t.notMatch(tooShort.error.message, short);

  const wrongType = onlyIssue(t, { file: jsonFile(t, { adminToken: 1234567890123456 }) });
  t.notMatch(wrongType.error.message, '1234567890123456');
  t.match(wrongType.issue.message, 'a number (value hidden)');

  const malformed = jsonFile(t, `{"adminToken": "${secret}", oops}`);
  const parse = configError(t, { file: malformed, env: { KLAGG_WORKERS__COUNT: 'x' } });
  t.notMatch(parse.message, secret);

  const badTokenElsewhere = jsonFile(t, `{"adminToken": "${secret}" "x": 1}`);
  t.notMatch(configError(t, { file: badTokenElsewhere }).message, secret);

  const valid = configError(t, { env: { KLAGG_ADMIN_TOKEN: secret, KLAGG_WORKERS__COUNT: secret, KLAGG_ADMIN_TOKN: secret } });
  t.notMatch(valid.message, secret, 'scrubbed even where it was given to another setting');
  t.notMatch(JSON.stringify(valid.issues), secret);
});

t.test('ConfigError', async (t) => {
  const error = configError(t, { env: { KLAGG_WORKERS__COUNT: '0' } });
  t.ok(error instanceof Error);
  t.equal(error.name, 'ConfigError');
  t.equal(error.code, 'KLAGG_ERR_CONFIG_INVALID');
  t.ok(Object.isFrozen(error.issues));
  t.equal(error.message, 'invalid klagg configuration (1 problem):\n  workers.count: must be an integer from 1 to 64, got 0 (from env KLAGG_WORKERS__COUNT)');
  t.equal(formatConfigIssue({ path: 'a.b', message: 'must be x, got 1', source: 'default' }), 'a.b: must be x, got 1 (default)');
});

t.test('limits: streamServer, admin.allowFrom from the environment; bad addresses and timeouts out of order refused', async (t) => {
  const config = loadConfig({
    env: { KLAGG_STREAM_SERVER__MAX_CONNECTIONS_PER_IP: '0', KLAGG_ADMIN__ALLOW_FROM: '192.0.2.7, 10.0.0.0/8,2001:db8::/32', KLAGG_SERVER__MAX_BODY_BYTES: '2048' },
  });
  t.equal(config.streamServer.maxConnectionsPerIp, 0, '0: no limit');
  t.same(config.admin.allowFrom, ['192.0.2.7', '10.0.0.0/8', '2001:db8::/32']);
  t.equal(config.server.maxBodyBytes, 2048);
  const bad = onlyIssue(t, { env: { KLAGG_ADMIN__ALLOW_FROM: '10.0.0.0/33' } });
  t.match(bad.issue, { path: 'admin.allowFrom[0]', message: /must be a list of IP addresses or CIDR blocks/ });
  const order = onlyIssue(t, { file: jsonFile(t, { server: { headersTimeoutMs: 5000, requestTimeoutMs: 1000 } }) });
  t.match(order.issue, { path: 'server.headersTimeoutMs', message: /must be at most server.requestTimeoutMs \(1000\)/ });
});
