/**
 * Type tests, checked by `npm run typecheck` (never run): what an app reads
 * from its environ needs no cast, and what it must check stays `unknown`.
 * Each `@ts-expect-error` line fails the typecheck if the type it guards
 * regresses (a header typed `string`, a middleware key typed `any`).
 */
import type { Application, Cookies, Environ, HeaderPair, InputStream } from '../../src/index.js';
import { clearCookie, Headers, parseCookies, setCookie } from '../../src/index.js';

/** Uses its arguments, so that no line below is an unused local (which would satisfy a @ts-expect-error on its own). */
function use(...values: unknown[]): number {
  return values.length;
}

export function cgiKeys(environ: Environ): number {
  const method: string = environ.REQUEST_METHOD;
  const path: string = environ.PATH_INFO;
  const query: string = environ.QUERY_STRING;
  const script: string = environ.SCRIPT_NAME;
  const server: string = environ.SERVER_NAME;
  const port: string = environ.SERVER_PORT;
  const protocol: string = environ.SERVER_PROTOCOL;
  const peer: string = environ.REMOTE_ADDR;
  const raw: string = environ.RAW_URI;
  const type: string | undefined = environ.CONTENT_TYPE;
  const length: string | undefined = environ.CONTENT_LENGTH;
  const https: string | undefined = environ.HTTPS;
  const verify: string | undefined = environ.SSL_CLIENT_VERIFY;
  // @ts-expect-error: a request may have no Content-Type
  const typeAlways: string = environ.CONTENT_TYPE;
  // @ts-expect-error: HTTPS is absent without TLS
  const httpsAlways: string = environ.HTTPS;
  return use(method, path, query, script, server, port, protocol, peer, raw, type, length, https, verify, typeAlways, httpsAlways);
}

export function headers(environ: Environ, name: string): number {
  const host: string | undefined = environ.HTTP_HOST;
  const agent: string | undefined = environ.HTTP_USER_AGENT;
  const computed: string | undefined = environ[`HTTP_${name.toUpperCase().replace(/-/g, '_')}`];
  const withDefault: string = environ.HTTP_HOST ?? environ.SERVER_NAME;
  const lower: string | undefined = environ.HTTP_ACCEPT_LANGUAGE?.toLowerCase();
  // @ts-expect-error: a header may be absent
  const hostAlways: string = environ.HTTP_HOST;
  // @ts-expect-error: a header is text, not a number
  const asNumber: number | undefined = environ.HTTP_CONTENT_MD5;
  environ.HTTP_X_FORWARDED_HOST = 'example.org';
  environ.HTTP_X_GONE = undefined;
  // @ts-expect-error: a middleware cannot store a number as a header
  environ.HTTP_X_COUNT = 3;
  return use(host, agent, computed, withDefault, lower, hostAlways, asNumber);
}

export function wsgiKeys(environ: Environ): number {
  const scheme: 'http' | 'https' = environ['wsgi.url_scheme'];
  const input: InputStream = environ['wsgi.input'];
  const multiprocess: boolean = environ['wsgi.multiprocess'];
  const version: [1, 0] = environ['wsgi.version'];
  const signal: AbortSignal = environ['gwserver.signal'];
  const id: string = environ['gwserver.request_id'];
  const worker: number = environ['gwserver.worker_id'];
  const hints: ((headers: HeaderPair[]) => void) | undefined = environ['wsgi.early_hints'];
  environ['gwserver.log'].info({ id }, 'typed');
  environ['wsgi.errors'].write('typed\n');
  // @ts-expect-error: the scheme is one of two
  const schemeOther: 'ftp' = environ['wsgi.url_scheme'];
  return use(scheme, input, multiprocess, version, signal, id, worker, hints, schemeOther);
}

export function otherKeys(environ: Environ): number {
  const mine: unknown = environ.MY_MIDDLEWARE_USER;
  const extension: unknown = environ['wsgi.something_new'];
  // @ts-expect-error: a key nobody declared must be checked before use
  const mineText: string = environ.MY_MIDDLEWARE_USER;
  // @ts-expect-error: so must an undeclared wsgi.* key
  const extensionText: string = environ['wsgi.something_new'];
  environ.MY_MIDDLEWARE_USER = { name: 'ada' };
  return use(mine, extension, mineText, extensionText);
}

/** An app written with the types: no cast anywhere. */
export const application: Application = (environ, startResponse) => {
  const host = environ.HTTP_HOST ?? environ.SERVER_NAME;
  const { sid } = parseCookies(environ);
  const list: HeaderPair[] = [['Content-Type', 'text/plain']];
  if (sid === undefined) setCookie(list, 'sid', 'abc', { path: '/', httpOnly: true, sameSite: 'lax', maxAge: 3600 });
  else clearCookie(new Headers(list), 'sid', { path: '/' });
  startResponse('200 OK', list);
  return [host];
};

export function cookies(environ: Environ): number {
  const all: Cookies = parseCookies(environ);
  const sid: string | undefined = all.sid;
  // @ts-expect-error: a cookie may be absent
  const sidAlways: string = parseCookies(environ).sid;
  // @ts-expect-error: SameSite is one of lax, strict, none
  setCookie([], 'a', 'b', { sameSite: 'sometimes' });
  // @ts-expect-error: Max-Age is a number of seconds
  setCookie([], 'a', 'b', { maxAge: '1h' });
  // @ts-expect-error: clearCookie sets the expiry itself
  clearCookie([], 'a', { maxAge: 10 });
  return use(sid, sidAlways);
}
