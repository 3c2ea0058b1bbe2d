/** `klagg chaos`: the fake exchange and the full service over loopback, every fault kind injected; prints a JSON summary. */
import { Command, InvalidArgumentError } from 'commander';
import { DEFAULT_INTERVALS, parseIntervalList, type IntervalName } from '../domain/interval.ts';
import { contextOf, type CommandHost } from './cli-context.ts';
import { runChaos } from '../app/chaos.ts';

function positive(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number, got ${JSON.stringify(value)}`);
    return n;
  };
}

export function chaosCommand(host: CommandHost): Command {
  const ctx = contextOf(host);
  const command = new Command('chaos');
  return command
    .description('run the service against the fake exchange while injecting every kind of fault; exit 0 only if nothing was lost')
    .option('-i, --input <file>', 'recording the fake exchange serves (aggTrade frames, one per line)')
    .option('--symbols <n>', 'without --input: a generated market of this many symbols', positive('--symbols'))
    .option('--trades <n>', 'with --symbols: how many trades to generate', positive('--trades'), 200_000)
    .option('--rate <n>', 'with --symbols: generated trades per second of market time', positive('--rate'), 2000)
    .option('--speed <x>', 'market time ÷ speed = wall time (recordings)', positive('--speed'), 20_000)
    .option('--intervals <list>', 'comma-separated intervals', (value: string) => {
      try {
        return parseIntervalList(value);
      } catch (error) {
        throw new InvalidArgumentError((error as Error).message);
      }
    }, [...DEFAULT_INTERVALS])
    .option('--database-url <url>', 'PostgreSQL to write to (default: DATABASE_URL, else a temporary embedded PGlite)')
    .option('--no-faults', 'the fault-free reference run')
    .option('--seed <n>', 'seed of the fault schedule and the generated market', positive('--seed'), 1)
    .action(async (opts: { input?: string; symbols?: number; trades: number; rate: number; speed: number; intervals: IntervalName[]; databaseUrl?: string; faults: boolean; seed: number }) => {
      if (opts.input === undefined && opts.symbols === undefined) throw new InvalidArgumentError('give --input <recording> or --symbols <n>');
      // Chaos sets its own tuning; from the configuration it takes the database and the log settings.
      const { config, logger } = ctx.configure(command, { database: { url: opts.databaseUrl } });
      const summary = await runChaos({
        source: opts.input !== undefined ? { kind: 'recording', path: opts.input, speed: opts.speed } : { kind: 'generated', symbols: opts.symbols!, rate: opts.rate, seed: opts.seed, trades: opts.trades },
        intervals: opts.intervals,
        databaseUrl: config.database.url,
        faults: opts.faults,
        seed: opts.seed,
        logger,
      });
      process.stdout.write(`${JSON.stringify(summary)}\n`);
      if (summary.exitCode !== 0) process.exitCode = summary.exitCode;
    });
}
