/**
 * The access log: one line per request, written when the response ends or
 * the client goes away. A JSON object by default (with a `level` and a `msg`
 * such as `GET /items/42 200 512 B in 1.284 ms`, so that pino-pretty shows
 * it as one line); with `--log-format text`, or on a terminal, a line in
 * gunicorn's `access_log_format` atoms.
 *
 * This runs on the request path of every request, so a request that ends
 * only leaves its values in a queue; the JSON lines are made in batches,
 * byte by byte, straight into the {@link CoalescingWriter}'s buffer (no
 * intermediate object or string, no pino child, no per-request closure),
 * and the lines of up to 20 ms go out in one write. A worker
 * that exits writes what is queued first (`flushLogs`, `drainLogs`),
 * so only a SIGKILL can lose the last lines.
 *
 * @module
 */
import { isatty } from 'node:tty';
import type { ExchangeRecord } from '../gateway/handler.js';
import type { HeaderPair } from '../gateway/types.js';
import { CoalescingWriter, type LineSink } from './coalescing-writer.js';
import { registerLogFile, type Logger } from './logger.js';

/** gunicorn's default `access_log_format` (the Apache/nginx "combined" format). */
export const DEFAULT_ACCESS_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"';

/** Settings of {@link createAccessLog}. */
export interface AccessLogOptions {
  /** A file path (created with its directory, appended to), or `-` for stdout. */
  file: string;
  /** `json` (the default): a JSON object per line; `text`: a line in {@link AccessLogOptions.template}; `auto`: text when the file is `-` and stdout a terminal. */
  format?: 'auto' | 'json' | 'text' | string;
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
  let log: AccessLog['log'];
  if (options.format === 'text' || (options.format === 'auto' && options.file === '-' && isatty(1))) {
    const line = compileAccessFormat(options.template ?? DEFAULT_ACCESS_FORMAT);
    log = (record) => writer.write(line(record));
  } else {
    const queue = new JsonLineQueue(process.pid, options.workerId ?? 0, QUEUE_RECORDS);
    writer.setSource(() => queue.render(writer));
    log = (record) => {
      if (!queue.add(record)) {
        queue.render(writer);
        queue.add(record);
      }
      writer.queued();
    };
  }
  const access: AccessLog = {
    file: options.file,
    log,
    flush: () => writer.flushSync(),
    drain: () => writer.drain(),
    reopen: () => writer.reopen(),
    close: () => {
      unregister();
      writer.closeSync();
    },
  };
  const unregister = registerLogFile({ reopen: access.reopen, flush: access.flush, drain: access.drain });
  return access;
}

/** The function that makes the line (with its `\n`) of a record, as {@link createAccessLog} writes it. */
export function accessLineFormatter(options: Pick<AccessLogOptions, 'format' | 'template' | 'workerId'> = {}): (record: ExchangeRecord) => string {
  if (options.format === 'text') return compileAccessFormat(options.template ?? DEFAULT_ACCESS_FORMAT);
  const queue = new JsonLineQueue(process.pid, options.workerId ?? 0, 1);
  let buf = Buffer.alloc(0);
  let end = 0;
  const sink: LineSink = {
    room: (max) => (buf.length >= max ? buf : (buf = Buffer.alloc(max))),
    get end() {
      return 0;
    },
    commit: (e) => void (end = e),
  };
  return (record) => {
    queue.add(record);
    queue.render(sink);
    return buf.toString('latin1', 0, end);
  };
}

// ---- JSON

/** The part of a record the request's values are read from. */
type RequestView = Pick<ExchangeRecord, 'req' | 'environ'>;

/** `performance.now()` is the clock of ExchangeRecord.startedAt and endedAt. */
const perf = globalThis.performance;

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

function protocolOf(r: RequestView): string {
  const req = r.req;
  if (req.httpVersionMajor === 1) return req.httpVersionMinor === 1 ? 'HTTP/1.1' : 'HTTP/1.0';
  return `HTTP/${req.httpVersion}`;
}

