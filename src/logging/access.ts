/**
 * The access log: one line per request, written when the response ends or
 * the client goes away. A JSON object by default; with `--log-format text`,
 * a line in gunicorn's `access_log_format` atoms.
 *
 * This runs on the request path of every request, so the line is built by
 * hand (no intermediate object, no pino child, no per-request closure) and
 * queued on a {@link CoalescingWriter}: the lines of up to 20 ms go out in
 * one write. A worker
 * that exits writes what is queued first (`flushLogs`, `drainLogs`),
 * so only a SIGKILL can lose the last lines.
 *
 * @module
 */
import type { ExchangeRecord } from '../gateway/handler.js';
import type { HeaderPair } from '../gateway/types.js';
import { CoalescingWriter } from './coalescing-writer.js';
import { registerLogFile, type Logger } from './logger.js';

/** gunicorn's default `access_log_format` (the Apache/nginx "combined" format). */
export const DEFAULT_ACCESS_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"';

/** Settings of {@link createAccessLog}. */
export interface AccessLogOptions {
  /** A file path (created with its directory, appended to), or `-` for stdout. */
  file: string;
  /** `json` (the default): a JSON object per line; `text`: a line in {@link AccessLogOptions.template}. */
  format?: 'json' | 'text' | string;
  /** gunicorn's `access_log_format`, used in text mode (default {@link DEFAULT_ACCESS_FORMAT}). */
  template?: string;
  /** `worker_id` of every record. */
  workerId?: number;
  /** Where write errors (a full disk, say) are reported; they never reach the request. */
  logger?: Logger;
}

/** What {@link createAccessLog} returns. */
export interface AccessLog {
  /** Writes the line of one request. Call it from `RequestObserver.requestEnded`: the record is read at once, not kept. */
  log(record: ExchangeRecord): void;
  /** Writes every queued line now, synchronously (at exit). */
  flush(): void;
  /** Resolves once every line logged so far has been written (before a graceful exit). */
  drain(): Promise<void>;
  /** Reopens the file by its name (USR1; `reopenLogs` does it for every log). */
  reopen(): void;
  /** Writes what is queued and closes the file; `reopenLogs` and `flushLogs` forget it. */
  close(): void;
  /** The file's path, or `-`. */
  readonly file: string;
}

/** A failing disk fails every write: one error record per this many ms at most. */
const ERROR_REPORT_INTERVAL_MS = 10_000;

/**
 * Opens the access log (synchronously: a file that cannot be opened throws
 * here, and the worker fails to boot rather than serve without its log) and
 * registers it with `reopenLogs` and `flushLogs`.
 */
export function createAccessLog(options: AccessLogOptions): AccessLog {
  const logger = options.logger;
  let lastReport = 0;
  let lost = 0;
  const writer = new CoalescingWriter({
    file: options.file,
    onError(err, lines) {
      lost += lines;
      const now = Date.now();
      if (now - lastReport < ERROR_REPORT_INTERVAL_MS) return;
      lastReport = now;
      logger?.error({ err, access_logfile: options.file, lost_lines: lost }, 'cannot write the access log');
      lost = 0;
    },
  });
  const line = accessLineFormatter(options);
  const log: AccessLog = {
    file: options.file,
    log(record: ExchangeRecord): void {
      writer.write(line(record));
    },
    flush: () => writer.flushSync(),
    drain: () => writer.drain(),
    reopen: () => writer.reopen(),
    close: () => {
      unregister();
      writer.closeSync();
    },
  };
  const unregister = registerLogFile({ reopen: log.reopen, flush: log.flush, drain: log.drain });
  return log;
}

/** The function that makes the line (with its `\n`) of a record, as {@link createAccessLog} writes it. */
export function accessLineFormatter(options: Pick<AccessLogOptions, 'format' | 'template' | 'workerId'> = {}): (record: ExchangeRecord) => string {
  return options.format === 'text'
    ? compileAccessFormat(options.template ?? DEFAULT_ACCESS_FORMAT)
    : jsonLine(process.pid, options.workerId ?? 0);
}

// ---- JSON

/** `performance.now()` is the clock of ExchangeRecord.startedAt. */
const perf = globalThis.performance;

let lastMs = 0;
let lastIso = '';
/** The ISO time, made once per millisecond: a busy worker ends many requests in one. */
function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

