/**
 * Runs an existing `node:http` request handler (Express, Connect, Koa's
 * `app.callback()`, a plain `(req, res) => ...`) as a gateway application, so
 * that gwserver can host it.
 *
 * The handler gets a real `http.IncomingMessage` and a real
 * `http.ServerResponse`, so that everything frameworks read from them
 * (`headers`, `headersSent`, `getHeader()`, `writableEnded`, 'finish' and
 * 'close' events, `instanceof` checks) behaves as in a node:http server. Both
 * sit on a stand-in socket that is never connected: no HTTP bytes are
 * produced or parsed. Instead:
 *
 * - the request body is pushed into `req` from `wsgi.input`, one chunk each
 *   time the handler's stream asks for more (backpressure up to the socket);
 * - `writeHead` (explicit, or implicit on the first `write`/`end`) calls
 *   `startResponse` with the status and `getHeaders()`, minus hop-by-hop
 *   headers (the server frames the response);
 * - `write`/`end` queue chunks that the server pulls one at a time; `write`
 *   returns false over the high-water mark and 'drain' follows when the
 *   server has taken the queue, so `pipe()` and `pipeline()` keep their
 *   backpressure.
 *
 * The overrides are own properties of the two objects, not a subclass:
 * Express replaces the prototypes of `req` and `res` with its own (which
 * inherit from node's), and would silently drop subclass methods.
 *
 * @module
 */
import { IncomingMessage, ServerResponse, type OutgoingHttpHeader, type OutgoingHttpHeaders } from 'node:http';
import { Socket } from 'node:net';
import { GatewayError } from '../errors.js';
import { isThenable } from '../gateway/exchange.js';
import { forgetHead, implicitHeader } from '../gateway/response-internals.js';
import { HOP_BY_HOP, isConnectionClose } from '../gateway/start-response.js';
import type { Application, Body, Chunk, Environ, HeaderPair, StartResponse } from '../gateway/types.js';
import { originTarget } from './target.js';

import { mark, type NodeHandler, type ServerHook, type UpgradeHandler } from './kinds.js';

export type { NodeHandler, UpgradeHandler, ServerHook } from './kinds.js';

/** Options of {@link fromNodeHandler}. */
export interface FromNodeHandlerOptions {
  /**
   * Bytes of response body the adapter queues before `res.write()` returns
   * false (default 16 KiB, node's socket default).
   */
  highWaterMark?: number;
  /**
   * Takes the worker's `'upgrade'` events (WebSocket handshakes), e.g.
   * `(req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))`.
   * Only when gwserver serves this app at the top level (natively); a worker
   * without one answers an upgrade request as a plain request.
   */
  upgrade?: UpgradeHandler;
  /** Called with each `http.Server` the worker listens with, before it accepts (socket.io and the like). */
  onServer?: ServerHook;
}

type WriteCallback = (err?: Error | null) => void;

const writeHeadOriginal = ServerResponse.prototype.writeHead as (this: ServerResponse, code: number, reason?: string) => ServerResponse;

function nodeError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/**
 * Runs a `node:http` handler as a gateway application.
 *
 * `req.url` is the target below `SCRIPT_NAME` (Connect's and Express's mount
 * convention); when the app is mounted under a prefix, `req.originalUrl`
 * holds the whole target. `req.socket` carries `remoteAddress`,
 * `remotePort` and (over TLS) `encrypted` from the environ.
 *
 * The application resolves once the status and headers are known (the
 * handler called `writeHead`, or wrote, or ended); if the whole response was
 * written by then (`res.end(body)` in one go), the body is an array so the
 * server can send `Content-Length`. When the client goes away, `req` is
 * destroyed ('aborted', 'close') and `res` emits 'close', as node:http does.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { fromNodeHandler } from 'gwserver';
 *
 * const app = express();
 * app.get('/', (req, res) => res.json({ hello: 'world' }));
 * export const application = fromNodeHandler(app);
 * ```
 */
export function fromNodeHandler(handler: NodeHandler, options: FromNodeHandlerOptions = {}): Application {
  const highWaterMark = options.highWaterMark ?? 16 * 1024;
  const app = function nodeHandlerApplication(environ: Environ, startResponse: StartResponse): Promise<Body> {
    return new NodeExchange(environ, startResponse, highWaterMark).run(handler);
  };
  // A worker serving this app at the top level serves the handler itself (the node interface).
  return mark(app, { kind: 'node', handler, upgrade: options.upgrade, onServer: options.onServer });
}

