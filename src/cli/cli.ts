/**
 * The `klagg` program (started by main.ts): one sub-command per job.
 *
 * Exit codes: 0 done (also after an orderly stop asked by SIGINT/SIGTERM, during the start too); 1 a failure — a start
 * that cannot complete (port taken, exchange or database unreachable, data directory locked) prints one line
 * `KLAGG_ERR_…: cause — fix` on stderr, an unexpected error is logged as fatal with its stack; 2 a bad configuration or
 * bad arguments (one line per problem); 130 a second SIGINT/SIGTERM, which exits at once.
 */
import { Command, type CommanderError } from 'commander';
import { KlaggError } from '../domain/errors.ts';
import { ConfigError } from '../infra/config/config-error.ts';
import { createRootLogger } from '../infra/logger.ts';
import { CliContext, type CommandHost } from './cli-context.ts';
import { FORCED_EXIT_CODE, Lifecycle, StopRequested } from '../app/lifecycle.ts';

/** How long what was started may take to stop after a failure or a stop request. */
const CLOSE_TIMEOUT_MS = 5_000;
/** After that, how long the event loop may stay busy (a socket, a timer of a half-started part) before exit is forced. */
const EXIT_GRACE_MS = 1_000;

const lifecycle = new Lifecycle();
const context = new CliContext({ lifecycle });
// Before anything starts: a Ctrl+C while the service is still starting stops it; a second one exits at once.
lifecycle.installSignals({
  onStop: (signal) => context.logger?.info({ signal }, 'stopping (send it again to exit at once)'),
  onForce: () => process.exit(FORCED_EXIT_CODE),
});

type CommandFactory = (host: CommandHost) => Command;

/** Each command's module, loaded only when it is the one run (all of them for the overall help): startup stays quick. */
const COMMANDS: Readonly<Record<string, () => Promise<CommandFactory>>> = {
  demo: async () => (await import('./demo-command.ts')).demoCommand,
  run: async () => (await import('./run-command.ts')).runCommand,
  backfill: async () => (await import('./backfill-command.ts')).backfillCommand,
  replay: async () => (await import('./replay-command.ts')).replayCommand,
  record: async () => (await import('./record-command.ts')).recordCommand,
  chaos: async () => (await import('./chaos-command.ts')).chaosCommand,
  'fake-exchange': async () => (await import('./fake-exchange-command.ts')).fakeExchangeCommand,
  audit: async () => (await import('./audit-command.ts')).auditCommand,
  ingest: async () => (await import('./cluster-commands.ts')).ingestCommand,
  aggregate: async () => (await import('./cluster-commands.ts')).aggregateCommand,
  write: async () => (await import('./cluster-commands.ts')).writeCommand,
  serve: async () => (await import('./cluster-commands.ts')).serveCommand,
};

const program = new Command('klagg')
  .description('exchange-exact klines from Binance USDⓈ-M aggregate trades')
  .showHelpAfterError()
  .option('-c, --config <file>', 'JSON config file (also KLAGG_CONFIG); environment variables and flags override it');
const invoked = process.argv.slice(2).find((arg) => Object.hasOwn(COMMANDS, arg));
const factories = await Promise.all((invoked === undefined ? Object.keys(COMMANDS) : [invoked]).map((name) => COMMANDS[name]!()));
/** Usage errors (unknown option, bad value) exit 2 like a bad configuration, not commander's default 1; help exits 0. */
const usageExit = (error: CommanderError): never => process.exit(error.exitCode === 0 ? 0 : 2);
program.exitOverride(usageExit);
for (const factory of factories) program.addCommand(factory(context).exitOverride(usageExit));

/** Reports a failed command and returns its exit code. */
function report(error: unknown): number {
  if (error instanceof StopRequested) return 0;
  if (error instanceof ConfigError) {
    // A bad configuration is the user's to fix: one plain line per bad field, no stack.
    process.stderr.write(`${error.message}\n`);
    return 2;
  }
  if (error instanceof KlaggError && error.code !== 'KLAGG_ERR_SYSTEM_INVARIANT') {
    // An expected failure (port taken, exchange or database unreachable, data directory locked): one line, no stack.
    process.stderr.write(`${error.oneLine()}\n`);
    return 1;
  }
  (context.logger ?? createRootLogger()).fatal({ err: error }, 'klagg failed');
  return 1;
}

let code = 0;
let failed = false;
try {
  await program.parseAsync(process.argv);
  code = typeof process.exitCode === 'number' ? process.exitCode : 0;
} catch (error) {
  failed = true;
  code = report(error);
}
const unfinished = await lifecycle.close(CLOSE_TIMEOUT_MS, (part, error) => context.logger?.warn({ err: error, part }, 'stopping failed'));
if (unfinished.length > 0) context.logger?.warn({ parts: unfinished }, 'not every part stopped in time; exiting anyway');
process.exitCode = code;
if (failed || lifecycle.stopReason !== undefined || unfinished.length > 0) {
  // A process that is done must end even if a half-started part still holds a socket or a timer.
  setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
}
