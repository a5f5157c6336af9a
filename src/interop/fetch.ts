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
import { fileWrapper } from '../gateway/file-wrapper.js';
import { RequestInput } from '../gateway/input.js';
import { ResponseExchange } from '../gateway/exchange.js';
import { HOP_BY_HOP, isConnectionClose } from '../gateway/start-response.js';
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
    if (name === 'set-cookie' || (HOP_BY_HOP.has(name) && !isConnectionClose(name, value))) continue;
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
 * cancelled, and `wsgi.input` then failing, as under the server when the
 * client closes its connection). The Response is made as soon as the server would send headers:
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

/**
 * One request through {@link toFetch}: the contract is
 * {@link ResponseExchange}'s; the transport is a Response whose body is a
 * stream read on demand (the body is pulled only when its reader asks).
 */
class FetchExchange extends ResponseExchange {
  readonly #app: Application;
  readonly #request: Request;
  readonly #options: ToFetchOptions;
  readonly #head: boolean;
  environ: Environ | undefined;
  /** Settled with the Response once the head is out (or with a plain answer). */
  readonly #answer: Promise<Response>;
  #resolve!: (response: Response) => void;
  #answered = false;
  #stream: ReadableStreamDefaultController<Uint8Array> | undefined;
  /** Chunks pushed before the reader asked for them, in order. */
  #queue: Uint8Array[] = [];
  /** The reader asked for a chunk that is not there yet. */
  #demand = false;
  #drainWait: Promise<void> | undefined;
  #drainResolve: (() => void) | undefined;
  #wantWait: Promise<void> | undefined;
  #wantResolve: (() => void) | undefined;
  #complete = false;
  /** The Request's body as wsgi.input reads it: destroyed when the client goes away, as the server's socket would be. */
  #input: Readable | undefined;

  constructor(app: Application, request: Request, options: ToFetchOptions) {
    super();
    this.#app = app;
    this.#request = request;
    this.#options = options;
    this.#head = request.method.toUpperCase() === 'HEAD';
    this.#answer = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  run(): Promise<Response> {
    try {
      this.environ = this.#buildEnviron();
    } catch (err) {
      const code = err instanceof GatewayError && err.status >= 400 && err.status < 500 ? err.status : 500;
      if (code === 500) this.#report(err);
      return Promise.resolve(plainResponse(code));
    }
    const reqSignal = this.#request.signal;
    if (reqSignal.aborted) {
      this.#clientGone();
      return this.#answer;
    }
    reqSignal.addEventListener('abort', this.#clientGone, { once: true });
    let body: unknown;
    try {
      body = this.#app(this.environ, this.startResponse);
    } catch (err) {
      this.fail(err);
      this.#cleanup();
      return this.#answer;
    }
    // A write() before an async app returns sends the head: the Response is
    // answered then, and the body follows when the app returns it.
    void this.finish(body).then(() => {
      this.#cleanup();
      if (this.#complete && !this.gone) this.#stream?.close();
    });
    return this.#answer;
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
    if (body !== null && length !== 0) this.#input = Readable.fromWeb(body as unknown as WebReadableStream<Uint8Array>);
    const input = this.#input === undefined ? new RequestInput(Readable.from([]), { length: 0 }) : new RequestInput(this.#input, { length });

    env['wsgi.version'] = [1, 0];
    env['wsgi.url_scheme'] = scheme;
    env['wsgi.input'] = input;
    env['wsgi.errors'] = lineErrors(options.errors, requestId);
    env['wsgi.multithread'] = false;
    env['wsgi.multiprocess'] = options.multiprocess ?? false;
    env['wsgi.run_once'] = false;
    env['wsgi.input_terminated'] = true;
    env['wsgi.file_wrapper'] = fileWrapper;
    env['gwserver.signal'] = this.signal();
    env['gwserver.request_id'] = requestId;
    env['gwserver.worker_id'] = 0;
    env['gwserver.log'] = consoleLogger(requestId);
    return env as Environ;
  }

  // -------------------------------------------------------------------------
  // The transport: a Response with a body read on demand
  // -------------------------------------------------------------------------

  bodyAllowedFor(): boolean {
    return !this.#head;
  }

  writeHead(): void {
    const code = this.status;
    if (code > 599) throw contractError(`status ${code} cannot be carried by a fetch Response (200-599)`);
    const headers = new Headers();
    // Connection: close is for the server of the connection, which the Response does not reach.
    for (const [name, value] of this.appHeaders) if (name.length !== 10 || name.toLowerCase() !== 'connection') headers.append(name, value);
    if (this.addedLength) headers.set('content-length', String(this.length));
    // fetch refuses a body on these; the bytes are counted and dropped, as for HEAD.
    if (NULL_BODY_STATUS.has(code)) this.bodyAllowed = false;
    const init = { status: code, statusText: this.reason, headers };
    if (!this.bodyAllowed) {
      this.#respond(new Response(null, init));
      return;
    }
    const stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#stream = controller;
        },
        pull: (controller) => {
          const next = this.#queue.shift();
          if (next === undefined) {
            this.#demand = true;
            settle(this.#takeWant());
            return;
          }
          controller.enqueue(next);
          if (this.#queue.length === 0) settle(this.#takeDrain());
        },
        cancel: () => this.#clientGone(),
      },
      // 0: read only when the reader asks, never ahead.
      { highWaterMark: 0 },
    );
    this.#respond(new Response(stream, init));
  }

  push(chunk: Chunk): boolean {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.#demand && this.#queue.length === 0) {
      this.#demand = false;
      this.#stream!.enqueue(bytes);
      return true;
    }
    this.#queue.push(bytes);
    return false;
  }

