/**
 * Small helpers for applications and tests, in the spirit of Python's
 * `wsgiref.util`: rebuilding the request URL from an environ, moving one path
 * segment from `PATH_INFO` to `SCRIPT_NAME` (for routing under a prefix),
 * telling hop-by-hop headers apart, and building a complete environ for a
 * test without a server.
 *
 * @module
 */
import { Readable } from 'node:stream';
import { fileWrapper } from './file-wrapper.js';
import { RequestInput } from './input.js';
import { HOP_BY_HOP } from './start-response.js';
import type { Environ, ErrorStream, RequestLogger } from './types.js';

/**
 * `"https"` when the `HTTPS` variable says so (`yes`, `on` or `1`, as CGI
 * servers set it), else `"http"`. Useful for environ-like objects that come
 * from CGI or `process.env`; a gateway environ already has `wsgi.url_scheme`.
 */
export function guessScheme(environ: Readonly<Record<string, unknown>>): 'http' | 'https' {
  const https = environ.HTTPS;
  if (typeof https !== 'string') return 'http';
  const v = https.toLowerCase();
  return v === 'yes' || v === 'on' || v === '1' ? 'https' : 'http';
}

/**
 * The URL of the application: scheme, host and `SCRIPT_NAME` (or `/` at the
 * root), following PEP 3333's URL reconstruction recipe. The host is the
 * request's `Host` header when it has one, else `SERVER_NAME`, with
 * `SERVER_PORT` unless it is the scheme's default.
 *
 * @example
 * ```ts
 * applicationUri(environ); // "http://example.com/app"
 * ```
 */
export function applicationUri(environ: Environ): string {
  const scheme = environ['wsgi.url_scheme'];
  let url = `${scheme}://`;
  const host = environ.HTTP_HOST;
  if (typeof host === 'string' && host !== '') {
    url += host;
  } else {
    const name = environ.SERVER_NAME;
    // An IPv6 address must be bracketed in a URL; the environ may hold it bare.
    url += name.includes(':') && name.charCodeAt(0) !== 91 ? `[${name}]` : name;
    const port = environ.SERVER_PORT;
    if (port !== '' && port !== (scheme === 'https' ? '443' : '80')) url += `:${port}`;
  }
  return url + quotePath(environ.SCRIPT_NAME || '/');
}

/**
 * The full URL of the request: {@link applicationUri}, then `PATH_INFO`, then
 * `?QUERY_STRING` when `includeQuery` is true and there is a query.
 *
 * `SCRIPT_NAME` and `PATH_INFO` hold decoded text; they are percent-encoded
 * again here (as UTF-8), keeping the characters RFC 3986 allows in a path.
 * `QUERY_STRING` is raw already and is appended as it is.
 *
 * @example
 * ```ts
 * requestUri(environ);        // "http://example.com/app/caf%C3%A9?x=1"
 * requestUri(environ, false); // "http://example.com/app/caf%C3%A9"
 * ```
 */
export function requestUri(environ: Environ, includeQuery = true): string {
  let url = applicationUri(environ);
  const pathInfo = quotePath(environ.PATH_INFO);
  // applicationUri ended with "/" for an empty SCRIPT_NAME: don't double it.
  url += environ.SCRIPT_NAME ? pathInfo : pathInfo.slice(1);
  if (includeQuery && environ.QUERY_STRING) url += `?${environ.QUERY_STRING}`;
  return url;
}

/**
 * Moves the first segment of `PATH_INFO` to the end of `SCRIPT_NAME` and
 * returns it (like `wsgiref.util.shift_path_info`), so that an app can
 * dispatch on it and hand the rest to a sub-app mounted there. The environ is
 * changed in place.
 *
 * Empty segments and `.` inside the path are dropped, and `..` is resolved
 * against `SCRIPT_NAME`. Returns `undefined` when there is nothing to shift
 * (`PATH_INFO` is empty or does not start with `/`) or when the segment was
 * `.`; returns `""` for a trailing slash, after which `SCRIPT_NAME` ends with
 * `/` and `PATH_INFO` is empty.
 *
 * @example
 * ```ts
 * // SCRIPT_NAME "/app", PATH_INFO "/users/42"
 * shiftPathInfo(environ); // "users"; now SCRIPT_NAME "/app/users", PATH_INFO "/42"
 * ```
 */
export function shiftPathInfo(environ: Environ): string | undefined {
  const pathInfo = environ.PATH_INFO;
  if (!pathInfo.startsWith('/')) return undefined;
  const parts = pathInfo.split('/');
  // Keep the leading "" and the last part (which may be "" for a trailing
  // slash); drop empty and "." segments in between, as wsgiref does.
  const kept = [''];
  for (let i = 1; i < parts.length - 1; i++) {
    const p = parts[i]!;
    if (p !== '' && p !== '.') kept.push(p);
  }
  kept.push(parts[parts.length - 1]!);
  const name = kept[1]!;
  kept.splice(1, 1);
  let scriptName = normalizeAbsolute(`${environ.SCRIPT_NAME}/${name}`);
  if (scriptName.endsWith('/')) scriptName = scriptName.slice(0, -1);
  if (name === '' && !scriptName.endsWith('/')) scriptName += '/';
  environ.SCRIPT_NAME = scriptName;
  environ.PATH_INFO = kept.join('/');
  return name === '.' ? undefined : name;
}

