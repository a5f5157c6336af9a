/**
 * Small named validators. Each accepts what a command line gives (strings)
 * and what a config file gives (numbers, arrays), and throws an Error whose
 * message completes the sentence "invalid value for --flag: ...".
 *
 * @module
 */
import { parseBind } from './binds.js';

export function str(value: unknown): string {
  if (typeof value !== 'string') throw new Error(`expected a string, got ${JSON.stringify(value)}`);
  return value;
}

/**
 * The control socket's path: a unix socket file, never a TCP address (an
 * `HOST:PORT` or a URL is refused, so that nobody puts it on the network by
 * mistake); `unix:PATH`, as --bind writes it, is PATH. '' is the default path.
 */
export function unixSocketPath(value: unknown): string {
  let s = str(value);
  // --bind's spelling of a unix socket is understood.
  if (s.startsWith('unix:')) s = s.slice('unix:'.length);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s) || /^(\[[0-9a-f:]+\]|[\w.-]*):\d+$/i.test(s)) {
    throw new Error(`${JSON.stringify(s)} is not a file path: the control socket is a unix socket, never TCP (write a path, e.g. /run/gwserver/control.sock)`);
  }
  if (Buffer.byteLength(s) > 107) throw new Error(`${JSON.stringify(s)} is too long for a unix socket (at most 107 bytes)`);
  return s;
}

function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  throw new Error(`expected a number, got ${JSON.stringify(value)}`);
}

export function intIn(min: number, max: number): (value: unknown) => number {
  return (value) => {
    const n = toNumber(value);
    if (!Number.isInteger(n)) throw new Error(`expected a whole number, got ${JSON.stringify(value)}`);
    if (n < min || n > max) throw new Error(`${n} is out of range (${min} to ${max})`);
    return n;
  };
}

export function numberIn(min: number, max: number): (value: unknown) => number {
  return (value) => {
    const n = toNumber(value);
    if (n < min || n > max) throw new Error(`${n} is out of range (${min} to ${max})`);
    return n;
  };
}

export function fileMode(value: unknown): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0o777) return value;
  if (typeof value === 'string' && /^(0o?)?[0-7]{1,4}$/.test(value)) {
    const n = parseInt(value.replace(/^0o/, ''), 8);
    if (n <= 0o777) return n;
  }
  throw new Error(`expected an octal file mode such as 660 or 0o666, got ${JSON.stringify(value)}`);
}

export function strings(value: unknown): string[] {
  const list = Array.isArray(value) ? value : [value];
  return list.map(str);
}

export function binds(value: unknown): string[] {
  const list = strings(value);
  if (list.length === 0) throw new Error('at least one address is needed');
  for (const b of list) parseBind(b);
  return list;
}

export function addressList(value: unknown): string[] {
  return strings(value).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
}

export function rootPath(value: unknown): string {
  const s = str(value).replace(/\/+$/, '');
  if (s !== '' && !s.startsWith('/')) throw new Error(`must start with "/", got ${JSON.stringify(value)}`);
  return s;
}

/** The level names --log-level takes: gunicorn's, and pino's (src/logging/logger.ts maps one onto the other). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warning', 'warn', 'error', 'critical', 'fatal', 'silent'] as const;

export function logLevel(value: unknown): string {
  const s = str(value).toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(s)) {
    throw new Error(`${JSON.stringify(value)} is not a level (use one of: debug, info, warning, error, critical)`);
  }
  return s;
}

export function intAtLeast(min: number): (value: unknown) => number {
  const check = intIn(min, Number.MAX_SAFE_INTEGER);
  return (value) => {
    const n = toNumber(value);
    if (Number.isInteger(n) && n < min) throw new Error(`${n} is too small (the least is ${min})`);
    return check(value);
  };
}

/** `true`/`false`, or the strings "true"/"false" (any case) as a command line or an environment gives them. */
export function bool(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const s = value.trim().toLowerCase();
    if (s === 'true') return true;
    if (s === 'false') return false;
  }
  throw new Error(`expected true or false, got ${JSON.stringify(value)}`);
}

/** One of a fixed list of strings. */
export function oneOf<const T extends string>(...choices: T[]): (value: unknown) => T {
  return (value) => {
    const s = str(value);
    if (!(choices as string[]).includes(s)) {
      throw new Error(`${JSON.stringify(value)} is not one of: ${choices.join(', ')}`);
    }
    return s as T;
  };
}

/**
 * A user or group: a name, or a numeric id (returned as a number, because
 * `process.setuid('1000')` would look up a user named "1000"). '' leaves it unchanged.
 */
export function userOrGroup(value: unknown): string | number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  const s = str(value).trim();
  if (/^\d+$/.test(s)) return Number(s);
  if (s !== '' && !/^[A-Za-z_][A-Za-z0-9_.-]*\$?$/.test(s)) {
    throw new Error(`expected a name or a numeric id, got ${JSON.stringify(value)}`);
  }
  return s;
}

/** A hook: a function, or undefined/null for none. Config files alone can set it. */
export function hook(value: unknown): ((...args: any[]) => unknown) | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'function') {
    const type = typeof value;
    const got = type === 'string' ? JSON.stringify(value) : Array.isArray(value) ? 'an array' : /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
    throw new Error(`a hook must be a function, got ${got}`);
  }
  return value as (...args: any[]) => unknown;
}

/** An HTTP header name, or '' (off). */
export function headerNameOrEmpty(value: unknown): string {
  const s = str(value).trim();
  if (s !== '' && !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(s)) throw new Error(`${JSON.stringify(value)} is not a header name`);
  return s;
}

