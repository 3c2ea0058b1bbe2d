/** Runs `fake-exchange` as the klagg CLI would (main.ts wires the same command), for the CLI test's child process. */
import { Command } from 'commander';
import { fakeExchangeCommand } from '../../../../src/cli/fake-exchange-command.ts';
import { createRootLogger } from '../../../../src/infra/logger.ts';

const logger = createRootLogger({ level: 'warn' });
await new Command('klagg').addCommand(fakeExchangeCommand(logger)).parseAsync(process.argv);