/**
 * Whether `name` is a hop-by-hop header (Connection, Keep-Alive, TE,
 * Transfer-Encoding, Upgrade...): one that only the server may send.
 * Case-insensitive.
 */
export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name.toLowerCase());
}

/**
 * A `wsgi.errors` that keeps what is written to it, for tests.
 *
 * @example
 * ```ts
 * const errors = environ['wsgi.errors'] as ErrorCollector;
 * assert.match(errors.text, /warning/);
 * ```
 */
export class ErrorCollector implements ErrorStream {
  /** Every string written, in order. */
  readonly output: string[] = [];

  write(text: string): void {
    this.output.push(text);
  }

  writelines(lines: Iterable<string>): void {
    for (const line of lines) this.output.push(line);
  }

  flush(): void {}

  /** Everything written, as one string. */
  get text(): string {
    return this.output.join('');
  }
}

const noop = (): void => {};

/** A `gwserver.log` that drops every record. */
const SILENT_LOG: RequestLogger = Object.freeze({
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  fatal: noop,
});

// Never aborted: a test request has no client to go away.
const NEVER_ABORTED = new AbortController().signal;

/**
 * Builds a complete environ for calling an application directly in a test,
 * like `wsgiref.util.setup_testing_defaults`: every key of `partial` is kept,
 * and each missing key gets a test value. `partial` itself is not changed.
 *
 * The defaults describe `GET http://127.0.0.1/` over HTTP/1.1 with an empty
 * body: `wsgi.input` is an empty stream, `wsgi.errors` an
 * {@link ErrorCollector}, `gwserver.signal` is never aborted,
 * `gwserver.request_id` is `"test"`, `gwserver.worker_id` is `0`, and
 * `gwserver.log` drops everything. `wsgi.url_scheme` comes from
 * {@link guessScheme}, `SERVER_PORT` from the scheme, `HTTP_HOST` from
 * `SERVER_NAME`, and `RAW_URI` from the path and query.
 *
 * @example
 * ```ts
 * const environ = setupTestingDefaults({ REQUEST_METHOD: 'POST', PATH_INFO: '/upload' });
 * ```
 */
export function setupTestingDefaults(partial: Partial<Environ> = {}): Environ {
  const env: Record<string, unknown> = { ...partial };
  const setDefault = (key: string, value: unknown): void => {
    if (!(key in env)) env[key] = value;
  };
  setDefault('SERVER_NAME', '127.0.0.1');
  setDefault('SERVER_PROTOCOL', 'HTTP/1.1');
  setDefault('HTTP_HOST', env.SERVER_NAME);
  setDefault('REQUEST_METHOD', 'GET');
  if (!('SCRIPT_NAME' in env) && !('PATH_INFO' in env)) env.PATH_INFO = '/';
  setDefault('SCRIPT_NAME', '');
  setDefault('PATH_INFO', '');
  setDefault('QUERY_STRING', '');
  setDefault('REMOTE_ADDR', '127.0.0.1');
  setDefault('REMOTE_PORT', '0');
  setDefault('wsgi.url_scheme', guessScheme(env));
  setDefault('SERVER_PORT', env['wsgi.url_scheme'] === 'https' ? '443' : '80');
  if (!('RAW_URI' in env)) {
    const qs = env.QUERY_STRING as string;
    env.RAW_URI = quotePath(`${env.SCRIPT_NAME as string}${env.PATH_INFO as string}`) + (qs ? `?${qs}` : '');
  }
  setDefault('wsgi.version', [1, 0]);
  if (!('wsgi.input' in env)) env['wsgi.input'] = new RequestInput(Readable.from([]), { length: 0 });
  if (!('wsgi.errors' in env)) env['wsgi.errors'] = new ErrorCollector();
  setDefault('wsgi.multithread', false);
  setDefault('wsgi.multiprocess', false);
  setDefault('wsgi.run_once', false);
  setDefault('wsgi.input_terminated', true);
  setDefault('wsgi.file_wrapper', fileWrapper);
  setDefault('gwserver.signal', NEVER_ABORTED);
  setDefault('gwserver.request_id', 'test');
  setDefault('gwserver.worker_id', 0);
  setDefault('gwserver.log', SILENT_LOG);
  return env as Environ;
}

// Bytes that stay as they are in a path: RFC 3986 unreserved, sub-delims, ":", "@" and "/".
const PATH_SAFE = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/") {
  PATH_SAFE[c.charCodeAt(0)] = 1;
}
const PLAIN_PATH = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;
const HEX = '0123456789ABCDEF';

/**
 * Percent-encodes decoded path text (as UTF-8) so that it can go back into a
 * URL, keeping what RFC 3986 allows in a path unencoded: `%`, `?`, `#`,
 * spaces and non-ASCII text are encoded, `:` and `@` are not.
 */
export function quotePath(path: string): string {
  // Most paths are plain ASCII and need no work.
  if (PLAIN_PATH.test(path)) return path;
  const bytes = Buffer.from(path, 'utf8');
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    out += b < 128 && PATH_SAFE[b] === 1 ? String.fromCharCode(b) : `%${HEX[b >> 4]}${HEX[b & 15]}`;
  }
  return out;
}

/**
 * Resolves `.`, `..` and repeated slashes in an absolute path, like Python's
 * `posixpath.normpath` (which wsgiref uses here), without keeping a trailing
 * slash. `..` never climbs above the root.
 */
function normalizeAbsolute(path: string): string {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return `/${out.join('/')}`;
}