/** The client's address: the environ's (after proxy trust), else the peer's. */
function remoteOf(r: RequestView): string | undefined {
  const env = r.environ;
  if (env !== undefined && typeof env.REMOTE_ADDR === 'string' && env.REMOTE_ADDR !== '') return env.REMOTE_ADDR;
  const peer = r.req.socket.remoteAddress;
  return peer !== undefined && peer.startsWith('::ffff:') && peer.includes('.') ? peer.slice(7) : peer;
}

/** A request header: from the environ when there is one (the raw header list is parsed there already). */
function requestHeader(r: RequestView, envKey: string, name: string): string | undefined {
  const env = r.environ;
  if (env !== undefined) {
    const v = env[envKey];
    return typeof v === 'string' ? v : undefined;
  }
  const v = r.req.headers[name];
  return typeof v === 'string' ? v : Array.isArray(v) ? v.join(', ') : undefined;
}

/** Copies an ASCII string (a constant, or a value checked to need no escape); returns the new end. */
function putAscii(b: Buffer, o: number, s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) b[o + i] = s.charCodeAt(i);
  return o + n;
}

/** The inside of a JSON string (no quotes) as {@link jstr} writes it: for a value that is part of a longer string. */
function putJstrInner(b: Buffer, o: number, v: string): number {
  const n = v.length;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) {
      const j = jstr(v);
      return putAscii(b, o, j.slice(1, j.length - 1));
    }
    b[o + i] = c;
  }
  return o + n;
}

/** A JSON string value (or `null`) as {@link jstr} writes it; most values need no escape and are copied as they are checked. */
function putJstr(b: Buffer, o: number, v: string | undefined): number {
  if (v === undefined) return putAscii(b, o, 'null');
  b[o] = 0x22;
  const end = putJstrInner(b, o + 1, v);
  b[end] = 0x22;
  return end + 1;
}

/** A non-negative integer in decimal (NaN or a fraction, which gwserver never makes, through String()). */
function putUint(b: Buffer, o: number, v: number): number {
  if (v < 10 && v >= 0 && v === Math.floor(v)) {
    b[o] = 0x30 + v;
    return o + 1;
  }
  if (!(v >= 0 && v <= Number.MAX_SAFE_INTEGER && v === Math.floor(v))) return putAscii(b, o, String(v));
  let len = 1;
  for (let t = v; t >= 10; t = Math.floor(t / 10)) len++;
  let p = o + len;
  let t = v;
  do {
    const q = Math.floor(t / 10);
    b[--p] = 0x30 + (t - q * 10);
    t = q;
  } while (t > 0);
  return o + len;
}

/** Microseconds as milliseconds with three decimals. */
function putMsFromUs(b: Buffer, o: number, us: number): number {
  const frac = us % 1000;
  o = putUint(b, o, (us - frac) / 1000);
  b[o] = 0x2e;
  b[o + 1] = 0x30 + Math.floor(frac / 100);
  b[o + 2] = 0x30 + (Math.floor(frac / 10) % 10);
  b[o + 3] = 0x30 + (frac % 10);
  return o + 4;
}

/** Copies bytes (a constant part of the line): a loop for the short keys, TypedArray#set (a builtin call) from 24 bytes up. */
function putBytes(b: Buffer, o: number, bytes: Uint8Array): number {
  const n = bytes.length;
  if (n >= 24) {
    b.set(bytes, o);
    return o + n;
  }
  for (let i = 0; i < n; i++) b[o + i] = bytes[i]!;
  return o + n;
}

const K_METHOD = Buffer.from(',"method":');
const K_PATH = Buffer.from(',"path":');
const K_QUERY = Buffer.from(',"query":');
const K_EMPTY = Buffer.from('""');
const K_PROTOCOL = Buffer.from(',"protocol":"');
const K_STATUS = Buffer.from('","status":');
const K_BYTES = Buffer.from(',"bytes":');
const K_REQUEST_BYTES = Buffer.from(',"request_bytes":');
const K_DURATION = Buffer.from(',"duration_ms":');
const K_REMOTE = Buffer.from(',"remote_addr":');
const K_AGENT = Buffer.from(',"user_agent":');
const K_REFERER = Buffer.from(',"referer":');
const K_COMPLETED = Buffer.from(',"completed":true,"msg":"');
const K_INCOMPLETE = Buffer.from(',"completed":false,"msg":"');
const K_BYTES_IN = Buffer.from(' B in ');
const K_MS_END = Buffer.from(' ms"}\n');
const K_MS_INCOMPLETE_END = Buffer.from(' ms (incomplete)"}\n');

