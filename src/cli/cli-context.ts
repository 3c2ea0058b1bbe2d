/**
 * What every command gets from `main`: its configuration (defaults < `--config` file < environment < flags, through
 * loadConfig), the root logger built from that configuration's `log` section, and the process lifecycle (signals,
 * stops during the start, bounded teardown).
 */
import type { Command } from 'commander';
import { loadConfig } from '../infra/config/load-config.ts';
import type { DeepPartial, KlaggConfig } from '../infra/config/schema.ts';
import { createRootLogger, type Logger } from '../infra/logger.ts';
import { Lifecycle } from '../app/lifecycle.ts';

export class CliContext {
  readonly lifecycle: Lifecycle;
  /** A logger given by an embedding program (tests): used instead of one built from the configuration. */
  readonly #given: Logger | undefined;
  #logger: Logger | undefined;

  constructor(options: { readonly logger?: Logger; readonly lifecycle?: Lifecycle } = {}) {
    this.#given = options.logger;
    this.lifecycle = options.lifecycle ?? new Lifecycle();
  }

  /**
   * Loads the command's configuration (the `--config` file of the root command, the environment, `flags`) and builds
   * the root logger from it.
   * @throws ConfigError
   */
  configure(command: Command, flags?: DeepPartial<KlaggConfig>): { readonly config: KlaggConfig; readonly logger: Logger } {
    let root = command;
    while (root.parent) root = root.parent;
    const config = loadConfig({ file: root.opts<{ config?: string }>().config, env: process.env, flags });
    this.#logger = this.#given ?? createRootLogger({ level: config.log.level, pretty: config.log.pretty });
    return { config, logger: this.#logger };
  }

  /** The logger of the configured command (undefined before `configure`, as when the configuration is bad). */
  get logger(): Logger | undefined {
    return this.#logger ?? this.#given;
  }
}

/** A command factory's argument: main's context, or just a logger when a test embeds the command. */
export type CommandHost = CliContext | Logger;

export function contextOf(host: CommandHost): CliContext {
  return host instanceof CliContext ? host : new CliContext({ logger: host });
}
