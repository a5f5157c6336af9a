/**
 * A validator for the gateway contract, like Python's `wsgiref.validate`.
 *
 * `validator(app)` returns an application that behaves exactly like `app`
 * but watches both sides of the contract while a request runs: the environ
 * and `wsgi.input` the server provides, and the status, headers, body and
 * `write()` calls the application produces, down to the server calling
 * `close()`. The first rule broken throws a {@link LintError} that says who
 * broke it and how. Use it in tests and during development; it costs a few
 * wrappers per request and is not meant for production.
 *
 * The wrapped body pulls one chunk from the app's body per chunk the server
 * pulls, so laziness and backpressure are unchanged; the server's `return()`
 * and `close()` reach the app's body. Bodies are wrapped in a Proxy that keeps
 * their prototype and properties (so the server still recognises, say, a file
 * wrapper); arrays without `close()`, strings and Uint8Arrays are checked
 * when returned and passed on as they are, so framing is unchanged too.
 *
 * @module
 */
import { GatewayError } from '../errors.js';
import { isThenable } from './exchange.js';
import { checkHeaders, contentLengthOf, isToken, parseStatus } from './start-response.js';
import type { Application, Body, Chunk, Environ, ErrorStream, HeaderPair, InputStream, StartResponse, Write } from './types.js';

/** Which side of the contract a {@link LintError} blames. */
export type LintSide = 'server' | 'application';

/**
 * A broken rule of the gateway contract, found by {@link validator}. Its code
 * is `GW_APP_CONTRACT` (a 500 if it reaches the server's error handling);
 * `side` says whether the server or the application broke the rule, and the
 * message starts with `validator (server):` or `validator (application):`.
 */
export class LintError extends GatewayError {
  readonly side: LintSide;
  constructor(side: LintSide, message: string, options?: { cause?: unknown }) {
    super('GW_APP_CONTRACT', `validator (${side}): ${message}`, options);
    this.name = 'LintError';
    this.side = side;
  }
}

const byServer = (message: string): LintError => new LintError('server', message);
const byApp = (message: string): LintError => new LintError('application', message);

/**
 * Wraps `app` so that every request checks the gateway contract on both
 * sides, throwing a {@link LintError} at the first violation:
 *
 * - the server must call the app with `(environ, startResponse)`, and the
 *   environ must have every key of the contract with the right type and
 *   shape (a new plain object for each request);
 * - `startResponse` must get a valid status and header list, be called once
 *   (again only with `excInfo`), and before the first non-empty chunk;
 * - the body must be an iterable or async iterable of `Uint8Array`/string
 *   chunks, a `Uint8Array` or a string, and no longer or shorter than its
 *   Content-Length (HEAD, 204 and 304 excepted);
 * - `write()` takes chunks, and only until the body has ended;
 * - the server pulls one chunk at a time, never after `close()`, and calls
 *   `close()` once, after stopping the iteration;
 * - `wsgi.input` reads take a non-negative integer size or none, run one at
 *   a time, and return Buffers that respect the read's contract;
 * - `wsgi.errors.write()` takes strings.
 *
 * `environ['wsgi.input']` and `environ['wsgi.errors']` are replaced by
 * checking proxies of themselves before the app runs.
 *
 * @example
 * ```ts
 * const checked = validator(app);
 * const body = await checked(setupTestingDefaults(), startResponse);
 * ```
 */
export function validator(app: Application): Application {
  if (typeof app !== 'function') {
    throw byApp(`validator() takes an application function, got ${show(app)}`);
  }
  // The contract wants a new environ per request; remembering them weakly costs nothing.
  const seen = new WeakSet<object>();
  return function lintApp(...args: unknown[]): Body | Promise<Body> {
    if (args.length !== 2) {
      throw byServer(`the application must be called with two arguments, (environ, startResponse); got ${args.length}`);
    }
    const [environ, startResponse] = args;
    checkEnviron(environ, seen);
    if (typeof startResponse !== 'function') {
      throw byServer(`startResponse must be a function, got ${show(startResponse)}`);
    }
    const st = new RequestState(environ);
    replace(environ, 'wsgi.input', lintInput(environ['wsgi.input'], environ.CONTENT_LENGTH));
    replace(environ, 'wsgi.errors', lintErrors(environ['wsgi.errors']));
    const result = app(environ, lintStartResponse(startResponse as StartResponse, st));
    if (isThenable(result)) return Promise.resolve(result).then((body) => lintBody(body, st, environ));
    return lintBody(result, st, environ);
  };
}

