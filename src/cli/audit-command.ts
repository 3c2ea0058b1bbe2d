/**
 * `klagg audit`: compares the stored klines with the exchange's, kline by kline and field by field (exact decimals),
 * writes one JSON line per difference to a report and prints a one-line summary.
 *
 * Exit codes: 0 when everything matches, 1 when there are differences (or the audit fails: database or exchange
 * unreachable), 2 on bad arguments or configuration.
 */
import { existsSync, createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { Command, InvalidArgumentError, type CommanderError } from 'commander';
import { sql, type Kysely } from 'kysely';
import { auditKlines, type AuditSummary, type KlineDifference } from '../actors/kline-auditor.ts';
import { parseIntervalList, type IntervalName } from '../domain/interval.ts';
import { BinanceRestClient } from '../infra/binance/rest-client.ts';
import { KlineStore } from '../infra/db/kline-store.ts';
import type { Database } from '../infra/db/schema.ts';
import { contextOf, type CommandHost } from './cli-context.ts';
import { openDatabaseOrFail } from '../app/start-failures.ts';

/** The exit code of bad arguments (the same as a bad configuration in main.ts). */
export const BAD_ARGUMENTS_EXIT_CODE = 2;

interface AuditCommandOptions {
  symbols?: string[];
  intervals?: IntervalName[];
  since?: number;
  until?: number;
  databaseUrl?: string;
  dataDir?: string;
  restUrl?: string;
  report: string;
}

/**
 * A time as ms since the epoch, or an ISO 8601 date or date-time (`2019-10-01`, `2019-10-01T12:00`,
 * `2019-10-01T12:00:00+02:00`). A date-time without a zone is UTC, not local time.
 */
export function parseTime(text: string): number {
  const value = text.trim();
  if (/^\d+$/.test(value)) {
    const ms = Number(value);
    if (Number.isSafeInteger(ms)) return ms;
  } else if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i.test(value)) {
    const hasTime = /[T ]/i.test(value);
    const zoned = /(Z|[+-]\d{2}:?\d{2})$/i.test(value);
    const ms = Date.parse(hasTime && !zoned ? `${value.replace(' ', 'T')}Z` : value.replace(' ', 'T'));
    if (Number.isFinite(ms) && ms >= 0) return ms;
  }
  throw new InvalidArgumentError(`expected an ISO 8601 date (2019-10-01, 2019-10-01T12:00Z) or ms since the epoch, got ${JSON.stringify(text)}`);
}

/** `btcusdt, ETHUSDT` → `['BTCUSDT', 'ETHUSDT']`, rejecting empty, malformed and repeated names. */
export function parseSymbolList(text: string): string[] {
  const symbols = text.split(',').map((part) => part.trim().toUpperCase());
  for (const [index, symbol] of symbols.entries()) {
    if (!/^[A-Z0-9_]{1,40}$/.test(symbol)) throw new InvalidArgumentError(`not a symbol: ${JSON.stringify(symbol)} in ${JSON.stringify(text)}`);
    if (symbols.indexOf(symbol) !== index) throw new InvalidArgumentError(`symbol ${symbol} is listed twice in ${JSON.stringify(text)}`);
  }
  return symbols;
}

