/**
 * The one logger factory. Every record is a JSON line (pino); the error log
 * goes to stderr unless a file is named.
 *
 * @module
 */
import pino, { type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LoggerOptions {
  /** `trace`, `debug`, `info`, `warning`/`warn`, `error`, `critical`/`fatal`, or `silent`. */
  level?: string;
  /** A file path, `-` for stdout; default stderr. */
  file?: string;
  /** Fields every record carries (e.g. the worker id). */
  base?: Record<string, unknown>;
}

/** gunicorn's level names map onto pino's. */
export function pinoLevel(level: string): LevelWithSilent {
  switch (level.toLowerCase()) {
    case 'warning':
      return 'warn';
    case 'critical':
      return 'fatal';
    default:
      return level.toLowerCase() as LevelWithSilent;
  }
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warning', 'warn', 'error', 'critical', 'fatal', 'silent'] as const;

/** Files opened by createLogger in this process, reopened on SIGUSR1 (logrotate). */
const openFiles: Array<{ reopen(): void }> = [];
const destinations = new WeakMap<Logger, { fd: number }>();

/** The file descriptor a logger writes to now (it changes when the file is reopened). */
export function loggerFd(logger: Logger): number {
  return destinations.get(logger)?.fd ?? 2;
}

/** Reopens every log file of this process (after logrotate moved them away). */
export function reopenLogs(): void {
  for (const f of openFiles) f.reopen();
}

/** Creates the error logger. Writes are synchronous so nothing is lost when a process dies. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const file = options.file;
  const dest =
    file === undefined || file === '' ? pino.destination({ fd: 2, sync: true })
    : file === '-' ? pino.destination({ fd: 1, sync: true })
    : pino.destination({ dest: file, sync: true, mkdir: true });
  if (file !== undefined && file !== '' && file !== '-') openFiles.push(dest);
  const logger = pino(
    {
      level: pinoLevel(options.level ?? 'info'),
      base: { pid: process.pid, ...options.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    dest,
  );
  destinations.set(logger, dest as unknown as { fd: number });
  return logger;
}