/** What the validator knows about one request as it goes. */
class RequestState {
  readonly method: string;
  /** startResponse has been called (successfully). */
  started = false;
  /** The app is done producing output: the body ended, or a finished body was returned. */
  ended = false;
  /** The server called the body's close(). */
  closed = false;
  /** An iterator over the body was handed out and has not finished or been stopped. */
  iterating = false;
  /** The Content-Length to hold the output to, when there is one that applies. */
  expected: number | undefined = undefined;
  /** Non-empty bytes produced so far (body chunks and write() calls). */
  sent = 0;

  constructor(environ: Environ) {
    this.method = environ.REQUEST_METHOD;
  }
}

// ---------------------------------------------------------------------------
// The environ (the server's side)

const REQUIRED = [
  'REQUEST_METHOD', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'SERVER_NAME', 'SERVER_PORT',
  'SERVER_PROTOCOL', 'REMOTE_ADDR', 'REMOTE_PORT', 'RAW_URI',
  'wsgi.version', 'wsgi.url_scheme', 'wsgi.input', 'wsgi.errors', 'wsgi.multithread',
  'wsgi.multiprocess', 'wsgi.run_once', 'wsgi.input_terminated', 'wsgi.file_wrapper',
  'gwserver.signal', 'gwserver.request_id', 'gwserver.worker_id', 'gwserver.log',
] as const;
const DIGITS = /^\d+$/;
const LOG_METHODS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

