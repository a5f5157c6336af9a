/**
 * A log sink (pino's test/helper.js `sink`): the real logger of
 * src/logging/logger.ts (its levels, base fields and time) writing its JSON
 * lines to an array of parsed records instead of stderr, so that a test
 * asserts on objects.
 */
import pino from 'pino';
import { createLogger, type Logger, type LoggerOptions } from '../../src/logging/logger.js';

export type LogRecord = Record<string, any>;

export interface Sink {
  /** The logger to hand to the code under test. */
  logger: Logger;
  /** Every record written so far (children's too), in order. */
  records: LogRecord[];
}

/** The real logger (level `debug` unless `options` says otherwise) whose records land in `records`. */
export function sink(options: Pick<LoggerOptions, 'level' | 'base'> = {}): Sink {
  const records: LogRecord[] = [];
  const logger = createLogger({ level: 'debug', ...options });
  // createLogger made its destination (stderr, written synchronously, nothing opened); the sink takes its place, for this logger and the children it makes.
  (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] = { write: (line: string) => void records.push(JSON.parse(line) as LogRecord) };
  return { logger, records };
}
