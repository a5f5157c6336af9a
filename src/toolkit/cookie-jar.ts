/**
 * A small cookie jar for {@link testClient}: it keeps what responses set
 * with `Set-Cookie` and sends it back on the requests it applies to, as a
 * browser would, following RFC 6265 minimally: `Path`, `Domain`,
 * `Expires`, `Max-Age` (which wins over `Expires`) and `Secure`. It is
 * meant for tests of one app, not as a general-purpose user agent: there
 * is no public-suffix list and `SameSite` is recorded, not enforced.
 *
 * @module
 */

/** A cookie as the jar keeps it. */
export interface Cookie {
  name: string;
  value: string;
  /** The host it was set by (host-only) or the `Domain` it names, lower case, without a leading dot. */
  domain: string;
  /** Sent to `domain` only, not to its subdomains (no `Domain` attribute). */
  hostOnly: boolean;
  path: string;
  /** When it expires, in ms since the epoch; undefined for a session cookie. */
  expires: number | undefined;
  secure: boolean;
  httpOnly: boolean;
  /** As set (`Strict`, `Lax`, `None`); not enforced. */
  sameSite: string | undefined;
}

/** Options of {@link CookieJar}. */
export interface CookieJarOptions {
  /** The clock that decides expiry (ms since the epoch; default `Date.now`), so a test can move time. */
  now?: () => number;
}

/** What {@link CookieJar.set} takes besides the name and value. */
export interface SetCookieOptions {
  /** Default `/`. */
  path?: string;
  /** Default `localhost`, as a host-only cookie. */
  domain?: string;
  /** A date or ms since the epoch; default a session cookie. */
  expires?: Date | number;
  secure?: boolean;
}

/** Hosts a browser treats as secure contexts over plain http: Secure cookies go to them too. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || host === '127.0.0.1' || host === '[::1]';
}

/** RFC 6265 5.1.4: the cookie path is the request path or a directory of it. */
function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath.charCodeAt(cookiePath.length) === 47;
}

/** RFC 6265 5.1.3 (without IP address subtleties: an IP is only ever host-only here). */
function domainMatches(host: string, cookie: Cookie): boolean {
  if (host === cookie.domain) return true;
  return !cookie.hostOnly && host.endsWith(`.${cookie.domain}`);
}

/** RFC 6265 5.1.4's default-path: the directory of the request path. */
function defaultPath(requestPath: string): string {
  if (!requestPath.startsWith('/')) return '/';
  const slash = requestPath.lastIndexOf('/');
  return slash <= 0 ? '/' : requestPath.slice(0, slash);
}

/** Keeps cookies across requests, as a browser does for one user. */
export class CookieJar {
  readonly #now: () => number;
  /** In creation order (which breaks ties when sending). */
  #cookies: Cookie[] = [];

  constructor(options: CookieJarOptions = {}) {
    this.#now = options.now ?? Date.now;
  }

  /**
   * Stores the cookies of a response from `url`: each string is one
   * `Set-Cookie` header value. A cookie whose `Max-Age` is 0 or less, or
   * whose `Expires` is past, removes the one it names. A cookie whose
   * `Domain` does not cover `url`'s host is ignored, as a browser does.
   */
  store(setCookies: Iterable<string>, url: string | URL): void {
    const u = typeof url === 'string' ? new URL(url) : url;
    const host = u.hostname.toLowerCase();
    for (const header of setCookies) {
      const cookie = this.#parse(header, host, u.pathname);
      if (cookie !== undefined) this.#put(cookie);
    }
  }

