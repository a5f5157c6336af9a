/**
 * Runs a gateway application for one `node:http` request: refuse what must
 * never reach the app, build the environ, call the app, frame and stream
 * the body with backpressure, close the body. The sequence is fixed (as in
 * wsgiref's `BaseHandler.run`) and `close()` runs on every path.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { DEFAULTS } from '../config/settings.js';
import { GatewayError } from '../errors.js';
import { createLogger, type Logger } from '../logging/logger.js';
import { proxyTrust, requestEnviron, type EnvironSettings } from './environ.js';
import { ResponseExchange, isThenable } from './exchange.js';
import { fileWrapper } from './file-wrapper.js';
import { EMPTY_INPUT, RequestInput } from './input.js';
import { storeHead } from './response-internals.js';
import { bodyLength, checkLimits, STATUS_TEXT, VALID_REQUEST_ID, type RequestLimits } from './request-checks.js';
import { inspectHeaders, isToken } from './start-response.js';
import type { Application, Chunk, Environ, ErrorStream, HeaderPair, RequestLogger } from './types.js';

/** Settings of {@link createHandler}; every one has gunicorn's default. */
export interface HandlerOptions {
  /** The error logger (default: JSON lines on stderr). */
  logger?: Logger;
  /** `SCRIPT_NAME` prefix the app is mounted at (`--root-path`). */
  rootPath?: string;
  /** Whether more than one worker runs the app (`wsgi.multiprocess`). */
  multiprocess?: boolean;
  /** `gwserver.worker_id`. */
  workerId?: number;
  /** Peers trusted to set X-Forwarded-For/-Proto (default `127.0.0.1,::1`, as `--forwarded-allow-ips`). */
  forwardedAllowIps?: string | string[];
  /** Longest request line in bytes, else 414 (default 4094; 0: no limit up to 8190, as `--limit-request-line`). */
  limitRequestLine?: number;
  /** Most header fields, else 431 (default 100; 0: 32768, as `--limit-request-fields`). */
  limitRequestFields?: number;
  /** Longest header field (`name: value`) in bytes, else 431 (default 8190; 0: the default, as gunicorn and `--limit-request-field-size`). */
  limitRequestFieldSize?: number;
  /** Largest request body in bytes, else 413 (default 0: no limit). */
  limitRequestBody?: number;
  /** Runs before the app is called (the preRequest hook); may be async. */
  preRequest?: (environ: Environ) => unknown;
  /** Runs once the response is over (the postRequest hook), with the status line. */
  postRequest?: (environ: Environ, status: string) => unknown;
  /**
   * No other code sets headers on the responses (true in gwserver's worker
   * server), so the handler need not look for headers set before it.
   * @internal
   */
  ownsResponses?: boolean;
  /**
   * The request header whose value becomes the request id when it is valid
   * (1 to 200 of `A-Z a-z 0-9 - _ . : + = / @ ~`), and the response header
   * that returns the id. Default `X-Request-ID`; '' makes every id here and
   * sends none back.
   */
  requestIdHeader?: string;
  /** Told of every request as it starts and as it ends (the access log and the metrics). */
  observer?: RequestObserver;
  /** Seconds the app has to send its response headers, else 503 (`--response-timeout`; 0, the default: no deadline). */
  responseTimeout?: number;
}

/**
 * A request as it ended, for the access log and the metrics. It is the
 * handler's own state, valid during {@link RequestObserver.requestEnded}
 * only: copy what you keep.
 */
export interface ExchangeRecord {
  readonly req: IncomingMessage;
  /** `gwserver.request_id`. */
  readonly requestId: string;
  /** The environ, or undefined for a request refused before it was built. */
  readonly environ: Environ | undefined;
  /**
   * The status sent; 499 (nginx's "client closed request") when the client
   * went away before a status was sent.
   */
  readonly loggedStatus: number;
  /** The response headers of the app (or of gwserver's own error response). */
  readonly headers: readonly HeaderPair[];
  /** Response body bytes written. */
  readonly sent: number;
  /** Request body bytes read. */
  readonly received: number;
  /** `performance.now()` when the request reached the handler. */
  readonly startedAt: number;
  /** `performance.now()` when the response ended or the client went away: read once for every observer. */
  readonly endedAt: number;
  /** The response was written whole (false: the client went away, or it was cut). */
  readonly completed: boolean;
  /** The app missed `--response-timeout`: gwserver answered 503. */
  readonly timedOut: boolean;
}

