/**
 * Adapters between gateway applications and WHATWG fetch handlers
 * (`(request: Request) => Response`), the calling convention of Hono and
 * other modern frameworks (`app.fetch`), of Deno and Bun servers, and of
 * edge runtimes.
 *
 * - {@link fromFetch} runs a fetch handler as a gateway application, so that
 *   gwserver can host it.
 * - {@link toFetch} turns a gateway application into a fetch handler, so
 *   that it can be mounted in a fetch-based server.
 *
 * Both directions stream: request and response bodies move one chunk per
 * pull, so an upload or a download of any size costs bounded memory and the
 * slower side sets the pace.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { GatewayError, contractError } from '../errors.js';
import { decodePath, headerKey } from '../gateway/environ.js';
import { FileWrapper, fileWrapper } from '../gateway/file-wrapper.js';
import { RequestInput } from '../gateway/input.js';
import { HOP_BY_HOP, checkHeaders, contentLengthOf, parseStatus } from '../gateway/start-response.js';
import type {
  Application,
  Body,
  Chunk,
  Environ,
  ErrorStream,
  HeaderPair,
  InputStream,
  RequestLogger,
  StartResponse,
  Write,
} from '../gateway/types.js';
import { requestUrl } from './target.js';

import { mark, type FetchHandler, type ServerHook } from './kinds.js';

export type { FetchHandler, FetchEnv } from './kinds.js';

/** Options of {@link fromFetch}. */
export interface FromFetchOptions {
  /** Called with each `http.Server` the worker listens with, before it accepts (Hono's `injectWebSocket`). */
  onServer?: ServerHook;
}

// Methods the fetch standard refuses to carry in a Request.
const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);

// Statuses whose Response must have a null body (fetch throws otherwise).
const NULL_BODY_STATUS = new Set([204, 205, 304]);

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? `an object (${(v as object).constructor?.name ?? 'no prototype'})` : typeof v;
}

function reasonPhrase(code: number): string {
  return STATUS_CODES[code] ?? 'Unknown';
}

// ---------------------------------------------------------------------------
// fromFetch: a fetch handler as a gateway application
// ---------------------------------------------------------------------------

/**
 * Runs a WHATWG fetch handler as a gateway application.
 *
 * The `Request` is built from the environ: its URL from `wsgi.url_scheme`,
 * the Host header and the request target, its headers from the `HTTP_*`
 * keys, its body as a stream that reads `wsgi.input` only when the handler
 * reads the body, and its `signal` from `gwserver.signal` (aborted when the
 * client goes away). The `Response`'s status, headers (each Set-Cookie kept
 * apart) and body go back to the server; the body is pulled one chunk at a
 * time as the socket drains, and cancelled if the client disconnects.
 *
 * Hop-by-hop headers a handler may put on its Response (Connection,
 * Transfer-Encoding...) are dropped: the server frames the response.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { fromFetch } from 'gwserver';
 *
 * const hono = new Hono().get('/', (c) => c.text('hi'));
 * export const application = fromFetch(hono.fetch);
 * ```
 */
export function fromFetch(handler: FetchHandler, options: FromFetchOptions = {}): Application {
  // A worker serving this app at the top level serves the handler itself (the fetch interface).
  return mark(fetchApplication, { kind: 'fetch', fetch: handler, onServer: options.onServer });
  async function fetchApplication(environ: Environ, startResponse: StartResponse): Promise<Body> {
    let request: Request;
    try {
      request = toRequest(environ);
    } catch (err) {
      // A request the fetch API cannot express: the client's fault, not the app's.
      const code = FORBIDDEN_METHODS.has(environ.REQUEST_METHOD.toUpperCase()) ? 501 : 400;
      environ['gwserver.log']?.info({ err, status: code }, 'request cannot be expressed as a fetch Request');
      startResponse(`${code} ${reasonPhrase(code)}`, [['Content-Type', 'text/plain; charset=utf-8']]);
      return [`${reasonPhrase(code)}\n`];
    }
    const response = await handler(request);
    return fromResponse(response, startResponse, request.method === 'HEAD');
  }
}

