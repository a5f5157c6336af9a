/**
 * Routing for gateway applications, in the WSGI tradition: a path
 * dispatcher that mounts apps under prefixes (Paste's `URLMap`), moving the
 * matched segments from `PATH_INFO` to `SCRIPT_NAME` so that a mounted app
 * sees itself at its prefix (its `applicationUri` and its links are right);
 * path patterns with parameters, which land in `wsgiorg.routing_args` as
 * the wsgiorg routing_args specification (and Selector) names them; and
 * method routing with a `405` and `Allow`.
 *
 * Every router here is an ordinary {@link Application}: they nest, and any
 * middleware wraps them.
 *
 * @module
 */
import type { Application, Environ, StartResponse } from '../gateway/types.js';
import { quotePath } from '../gateway/util.js';

/**
 * `environ['wsgiorg.routing_args']`: the positional and the named arguments
 * a router found in the URL, as the wsgiorg routing_args specification
 * defines them. gwserver's routers fill only the named ones.
 */
export type RoutingArgs = [positional: string[], named: Record<string, string>];

/** The environ key of {@link RoutingArgs}. */
export const ROUTING_ARGS = 'wsgiorg.routing_args';

/** Applications by request method (`GET`, `POST`...; upper case, as sent). */
export type MethodTable = Readonly<Record<string, Application>>;

/** Options of {@link byMethod}. */
export interface ByMethodOptions {
  /**
   * Answer `OPTIONS` with `204 No Content` and `Allow` when the table has no
   * `OPTIONS` of its own (default true, as Flask does). False: `OPTIONS` is
   * a method like any other, refused with 405 unless it is in the table.
   */
  autoOptions?: boolean;
}

/** Options of {@link route} and {@link mount}. */
export interface RouteOptions {
  /** Called when no pattern matches (default: a plain `404 Not Found`). */
  notFound?: Application;
}

/**
 * The named arguments a router took from the URL
 * (`environ['wsgiorg.routing_args'][1]`); empty when there are none.
 *
 * @example
 * ```ts
 * const app = route({ '/users/:id': (environ, startResponse) => {
 *   const { id } = routeParams(environ);
 *   startResponse('200 OK', [['Content-Type', 'text/plain']]);
 *   return [`user ${id}`];
 * } });
 * ```
 */
export function routeParams(environ: Environ): Readonly<Record<string, string>> {
  const args = environ[ROUTING_ARGS];
  if (Array.isArray(args) && args[1] !== null && typeof args[1] === 'object') return args[1] as Record<string, string>;
  return {};
}

// ---------------------------------------------------------------------------
// Plain answers
// ---------------------------------------------------------------------------

function plain(startResponse: StartResponse, status: string, extra: Array<[string, string]> = []): string[] {
  const text = `${status.slice(4)}\n`;
  startResponse(status, [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(text.length)], ...extra]);
  return [text];
}

/** The default of {@link RouteOptions.notFound}: `404 Not Found` in plain text. */
export const notFound: Application = function notFound(_environ, startResponse) {
  return plain(startResponse, '404 Not Found');
};

// ---------------------------------------------------------------------------
// Method routing
// ---------------------------------------------------------------------------

const METHOD_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Routes on the request method: each method of `table` to its application,
 * any other to `405 Method Not Allowed` with an `Allow` header naming those
 * that are allowed. `HEAD` is served by the `GET` app unless the table has
 * its own (the server sends no body for HEAD); `OPTIONS` is answered with
 * `204` and `Allow` unless the table has its own or `autoOptions` is false.
 * Methods are matched as sent (HTTP methods are case-sensitive).
 *
 * @example
 * ```ts
 * export const application = byMethod({
 *   GET: listUsers,
 *   POST: createUser,
 * });
 * // DELETE / -> 405, Allow: GET, HEAD, POST, OPTIONS
 * ```
 */