  /** The `Cookie` header value for a request to `url`, or `''` when no cookie applies. */
  header(url: string | URL): string {
    return this.#applicable(typeof url === 'string' ? new URL(url) : url)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  /**
   * The value of the cookie `name` that a request to `url` would carry
   * (any unexpired cookie of that name when `url` is left out).
   */
  get(name: string, url?: string | URL): string | undefined {
    const list = url === undefined ? this.all() : this.#applicable(typeof url === 'string' ? new URL(url) : url);
    return list.find((c) => c.name === name)?.value;
  }

  /** Sets a cookie by hand, as if a response from its domain had set it. */
  set(name: string, value: string, options: SetCookieOptions = {}): void {
    if (name === '' || /[\s;=]/.test(name) || /[;\r\n]/.test(value)) throw new TypeError(`CookieJar.set: bad cookie ${JSON.stringify(name)}=${JSON.stringify(value)}`);
    const expires = options.expires instanceof Date ? options.expires.getTime() : options.expires;
    this.#put({
      name,
      value,
      domain: (options.domain ?? 'localhost').toLowerCase().replace(/^\./, ''),
      hostOnly: options.domain === undefined,
      path: options.path ?? '/',
      expires,
      secure: options.secure ?? false,
      httpOnly: false,
      sameSite: undefined,
    });
  }

  /** Removes every cookie named `name`; returns whether there was one. */
  delete(name: string): boolean {
    const before = this.#cookies.length;
    this.#cookies = this.#cookies.filter((c) => c.name !== name);
    return this.#cookies.length !== before;
  }

  /** Removes every cookie. */
  clear(): void {
    this.#cookies = [];
  }

  /** Every unexpired cookie (copies), in the order they were set. */
  all(): Cookie[] {
    this.#expire();
    return this.#cookies.map((c) => ({ ...c }));
  }

  #expire(): void {
    const now = this.#now();
    this.#cookies = this.#cookies.filter((c) => c.expires === undefined || c.expires > now);
  }

  #applicable(url: URL): Cookie[] {
    this.#expire();
    const host = url.hostname.toLowerCase();
    const secure = url.protocol === 'https:' || isLoopback(host);
    const path = url.pathname || '/';
    return this.#cookies
      .filter((c) => domainMatches(host, c) && pathMatches(path, c.path) && (!c.secure || secure))
      // Longer paths first (RFC 6265 5.4); the sort is stable, so older first among equals.
      .sort((a, b) => b.path.length - a.path.length);
  }

  #put(cookie: Cookie): void {
    this.#cookies = this.#cookies.filter((c) => !(c.name === cookie.name && c.domain === cookie.domain && c.path === cookie.path));
    if (cookie.expires === undefined || cookie.expires > this.#now()) this.#cookies.push(cookie);
  }

  /** RFC 6265 5.2, the parts a test needs. */
  #parse(header: string, host: string, requestPath: string): Cookie | undefined {
    const [pair = '', ...attrs] = String(header).split(';');
    const eq = pair.indexOf('=');
    if (eq < 0) return undefined;
    const name = pair.slice(0, eq).trim();
    if (name === '') return undefined;
    const cookie: Cookie = {
      name,
      value: pair.slice(eq + 1).trim(),
      domain: host,
      hostOnly: true,
      path: defaultPath(requestPath),
      expires: undefined,
      secure: false,
      httpOnly: false,
      sameSite: undefined,
    };
    let maxAge: number | undefined;
    let expires: number | undefined;
    for (const attr of attrs) {
      const i = attr.indexOf('=');
      const key = (i < 0 ? attr : attr.slice(0, i)).trim().toLowerCase();
      const value = i < 0 ? '' : attr.slice(i + 1).trim();
      switch (key) {
        case 'expires': {
          const t = Date.parse(value);
          if (!Number.isNaN(t)) expires = t;
          break;
        }
        case 'max-age':
          if (/^-?\d+$/.test(value)) {
            const s = Number(value);
            // 0 or less: expired at once (the earliest time there is).
            maxAge = s <= 0 ? -Infinity : this.#now() + s * 1000;
          }
          break;
        case 'domain': {
          const d = value.replace(/^\./, '').toLowerCase();
          if (d === '') break;
          // A response may only set cookies for its own host and the domains above it.
          if (host !== d && !host.endsWith(`.${d}`)) return undefined;
          cookie.domain = d;
          cookie.hostOnly = false;
          break;
        }
        case 'path':
          cookie.path = value.startsWith('/') ? value : defaultPath(requestPath);
          break;
        case 'secure':
          cookie.secure = true;
          break;
        case 'httponly':
          cookie.httpOnly = true;
          break;
        case 'samesite':
          cookie.sameSite = value;
          break;
      }
    }
    cookie.expires = maxAge ?? expires;
    return cookie;
  }
}