/** Builds the fetch `Request` that an environ describes. Throws when fetch cannot express it. */
export function toRequest(environ: Environ): Request {
  const headers = new Headers();
  for (const key in environ) {
    if (key.length <= 5 || !key.startsWith('HTTP_')) continue;
    const value = environ[key];
    if (typeof value === 'string') headers.append(key.slice(5).toLowerCase().replace(/_/g, '-'), value);
  }
  if (typeof environ.CONTENT_TYPE === 'string') headers.set('content-type', environ.CONTENT_TYPE);
  if (typeof environ.CONTENT_LENGTH === 'string' && environ.CONTENT_LENGTH !== '') {
    headers.set('content-length', environ.CONTENT_LENGTH);
  }
  const method = environ.REQUEST_METHOD;
  const init: RequestInit & { duplex?: 'half' } = { method, headers };
  const upper = method.toUpperCase();
  if (upper !== 'GET' && upper !== 'HEAD' && hasBody(environ)) {
    init.body = inputStream(environ['wsgi.input']) as unknown as RequestInit['body'];
    // Required by fetch for a stream body: the request is sent before the response is read.
    init.duplex = 'half';
  }
  const signal = environ['gwserver.signal'];
  if (signal instanceof AbortSignal) init.signal = signal;
  return new Request(requestUrl(environ), init);
}

function hasBody(environ: Environ): boolean {
  const length = environ.CONTENT_LENGTH;
  if (typeof length === 'string' && Number(length) > 0) return true;
  return environ.HTTP_TRANSFER_ENCODING !== undefined;
}

/**
 * `wsgi.input` as a web stream that reads only on demand: a high-water mark
 * of 0 means nothing is read before the handler asks, so a handler that
 * answers without reading never triggers `100 Continue` nor pulls the upload.
 * Chunks are taken as they arrive (the iterator), not in fixed sizes, so a
 * slow trickle reaches the handler without waiting for a full block.
 */