export function byMethod(table: MethodTable, options: ByMethodOptions = {}): Application {
  const apps = new Map<string, Application>();
  for (const [method, app] of Object.entries(table)) {
    if (!METHOD_RE.test(method)) throw new TypeError(`byMethod: ${JSON.stringify(method)} is not an HTTP method`);
    if (typeof app !== 'function') throw new TypeError(`byMethod: the ${method} entry is not an application`);
    apps.set(method, app);
  }
  if (apps.size === 0) throw new TypeError('byMethod: the table has no method');
  const get = apps.get('GET');
  if (get !== undefined && !apps.has('HEAD')) apps.set('HEAD', get);
  const autoOptions = (options.autoOptions ?? true) && !apps.has('OPTIONS');
  const allow = [...apps.keys(), ...(autoOptions ? ['OPTIONS'] : [])].join(', ');
  return function methodRouter(environ, startResponse) {
    const app = apps.get(environ.REQUEST_METHOD);
    if (app !== undefined) return app(environ, startResponse);
    if (autoOptions && environ.REQUEST_METHOD === 'OPTIONS') {
      startResponse('204 No Content', [['Allow', allow]]);
      return [];
    }
    return plain(startResponse, '405 Method Not Allowed', [['Allow', allow]]);
  };
}

// ---------------------------------------------------------------------------
// Path routing
// ---------------------------------------------------------------------------

/** One segment of a pattern: text to match as it is, or a parameter. */
type Part = { literal: string } | { param: string };

interface Route {
  pattern: string;
  parts: Part[];
  /** Ends in `/*`: matches the prefix and anything below it, moved to SCRIPT_NAME. */
  prefix: boolean;
  app: Application;
  /** Sort key: per position, 0 literal, 1 parameter; then 2 for an exact end, 3 for a prefix end. */
  rank: number[];
}

const PARAM_RE = /^:([A-Za-z_][A-Za-z0-9_]*)$/;

function parsePattern(pattern: string, app: Application): Route {
  if (typeof pattern !== 'string' || !pattern.startsWith('/')) {
    throw new TypeError(`route: pattern ${JSON.stringify(pattern)} must start with "/"`);
  }
  let body = pattern;
  let prefix = false;
  if (body === '/*' || body.endsWith('/*')) {
    prefix = true;
    body = body.slice(0, -2);
  }
  // "/" is the root itself: one empty segment, as normalizeSegments gives for PATH_INFO "/".
  const raw = body === '' ? [] : body.slice(1).split('/');
  const parts: Part[] = [];
  const names = new Set<string>();
  for (let i = 0; i < raw.length; i++) {
    const seg = raw[i]!;
    const last = i === raw.length - 1;
    // A trailing slash is an empty last segment; an empty one elsewhere could never match a normalized path.
    if ((seg === '' && !(last && !prefix)) || seg === '.' || seg === '..' || seg.includes('*')) {
      throw new TypeError(`route: pattern ${JSON.stringify(pattern)} has a segment that can never match (${JSON.stringify(seg)}); "*" may only end a pattern, as "/*"`);
    }
    const m = PARAM_RE.exec(seg);
    if (m !== null) {
      if (names.has(m[1]!)) throw new TypeError(`route: pattern ${JSON.stringify(pattern)} names :${m[1]} twice`);
      names.add(m[1]!);
      parts.push({ param: m[1]! });
    } else if (seg.startsWith(':')) {
      throw new TypeError(`route: pattern ${JSON.stringify(pattern)}: ${JSON.stringify(seg)} is not a parameter name (letters, digits, "_")`);
    } else {
      parts.push({ literal: seg });
    }
  }
  const rank: number[] = parts.map((p) => ('literal' in p ? 0 : 1));
  rank.push(prefix ? 3 : 2);
  return { pattern, parts, prefix, app, rank };
}

/** Most specific first: at the first position where two patterns differ, a literal beats a parameter, which beats the end of an exact pattern, which beats a prefix's rest. */
function bySpecificity(a: Route, b: Route): number {
  const n = Math.min(a.rank.length, b.rank.length);
  for (let i = 0; i < n; i++) {
    if (a.rank[i] !== b.rank[i]) return a.rank[i]! - b.rank[i]!;
  }
  return 0;
}

