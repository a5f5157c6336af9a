/**
 * Sessions as middleware. By default the session lives in the cookie itself,
 * signed with HMAC-SHA256 (readable by the client, not forgeable), or
 * encrypted with AES-256-GCM (neither readable nor forgeable); its expiry is
 * inside the signed or sealed payload, so an old cookie replayed after its
 * time is refused whatever the browser kept. With a store, the session lives
 * server-side and the cookie carries only a signed random id.
 *
 * Secrets rotate: `secret` may be a list, the first one signs, every one
 * verifies, so a new secret is added in front and the old one removed once
 * the cookies it signed have expired.
 *
 * @module
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { parseCookie, stringifySetCookie } from 'cookie';
import { GatewayError } from '../errors.js';
import type { Application, Body, Environ, Middleware, StartResponse } from '../gateway/types.js';
import { withClose } from './body.js';

/**
 * The environ key where `sessions()` puts the request's {@link Session}.
 *
 * @example
 * ```ts
 * const session = environ[SESSION_KEY] as Session; // environ['gwserver.session']
 * ```
 */
export const SESSION_KEY = 'gwserver.session';

/**
 * What a session holds: JSON values by name.
 *
 * @example
 * ```ts
 * const data: SessionData = { user: 'ada', cart: [17, 42] };
 * ```
 */
export type SessionData = Record<string, unknown>;

/**
 * Where server-side sessions are kept. `ttl` is in seconds: the store may
 * forget the session after it (and `get` must not return it then).
 *
 * @example
 * ```ts
 * // A store over a SQL table (id primary key, data json, expires timestamp).
 * const sqlStore: SessionStore = {
 *   get: async (id) => (await db.one('select data from sessions where id = $1 and expires > now()', [id]))?.data,
 *   set: async (id, data, ttl) => void (await db.none(
 *     "insert into sessions values ($1, $2, now() + $3 * interval '1 second') on conflict (id) do update set data = $2, expires = excluded.expires",
 *     [id, data, ttl])),
 *   destroy: async (id) => void (await db.none('delete from sessions where id = $1', [id])),
 * };
 * ```
 */
export interface SessionStore {
  get(id: string): Promise<SessionData | undefined>;
  set(id: string, data: SessionData, ttl: number): Promise<void>;
  destroy(id: string): Promise<void>;
}

/**
 * Cookie attributes of {@link SessionOptions}.
 *
 * @example
 * ```ts
 * // Behind a TLS proxy that is not trusted for X-Forwarded-Proto: Secure always.
 * sessions({ secret, name: '__Host-session', cookie: { secure: true, sameSite: 'strict' } });
 * ```
 */
export interface SessionCookieOptions {
  /** Default `"/"`. */
  path?: string;
  /** Default: none (the cookie goes back to this host only). */
  domain?: string;
  /** Default `"lax"`. */
  sameSite?: 'lax' | 'strict' | 'none';
  /** `"auto"` (the default): Secure when `wsgi.url_scheme` is `https`. */
  secure?: boolean | 'auto';
  /** Default `true`: scripts in the page cannot read the cookie. */
  httpOnly?: boolean;
}

/**
 * Options of {@link sessions}.
 *
 * @example
 * ```ts
 * const options: SessionOptions = { secret: process.env.SESSION_SECRETS!.split(','), maxAge: 8 * 3600, encrypt: true };
 * ```
 */
export interface SessionOptions {
  /**
   * The key or keys, each at least 32 bytes (make one with
   * `openssl rand -base64 32`). The first signs (and encrypts); all verify.
   */
  secret: string | Buffer | Array<string | Buffer>;
  /** The cookie's name (default `"gwsession"`). */
  name?: string;
  /** Seconds a session lives after its last change (default 86400, a day). */
  maxAge?: number;
  /** Encrypt the cookie (AES-256-GCM) instead of only signing it. Ignored with a store, whose cookie holds only an id. */
  encrypt?: boolean;
  /** Keep sessions server-side in this store; the cookie holds a signed id. */
  store?: SessionStore;
  cookie?: SessionCookieOptions;
}

/**
 * The most a browser keeps of one cookie (RFC 6265 section 6.1 asks for at least this, and no more is safe).
 *
 * @example
 * ```ts
 * if (JSON.stringify(session).length > MAX_COOKIE_BYTES / 2) session.delete('history');
 * ```
 */
export const MAX_COOKIE_BYTES = 4096;

