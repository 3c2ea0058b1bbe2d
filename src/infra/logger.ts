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
  // JSON lines are written asynchronously (flushed at exit): written synchronously, a burst of lines on a full stderr
  // pipe (a slow reader) stopped the event loop, 100 ms per retry (found by the soak's loop lag).
  // `minLength: 1` writes each line as soon as it is logged, as 0 would, but with 0 `logger.flush(cb)` calls back at
  // once, before lines already logged are written (sonic-boom only waits for its write to drain when minLength > 0):
  // the demo's banner, written after a flush, came before the start's log lines.
  const destination = humane ? pretty({ destination: 2, sync: true, colorize: true }) : pino.destination({ fd: 2, sync: false, minLength: 1 });
  return pino({ level: options.level ?? 'info', base: { service: 'klagg' } }, destination);
}

/**
 * A worker thread's logger: the same pino JSON lines, handed to `write` instead of stderr (the thread posts them to the
 * main thread, which writes them through the one root — so level, format and destination stay decided once).
 */
export function createForwardingLogger(level: string, write: (line: string) => void): Logger {
  return pino({ level, base: { service: 'klagg' } }, { write });
}

/** Writes a line made by `createForwardingLogger` through `logger`, at its level, with its fields. */
export function relayLogLine(logger: Logger, line: string): void {
  let record: { level?: number; msg?: string; time?: unknown; pid?: unknown; hostname?: unknown; service?: unknown; [key: string]: unknown };
  try {
    record = JSON.parse(line) as typeof record;
  } catch {
    logger.warn({ line }, 'unreadable log line from a worker thread');
    return;
  }
  const { level = 30, msg = '', time: _time, pid: _pid, hostname: _hostname, service: _service, ...fields } = record;
  const name = (pino.levels.labels[level] ?? 'info') as 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  logger[name](fields, msg);
}
