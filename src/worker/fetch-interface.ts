/**
 * The fetch interface: a WHATWG fetch handler (`app.fetch` of Hono,
 * `export default { fetch }`) served by the worker's `node:http` server,
 * through the container layer (container.ts). The handler is called as
 * `fetch(request, { incoming, outgoing })` (Hono's `c.env`, as
 * `@hono/node-server` passes it: its `getConnInfo` works).
 *
 * Speed comes from building nothing the handler does not read:
 *
 * - the `Request` is a lightweight object whose prototype chain makes
 *   `instanceof Request` true: `method`, `url` and `headers` are read off
 *   the `IncomingMessage` (headers from `req.headers`, as node:http joined
 *   them), `signal` is ours, and the real (undici) Request is built only
 *   when the handler reads anything else. `text()`, `json()`,
 *   `arrayBuffer()`, `bytes()` and `blob()` read the body straight off the
 *   socket; `body` is a stream that reads one chunk per pull.
 * - a `Response` whose body is a string or bytes (or none) is written with
 *   its headers set on the response and one `end(body)`, from which Node
 *   writes the head with the Content-Length: no stream reader, from the
 *   lightweight {@link FastResponse}'s own fields or from the state undici
 *   keeps for a real one. Other bodies are streamed with backpressure and
 *   cancelled when the client goes away.
 * - a handler that answers synchronously (Hono's sync routes) is served
 *   without a promise.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { GatewayError } from '../errors.js';
import { normalizeAddress } from '../gateway/environ.js';
import type { FetchHandler } from '../interop/kinds.js';
import { isThenable } from '../gateway/exchange.js';
import type { Container, Served } from './container.js';
import { TEXT_PLAIN, forwardToNative, isFastResponse, kNative, kNativeRequest, kParts, natives, type FastParts, type HeadersInit } from './fast-response.js';

export { FastResponse, installFastResponse, isFastResponse } from './fast-response.js';

/** Options of {@link createFetchListener}. */
export interface FetchListenerOptions {
  /**
   * Bytes of a request body still unread when the response is over that
   * are read and dropped so the connection can carry the next request
   * (default 256 KiB); past that, or with no declared length, the
   * connection is closed.
   */
  drainLimit?: number;
}

const NativeResponse = natives.Response;
const NativeRequest = natives.Request;
const NativeHeaders = natives.Headers;

const DEFAULT_DRAIN_LIMIT = 256 * 1024;

/** What a handler that is no fetch handler is told to use. */
const INTERFACE_HINT = 'if it is a gateway app (environ, startResponse), serve it with --interface gateway; if it is a node:http listener (req, res), with --interface node';

/** The request listener that serves `fetch` through the container. */
export function createFetchListener(fetch: FetchHandler, c: Container, options: FetchListenerOptions = {}): (req: IncomingMessage, res: ServerResponse) => void {
  const limits: BodyLimits = { limit: c.limitBody, drainLimit: options.drainLimit ?? DEFAULT_DRAIN_LIMIT };
  const call = (served: Served): void => {
    const req = served.req;
    const url = requestUrl(req, c);
    if (typeof url !== 'string') {
      c.refuse(served, url);
      return;
    }
    const request = new LightRequest(req, served, url, limits);
    let r: unknown;
    try {
      r = fetch(request as unknown as Request, { incoming: req, outgoing: served.res });
    } catch (err) {
      failed(c, served, request, err, err instanceof TypeError && /is not a function/.test(err.message) ? INTERFACE_HINT : undefined);
      return;
    }
    if (!isFastResponse(r) && isThenable(r)) {
      if (c.responseMs !== 0) c.arm(served);
      r.then(
        (v: unknown) => respond(c, served, request, v),
        (err: unknown) => failed(c, served, request, err),
      );
      return;
    }
    respond(c, served, request, r);
  };
  if (c.preRequest !== undefined) {
    return function fetchListener(req, res) {
      const served = c.begin(req, res);
      if (served !== undefined) c.withHooks(served, () => call(served));
    };
  }
  return function fetchListener(req, res) {
    const served = c.begin(req, res);
    if (served !== undefined) call(served);
  };
}

/** The handler threw or rejected: the body limit's 413 if that is why, else the container's 500. */
function failed(c: Container, served: Served, request: LightRequest, err: unknown, hint?: string): void {
  const tooLarge = request[kTooLarge];
  if (tooLarge !== undefined && !served.res.headersSent) {
    c.refuse(served, tooLarge);
    return;
  }
  c.appError(served, err, hint);
}

// ---------------------------------------------------------------------------
// The request's URL
// ---------------------------------------------------------------------------

