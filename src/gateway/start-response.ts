/**
 * The rules of `startResponse`: what a status line and a header list must
 * look like, and which headers belong to the server. Shared by the worker's
 * HTTP server, the fetch adapter and the validator so that all of them refuse
 * exactly the same things.
 *
 * @module
 */
import { contractError } from '../errors.js';
import type { HeaderPair } from './types.js';

/** Headers that describe one connection, not the message: the server's, never the app's. */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'trailers',
  'transfer-encoding',
  'upgrade',
]);

// RFC 9110 token: "!#$%&'*+-.^_`|~", digits, letters.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 9110 field-value characters within latin-1: HTAB, SP, VCHAR, obs-text. CR, LF and NUL
// would let a value smuggle a header or a response; other controls are refused with them.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const STATUS = /^([1-9]\d\d) ([\t\x20-\x7e\x80-\xff]*)$/;
const ASCII_VALUE = /^[\t\x20-\x7e]*$/;

// Hop-by-hop names by length: only names of these lengths need a lower-cased look-up.
const HOP_LENGTHS = new Set([...HOP_BY_HOP].map((h) => h.length));

/** Whether a header is `Connection: close`, the one hop-by-hop header an app may set (any case). */
export function isConnectionClose(name: string, value: string): boolean {
  return name.length === 10 && name.toLowerCase() === 'connection' && value.trim().toLowerCase() === 'close';
}

/** What the handler needs to know of a valid header list. */
export interface HeadInfo {
  /** The app's Content-Length, if it set one. */
  length: number | undefined;
  /** Every value is ASCII (no latin-1 byte above 0x7f). */
  ascii: boolean;
  /** The app set `Connection: close`: the connection closes after this response (HTTP/1.x). */
  close: boolean;
}

/** A parsed status line. */
export interface StatusInfo {
  code: number;
  reason: string;
  ascii: boolean;
}

// Apps use a handful of status lines: parse each once (bounded, so odd reasons cannot grow it).
const STATUS_CACHE = new Map<string, StatusInfo>();

/** Whether `name` is an HTTP token (a valid header name). */
export function isToken(name: string): boolean {
  return TOKEN.test(name);
}

/**
 * Parses `"NNN Reason"` into its code and reason, or throws an application
 * error saying what is wrong with it.
 */
export function parseStatus(status: unknown): StatusInfo {
  if (typeof status === 'string') {
    const cached = STATUS_CACHE.get(status);
    if (cached !== undefined) return cached;
  }
  if (typeof status !== 'string') {
    throw contractError(`startResponse: status must be a string like "200 OK", got ${describe(status)}`);
  }
  const m = STATUS.exec(status);
  if (m === null) {
    throw contractError(`startResponse: status must be "NNN Reason" (three digits, a space, latin-1 text without CR/LF), got ${JSON.stringify(status)}`);
  }
  const code = Number(m[1]);
  if (code < 200) {
    // 1xx responses are the server's business (100 Continue is sent on the first read of wsgi.input).
    throw contractError(`startResponse: informational status ${code} cannot be sent by an application`);
  }
  const info: StatusInfo = { code, reason: m[2]!, ascii: ASCII_VALUE.test(m[2]!) };
  if (STATUS_CACHE.size < 256) STATUS_CACHE.set(status, info);
  return info;
}

/**
 * Checks a header list against the contract (an array of `[name, value]`
 * string pairs, names are tokens, values latin-1 without CR, LF or NUL, no
 * hop-by-hop header) and reads what the server needs from it, in one pass.
 */
export function inspectHeaders(headers: unknown): HeadInfo {
  if (!Array.isArray(headers)) {
    throw contractError(`startResponse: headers must be an array of [name, value] pairs, got ${describe(headers)}`);
  }
  let length: number | undefined;
  let ascii = true;
  let close = false;
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i];
    if (!Array.isArray(h) || h.length !== 2 || typeof h[0] !== 'string' || typeof h[1] !== 'string') {
      throw contractError(`startResponse: header #${i} must be a [name, value] pair of strings, got ${describe(h)}`);
    }
    const name = h[0] as string;
    const value = h[1] as string;
    if (!TOKEN.test(name)) {
      throw contractError(`startResponse: header name ${JSON.stringify(name)} is not an HTTP token`);
    }
    if (!ASCII_VALUE.test(value)) {
      if (!FIELD_VALUE.test(value)) {
        throw contractError(`startResponse: value of header ${JSON.stringify(name)} must be latin-1 text without CR, LF or NUL`);
      }
      ascii = false;
    }
    if (HOP_LENGTHS.has(name.length) && HOP_BY_HOP.has(name.toLowerCase())) {
      // As gunicorn: the app may ask for the connection to be closed after its response.
      if (name.length === 10 && value.trim().toLowerCase() === 'close' && name.toLowerCase() === 'connection') {
        close = true;
        continue;
      }
      throw contractError(`startResponse: ${name} is a hop-by-hop header; the server manages it, the application must not set it (only Connection: close is allowed, to close the connection after the response)`);
    }
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      const raw = value.trim();
      if (!/^\d{1,15}$/.test(raw)) {
        throw contractError(`startResponse: Content-Length must be a non-negative integer, got ${JSON.stringify(value)}`);
      }
      const n = Number(raw);
      if (length !== undefined && length !== n) throw contractError('startResponse: two different Content-Length headers');
      length = n;
    }
  }
  return { length, ascii, close };
}

/** Checks a header list against the contract; throws an application error saying what is wrong. */
export function checkHeaders(headers: unknown): asserts headers is HeaderPair[] {
  inspectHeaders(headers);
}

/**
 * Finds the app's Content-Length, if any, as a number. A malformed or
 * repeated-but-different value is an application error.
 */
export function contentLengthOf(headers: HeaderPair[]): number | undefined {
  let found: number | undefined;
  for (let i = 0; i < headers.length; i++) {
    const name = headers[i]![0];
    if (name.length !== 14 || name.toLowerCase() !== 'content-length') continue;
    const raw = headers[i]![1].trim();
    if (!/^\d{1,15}$/.test(raw)) {
      throw contractError(`startResponse: Content-Length must be a non-negative integer, got ${JSON.stringify(headers[i]![1])}`);
    }
    const n = Number(raw);
    if (found !== undefined && found !== n) {
      throw contractError('startResponse: two different Content-Length headers');
    }
    found = n;
  }
  return found;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}
