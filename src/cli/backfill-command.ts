/**
 * `klagg backfill`: history and holes only, no live streams — a progress bar on a terminal, progress lines in the log
 * otherwise. Resumable: what is stored is never downloaded again.
 */
import { Command, InvalidArgumentError } from 'commander';
import cliProgress from 'cli-progress';
import { parseIntervalList, type IntervalName } from '../domain/interval.ts';
import { scalesFromSizes } from '../domain/kline-format.ts';
import { KlineBackfiller, type BackfillProgress } from '../actors/kline-backfiller.ts';
import { BinanceRestClient } from '../infra/binance/rest-client.ts';
import { requestWeightLimitPerMinute } from '../domain/exchange-api.ts';
import { OffsetClock, systemClock } from '../infra/clock.ts';
import { KlineStore } from '../infra/db/kline-store.ts';
import { contextOf, type CommandHost } from './cli-context.ts';
import { exchangeFailure, openDatabaseOrFail } from '../app/start-failures.ts';

function list(value: string): string[] {
  return value.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
}

function whole(name: string): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be a whole number, got ${JSON.stringify(value)}`);
    return Number(value);
  };
}

export function backfillCommand(host: CommandHost): Command {
  const ctx = contextOf(host);
  const command = new Command('backfill');
  return command
    .description('fill kline history and holes from the exchange (no live streams); resumable')
    .option('--symbols <list>', 'comma-separated symbols (default: every PERPETUAL USDT symbol TRADING)', list)
    .option('--intervals <list>', 'comma-separated intervals (default: config)', (value: string) => {
      try {
        return parseIntervalList(value);
      } catch (error) {
        throw new InvalidArgumentError((error as Error).message);
      }
    })
    .option('--depth <n>', 'klines per interval to keep (1d and 1w: full history)', whole('--depth'), 1000)
    .option('--database-url <url>', 'PostgreSQL (default: config / DATABASE_URL, else the embedded PGlite)')
    .option('--rest-url <url>', 'exchange REST base URL (default: config)')
    .action(async (opts: { symbols?: string[]; intervals?: IntervalName[]; depth: number; databaseUrl?: string; restUrl?: string }) => {
      const { config, logger } = ctx.configure(command, {
        intervals: opts.intervals,
        database: { url: opts.databaseUrl },
        exchange: { restBaseUrl: opts.restUrl },
      });
      const log = logger.child({ command: 'backfill' });
      // "Closed" is decided on the exchange's clock: a period still open there must not be stored as final.
      const clock = new OffsetClock(systemClock);
      const restUrl = config.exchange.restBaseUrl;
      const rest = new BinanceRestClient({
        baseUrl: restUrl,
        clock,
        logger: log,
        budgetShare: config.exchange.weightBudgetShare,
        maxRetries: config.exchange.maxRetries,
        backoffBaseMs: config.exchange.backoffInitialMs,
      });
      const unreachable = (error: unknown): never => {
        throw exchangeFailure(restUrl, error);
      };
      clock.setOffset((await rest.measureTimeOffset().catch(unreachable)).offsetMs);
      const info = await rest.exchangeInfo().catch(unreachable);
      const limit = requestWeightLimitPerMinute(info);
      if (limit !== undefined) rest.setWeightLimit(limit);
      const symbols = info.symbols.filter((s) =>
        opts.symbols ? opts.symbols.includes(s.symbol) : s.contractType === 'PERPETUAL' && s.quoteAsset === 'USDT' && s.status === 'TRADING',
      );
      const unknown = (opts.symbols ?? []).filter((name) => !info.symbols.some((s) => s.symbol === name));
      if (unknown.length > 0) throw new InvalidArgumentError(`unknown symbols: ${unknown.join(', ')}`);
      const database = await openDatabaseOrFail({ url: config.database.url, dataDir: config.database.dataDir, logger: log });
      const bar = process.stderr.isTTY ? new cliProgress.SingleBar({ format: 'backfill [{bar}] {value}/{total} symbols | {klines} klines | {current}', hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
      let lastLog = 0;
      const onProgress = (p: BackfillProgress): void => {
        bar?.update(p.symbolsDone, { klines: p.klinesWritten, current: p.currentSymbols.join(' ') });
        if (!bar && Date.now() - lastLog > 5_000) {
          lastLog = Date.now();
          log.info({ progress: p }, 'backfill progress');
        }
      };
      try {
        const backfiller = new KlineBackfiller({
          rest,
          store: KlineStore.forDatabase(database),
          venue: config.venue,
          market: config.market,
          intervals: config.intervals,
          depth: opts.depth,
          clock,
          logger: log,
          onProgress,
          scalesOf: (symbol) => scalesFromSizes(info.symbols.find((s) => s.symbol === symbol)),
        });
        bar?.start(symbols.length, 0, { klines: 0, current: '' });
        const summary = await backfiller.run(symbols.map((s) => ({ symbol: s.symbol, listedAt: s.onboardDate })), clock.now());
        bar?.stop();
        log.info({ ...summary, failures: summary.failures.map((f) => ({ symbol: f.symbol, error: f.error.message })), rest: rest.stats }, 'backfill finished');
        if (summary.symbolsFailed > 0) process.exitCode = 1;
      } finally {
        bar?.stop();
        await database.close();
      }
    });
}