/** Room for the fixed part of a line: keys, time, numbers (20 digits each at most), the message's words. */
const JSON_FIXED_BYTES = 640;
/** The most bytes one character of a string value can take (`\u00NN`; a surrogate pair is two characters). */
const JSON_CHAR_BYTES = 6;

/** JSON records the access log keeps before it formats them (about 300 bytes each as lines). */
const QUEUE_RECORDS = 256;

/**
 * The requests whose JSON lines are not written yet. A request that ends
 * leaves its request object, environ and numbers here (a few stores); the
 * lines are made together when the writer writes, every FLUSH_MS or
 * QUEUE_RECORDS requests. Made one at a time, between requests, a line cost
 * a busy worker about 2 µs of CPU; made in a batch, with the formatting code
 * and the values it reads hot in the cache, about half that, writing
 * included (hello world, `node bench/cpu-per-request.mjs --variants
 * gw,gw+null`; in a tight loop a line takes ~0.1 µs).
 */
class JsonLineQueue {
  n = 0;
  readonly #capacity: number;
  readonly #ids: string[];
  readonly #reqs: Array<ExchangeRecord['req'] | undefined>;
  readonly #environs: Array<ExchangeRecord['environ']>;
  /** The peer's address of a request refused before its environ: read now, a closed socket forgets it. */
  readonly #peers: Array<string | undefined>;
  /** Per record: end (performance.now()), start, status, bytes, request_bytes, completed. */
  readonly #nums: Float64Array;
  readonly #view: { req: ExchangeRecord['req']; environ: ExchangeRecord['environ'] } = { req: undefined as never, environ: undefined };
  readonly #mid: string;
  #startMs = -1;
  #start: Buffer = Buffer.alloc(0);

  constructor(pid: number, workerId: number, capacity: number) {
    this.#capacity = capacity;
    this.#ids = new Array<string>(capacity).fill('');
    this.#reqs = new Array<ExchangeRecord['req'] | undefined>(capacity).fill(undefined);
    this.#environs = new Array<ExchangeRecord['environ']>(capacity).fill(undefined);
    this.#peers = new Array<string | undefined>(capacity).fill(undefined);
    this.#nums = new Float64Array(capacity * NUMS);
    this.#mid = `","pid":${pid},"worker_id":${workerId},"request_id":`;
  }

