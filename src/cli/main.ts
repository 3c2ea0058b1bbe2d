#!/usr/bin/env node
/** The `klagg` command: one sub-command per job. */
import { Command } from 'commander';
import { ConfigError } from '../infra/config/config-error.ts';
import { createRootLogger } from '../infra/logger.ts';
import { auditCommand } from './audit-command.ts';
import { backfillCommand } from './backfill-command.ts';
import { runCommand } from './run-command.ts';
import { chaosCommand } from './chaos-command.ts';
import { demoCommand } from './demo-command.ts';
import { fakeExchangeCommand } from './fake-exchange-command.ts';
import { recordCommand } from './record-command.ts';
import { replayCommand } from './replay-command.ts';

const logger = createRootLogger({ level: (process.env['KLAGG_LOG_LEVEL'] as 'info' | undefined) ?? 'info', pretty: process.stderr.isTTY });

const program = new Command('klagg')
  .description('exchange-exact klines from Binance USDⓈ-M aggregate trades')
  .showHelpAfterError()
  .option('-c, --config <file>', 'JSON config file (also KLAGG_CONFIG); environment variables and flags override it')
  .addCommand(demoCommand(logger))
  .addCommand(runCommand(logger))
  .addCommand(backfillCommand(logger))
  .addCommand(replayCommand(logger))
  .addCommand(recordCommand(logger))
  .addCommand(chaosCommand(logger))
  .addCommand(fakeExchangeCommand(logger))
  .addCommand(auditCommand(logger));

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof ConfigError) {
    // A bad configuration is the user's to fix: one plain line per bad field, no stack.
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 2;
  } else {
    logger.fatal({ err: error }, 'klagg failed');
    process.exitCode = 1;
  }
}
