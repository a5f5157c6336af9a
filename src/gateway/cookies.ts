/**
 * Cookies for gateway apps: the request's cookies read from its environ,
 * and `Set-Cookie` headers written to a response header list. Built on the
 * `cookie` package (jshttp's, which Express and Koa use), so names, values
 * and attributes follow RFC 6265: values are percent-encoded, attributes
 * are never quoted, and a name or attribute a browser would misread is
 * refused where it is set.
 *
 * @module
 */
import { parse, serialize, type SerializeOptions } from 'cookie';
import { contractError } from '../errors.js';
import { Headers } from './headers.js';
import type { Environ, HeaderPair } from './types.js';

/** The attributes of a `Set-Cookie` header ({@link setCookie}). */
export interface CookieOptions {
  /** `Path`: the URL path the cookie is sent for; the browser's default is the request's directory, so `'/'` is usual. */
  path?: string;
  /** `Domain`: the host (and its subdomains) the cookie is sent to; without it, only the host that set it. */
  domain?: string;
  /** `Max-Age`, in seconds; wins over `expires` in current browsers. Without either, the cookie ends with the browser session. */
  maxAge?: number;
  /** `Expires`: when the cookie ends. */
  expires?: Date;
  /** `HttpOnly`: hidden from the page's JavaScript (`document.cookie`). */
  httpOnly?: boolean;
  /** `Secure`: sent over HTTPS only. */
  secure?: boolean;
  /** `SameSite`: `'lax'`, `'strict'` (or `true`) or `'none'` (which browsers accept only with `secure`). */
  sameSite?: boolean | 'lax' | 'strict' | 'none';
  /** `Partitioned` (CHIPS): a cross-site cookie kept per top-level site. */
  partitioned?: boolean;
  /** `Priority`: `'low'`, `'medium'` or `'high'` (Chrome). */
  priority?: 'low' | 'medium' | 'high';
  /** How the value is encoded; `encodeURIComponent` by default (and {@link parseCookies} decodes it). */
  encode?: (value: string) => string;
}

// Ours are the package's options, field for field (checked by the compiler).
const _sameOptions: CookieOptions extends SerializeOptions ? true : never = true;
void _sameOptions;

/** The request's cookies by name: what {@link parseCookies} returns. */
export type Cookies = Record<string, string | undefined>;

/**
 * Adds a `Set-Cookie` header for `name` to a response header list (a
 * {@link Headers} or the `[name, value]` array given to `startResponse`).
 * Each call adds one header line: cookies are never folded into one.
 *
 * @returns the header's value, e.g. `sid=abc; Path=/; HttpOnly; SameSite=Lax`.
 * @throws GatewayError `GW_APP_CONTRACT` for a name that is not a token, or
 *   an attribute a browser would misread (a `path` with `;`, a bad `domain`).
 *
 * @example
 * ```ts
 * import { setCookie, parseCookies, type Application, type HeaderPair } from 'gwserver';
 *
 * export const application: Application = (environ, startResponse) => {
 *   const headers: HeaderPair[] = [['Content-Type', 'text/plain']];
 *   const visits = Number(parseCookies(environ).visits ?? 0) + 1;
 *   setCookie(headers, 'visits', String(visits), { path: '/', httpOnly: true, sameSite: 'lax', maxAge: 86400 });
 *   startResponse('200 OK', headers);
 *   return [`visit ${visits}`];
 * };
 * ```
 */
export function setCookie(headers: Headers | HeaderPair[], name: string, value: string, options: CookieOptions = {}): string {
  let line: string;
  try {
    line = serialize(name, value, options);
  } catch (err) {
    throw contractError(`setCookie: ${(err as Error).message}`);
  }
  (headers instanceof Headers ? headers : new Headers(headers)).append('Set-Cookie', line);
  return line;
}

/**
 * Adds a `Set-Cookie` header that makes the browser drop the cookie `name`:
 * an empty value that expired at the epoch. Give the `path` and `domain` it
 * was set with: a cookie is known by its name, path and domain together.
 *
 * @example
 * ```ts
 * clearCookie(headers, 'sid', { path: '/' });
 * // Set-Cookie: sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT
 * ```
 */
export function clearCookie(headers: Headers | HeaderPair[], name: string, options: Omit<CookieOptions, 'expires' | 'maxAge'> = {}): string {
  const { expires: _e, maxAge: _m, ...rest } = options as CookieOptions;
  return setCookie(headers, name, '', { ...rest, expires: new Date(0) });
}

/**
 * The cookies of a request, from its environ's `HTTP_COOKIE` (an empty
 * object when it has none). Values are percent-decoded (one that is not
 * valid percent-encoding is kept as sent); of a name sent twice, the first
 * wins, as browsers send the most specific first.
 *
 * @example
 * ```ts
 * const { sid } = parseCookies(environ); // string | undefined
 * ```
 */
export function parseCookies(environ: Environ | { readonly HTTP_COOKIE?: string | undefined }): Cookies {
  const header = environ.HTTP_COOKIE;
  return typeof header === 'string' && header !== '' ? parse(header) : {};
}