/** Two patterns that match exactly the same paths (`/u/:id` and `/u/:name`) would leave the choice to their order: refused. */
function shapeOf(r: Route): string {
  return r.parts.map((p) => ('literal' in p ? `=${p.literal}` : ':')).join('/') + (r.prefix ? '/*' : '');
}

/**
 * The segments of `PATH_INFO` as a browser would send the path: `.` and
 * `..` resolved (RFC 3986's remove_dot_segments; `..` never climbs above
 * the router's own `SCRIPT_NAME`) and repeated slashes merged, a trailing
 * slash kept as an empty last segment. `/` is `[""]`, `""` is `[]`.
 * Undefined for a PATH_INFO that is not a path (`*`).
 */
export function normalizeSegments(pathInfo: string): string[] | undefined {
  if (pathInfo === '') return [];
  if (pathInfo.charCodeAt(0) !== 47) return undefined;
  const raw = pathInfo.split('/');
  const out: string[] = [];
  for (let i = 1; i < raw.length; i++) {
    const seg = raw[i]!;
    const last = i === raw.length - 1;
    if (seg === '..') {
      out.pop();
      if (last) out.push('');
    } else if (seg === '.' || seg === '') {
      if (last) out.push('');
    } else {
      out.push(seg);
    }
  }
  // "/.." and "/." end up empty: they name the root.
  if (out.length === 0) out.push('');
  return out;
}

function pathOf(segments: readonly string[]): string {
  return segments.length === 0 ? '' : `/${segments.join('/')}`;
}

/**
 * Routes on the path: each key of `table` is a pattern, each value the
 * application for it, or a {@link MethodTable} (given to {@link byMethod}).
 *
 * - `/users/new` matches that path exactly; `/users/` (a trailing slash)
 *   is another path.
 * - `/users/:id` matches `/users/42` and puts `{ id: '42' }` in
 *   `environ['wsgiorg.routing_args']` (read it with {@link routeParams});
 *   a parameter is one non-empty segment.
 * - `/api/*` matches `/api`, `/api/` and everything under `/api/`, never
 *   `/apix`: the matched segments move from `PATH_INFO` to `SCRIPT_NAME`
 *   (`/api/users` gives the app `SCRIPT_NAME` `/api` and `PATH_INFO`
 *   `/users`; `/api` gives it `PATH_INFO` `""`). `/*` matches everything.
 *
 * The most specific pattern wins whatever the order of the keys: a literal
 * segment before a parameter, an exact pattern before a prefix, the
 * longest prefix first. Patterns that would match the same paths are
 * refused when the router is made.
 *
 * An empty `PATH_INFO` (a router mounted at `/users`, asked for `/users`)
 * is redirected (308) to the mount's `/` when the table has `/`, so that
 * relative links on that page resolve under the mount.
 *
 * `PATH_INFO` is matched as a browser would send it: `.` and `..`
 * segments resolved (never above the router's own `SCRIPT_NAME`) and
 * repeated slashes merged, and the application gets it so. It is the
 * percent-decoded path, as for every app: `%2F` is a slash here too, and
 * patterns are written decoded (`/café`). Parameters nest: a router inside
 * a prefix adds its own to those of the router outside.
 *
 * @example
 * ```ts
 * export const application = route({
 *   '/': home,
 *   '/users': { GET: listUsers, POST: createUser },
 *   '/users/:id': { GET: showUser, DELETE: deleteUser },
 *   '/static/*': staticFiles,
 * });
 * ```
 */