/**
 * What {@link HandlerOptions.observer} implements. Both calls are on the
 * request path: keep them cheap. Leave out what you do not need: without
 * `requestEnded` a request is not timed and a response answered in the
 * tick it arrived in is not followed to its end.
 */
export interface RequestObserver {
  requestStarted?(): void;
  requestEnded?(record: ExchangeRecord): void;
}


/** How much of a body the app did not read is read and dropped to keep the connection. */
export const DRAIN_LIMIT = 256 * 1024;

const kExchange = Symbol('gwserver.exchange');
type TrackedSocket = Socket & { [kExchange]?: Exchange };
type TrackedResponse = ServerResponse & { [kExchange]?: Exchange };

function runExchange(ex: Exchange): void {
  ex.run();
}

function expireExchange(ex: Exchange): void {
  ex.expire();
}

/** The response's 'close' listener: one function for every response (no closure per request). */
function onResponseClose(this: TrackedResponse): void {
  this[kExchange]!.onClose();
}

interface Shared extends RequestLimits {
  app: Application;
  logger: Logger;
  environ: EnvironSettings;
  workerId: number;
  /** The worker is shutting down: every response closes its connection. */
  stopping: boolean;
  preRequest: HandlerOptions['preRequest'];
  postRequest: HandlerOptions['postRequest'];
  /** Nothing but this handler touches the responses (gwserver's own worker server). */
  ownsResponses: boolean;
  /** The request id header as configured, and lower-cased ('' = off). */
  idHeader: string;
  idHeaderLower: string;
  /** The observer, when it has requestStarted / requestEnded. */
  starts: RequestObserver | undefined;
  ends: RequestObserver | undefined;
  /** --response-timeout in ms (0: off). */
  responseMs: number;
}