function inputStream(input: InputStream): ReadableStream<Uint8Array> {
  let it: AsyncIterator<Buffer> | undefined;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        it ??= input[Symbol.asyncIterator]();
        const r = await it.next();
        if (r.done) controller.close();
        else controller.enqueue(r.value);
      },
      async cancel() {
        await it?.return?.();
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * Hands a fetch `Response` to `startResponse` and returns its body as a
 * gateway body: an async iterable pulling the body's reader one chunk at a
 * time, whose `close()` cancels the reader (a client that went away cancels
 * the stream, and with it whatever produces it).
 */
export function fromResponse(response: Response, startResponse: StartResponse, isHead = false): Body {
  const r = response as Partial<Response> | null | undefined;
  if (r === null || typeof r !== 'object' || typeof r.status !== 'number' || typeof r.headers?.get !== 'function') {
    throw contractError(`the fetch handler returned ${describe(response)}; it must return a Response`);
  }
  if (response.type === 'error' || response.status === 0) {
    throw contractError('the fetch handler returned a network error (Response.error())');
  }
  const status = response.status;
  const headers: HeaderPair[] = [];
  for (const [name, value] of response.headers) {
    if (name === 'set-cookie' || HOP_BY_HOP.has(name)) continue;
    headers.push([name, value]);
  }
  // Iterating Headers may join repeated Set-Cookie values with ", ", which
  // breaks cookies whose Expires contains a comma: take them one by one.
  const cookies = typeof response.headers.getSetCookie === 'function'
    ? response.headers.getSetCookie()
    : [response.headers.get('set-cookie')].filter((c): c is string => c !== null);
  for (const cookie of cookies) headers.push(['set-cookie', cookie]);
  startResponse(`${status} ${response.statusText || reasonPhrase(status)}`, headers);

  const stream = response.body;
  if (stream === null) {
    // An empty array lets the server add Content-Length: 0, which is wrong
    // for HEAD (it would describe the GET body): an empty iterable does not.
    return isHead ? emptyBody() : [];
  }
  return readerBody(stream as ReadableStream<unknown>);
}

function emptyBody(): Body {
  return { *[Symbol.iterator]() {} };
}

function readerBody(stream: ReadableStream<unknown>): Body {
  const reader = stream.getReader();
  let done = false;
  const stop = async (): Promise<void> => {
    if (done) return;
    done = true;
    // Cancelling resolves a pending read and reaches the stream's source,
    // so the producer (a timer, a database cursor) stops too.
    await reader.cancel().catch(() => {});
  };
  const iterator: AsyncIterator<Chunk> = {
    async next(): Promise<IteratorResult<Chunk>> {
      if (done) return { done: true, value: undefined };
      let r: Awaited<ReturnType<ReadableStreamDefaultReader<unknown>['read']>>;
      try {
        r = await reader.read();
      } catch (err) {
        done = true;
        throw err;
      }
      if (r.done) {
        done = true;
        reader.releaseLock();
        return { done: true, value: undefined };
      }
      const value = r.value;
      if (value instanceof Uint8Array || typeof value === 'string') return { done: false, value };
      await stop();
      throw contractError(`the Response body yielded ${describe(value)}; a body stream must yield Uint8Array chunks`);
    },
    async return(): Promise<IteratorResult<Chunk>> {
      await stop();
      return { done: true, value: undefined };
    },
  };
  return {
    [Symbol.asyncIterator]: () => iterator,
    close: stop,
  };
}

// ---------------------------------------------------------------------------
// toFetch: a gateway application as a fetch handler
// ---------------------------------------------------------------------------

/** Options of {@link toFetch}. */
export interface ToFetchOptions {
  /**
   * `REMOTE_ADDR`: an address, or a function that finds it for a request
   * (e.g. from the host server's connection info). Default `127.0.0.1`.
   */
  remoteAddr?: string | ((request: Request) => string | undefined);
  /** `SCRIPT_NAME`: the prefix the app is mounted at, moved out of `PATH_INFO` when the path starts with it. */
  scriptName?: string;
  /** `wsgi.multiprocess` (default false). */
  multiprocess?: boolean;
  /** Where `wsgi.errors` text goes (default: `console.error`, line by line). */
  errors?: { write(text: string): unknown; flush?(): unknown };
  /**
   * Called with each error that ends a request abnormally (the app threw,
   * broke the contract, or its body failed), with the request's environ when
   * it was built. A client going away is not an error. Default: `console.error`.
   */
  onError?: (error: unknown, environ: Environ | undefined) => void;
}

/**
 * Turns a gateway application into a fetch handler:
 * `(request: Request) => Promise<Response>`.
 *
 * The environ is built from the Request as the gateway server would build it
 * (every key of the contract; `PATH_INFO` decoded, `HTTP_*` from the headers,
 * `wsgi.input` streaming the Request's body on demand, `gwserver.signal`
 * aborted when the request's signal aborts or the Response body is
 * cancelled). The Response is made as soon as the server would send headers:
 * with the first non-empty chunk (from the body or from the legacy
 * `write()`), or at the end of an empty body. Its body is a stream that pulls
 * the app's body one chunk per read, so nothing is buffered and nothing is
 * pulled ahead. `close()` is called exactly once, on every path.
 *
 * Errors before the Response is made become a plain 500 (and `onError`);
 * later errors error the body stream, so the client sees a truncated
 * response rather than a complete-looking wrong one.
 *
 * @example
 * ```ts
 * // Deno, Bun, or any fetch-based server
 * Bun.serve({ fetch: toFetch(application) });
 * // Hono: mount under /legacy
 * hono.mount('/legacy', toFetch(application));
 * ```
 */
export function toFetch(app: Application, options: ToFetchOptions = {}): (request: Request) => Promise<Response> {
  return function gatewayFetch(request: Request): Promise<Response> {
    return new FetchExchange(app, request, options).run();
  };
}

type Item =
  | { kind: 'chunk'; chunk: Uint8Array; resolve?: () => void; reject?: (err: unknown) => void }
  | { kind: 'done' }
  | { kind: 'error'; error: unknown };

const DONE: Item = { kind: 'done' };
const WROTE = Symbol('wrote');

function toBytes(value: unknown): Uint8Array {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (value instanceof Uint8Array) return value;
  throw contractError(`the body yielded ${describe(value)}; chunks must be Uint8Array (Buffer) or string`);
}

function plainResponse(code: number): Response {
  return new Response(`${reasonPhrase(code)}\n`, {
    status: code,
    headers: { 'content-type': 'text/plain; charset=utf-8' },
  });
}

function defaultOnError(error: unknown, environ: Environ | undefined): void {
  const id = environ?.['gwserver.request_id'];
  console.error(`gwserver toFetch: request ${String(id ?? '-')} failed:`, error);
}

function lineErrors(sink: ToFetchOptions['errors'], requestId: string): ErrorStream {
  if (sink !== undefined) {
    return {
      write: (text) => void sink.write(String(text)),
      writelines: (lines) => {
        for (const line of lines) sink.write(String(line));
      },
      flush: () => void sink.flush?.(),
    };
  }
  // console.error adds its own newline: hand it whole lines.
  let pending = '';
  const stream: ErrorStream = {
    write(text) {
      pending += String(text);
      let i;
      while ((i = pending.indexOf('\n')) >= 0) {
        console.error(`[${requestId}] ${pending.slice(0, i)}`);
        pending = pending.slice(i + 1);
      }
    },
    writelines(lines) {
      for (const line of lines) stream.write(line);
    },
    flush() {
      if (pending !== '') {
        console.error(`[${requestId}] ${pending}`);
        pending = '';
      }
    },
  };
  return stream;
}

function consoleLogger(requestId: string): RequestLogger {
  const at = (fn: (...args: unknown[]) => void) => (obj: unknown, msg?: string) => {
    if (msg === undefined) fn(`[${requestId}]`, obj);
    else fn(`[${requestId}] ${msg}`, obj);
  };
  return {
    trace: at(console.debug),
    debug: at(console.debug),
    info: at(console.info),
    warn: at(console.warn),
    error: at(console.error),
    fatal: at(console.error),
  };
}

/** One request through {@link toFetch}: the contract's state for it. */
class FetchExchange {
  readonly #app: Application;
  readonly #request: Request;
  readonly #options: ToFetchOptions;
  readonly #head: boolean;
  readonly #abort = new AbortController();
  #environ: Environ | undefined;

  // startResponse
  #started = false;
  #status = 0;
  #reason = '';
  #headers: HeaderPair[] = [];
  #length: number | undefined;
  #committed = false;

  // the body, and what has come out of it (and of write()) in order
  #body: unknown;
  #hasBody = false;
  #iterator: Iterator<unknown> | AsyncIterator<unknown> | undefined;
  #bodyPending: Promise<void> | undefined;
  #out: Item[] = [];
  #inflight = false;
  #exhausted = false;
  #wake: (() => void) | undefined;
  #firstWrite: (() => void) | undefined;
  #sent = 0;
  #discard = false;
  #finished = false;
  #closed = false;

  constructor(app: Application, request: Request, options: ToFetchOptions) {
    this.#app = app;
    this.#request = request;
    this.#options = options;
    this.#head = request.method.toUpperCase() === 'HEAD';
  }

  async run(): Promise<Response> {
    try {
      this.#environ = this.#buildEnviron();
    } catch (err) {
      const code = err instanceof GatewayError && err.status >= 400 && err.status < 500 ? err.status : 500;
      if (code === 500) this.#report(err);
      return plainResponse(code);
    }
    const reqSignal = this.#request.signal;
    if (reqSignal.aborted) this.#clientGone(reqSignal.reason);
    else reqSignal.addEventListener('abort', this.#onRequestAbort, { once: true });

    let result: unknown;
    // Armed before the call: an async app may write() before it first awaits.
    const wrote = new Promise<typeof WROTE>((resolve) => {
      this.#firstWrite = () => resolve(WROTE);
    });
    try {
      result = this.#app(this.#environ, this.#startResponse);
      if (isThenable(result)) {
        const pending = Promise.resolve(result);
        const first = await Promise.race([pending, wrote]);
        if (first === WROTE) {
          // write() sends the headers: answer now; the body comes when the app returns it.
          this.#bodyPending = pending.then((body) => this.#setBody(body));
          this.#bodyPending.catch(() => {});
          return await this.#respond();
        }
        result = await pending;
      }
      this.#setBody(result);
      return await this.#untilHeaders();
    } catch (err) {
      return this.#failEarly(err);
    }
  }

  #buildEnviron(): Environ {
    const request = this.#request;
    const options = this.#options;
    const url = new URL(request.url);
    let pathInfo = decodePath(url.pathname);
    let scriptName = (options.scriptName ?? '').replace(/\/+$/, '');
    if (scriptName !== '' && (pathInfo === scriptName || pathInfo.startsWith(`${scriptName}/`))) {
      pathInfo = pathInfo.slice(scriptName.length);
    } else {
      scriptName = '';
    }
    const scheme = url.protocol === 'https:' ? 'https' : 'http';
    const remote = typeof options.remoteAddr === 'function' ? options.remoteAddr(request) : options.remoteAddr;
    const requestId = randomUUID();
    const env: Record<string, unknown> = {
      REQUEST_METHOD: request.method,
      SCRIPT_NAME: scriptName,
      PATH_INFO: pathInfo,
      QUERY_STRING: url.search.slice(1),
      SERVER_NAME: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
      SERVER_PORT: url.port || (scheme === 'https' ? '443' : '80'),
      SERVER_PROTOCOL: 'HTTP/1.1',
      REMOTE_ADDR: remote ?? '127.0.0.1',
      REMOTE_PORT: '0',
      RAW_URI: url.pathname + url.search,
    };
    for (const [name, value] of request.headers) {
      const key = headerKey(name);
      if (key === null) continue;
      const prev = env[key] as string | undefined;
      env[key] = prev === undefined ? value : prev + (key === 'HTTP_COOKIE' ? '; ' : ', ') + value;
    }
    // A request that went over the wire always has a Host; a Request made in code may not.
    env.HTTP_HOST ??= url.host;

    let length: number | undefined = 0;
    const body = request.body;
    if (body !== null) {
      const declared = env.CONTENT_LENGTH as string | undefined;
      if (declared !== undefined && /^\d{1,15}$/.test(declared.trim())) {
        length = Number(declared.trim());
      } else {
        // A body of unknown length is a chunked one, as far as the app can tell.
        length = undefined;
        env.HTTP_TRANSFER_ENCODING ??= 'chunked';
      }
    }
    const input = body === null || length === 0
      ? new RequestInput(Readable.from([]), { length: 0 })
      : new RequestInput(Readable.fromWeb(body as unknown as WebReadableStream<Uint8Array>), { length });

    env['wsgi.version'] = [1, 0];
    env['wsgi.url_scheme'] = scheme;
    env['wsgi.input'] = input;
    env['wsgi.errors'] = lineErrors(options.errors, requestId);
    env['wsgi.multithread'] = false;
    env['wsgi.multiprocess'] = options.multiprocess ?? false;
    env['wsgi.run_once'] = false;
    env['wsgi.input_terminated'] = true;
    env['wsgi.file_wrapper'] = fileWrapper;
    env['gwserver.signal'] = this.#abort.signal;
    env['gwserver.request_id'] = requestId;
    env['gwserver.worker_id'] = 0;
    env['gwserver.log'] = consoleLogger(requestId);
    return env as Environ;
  }

  readonly #startResponse: StartResponse = (status, headers, excInfo) => {
    if (this.#started) {
      if (excInfo === undefined) throw contractError('startResponse was called a second time without excInfo');
      if (this.#committed) throw excInfo;
    }
    const { code, reason } = parseStatus(status);
    checkHeaders(headers);
    const length = contentLengthOf(headers);
    this.#status = code;
    this.#reason = reason;
    this.#headers = headers;
    this.#length = length;
    this.#started = true;
    return this.#write;
  };

  readonly #write: Write = (chunk) => {
    if (this.#discard) return Promise.resolve();
    if (this.#finished) {
      return Promise.reject(this.#abort.signal.aborted
        ? new GatewayError('GW_CLIENT_GONE', 'write(): the client went away')
        : contractError('write() was called after the response body ended'));
    }
    let bytes: Uint8Array;
    try {
      bytes = toBytes(chunk);
    } catch (err) {
      return Promise.reject(err);
    }
    if (bytes.length === 0) return Promise.resolve();
    // Resolves when the chunk is handed to the reader of the Response body (drained).
    return new Promise<void>((resolve, reject) => {
      this.#out.push({ kind: 'chunk', chunk: bytes, resolve, reject });
      this.#firstWrite?.();
      this.#wakeUp();
    });
  };

  #setBody(body: unknown): void {
    // Kept before it is checked, so that even a bad body is closed.
    this.#body = body;
    this.#hasBody = true;
    if (body === undefined || body === null) {
      throw contractError(`the application returned ${body}; return an iterable of chunks (e.g. [] for an empty body)`);
    }
    if (typeof body === 'string' || body instanceof Uint8Array) {
      this.#iterator = [body][Symbol.iterator]();
      return;
    }
    const b = body as Partial<AsyncIterable<unknown> & Iterable<unknown>>;
    if (typeof b[Symbol.asyncIterator] === 'function') this.#iterator = b[Symbol.asyncIterator]!();
    else if (typeof b[Symbol.iterator] === 'function') this.#iterator = b[Symbol.iterator]!();
    else throw contractError('the application returned a body that is not iterable; return an array, an iterable or an async iterable of chunks');
  }

  /**
   * Pulls from the body as the server would before sending headers: until
   * the first non-empty chunk (or write), the end of the body, or, for HEAD,
   * until startResponse has been called. The first chunk stays queued.
   */
  async #untilHeaders(): Promise<Response> {
    for (;;) {
      if (this.#head && this.#started) break;
      const item = await this.#next();
      if (item.kind === 'error') throw item.error;
      if (item.kind === 'done') {
        this.#out.unshift(item);
        break;
      }
      if (item.resolve === undefined && !this.#started) {
        throw contractError('the body yielded data before startResponse was called');
      }
      this.#out.unshift(item);
      break;
    }
    if (!this.#started) throw contractError('the body ended without startResponse being called');
    return this.#respond();
  }

  /** The next chunk, end or error, in the order the app produced them; pulls the body only when nothing is queued. */
  async #next(): Promise<Item> {
    for (;;) {
      const item = this.#out.shift();
      if (item !== undefined) {
        if (item.kind === 'chunk' && item.chunk.length === 0) continue;
        return item;
      }
      if (this.#abort.signal.aborted) return { kind: 'error', error: new GatewayError('GW_CLIENT_GONE', 'the client went away') };
      if (!this.#inflight && !this.#exhausted) this.#pullBody();
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  #pullBody(): void {
    this.#inflight = true;
    const settle = (item: Item): void => {
      this.#inflight = false;
      if (item.kind !== 'chunk') this.#exhausted = true;
      this.#out.push(item);
      this.#wakeUp();
    };
    const step = async (): Promise<IteratorResult<unknown>> => {
      if (this.#iterator === undefined) await this.#bodyPending;
      return this.#iterator!.next();
    };
    step().then(
      (r) => {
        if (r.done) return settle(DONE);
        try {
          settle({ kind: 'chunk', chunk: toBytes(r.value) });
        } catch (err) {
          settle({ kind: 'error', error: err });
        }
      },
      (err: unknown) => settle({ kind: 'error', error: err }),
    );
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Makes the Response: status and headers are final from here on. */
  async #respond(): Promise<Response> {
    this.#committed = true;
    const code = this.#status;
    if (code > 599) throw contractError(`status ${code} cannot be carried by a fetch Response (200-599)`);
    const headers = new Headers();
    for (const [name, value] of this.#headers) headers.append(name, value);
    const nullBody = this.#head || NULL_BODY_STATUS.has(code);
    if (this.#length === undefined && !NULL_BODY_STATUS.has(code)) {
      // Frame as the gateway server would: a known size gets Content-Length.
      const size = await this.#knownSize();
      if (size !== undefined) headers.set('content-length', String(size));
    }
    const init = { status: code, statusText: this.#reason, headers };
    if (nullBody) {
      this.#discardRest();
      return new Response(null, init);
    }
    const stream = new ReadableStream<Uint8Array>(
      {
        pull: (controller) => this.#pull(controller),
        cancel: (reason) => this.#clientGone(reason),
      },
      // 0: read only when the reader asks, never ahead.
      { highWaterMark: 0 },
    );
    return new Response(stream, init);
  }

  /** The body's size when it is known before the first write: an array (nothing written), an empty body, a file. */
  async #knownSize(): Promise<number | undefined> {
    const written = this.#out.some((item) => item.kind === 'chunk' && item.resolve !== undefined);
    if (written) return undefined;
    const body = this.#body;
    if (Array.isArray(body) || typeof body === 'string' || body instanceof Uint8Array) {
      const chunks: unknown[] = Array.isArray(body) ? body : [body];
      let total = 0;
      for (const chunk of chunks) total += typeof chunk === 'string' ? Buffer.byteLength(chunk) : toBytes(chunk).length;
      return total;
    }
    if (body instanceof FileWrapper) return body.size();
    if (!this.#head && this.#out[0]?.kind === 'done') return 0;
    return undefined;
  }

  async #pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    try {
      const item = await this.#next();
      if (item.kind === 'error') throw item.error;
      // Cancelled while waiting: the stream is closed already.
      if (this.#finished) return;
      if (item.kind === 'done') {
        if (this.#length !== undefined && this.#sent < this.#length) {
          throw contractError(`the application sent ${this.#sent} bytes of the ${this.#length} its Content-Length declared`);
        }
        this.#finished = true;
        for (const late of this.#out.splice(0)) {
          if (late.kind === 'chunk') late.reject?.(contractError('write() was called after the response body ended'));
        }
        await this.#closeBody();
        this.#cleanup();
        controller.close();
        return;
      }
      let chunk = item.chunk;
      let cut = false;
      if (this.#length !== undefined && chunk.length > this.#length - this.#sent) {
        chunk = chunk.subarray(0, this.#length - this.#sent);
        cut = true;
      }
      this.#sent += chunk.length;
      if (chunk.length > 0) controller.enqueue(chunk);
      item.resolve?.();
      if (cut) {
        this.#report(contractError(`the application yielded more bytes than its Content-Length (${this.#length}); the rest was dropped`));
        await this.#shutdown(contractError('write(): the response already has all the bytes its Content-Length declared'));
        controller.close();
      }
    } catch (err) {
      if (!this.#abort.signal.aborted) this.#report(err);
      if (!this.#finished) await this.#shutdown(err);
      // A no-op on a stream that was cancelled.
      controller.error(err);
    }
  }

  /** HEAD and null-body statuses: the body is not sent; stop it once the app has returned it. */
  #discardRest(): void {
    this.#discard = true;
    void this.#shutdown(undefined);
  }

  readonly #onRequestAbort = (): void => {
    this.#clientGone(this.#request.signal.reason);
  };

  /** The client went away: abort gwserver.signal, stop the iteration, close the body. */
  #clientGone(reason: unknown): Promise<void> {
    if (this.#finished) return Promise.resolve();
    this.#abort.abort(reason);
    this.#wakeUp();
    return this.#shutdown(new GatewayError('GW_CLIENT_GONE', 'the client went away'));
  }

  /**
   * Ends the exchange early: pending writes fail with `err` (or succeed when
   * there is none), the iteration is stopped, and the body closed once.
   */
  async #shutdown(err: unknown): Promise<void> {
    this.#finished = true;
    for (const item of this.#out.splice(0)) {
      if (item.kind !== 'chunk') continue;
      if (err === undefined) item.resolve?.();
      else item.reject?.(err);
    }
    this.#cleanup();
    if (!this.#hasBody && this.#bodyPending !== undefined) {
      // The app has not returned its body yet: stop and close it when it
      // does, without making the caller (a cancel()) wait for that.
      const later = (): Promise<void> => {
        this.#stopIterator();
        return this.#closeBody();
      };
      void this.#bodyPending.then(later, later);
      return;
    }
    this.#stopIterator();
    await this.#closeBody();
  }

  #stopIterator(): void {
    const it = this.#iterator;
    if (it === undefined || this.#exhausted || typeof it.return !== 'function') return;
    this.#exhausted = true;
    // Not awaited: return() waits behind a pending next(), which may never end.
    try {
      const r = it.return();
      if (isThenable(r)) (r as Promise<unknown>).then(undefined, (err) => this.#report(err));
    } catch (err) {
      this.#report(err);
    }
  }

  async #closeBody(): Promise<void> {
    if (this.#closed || !this.#hasBody) return;
    this.#closed = true;
    const body = this.#body as { close?: () => unknown } | null | undefined;
    if (body === null || body === undefined || typeof body.close !== 'function') return;
    try {
      const r = body.close();
      if (isThenable(r)) await r;
    } catch (err) {
      this.#report(err);
    }
  }

  #cleanup(): void {
    this.#request.signal.removeEventListener('abort', this.#onRequestAbort);
  }

  async #failEarly(err: unknown): Promise<Response> {
    const clientGone = this.#abort.signal.aborted;
    const code = err instanceof GatewayError && err.status >= 400 && err.status < 500 ? err.status : 500;
    if (!clientGone) this.#report(err);
    await this.#shutdown(err);
    return plainResponse(code);
  }

  #report(err: unknown): void {
    const onError = this.#options.onError ?? defaultOnError;
    try {
      onError(err, this.#environ);
    } catch {
      // A failing logger must not turn into a second error.
    }
  }
}