/** What JSON.stringify would escape in a string, and everything outside ASCII. */
const JSON_ESCAPE = /["\\\x00-\x1f\x7f-\uffff]/;
const NON_ASCII = /[\x7f-\uffff]/g;

/**
 * A JSON string, or `null`, in ASCII: characters outside it are written
 * `\\u00NN` (JSON readers decode them to the same string). Lines are then
 * one byte per character, which the writer copies as latin-1, several
 * times cheaper than Node 20's UTF-8 encoding. Most values need no escape:
 * a regex test is cheaper than JSON.stringify.
 */
function jstr(v: unknown): string {
  if (typeof v !== 'string') return 'null';
  if (!JSON_ESCAPE.test(v)) return '"' + v + '"';
  return JSON.stringify(v).replace(NON_ASCII, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

function protocolOf(r: ExchangeRecord): string {
  const req = r.req;
  if (req.httpVersionMajor === 1) return req.httpVersionMinor === 1 ? 'HTTP/1.1' : 'HTTP/1.0';
  return `HTTP/${req.httpVersion}`;
}

/** The client's address: the environ's (after proxy trust), else the peer's. */
function remoteOf(r: ExchangeRecord): string | undefined {
  const env = r.environ;
  if (env !== undefined && typeof env.REMOTE_ADDR === 'string' && env.REMOTE_ADDR !== '') return env.REMOTE_ADDR;
  const peer = r.req.socket.remoteAddress;
  return peer !== undefined && peer.startsWith('::ffff:') && peer.includes('.') ? peer.slice(7) : peer;
}

/** A request header: from the environ when there is one (the raw header list is parsed there already). */
function requestHeader(r: ExchangeRecord, envKey: string, name: string): string | undefined {
  const env = r.environ;
  if (env !== undefined) {
    const v = env[envKey];
    return typeof v === 'string' ? v : undefined;
  }
  const v = r.req.headers[name];
  return typeof v === 'string' ? v : Array.isArray(v) ? v.join(', ') : undefined;
}

/** Milliseconds since the request started, with three decimals (integer arithmetic: cheaper than a double's toString). */
function durationMs(r: ExchangeRecord): string {
  const us = Math.round((perf.now() - r.startedAt) * 1000);
  const frac = us % 1000;
  return (us - frac) / 1000 + (frac < 10 ? '.00' : frac < 100 ? '.0' : '.') + frac;
}

/** Builds the function that makes one JSON line; the fields fixed per process are made once. */
function jsonLine(pid: number, workerId: number): (r: ExchangeRecord) => string {
  const mid = `","pid":${pid},"worker_id":${workerId},"request_id":`;
  return (r) => {
    const req = r.req;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    return '{"time":"' + isoNow() + mid + jstr(r.requestId)
      + ',"method":' + jstr(req.method)
      + ',"path":' + jstr(q < 0 ? url : url.slice(0, q))
      + ',"query":' + (q < 0 ? '""' : jstr(url.slice(q + 1)))
      + ',"protocol":"' + protocolOf(r)
      + '","status":' + r.loggedStatus
      + ',"bytes":' + r.sent
      + ',"request_bytes":' + r.received
      + ',"duration_ms":' + durationMs(r)
      + ',"remote_addr":' + jstr(remoteOf(r))
      + ',"user_agent":' + jstr(requestHeader(r, 'HTTP_USER_AGENT', 'user-agent'))
      + ',"referer":' + jstr(requestHeader(r, 'HTTP_REFERER', 'referer'))
      + ',"completed":' + r.completed
      + '}\n';
  };
}

// ---- Text: gunicorn's atoms

/**
 * Escapes a value for a text line as Apache and nginx do: `"` and `\` get a
 * backslash; control characters (CR, LF, ESC...), DEL and every non-ASCII
 * byte become `\xNN`. Nothing a client sends can then end a line, or be
 * taken for a quote or a terminal escape sequence.
 */
export function escapeLogValue(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c >= 0x20 && c < 0x7f) out += s[i];
    else if (c <= 0xff) out += '\\x' + HEX[c];
    else {
      // Beyond latin-1 (an environ value the app set): its UTF-8 bytes.
      const cp = s.codePointAt(i)!;
      if (cp > 0xffff) i++;
      for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) out += '\\x' + HEX[b];
    }
  }
  return out;
}