/** HOST:PORT of the metrics endpoint, or '' (off). */
export function metricsBind(value: unknown): string {
  const s = str(value).trim();
  if (s === '') return s;
  if (s.startsWith('unix:') || s.startsWith('fd://')) throw new Error(`expected HOST:PORT (a TCP address), got ${JSON.stringify(value)}`);
  parseBind(s);
  return s;
}

/** Histogram bucket bounds: comma-separated numbers or an array, ascending, positive. */
export function bucketList(value: unknown): number[] {
  const parts = Array.isArray(value) ? value : str(value).split(',').map((p) => p.trim()).filter((p) => p !== '');
  const list = parts.map((p) => toNumber(p));
  if (list.length === 0) throw new Error('at least one bucket bound is needed');
  for (let i = 0; i < list.length; i++) {
    if (!(list[i]! > 0) || !Number.isFinite(list[i]!)) throw new Error(`bucket bounds must be positive numbers, got ${list[i]}`);
    if (i > 0 && list[i]! <= list[i - 1]!) throw new Error(`bucket bounds must be ascending, got ${list[i - 1]} then ${list[i]}`);
  }
  return list;
}

/** gunicorn's access log format: `%(x)s` and `%({name}i)s` atoms; an unknown atom is an error here, not a surprise in the log. */
export function accessLogFormat(value: unknown): string {
  const s = str(value);
  const atoms = /%\((\{[^}]*\}[ioe]|[A-Za-z]+)\)s/g;
  let m: RegExpExecArray | null;
  while ((m = atoms.exec(s)) !== null) {
    const atom = m[1]!;
    if (atom.startsWith('{')) continue;
    if (!ACCESS_ATOMS.has(atom)) throw new Error(`unknown atom %(${atom})s (see docs/observability.md for the atoms)`);
  }
  return s;
}

/** gunicorn's simple atoms (glogging.py), all of which gwserver fills. */
export const ACCESS_ATOMS: ReadonlySet<string> = new Set(['h', 'l', 'u', 't', 'r', 'm', 'U', 'q', 'H', 's', 'B', 'b', 'f', 'a', 'T', 'D', 'L', 'M', 'p']);

/** `--proxy-protocol`: off, v1, v2 or auto; gunicorn's boolean (`proxy_protocol = True`) is auto. */
/** The HTTP versions gwserver speaks, by gunicorn's names. */
export const HTTP_PROTOCOLS = ['h1', 'h2'] as const;

/** `--http-protocols`: `h1,h2` (or an array), each one gwserver speaks, at least one. */
export function httpProtocols(value: unknown): Array<(typeof HTTP_PROTOCOLS)[number]> {
  const list = addressList(value).map((s) => s.toLowerCase());
  if (list.length === 0) throw new Error('expected at least one of: h1, h2');
  const out: Array<(typeof HTTP_PROTOCOLS)[number]> = [];
  for (const p of list) {
    if (!(HTTP_PROTOCOLS as readonly string[]).includes(p)) throw new Error(`${JSON.stringify(p)} is not a protocol gwserver speaks (h1, h2)`);
    if (!(out as string[]).includes(p)) out.push(p as (typeof HTTP_PROTOCOLS)[number]);
  }
  return out;
}

/**
 * `--http2-cleartext`: a flag; a config file may also give gunicorn 26's
 * values, `prior-knowledge` (true) and `off` (false). `upgrade` and `both`
 * (an HTTP/1.1 `Upgrade: h2c`, deprecated by RFC 9113) are refused.
 */
export function http2Cleartext(value: unknown): boolean {
  if (value === 'prior-knowledge') return true;
  if (value === 'off') return false;
  if (value === 'upgrade' || value === 'both') throw new Error(`${JSON.stringify(value)}: gwserver serves h2c by prior knowledge only (the Upgrade: h2c mechanism is deprecated by RFC 9113); use true or "prior-knowledge"`);
  return bool(value);
}

export function proxyProtocol(value: unknown): 'off' | 'v1' | 'v2' | 'auto' {
  if (value === true || value === 'true') return 'auto';
  if (value === false || value === 'false') return 'off';
  return oneOf('off', 'v1', 'v2', 'auto')(value);
}

/**
 * `--cert-reqs`: gunicorn's numbers (Python's `ssl.CERT_NONE`, `CERT_OPTIONAL`,
 * `CERT_REQUIRED`: 0, 1, 2) or their names, with or without `CERT_`.
 */
export function certReqs(value: unknown): 'none' | 'optional' | 'required' {
  const names = ['none', 'optional', 'required'] as const;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 2) return names[value]!;
  if (typeof value === 'string') {
    const s = value.trim().toLowerCase().replace(/^(ssl\.)?cert_/, '');
    if (/^[0-2]$/.test(s)) return names[Number(s)]!;
    if ((names as readonly string[]).includes(s)) return s as (typeof names)[number];
  }
  throw new Error(`${JSON.stringify(value)} is not one of: none, optional, required (or 0, 1, 2)`);
}

/** `--tls-min-version`: TLSv1.2 or TLSv1.3 (`1.2`, `1.3` accepted); older versions are not offered at all. */
export function tlsVersion(value: unknown): 'TLSv1.2' | 'TLSv1.3' {
  const s = typeof value === 'number' ? value.toFixed(1) : str(value).trim();
  const m = /^(?:tlsv?)?1[._]([23])$/i.exec(s);
  if (m !== null) return m[1] === '2' ? 'TLSv1.2' : 'TLSv1.3';
  throw new Error(`${JSON.stringify(value)} is not a TLS version gwserver offers (use TLSv1.2 or TLSv1.3)`);
}
