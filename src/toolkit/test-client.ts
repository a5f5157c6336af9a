/**
 * `testClient(app)`: calls a gateway application in-process, without a
 * socket, and returns what a client would get (like fastify's `inject` and
 * Hono's `app.request`). It is built on {@link toFetch}, so the request
 * runs through the same gateway core as under the server (the shared
 * ResponseExchange: startResponse's rules, HEAD, Content-Length framing,
 * the 500 for an error before the head, `close()` exactly once), and the
 * app runs under the {@link validator} by default, so that an app's own
 * tests catch contract violations.
 *
 * @module
 */
import { validator } from '../gateway/lint.js';
import type { Application, Environ } from '../gateway/types.js';
import { toFetch } from '../interop/fetch.js';
import { CookieJar } from './cookie-jar.js';

/** What the fetch `Headers` constructor takes: a record, a list of pairs, or Headers. */
export type HeaderInit = ConstructorParameters<typeof Headers>[0];

/** A query string value; an array repeats the name. */
export type QueryValue = string | number | boolean | ReadonlyArray<string | number | boolean>;

/** Form fields or query parameters, as a record or as URLSearchParams. */
export type Params = Readonly<Record<string, QueryValue>> | URLSearchParams;

/**
 * A request body: text (sent as UTF-8), bytes, URLSearchParams (a
 * urlencoded form), a FormData or Blob (multipart or typed bytes, as fetch
 * encodes them), a stream or an async iterable (sent as it comes, chunked:
 * no Content-Length), or any other value, sent as JSON.
 */
export type TestBody =
  | string
  | Uint8Array
  | ArrayBuffer
  | URLSearchParams
  | FormData
  | Blob
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array | string>
  | Readonly<Record<string, unknown>>
  | readonly unknown[]
  | number
  | boolean
  | null;

/** What one request may carry besides its method and path. */
export interface TestRequestInit {
  /** Request headers (they override the client's `headers` of the same name). */
  headers?: HeaderInit;
  /** Added to the path's own query string. */
  query?: Params;
  /** The body; see {@link TestBody}. GET and HEAD requests cannot carry one (a fetch rule). */
  body?: TestBody;
  /** A urlencoded form body (`application/x-www-form-urlencoded`), in place of `body`. */
  form?: Params;
  /** Cookies for this request only, beside those of the jar. */
  cookies?: Readonly<Record<string, string>>;
  /** Aborting it is the client going away: `gwserver.signal` aborts, a read of `wsgi.input` still waiting fails, and the body is closed. */
  signal?: AbortSignal;
  /** Environ keys set for this request (after the client's `environ`). */
  environ?: Readonly<Record<string, unknown>>;
}

/** Options of {@link testClient}. */
export interface TestClientOptions {
  /** Scheme, host and port the requests go to (default `http://localhost`): `SERVER_NAME`, `HTTP_HOST`, `wsgi.url_scheme`. */
  baseUrl?: string;
  /** Run the app under {@link validator} (default true). */
  validate?: boolean;
  /**
   * An error the app raised (a throw, a contract violation, a body that
   * failed, a `close()` that threw) rejects the call with that error once
   * the response is read (default true), so that a test fails where the app
   * did. False: the call resolves with what a server would have sent (a
   * 500, or a body cut short) and the errors are in `errors`.
   */
  throwErrors?: boolean;
  /** Headers sent with every request. */
  headers?: HeaderInit;
  /**
   * Keep cookies across calls, as a browser does (default true: a new
   * {@link CookieJar}); pass a jar to share or inspect it, or false to keep none.
   */
  cookies?: boolean | CookieJar;
  /** `SCRIPT_NAME`: the prefix the app is mounted at; request paths start with it. */
  scriptName?: string;
  /** `REMOTE_ADDR` (default `127.0.0.1`). */
  remoteAddr?: string;
  /** Environ keys set on every request, after the server's own (the validator sees them). */
  environ?: Readonly<Record<string, unknown>>;
}

