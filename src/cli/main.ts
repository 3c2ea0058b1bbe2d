#!/usr/bin/env node
/** The `klagg` command: one sub-command per job. */
import { Command } from 'commander';
import { createRootLogger } from '../infra/logger.ts';
import { replayCommand } from './replay-command.ts';

const logger = createRootLogger({ level: (process.env['KLAGG_LOG_LEVEL'] as 'info' | undefined) ?? 'info' });

const program = new Command('klagg')
  .description('exchange-exact klines from Binance USDⓈ-M aggregate trades')
  .showHelpAfterError()
  .addCommand(replayCommand(logger));

try {
  await program.parseAsync(process.argv);
} catch (error) {
  logger.fatal({ err: error }, 'klagg failed');
  process.exitCode = 1;
}