function checkEnviron(environ: unknown, seen: WeakSet<object>): asserts environ is Environ {
  if (typeof environ !== 'object' || environ === null || Array.isArray(environ)) {
    throw byServer(`environ must be a plain object, got ${show(environ)}`);
  }
  const proto: unknown = Object.getPrototypeOf(environ);
  if (proto !== Object.prototype && proto !== null) {
    throw byServer(`environ must be a plain object, got ${show(environ)}`);
  }
  if (seen.has(environ)) {
    throw byServer('the same environ object was passed for a second request; build a new one for each request');
  }
  seen.add(environ);
  const env = environ as Record<string, unknown>;
  for (const key of REQUIRED) {
    if (!(key in env)) throw byServer(`${ref(key)} is missing`);
  }
  // CGI keys (no dot) hold text; dotted keys are wsgi.* and extensions, typed below.
  for (const key in env) {
    if (!key.includes('.') && typeof env[key] !== 'string') {
      throw byServer(`${ref(key)} must be a string, got ${show(env[key])}${env[key] === undefined ? ' (leave the key out instead)' : ''}`);
    }
  }
  const s = env as Record<string, string>;
  if (!isToken(s.REQUEST_METHOD!)) {
    throw byServer(`environ.REQUEST_METHOD must be a method name (an HTTP token), got ${show(s.REQUEST_METHOD)}`);
  }
  const script = s.SCRIPT_NAME!;
  const path = s.PATH_INFO!;
  if (script !== '' && script.charCodeAt(0) !== 47) {
    throw byServer(`environ.SCRIPT_NAME must be empty or start with "/", got ${show(script)}`);
  }
  if (path !== '' && path !== '*' && path.charCodeAt(0) !== 47) {
    throw byServer(`environ.PATH_INFO must be empty, "*" or start with "/", got ${show(path)}`);
  }
  if (script === '' && path === '') {
    throw byServer('environ.SCRIPT_NAME and environ.PATH_INFO are both empty; at the root PATH_INFO is "/"');
  }
  if (s.QUERY_STRING!.charCodeAt(0) === 63) {
    throw byServer(`environ.QUERY_STRING must not include the "?" that ends the path, got ${show(s.QUERY_STRING)}`);
  }
  if ('CONTENT_LENGTH' in s && !DIGITS.test(s.CONTENT_LENGTH!)) {
    throw byServer(`environ.CONTENT_LENGTH must be a string of digits when present, got ${show(s.CONTENT_LENGTH)}`);
  }
  for (const key of ['HTTP_CONTENT_TYPE', 'HTTP_CONTENT_LENGTH']) {
    if (key in s) throw byServer(`environ.${key} must not exist; that header goes in environ.${key.slice(5)}`);
  }
  if (!DIGITS.test(s.SERVER_PORT!)) {
    throw byServer(`environ.SERVER_PORT must be a string of digits, got ${show(s.SERVER_PORT)}`);
  }
  if (s.SERVER_PROTOCOL !== 'HTTP/1.0' && s.SERVER_PROTOCOL !== 'HTTP/1.1' && s.SERVER_PROTOCOL !== 'HTTP/2.0') {
    throw byServer(`environ.SERVER_PROTOCOL must be "HTTP/1.0", "HTTP/1.1" or "HTTP/2.0", got ${show(s.SERVER_PROTOCOL)}`);
  }
  if (!/^\d*$/.test(s.REMOTE_PORT!)) {
    throw byServer(`environ.REMOTE_PORT must be a string of digits (or empty), got ${show(s.REMOTE_PORT)}`);
  }
  if (s.RAW_URI === '') throw byServer('environ.RAW_URI must be the request target as received, got ""');

  const version = env['wsgi.version'];
  if (!Array.isArray(version) || version.length !== 2 || version[0] !== 1 || version[1] !== 0) {
    throw byServer(`environ['wsgi.version'] must be [1, 0], got ${show(version)}`);
  }
  const scheme = env['wsgi.url_scheme'];
  if (scheme !== 'http' && scheme !== 'https') {
    throw byServer(`environ['wsgi.url_scheme'] must be "http" or "https", got ${show(scheme)}`);
  }
  const input = env['wsgi.input'];
  for (const m of ['read', 'readline', 'readlines', Symbol.asyncIterator] as const) {
    if (!hasMethod(input, m)) {
      throw byServer(`environ['wsgi.input'] must have ${methodName(m)}() (read, readline, readlines and async iteration), got ${show(input)}`);
    }
  }
  const errors = env['wsgi.errors'];
  for (const m of ['write', 'writelines', 'flush'] as const) {
    if (!hasMethod(errors, m)) {
      throw byServer(`environ['wsgi.errors'] must have ${m}() (write, writelines and flush), got ${show(errors)}`);
    }
  }
  expectValue(env, 'wsgi.multithread', false);
  if (typeof env['wsgi.multiprocess'] !== 'boolean') {
    throw byServer(`environ['wsgi.multiprocess'] must be a boolean, got ${show(env['wsgi.multiprocess'])}`);
  }
  expectValue(env, 'wsgi.run_once', false);
  expectValue(env, 'wsgi.input_terminated', true);
  if (typeof env['wsgi.file_wrapper'] !== 'function') {
    throw byServer(`environ['wsgi.file_wrapper'] must be a function, got ${show(env['wsgi.file_wrapper'])}`);
  }
  if ('wsgi.early_hints' in env && typeof env['wsgi.early_hints'] !== 'function') {
    throw byServer(`environ['wsgi.early_hints'] must be a function when present, got ${show(env['wsgi.early_hints'])}`);
  }
  if (!(env['gwserver.signal'] instanceof AbortSignal)) {
    throw byServer(`environ['gwserver.signal'] must be an AbortSignal, got ${show(env['gwserver.signal'])}`);
  }
  const id = env['gwserver.request_id'];
  if (typeof id !== 'string' || id === '') {
    throw byServer(`environ['gwserver.request_id'] must be a non-empty string, got ${show(id)}`);
  }
  const worker = env['gwserver.worker_id'];
  if (!Number.isSafeInteger(worker) || (worker as number) < 0) {
    throw byServer(`environ['gwserver.worker_id'] must be a non-negative integer, got ${show(worker)}`);
  }
  const log = env['gwserver.log'];
  for (const m of LOG_METHODS) {
    if (!hasMethod(log, m)) {
      throw byServer(`environ['gwserver.log'] must be a logger with ${LOG_METHODS.join('/')}(), got ${show(log)} without ${m}()`);
    }
  }
}