/** The status line and headers of a response, and what the app reported. */
export interface TestResponseHead {
  /** The status code, e.g. 200. */
  readonly status: number;
  /** The reason phrase the app gave, e.g. `OK`. */
  readonly statusText: string;
  /** The response headers (`headers.getSetCookie()` lists each Set-Cookie). */
  readonly headers: Headers;
  /**
   * Errors the app raised during this request (only seen with
   * `throwErrors: false`; otherwise the first one is thrown).
   */
  readonly errors: readonly unknown[];
  /** What the app wrote to `wsgi.errors`. */
  readonly errorOutput: string;
}

/** A response read whole. */
export interface TestResponse extends TestResponseHead {
  /** The body's bytes. */
  readonly body: Buffer;
  /** The body decoded as UTF-8. */
  readonly text: string;
  /** False when the body was cut short (an error after the head: a server would close the connection). */
  readonly complete: boolean;
  /** The body parsed as JSON; throws a TypeError naming the content type when it is not JSON. */
  json<T = unknown>(): T;
}

/**
 * A response whose body is read as it comes: iterate it (`for await`),
 * or read it whole with `bytes()`, `text()` or `json()`, once.
 */
export interface StreamingTestResponse extends TestResponseHead, AsyncIterable<Buffer> {
  bytes(): Promise<Buffer>;
  text(): Promise<string>;
  json<T = unknown>(): Promise<T>;
  /**
   * Stops reading, as a client that goes away: `gwserver.signal` aborts,
   * the body's iteration stops and its `close()` runs. Resolves once it has.
   */
  cancel(): Promise<void>;
}

/** Calls an application in-process. Each method returns the response; see {@link testClient}. */
export interface TestClient {
  /** The cookies kept across calls (undefined with `cookies: false`). */
  readonly cookies: CookieJar | undefined;
  /** A request with any method, read whole. */
  request(method: string, path: string, init?: TestRequestInit): Promise<TestResponse>;
  get(path: string, init?: Omit<TestRequestInit, 'body' | 'form'>): Promise<TestResponse>;
  head(path: string, init?: Omit<TestRequestInit, 'body' | 'form'>): Promise<TestResponse>;
  post(path: string, init?: TestRequestInit): Promise<TestResponse>;
  put(path: string, init?: TestRequestInit): Promise<TestResponse>;
  patch(path: string, init?: TestRequestInit): Promise<TestResponse>;
  delete(path: string, init?: TestRequestInit): Promise<TestResponse>;
  options(path: string, init?: TestRequestInit): Promise<TestResponse>;
  /** A request whose response body is read as it comes (server-sent events, large downloads). */
  stream(method: string, path: string, init?: TestRequestInit): Promise<StreamingTestResponse>;
}

/**
 * Makes a client that calls `app` in-process: each call builds the
 * request's environ as the server would (every key of the contract,
 * `wsgi.input` streaming the body), runs the app under the validator, and
 * resolves with the response. Cookies the app sets are sent back on later
 * calls. Nothing listens on a socket.
 *
 * @example
 * ```ts
 * import assert from 'node:assert/strict';
 * import { testClient } from 'gwserver';
 * import { application } from '../app.js';
 *
 * it('greets', async () => {
 *   const client = testClient(application);
 *   const res = await client.post('/greet', { form: { name: 'Ada' } });
 *   assert.equal(res.status, 200);
 *   assert.match(res.text, /Hello, Ada/);
 *   const api = await client.post('/api/users', { body: { name: 'Ada' } }); // JSON
 *   assert.equal(api.json<{ id: number }>().id, 1);
 * });
 * ```
 */