/**
 * A Host the WHATWG URL parser may keep as it is: a lower-case name whose
 * last label is no number, or a dotted quad in its canonical form, and a
 * port without leading zeros. {@link plainHost} checks the rest; anything
 * else goes through the parser.
 */
const PLAIN_HOST = /^(?:(?:[a-z0-9_-]+\.)*[a-z_-][a-z0-9_-]*|(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d))(?::[1-9]\d{0,4})?$/;
/** An origin-form target the URL parser keeps as it is: no dot segment, no character it would encode. */
const PLAIN_TARGET = /^\/[!$-&(-;=?-[\]_a-z~]*$/;
const DOT_SEGMENT = /\/(?:\.|%2e){1,2}(?:[/?]|$)/i;

/**
 * `scheme://host/target` as the real Request would serialize it, or the
 * error to refuse the request with (a Host or target no URL can hold).
 * The scheme is https on a TLS socket, or when a trusted proxy says so
 * (X-Forwarded-Proto, -Protocol, -Ssl, as for a gateway app's
 * wsgi.url_scheme); host from the Host header, else the socket's address.
 */
export function requestUrl(req: IncomingMessage, c: Container): string | GatewayError {
  const scheme = schemeOf(req, c);
  if (typeof scheme !== 'string') return scheme;
  let host = req.headers.host;
  if (host === undefined || host === '') {
    const socket = req.socket;
    if (socket.localPort === undefined) host = 'localhost';
    else {
      const local = normalizeAddress(socket.localAddress ?? '');
      host = `${local.includes(':') ? `[${local}]` : local}:${socket.localPort}`;
    }
  } else if (host !== (scheme === 'http' ? plainHttp : plainHttps)) {
    if (plainHost(host, scheme === 'https')) {
      if (scheme === 'http') plainHttp = host;
      else plainHttps = host;
    } else {
      const parsed = parseHost(scheme, host);
      if (parsed === undefined) return new GatewayError('GW_BAD_REQUEST', `the Host header (${JSON.stringify(host.slice(0, 100))}) is not a valid host`);
      host = parsed;
    }
  }
  const target = req.url ?? '/';
  if (target.charCodeAt(0) === 47 /* / */) {
    const url = `${scheme}://${host}${target}`;
    if (target === plainTarget) return url;
    if (PLAIN_TARGET.test(target) && !DOT_SEGMENT.test(target)) {
      plainTarget = target;
      return url;
    }
    try {
      return new URL(url).href;
    } catch {
      return new GatewayError('GW_BAD_REQUEST', 'the request target is not a valid URL path');
    }
  }
  if (target === '*') return `${scheme}://${host}/*`;
  // Absolute form (a request meant for a proxy): its authority, our scheme.
  let u: URL;
  try {
    u = new URL(target);
  } catch {
    return new GatewayError('GW_BAD_REQUEST', 'the request target is not a valid URL');
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.host === '') {
    return new GatewayError('GW_BAD_REQUEST', 'the request target is an absolute URL but not http(s)');
  }
  return `${scheme}://${u.host}${u.pathname}${u.search}`;
}

/** The last Host found plain, by scheme, and the last target: the next request naming the same skips the checks. */
let plainHttp = '';
let plainHttps = '';
let plainTarget = '/';

/** True when `new URL()` would keep `host` as it is (no default port, no punycode to check). */
function plainHost(host: string, https: boolean): boolean {
  if (!PLAIN_HOST.test(host) || host.includes('xn--')) return false;
  const colon = host.indexOf(':');
  if (colon === -1) return true;
  const port = Number(host.slice(colon + 1));
  return port <= 65535 && port !== (https ? 443 : 80);
}

function parseHost(scheme: string, host: string): string | undefined {
  let u: URL;
  try {
    u = new URL(`${scheme}://${host}/`);
  } catch {
    return undefined;
  }
  // A '/', '?', '#' or '@' in the Host header would move the path.
  if (u.pathname !== '/' || u.search !== '' || u.hash !== '' || u.username !== '' || u.password !== '' || u.host === '') return undefined;
  return u.host;
}

/**
 * http or https. c.begin has removed untrusted peers' X-Forwarded-*: these
 * headers come from a trusted proxy (the trust is checked again here, at no
 * cost when none is present). Headers that disagree are a 400, as for a
 * gateway app (gunicorn does the same).
 */
function schemeOf(req: IncomingMessage, c: Container): string | GatewayError {
  const tls = (req.socket as TLSSocket).encrypted === true;
  const h = req.headers;
  const proto = h['x-forwarded-proto'];
  const protocol = h['x-forwarded-protocol'];
  const ssl = h['x-forwarded-ssl'];
  if (proto === undefined && protocol === undefined && ssl === undefined) return tls ? 'https' : 'http';
  if (!c.trustAll && !c.trust(normalizeAddress(req.socket.remoteAddress ?? ''))) return tls ? 'https' : 'http';
  let result: string | undefined;
  for (const [v, secure] of [[proto, 'https'], [protocol, 'ssl'], [ssl, 'on']] as const) {
    if (typeof v !== 'string') continue;
    const s = v.trim().toLowerCase() === secure ? 'https' : 'http';
    if (result !== undefined && result !== s) {
      return new GatewayError('GW_BAD_REQUEST', 'the proxy scheme headers (X-Forwarded-Proto, X-Forwarded-Protocol, X-Forwarded-Ssl) disagree');
    }
    result = s;
  }
  return result ?? (tls ? 'https' : 'http');
}

// ---------------------------------------------------------------------------
// The request's headers
// ---------------------------------------------------------------------------

/**
 * `request.headers`: `get` and `has` read `req.headers` (node:http's view:
 * a repeated header joined with ", ", Cookie lines with "; ", a repeated
 * singleton such as Content-Type keeping its first value); anything else
 * (iteration, changes) builds a real Headers from the same view.
 */
const kNativeHeaders = Symbol('gwserver.nativeHeaders');

class LightHeaders {
  readonly #req: IncomingMessage;
  #native: Headers | undefined;

  constructor(req: IncomingMessage) {
    this.#req = req;
  }

  /** The real Headers, built once. */
  [kNativeHeaders](): Headers {
    if (this.#native === undefined) {
      const h = new NativeHeaders();
      const from = this.#req.headers;
      for (const name in from) {
        const v = from[name];
        if (typeof v === 'string') h.append(name, v);
        else if (Array.isArray(v)) for (const one of v) h.append(name, one);
      }
      this.#native = h;
    }
    return this.#native;
  }

  get(name: string): string | null {
    if (this.#native !== undefined) return this.#native.get(name);
    const v = this.#req.headers[String(name).toLowerCase()];
    if (typeof v === 'string') return v;
    // set-cookie (a request seldom has one): an array.
    if (Array.isArray(v)) return v.join(', ');
    return null;
  }

  has(name: string): boolean {
    return this.get(name) !== null;
  }

  set(name: string, value: string): void {
    this[kNativeHeaders]().set(name, value);
  }

  append(name: string, value: string): void {
    this[kNativeHeaders]().append(name, value);
  }

  delete(name: string): void {
    this[kNativeHeaders]().delete(name);
  }

  getSetCookie(): string[] {
    return this[kNativeHeaders]().getSetCookie();
  }

  keys(): ReturnType<Headers['keys']> {
    return this[kNativeHeaders]().keys();
  }

  values(): ReturnType<Headers['values']> {
    return this[kNativeHeaders]().values();
  }

  entries(): ReturnType<Headers['entries']> {
    return this[kNativeHeaders]().entries();
  }

  forEach(fn: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    this[kNativeHeaders]().forEach((value, key) => fn.call(thisArg, value, key, this as unknown as Headers));
  }

  [Symbol.iterator](): ReturnType<Headers['entries']> {
    return this[kNativeHeaders]().entries();
  }
}
Object.defineProperty(LightHeaders.prototype, Symbol.for('nodejs.util.inspect.custom'), {
  value(this: LightHeaders, depth: number, options: object, inspect: (v: unknown, o: object) => string) {
    return `Headers ${inspect(Object.fromEntries(this.entries()), { ...options, depth: depth < 0 ? null : depth - 1 })}`;
  },
});
Object.setPrototypeOf(LightHeaders.prototype, NativeHeaders.prototype);

// ---------------------------------------------------------------------------
// The request's body
// ---------------------------------------------------------------------------

const EMPTY = Buffer.alloc(0);
const kTooLarge = Symbol('gwserver.tooLarge');
const DECODER = new TextDecoder();

function bodyUnusable(): TypeError {
  return new TypeError('Body is unusable: Body has already been read');
}

function clientGone(): GatewayError {
  return new GatewayError('GW_CLIENT_GONE', 'the client closed the connection before it sent the whole request body');
}

/**
 * Reads the request body off `req` for one consumer: a stream that takes
 * one chunk per pull (`req` paused in between: the socket stops when
 * nobody reads), or the whole body at once. Counts into `served.bodyRead`,
 * stops past the body limit, and when the response is over with the body
 * unread, drops the rest (up to the drain limit) so that the connection
 * can carry the next request.
 */
/** --limit-request-body (0: none) and the drain limit, one object per listener. */
interface BodyLimits {
  limit: number;
  drainLimit: number;
}

class BodyReader {
  readonly #req: IncomingMessage;
  readonly #served: Served;
  readonly #limits: BodyLimits;
  readonly #owner: LightRequest;
  /** Called with each chunk, then with null (the end) or an error. */
  readonly #sink: (chunk: Buffer | null, err?: unknown) => void;
  /** One chunk per pull: pause after each. */
  readonly #paced: boolean;
  #over = false;

  constructor(owner: LightRequest, req: IncomingMessage, served: Served, limits: BodyLimits, paced: boolean, sink: (chunk: Buffer | null, err?: unknown) => void) {
    this.#owner = owner;
    this.#req = req;
    this.#served = served;
    this.#limits = limits;
    this.#paced = paced;
    this.#sink = sink;
    if (served.bodyRead < 0) served.bodyRead = 0;
    if (paced) req.pause();
    req.on('data', this.#onData);
    req.once('end', this.#onEnd);
    req.once('error', this.#onError);
    req.once('close', this.#onClose);
    if (paced) served.res.once('finish', this.#onFinish);
    // Read elsewhere already (a preRequest hook), or the client is gone.
    if (req.readableEnded) queueMicrotask(this.#onEnd);
    else if (req.destroyed) queueMicrotask(this.#onClose);
  }

  /** Asks for the next chunk (paced reading). */
  more(): void {
    if (!this.#over) this.#req.resume();
  }

  /** The consumer wants no more: the rest is dropped with the response's end. */
  cancel(): void {
    if (this.#over) return;
    this.#finish();
    this.#drop();
  }

  #onData = (chunk: Buffer): void => {
    if (this.#over) return;
    if (this.#paced) this.#req.pause();
    const served = this.#served;
    served.bodyRead += chunk.length;
    const limit = this.#limits.limit;
    if (limit > 0 && served.bodyRead > limit) {
      const err = new GatewayError('GW_BODY_TOO_LARGE', `the request body is larger than the limit of ${limit} bytes (--limit-request-body)`);
      this.#owner[kTooLarge] = err;
      // The rest is not read: the connection cannot carry another request.
      this.#req.pause();
      this.#finish();
      this.#sink(null, err);
      this.#drop();
      return;
    }
    this.#sink(chunk);
  };

  #onEnd = (): void => {
    if (this.#over) return;
    this.#finish();
    this.#sink(null);
  };

  #onError = (err: Error): void => {
    if (this.#over) return;
    this.#finish();
    this.#sink(null, (err as NodeJS.ErrnoException).code === 'ECONNRESET' ? clientGone() : err);
  };

  #onClose = (): void => {
    if (this.#over) return;
    this.#finish();
    this.#sink(null, clientGone());
  };

  /**
   * The response is over with the body still unread by a stream: the
   * stream fails (nobody can use it now) and the rest is dropped, or the
   * connection closed. A whole-body read (text()...) goes on: it drains
   * the socket by itself, and failing it would reject a promise the
   * handler may no longer await.
   */
  #onFinish = (): void => {
    if (this.#over || !this.#paced) return;
    this.#finish();
    this.#sink(null, new Error('the response was sent before the request body was read'));
    this.#drop();
  };

  #finish(): void {
    this.#over = true;
    const req = this.#req;
    req.off('data', this.#onData);
    req.off('end', this.#onEnd);
    req.off('error', this.#onError);
    req.off('close', this.#onClose);
    this.#served.res.off('finish', this.#onFinish);
  }

  /**
   * Reads and drops the rest of a short body (no 'data' listener is left);
   * a long one, or one over the limit, closes the connection after the
   * response instead (Node itself would wait for the rest of a body it
   * saw read, and never carry the next request).
   */
  #drop(): void {
    const req = this.#req;
    if (req.readableEnded || req.destroyed) return;
    const declared = req.headers['content-length'];
    const left = declared === undefined ? Infinity : Number(declared) - this.#served.bodyRead;
    if (left <= this.#limits.drainLimit && this.#owner[kTooLarge] === undefined) {
      req.resume();
      return;
    }
    // HTTP/2: Node resets the stream (NO_ERROR) once the response is over; the connection carries others.
    if (req.httpVersionMajor === 2) return;
    const res = this.#served.res;
    // Enough while the head is not written; after it, the socket is closed by hand.
    res.shouldKeepAlive = false;
    const close = () => req.socket?.destroySoon();
    if (res.writableFinished) close();
    else if (res.headersSent) res.once('finish', close);
  }
}

/**
 * The lightweight Request. Its own fields answer `method`, `url`,
 * `headers`, `signal` and the body; the real Request is built on first
 * use of anything else (see the loop below the class).
 */
class LightRequest {
  readonly #req: IncomingMessage;
  readonly #served: Served;
  readonly #url: string;
  readonly #limits: BodyLimits;
  #headers: LightHeaders | undefined;
  #native: Request | undefined;
  #abort: AbortController | undefined;
  #stream: ReadableStream<Uint8Array> | null | undefined;
  /** The body was read by text(), json()... straight off the socket. */
  #used = false;
  /** Set when the body went over --limit-request-body: the listener answers 413. */
  [kTooLarge]: GatewayError | undefined;

  constructor(req: IncomingMessage, served: Served, url: string, limits: BodyLimits) {
    this.#req = req;
    this.#served = served;
    this.#url = url;
    this.#limits = limits;
    this[kTooLarge] = undefined;
  }

  get method(): string {
    return this.#req.method!;
  }

  get url(): string {
    return this.#url;
  }

  get headers(): Headers {
    return (this.#headers ??= new LightHeaders(this.#req)) as unknown as Headers;
  }

  /** Aborted when the client goes away before the response is over. */
  get signal(): AbortSignal {
    if (this.#abort === undefined) {
      const ac = new AbortController();
      this.#abort = ac;
      const served = this.#served;
      const res = served.res;
      // The client went away, or the container answered for the handler (--response-timeout).
      if (res.closed) {
        if (!res.writableFinished || served.timedOut) ac.abort(goneReason());
      } else {
        res.once('close', () => {
          if (!res.writableFinished || served.timedOut) ac.abort(goneReason());
        });
      }
    }
    return this.#abort.signal;
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.#stream === undefined) {
      if (this.#used) {
        // Disturbed, as the real one's would be.
        const s = new ReadableStream<Uint8Array>({ start: (ctl) => ctl.close() });
        void s.getReader().read();
        this.#stream = s;
      } else this.#stream = hasBody(this.#req) ? this.#bodyStream() : null;
    }
    return this.#stream;
  }

  get bodyUsed(): boolean {
    if (this.#used) return true;
    const s = this.#stream;
    return s !== undefined && s !== null && isDisturbed(s);
  }

  text(): Promise<string> {
    return this.#read('text', (buf) => DECODER.decode(buf));
  }

  json(): Promise<unknown> {
    return this.#read('json', (buf) => JSON.parse(DECODER.decode(buf)) as unknown);
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return this.#read('arrayBuffer', (buf) => buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer);
  }

  bytes(): Promise<Uint8Array> {
    return this.#read('bytes', (buf) => new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
  }

  blob(): Promise<Blob> {
    return this.#read('blob', (buf) => {
      const type = this.#req.headers['content-type'];
      return new Blob([buf], type === undefined ? undefined : { type });
    });
  }

  formData(): Promise<FormData> {
    if (this.#used) return Promise.reject(bodyUnusable());
    return this.#viaNative((r) => r.formData());
  }

  clone(): Request {
    if (this.#used) throw bodyUnusable();
    return this[kNativeRequest]().clone();
  }

  /**
   * A body read: straight off the socket (no stream, no real Request) when
   * nothing else took the body yet, else through the real Request.
   */
  #read<T>(method: 'text' | 'json' | 'arrayBuffer' | 'bytes' | 'blob', convert: (buf: Buffer) => T): Promise<T> {
    if (this.#used) return Promise.reject(bodyUnusable());
    if (this.#stream !== undefined) return this.#viaNative((r) => (r as unknown as Record<string, () => Promise<T>>)[method]!());
    this.#used = true;
    if (!hasBody(this.#req)) return Promise.resolve(EMPTY).then(convert);
    return new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      new BodyReader(this, this.#req, this.#served, this.#limits, false, (chunk, err) => {
        if (chunk !== null) chunks.push(chunk);
        else if (err !== undefined) reject(err);
        else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
      });
    }).then(convert);
  }

  #viaNative<T>(fn: (r: Request) => Promise<T>): Promise<T> {
    try {
      return fn(this[kNativeRequest]());
    } catch (err) {
      // The body stream is locked (a reader holds it): undici throws at once.
      return Promise.reject(err);
    }
  }

  /** `request.body`: one chunk of `req` per pull. */
  #bodyStream(): ReadableStream<Uint8Array> {
    let reader: BodyReader | undefined;
    let wake: (() => void) | undefined;
    return new ReadableStream<Uint8Array>({
      start: (ctl) => {
        reader = new BodyReader(this, this.#req, this.#served, this.#limits, true, (chunk, err) => {
          if (chunk !== null) ctl.enqueue(chunk);
          else if (err !== undefined) ctl.error(err);
          else ctl.close();
          const w = wake;
          wake = undefined;
          w?.();
        });
      },
      pull: () => new Promise<void>((resolve) => {
        wake = resolve;
        reader!.more();
      }),
      cancel: () => {
        reader!.cancel();
        const w = wake;
        wake = undefined;
        w?.();
      },
    }, { highWaterMark: 0 });
  }

  /** The real Request, built once, sharing this one's body stream and signal. */
  [kNativeRequest](): Request {
    if (this.#native === undefined) {
      const method = this.method;
      const init: RequestInit & { duplex?: 'half' } = { method, headers: (this.headers as unknown as LightHeaders)[kNativeHeaders](), signal: this.signal };
      if (method !== 'GET' && method !== 'HEAD' && !this.#used) {
        const body = this.body;
        // A stream a reader holds or has read cannot be handed over (undici throws).
        if (body !== null && !body.locked && !isDisturbed(body)) {
          init.body = body;
          init.duplex = 'half';
        }
      }
      this.#native = new NativeRequest(this.#url, init);
    }
    return this.#native;
  }
}

/** GET and HEAD have no body (fetch); others have one when they declare one. */
function hasBody(req: IncomingMessage): boolean {
  const m = req.method;
  if (m === 'GET' || m === 'HEAD') return false;
  const h = req.headers;
  if (h['transfer-encoding'] !== undefined) return true;
  const cl = h['content-length'];
  // HTTP/2: a body without Content-Length unless the HEADERS frame ended the stream.
  if (cl === undefined && req.httpVersionMajor === 2) return (req as IncomingMessage & { stream?: { endAfterHeaders: boolean } }).stream?.endAfterHeaders === false;
  return cl !== undefined && cl !== '0';
}

function isDisturbed(stream: ReadableStream): boolean {
  // Node's own check for web streams (public since Node 16.8).
  return (Readable as unknown as { isDisturbed(s: unknown): boolean }).isDisturbed(stream);
}

function goneReason(): DOMException {
  return new DOMException('the client went away before the response was sent', 'AbortError');
}

// Everything else comes from the real Request.
forwardToNative(LightRequest.prototype, NativeRequest.prototype, (self: LightRequest) => self[kNativeRequest]());
Object.defineProperty(LightRequest.prototype, Symbol.for('nodejs.util.inspect.custom'), {
  value(this: LightRequest, depth: number, options: object, inspect: (v: unknown, o: object) => string) {
    return `Request ${inspect({ method: this.method, url: this.url, headers: this.headers }, { ...options, depth: depth < 0 ? null : depth - 1 })}`;
  },
});
Object.setPrototypeOf(LightRequest.prototype, NativeRequest.prototype);

// ---------------------------------------------------------------------------
// The response
// ---------------------------------------------------------------------------

/** undici's Response state (status, headers list, body source), read where it makes a copy unnecessary. */
const kState: symbol | undefined = Object.getOwnPropertySymbols(new NativeResponse('')).find((s) => s.description === 'state');

interface NativeBodyState {
  stream: ReadableStream<Uint8Array>;
  source: unknown;
  length: number | null;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? `an object (${(v as object).constructor?.name ?? 'no prototype'})` : typeof v;
}

/** What the handler returned, written. */
function respond(c: Container, served: Served, request: LightRequest, value: unknown): void {
  const res = served.res;
  try {
    if (res.headersSent || res.writableEnded || res.destroyed) {
      // The handler answered through env.outgoing itself (or the client is
      // gone): whatever it returned is not written.
      if (isResponse(value)) discard(value);
      return;
    }
    if (isFastResponse(value)) {
      const p = value[kParts]();
      if (p !== undefined) return writeFast(c, served, p);
      value = value[kNative]();
    }
    if (isResponse(value)) writeResponse(c, served, value);
    else c.appError(served, new Error(`the fetch handler returned ${describe(value)}, not a Response`), INTERFACE_HINT);
  } catch (err) {
    // setHeader or writeHead refused a header, a status or a reason.
    failed(c, served, request, err);
  }
}

/** A Response, or one from another implementation (status, headers, body). */
function isResponse(v: unknown): v is Response {
  if (v instanceof NativeResponse) return true;
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Partial<Response>;
  return typeof r.status === 'number' && typeof r.headers?.forEach === 'function' && 'body' in r;
}

function discard(r: Response): void {
  if (isFastResponse(r)) {
    const p = r[kParts]();
    if (p === undefined) void r[kNative]().body?.cancel().catch(() => {});
    else if (p.body instanceof ReadableStream) void p.body.cancel().catch(() => {});
    return;
  }
  if (r.body !== null && !r.body.locked) void r.body.cancel().catch(() => {});
}

// What headerList saw, for the framing: read right after the call (all of
// it is synchronous), which spares an object per response.
let sawType = false;
let sawLength: string | undefined;

/**
 * The Response's headers as a flat list of names and values, for
 * `writeHead(status, list)`, from any HeadersInit (a Headers, pairs, a
 * record), but the framing ones: the app's Content-Length is noted in
 * `sawLength` (the body's own length wins when it is known),
 * Transfer-Encoding is dropped. Node checks each name and value as it
 * stores the head. A list, not setHeader per field: setHeader builds
 * Node's header map (a dictionary-mode object) for every response, a few
 * percent of a small one.
 */
function headerList(h: HeadersInit | undefined): string[] {
  sawType = false;
  sawLength = undefined;
  const list: string[] = [];
  if (h === undefined || h === null) return list;
  if (h instanceof NativeHeaders) {
    // Names in lower case, repeated ones joined but Set-Cookie.
    for (const [name, value] of h) put(list, name, value);
    return list;
  }
  if (typeof (h as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const pair of h as Iterable<[string, string]>) {
      if (pair.length !== 2) throw new TypeError('Headers: each header pair must be [name, value]');
      put(list, String(pair[0]), String(pair[1]));
    }
    return list;
  }
  const rec = h as Record<string, string | number | string[]>;
  for (const name in rec) {
    if (!Object.prototype.hasOwnProperty.call(rec, name)) continue;
    const v = rec[name]!;
    if (Array.isArray(v)) for (const one of v) put(list, name, String(one));
    else put(list, name, typeof v === 'string' ? v : String(v));
  }
  return list;
}

/** One field onto the list, unless it is a framing one. */
function put(list: string[], name: string, value: string): void {
  // Only three names need a look in lower case: sorted by length first.
  switch (name.length) {
    case 12:
      if (name.toLowerCase() === 'content-type') sawType = true;
      break;
    case 14:
      if (name.toLowerCase() === 'content-length') {
        sawLength = value;
        return;
      }
      break;
    case 17:
      // The interface frames the body.
      if (name.toLowerCase() === 'transfer-encoding') return;
      break;
  }
  list.push(name, value);
}

/** Sets a header list on `res` field by field (a streamed body's head waits for its first chunk). */
function setHeaderList(res: ServerResponse, list: string[]): void {
  for (let i = 0; i < list.length; i += 2) res.appendHeader(list[i]!, list[i + 1]!);
}

/** @hono/node-server's RESPONSE_ALREADY_SENT: a null-body Response saying the handler writes `outgoing` itself. */
function alreadySent(h: HeadersInit | undefined): boolean {
  if (h === undefined || h === null) return false;
  if (h instanceof NativeHeaders) return h.has('x-hono-already-sent');
  if (typeof (h as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const pair of h as Iterable<[string, string]>) if (String(pair[0]).toLowerCase() === 'x-hono-already-sent') return true;
    return false;
  }
  for (const name in h as Record<string, unknown>) if (name.length === 19 && name.toLowerCase() === 'x-hono-already-sent') return true;
  return false;
}

/** A FastResponse: nothing of undici is built. */
function writeFast(c: Container, served: Served, p: FastParts): void {
  // `p` is shared by all FastResponses: read it before anything else runs.
  const { status, statusText, headers, live, body, headLength } = p;
  const res = served.res;
  if (body === null && alreadySent(headers)) return;
  const list = headerList(headers);
  if (typeof body === 'string') {
    if (!sawType && !live) list.push('Content-Type', TEXT_PLAIN);
    writeWhole(served, status, statusText, body, list);
  } else if (body === null) {
    if (sawLength === undefined && headLength !== undefined) sawLength = String(headLength);
    writeWhole(served, status, statusText, null, list);
  } else if (body instanceof Uint8Array) writeWhole(served, status, statusText, body, list);
  else {
    setHeaderList(res, list);
    streamBody(c, served, status, statusText, body);
  }
}

/** A real Response (or another implementation's): its known body written whole when undici holds it, else streamed. */
function writeResponse(c: Container, served: Served, r: Response): void {
  const status = r.status;
  if (status === 0 || status < 200 || status > 599) {
    c.appError(served, new Error('the fetch handler returned a network error (Response.error())'));
    return;
  }
  const headers = r.headers;
  const stream = r.body;
  if (stream === null && headers.has('x-hono-already-sent')) return;
  const list = headerList(headers);
  if (stream === null) return writeWhole(served, status, r.statusText, null, list);
  const state = kState === undefined ? undefined : (r as unknown as Record<symbol, { body?: NativeBodyState | null } | undefined>)[kState];
  const source = state?.body?.source;
  if ((typeof source === 'string' || source instanceof Uint8Array) && !stream.locked && !isDisturbed(stream)) {
    return writeWhole(served, status, r.statusText, source, list);
  }
  setHeaderList(served.res, list);
  streamBody(c, served, status, r.statusText, stream);
}

/**
 * A body known whole (or none): one `writeHead` with the header list and
 * the framing, then one `end` with the body. A HEAD answer gets the body's
 * length (or the app's), but no body; a 204 or 304 neither.
 */
function writeWhole(served: Served, status: number, statusText: string, body: string | Uint8Array | null, list: string[]): void {
  const res = served.res;
  served.headerList = list;
  let length: number | string | undefined;
  if (status === 204 || status === 304) {
    // Node sends neither body nor framing with them: the app's Content-Length stays (a 304's describes the resource).
    length = sawLength;
    body = null;
  } else if (body === null) {
    length = served.req.method === 'HEAD' ? sawLength : 0;
  } else {
    length = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
    if (served.req.method === 'HEAD' || length === 0) body = null;
  }
  if (length !== undefined) list.push('Content-Length', typeof length === 'string' ? length : String(length));
  served.bodyBytes = body === null ? 0 : (length as number);
  if (statusText === '') res.writeHead(status, list);
  else res.writeHead(status, statusText, list);
  if (body === null) res.end();
  else res.end(body);
}

/**
 * A body streamed: one chunk read per write, the next read when the
 * socket has room ('drain'); the reader cancelled when the client goes
 * away. The head waits for the first chunk (so a stream that fails at
 * once still gets a 500), or for the next turn of the event loop (so a
 * stream that starts slow, server-sent events, has its head sent at once).
 */
function streamBody(c: Container, served: Served, status: number, statusText: string, stream: ReadableStream<Uint8Array>): void {
  const res = served.res;
  served.bodyBytes = 0;
  if (sawLength !== undefined) {
    res.setHeader('content-length', sawLength);
    // A stream that does not keep to its Content-Length is cut, not sent on.
    res.strictContentLength = true;
  }
  const writeHead = (): void => {
    if (statusText === '') res.writeHead(status);
    else res.writeHead(status, statusText);
  };
  if (served.req.method === 'HEAD' || status === 204 || status === 304) {
    void stream.cancel().catch(() => {});
    writeHead();
    res.end();
    return;
  }
  let reader: ReadableStreamDefaultReader<Uint8Array>;
  try {
    reader = stream.getReader();
  } catch (err) {
    c.appError(served, err);
    return;
  }
  let headed = false;
  let idle: NodeJS.Immediate | undefined;
  const startHead = (): void => {
    if (headed) return;
    headed = true;
    if (idle !== undefined) clearImmediate(idle);
    idle = undefined;
    writeHead();
  };
  const onIdle = (): void => {
    idle = undefined;
    if (headed || res.destroyed) return;
    try {
      startHead();
      res.flushHeaders();
    } catch (err) {
      stop(err);
    }
  };
  const onClose = (): void => {
    if (idle !== undefined) clearImmediate(idle);
    if (!res.writableFinished) reader.cancel(goneReason()).catch(() => {});
  };
  const stop = (err: unknown): void => {
    res.off('close', onClose);
    if (idle !== undefined) clearImmediate(idle);
    reader.cancel(err).catch(() => {});
    c.appError(served, err);
  };
  const next = (): void => {
    reader.read().then(onRead, onFail);
  };
  const onRead = (r: Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>): void => {
    if (res.destroyed) return;
    try {
      if (r.done) {
        res.off('close', onClose);
        startHead();
        res.end();
        return;
      }
      const chunk = r.value;
      if (!(chunk instanceof Uint8Array)) throw new TypeError(`the Response body yielded ${describe(chunk)}; a body stream must yield Uint8Array chunks`);
      if (chunk.byteLength === 0) return next();
      startHead();
      served.bodyBytes += chunk.byteLength;
      if (res.write(chunk)) next();
      else res.once('drain', next);
    } catch (err) {
      stop(err);
    }
  };
  const onFail = (err: unknown): void => {
    res.off('close', onClose);
    if (idle !== undefined) clearImmediate(idle);
    if (!res.destroyed) c.appError(served, err);
  };
  res.on('close', onClose);
  idle = setImmediate(onIdle);
  next();
}