/**
 * The session of one request, at `environ['gwserver.session']`. Values must
 * be JSON; setting one (or calling `clear`, `destroy`, `regenerate` or
 * `touch`) marks the session modified, and only a modified session is saved
 * (with a new cookie). Change the session before calling `startResponse`:
 * the cookie goes out with the headers. An object changed in place after
 * `set` is saved only if something marks the session modified.
 *
 * @example
 * ```ts
 * const session = environ['gwserver.session'] as Session;
 * const visits = (session.get<number>('visits') ?? 0) + 1;
 * session.set('visits', visits);
 * ```
 */
export class Session {
  #data: SessionData;
  #modified = false;
  #accessed = false;
  #destroyed = false;
  #id: string | undefined;
  #previousId: string | undefined;
  /** Counts changes, so that a change made after the store was written is written again. */
  #version = 0;
  /** Whether the request came without a valid session. */
  readonly isNew: boolean;

  /** @internal */
  constructor(data: SessionData, isNew: boolean, id?: string) {
    this.#data = data;
    this.isNew = isNew;
    this.#id = id;
  }

  /** The server-side id (with a store), else `undefined`. */
  get id(): string | undefined {
    return this.#id;
  }

  /** Whether the session changed in this request. */
  get modified(): boolean {
    return this.#modified;
  }

  /** Whether the app looked at or changed the session (the response then depends on the Cookie header). */
  get accessed(): boolean {
    return this.#accessed;
  }

  /** Whether `destroy()` was called. */
  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** @internal */
  get version(): number {
    return this.#version;
  }

  /** @internal The id this session had before `regenerate()`. */
  get previousId(): string | undefined {
    return this.#previousId;
  }