export function testClient(app: Application, options: TestClientOptions = {}): TestClient {
  if (typeof app !== 'function') throw new TypeError(`testClient() takes a gateway application, got ${app === null ? 'null' : typeof app}`);
  const base = new URL(options.baseUrl ?? 'http://localhost');
  const checked = (options.validate ?? true) ? validator(app) : app;
  const throwErrors = options.throwErrors ?? true;
  const jar = options.cookies === false ? undefined : options.cookies instanceof CookieJar ? options.cookies : new CookieJar();

  /** Runs one request; resolves once the head is there, the body still to read. */
  async function send(method: string, path: string, init: TestRequestInit): Promise<Exchange> {
    const url = new URL(path, base);
    if (init.query !== undefined) for (const [k, v] of entries(init.query)) url.searchParams.append(k, v);
    const headers = new Headers(options.headers);
    for (const [k, v] of new Headers(init.headers)) headers.set(k, v);
    const body = await requestBody(init, headers);
    const cookie = [jar?.header(url) ?? '', ...Object.entries(init.cookies ?? {}).map(([k, v]) => `${k}=${v}`), headers.get('cookie') ?? '']
      .filter((c) => c !== '')
      .join('; ');
    if (cookie !== '') headers.set('cookie', cookie);
    const extra = options.environ === undefined && init.environ === undefined ? undefined : { ...options.environ, ...init.environ };
    const errors: unknown[] = [];
    const output: string[] = [];
    const handler = toFetch(extra === undefined ? checked : withEnviron(checked, extra), {
      scriptName: options.scriptName,
      remoteAddr: options.remoteAddr,
      errors: { write: (text) => output.push(text) },
      onError: (err) => errors.push(err),
    });
    const request = new Request(url, {
      method,
      headers,
      body: body as RequestInit['body'],
      signal: init.signal,
      // Required by fetch for a stream body; harmless for the others.
      duplex: 'half',
    } as RequestInit);
    const response = await handler(request);
    jar?.store(response.headers.getSetCookie(), url);
    return { response, errors, output };
  }

  const request = async (method: string, path: string, init: TestRequestInit = {}): Promise<TestResponse> => {
    const ex = await send(method, path, init);
    const chunks: Buffer[] = [];
    let complete = true;
    let failure: unknown;
    try {
      for await (const chunk of readChunks(ex.response.body?.getReader())) chunks.push(chunk);
    } catch (err) {
      complete = false;
      failure = err;
    }
    if (throwErrors) {
      if (ex.errors.length > 0) throw ex.errors[0];
      // Not the app's doing (the request's signal aborted): the caller's own error.
      if (failure !== undefined) throw failure;
    }
    const bytes = Buffer.concat(chunks);
    return {
      ...head(ex),
      body: bytes,
      text: bytes.toString('utf8'),
      complete,
      json: <T>() => parseJson<T>(bytes, ex.response),
    };
  };

  const stream = async (method: string, path: string, init: TestRequestInit = {}): Promise<StreamingTestResponse> => {
    const ex = await send(method, path, init);
    if (throwErrors && ex.errors.length > 0) {
      // A 500 made of an error before the head: nothing to stream.
      await ex.response.body?.cancel().catch(() => {});
      throw ex.errors[0];
    }
    let taken = false;
    const body = ex.response.body;
    // Made here, not by the iteration: cancel() goes through it once the body is being read (a locked stream refuses a cancel of its own).
    const reader = body === null ? undefined : body.getReader();
    const take = (): AsyncIterable<Buffer> => {
      if (taken) throw new TypeError('testClient: this response body was read already');
      taken = true;
      return checkedChunks(reader, ex.errors, throwErrors);
    };
    const bytes = async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of take()) chunks.push(chunk);
      return Buffer.concat(chunks);
    };
    return {
      ...head(ex),
      [Symbol.asyncIterator]: () => take()[Symbol.asyncIterator](),
      bytes,
      text: async () => (await bytes()).toString('utf8'),
      json: async <T>() => parseJson<T>(await bytes(), ex.response),
      cancel: async () => {
        taken = true;
        // Resolves once the exchange closed the app's body (toFetch's cancel waits for it).
        await reader?.cancel().catch(() => {});
      },
    };
  };

  return {
    cookies: jar,
    request,
    get: (path, init) => request('GET', path, init),
    head: (path, init) => request('HEAD', path, init),
    post: (path, init) => request('POST', path, init),
    put: (path, init) => request('PUT', path, init),
    patch: (path, init) => request('PATCH', path, init),
    delete: (path, init) => request('DELETE', path, init),
    options: (path, init) => request('OPTIONS', path, init),
    stream,
  };
}

interface Exchange {
  response: Response;
  errors: unknown[];
  output: string[];
}

function head(ex: Exchange): TestResponseHead {
  return {
    status: ex.response.status,
    statusText: ex.response.statusText,
    headers: ex.response.headers,
    errors: ex.errors,
    get errorOutput() {
      return ex.output.join('');
    },
  };
}

function withEnviron(app: Application, extra: Readonly<Record<string, unknown>>): Application {
  return function testEnviron(environ: Environ, startResponse) {
    Object.assign(environ, extra);
    return app(environ, startResponse);
  };
}

