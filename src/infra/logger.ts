/**
 * The one pino root. Every component takes a child of it (`logger.child({ actor, symbol })`), never a logger of its
 * own, so level and destination are decided once — from the configuration's `log` section (`log.level`, env
 * KLAGG_LOG__LEVEL or KLAGG_LOG_LEVEL; `log.pretty`). Logs go to stderr: stdout belongs to command output (klines).
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export interface LoggerOptions {
  readonly level?: LevelWithSilent;
  /** Human-readable lines (for a terminal) instead of JSON; `auto`: when stderr is a terminal. */
  readonly pretty?: boolean | 'auto';
}

export function createRootLogger(options: LoggerOptions = {}): Logger {
  const humane = options.pretty === 'auto' ? process.stderr.isTTY === true : (options.pretty ?? false);
  const destination = humane ? pretty({ destination: 2, sync: true, colorize: true }) : pino.destination({ fd: 2, sync: true });
  return pino({ level: options.level ?? 'info', base: { service: 'klagg' } }, destination);
}