const NEEDS_ESCAPE = /[\x00-\x1f"\\\x7f-\uffff]/;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** A value of the text line: a number, or an (unescaped) string, or undefined for `-`. */
type Atom = (r: ExchangeRecord) => string | number | undefined;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad2 = (n: number): string => (n < 10 ? '0' : '') + n;

let lastSecond = -1;
let lastClf = '';
/** `[21/Nov/2026:18:00:00 +0000]` in local time, as gunicorn and Apache write it; made once per second. */
export function clfTime(ms = Date.now()): string {
  const sec = Math.floor(ms / 1000);
  if (sec === lastSecond) return lastClf;
  const d = new Date(sec * 1000);
  const off = -d.getTimezoneOffset();
  const abs = Math.abs(off);
  const zone = (off < 0 ? '-' : '+') + pad2(Math.floor(abs / 60)) + pad2(abs % 60);
  lastClf = `[${pad2(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ${zone}]`;
  lastSecond = sec;
  return lastClf;
}

/** The user of a Basic Authorization header, as gunicorn's `%(u)s`. */
function basicUser(r: ExchangeRecord): string | undefined {
  const auth = requestHeader(r, 'HTTP_AUTHORIZATION', 'authorization');
  if (auth === undefined || !/^basic /i.test(auth)) return undefined;
  const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : decoded.slice(0, colon);
}

/** The request target split at `?`, for a request refused before its environ. */
function targetPart(r: ExchangeRecord, part: 'path' | 'query'): string {
  const url = r.req.url ?? '';
  const q = url.indexOf('?');
  if (part === 'path') return q < 0 ? url : url.slice(0, q);
  return q < 0 ? '' : url.slice(q + 1);
}

function pathOf(r: ExchangeRecord): string {
  const v = r.environ?.PATH_INFO;
  return typeof v === 'string' ? v : targetPart(r, 'path');
}

function queryOf(r: ExchangeRecord): string {
  const v = r.environ?.QUERY_STRING;
  return typeof v === 'string' ? v : targetPart(r, 'query');
}

/** Every value of a response header (any case), joined with `, `. */
function responseHeader(headers: readonly HeaderPair[], lower: string): string | undefined {
  let out: string | undefined;
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i]!;
    if (h[0].length === lower.length && h[0].toLowerCase() === lower) out = out === undefined ? h[1] : `${out}, ${h[1]}`;
  }
  return out;
}

const elapsed = (r: ExchangeRecord): number => perf.now() - r.startedAt;

/** gunicorn's simple atoms (glogging.py), by letter. */
const ATOMS: Record<string, Atom> = {
  h: (r) => remoteOf(r),
  l: () => undefined,
  u: basicUser,
  t: () => clfTime(),
  r: (r) => `${r.req.method} ${r.req.url} ${protocolOf(r)}`,
  m: (r) => r.req.method,
  U: pathOf,
  q: queryOf,
  H: protocolOf,
  s: (r) => r.loggedStatus,
  B: (r) => r.sent,
  b: (r) => (r.sent === 0 ? undefined : r.sent),
  f: (r) => requestHeader(r, 'HTTP_REFERER', 'referer'),
  a: (r) => requestHeader(r, 'HTTP_USER_AGENT', 'user-agent'),
  T: (r) => Math.floor(elapsed(r) / 1000),
  D: (r) => Math.round(elapsed(r) * 1000),
  M: (r) => Math.floor(elapsed(r)),
  L: (r) => (elapsed(r) / 1000).toFixed(6),
  p: () => `<${process.pid}>`,
};

function headerAtom(spec: string): Atom | undefined {
  const name = spec.slice(1, spec.length - 2);
  const kind = spec[spec.length - 1];
  const lower = name.toLowerCase();
  if (kind === 'i') {
    // Content-Type and Content-Length are not HTTP_ keys in an environ; node's own header object has them all.
    return (r) => {
      const v = r.req.headers[lower];
      return typeof v === 'string' ? v : Array.isArray(v) ? v.join(', ') : undefined;
    };
  }
  if (kind === 'o') return (r) => responseHeader(r.headers, lower);
  if (kind === 'e') {
    return (r) => {
      const v = r.environ?.[name];
      return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
    };
  }
  return undefined;
}

/**
 * Compiles a gunicorn `access_log_format` into a function that makes a line
 * (with its `\n`) from a record. `%(x)s` atoms as gunicorn's, plus
 * `%({name}i)s` (a request header), `%({name}o)s` (a response header) and
 * `%({name}e)s` (an environ value); `%%` is a `%`. Missing values (an absent
 * header), and atoms gwserver does not know, are `-`; an empty one stays
 * empty, as in gunicorn. Every string value is escaped with
 * {@link escapeLogValue}.
 */
export function compileAccessFormat(template: string): (r: ExchangeRecord) => string {
  const literals: string[] = [];
  const atoms: Atom[] = [];
  const re = /%\((\{[^}]*\}[ioe]|[A-Za-z]+)\)s|%%/g;
  let last = 0;
  let lit = '';
  let m: RegExpExecArray | null;
  while ((m = re.exec(template)) !== null) {
    lit += template.slice(last, m.index);
    last = re.lastIndex;
    if (m[0] === '%%') {
      lit += '%';
      continue;
    }
    const spec = m[1]!;
    literals.push(lit);
    lit = '';
    atoms.push((spec.startsWith('{') ? headerAtom(spec) : ATOMS[spec]) ?? (() => undefined));
  }
  literals.push(lit + template.slice(last) + '\n');
  // The writer takes byte strings (one byte per character): a literal outside ASCII goes as its UTF-8 bytes.
  for (let i = 0; i < literals.length; i++) literals[i] = Buffer.from(literals[i]!, 'utf8').toString('latin1');
  const n = atoms.length;
  return (r) => {
    let out = literals[0]!;
    for (let i = 0; i < n; i++) {
      const v = atoms[i]!(r);
      out += (v === undefined ? '-' : typeof v === 'number' ? String(v) : escapeLogValue(v)) + literals[i + 1]!;
    }
    return out;
  };
}