function intervalsOption(value: string): IntervalName[] {
  try {
    return parseIntervalList(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** `audit: 3559 klines compared, 0 missing, 0 extra, 0 differing, 0 not final — OK`. */
export function summaryLine(summary: Pick<AuditSummary, 'compared' | 'missing' | 'extra' | 'differs' | 'notFinal' | 'ok'>, report: string): string {
  const counts = `${summary.compared} klines compared, ${summary.missing} missing, ${summary.extra} extra, ${summary.differs} differing, ${summary.notFinal} not final`;
  const differences = summary.missing + summary.extra + summary.differs + summary.notFinal;
  const verdict = summary.ok ? 'OK' : `${differences} ${differences === 1 ? 'difference' : 'differences'}, see ${report}`;
  return `audit: ${counts} — ${verdict}`;
}

export function auditCommand(host: CommandHost): Command {
  const ctx = contextOf(host);
  const command = new Command('audit');
  const badArguments = (message: string): never => command.error(`error: ${message}`, { exitCode: BAD_ARGUMENTS_EXIT_CODE, code: 'klagg.badArguments' });
  return command
    .description('compare the stored klines with the exchange’s, field by field; exit 0 when they match, 1 when they differ')
    .option('--symbols <list>', 'comma-separated symbols (default: every symbol stored for the venue and market)', parseSymbolList)
    .option('--intervals <list>', 'comma-separated intervals (default: config)', intervalsOption)
    .option('--since <time>', 'first period: ISO date/date-time (UTC) or ms (default: each series’ first stored kline)', parseTime)
    .option('--until <time>', 'end, exclusive: ISO date/date-time (UTC) or ms (default: now; capped at the exchange’s time)', parseTime)
    .option('--database-url <url>', 'PostgreSQL to audit (default: DATABASE_URL, else the embedded PGlite)')
    .option('--data-dir <dir>', 'without a database URL: the embedded PGlite’s directory (default: config)')
    .option('--rest-url <url>', 'the exchange’s REST base URL (default: config exchange.restBaseUrl)')
    .option('--report <file>', 'where to write one JSON line per difference', 'audit-report.jsonl')
    // Commander's own argument errors (unknown option, bad value) exit 2 like ours, not its default 1.
    .exitOverride((error: CommanderError) => process.exit(error.exitCode === 0 ? 0 : BAD_ARGUMENTS_EXIT_CODE))
    .action(async (opts: AuditCommandOptions) => {
      const until = opts.until ?? Date.now();
      if (opts.since !== undefined && opts.since >= until) badArguments(`--since (${new Date(opts.since).toISOString()}) must be before --until (${new Date(until).toISOString()})`);
      const { config, logger } = ctx.configure(command, {
        intervals: opts.intervals,
        database: { url: opts.databaseUrl, dataDir: opts.dataDir },
        exchange: { restBaseUrl: opts.restUrl },
      });
      if (config.database.url === undefined && !existsSync(config.database.dataDir)) {
        badArguments(`no embedded database at ${config.database.dataDir}: give --database-url or --data-dir`);
      }
      const report = await openReport(opts.report).catch((error: unknown) => badArguments(`cannot write the report ${opts.report}: ${(error as Error).message}`));
      const log = logger.child({ command: 'audit' });
      const database = await openDatabaseOrFail({ url: config.database.url, dataDir: config.database.dataDir, logger: log });
      try {
        const store = KlineStore.forDatabase(database);
        const rest = new BinanceRestClient({
          baseUrl: config.exchange.restBaseUrl,
          budgetShare: config.exchange.weightBudgetShare,
          maxRetries: config.exchange.maxRetries,
          backoffBaseMs: config.exchange.backoffInitialMs,
          logger: log,
        });
        const { venue, market, intervals } = config;
        const symbols = opts.symbols ?? (await storedSymbols(database.db, venue, market));
        const onDifference = (difference: KlineDifference): Promise<void> | void => report.write(`${JSON.stringify(difference)}\n`);
        const base = { rest, store, venue, market, until, onDifference };

        const totals = { compared: 0, missing: 0, extra: 0, differs: 0, notFinal: 0 };
        const add = (summary: AuditSummary): void => {
          for (const key of Object.keys(totals) as (keyof typeof totals)[]) totals[key] += summary[key];
        };
        if (opts.since !== undefined) {
          add(await auditKlines({ ...base, symbols, intervals, since: opts.since }));
        } else {
          // Each series from its own first stored kline: what klagg never recorded is not reported as missing.
          for (const symbol of symbols) {
            for (const interval of intervals) {
              const first = await firstStoredOpenTime(database.db, venue, market, symbol, interval);
              if (first === undefined || first >= until) continue;
              add(await auditKlines({ ...base, symbols: [symbol], intervals: [interval], since: first }));
            }
          }
        }
        await report.close();
        const summary = { ...totals, ok: totals.missing + totals.extra + totals.differs + totals.notFinal === 0 };
        log.info({ ...summary, symbols: symbols.length, intervals, report: opts.report }, 'audit finished');
        process.stdout.write(`${summaryLine(summary, opts.report)}\n`);
        process.exitCode = summary.ok ? 0 : 1;
      } finally {
        await database.close();
      }
    });
}

interface Report {
  /** Undefined when the line was taken; a promise to await (back-pressure) otherwise. */
  write(line: string): Promise<void> | undefined;
  close(): Promise<void>;
}

/** The report file, created (or emptied) up front so that a stale report never survives a clean audit. */
async function openReport(path: string): Promise<Report> {
  const stream: WriteStream = createWriteStream(path);
  await Promise.race([once(stream, 'open'), once(stream, 'error').then(([error]) => Promise.reject(error as Error))]);
  return {
    write: (line) => (stream.write(line) ? undefined : once(stream, 'drain').then(() => {})),
    close: async () => {
      stream.end();
      await once(stream, 'finish');
    },
  };
}

/** The distinct symbols stored for a venue and market: a skip scan of the primary key, one index probe per symbol. */
async function storedSymbols(db: Kysely<Database>, venue: string, market: string): Promise<string[]> {
  const { rows } = await sql<{ symbol: string | null }>`
    with recursive found(symbol) as (
      (select symbol from klines where venue = ${venue} and market = ${market} order by symbol limit 1)
      union all
      select (select k.symbol from klines k where k.venue = ${venue} and k.market = ${market} and k.symbol > found.symbol order by k.symbol limit 1)
      from found where found.symbol is not null
    )
    select symbol from found where symbol is not null`.execute(db);
  return rows.map((row) => row.symbol!);
}

async function firstStoredOpenTime(db: Kysely<Database>, venue: string, market: string, symbol: string, interval: IntervalName): Promise<number | undefined> {
  const row = await db
    .selectFrom('klines')
    .select('open_time')
    .where('venue', '=', venue)
    .where('market', '=', market)
    .where('symbol', '=', symbol)
    .where('interval', '=', interval)
    .orderBy('open_time', 'asc')
    .limit(1)
    .executeTakeFirst();
  return row === undefined ? undefined : Number(row.open_time);
}
