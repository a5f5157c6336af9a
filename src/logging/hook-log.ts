/**
 * `server.log` and `worker.log` in the config file's hooks: the logger
 * methods gunicorn's hooks call (`server.log.info("worker spawned (pid:
 * %s)", worker.pid)`), written through this process's pino logger, so that
 * a hook's records land in the error log with the others: in a worker with
 * its `worker_id`, in the master about a worker with that worker's id.
 *
 * A small object of bound functions rather than the pino logger itself: a
 * hook may take a method off it (`const { info } = server.log`), and what
 * hooks see stays the same if the logger behind it changes.
 *
 * @module
 */
import type { Logger } from 'pino';

/**
 * A log method: a message with printf-style arguments (`%s`, `%d`, `%j`,
 * `%o`), as gunicorn's hooks write them, or pino's fields first.
 */
export interface HookLogMethod {
  (msg: string, ...args: unknown[]): void;
  (fields: object, msg?: string, ...args: unknown[]): void;
}

/** What `server.log` and `worker.log` offer: pino's level names, and gunicorn's `warning` and `critical`. */
export interface HookLog {
  debug: HookLogMethod;
  info: HookLogMethod;
  warn: HookLogMethod;
  /** gunicorn's name for `warn`. */
  warning: HookLogMethod;
  error: HookLogMethod;
  /** gunicorn's name for the highest level (pino's `fatal`); it stops nothing. */
  critical: HookLogMethod;
}

/** The hooks' view of `logger`. */
export function hookLog(logger: Logger): HookLog {
  const at = (level: 'debug' | 'info' | 'warn' | 'error' | 'fatal'): HookLogMethod =>
    (...args: unknown[]) => (logger[level] as (...a: unknown[]) => void).apply(logger, args);
  const warn = at('warn');
  return Object.freeze({ debug: at('debug'), info: at('info'), warn, warning: warn, error: at('error'), critical: at('fatal') });
}