  /** Resolves when every queued chunk has been handed to the reader. */
  drained(): Promise<void> {
    if (this.#queue.length === 0 || this.gone) return Promise.resolve();
    return (this.#drainWait ??= new Promise((resolve) => {
      this.#drainResolve = resolve;
    }));
  }

  override wanted(): Promise<void> | undefined {
    if (this.#demand || this.gone) return undefined;
    return (this.#wantWait ??= new Promise((resolve) => {
      this.#wantResolve = resolve;
    }));
  }

  #takeDrain(): (() => void) | undefined {
    const resolve = this.#drainResolve;
    this.#drainWait = undefined;
    this.#drainResolve = undefined;
    return resolve;
  }

  #takeWant(): (() => void) | undefined {
    const resolve = this.#wantResolve;
    this.#wantWait = undefined;
    this.#wantResolve = undefined;
    return resolve;
  }

  releaseWaits(): void {
    settle(this.#takeDrain());
    settle(this.#takeWant());
  }

  endOutput(): void {
    // The stream closes once close() has run (run()): a reader that sees the
    // end sees a body already closed.
    this.#complete = true;
  }

  truncate(err: unknown): void {
    if (!this.#answered) {
      // The head failed on its way out (a status fetch cannot carry).
      this.#respond(plainResponse(500));
      return;
    }
    this.#stream?.error(err);
  }

  plain(status: number): void {
    this.headersSent = true;
    this.ended = true;
    this.status = status;
    this.#respond(plainResponse(status));
  }

  #respond(response: Response): void {
    this.#answered = true;
    this.#resolve(response);
  }

  /** The client went away: the Request's signal aborted, or the Response body was cancelled. */
  readonly #clientGone = (): Promise<void> => {
    if (this.gone || this.#complete) return Promise.resolve();
    this.#cleanup();
    // An app still reading wsgi.input (a form being parsed) learns that the rest will not come, and the Request's body is released.
    this.#input?.destroy();
    const closed = this.abandon();
    // A reader still waiting learns that the body will not come.
    this.#stream?.error(new GatewayError('GW_CLIENT_GONE', 'the client went away'));
    if (!this.#answered) this.#respond(plainResponse(500));
    return closed;
  };

  #cleanup(): void {
    this.#request.signal.removeEventListener('abort', this.#clientGone);
  }

  // -------------------------------------------------------------------------
  // Reports: onError
  // -------------------------------------------------------------------------

  logAppError(err: unknown): void {
    this.#report(err);
  }

  logOverflow(): void {
    this.#report(contractError(`the application yielded more bytes than its Content-Length (${this.length}); the rest was dropped`));
  }

  logShort(): void {
    this.#report(contractError(`the application sent ${this.sent} bytes of the ${this.length} its Content-Length declared`));
  }

  logClientFault(): void {
    // A 4xx answer (a bad upload) is the client's error, not the app's.
  }

  logAfterGone(): void {
    // A client that went away is not an error.
  }

  #report(err: unknown): void {
    const onError = this.#options.onError ?? defaultOnError;
    try {
      onError(err, this.environ);
    } catch {
      // A failing logger must not turn into a second error.
    }
  }
}

function settle(resolve: (() => void) | undefined): void {
  resolve?.();
}
