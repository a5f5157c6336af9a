/**
 * A `Response` that costs almost nothing until something reads it: the
 * fetch interface (fetch-interface.ts) writes its status, headers and a
 * string or bytes body straight to the socket, and builds the real (undici)
 * `Response` only when the app itself reads the body, clones it, or asks
 * for something only undici knows (`type`, `url`...).
 *
 * In Node 20, `new Response('hi')` builds a web stream, a headers list and
 * its guards, and reading the body back costs a stream reader: several
 * microseconds per request, as much as the rest of a hello world.
 * `@hono/node-server` and srvx do the same to be fast.
 *
 * {@link installFastResponse} makes it the global `Response` of a worker
 * that serves a fetch app. `instanceof Response` holds for both kinds
 * either way, and `new Request(request)` and `fetch(request)` accept the
 * fetch interface's lightweight requests. Header names and values are
 * checked when the response is written (Node's checks), not when it is
 * made.
 *
 * @module
 */

/** What `new Headers()` takes: a Headers, pairs, a record. */
export type HeadersInit = ConstructorParameters<typeof Headers>[0];
type BodyInit = ConstructorParameters<typeof Response>[0];
type RequestInfo = ConstructorParameters<typeof Request>[0];

const NativeResponse: typeof Response = globalThis.Response;
const NativeRequest: typeof Request = globalThis.Request;
const NativeHeaders: typeof Headers = globalThis.Headers;

/** undici's default Content-Type of a string body. */
export const TEXT_PLAIN = 'text/plain;charset=UTF-8';

/** Statuses whose Response must have a null body (fetch throws otherwise). */
export function isNullBodyStatus(status: number): boolean {
  return status === 204 || status === 205 || status === 304 || status === 101;
}

// A reason phrase: HTAB, SP, VCHAR, obs-text (what undici accepts).
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** The body kinds written without undici: everything else builds the real Response. */
export type PlainBody = string | Uint8Array | null;

/**
 * What the fetch interface reads off a {@link FastResponse} to write it:
 * status, reason, headers (as given, or the live `Headers` when the app
 * touched `response.headers`), and the body.
 */
export interface FastParts {
  status: number;
  statusText: string;
  /** `init.headers` as given (a record, pairs, a Headers), or the Headers the app read and may have changed. */
  headers: HeadersInit | undefined;
  /** True when {@link headers} is the Response's own Headers (the default Content-Type already in it). */
  live: boolean;
  body: PlainBody | ReadableStream<Uint8Array>;
  /**
   * The length of the body of the Response this one was made from, when
   * it has none of its own (Hono answers HEAD with `new Response(null,
   * getResponse)`): a HEAD answer's Content-Length.
   */
  headLength: number | undefined;
}

/** The real (undici) Response behind a {@link FastResponse}, built on first call. */
export const kNative: unique symbol = Symbol('gwserver.nativeResponse');
/** A {@link FastResponse}'s parts to write, see {@link FastParts}. */
export const kParts: unique symbol = Symbol('gwserver.responseParts');

/** True for a {@link FastResponse} (and subclasses), false for anything else, real Responses included. */
export let isFastResponse: (value: unknown) => value is FastResponse;

/**
 * The lightweight `Response`: records body and init, validates what the
 * real one would refuse at once (status, reason phrase, a body on a
 * null-body status), and builds the real one on first use of anything
 * else.
 */
export class FastResponse {
  #body: unknown;
  #init: ResponseInit | undefined;
  #headers: Headers | undefined;
  #native: Response | undefined;
  #headLength: number | undefined;