/**
 * The socket under `req` and `res`: never connected, it writes nowhere and
 * reads nothing. It answers what frameworks ask a socket (the peer's address,
 * `encrypted`, `writable`), and destroying it is how `res` gets its 'close'.
 */
class StandInSocket extends Socket {
  constructor(environ: Environ) {
    super();
    const remoteAddress = typeof environ.REMOTE_ADDR === 'string' ? environ.REMOTE_ADDR : undefined;
    const port = (v: unknown) => (typeof v === 'string' && v !== '' ? Number(v) : undefined);
    // net.Socket reads these from its handle (there is none): own properties shadow its getters.
    Object.defineProperties(this, {
      remoteAddress: { value: remoteAddress, configurable: true, enumerable: true },
      remotePort: { value: port(environ.REMOTE_PORT), configurable: true, enumerable: true },
      remoteFamily: { value: remoteAddress?.includes(':') ? 'IPv6' : 'IPv4', configurable: true, enumerable: true },
      localPort: { value: port(environ.SERVER_PORT), configurable: true, enumerable: true },
    });
    // What tls.TLSSocket says, and what Express's req.protocol/req.secure read.
    if (environ['wsgi.url_scheme'] === 'https') (this as { encrypted?: boolean }).encrypted = true;
  }

  override _write(_chunk: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    callback();
  }

  override _writev(_chunks: unknown, callback: (error?: Error | null) => void): void {
    callback();
  }

  override _read(): void {}
}

type State = 'open' | 'discarding' | 'finished' | 'aborted';

interface Queued {
  buf: Buffer;
  cb: WriteCallback | undefined;
}

/** One request through {@link fromNodeHandler}. */
class NodeExchange {
  readonly environ: Environ;
  readonly startResponse: StartResponse;
  readonly hwm: number;
  readonly socket: StandInSocket;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly signal: AbortSignal | undefined;

  #resolve!: (body: Body) => void;
  #reject!: (err: unknown) => void;
  #settled = false;
  #headersKnown = false;
  #noBody = false;
  #ended = false;
  #state: State = 'open';
  #queue: Queued[] = [];
  #size = 0;
  #needDrain = false;
  #error: unknown;
  #wake: (() => void) | undefined;
  #socketError: Error | undefined;

