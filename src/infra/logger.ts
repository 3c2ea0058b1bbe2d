/**
 * The one pino root. Every component takes a child of it (`logger.child({ actor, symbol })`), never a logger of its
 * own, so level and destination are decided once. Logs go to stderr: stdout belongs to command output (klines).
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LoggerOptions {
  readonly level?: LevelWithSilent;
}

export function createRootLogger(options: LoggerOptions = {}): Logger {
  return pino({ level: options.level ?? 'info', base: { service: 'klagg' } }, pino.destination({ fd: 2, sync: true }));
}