  constructor(body?: BodyInit | null, init?: ResponseInit) {
    if (init !== undefined && init !== null) {
      if (typeof init !== 'object') throw new TypeError("Failed to construct 'Response': the init argument must be an object");
      const status = init.status;
      if (status !== undefined) {
        if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) {
          throw new RangeError(`init["status"] must be in the range of 200 to 599, inclusive (got ${String(status)}).`);
        }
        if (body !== null && body !== undefined && isNullBodyStatus(status)) {
          throw new TypeError(`Response constructor: invalid response status code ${status} with a body`);
        }
      }
      const text = init.statusText;
      if (text !== undefined && (typeof text !== 'string' || !REASON_PHRASE.test(text))) {
        throw new TypeError('Response constructor: invalid statusText');
      }
    }
    this.#body = body;
    this.#init = init ?? undefined;
    this.#headLength = undefined;
    if ((body === null || body === undefined) && init !== undefined && init !== null && isFastResponse(init) && init.#native === undefined) {
      const from = init.#body;
      if (typeof from === 'string') this.#headLength = Buffer.byteLength(from);
      else if (from instanceof Uint8Array || from instanceof ArrayBuffer) this.#headLength = from.byteLength;
    }
  }

  static {
    isFastResponse = (value: unknown): value is FastResponse => typeof value === 'object' && value !== null && #body in value;
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    // `FastResponse` stands for the global Response: both kinds are Responses.
    // A subclass of it keeps the ordinary prototype check.
    if (this === FastResponse) return value instanceof NativeResponse;
    return typeof value === 'object' && value !== null && Object.prototype.isPrototypeOf.call(this.prototype, value);
  }

  static json(data: unknown, init?: ResponseInit): Response {
    const body = JSON.stringify(data);
    if (body === undefined) throw new TypeError('Response.json: the value is not JSON serializable');
    let headers: HeadersInit;
    if (init?.headers !== undefined) {
      const h = new NativeHeaders(init.headers);
      if (!h.has('content-type')) h.set('content-type', 'application/json');
      headers = h;
    } else {
      headers = { 'content-type': 'application/json' };
    }
    return new FastResponse(body, { ...init, headers }) as unknown as Response;
  }

  get status(): number {
    if (this.#native !== undefined) return this.#native.status;
    return this.#init?.status ?? 200;
  }

  get ok(): boolean {
    const s = this.status;
    return s >= 200 && s <= 299;
  }

  get statusText(): string {
    if (this.#native !== undefined) return this.#native.statusText;
    return this.#init?.statusText ?? '';
  }

  get headers(): Headers {
    if (this.#native !== undefined) return this.#native.headers;
    if (this.#headers === undefined) {
      // A copy, as the real Response makes: a shared "template" Headers
      // given as init.headers must not change when this one does.
      const h = new NativeHeaders(this.#init?.headers);
      const type = defaultContentType(this.#body);
      if (type !== undefined && !h.has('content-type')) h.set('content-type', type);
      this.#headers = h;
    }
    return this.#headers;
  }

  /** The real Response, built once; from then on everything is read from it. */
  [kNative](): Response {
    if (this.#native === undefined) {
      const init = this.#init;
      const headers = this.#headers;
      this.#native = new NativeResponse(this.#body as BodyInit | null | undefined, headers === undefined ? init : { status: init?.status, statusText: init?.statusText, headers });
      this.#body = undefined;
      this.#init = undefined;
      this.#headers = undefined;
    }
    return this.#native;
  }

  /**
   * The parts to write, when they can be written without undici (in one
   * object shared by all calls, to be read at once: writing a response is
   * synchronous up to the point where a stream body is read): a string,
   * bytes or stream body (or none); undefined for other bodies (a Blob,
   * FormData, URLSearchParams...) or once the real Response exists.
   */
  [kParts](): FastParts | undefined {
    if (this.#native !== undefined) return undefined;
    let body = this.#body;
    if (body === undefined || body === null) body = null;
    else if (typeof body === 'string' || body instanceof Uint8Array) {
      // as is
    } else if (body instanceof ArrayBuffer) body = new Uint8Array(body);
    else if (ArrayBuffer.isView(body)) body = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    else if (body instanceof ReadableStream) {
      if (body.locked) return undefined;
    } else return undefined;
    const init = this.#init;
    const live = this.#headers !== undefined;
    const p = PARTS;
    p.status = init?.status ?? 200;
    p.statusText = init?.statusText ?? '';
    p.headers = live ? this.#headers : init?.headers;
    p.live = live;
    p.body = body as FastParts['body'];
    p.headLength = this.#headLength;
    return p;
  }
}

const PARTS: FastParts = { status: 200, statusText: '', headers: undefined, live: false, body: null, headLength: undefined };

function defaultContentType(body: unknown): string | undefined {
  if (typeof body === 'string') return TEXT_PLAIN;
  if (body instanceof URLSearchParams) return 'application/x-www-form-urlencoded;charset=UTF-8';
  if (body instanceof Blob) return body.type === '' ? undefined : body.type;
  // FormData's has a boundary only undici knows: those bodies build the real Response at once.
  return undefined;
}

/**
 * Gives `light` (a lightweight class's prototype) every getter and method of
 * `native` (undici's prototype) that it lacks, each forwarded to the real
 * object `realOf` builds: undici's getters and methods brand-check their
 * receiver, so they cannot be inherited.
 */
export function forwardToNative(light: object, native: object, realOf: (self: never) => object): void {
  for (const key of Reflect.ownKeys(native)) {
    if (key === 'constructor' || key === Symbol.toStringTag || Object.prototype.hasOwnProperty.call(light, key)) continue;
    const desc = Object.getOwnPropertyDescriptor(native, key)!;
    if (typeof desc.get === 'function') {
      Object.defineProperty(light, key, {
        configurable: true,
        enumerable: desc.enumerable,
        get(this: never) {
          return (realOf(this) as Record<PropertyKey, unknown>)[key];
        },
      });
    } else if (typeof desc.value === 'function') {
      Object.defineProperty(light, key, {
        configurable: true,
        enumerable: desc.enumerable,
        writable: true,
        value: function forwarded(this: never, ...args: unknown[]) {
          return (realOf(this) as Record<PropertyKey, (...a: unknown[]) => unknown>)[key]!(...args);
        },
      });
    }
  }
}

// Everything else a Response has comes from the real one.
forwardToNative(FastResponse.prototype, NativeResponse.prototype, (self: FastResponse) => self[kNative]());
Object.defineProperty(FastResponse.prototype, Symbol.for('nodejs.util.inspect.custom'), {
  configurable: true,
  value(this: FastResponse, depth: number, options: object, inspect: (v: unknown, o: object) => string) {
    return `Response ${inspect({ status: this.status, statusText: this.statusText, headers: this.headers }, { ...options, depth: depth < 0 ? null : depth - 1 })}`;
  },
});
// Statics (Response.error, Response.redirect) and the prototype chain:
// `new FastResponse() instanceof NativeResponse` holds.
Object.setPrototypeOf(FastResponse, NativeResponse);
Object.setPrototypeOf(FastResponse.prototype, NativeResponse.prototype);

// ---------------------------------------------------------------------------
// The lightweight Request's link with the global Request
// ---------------------------------------------------------------------------

/** Implemented by the fetch interface's lightweight Request: its real (undici) Request. */
export const kNativeRequest: unique symbol = Symbol('gwserver.nativeRequest');

interface HasNative {
  [kNativeRequest](): Request;
}

/**
 * The global `Request` of a worker with {@link installFastResponse}: the
 * real one, but `new Request(request)` (Hono's `c.req.raw` cloned by a
 * middleware) also accepts the lightweight requests the fetch interface
 * makes, and `instanceof Request` holds for them.
 */
class GatewayRequest extends NativeRequest {
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this === GatewayRequest) return value instanceof NativeRequest;
    return typeof value === 'object' && value !== null && Object.prototype.isPrototypeOf.call(this.prototype, value);
  }

  constructor(input: RequestInfo, init?: RequestInit) {
    if (typeof input === 'object' && input !== null && kNativeRequest in input) input = (input as unknown as HasNative)[kNativeRequest]();
    super(input, init);
  }
}
Object.defineProperty(GatewayRequest, 'name', { value: 'Request' });

const nativeFetch: typeof fetch = globalThis.fetch;

/** The global `fetch` with {@link installFastResponse}: `fetch(request)` (a proxy) takes the lightweight requests too. */
function gatewayFetch(input: RequestInfo, init?: RequestInit): Promise<Response> {
  if (typeof input === 'object' && input !== null && kNativeRequest in input) input = (input as unknown as HasNative)[kNativeRequest]();
  return nativeFetch(input, init);
}

/** The undici classes, whatever the globals are now. */
export const natives: { readonly Response: typeof Response; readonly Request: typeof Request; readonly Headers: typeof Headers } = {
  Response: NativeResponse,
  Request: NativeRequest,
  Headers: NativeHeaders,
};

/**
 * Makes {@link FastResponse} the global `Response`, as `@hono/node-server`
 * does by default: for a worker serving a fetch app, at boot. The global
 * `Request` and `fetch` become the real ones that also take the fetch
 * interface's lightweight requests (`new Request(request)`,
 * `fetch(request)`). Code that captured `Response` before keeps the real
 * one, which the fetch interface serves too (only slower). Returns the
 * function that puts the previous globals back (tests).
 */
export function installFastResponse(): () => void {
  const before = { Response: globalThis.Response, Request: globalThis.Request, fetch: globalThis.fetch };
  define('Response', FastResponse);
  define('Request', GatewayRequest);
  if (typeof nativeFetch === 'function') define('fetch', gatewayFetch);
  return () => {
    define('Response', before.Response);
    define('Request', before.Request);
    define('fetch', before.fetch);
  };
}

function define(name: 'Response' | 'Request' | 'fetch', value: unknown): void {
  Object.defineProperty(globalThis, name, { value, writable: true, enumerable: false, configurable: true });
}