function expectValue(env: Record<string, unknown>, key: string, value: boolean): void {
  if (env[key] !== value) throw byServer(`${ref(key)} must be ${value}, got ${show(env[key])}`);
}

// ---------------------------------------------------------------------------
// startResponse and write (the application's side)

function lintStartResponse(inner: StartResponse, st: RequestState): StartResponse {
  return function startResponse(status: string, headers: HeaderPair[], excInfo?: unknown): Write {
    if (st.closed) throw byApp('startResponse was called after the body was closed');
    if (st.ended) throw byApp('startResponse was called after the body ended');
    const retry = excInfo !== undefined && excInfo !== null;
    if (st.started && !retry) {
      throw byApp('startResponse was called a second time without excInfo; only an error handler may call it again, passing the caught error as excInfo');
    }
    let code: number;
    let length: number | undefined;
    try {
      code = parseStatus(status).code;
      checkHeaders(headers);
      length = contentLengthOf(headers);
    } catch (err) {
      // Same rules and words as the server's own check, blamed on the app.
      throw new LintError('application', (err as Error).message, { cause: err });
    }
    const sentBefore = st.sent;
    // Pass excInfo only when it was passed, so the server sees the same call.
    const write = arguments.length > 2 ? inner(status, headers, excInfo) : inner(status, headers);
    if (st.started && sentBefore > 0) {
      throw byServer(`startResponse(status, headers, excInfo) returned normally after ${sentBefore} body bytes had gone out; once the headers are sent it must re-throw excInfo`);
    }
    if (typeof write !== 'function') {
      throw byServer(`startResponse must return a write function, got ${show(write)}`);
    }
    st.started = true;
    // A HEAD, 204 or 304 response may state a Content-Length and send no body.
    st.expected = st.method === 'HEAD' || code === 204 || code === 304 ? undefined : length;
    return lintWrite(write, st);
  };
}

function lintWrite(inner: Write, st: RequestState): Write {
  return function write(chunk: Chunk): Promise<void> {
    try {
      if (st.closed) throw byApp('write() was called after the body was closed');
      if (st.ended) throw byApp('write() was called after the body ended');
      produce(st, chunk, WRITE);
    } catch (err) {
      // write() returns a promise: fail the way the server's write() would.
      return Promise.reject(err);
    }
    return inner(chunk);
  };
}

// Where a chunk came from, for messages (built only when something is wrong).
const WRITE = -1;
const WHOLE_BODY = -2;

function chunkName(where: number | string): string {
  if (typeof where === 'string') return where;
  if (where === WRITE) return 'the chunk passed to write()';
  if (where === WHOLE_BODY) return 'the body';
  return `chunk #${where} of the body`;
}

/** Checks and counts one piece of output. */
function produce(st: RequestState, chunk: unknown, where: number | string): void {
  let n: number;
  if (typeof chunk === 'string') n = chunk.length === 0 ? 0 : Buffer.byteLength(chunk);
  else if (chunk instanceof Uint8Array) n = chunk.byteLength;
  else throw byApp(`${chunkName(where)} must be a Uint8Array or a string, got ${show(chunk)}`);
  if (n === 0) return;
  if (!st.started) {
    throw byApp(`${chunkName(where)} is not empty, but startResponse has not been called yet; call it before producing output`);
  }
  st.sent += n;
  if (st.expected !== undefined && st.sent > st.expected) {
    throw byApp(`the response is longer than its Content-Length: ${st.sent} bytes so far, Content-Length is ${st.expected}`);
  }
}

/** The app's output is complete. */
function finish(st: RequestState): void {
  st.ended = true;
  if (!st.started) throw byApp('the body ended, but startResponse was never called');
  if (st.expected !== undefined && st.sent < st.expected) {
    throw byApp(`the response is shorter than its Content-Length: ${st.sent} of ${st.expected} bytes`);
  }
}

// ---------------------------------------------------------------------------
// The body (both sides: the app produces it, the server consumes and closes it)

// wsgiref's validator complains when a body is garbage-collected unclosed; this is the same,
// as a process warning, since there is no caller left to throw to.
const unclosed = new FinalizationRegistry<string>((message) => {
  process.emitWarning(message, { type: 'LintWarning', code: 'GW_APP_CONTRACT' });
});

