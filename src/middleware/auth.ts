/**
 * HTTP Basic authentication (RFC 7617) as middleware: the credentials are
 * checked by a verifier of the app's (a password database, an LDAP bind...)
 * or against a fixed map of users in constant time. A request without valid
 * credentials gets `401 Unauthorized` with a `WWW-Authenticate` challenge and
 * never reaches the app; an accepted one reaches it with `REMOTE_USER` and
 * `AUTH_TYPE` set, as CGI and WSGI servers set them.
 *
 * Basic sends the password with every request: serve it over HTTPS only.
 *
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Application, Environ, Middleware } from '../gateway/types.js';
import { refuse } from './body.js';

/**
 * Decides whether a user name and password are good; may be async.
 *
 * @example
 * ```ts
 * const verify: BasicVerifier = async (user, password) => {
 *   const row = await db.user(user);
 *   return row !== undefined && (await checkPassword(password, row.hash));
 * };
 * ```
 */
export type BasicVerifier = (user: string, password: string, environ: Environ) => boolean | Promise<boolean>;

/**
 * Options of {@link basicAuth}: `verify` or `users` (not both).
 *
 * @example
 * ```ts
 * const options: BasicAuthOptions = { realm: 'metrics', users: { prometheus: process.env.SCRAPE_PASSWORD! } };
 * ```
 */
export interface BasicAuthOptions {
  /** The protection space named in the challenge (default `"Restricted"`). */
  realm?: string;
  /** Checks a user name and password. */
  verify?: BasicVerifier;
  /** Fixed users and their passwords, compared in constant time (a shortcut for `verify: verifyUsers(users)`). */
  users?: Record<string, string>;
}

/**
 * Compares two strings in time that does not depend on where they differ
 * (or on their lengths: both are hashed to SHA-256 digests of equal length
 * first, which is what `timingSafeEqual` needs).
 *
 * @example
 * ```ts
 * if (!safeEqual(environ.HTTP_X_API_KEY ?? '', process.env.API_KEY!)) return forbidden(startResponse);
 * ```
 */
export function safeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a, 'utf8').digest();
  const db = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(da, db);
}

/**
 * A verifier over a fixed map of users to passwords, comparing in constant
 * time. An unknown user is compared against a dummy password, so that the
 * time taken does not tell which user names exist.
 *
 * @example
 * ```ts
 * const verify = verifyUsers({ ada: process.env.ADA_PASSWORD! });
 * export const application = compose(basicAuth({ realm: 'admin', verify }))(app);
 * ```
 */
export function verifyUsers(users: Record<string, string>): BasicVerifier {
  const table = new Map(Object.entries(users));
  return function verifyUser(user, password) {
    const expected = table.get(user);
    const ok = safeEqual(password, expected ?? '\0not a password\0');
    return ok && expected !== undefined;
  };
}

/**
 * The credentials of a `Basic` Authorization header.
 *
 * @example
 * ```ts
 * const { user, password }: BasicCredentials = parseBasic(environ) ?? { user: '', password: '' };
 * ```
 */
export interface BasicCredentials {
  user: string;
  password: string;
}

const BASIC = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads `Authorization: Basic ...` from the environ: `undefined` when it is
 * missing, not Basic, not strict base64, not UTF-8, without a colon, or
 * holding control characters (all of which a client that means well never
 * sends).
 *
 * @example
 * ```ts
 * parseBasic({ HTTP_AUTHORIZATION: 'Basic YWRhOnNlY3JldA==' } as Environ); // { user: 'ada', password: 'secret' }
 * ```
 */
export function parseBasic(environ: Pick<Environ, string>): BasicCredentials | undefined {
  const header = environ.HTTP_AUTHORIZATION;
  if (typeof header !== 'string') return undefined;
  const m = BASIC.exec(header);
  if (m === null || m[1]!.length % 4 !== 0) return undefined;
  let text: string;
  try {
    text = utf8.decode(Buffer.from(m[1]!, 'base64'));
  } catch {
    return undefined;
  }
  const colon = text.indexOf(':');
  // RFC 7617: no control characters in either part; the user name holds no colon.
  if (colon < 0 || /[\x00-\x1f\x7f]/.test(text)) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** The realm as a quoted-string. */
const quoted = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;

/**
 * Middleware that lets a request through only with HTTP Basic credentials
 * the verifier accepts. Others get `401 Unauthorized` with
 * `WWW-Authenticate: Basic realm="...", charset="UTF-8"` (so that browsers
 * send non-ASCII passwords as UTF-8). The app sees the user in
 * `environ.REMOTE_USER` and `environ.AUTH_TYPE === 'Basic'`. A verifier that
 * throws is an application error (500), not a refusal.
 *
 * @example
 * ```ts
 * import { basicAuth, compose, type Application } from 'gwserver';
 *
 * const app: Application = (environ, startResponse) => {
 *   startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
 *   return [`Hello, ${environ.REMOTE_USER}!`];
 * };
 * export const application = compose(basicAuth({ realm: 'staff', users: { ada: 'correct horse' } }))(app);
 * ```
 */
export function basicAuth(options: BasicAuthOptions): Middleware {
  if ((options.verify === undefined) === (options.users === undefined)) {
    throw new TypeError('basicAuth: give either verify or users');
  }
  const verify = options.verify ?? verifyUsers(options.users!);
  const realm = options.realm ?? 'Restricted';
  if (/[\x00-\x1f\x7f]|[^\x00-\xff]/.test(realm)) throw new TypeError('basicAuth: the realm must be latin-1 text without control characters');
  const challenge = `Basic realm=${quoted(realm)}, charset="UTF-8"`;
  return function basicAuthMiddleware(app: Application): Application {
    return async function withBasicAuth(environ, startResponse) {
      const credentials = parseBasic(environ);
      if (credentials !== undefined && (await verify(credentials.user, credentials.password, environ))) {
        environ.REMOTE_USER = credentials.user;
        environ.AUTH_TYPE = 'Basic';
        return app(environ, startResponse);
      }
      return refuse(startResponse, '401 Unauthorized', 'Unauthorized: valid credentials are needed for this resource.', [['WWW-Authenticate', challenge]]);
    };
  };
}