  constructor(environ: Environ, startResponse: StartResponse, hwm: number) {
    this.environ = environ;
    this.startResponse = startResponse;
    this.hwm = hwm;
    const signal = environ['gwserver.signal'];
    this.signal = signal instanceof AbortSignal ? signal : undefined;
    this.socket = new StandInSocket(environ);
    this.req = this.#makeRequest();
    this.res = this.#makeResponse();
    this.socket.on('error', (err) => {
      this.#socketError ??= err;
    });
    this.socket.on('close', () => this.#onSocketClose());
    this.socket.on('timeout', () => this.#onTimeout());
  }

  run(handler: NodeHandler): Promise<Body> {
    const body = new Promise<Body>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    if (this.signal?.aborted) {
      this.#teardown(new GatewayError('GW_CLIENT_GONE', 'the client went away'));
      return body;
    }
    this.signal?.addEventListener('abort', this.#onAbort, { once: true });
    try {
      const r = handler(this.req, this.res);
      if (isThenable(r)) r.then(undefined, (err: unknown) => this.#handlerFailed(err));
    } catch (err) {
      this.#handlerFailed(err);
    }
    return body;
  }

  // -- the request ----------------------------------------------------------

  #makeRequest(): IncomingMessage {
    const environ = this.environ;
    const req = new IncomingMessage(this.socket);
    req.method = environ.REQUEST_METHOD;
    req.url = originTarget(environ, true);
    if (environ.SCRIPT_NAME) (req as { originalUrl?: string }).originalUrl = originTarget(environ);
    const m = /^HTTP\/(\d)\.(\d)$/.exec(String(environ.SERVER_PROTOCOL));
    req.httpVersionMajor = m ? Number(m[1]) : 1;
    req.httpVersionMinor = m ? Number(m[2]) : 1;
    req.httpVersion = `${req.httpVersionMajor}.${req.httpVersionMinor}`;
    const headers: Record<string, string> = {};
    const raw: string[] = [];
    const add = (name: string, value: unknown) => {
      if (typeof value !== 'string') return;
      headers[name] = value;
      raw.push(name, value);
    };
    for (const key in environ) {
      if (key.length > 5 && key.startsWith('HTTP_')) add(key.slice(5).toLowerCase().replace(/_/g, '-'), environ[key]);
    }
    add('content-type', environ.CONTENT_TYPE);
    add('content-length', environ.CONTENT_LENGTH);
    req.headers = headers;
    req.rawHeaders = raw;

    const length = environ.CONTENT_LENGTH;
    const hasBody = (typeof length === 'string' && Number(length) > 0) || environ.HTTP_TRANSFER_ENCODING !== undefined;
    const input = environ['wsgi.input'];
    let it: AsyncIterator<Buffer> | undefined;
    let reading = false;
    const internal = req as unknown as { _consuming: boolean; _readableState: { readingMore: boolean } };
    // Pulled, not pushed: the next chunk is read from wsgi.input only when
    // the handler's stream wants more, so an unread upload stays on the wire.
    // The iterator yields chunks as they arrive (read(n) would wait for n bytes).
    req._read = () => {
      if (!internal._consuming) {
        // IncomingMessage starts with readingMore set (its parser pushes on
        // its own); as node's own _read does, clear it once someone reads, or
        // a stream in flowing mode never asks for the second chunk.
        internal._readableState.readingMore = false;
        internal._consuming = true;
      }
      if (reading) return;
      if (!hasBody) {
        req.complete = true;
        req.push(null);
        return;
      }
      reading = true;
      it ??= input[Symbol.asyncIterator]();
      it.next().then(
        (r) => {
          reading = false;
          if (req.destroyed) return;
          if (r.done) {
            req.complete = true;
            req.push(null);
          } else {
            req.push(r.value);
          }
        },
        (err: unknown) => {
          reading = false;
          // As node:http does for a body cut short: 'aborted', then 'error' (if listened for), 'close'.
          req.destroy(err instanceof Error ? err : new Error(String(err)));
        },
      );
    };
    return req;
  }

  // -- the response ---------------------------------------------------------

  #makeResponse(): ServerResponse {
    const ex = this;
    const res = new ServerResponse(this.req);
    res.assignSocket(this.socket);

    res.writeHead = function writeHead(this: ServerResponse, statusCode: number, reason?: unknown, obj?: unknown): ServerResponse {
      if (ex.#headersKnown) return writeHeadOriginal.call(this, statusCode); // throws ERR_HTTP_HEADERS_SENT
      let headers = obj;
      let message: string | undefined;
      if (typeof reason === 'string') message = reason;
      else headers = reason;
      // Into the setHeader() store, so that getHeaders() sees every header
      // (node keeps writeHead's own headers apart when none were set before).
      if (headers !== undefined && headers !== null) mergeHeaders(this, headers as OutgoingHttpHeaders | OutgoingHttpHeader[]);
      writeHeadOriginal.call(this, statusCode, message);
      try {
        ex.#head();
      } catch (err) {
        // Refused by startResponse: the headers are not sent after all.
        forgetHead(this);
        throw err;
      }
      return this;
    } as ServerResponse['writeHead'];

    res.write = function write(this: ServerResponse, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
      if (typeof encoding === 'function') {
        cb = encoding;
        encoding = undefined;
      }
      return ex.#write(chunk, encoding as BufferEncoding | undefined, cb as WriteCallback | undefined);
    } as ServerResponse['write'];

    res.end = function end(this: ServerResponse, chunk?: unknown, encoding?: unknown, cb?: unknown): ServerResponse {
      if (typeof chunk === 'function') {
        cb = chunk;
        chunk = undefined;
        encoding = undefined;
      } else if (typeof encoding === 'function') {
        cb = encoding;
        encoding = undefined;
      }
      ex.#end(chunk, encoding as BufferEncoding | undefined, cb as WriteCallback | undefined);
      return this;
    } as ServerResponse['end'];

    res.flushHeaders = function flushHeaders(this: ServerResponse): void {
      if (!ex.#headersKnown) implicitHeader(this);
      ex.#settle();
    };
    // Informational responses are the server's: it sends 100 Continue on the
    // first read of wsgi.input, and 103 through wsgi.early_hints when it can.
    res.writeContinue = (cb?: () => void) => {
      if (cb) process.nextTick(cb);
    };
    res.writeProcessing = () => {};
    res.writeEarlyHints = (hints: Record<string, string | string[]>, cb?: () => void) => {
      const send = ex.environ['wsgi.early_hints'];
      if (typeof send === 'function' && !ex.#headersKnown) {
        const pairs: HeaderPair[] = [];
        for (const name of Object.keys(hints)) {
          const v = hints[name]!;
          for (const one of Array.isArray(v) ? v : [v]) pairs.push([name, String(one)]);
        }
        send(pairs);
      }
      if (cb) process.nextTick(cb);
    };

    // node derives these from its socket's buffer; here the queue is the buffer.
    Object.defineProperties(res, {
      writableLength: { configurable: true, get: () => ex.#size },
      writableNeedDrain: { configurable: true, get: () => ex.#needDrain && ex.#state === 'open' },
      writableFinished: { configurable: true, get: () => ex.#state === 'finished' },
    });
    return res;
  }

  /** Headers are final: hand them to startResponse. */
  #head(): void {
    const res = this.res;
    const pairs: HeaderPair[] = [];
    // Raw names keep the handler's casing (getHeaders() lower-cases them).
    for (const name of (res as unknown as { getRawHeaderNames(): string[] }).getRawHeaderNames()) {
      const value = res.getHeader(name);
      if (value === undefined) continue;
      // Connection: close goes through: the gateway server closes after the response.
      if (HOP_BY_HOP.has(name.toLowerCase()) && !isConnectionClose(name, String(value))) continue;
      if (Array.isArray(value)) for (const v of value) pairs.push([name, String(v)]);
      else pairs.push([name, String(value)]);
    }
    this.startResponse(`${res.statusCode} ${res.statusMessage}`, pairs);
    this.#headersKnown = true;
    // node:http sends no body with these, whatever the handler writes.
    this.#noBody = res.statusCode === 204 || res.statusCode === 304;
    // A handler that ends in the same tick (res.writeHead(); res.end(body))
    // gets an array body, which the server can frame with Content-Length.
    process.nextTick(() => this.#settle());
  }

  #write(chunk: unknown, encoding: BufferEncoding | undefined, cb: WriteCallback | undefined): boolean {
    const res = this.res;
    if (this.#state === 'aborted' || res.destroyed) {
      const err = nodeError('ERR_STREAM_DESTROYED', 'Cannot call write after a stream was destroyed');
      if (cb) process.nextTick(cb, err);
      return false;
    }
    if (res.writableEnded) {
      this.#writeAfterEnd(cb);
      return false;
    }
    const buf = toBuffer(chunk, encoding, 'write');
    if (!this.#headersKnown) implicitHeader(res);
    return this.#push(buf, cb);
  }

  #end(chunk: unknown, encoding: BufferEncoding | undefined, cb: WriteCallback | undefined): void {
    const res = this.res;
    if (res.writableEnded) {
      if (cb) {
        if (this.#state === 'finished') process.nextTick(cb, nodeError('ERR_STREAM_ALREADY_FINISHED', 'Cannot call end after a stream was finished'));
        else res.once('finish', () => cb());
      }
      return;
    }
    if (this.#state === 'aborted' || res.destroyed) {
      if (cb) process.nextTick(cb, nodeError('ERR_STREAM_DESTROYED', 'Cannot call end after a stream was destroyed'));
      return;
    }
    const buf = chunk === undefined || chunk === null ? undefined : toBuffer(chunk, encoding, 'end');
    if (!this.#headersKnown) implicitHeader(res);
    if (buf !== undefined) this.#push(buf, undefined);
    res.finished = true;
    if (cb) res.once('finish', () => cb());
    this.#ended = true;
    this.#wakeUp();
    if (this.#state === 'discarding') this.#finish();
    else this.#settle();
  }

  #push(buf: Buffer, cb: WriteCallback | undefined): boolean {
    if (this.#noBody || this.#state === 'discarding' || buf.length === 0) {
      if (cb) process.nextTick(cb);
      return this.#size < this.hwm;
    }
    this.#queue.push({ buf, cb });
    this.#size += buf.length;
    this.#wakeUp();
    if (this.#size >= this.hwm) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  #writeAfterEnd(cb: WriteCallback | undefined): void {
    const err = nodeError('ERR_STREAM_WRITE_AFTER_END', 'write after end');
    if (cb) process.nextTick(cb, err);
    // node:http emits 'error', which takes a process down when nobody
    // listens; one request must not take down the worker.
    if (this.res.listenerCount('error') > 0) process.nextTick(() => this.res.emit('error', err));
    else this.environ['gwserver.log']?.error({ err }, 'the node handler wrote after ending its response');
  }

  /** Resolves the application's promise once headers are known: an array if the handler has ended, else a stream. */
  #settle(): void {
    if (this.#settled || !this.#headersKnown || this.#state === 'aborted') return;
    this.#settled = true;
    if (this.#ended) {
      const chunks = this.#queue.splice(0);
      this.#size = 0;
      for (const c of chunks) if (c.cb) process.nextTick(c.cb);
      const body = chunks.map((c) => c.buf) as Chunk[] & { close?(): void };
      body.close = () => this.#stop();
      this.#resolve(body);
      return;
    }
    const iterator: AsyncIterator<Chunk> = {
      next: () => this.#next(),
      return: async () => {
        this.#stop();
        return { done: true, value: undefined };
      },
    };
    this.#resolve({ [Symbol.asyncIterator]: () => iterator, close: () => this.#stop() });
  }

  /** The server pulls one chunk; taking it is what "flushed" means for write callbacks and 'drain'. */
  async #next(): Promise<IteratorResult<Chunk>> {
    for (;;) {
      if (this.#error !== undefined) throw this.#error;
      const c = this.#queue.shift();
      if (c !== undefined) {
        this.#size -= c.buf.length;
        if (c.cb) process.nextTick(c.cb);
        if (this.#needDrain && this.#size === 0) {
          this.#needDrain = false;
          process.nextTick(() => this.res.emit('drain'));
        }
        return { done: false, value: c.buf };
      }
      if (this.#ended) {
        this.#finish();
        return { done: true, value: undefined };
      }
      if (this.#state !== 'open') return { done: true, value: undefined };
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** The server stopped the body (return() or close()). */
  #stop(): void {
    if (this.#state === 'finished' || this.#state === 'aborted') return;
    if (this.signal?.aborted) {
      this.#teardown(new GatewayError('GW_CLIENT_GONE', 'the client went away'));
      return;
    }
    if (this.#ended) {
      // Everything was written (the server stops early for HEAD, or at Content-Length).
      this.#flushCallbacks(undefined);
      this.#finish();
      return;
    }
    if (this.req.method === 'HEAD') {
      // The server sent the headers and wants no body: let the handler finish writing into the void.
      this.#state = 'discarding';
      this.#flushCallbacks(undefined);
      if (this.#needDrain) {
        this.#needDrain = false;
        process.nextTick(() => this.res.emit('drain'));
      }
      return;
    }
    this.#teardown(nodeError('ERR_STREAM_PREMATURE_CLOSE', 'the server stopped reading the response before it ended'));
  }

  #flushCallbacks(err: Error | undefined): void {
    for (const c of this.#queue.splice(0)) if (c.cb) process.nextTick(c.cb, err);
    this.#size = 0;
  }

  /** The response went out whole: 'finish', then 'close' (through the socket, as node does). */
  #finish(): void {
    if (this.#state === 'finished' || this.#state === 'aborted') return;
    this.#state = 'finished';
    this.signal?.removeEventListener('abort', this.#onAbort);
    process.nextTick(() => {
      this.res.emit('finish');
      this.#endRequest();
      this.socket.setTimeout(0);
      this.socket.destroy();
    });
  }

  /**
   * Ends a request body the handler never read, as node:http's dump does,
   * but without reading it: the gateway server drains or drops what is left.
   */
  #endRequest(): void {
    const req = this.req as IncomingMessage & { _consuming: boolean; _dumped: boolean };
    if (req._consuming || req.readableEnded || req.destroyed) return;
    req._dumped = true;
    req.complete = true;
    req.push(null);
    req.resume();
  }

  readonly #onAbort = (): void => {
    this.#teardown(new GatewayError('GW_CLIENT_GONE', 'the client went away'));
  };

  /**
   * Ends the exchange abnormally: the app's promise rejects (before
   * headers) or the body fails (after), pending write callbacks get an
   * error, `req` is destroyed and `res` closed, as node:http does when the
   * connection drops.
   */
  #teardown(err: unknown): void {
    if (this.#state === 'finished' || this.#state === 'aborted') return;
    this.#state = 'aborted';
    this.signal?.removeEventListener('abort', this.#onAbort);
    this.#flushCallbacks(nodeError('ERR_STREAM_DESTROYED', 'Cannot call write after a stream was destroyed'));
    if (!this.#settled) {
      this.#settled = true;
      this.#reject(err);
    } else if (!(err instanceof GatewayError && err.code === 'GW_CLIENT_GONE')) {
      this.#error = err;
    }
    this.#wakeUp();
    if (!this.req.destroyed) this.req.destroy(nodeError('ECONNRESET', 'aborted'));
    this.socket.setTimeout(0);
    this.socket.destroy();
  }

  #handlerFailed(err: unknown): void {
    if (this.#state === 'finished' || this.#state === 'aborted' || this.res.writableEnded) {
      // The response is complete (or gone): nothing to fail, but not silent either.
      this.environ['gwserver.log']?.error({ err }, 'the node handler threw after its response ended');
      return;
    }
    this.#teardown(err);
  }

  /** The handler destroyed the socket (res.destroy(), req.destroy() mid-body, a timeout): node:http would reset the connection. */
  #onSocketClose(): void {
    if (this.#state !== 'open' && this.#state !== 'discarding') return;
    if (this.#ended) return; // Ended first: the queued body still goes out.
    this.#teardown(this.#socketError ?? new Error('the node handler destroyed the response before ending it'));
  }

  /** A timeout the handler set with req/res.setTimeout(): as node:http, the socket is destroyed unless someone listens. */
  #onTimeout(): void {
    const reqTimeout = !this.req.complete && this.req.emit('timeout', this.socket);
    const resTimeout = this.res.emit('timeout', this.socket);
    if (!reqTimeout && !resTimeout) this.socket.destroy();
  }
}

function toBuffer(chunk: unknown, encoding: BufferEncoding | undefined, op: string): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, encoding ?? 'utf8');
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (chunk === null) throw Object.assign(new TypeError('May not write null values to stream'), { code: 'ERR_STREAM_NULL_VALUES' });
  throw Object.assign(
    new TypeError(`The "chunk" argument of res.${op}() must be of type string or an instance of Buffer or Uint8Array. Received ${typeof chunk}`),
    { code: 'ERR_INVALID_ARG_TYPE' },
  );
}

/** writeHead's headers, object or array form, into the setHeader() store (they override, repeats in an array add up). */
function mergeHeaders(res: ServerResponse, headers: OutgoingHttpHeaders | OutgoingHttpHeader[]): void {
  if (!Array.isArray(headers)) {
    for (const name of Object.keys(headers)) {
      const value = headers[name];
      if (name && value !== undefined) res.setHeader(name, value);
    }
    return;
  }
  const pairs: Array<[string, string | string[] | number]> = [];
  if (headers.length > 0 && Array.isArray(headers[0])) {
    for (const entry of headers as unknown as Array<[string, string]>) pairs.push([entry[0], entry[1]]);
  } else {
    if (headers.length % 2 !== 0) {
      throw Object.assign(new TypeError('The argument \'headers\' must have an even number of entries'), { code: 'ERR_INVALID_ARG_VALUE' });
    }
    for (let i = 0; i < headers.length; i += 2) pairs.push([String(headers[i]), headers[i + 1] as string]);
  }
  for (const [name] of pairs) res.removeHeader(name);
  for (const [name, value] of pairs) if (name) res.appendHeader(name, typeof value === 'number' ? String(value) : value);
}