function lintBody(body: unknown, st: RequestState, environ: Environ): Body {
  if (typeof body === 'string' || body instanceof Uint8Array) {
    if (!st.started) {
      throw byApp(`the application returned its body (${show(body)}) without calling startResponse first`);
    }
    produce(st, body, WHOLE_BODY);
    finish(st);
    return body;
  }
  if (body === null || (typeof body !== 'object' && typeof body !== 'function')) {
    throw byApp(`the application must return a body (an iterable or async iterable of chunks, a Uint8Array or a string), got ${show(body)}; return [] for an empty body`);
  }
  if (ArrayBuffer.isView(body)) {
    throw byApp(`the body must be a Uint8Array (or a string, or an iterable of chunks), got ${show(body)}`);
  }
  const obj = body as Record<PropertyKey, unknown>;
  const openSync = obj[Symbol.iterator];
  const openAsync = obj[Symbol.asyncIterator];
  if (typeof openSync !== 'function' && typeof openAsync !== 'function') {
    throw byApp(`the body must be an iterable or async iterable of chunks, a Uint8Array or a string, got ${show(body)}, which is not iterable`);
  }
  const close = obj.close;
  if (Array.isArray(body)) {
    // An array is finished when returned, and the server may read it more than once (to
    // add Content-Length): check it now, and hand it on unwrapped unless there is a close().
    if (!st.started) {
      throw byApp('the application returned an array body without calling startResponse first');
    }
    for (let i = 0; i < body.length; i++) produce(st, body[i], `body[${i}]`);
    finish(st);
    if (typeof close !== 'function' || pinned(body, 'close') || pinned(body, Symbol.iterator)) return body as Body;
    return watchClose(body, {
      [Symbol.iterator]: function iterator(): Iterator<unknown> {
        const it = (openSync as () => Iterator<unknown>).call(body);
        return {
          next(): IteratorResult<unknown> {
            if (st.closed) throw byServer('the server pulled a chunk from the body after closing it');
            return it.next();
          },
        };
      },
    }, close, st, environ);
  }

  let opened = false;
  const open = (): void => {
    if (st.closed) throw byServer('the server started iterating the body after closing it');
    if (opened) throw byServer('the server asked for the body\'s iterator a second time; a body is iterated once');
    opened = true;
  };
  const overrides: Record<PropertyKey, unknown> = {};
  if (typeof openSync === 'function') {
    overrides[Symbol.iterator] = function iterator(): LintIterator {
      open();
      return new LintIterator(iteratorOf(openSync.call(body)), st);
    };
  }
  if (typeof openAsync === 'function') {
    overrides[Symbol.asyncIterator] = function asyncIterator(): LintAsyncIterator {
      open();
      return new LintAsyncIterator(iteratorOf(openAsync.call(body)), st);
    };
  }
  if (typeof close !== 'function') return forward(body, overrides, false) as Body;
  return watchClose(body, overrides, close, st, environ);
}

/** Wraps a body that has a close(): the server must call it once, after stopping the iteration. */
function watchClose(
  body: object,
  overrides: Record<PropertyKey, unknown>,
  close: unknown,
  st: RequestState,
  environ: Environ,
): Body {
  overrides.close = function close_(): unknown {
    if (st.closed) throw byServer('close() was called a second time; the server must call it exactly once');
    if (st.iterating) {
      throw byServer('close() was called while the body was still being iterated; stop the iteration with the iterator\'s return() first');
    }
    st.closed = true;
    unclosed.unregister(st);
    return (close as () => unknown).call(body);
  };
  const wrapped = forward(body, overrides, Array.isArray(body));
  unclosed.register(
    wrapped,
    `validator (server): the body of ${environ.REQUEST_METHOD} ${environ.RAW_URI} (request ${environ['gwserver.request_id']}) was garbage-collected without close() being called`,
    st,
  );
  return wrapped as Body;
}

function iteratorOf(it: unknown): Iterator<unknown> & AsyncIterator<unknown> {
  if (!hasMethod(it, 'next')) throw byApp(`the body's iterator method must return an iterator (an object with next()), got ${show(it)}`);
  return it as Iterator<unknown> & AsyncIterator<unknown>;
}