function* entries(params: Params): Iterable<[string, string]> {
  if (params instanceof URLSearchParams) {
    yield* params;
    return;
  }
  for (const [k, v] of Object.entries(params)) {
    if (Array.isArray(v)) for (const item of v as ReadonlyArray<string | number | boolean>) yield [k, String(item)];
    else yield [k, String(v)];
  }
}

function isAsyncIterable(v: unknown): v is AsyncIterable<Uint8Array | string> {
  return v !== null && typeof v === 'object' && typeof (v as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}

/**
 * The body as fetch will carry it, with its Content-Type (unless given) and,
 * when the size is known, its Content-Length: without one, the app sees a
 * chunked body, as from a client that streams.
 */
async function requestBody(init: TestRequestInit, headers: Headers): Promise<Uint8Array | ReadableStream<Uint8Array> | undefined> {
  let body: unknown = init.body;
  let type: string | undefined;
  if (init.form !== undefined) {
    if (body !== undefined) throw new TypeError('testClient: give either body or form, not both');
    body = new URLSearchParams([...entries(init.form)]);
  }
  if (body === undefined) return undefined;
  let bytes: Uint8Array;
  if (typeof body === 'string') {
    bytes = Buffer.from(body, 'utf8');
    type = 'text/plain; charset=utf-8';
  } else if (body instanceof Uint8Array) {
    bytes = body;
  } else if (body instanceof ArrayBuffer) {
    bytes = new Uint8Array(body);
  } else if (body instanceof URLSearchParams || body instanceof FormData || body instanceof Blob) {
    // fetch's own encoding (a multipart boundary, a Blob's type), read out to learn the length.
    const encoded = new Request('http://localhost/', { method: 'POST', body });
    bytes = new Uint8Array(await encoded.arrayBuffer());
    type = encoded.headers.get('content-type') ?? undefined;
  } else if (body instanceof ReadableStream) {
    return body as ReadableStream<Uint8Array>;
  } else if (isAsyncIterable(body)) {
    return iterableStream(body);
  } else {
    bytes = Buffer.from(JSON.stringify(body), 'utf8');
    type = 'application/json';
  }
  if (type !== undefined && !headers.has('content-type')) headers.set('content-type', type);
  headers.set('content-length', String(bytes.byteLength));
  return bytes;
}

/** An async iterable as a stream pulled one chunk at a time, as the app reads. */
function iterableStream(source: AsyncIterable<Uint8Array | string>): ReadableStream<Uint8Array> {
  let it: AsyncIterator<Uint8Array | string> | undefined;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        it ??= source[Symbol.asyncIterator]();
        const r = await it.next();
        if (r.done) controller.close();
        else controller.enqueue(typeof r.value === 'string' ? Buffer.from(r.value, 'utf8') : r.value);
      },
      async cancel() {
        await it?.return?.();
      },
    },
    { highWaterMark: 0 },
  );
}

/** The body's chunks as Buffers, as they come. */
async function* readChunks(reader: ReadableStreamDefaultReader<Uint8Array> | undefined): AsyncGenerator<Buffer> {
  if (reader === undefined) return;
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) return;
      yield Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    }
  } finally {
    // Left early (a break in the caller's loop): the client goes away.
    await reader.cancel().catch(() => {});
  }
}

/** readChunks, then the app's errors reported at the end (a close() that threw) when they are to be thrown. */
async function* checkedChunks(reader: ReadableStreamDefaultReader<Uint8Array> | undefined, errors: readonly unknown[], throwErrors: boolean): AsyncGenerator<Buffer> {
  try {
    yield* readChunks(reader);
  } catch (err) {
    throw throwErrors && errors.length > 0 ? errors[0] : err;
  }
  if (throwErrors && errors.length > 0) throw errors[0];
}

function parseJson<T>(bytes: Buffer, response: Response): T {
  const text = bytes.toString('utf8');
  try {
    return JSON.parse(text) as T;
  } catch {
    const shown = text.length > 200 ? `${text.slice(0, 200)}...` : text;
    throw new TypeError(`testClient: the response body is not JSON (status ${response.status}, Content-Type ${response.headers.get('content-type') ?? 'none'}): ${JSON.stringify(shown)}`);
  }
}