  /** The value of `key` (typed as you say: it is JSON from the client or the store, check what matters), or `undefined`. */
  get<T = unknown>(key: string): T | undefined {
    this.#accessed = true;
    return Object.hasOwn(this.#data, key) ? (this.#data[key] as T) : undefined;
  }

  /** Whether `key` has a value. */
  has(key: string): boolean {
    this.#accessed = true;
    return Object.hasOwn(this.#data, key);
  }

  /** Sets a JSON value; `undefined` deletes the key. */
  set(key: string, value: unknown): this {
    if (value === undefined) this.delete(key);
    else {
      this.#data[key] = value;
      this.#change();
    }
    return this;
  }

  /** Removes `key`; returns whether it was there. */
  delete(key: string): boolean {
    if (!Object.hasOwn(this.#data, key)) return false;
    delete this.#data[key];
    this.#change();
    return true;
  }

  /** Removes every value (the session itself goes on). */
  clear(): void {
    this.#data = {};
    this.#change();
  }

  /** The keys that have values. */
  keys(): string[] {
    this.#accessed = true;
    return Object.keys(this.#data);
  }

  /** Ends the session: its cookie is expired and its stored copy deleted. */
  destroy(): void {
    this.#data = {};
    this.#destroyed = true;
    this.#change();
  }

  /**
   * Gives the session a new id, keeping its values (with a store; without
   * one, a new cookie is all there is to it). Call it when the user logs in,
   * so that an id planted before the login (session fixation) is worth
   * nothing after it.
   */
  regenerate(): void {
    if (this.#id !== undefined) {
      this.#previousId ??= this.#id;
      this.#id = newId();
    }
    this.#destroyed = false;
    this.#change();
  }

  /** Marks the session modified, so that it is saved and its expiry pushed back. */
  touch(): void {
    this.#change();
  }

  /** The values, as saved. */
  toJSON(): SessionData {
    this.#accessed = true;
    return { ...this.#data };
  }

  #change(): void {
    this.#accessed = true;
    this.#modified = true;
    this.#version++;
  }
}

const newId = () => randomBytes(32).toString('base64url');
const b64 = (b: Buffer) => b.toString('base64url');
const B64URL = /^[A-Za-z0-9_-]+$/;

/** Signing and encryption keys derived from one secret (HKDF, so that the two uses never share a key). */
interface Keys {
  sign: Buffer;
  seal: Buffer;
}

function deriveKeys(secret: string | Buffer): Keys {
  const ikm = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  if (ikm.length < 32) {
    throw new TypeError(`sessions: each secret must be at least 32 bytes (this one has ${ikm.length}); make one with: openssl rand -base64 32`);
  }
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', ikm, 'gwserver-session', info, 32));
  return { sign: derive('sign'), seal: derive('seal') };
}

/** The cookie's value, from and to a payload: signed or sealed, with every key tried on the way in. */
class Codec {
  readonly #keys: Keys[];
  readonly #name: string;

  constructor(secrets: Array<string | Buffer>, name: string) {
    if (secrets.length === 0) throw new TypeError('sessions: give at least one secret');
    this.#keys = secrets.map(deriveKeys);
    this.#name = name;
  }

  #mac(key: Buffer, value: string): Buffer {
    // The cookie's name is signed with it: a value cannot be moved to another cookie of the same app.
    return createHmac('sha256', key).update(`${this.#name}=${value}`).digest();
  }

  /** `value.mac`, signed with the first key. */
  sign(value: string): string {
    return `${value}.${b64(this.#mac(this.#keys[0]!.sign, value))}`;
  }

  /** The value of `value.mac` if any key signed it. */
  unsign(signed: string): string | undefined {
    const dot = signed.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const value = signed.slice(0, dot);
    const text = signed.slice(dot + 1);
    const mac = Buffer.from(text, 'base64url');
    // Node's base64 decoding skips what it does not know: only the canonical spelling counts.
    if (mac.length !== 32 || b64(mac) !== text) return undefined;
    // Every key is tried, whichever matches, so the time taken does not tell which one did.
    let ok = false;
    for (const k of this.#keys) ok = timingSafeEqual(this.#mac(k.sign, value), mac) || ok;
    return ok ? value : undefined;
  }

  /** AES-256-GCM with the first key: iv, ciphertext and tag, base64url. */
  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#keys[0]!.seal, iv);
    cipher.setAAD(Buffer.from(this.#name));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return b64(Buffer.concat([iv, body, cipher.getAuthTag()]));
  }

  open(sealed: string): string | undefined {
    if (!B64URL.test(sealed)) return undefined;
    const raw = Buffer.from(sealed, 'base64url');
    if (raw.length < 12 + 16 || b64(raw) !== sealed) return undefined;
    const iv = raw.subarray(0, 12);
    const tag = raw.subarray(raw.length - 16);
    const body = raw.subarray(12, raw.length - 16);
    for (const k of this.#keys) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', k.seal, iv);
        decipher.setAAD(Buffer.from(this.#name));
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
      } catch {
        // Not this key (or tampered with): the next one.
      }
    }
    return undefined;
  }
}

/** A session payload with its expiry (seconds since the epoch). */
interface Payload {
  d: SessionData;
  e: number;
}

/** A payload (as JSON text) that is well-formed and not expired, else undefined. */
function live(text: string | undefined): Payload | undefined {
  if (text === undefined) return undefined;
  try {
    return liveObject(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/** A payload that is well-formed and not expired, else undefined. */
function liveObject(p: unknown): Payload | undefined {
  if (typeof p !== 'object' || p === null) return undefined;
  const { d, e } = p as Partial<Payload>;
  if (typeof e !== 'number' || e * 1000 <= Date.now()) return undefined;
  if (typeof d !== 'object' || d === null || Array.isArray(d)) return undefined;
  return { d, e };
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * Middleware that gives every request a {@link Session} at
 * `environ['gwserver.session']`, and saves it when the app changed it: a
 * `Set-Cookie` is added to the headers the app passes to `startResponse`
 * (only then), and with a store the session is written before the response
 * goes out. A cookie that is tampered with, truncated, expired, or signed
 * with a key no longer in the list is ignored (the app gets a new, empty
 * session) and expired in the browser. If the app throws, nothing is saved.
 *
 * Cookies are `HttpOnly`, `SameSite=Lax`, `Path=/`, and `Secure` when the
 * request came over https; a cookie session over 4096 bytes is an
 * application error (500) that says so. A response of an app that used the
 * session before `startResponse` gets `Vary: Cookie`, so that no shared cache hands it to
 * another user.
 *
 * @example
 * ```ts
 * import { compose, sessions, type Application, type Session } from 'gwserver';
 *
 * const app: Application = (environ, startResponse) => {
 *   const session = environ['gwserver.session'] as Session;
 *   const visits = (session.get<number>('visits') ?? 0) + 1;
 *   session.set('visits', visits);
 *   startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
 *   return [`Visit number ${visits}`];
 * };
 * // SESSION_SECRET="new one,old one" while rotating.
 * export const application = compose(sessions({ secret: process.env.SESSION_SECRET!.split(',') }))(app);
 * ```
 */
export function sessions(options: SessionOptions): Middleware {
  const name = options.name ?? 'gwsession';
  // A bad name (or attribute) fails here, at startup, rather than in the first startResponse.
  stringifySetCookie(name, 'x', { path: options.cookie?.path, domain: options.cookie?.domain });
  const codec = new Codec(Array.isArray(options.secret) ? options.secret : [options.secret], name);
  const maxAge = options.maxAge ?? 86_400;
  if (!Number.isInteger(maxAge) || maxAge <= 0) throw new TypeError('sessions: maxAge must be a positive whole number of seconds');
  const store = options.store;
  const cookie = { path: '/', sameSite: 'lax' as const, secure: 'auto' as const, httpOnly: true, ...options.cookie };

  /** The request's session from its cookie (or store), and whether it brought a cookie that did not hold up. */
  async function load(environ: Environ): Promise<{ session: Session; stale: boolean }> {
    const header = environ.HTTP_COOKIE;
    const raw = typeof header === 'string' ? parseCookie(header)[name] : undefined;
    if (raw === undefined) return { session: new Session({}, true, store === undefined ? undefined : newId()), stale: false };
    if (store !== undefined) {
      const id = codec.unsign(raw);
      const found = id === undefined || !B64URL.test(id) ? undefined : await store.get(id);
      // The store's own TTL governs; an expiry kept with the data catches a store that ignores it.
      const payload = liveObject(found);
      if (payload !== undefined) return { session: new Session(payload.d, false, id), stale: false };
      return { session: new Session({}, true, newId()), stale: true };
    }
    const text = options.encrypt ? codec.open(raw) : codec.unsign(raw);
    const payload = live(options.encrypt || text === undefined ? text : Buffer.from(text, 'base64url').toString('utf8'));
    if (payload !== undefined) return { session: new Session(payload.d, false), stale: false };
    return { session: new Session({}, true), stale: true };
  }

  function setCookie(environ: Environ, value: string, age: number): string {
    const secure = cookie.secure === 'auto' ? environ['wsgi.url_scheme'] === 'https' : cookie.secure;
    const header = stringifySetCookie(name, value, {
      path: cookie.path,
      domain: cookie.domain,
      sameSite: cookie.sameSite,
      secure,
      httpOnly: cookie.httpOnly,
      maxAge: age,
      ...(age === 0 ? { expires: new Date(0) } : {}),
    });
    const size = Buffer.byteLength(`${name}=${value}`);
    if (size > MAX_COOKIE_BYTES) {
      throw new GatewayError('GW_APP_CONTRACT', `sessions: the session cookie would be ${size} bytes, over the ${MAX_COOKIE_BYTES} a browser keeps; keep less in the session, or keep it server-side with a store`);
    }
    return header;
  }

  /** The Set-Cookie header the response needs, if any. */
  function cookieFor(environ: Environ, session: Session, stale: boolean): string | undefined {
    if (session.destroyed) return session.isNew && !stale ? undefined : setCookie(environ, '', 0);
    if (session.modified) {
      if (store !== undefined) return setCookie(environ, codec.sign(session.id!), maxAge);
      const plain = JSON.stringify({ d: session.toJSON(), e: nowSeconds() + maxAge } satisfies Payload);
      return setCookie(environ, options.encrypt ? codec.seal(plain) : codec.sign(b64(Buffer.from(plain))), maxAge);
    }
    return stale ? setCookie(environ, '', 0) : undefined;
  }

  /** Writes the session to the store (or deletes it), as it is now. */
  async function save(session: Session): Promise<void> {
    if (store === undefined) return;
    if (session.previousId !== undefined) await store.destroy(session.previousId);
    if (session.destroyed) {
      if (!session.isNew) await store.destroy(session.id!);
      return;
    }
    await store.set(session.id!, { d: session.toJSON(), e: nowSeconds() + maxAge } as unknown as SessionData, maxAge);
  }

  return function sessionsMiddleware(app: Application): Application {
    return async function withSession(environ, startResponse) {
      const { session, stale } = await load(environ);
      environ[SESSION_KEY] = session;
      const start: StartResponse = function startWithSession(status, headers, excInfo?: unknown) {
        const setCookieHeader = cookieFor(environ, session, stale);
        const list: Array<[string, string]> = [...headers];
        if (setCookieHeader !== undefined) list.push(['Set-Cookie', setCookieHeader]);
        // A page that depends on the session must not be served from a shared cache to another user.
        if (session.accessed && !headers.some(([n, v]) => n.toLowerCase() === 'vary' && /(^|,)\s*(cookie|\*)\s*(,|$)/i.test(v))) list.push(['Vary', 'Cookie']);
        // excInfo is passed on only when given: the server tells a first call from an error handler's by it.
        return excInfo === undefined ? startResponse(status, list) : startResponse(status, list, excInfo);
      };
      const body: Body = await app(environ, start);
      if (store === undefined) return body;
      // Written before the response goes out: the client's next request must find it.
      let saved = session.version;
      if (session.modified) await save(session);
      return withClose(body, async () => {
        // A generator app may change the session while its body runs.
        if (session.version !== saved) {
          saved = session.version;
          await save(session);
        }
      });
    };
  };
}

/**
 * A store in this process's memory: for development and tests only. Each
 * worker has its own, so with more than one worker (`-w 2`) a session
 * started on one is unknown to the others, and everything is lost on a
 * restart or reload. Use {@link RedisStore} (or a store of your own) in
 * production.
 *
 * @example
 * ```ts
 * export const application = compose(sessions({ secret, store: new MemoryStore() }))(app);
 * ```
 */
export class MemoryStore implements SessionStore {
  readonly #sessions = new Map<string, { json: string; expires: number }>();
  readonly #max: number;

  /** `max`: the most sessions kept; past it the oldest written goes (default 10000). */
  constructor(options: { max?: number } = {}) {
    this.#max = options.max ?? 10_000;
  }

  /** How many sessions are held (expired ones included until they are swept). */
  get size(): number {
    return this.#sessions.size;
  }

  async get(id: string): Promise<SessionData | undefined> {
    const entry = this.#sessions.get(id);
    if (entry === undefined) return undefined;
    if (entry.expires <= Date.now()) {
      this.#sessions.delete(id);
      return undefined;
    }
    // A copy: the request's changes reach the store only through set().
    return JSON.parse(entry.json) as SessionData;
  }

  async set(id: string, data: SessionData, ttl: number): Promise<void> {
    this.#sessions.delete(id);
    this.#sessions.set(id, { json: JSON.stringify(data), expires: Date.now() + ttl * 1000 });
    const now = Date.now();
    for (const [key, entry] of this.#sessions) {
      if (this.#sessions.size <= this.#max && entry.expires > now) break;
      this.#sessions.delete(key);
    }
  }

  async destroy(id: string): Promise<void> {
    this.#sessions.delete(id);
  }
}

/**
 * The part of a Redis client that {@link RedisStore} uses. A node-redis
 * (`redis` v4 and later) client and an ioredis client both fit.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * const client: RedisClientLike = new Redis(process.env.REDIS_URL!);
 * ```
 */
export interface RedisClientLike {
  get(key: string): Promise<unknown>;
  set(key: string, value: string, ...options: any[]): Promise<unknown>;
  del(key: string): Promise<unknown>;
}

/**
 * Options of {@link RedisStore}.
 *
 * @example
 * ```ts
 * new RedisStore(client, { prefix: 'myapp:session:', client: 'ioredis' });
 * ```
 */
export interface RedisStoreOptions {
  /** Put before each session id to make its key (default `"gwsession:"`). */
  prefix?: string;
  /**
   * How `SET` takes its expiry: `'node-redis'` (`set(key, value, { EX })`)
   * or `'ioredis'` (`set(key, value, 'EX', ttl)`). Default: `'node-redis'`
   * when the client has node-redis's `setEx`, else `'ioredis'`.
   */
  client?: 'node-redis' | 'ioredis';
}

/**
 * A store in Redis, shared by every worker and every machine that uses the
 * same Redis: sessions survive restarts and reloads, and Redis forgets each
 * one when its TTL runs out. It uses the client you give it (connected,
 * configured and closed by you); `redis` and `ioredis` both work.
 *
 * @example
 * ```ts
 * import { createClient } from 'redis';
 *
 * const client = await createClient({ url: process.env.REDIS_URL }).connect();
 * export const application = compose(sessions({ secret, store: new RedisStore(client) }))(app);
 * ```
 */
export class RedisStore implements SessionStore {
  readonly #client: RedisClientLike;
  readonly #prefix: string;
  readonly #nodeRedis: boolean;

  constructor(client: RedisClientLike, options: RedisStoreOptions = {}) {
    this.#client = client;
    this.#prefix = options.prefix ?? 'gwsession:';
    this.#nodeRedis = options.client === undefined ? typeof (client as { setEx?: unknown }).setEx === 'function' : options.client === 'node-redis';
  }

  async get(id: string): Promise<SessionData | undefined> {
    const value = await this.#client.get(this.#prefix + id);
    if (value === null || value === undefined) return undefined;
    try {
      return JSON.parse(String(value)) as SessionData;
    } catch {
      return undefined;
    }
  }

  async set(id: string, data: SessionData, ttl: number): Promise<void> {
    const json = JSON.stringify(data);
    if (this.#nodeRedis) await this.#client.set(this.#prefix + id, json, { EX: ttl });
    else await this.#client.set(this.#prefix + id, json, 'EX', ttl);
  }

  async destroy(id: string): Promise<void> {
    await this.#client.del(this.#prefix + id);
  }
}
