/**
 * The request target (path and query) of an environ, for the adapters that
 * hand a request on to another calling convention: a fetch `Request` needs a
 * full URL, a node `IncomingMessage` needs `req.url`.
 *
 * The environ holds the path decoded (`SCRIPT_NAME` + `PATH_INFO`), so
 * encoding it again cannot tell `%2F` from `/`. `RAW_URI` keeps the client's
 * own bytes, so it is used whenever it still describes the same path and
 * query: a middleware that rewrote `PATH_INFO` (or shifted a segment into
 * `SCRIPT_NAME`) wins over the raw target.
 *
 * @module
 */
import { decodePath } from '../gateway/environ.js';
import { quotePath } from '../gateway/util.js';
import type { Environ } from '../gateway/types.js';

function tryDecode(raw: string): string | undefined {
  try {
    return decodePath(raw);
  } catch {
    return undefined;
  }
}

function str(environ: Environ, key: string): string {
  const v = environ[key];
  return typeof v === 'string' ? v : '';
}

/**
 * The origin-form target (`/path?query`) of the request `environ` describes.
 *
 * With `relative`, the path is the part below `SCRIPT_NAME` (`/` when
 * empty): the convention of Connect and Express, whose `req.url` is relative
 * to the mount point while `req.originalUrl` keeps the whole target.
 */
export function originTarget(environ: Environ, relative = false): string {
  const script = str(environ, 'SCRIPT_NAME');
  const pathInfo = str(environ, 'PATH_INFO');
  const query = str(environ, 'QUERY_STRING');
  const raw = environ.RAW_URI;
  if (typeof raw === 'string' && raw.charCodeAt(0) === 47) {
    const q = raw.indexOf('?');
    const rawPath = q < 0 ? raw : raw.slice(0, q);
    const rawQuery = q < 0 ? '' : raw.slice(q + 1);
    if (rawQuery === query && tryDecode(rawPath) === script + pathInfo) {
      if (!relative || script === '') return raw;
      const cut = rawPrefixLength(rawPath, script);
      if (cut >= 0) return (rawPath.slice(cut) || '/') + (q < 0 ? '' : raw.slice(q));
    }
  }
  let path = relative ? pathInfo : script + pathInfo;
  if (path.charCodeAt(0) !== 47) path = `/${path}`;
  return quotePath(path) + (query ? `?${query}` : '');
}

/** Where the raw path splits into the encoded `SCRIPT_NAME` and the rest; -1 if nowhere. */
function rawPrefixLength(rawPath: string, script: string): number {
  for (let i = 1; i <= rawPath.length; i++) {
    // SCRIPT_NAME ends at a segment boundary: just before or just after a "/".
    if (i < rawPath.length && rawPath[i] !== '/' && rawPath[i - 1] !== '/') continue;
    if (tryDecode(rawPath.slice(0, i)) === script) return i;
  }
  return -1;
}

/**
 * The absolute URL of the request: `wsgi.url_scheme`, the `Host` header (or
 * `SERVER_NAME` and `SERVER_PORT`), then {@link originTarget}.
 */
export function requestUrl(environ: Environ): string {
  const scheme = environ['wsgi.url_scheme'] === 'https' ? 'https' : 'http';
  let host = str(environ, 'HTTP_HOST');
  if (host === '') {
    const name = str(environ, 'SERVER_NAME') || 'localhost';
    // An IPv6 address must be bracketed in a URL; the environ may hold it bare.
    host = name.includes(':') && name.charCodeAt(0) !== 91 ? `[${name}]` : name;
    const port = str(environ, 'SERVER_PORT');
    if (port !== '' && port !== (scheme === 'https' ? '443' : '80')) host += `:${port}`;
  }
  return `${scheme}://${host}${originTarget(environ)}`;
}