  /** Keeps a request that ended; false when the queue is full (render it, then add again). */
  add(r: ExchangeRecord): boolean {
    const i = this.n;
    if (i >= this.#capacity) return false;
    this.#ids[i] = r.requestId;
    this.#reqs[i] = r.req;
    this.#environs[i] = r.environ;
    if (r.environ === undefined) this.#peers[i] = remoteOf(r);
    const k = i * NUMS;
    const nums = this.#nums;
    nums[k] = r.endedAt;
    nums[k + 1] = r.startedAt;
    nums[k + 2] = r.loggedStatus;
    nums[k + 3] = r.sent;
    nums[k + 4] = r.received;
    nums[k + 5] = r.completed ? 1 : 0;
    this.n = i + 1;
    return true;
  }

  /** Writes the queued records' lines into the sink and empties the queue. */
  render(sink: LineSink): void {
    const n = this.n;
    if (n === 0) return;
    // One wall-clock reading per batch; each line's time is that minus how long ago its request ended.
    const wall = Date.now();
    const mono = perf.now();
    // A line that finds no room (the writer's limit) is dropped; the writer counts it.
    for (let i = 0; i < n; i++) this.#line(sink, i, wall, mono);
    this.n = 0;
    // Released at once: a queue that goes quiet must not keep the last requests alive.
    this.#reqs.fill(undefined, 0, n);
    this.#environs.fill(undefined, 0, n);
    this.#peers.fill(undefined, 0, n);
    this.#ids.fill('', 0, n);
  }

  #line(sink: LineSink, i: number, wall: number, mono: number): void {
    const view = this.#view;
    const req = (view.req = this.#reqs[i]!);
    view.environ = this.#environs[i];
    const id = this.#ids[i]!;
    const method = req.method;
    const url = req.url ?? '';
    const remote = view.environ === undefined ? this.#peers[i] : remoteOf(view);
    const agent = requestHeader(view, 'HTTP_USER_AGENT', 'user-agent');
    const referer = requestHeader(view, 'HTTP_REFERER', 'referer');
    // The method and the target twice: in their fields and in the message.
    const strings = id.length + 2 * (method?.length ?? 0) + 2 * url.length + (remote?.length ?? 0) + (agent?.length ?? 0) + (referer?.length ?? 0);
    const b = sink.room(JSON_FIXED_BYTES + JSON_CHAR_BYTES * strings);
    if (b === undefined) return;
    const nums = this.#nums;
    const k = i * NUMS;
    const ended = nums[k]!;
    const ms = Math.round(wall - (mono - ended));
    if (ms !== this.#startMs) {
      // The line's start (time, pid, worker_id) changes once per millisecond; a busy worker ends dozens of requests in one.
      this.#startMs = ms;
      this.#start = Buffer.from('{"level":"info","time":"' + new Date(ms).toISOString() + this.#mid, 'latin1');
    }
    let o = putBytes(b, sink.end, this.#start);
    o = putJstr(b, o, id);
    o = putBytes(b, o, K_METHOD);
    o = putJstr(b, o, method);
    const q = url.indexOf('?');
    o = putBytes(b, o, K_PATH);
    o = putJstr(b, o, q < 0 ? url : url.slice(0, q));
    o = putBytes(b, o, K_QUERY);
    o = q < 0 ? putBytes(b, o, K_EMPTY) : putJstr(b, o, url.slice(q + 1));
    o = putBytes(b, o, K_PROTOCOL);
    o = putAscii(b, o, protocolOf(view));
    o = putBytes(b, o, K_STATUS);
    o = putUint(b, o, nums[k + 2]!);
    o = putBytes(b, o, K_BYTES);
    o = putUint(b, o, nums[k + 3]!);
    o = putBytes(b, o, K_REQUEST_BYTES);
    o = putUint(b, o, nums[k + 4]!);
    o = putBytes(b, o, K_DURATION);
    const us = Math.max(0, Math.round((ended - nums[k + 1]!) * 1000));
    o = putMsFromUs(b, o, us);
    o = putBytes(b, o, K_REMOTE);
    o = putJstr(b, o, remote);
    o = putBytes(b, o, K_AGENT);
    o = putJstr(b, o, agent);
    o = putBytes(b, o, K_REFERER);
    o = putJstr(b, o, referer);
    const completed = nums[k + 5] === 1;
    o = putBytes(b, o, completed ? K_COMPLETED : K_INCOMPLETE);
    // The message, for people and pino-pretty: `GET /items/42?page=2 200 512 B in 1.284 ms`.
    if (method !== undefined) {
      o = putJstrInner(b, o, method);
      b[o++] = 0x20;
    }
    o = putJstrInner(b, o, url);
    b[o++] = 0x20;
    o = putUint(b, o, nums[k + 2]!);
    b[o++] = 0x20;
    o = putUint(b, o, nums[k + 3]!);
    o = putBytes(b, o, K_BYTES_IN);
    o = putMsFromUs(b, o, us);
    o = putBytes(b, o, completed ? K_MS_END : K_MS_INCOMPLETE_END);
    sink.commit(o);
  }
}

/** Numbers kept per record in JsonLineQueue. */
const NUMS = 6;

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

const elapsed = (r: ExchangeRecord): number => r.endedAt - r.startedAt;

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