/** Whether `name` is `lower` in any case (`lower` is lower-case); no allocation. */
function sameName(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** Whether the app set a header of this name (`lower`: lower-case). */
function hasHeader(headers: readonly HeaderPair[], lower: string): boolean {
  for (let i = 0; i < headers.length; i++) {
    if (sameName(headers[i]![0], lower)) return true;
  }
  return false;
}

/** Shared by every environ (frozen: an app cannot change it for the others). */
const WSGI_VERSION = Object.freeze([1, 0]) as [1, 0];

/** The exchange an environ belongs to (a symbol: invisible to Object.keys and JSON). */
const kOwner = Symbol('gwserver.exchange');
type OwnedEnviron = Record<string | symbol, unknown> & { [kOwner]: Exchange };

/**
 * An environ key computed on first read, and replaced by a plain value when
 * assigned (middleware may set any key). The same getter and setter serve
 * every request, so that every environ shares one shape: per-request
 * closures here gave each environ a hidden class of its own.
 */
function lazyKey(key: string, get: (ex: Exchange) => unknown): PropertyDescriptor {
  return {
    enumerable: true,
    configurable: true,
    get(this: OwnedEnviron) {
      return get(this[kOwner]);
    },
    set(this: OwnedEnviron, value: unknown) {
      Object.defineProperty(this, key, { value, writable: true, enumerable: true, configurable: true });
    },
  };
}

// An AbortController costs microseconds: made only when an app reads the signal.
const SIGNAL_KEY = lazyKey('gwserver.signal', (ex) => ex.signal());

const DONE = Promise.resolve();

/**
 * One request/response on `node:http`: the checks, the environ, the call of
 * the app (with its synchronous fast path), and the transport under the
 * contract of {@link ResponseExchange}: a ServerResponse and its drain.
 */
class Exchange extends ResponseExchange implements ExchangeRecord {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly s: Shared;
  requestId = '';
  startedAt = 0;
  endedAt = 0;
  environ: Environ | undefined = undefined;
  input: RequestInput | undefined = undefined;
  /** The request id header went out besides appHeaders. */
  addedId = false;
  appCalled = false;
  parseFailed = false;
  /** The response's 'close' is listened to (watchClose). */
  watching = false;
  // One promise per drain cycle, shared by every write waiting on it (writes
  // started without awaiting the previous one all resolve, in order).
  drainWait: Promise<void> | undefined = undefined;
  drainResolve: (() => void) | undefined = undefined;

  constructor(req: IncomingMessage, res: ServerResponse, shared: Shared) {
    super();
    this.req = req;
    this.res = res;
    this.s = shared;
  }

  get received(): number {
    return this.input?.received ?? 0;
  }

  get completed(): boolean {
    return (!this.gone || this.timedOut) && this.res.writableFinished;
  }

  /** The response headers as sent (the app's, plus Content-Length and the request id when gwserver added them). */
  get headers(): readonly HeaderPair[] {
    if (!this.addedLength && !this.addedId) return this.appHeaders;
    const out = this.appHeaders.slice();
    if (this.addedLength) out.push(['Content-Length', String(this.length)]);
    if (this.addedId) out.push([this.s.idHeader, this.requestId]);
    return out;
  }

  get loggedStatus(): number {
    return this.headersSent ? this.status : 499;
  }

  /** Check the request, build the environ, then run the app (now, or once the parser has the bytes it holds). */
  start(expectContinue: boolean): void {
    const { req, res, s } = this;
    if (s.ends !== undefined) this.startedAt = performance.now();
    if (s.starts !== undefined) s.starts.requestStarted!();
    if (s.idHeaderLower !== '') {
      const given = req.headers[s.idHeaderLower];
      this.requestId = typeof given === 'string' && VALID_REQUEST_ID.test(given) ? given : nextRequestId();
    } else {
      this.requestId = nextRequestId();
    }
    // The observer hears of every end, refusals included. Without it, a
    // request answered in the tick it arrived in has nothing to stop when
    // its client goes away: run() listens for 'close' only when it must.
    if (s.ends !== undefined) this.watchClose();
    const refusal = checkLimits(req, s);
    if (refusal !== undefined) return this.refuse(refusal);

    let cgi: Record<string, unknown>;
    try {
      cgi = requestEnviron(req, s.environ);
    } catch (err) {
      return this.refuse(err as GatewayError);
    }

    // Framing of the request body (Node has refused CL with TE, bad CLs, ...).
    const length = bodyLength(req, s.limitBody);
    if (length instanceof GatewayError) return this.refuse(length);

    if (length !== 0) {
      this.input = new RequestInput(req, {
        length,
        limit: s.limitBody,
        onFirstRead: expectContinue ? () => { if (!res.headersSent) res.writeContinue(); } : undefined,
      });
    }
    cgi['wsgi.version'] = WSGI_VERSION;
    cgi['wsgi.input'] = this.input ?? EMPTY_INPUT;
    cgi['wsgi.multithread'] = false;
    cgi['wsgi.multiprocess'] = s.environ.multiprocess;
    cgi['wsgi.run_once'] = false;
    cgi['wsgi.input_terminated'] = true;
    cgi['wsgi.file_wrapper'] = fileWrapper;
    cgi['gwserver.request_id'] = this.requestId;
    cgi['gwserver.worker_id'] = s.workerId;
    // Built on first use: most apps never touch them.
    // Middleware may assign them like any other key, so each has a setter.
    cgi['wsgi.errors'] = new RequestErrors(s.logger, this.requestId);
    cgi['gwserver.log'] = new RequestLog(s.logger, this.requestId);
    (cgi as OwnedEnviron)[kOwner] = this;
    Object.defineProperty(cgi, 'gwserver.signal', SIGNAL_KEY);
    // A closure costs a tenth of a second lazy accessor (defineProperty, ~100 ns a request).
    cgi['wsgi.early_hints'] = (headers: HeaderPair[]) => this.earlyHints(headers);
    this.environ = cgi as Environ;

    (req.socket as TrackedSocket)[kExchange] = this;
    if (length === 0) {
      this.run();
    } else {
      this.watchClose();
      // Let the parser finish the bytes it already has: a malformed chunk
      // in them must be refused before the app is called. Not a tick: Node
      // runs the tick queue after each body chunk's callback, in the middle
      // of the bytes it parses.
      setImmediate(runExchange, this);
    }
  }

  /** A request that must not reach the app: a 4xx, then the connection is closed. */
  refuse(err: GatewayError | Error): void {
    const status = err instanceof GatewayError && err.status >= 400 ? err.status : 400;
    this.s.logger.info({ request_id: this.requestId, status, reason: err.message, remote: this.req.socket.remoteAddress }, 'request refused');
    this.plain(status);
  }

  /** Follows the response's 'close': the client going away, the observer's end of the request. */
  watchClose(): void {
    if (this.watching) return;
    this.watching = true;
    (this.res as TrackedResponse)[kExchange] = this;
    this.res.on('close', onResponseClose);
  }

  run(): void {
    if (this.gone || this.parseFailed) return;
    this.appCalled = true;
    const s = this.s;
    if (s.preRequest !== undefined || s.postRequest !== undefined) {
      this.watchClose();
      void this.runWithHooks();
      return;
    }
    this.callApp();
  }

  /** The hooks around callApp(): postRequest once the response is over, preRequest awaited first. */
  async runWithHooks(): Promise<void> {
    const s = this.s;
    if (s.postRequest !== undefined) {
      const post = s.postRequest;
      this.res.once('close', () => this.hook('postRequest', () => post(this.environ!, `${this.status || 500} ${this.reason}`.trim())));
    }
    if (s.preRequest !== undefined) {
      const pre = s.preRequest;
      await this.hook('preRequest', () => pre(this.environ!));
    }
    this.callApp();
  }

  callApp(): void {
    // The common case runs without a promise: a sync app returning its body
    // whole (an array of one chunk, a string, bytes) is answered in this tick.
    let body: unknown;
    try {
      body = this.s.app(this.environ!, this.startResponse);
    } catch (err) {
      this.watchClose();
      this.fail(err);
      return;
    }
    if (!isThenable(body) && this.sendWhole(body)) {
      // Answered whole in this tick. Only an app that took the signal (and
      // may still be at work with it) needs to hear of the client leaving;
      // the socket forgets the request, which is over (a keep-alive
      // connection must not hold its environ while it idles).
      if (this.controller !== undefined) this.watchClose();
      else if (!this.watching) (this.req.socket as TrackedSocket)[kExchange] = undefined;
      return;
    }
    this.watchClose();
    if (this.s.responseMs > 0 && !this.headersSent) this.#arm();
    if (body instanceof Promise) {
      // An async app: no async function of our own around its promise.
      body.then((b: unknown) => this.settled(b), (err: unknown) => this.fail(err));
      return;
    }
    void this.finish(body);
  }

  #deadline: NodeJS.Timeout | undefined;

  /** --response-timeout: the app's clock, from its call (the 'close' listener clears it). */
  #arm(): void {
    this.#deadline = setTimeout(expireExchange, this.s.responseMs, this);
  }

  /** The deadline passed: 503, unless the headers are out or the request body is still arriving. */
  expire(): void {
    this.#deadline = undefined;
    if (this.headersSent || this.gone) return;
    const req = this.req;
    if (!req.complete && !req.readableEnded) {
      // Still receiving the body: that time is the client's, not the app's.
      req.once('end', () => {
        if (!this.headersSent && !this.gone) this.#arm();
      });
      return;
    }
    this.timedOut = true;
    this.s.logger.warn({ request_id: this.requestId, method: req.method, path: req.url, response_timeout: this.s.responseMs / 1000 }, `no response headers within --response-timeout (${this.s.responseMs / 1000} s): answered 503`);
    // The app may still be at work with the request: the connection cannot carry another.
    this.res.shouldKeepAlive = false;
    this.plain(503);
    void this.abandon();
  }

  /** `wsgi.early_hints`: a 103 before the final response (HTTP/1.1 on; dropped once the head is out). */
  earlyHints(headers: HeaderPair[]): void {
    // The same rules as startResponse's headers (tokens; no CR, LF or NUL; no hop-by-hop).
    inspectHeaders(headers);
    const req = this.req;
    if (this.headersSent || this.gone || (req.httpVersionMajor === 1 && req.httpVersionMinor === 0)) return;
    const hints: Record<string, string | string[]> = {};
    for (const [name, value] of headers) {
      const key = name.toLowerCase();
      const prev = hints[key];
      hints[key] = prev === undefined ? value : [...(Array.isArray(prev) ? prev : [prev]), value];
    }
    this.res.writeEarlyHints(hints);
  }

  /** The app's promise resolved with its body. */
  settled(body: unknown): void {
    if (!isThenable(body) && this.sendWhole(body)) return;
    void this.finish(body);
  }

  /** Sends a one-chunk body synchronously; false when the body needs the general path. */
  sendWhole(body: unknown): boolean {
    let chunk: unknown;
    if (typeof body === 'string' || body instanceof Uint8Array) chunk = body;
    else if (Array.isArray(body) && body.length === 1 && typeof (body as { close?: unknown }).close !== 'function') chunk = body[0];
    else return false;
    if (!this.started || this.headersSent || this.gone) return false;
    if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) return false;
    const total = typeof chunk === 'string' ? (chunk.length === 0 ? 0 : Buffer.byteLength(chunk)) : chunk.byteLength;
    if (total === 0 || (this.length !== undefined && this.length !== total)) return false;
    this.body = body;
    this.closed = true;
    this.sendOne(chunk, total);
    return true;
  }

  /** Head and the only chunk in one write. */
  override sendOne(chunk: Chunk, total: number): Promise<void> {
    const { res } = this;
    this.sendHead(total);
    this.sent = total;
    this.ended = true;
    // A string goes out in one write with the head, unless the head has latin-1 bytes (see writeChunk).
    if (this.bodyAllowed) res.end(typeof chunk === 'string' && !this.asciiHead ? Buffer.from(chunk) : chunk);
    else res.end();
    this.afterEnd();
    return DONE;
  }

  // -------------------------------------------------------------------------
  // The transport: a ServerResponse
  // -------------------------------------------------------------------------

  bodyAllowedFor(): boolean {
    return this.req.method !== 'HEAD';
  }

  writeHead(): void {
    const { res, s } = this;
    const status = this.status;
    const headers = this.appHeaders;
    this.addedId = s.idHeaderLower !== '' && !hasHeader(headers, s.idHeaderLower);
    const input = this.input;
    if (s.stopping || this.closeAfter || (input !== undefined && !input.ended && !this.canDrain(input))) res.shouldKeepAlive = false;
    if (s.ownsResponses || res.getHeaderNames().length === 0) {
      if (!this.storeHead(res)) res.writeHead(status, this.reason, this.headers as unknown as string[]);
      return;
    }
    // Mounted in a framework that already set headers (Express's X-Powered-By):
    // Node then takes no header pairs in writeHead, so merge by name,
    // keeping every value of a repeated header (Set-Cookie).
    const grouped = new Map<string, string[]>();
    for (const [name, value] of this.headers) {
      const key = name.toLowerCase();
      const list = grouped.get(key);
      if (list === undefined) grouped.set(key, [value]);
      else list.push(value);
    }
    for (const [name, values] of grouped) res.setHeader(name, values.length === 1 ? values[0]! : values);
    res.writeHead(status, this.reason);
  }

  /**
   * Does what `res.writeHead(status, reason, headers)` does, without
   * checking every header name and value again: startResponse has checked
   * them against the same rules (tokens; latin-1 without CR, LF, NUL), and
   * the request id header's name when the handler was made. The head is
   * built here and handed to Node's `_storeHeader`, which adds what Node
   * owns (Date, Connection, Keep-Alive, Content-Length or chunked) and
   * sets its framing state; the few headers that state depends on
   * (Content-Length, Date) still go through Node's own processing. False
   * when this Node lacks the internal, when writeHead was replaced on the
   * response, or when a head is stored already (then writeHead does it,
   * and throws as it would).
   */
  storeHead(res: ServerResponse): boolean {
    const status = this.status;
    const headers = this.appHeaders;
    let head = `HTTP/1.1 ${status} ${this.reason}\r\n`;
    let framing: string[] | null = null;
    for (let i = 0; i < headers.length; i++) {
      const h = headers[i]!;
      const name = h[0];
      if ((name.length === 14 && sameName(name, 'content-length')) || (name.length === 4 && sameName(name, 'date'))) {
        (framing ??= []).push(name, h[1]);
      } else if (name.length === 10 && sameName(name, 'connection')) {
        // Connection: close (the only one startResponse lets through): Node
        // writes its own from shouldKeepAlive, which writeHead set to false.
        continue;
      } else {
        head += `${name}: ${h[1]}\r\n`;
      }
    }
    if (this.addedId) head += `${this.s.idHeader}: ${this.requestId}\r\n`;
    return storeHead(res, status, this.reason, head, framing, this.addedLength ? this.length : undefined);
  }

  canDrain(input: RequestInput): boolean {
    const len = this.environ?.CONTENT_LENGTH;
    if (len === undefined) return false;
    return Number(len) - input.received <= DRAIN_LIMIT;
  }

  push(chunk: Chunk): boolean {
    return this.res.write(chunk);
  }

  drained(): Promise<void> {
    if (this.gone) return DONE;
    if (this.drainWait === undefined) {
      this.drainWait = new Promise((resolve) => {
        this.drainResolve = resolve;
      });
      this.res.once('drain', (this.#drainListener ??= () => this.onDrain()));
    }
    return this.drainWait;
  }

  #drainListener: (() => void) | undefined;

  onDrain(): void {
    const resolve = this.drainResolve;
    this.drainWait = undefined;
    this.drainResolve = undefined;
    resolve?.();
  }

  releaseWaits(): void {
    if (this.#drainListener !== undefined) this.res.off('drain', this.#drainListener);
    this.onDrain();
  }

  endOutput(): void {
    this.res.end();
    this.afterEnd();
  }

  afterEnd(): void {
    const input = this.input;
    if (input !== undefined && !input.ended && this.res.shouldKeepAlive) {
      // Read the rest of a small unread body so the connection can carry the next request.
      if (!input.discard(DRAIN_LIMIT)) this.res.destroy();
    }
  }

  plain(status: number): void {
    const { res } = this;
    const text = `${STATUS_TEXT[status] ?? 'Error'}\n`;
    this.headersSent = true;
    this.ended = true;
    this.status = status;
    this.reason = STATUS_TEXT[status] ?? 'Error';
    this.sent = text.length;
    if (status < 500 || (this.input !== undefined && !this.input.ended)) res.shouldKeepAlive = false;
    const headers: HeaderPair[] = [
      ['Content-Type', 'text/plain; charset=utf-8'],
      ['Content-Length', String(text.length)],
    ];
    if (this.s.idHeader !== '') headers.push([this.s.idHeader, this.requestId]);
    this.appHeaders = headers;
    this.addedLength = false;
    this.addedId = false;
    res.writeHead(status, this.reason, headers as unknown as string[]);
    res.end(text);
  }

  /** Cuts the response where it is: what the app wrote goes out, then the connection is destroyed. */
  truncate(): void {
    // res.write() corks the socket until the next tick; destroying it now
    // would drop the last chunks, and the client would see no response at
    // all instead of one cut where the app failed.
    const socket = this.res.socket;
    if (socket !== null && socket.writableCorked > 0) socket.uncork();
    this.res.destroy();
  }

  // -------------------------------------------------------------------------
  // Reports: the error log, with the request id
  // -------------------------------------------------------------------------

  logAppError(err: unknown, msg: string): void {
    // A node:http handler served as a gateway app calls startResponse's methods (res.setHeader...).
    if (!this.started && err instanceof TypeError) {
      const hint = /is not a function/.test(err.message)
        ? 'if this is a node:http handler (req, res), serve it with --interface node'
        : 'if this is a node:http handler (req, res) or a fetch handler (request), serve it with --interface node or --interface fetch';
      this.s.logger.error({ request_id: this.requestId, method: this.req.method, path: this.req.url, err, hint }, `${msg}: ${hint}`);
      return;
    }
    this.s.logger.error({ request_id: this.requestId, method: this.req.method, path: this.req.url, err }, msg);
  }

  logOverflow(): void {
    this.s.logger.warn({ request_id: this.requestId, content_length: this.length }, 'the application yielded more bytes than its Content-Length; the rest was dropped');
  }

  logShort(): void {
    this.s.logger.error({ request_id: this.requestId, content_length: this.length, sent: this.sent }, 'the application sent fewer bytes than its Content-Length; closing the connection');
  }

  logClientFault(err: GatewayError): void {
    this.s.logger.info({ request_id: this.requestId, status: err.status, reason: err.message }, 'bad request body');
  }

  logAfterGone(err: unknown): void {
    this.s.logger.debug({ request_id: this.requestId, err }, 'error after the client went away');
  }

  override noBodyHint(): string {
    // A node:http handler served as a gateway app returns nothing (and usually threw before).
    return '; if this is a node:http handler (req, res), serve it with --interface node';
  }

  /** Runs a hook; one that throws is logged and the request goes on. */
  async hook(name: string, fn: () => unknown): Promise<void> {
    try {
      const r = fn();
      if (isThenable(r)) await r;
    } catch (err) {
      this.s.logger.error({ request_id: this.requestId, hook: name, err }, `the ${name} hook threw`);
    }
  }

  onClose(): void {
    if (this.#deadline !== undefined) clearTimeout(this.#deadline);
    const socket = this.req.socket as TrackedSocket;
    if (socket[kExchange] === this) socket[kExchange] = undefined;
    const ends = this.s.ends;
    if (ends !== undefined) this.endedAt = performance.now();
    if (this.res.writableFinished) {
      ends?.requestEnded!(this);
      return;
    }
    // The client went away (or we destroyed the response) before the end.
    void this.abandon();
    ends?.requestEnded!(this);
  }

  /**
   * Marks the request as malformed (seen by the parser inside its body).
   * Without `err`, the client closed its side before the end of the body.
   */
  parseError(err: GatewayError | undefined): void {
    this.parseFailed = true;
    if (err === undefined) this.input?.truncated();
    else this.input?.fail(err);
  }
}

/**
 * `wsgi.errors`: text written here lands in the error log, a record per
 * line, with the request id. A small object per request, on the prototype's
 * methods (a per-request accessor or closures cost more than the object).
 */
class RequestErrors implements ErrorStream {
  #logger: Logger;
  #requestId: string;
  #pending = '';

  constructor(logger: Logger, requestId: string) {
    this.#logger = logger;
    this.#requestId = requestId;
  }

  write(text: string): void {
    this.#pending += String(text);
    let i;
    while ((i = this.#pending.indexOf('\n')) >= 0) {
      this.#emit(this.#pending.slice(0, i));
      this.#pending = this.#pending.slice(i + 1);
    }
  }

  writelines(lines: Iterable<string>): void {
    for (const line of lines) this.write(line);
  }

  flush(): void {
    if (this.#pending !== '') {
      this.#emit(this.#pending);
      this.#pending = '';
    }
  }

  #emit(line: string): void {
    this.#logger.error({ request_id: this.#requestId, source: 'wsgi.errors' }, line);
  }
}

/**
 * `gwserver.log`: a pino logger whose records carry the request id. The pino
 * child is made on first use: most requests never log.
 */
class RequestLog implements RequestLogger {
  #logger: Logger;
  #requestId: string;
  #child: Logger | undefined;

  constructor(logger: Logger, requestId: string) {
    this.#logger = logger;
    this.#requestId = requestId;
  }

  /** The pino child logger itself (for `child()`, `bindings()`, levels...). */
  get pino(): Logger {
    return (this.#child ??= this.#logger.child({ request_id: this.#requestId }));
  }

  trace(obj: unknown, msg?: string, ...args: unknown[]): void {
    this.pino.trace(obj as object, msg, ...args);
  }
  debug(obj: unknown, msg?: string, ...args: unknown[]): void {
    this.pino.debug(obj as object, msg, ...args);
  }
  info(obj: unknown, msg?: string, ...args: unknown[]): void {
    this.pino.info(obj as object, msg, ...args);
  }
  warn(obj: unknown, msg?: string, ...args: unknown[]): void {
    this.pino.warn(obj as object, msg, ...args);
  }
  error(obj: unknown, msg?: string, ...args: unknown[]): void {
    this.pino.error(obj as object, msg, ...args);
  }
  fatal(obj: unknown, msg?: string, ...args: unknown[]): void {
    this.pino.fatal(obj as object, msg, ...args);
  }
  /** A child with more bindings (the request id stays). */
  child(bindings: Record<string, unknown>): Logger {
    return this.pino.child(bindings);
  }
}

// Request ids: UUID-shaped, a random per-process prefix and a counter, for a
// fraction of randomUUID()'s cost on every request. Unique across workers
// and restarts through the prefix: 80 bits of Math.random, which V8 seeds
// from the OS's entropy in every process. Not node:crypto: loading it costs
// a worker about 1 MiB of memory, for ids that need no secrecy.
const ID_PREFIX = (() => {
  let hex = '';
  for (let i = 0; i < 20; i++) hex += Math.floor(Math.random() * 16).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${((parseInt(hex[16]!, 16) & 3) | 8).toString(16)}${hex.slice(17, 20)}-`;
})();
let idCounter = 0;
// Number#toString(16) costs ~300 ns (a runtime call): it runs once per 256
// ids, for the first 10 of the 12 counter digits; the last two come from a table.
// 2^40 + n in hex is "1" and n in 10 hex digits: no padding.
const ID_BLOCK_BASE = 2 ** 40;
const HEX_BYTE = Array.from({ length: 256 }, (_, i) => (i < 16 ? '0' : '') + i.toString(16));
let idBlock = '';

/** A new request id. */
export function nextRequestId(): string {
  const low = ++idCounter & 0xff;
  if (low === 0 || idBlock === '') idBlock = ID_PREFIX + (ID_BLOCK_BASE + Math.floor(idCounter / 256)).toString(16).slice(1);
  return idBlock + HEX_BYTE[low]!;
}

/** What the worker server needs besides the request handler. */
export interface GatewayHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  /** For `checkContinue`: the same, but `100 Continue` waits for the first read of wsgi.input. */
  expectContinue(req: IncomingMessage, res: ServerResponse): void;
  /**
   * The parser found an error on `socket` (`clientError`). Returns true when
   * a request of that socket is in the app's hands and will answer itself;
   * false when the caller must write the error response.
   */
  parseError(socket: Socket, err: GatewayError): boolean;
  /** From now on every response says `Connection: close` (a stopping worker). */
  stop(): void;
}

/** Normalises handler options into the shared per-server state. */
function shared(app: Application, options: HandlerOptions): Shared {
  const idHeader = options.requestIdHeader ?? DEFAULTS.requestIdHeader;
  // It is written into every response head as it is.
  if (idHeader !== '' && !isToken(idHeader)) throw new TypeError(`requestIdHeader: ${JSON.stringify(idHeader)} is not a valid header name`);
  return {
    app,
    logger: options.logger ?? createLogger(),
    environ: {
      rootPath: (options.rootPath ?? DEFAULTS.rootPath).replace(/\/+$/, ''),
      multiprocess: options.multiprocess ?? false,
      trust: proxyTrust(options.forwardedAllowIps ?? DEFAULTS.forwardedAllowIps),
    },
    workerId: options.workerId ?? 0,
    limitLine: options.limitRequestLine ?? DEFAULTS.limitRequestLine,
    limitFields: options.limitRequestFields ?? DEFAULTS.limitRequestFields,
    // As in gunicorn, 0 means the default, not "no limit".
    limitFieldSize: options.limitRequestFieldSize || DEFAULTS.limitRequestFieldSize,
    limitBody: options.limitRequestBody ?? DEFAULTS.limitRequestBody,
    stopping: false,
    preRequest: options.preRequest,
    postRequest: options.postRequest,
    ownsResponses: options.ownsResponses ?? false,
    idHeader,
    idHeaderLower: idHeader.toLowerCase(),
    starts: typeof options.observer?.requestStarted === 'function' ? options.observer : undefined,
    ends: typeof options.observer?.requestEnded === 'function' ? options.observer : undefined,
    responseMs: (options.responseTimeout ?? DEFAULTS.responseTimeout) * 1000,
  };
}

/**
 * Creates the `node:http` request handler that serves `app`. Used by the
 * worker server; also the public {@link toNodeHandler}.
 */
export function createHandler(app: Application, options: HandlerOptions = {}): GatewayHandler {
  const s = shared(app, options);
  const handler = ((req: IncomingMessage, res: ServerResponse) => {
    new Exchange(req, res, s).start(false);
  }) as GatewayHandler;
  handler.expectContinue = (req, res) => new Exchange(req, res, s).start(true);
  handler.parseError = (socket, err) => {
    const ex = (socket as TrackedSocket)[kExchange];
    if (ex === undefined || ex.ended) return false;
    // A parse error on a socket whose read side has ended is llhttp's
    // HPE_INVALID_EOF_STATE: the client closed before sending the whole body.
    ex.parseError(socket.readableEnded ? undefined : err);
    // The app has the request: its read of wsgi.input fails and it answers
    // (a 400 if nothing was sent). Not called yet: it never will be.
    if (ex.appCalled) {
      ex.res.shouldKeepAlive = false;
      return true;
    }
    return false;
  };
  handler.stop = () => {
    s.stopping = true;
  };
  return handler;
}

/**
 * Mounts a gateway app in any `node:http` (or compatible) server:
 * `http.createServer(toNodeHandler(app))`.
 */
export function toNodeHandler(app: Application, options: HandlerOptions = {}): (req: IncomingMessage, res: ServerResponse) => void {
  const handler = createHandler(app, options);
  return (req, res) => {
    // Without a checkContinue listener Node has already sent 100 Continue.
    handler(req, res);
  };
}