export function route(table: Readonly<Record<string, Application | MethodTable>>, options: RouteOptions = {}): Application {
  const routes: Route[] = [];
  const shapes = new Map<string, string>();
  for (const [pattern, target] of Object.entries(table)) {
    const app = typeof target === 'function' ? target : byMethod(target as MethodTable);
    const r = parsePattern(pattern, app);
    const shape = shapeOf(r);
    const other = shapes.get(shape);
    if (other !== undefined) throw new TypeError(`route: patterns ${JSON.stringify(other)} and ${JSON.stringify(pattern)} match the same paths`);
    shapes.set(shape, pattern);
    routes.push(r);
  }
  routes.sort(bySpecificity);
  const hasRoot = routes.some((r) => !r.prefix && r.parts.length === 1 && 'literal' in r.parts[0]! && r.parts[0].literal === '');
  const fallback = options.notFound ?? notFound;

  return function router(environ, startResponse) {
    const segments = normalizeSegments(environ.PATH_INFO);
    if (segments === undefined) return fallback(environ, startResponse);
    for (const r of routes) {
      const n = r.parts.length;
      // An empty PATH_INFO ([]) matches only "/*": "/" ([""]) is a segment of its own.
      if (r.prefix ? segments.length < n : segments.length !== n) continue;
      let named: Record<string, string> | undefined;
      let ok = true;
      for (let i = 0; i < n; i++) {
        const part = r.parts[i]!;
        const seg = segments[i]!;
        if ('literal' in part) {
          if (part.literal !== seg) {
            ok = false;
            break;
          }
        } else {
          if (seg === '') {
            ok = false;
            break;
          }
          (named ??= {})[part.param] = seg;
        }
      }
      if (!ok) continue;
      if (named !== undefined) {
        const [positional, outer] = (Array.isArray(environ[ROUTING_ARGS]) ? environ[ROUTING_ARGS] : [[], {}]) as RoutingArgs;
        environ[ROUTING_ARGS] = [[...positional], { ...outer, ...named }] satisfies RoutingArgs;
      }
      if (r.prefix) {
        if (n > 0) {
          const script = environ.SCRIPT_NAME.endsWith('/') ? environ.SCRIPT_NAME.slice(0, -1) : environ.SCRIPT_NAME;
          environ.SCRIPT_NAME = script + pathOf(segments.slice(0, n));
        }
        environ.PATH_INFO = pathOf(segments.slice(n));
      } else {
        environ.PATH_INFO = pathOf(segments);
      }
      return r.app(environ, startResponse);
    }
    // Mounted at /users, asked for /users: its "/" is one slash away, and
    // relative links on that page only resolve under it (as werkzeug's strict slashes).
    if (segments.length === 0 && hasRoot) {
      const qs = environ.QUERY_STRING;
      return plain(startResponse, '308 Permanent Redirect', [['Location', `${quotePath(environ.SCRIPT_NAME)}/${qs === '' ? '' : `?${qs}`}`]]);
    }
    return fallback(environ, startResponse);
  };
}

/**
 * Mounts applications under path prefixes, as Paste's `URLMap` does: the
 * longest prefix that matches whole segments wins (`/api` takes `/api` and
 * `/api/...`, never `/apix`), and the prefix moves from `PATH_INFO` to
 * `SCRIPT_NAME`, so that the app sees itself mounted there and builds its
 * URLs on it. `/` (or `""`) mounts an app for everything else. It is
 * {@link route} with `/*` after each prefix: paths are normalized the same
 * way and prefixes may hold parameters (`/users/:id`).
 *
 * @example
 * ```ts
 * export const application = mount({
 *   '/api': api,     // GET /api/users -> api sees SCRIPT_NAME "/api", PATH_INFO "/users"
 *   '/admin': admin,
 *   '/': site,
 * });
 * ```
 */
export function mount(table: Readonly<Record<string, Application>>, options: RouteOptions = {}): Application {
  const patterns: Record<string, Application> = {};
  for (const [prefix, app] of Object.entries(table)) {
    if (typeof app !== 'function') throw new TypeError(`mount: the app for ${JSON.stringify(prefix)} is not an application`);
    if (prefix !== '' && !prefix.startsWith('/')) throw new TypeError(`mount: prefix ${JSON.stringify(prefix)} must start with "/"`);
    const base = prefix.replace(/\/+$/, '');
    if (`${base}/*` in patterns) throw new TypeError(`mount: prefix ${JSON.stringify(prefix)} is given twice`);
    patterns[`${base}/*`] = app;
  }
  return route(patterns, options);
}
