/**
 * The one logger factory. Every record is a JSON line (pino); the error log
 * goes to stderr unless a file is named. With `--log-format text` the same
 * records are rewritten for people, gunicorn's way:
 * `[2026-11-21 18:00:00 +0000] [pid] [LEVEL] message key=value`.
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
  /** `json` (the default) or `text` (for people; see {@link formatTextRecord}). */
  format?: 'json' | 'text' | string;
}

/** gunicorn's level names map onto pino's (the names --log-level takes: LOG_LEVELS in src/config/validators.ts). */
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

/** A log file of this process: reopened on SIGUSR1 (logrotate); an asynchronous one is also flushed at exit. */
interface LogFile {
  reopen(): void;
  flush?(): void;
  drain?(): Promise<void>;
}
const openFiles: LogFile[] = [];
const destinations = new WeakMap<Logger, { fd: number }>();

/** The file descriptor a logger writes to now (it changes when the file is reopened). */
export function loggerFd(logger: Logger): number {
  return destinations.get(logger)?.fd ?? 2;
}

/** Reopens every log file of this process (after logrotate moved them away). */
export function reopenLogs(): void {
  for (const f of openFiles) f.reopen();
}

/** Adds a file to those {@link reopenLogs} reopens and {@link flushLogs} flushes (the access log); returns its removal. */
export function registerLogFile(file: LogFile): () => void {
  openFiles.push(file);
  return () => {
    const i = openFiles.indexOf(file);
    if (i >= 0) openFiles.splice(i, 1);
  };
}

/**
 * Writes what the asynchronous logs (the access log) have queued, now and
 * synchronously: for `process.on('exit')`. The error log is synchronous already.
 */
export function flushLogs(): void {
  for (const f of openFiles) f.flush?.();
}

/** Resolves once the asynchronous logs have written every line queued so far (before a graceful exit). */
export async function drainLogs(): Promise<void> {
  await Promise.all(openFiles.map((f) => f.drain?.()));
}

const TEXT_LEVELS: Record<string, string> = {
  trace: 'TRACE', debug: 'DEBUG', info: 'INFO', warn: 'WARNING', error: 'ERROR', fatal: 'CRITICAL',
};
/** Fields the text line shows in its head, or not at all. */
const HEAD_FIELDS = new Set(['time', 'level', 'pid', 'msg', 'err']);

/**
 * Control characters (and U+2028/2029, line separators to some viewers) as
 * `\xNN`/`\uNNNN`: a message or a value cannot start a line that looks like
 * a record. Other non-ASCII text stays readable.
 */
function escapeControls(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, (c) => {
    const n = c.charCodeAt(0);
    return n > 0xff ? `\\u${n.toString(16)}` : `\\x${n.toString(16).padStart(2, '0')}`;
  });
}

function textValue(v: unknown): string {
  if (typeof v === 'string') return /^[\w.:/@+,-]+$/.test(v) ? v : `"${escapeControls(v.replace(/["\\]/g, '\\$&'))}"`;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return escapeControls(JSON.stringify(v) ?? String(v));
}

/** `2026-11-21 18:00:00 +0000`, local time, as gunicorn's error log. */
function textTime(iso: unknown): string {
  const d = typeof iso === 'string' ? new Date(iso) : new Date();
  const p2 = (n: number) => String(n).padStart(2, '0');
  const off = -d.getTimezoneOffset();
  const zone = `${off < 0 ? '-' : '+'}${p2(Math.floor(Math.abs(off) / 60))}${p2(Math.abs(off) % 60)}`;
  return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${zone}`;
}

/**
 * One JSON record (as pino writes it) as a text line:
 * `[time] [pid] [LEVEL] message key=value ...`, and an error's stack on the
 * following lines, each indented by two spaces (so that only a record's
 * first line starts with `[`).
 */
export function formatTextRecord(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  let line = `[${textTime(rec.time)}] [${String(rec.pid ?? process.pid)}] [${TEXT_LEVELS[String(rec.level)] ?? String(rec.level).toUpperCase()}] ${escapeControls(String(rec.msg ?? ''))}`;
  for (const key of Object.keys(rec)) {
    if (!HEAD_FIELDS.has(key)) line += ` ${key}=${textValue(rec[key])}`;
  }
  const err = rec.err as { stack?: unknown; message?: unknown } | undefined;
  if (err !== undefined && err !== null && typeof err === 'object') {
    const stack = typeof err.stack === 'string' ? err.stack : typeof err.message === 'string' ? err.message : JSON.stringify(err);
    for (const l of stack.split('\n')) line += `\n  ${escapeControls(l)}`;
  } else if (err !== undefined) {
    line += ` err=${textValue(err)}`;
  }
  return line + '\n';
}

/** Creates the error logger. Writes are synchronous so nothing is lost when a process dies. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const file = options.file;
  const dest =
    file === undefined || file === '' ? pino.destination({ fd: 2, sync: true })
    : file === '-' ? pino.destination({ fd: 1, sync: true })
    : pino.destination({ dest: file, sync: true, mkdir: true });
  if (file !== undefined && file !== '' && file !== '-') openFiles.push(dest);
  // Text: the JSON line pino made, rewritten. The error log is not on the request path; a parse per record is fine.
  const stream = options.format === 'text' ? { write: (s: string) => dest.write(formatTextRecord(s)) } : dest;
  const logger = pino(
    {
      level: pinoLevel(options.level ?? 'info'),
      base: { pid: process.pid, ...options.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
  destinations.set(logger, dest as unknown as { fd: number });
  return logger;
}