/** A sync iterator over the app's body that checks each chunk as the server pulls it. */
class LintIterator implements IterableIterator<Chunk> {
  #it: Iterator<unknown>;
  #st: RequestState;
  #done = false;
  #n = 0;

  constructor(it: Iterator<unknown>, st: RequestState) {
    this.#it = it;
    this.#st = st;
    st.iterating = true;
  }

  next(): IteratorResult<Chunk> {
    const st = this.#st;
    if (st.closed) throw byServer('the server pulled a chunk from the body after closing it');
    if (this.#done) return { done: true, value: undefined };
    let r: IteratorResult<unknown>;
    try {
      r = this.#it.next();
    } catch (err) {
      this.#end();
      throw err;
    }
    if (r.done === true) {
      this.#end();
      finish(st);
      return r;
    }
    try {
      produce(st, r.value, this.#n++);
    } catch (err) {
      // Stop the app's body so that its finally blocks run; the server will still close().
      this.#end();
      try {
        this.#it.return?.();
      } catch {
        // The violation is the error worth reporting.
      }
      throw err;
    }
    return r as IteratorResult<Chunk>;
  }

  return(value?: unknown): IteratorResult<Chunk> {
    if (this.#done) return { done: true, value: undefined };
    this.#end();
    const it = this.#it;
    return (it.return ? it.return(value) : { done: true, value: undefined }) as IteratorResult<Chunk>;
  }

  throw(err?: unknown): IteratorResult<Chunk> {
    this.#end();
    const it = this.#it;
    if (it.throw) return it.throw(err) as IteratorResult<Chunk>;
    throw err;
  }

  [Symbol.iterator](): this {
    return this;
  }

  #end(): void {
    this.#done = true;
    this.#st.iterating = false;
  }
}

/** An async iterator over the app's body that checks each chunk and that pulls do not overlap. */
class LintAsyncIterator implements AsyncIterableIterator<Chunk> {
  #it: AsyncIterator<unknown>;
  #st: RequestState;
  #done = false;
  #pulling = false;
  #n = 0;

  constructor(it: AsyncIterator<unknown>, st: RequestState) {
    this.#it = it;
    this.#st = st;
    st.iterating = true;
  }

  next(): Promise<IteratorResult<Chunk>> {
    if (this.#st.closed) return Promise.reject(byServer('the server pulled a chunk from the body after closing it'));
    if (this.#pulling) {
      return Promise.reject(byServer('the server pulled a chunk before the previous pull had settled; pull one chunk at a time, after the last one was written'));
    }
    if (this.#done) return Promise.resolve({ done: true, value: undefined });
    this.#pulling = true;
    return this.#pull();
  }

  async #pull(): Promise<IteratorResult<Chunk>> {
    const st = this.#st;
    let r: IteratorResult<unknown>;
    try {
      r = await this.#it.next();
    } catch (err) {
      this.#end();
      throw err;
    } finally {
      this.#pulling = false;
    }
    // Stopped by return() while this pull was pending (the client went away): nothing to check.
    if (this.#done) return r as IteratorResult<Chunk>;
    if (r.done === true) {
      this.#end();
      finish(st);
      return r;
    }
    try {
      produce(st, r.value, this.#n++);
    } catch (err) {
      this.#end();
      try {
        await this.#it.return?.();
      } catch {
        // The violation is the error worth reporting.
      }
      throw err;
    }
    return r as IteratorResult<Chunk>;
  }

  async return(value?: unknown): Promise<IteratorResult<Chunk>> {
    if (this.#done) return { done: true, value: undefined };
    this.#end();
    const it = this.#it;
    return (it.return ? await it.return(value) : { done: true, value: undefined }) as IteratorResult<Chunk>;
  }

  async throw(err?: unknown): Promise<IteratorResult<Chunk>> {
    this.#end();
    const it = this.#it;
    if (it.throw) return (await it.throw(err)) as IteratorResult<Chunk>;
    throw err;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #end(): void {
    this.#done = true;
    this.#st.iterating = false;
  }
}

// ---------------------------------------------------------------------------
// wsgi.input and wsgi.errors

function lintInput(inner: InputStream, contentLength: string | undefined): InputStream {
  const declared = contentLength === undefined ? undefined : Number(contentLength);
  let pending = false;
  let total = 0;
  // Set once a read has signalled the end of the body; no data may follow it.
  let endedBy: string | undefined;

  const begin = (call: string): void => {
    if (pending) {
      throw byApp(`wsgi.input.${call} was started while another read was pending; await each read before starting the next`);
    }
    pending = true;
  };
  const buffer = (call: string, value: unknown): Buffer => {
    if (!Buffer.isBuffer(value)) throw byServer(`wsgi.input.${call} must resolve to a Buffer, got ${show(value)}`);
    return value;
  };
  const account = (call: string, buf: Buffer): void => {
    if (buf.length === 0) return;
    if (endedBy !== undefined) {
      throw byServer(`wsgi.input.${call} returned ${buf.length} bytes after ${endedBy}; a read may come up short only at the end of the body`);
    }
    total += buf.length;
    if (declared !== undefined && total > declared) {
      throw byServer(`wsgi.input yielded ${total} bytes, more than the ${declared} of environ.CONTENT_LENGTH`);
    }
  };

  const overrides = {
    async read(size?: number): Promise<Buffer> {
      checkSize('read', size);
      const call = size === undefined ? 'read()' : `read(${size})`;
      begin(call);
      let value: unknown;
      try {
        value = await (size === undefined ? inner.read() : inner.read(size));
      } finally {
        pending = false;
      }
      const buf = buffer(call, value);
      if (size !== undefined && buf.length > size) throw byServer(`wsgi.input.${call} returned ${buf.length} bytes`);
      account(call, buf);
      if (size === undefined) endedBy ??= `${call} had returned the rest of the body`;
      else if (buf.length < size) endedBy ??= `${call} had returned only ${buf.length} bytes`;
      return buf;
    },

    async readline(size?: number): Promise<Buffer> {
      checkSize('readline', size);
      const call = size === undefined ? 'readline()' : `readline(${size})`;
      begin(call);
      let value: unknown;
      try {
        value = await (size === undefined ? inner.readline() : inner.readline(size));
      } finally {
        pending = false;
      }
      const buf = buffer(call, value);
      const nl = buf.indexOf(10);
      if (nl >= 0 && nl !== buf.length - 1) throw byServer(`wsgi.input.${call} returned more than one line`);
      if (size !== undefined && buf.length > size) throw byServer(`wsgi.input.${call} returned ${buf.length} bytes`);
      account(call, buf);
      if (nl < 0 && (size === undefined || buf.length < size)) {
        endedBy ??= `${call} had returned ${buf.length === 0 ? 'nothing' : 'a last line without "\\n"'}`;
      }
      return buf;
    },

    async readlines(hint?: number): Promise<Buffer[]> {
      checkSize('readlines', hint);
      const call = hint === undefined ? 'readlines()' : `readlines(${hint})`;
      begin(call);
      let value: unknown;
      try {
        value = await (hint === undefined ? inner.readlines() : inner.readlines(hint));
      } finally {
        pending = false;
      }
      if (!Array.isArray(value)) throw byServer(`wsgi.input.${call} must resolve to an array of Buffers, got ${show(value)}`);
      let last: Buffer | undefined;
      for (let i = 0; i < value.length; i++) {
        last = buffer(call, value[i]);
        const nl = last.indexOf(10);
        if (nl < 0 ? i !== value.length - 1 : nl !== last.length - 1) {
          throw byServer(`wsgi.input.${call} returned something other than a line as line #${i}`);
        }
        account(call, last);
      }
      if (hint === undefined || hint === 0 || last === undefined || last[last.length - 1] !== 10) {
        endedBy ??= `${call} had returned the rest of the body`;
      }
      return value as Buffer[];
    },

    [Symbol.asyncIterator](): AsyncGenerator<Buffer> {
      return iterate();
    },
  };

  async function* iterate(): AsyncGenerator<Buffer> {
    const it = inner[Symbol.asyncIterator]();
    let finished = false;
    try {
      for (;;) {
        begin('[Symbol.asyncIterator]().next()');
        let r: IteratorResult<unknown>;
        try {
          r = await it.next();
        } finally {
          pending = false;
        }
        if (r.done === true) {
          finished = true;
          endedBy ??= 'the iteration had ended';
          return;
        }
        const buf = buffer('[Symbol.asyncIterator]().next()', r.value);
        account('[Symbol.asyncIterator]().next()', buf);
        yield buf;
      }
    } finally {
      // The app broke out of its loop (or a check failed): let the stream stop too.
      if (!finished) await it.return?.();
    }
  }

  return forward(inner, overrides, false);
}

function checkSize(method: string, size: unknown): void {
  if (size !== undefined && !(Number.isSafeInteger(size) && (size as number) >= 0)) {
    throw byApp(`wsgi.input.${method}(): the size must be a non-negative integer or omitted, got ${show(size)}`);
  }
}

function lintErrors(inner: ErrorStream): ErrorStream {
  return forward(inner, {
    write(text: unknown): void {
      if (typeof text !== 'string') throw byApp(`wsgi.errors.write() takes a string, got ${show(text)}`);
      inner.write(text);
    },
    writelines(lines: unknown): void {
      if (!hasMethod(lines, Symbol.iterator)) {
        throw byApp(`wsgi.errors.writelines() takes an iterable of strings, got ${show(lines)}`);
      }
      const all: string[] = [];
      for (const line of lines as Iterable<unknown>) {
        if (typeof line !== 'string') throw byApp(`wsgi.errors.writelines() takes strings, got ${show(line)} among them`);
        all.push(line);
      }
      inner.writelines(all);
    },
    flush(): void {
      inner.flush();
    },
  }, false);
}

// ---------------------------------------------------------------------------
// Helpers

/**
 * A Proxy of `target` that answers `overrides` itself and forwards everything
 * else, with methods bound to the target so that private fields and native
 * internals keep working; the prototype is the target's, so `instanceof` and
 * `Array.isArray` see the original. Used only for keys the target has.
 */
function forward<T extends object>(target: T, overrides: Record<PropertyKey, unknown>, isArray: boolean): T {
  for (const key of Reflect.ownKeys(overrides)) {
    // A frozen own property cannot be answered differently by a proxy (it would throw a
    // TypeError on access): give up on watching such a body rather than break it.
    if (pinned(target, key)) return isArray ? target : ({ ...overrides } as T);
  }
  return new Proxy(target, {
    get(t, key) {
      if (Object.hasOwn(overrides, key)) return overrides[key];
      const value: unknown = Reflect.get(t, key, t);
      return typeof value === 'function' && key !== 'constructor' ? value.bind(t) : value;
    },
  });
}

/**
 * Sets an environ key. A server may build some keys lazily as getter-only
 * properties (which a plain assignment would fail on), so define a data property.
 */
function replace(environ: Environ, key: string, value: unknown): void {
  Object.defineProperty(environ, key, { value, writable: true, enumerable: true, configurable: true });
}

function pinned(obj: object, key: PropertyKey): boolean {
  const d = Object.getOwnPropertyDescriptor(obj, key);
  return d !== undefined && d.configurable === false && d.writable === false;
}

function hasMethod(obj: unknown, key: PropertyKey): boolean {
  return (typeof obj === 'object' || typeof obj === 'function') && obj !== null
    && typeof (obj as Record<PropertyKey, unknown>)[key] === 'function';
}

function methodName(key: string | symbol): string {
  return typeof key === 'string' ? key : `[${key.description}]`;
}

/** `environ.KEY` for CGI names, `environ['wsgi.key']` for dotted ones. */
function ref(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `environ.${key}` : `environ['${key}']`;
}

/** A short description of a value for messages. */
function show(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);
    case 'undefined':
      return 'undefined';
    case 'bigint':
      return `${v}n`;
    case 'function':
      return v.name ? `the function ${v.name}` : 'a function';
    case 'object': {
      if (v === null) return 'null';
      if (Array.isArray(v)) return `an array of length ${v.length}`;
      const proto: unknown = Object.getPrototypeOf(v);
      const ctor = proto === null ? undefined : (proto as { constructor?: unknown }).constructor;
      const name = typeof ctor === 'function' ? ctor.name : '';
      if (name === '' || name === 'Object') return 'a plain object';
      return `${/^[AEIO]/.test(name) ? 'an' : 'a'} ${name}`;
    }
    default:
      return String(v);
  }
}
