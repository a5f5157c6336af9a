/**
 * The one logger factory. Every record is a JSON line (pino); the error log
 * goes to stderr unless a file is named. With `--log-format text` (and by
 * default on a terminal) the same records are rewritten for people,
 * gunicorn's way: `[2026-11-21 18:00:00 +0000] [pid] [LEVEL] message key=value`.
 *
 * @module
 */
import { isatty } from 'node:tty';
import pino, { type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LoggerOptions {
  /** `trace`, `debug`, `info`, `warning`/`warn`, `error`, `critical`/`fatal`, or `silent`. */
  level?: string;
  /** A file path, `-` for stdout; default stderr. */
  file?: string;
  /** Fields every record carries (e.g. the worker id). */
  base?: Record<string, unknown>;
  /** `json` (the default), `text` (for people; see {@link formatTextRecord}), or `auto`: text when the log goes to a terminal. */
  format?: 'auto' | 'json' | 'text' | string;
}

/** What `--log-format` comes to for one log. */
export type LogFormat = 'json' | 'text';

/** The format of each of the two logs, as the master decided it (src/ipc/protocol.ts carries it to the workers). */
export interface LogFormats {
  error: LogFormat;
  access: LogFormat;
}

/** Which of the standard streams are terminals. */
export interface Terminals {
  stderr: boolean;
  stdout: boolean;
}

/**
 * The standard streams that are terminals now. `isatty` on the descriptors,
 * not `process.stdout.isTTY`: making `process.stdout` would make a pipe on
 * fd 1 non-blocking, under the access log's synchronous writes.
 */
export function terminals(): Terminals {
  return { stderr: isatty(2), stdout: isatty(1) };
}

/**
 * What `--log-format` comes to for each log. `json` and `text` are what they
 * say; `auto`, the default, is text for a person at a terminal and JSON for
 * everything else (a pipe, a file, the journal): the error log is text when
 * it goes to stderr and stderr is a terminal, the access log when it goes to
 * stdout (`-`) and stdout is a terminal. The master decides once for every
 * worker it starts (the workers inherit its stdio, so they would see the
 * same terminals, but a decision that travels in the WorkerSpec cannot differ).
 */
export function resolveLogFormats(config: { logFormat: string; errorLogfile: string; accessLogfile: string }, tty: Terminals = terminals()): LogFormats {
  if (config.logFormat === 'json' || config.logFormat === 'text') return { error: config.logFormat, access: config.logFormat };
  return {
    error: (config.errorLogfile === '-' || config.errorLogfile === '') && tty.stderr ? 'text' : 'json',
    access: config.accessLogfile === '-' && tty.stdout ? 'text' : 'json',
  };
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
/** Field values a text line leaves out: an app's console output reads as it printed it (the JSON record keeps them). */
const QUIET_VALUES: Record<string, unknown> = { source: 'console' };

const WORD_CHAR = /[\p{L}\p{N}_]/u;

/** Where `s` stands in `msg` as a whole word (no letter, digit or `_` touching it on either side). */
function wholeWordAt(msg: string, s: string): number[] {
  const at: number[] = [];
  for (let i = msg.indexOf(s); i >= 0; i = msg.indexOf(s, i + 1)) {
    const before = i === 0 ? '' : msg[i - 1]!;
    const after = msg[i + s.length] ?? '';
    if (!WORD_CHAR.test(before) && !WORD_CHAR.test(after)) at.push(i);
  }
  return at;
}

/**
 * Whether a record's message already says a field's value, so that its text
 * line need not repeat it: `booting worker 1 with pid 32419`, not that and
 * `worker_id=1 worker_pid=32419`. A value of three characters or more that
 * is not a number (`SIGHUP`, `gateway`, an address) is said when it stands in
 * the message as a whole word. A number, a shorter value, `true` or `false`
 * only counts next to a word of the field's name (`worker 1` says
 * worker_id=1, `pid 32419` worker_pid, `932 ms` ms, `(2 workers)`
 * workers), so that the `1` of `worker 1` does not hide requests=1. A list
 * is said when each of its items is; an object, or null, never.
 */
export function saidInMessage(key: string, value: unknown, msg: string): boolean {
  if (Array.isArray(value)) return value.length > 0 && value.every((v) => saidInMessage(key, v, msg));
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return false;
  const s = String(value);
  if (s === '') return false;
  const at = wholeWordAt(msg, s);
  if (at.length === 0) return false;
  if (typeof value === 'string' && s.length >= 3 && !/^[\d.+-]+$/.test(s)) return true;
  // Words compared without case or a plural s: `1 worker` says workers=1.
  const stem = (w: string) => w.toLowerCase().replace(/(?<=...)s$/, '');
  const words = new Set(key.split(/_|(?=[A-Z])/).filter((w) => w.length >= 2).map(stem));
  const near = (w: string | undefined) => w !== undefined && words.has(stem(w));
  return at.some((i) => near(/([\p{L}\p{N}]+)[ :=]+$/u.exec(msg.slice(0, i))?.[1]) || near(/^ ?([\p{L}\p{N}]+)/u.exec(msg.slice(i + s.length))?.[1]));
}

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
 * `[time] [pid] [LEVEL] message key=value ...`, without the fields the
 * message says already ({@link saidInMessage}); the message's further lines
 * (an app's `console.log` of an object) and an error's stack on the
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
  const msg = String(rec.msg ?? '');
  const [head = '', ...more] = msg.split('\n');
  let line = `[${textTime(rec.time)}] [${String(rec.pid ?? process.pid)}] [${TEXT_LEVELS[String(rec.level)] ?? String(rec.level).toUpperCase()}] ${escapeControls(head)}`;
  for (const key of Object.keys(rec)) {
    if (HEAD_FIELDS.has(key) || QUIET_VALUES[key] === rec[key] || saidInMessage(key, rec[key], msg)) continue;
    line += ` ${key}=${textValue(rec[key])}`;
  }
  for (const l of more) line += `\n  ${escapeControls(l)}`;
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
  const toFile = file !== undefined && file !== '' && file !== '-';
  if (toFile) openFiles.push(dest);
  const text = options.format === 'text' || (options.format === 'auto' && !toFile && isatty(file === '-' ? 1 : 2));
  // Text: the JSON line pino made, rewritten. The error log is not on the request path; a parse per record is fine.
  const stream = text ? { write: (s: string) => dest.write(formatTextRecord(s)) } : dest;
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
