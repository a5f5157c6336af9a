/**
 * What the container does for every request of a node or fetch app, around
 * the app and outside its way: count it (max-requests), give it an id (kept
 * from a valid `X-Request-ID` or made, and returned), refuse what breaks the
 * request limits before the app sees it, keep untrusted peers from posing as
 * a proxy, close connections while the worker stops, run the request hooks,
 * and tell the observer (the access log, the metrics) of its end.
 *
 * The gateway interface does the same inside its own exchange
 * (gateway/handler.ts), with the same checks (gateway/request-checks.ts)
 * and the same request ids.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DEFAULTS } from '../config/settings.js';
import { isThenable } from '../gateway/exchange.js';
import { GatewayError } from '../errors.js';
import { proxyTrust, normalizeAddress, type ProxyTrust } from '../gateway/environ.js';
import { nextRequestId, type ExchangeRecord, type HandlerOptions, type RequestObserver } from '../gateway/handler.js';
import { bodyLength, checkLimits, STATUS_TEXT, VALID_REQUEST_ID, type RequestLimits } from '../gateway/request-checks.js';
import { addHeaderAtHead, bodyBytesSent, headBytes, headerAtHead } from '../gateway/response-internals.js';
import { isToken } from '../gateway/start-response.js';
import type { HeaderPair } from '../gateway/types.js';
import { createLogger, type Logger } from '../logging/logger.js';

/** Settings of the container layer: the handler's, with hooks that receive the request. */
export interface ContainerOptions extends Omit<HandlerOptions, 'preRequest' | 'postRequest' | 'ownsResponses' | 'multiprocess'> {
  /** Runs before the app is called; may be async (the request waits for it). */
  preRequest?: (req: IncomingMessage) => unknown;
  /** Runs once the response is over, with the status line (`200 OK`). */
  postRequest?: (req: IncomingMessage, status: string) => unknown;
  /**
   * `--root-path` moves the prefix out of `req.url` into `req.originalUrl`
   * (node apps, Connect's convention); else the URL stays whole (fetch apps,
   * whose frameworks have a base path of their own).
   */
  mountUrl?: boolean;
}

/** The state of one request of a node or fetch app, as the observer reads it when it ends. */
export class Served implements ExchangeRecord {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly requestId: string;
  readonly environ = undefined;
  startedAt = 0;
  endedAt = 0;
  /** Body bytes written, when the interface counts them itself (fetch); -1: read them off the socket. */
  bodyBytes = -1;
  /** Request body bytes read, when the interface counts them (fetch); -1: the declared length. */
  bodyRead = -1;
  /** The socket's bytesWritten when the request began (node apps: the response's size is the difference). */
  readonly wroteBefore: number;
  /** The app missed `--response-timeout`: the container answered 503. */
  timedOut = false;
  /** The --response-timeout timer, while it runs. */
  deadline: NodeJS.Timeout | undefined = undefined;
  /** The headers the interface passed to `writeHead` as a flat name/value list (fetch), which Node's header map does not hold. */
  headerList: string[] | undefined;

  constructor(req: IncomingMessage, res: ServerResponse, requestId: string, timed: boolean) {
    this.req = req;
    this.res = res;
    this.requestId = requestId;
    this.wroteBefore = timed ? req.socket.bytesWritten : 0;
    this.headerList = undefined;
  }

  get loggedStatus(): number {
    return this.res.headersSent ? this.res.statusCode : 499;
  }

  get completed(): boolean {
    return this.res.writableFinished;
  }



  /** The response headers as the app set them, with the Content-Length an interface added (Node's own Date and Connection aside). */
  get headers(): readonly HeaderPair[] {
    const out: HeaderPair[] = [];
    const list = this.headerList;
    if (list !== undefined) for (let i = 0; i < list.length; i += 2) out.push([list[i]!, list[i + 1]!]);
    const names = this.res.getHeaderNames();
    for (const name of names) {
      const v = this.res.getHeader(name);
      if (Array.isArray(v)) for (const one of v) out.push([name, one]);
      else if (v !== undefined) out.push([name, String(v)]);
    }
    const id = headerAtHead(this.res);
    if (id !== undefined && this.res.getHeader(id[0]) === undefined) out.push(id);
    return out;
  }

  /**
   * Response body bytes: counted by the interface (fetch), else what went
   * out on the socket after the head (a node app's body, chunk framing
   * included when the app sent no Content-Length).
   */
  get sent(): number {
    if (this.bodyBytes >= 0) return this.bodyBytes;
    const head = headBytes(this.res);
    // HTTP/2: no head of Node's to subtract, and a connection shared by every stream: counted as written.
    if (!this.res.headersSent || head === 0) return bodyBytesSent(this.res) ?? 0;
    const n = this.req.socket.bytesWritten - this.wroteBefore - head;
    return n > 0 ? n : 0;
  }

  get received(): number {
    if (this.bodyRead >= 0) return this.bodyRead;
    const cl = this.req.headers['content-length'];
    return cl !== undefined && this.req.complete ? Number(cl) : 0;
  }
}

type Tracked = ServerResponse & { [kServed]?: Served };
const kServed = Symbol('gwserver.served');

/**
 * The per-server state of the container layer for node and fetch apps.
 * {@link begin} runs before the app; it answers a refused request itself.
 */
export class Container implements RequestLimits {
  readonly logger: Logger;
  readonly limitLine: number;
  readonly limitFields: number;
  readonly limitFieldSize: number;
  readonly limitBody: number;
  readonly trust: ProxyTrust;
  readonly trustAll: boolean;
  readonly rootPath: string;
  readonly workerId: number;
  readonly idHeader: string;
  readonly idHeaderLower: string;
  readonly starts: RequestObserver | undefined;
  readonly ends: RequestObserver | undefined;
  readonly preRequest: ContainerOptions['preRequest'];
  readonly postRequest: ContainerOptions['postRequest'];
  /** --response-timeout in ms (0: off). */
  readonly responseMs: number;
  /** The worker is stopping: every response closes its connection. */
  stopping = false;
  readonly #onClose: (this: Tracked) => void;

  constructor(options: ContainerOptions = {}) {
    this.logger = options.logger ?? createLogger();
    this.limitLine = options.limitRequestLine ?? DEFAULTS.limitRequestLine;
    this.limitFields = options.limitRequestFields ?? DEFAULTS.limitRequestFields;
    // As in gunicorn, 0 means the default, not "no limit".
    this.limitFieldSize = options.limitRequestFieldSize || DEFAULTS.limitRequestFieldSize;
    this.limitBody = options.limitRequestBody ?? DEFAULTS.limitRequestBody;
    const allow = options.forwardedAllowIps ?? DEFAULTS.forwardedAllowIps;
    this.trust = proxyTrust(allow);
    this.trustAll = (Array.isArray(allow) ? allow : allow.split(',')).some((a) => a.trim() === '*');
    this.rootPath = options.mountUrl === true ? (options.rootPath ?? DEFAULTS.rootPath).replace(/\/+$/, '') : '';
    this.workerId = options.workerId ?? 0;
    const idHeader = options.requestIdHeader ?? DEFAULTS.requestIdHeader;
    if (idHeader !== '' && !isToken(idHeader)) throw new TypeError(`requestIdHeader: ${JSON.stringify(idHeader)} is not a valid header name`);
    this.idHeader = idHeader;
    this.idHeaderLower = idHeader.toLowerCase();
    this.starts = typeof options.observer?.requestStarted === 'function' ? options.observer : undefined;
    this.ends = typeof options.observer?.requestEnded === 'function' ? options.observer : undefined;
    this.preRequest = options.preRequest;
    this.postRequest = options.postRequest;
    this.responseMs = (options.responseTimeout ?? DEFAULTS.responseTimeout) * 1000;
    const ends = this.ends;
    const post = this.postRequest;
    const logger = this.logger;
    this.#onClose = function onClose(this: Tracked) {
      const served = this[kServed]!;
      if (served.deadline !== undefined) clearTimeout(served.deadline);
      if (ends !== undefined) {
        served.endedAt = performance.now();
        ends.requestEnded!(served);
      }
      if (post !== undefined) {
        const res = served.res;
        const status = res.headersSent ? `${res.statusCode} ${res.statusMessage}` : '499 Client Closed Request';
        runHook(logger, served.requestId, 'postRequest', () => post(served.req, status));
      }
    };
  }

  /**
   * The container's part before the app: the request's id and checks.
   * Undefined when the request was refused (answered here, 4xx, the
   * connection closed after it); else the request's state, to hand the app.
   */
  begin(req: IncomingMessage, res: ServerResponse): Served | undefined {
    const ends = this.ends;
    if (this.starts !== undefined) this.starts.requestStarted!();
    let id: string;
    if (this.idHeaderLower !== '') {
      const given = req.headers[this.idHeaderLower];
      if (typeof given === 'string' && VALID_REQUEST_ID.test(given)) id = given;
      else {
        id = nextRequestId();
        // The app reads the id where it reads a given one: the request's header.
        req.headers[this.idHeaderLower] = id;
        if (given !== undefined) dropHeader(req.rawHeaders, this.idHeaderLower);
        req.rawHeaders.push(this.idHeader, id);
      }
    } else {
      id = nextRequestId();
    }
    const served = new Served(req, res, id, ends !== undefined);
    if (ends !== undefined || this.postRequest !== undefined || this.responseMs > 0) {
      if (ends !== undefined) served.startedAt = performance.now();
      (res as Tracked)[kServed] = served;
      res.on('close', this.#onClose);
    }
    if (this.idHeader !== '' && !addHeaderAtHead(res, this.idHeader, this.idHeaderLower, id)) res.setHeader(this.idHeader, id);
    if (this.stopping) res.shouldKeepAlive = false;
    // Node would send a 103 to an HTTP/1.0 client, which knows no 1xx.
    if (req.httpVersionMinor === 0 && req.httpVersionMajor === 1) (res as unknown as Record<string, unknown>).writeEarlyHints = ignoreHints;
    let refusal = checkLimits(req, this);
    if (refusal === undefined) {
      const length = bodyLength(req, this.limitBody);
      if (length instanceof GatewayError) refusal = length;
    }
    if (refusal !== undefined) {
      this.refuse(served, refusal);
      return undefined;
    }
    if (!this.trustAll) this.#untrustedForwarding(req);
    if (this.rootPath !== '') this.#mount(req);
    return served;
  }

  /**
   * Starts `--response-timeout` for a request whose app was just called
   * and has not sent its headers (the interfaces call it right after the
   * app returns). The 'close' listener clears it.
   */
  arm(served: Served): void {
    if (this.responseMs === 0 || served.res.headersSent || served.res.writableEnded) return;
    served.deadline = setTimeout(expireServed, this.responseMs, this, served);
  }

  /** The deadline passed: 503 unless the headers are out or the request body is still arriving. */
  expire(served: Served): void {
    served.deadline = undefined;
    const { req, res } = served;
    if (res.headersSent || res.writableEnded || res.destroyed) return;
    if (!req.complete && !req.readableEnded) {
      // Still receiving the body: that time is the client's, not the app's.
      req.once('end', () => this.arm(served));
      return;
    }
    served.timedOut = true;
    const seconds = this.responseMs / 1000;
    this.logger.warn({ request_id: served.requestId, method: req.method, path: req.url, response_timeout: seconds }, `no response headers within --response-timeout (${seconds} s): answered 503`);
    writePlain(res, 503, false, this.idHeaderLower);
    dropLaterWrites(res);
  }

  /**
   * A peer not in --forwarded-allow-ips may not say who the client is or
   * which scheme it used: its `X-Forwarded-*` and `Forwarded` headers are
   * taken out before the app sees the request, so that a framework that
   * trusts them (Express's `trust proxy`) cannot be fooled through gwserver.
   */
  #untrustedForwarding(req: IncomingMessage): void {
    const raw = req.rawHeaders;
    let found = false;
    for (let i = 0; i < raw.length; i += 2) {
      if (isForwarding(raw[i]!)) {
        found = true;
        break;
      }
    }
    if (!found || this.trust(normalizeAddress(req.socket.remoteAddress ?? ''))) return;
    const kept: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      if (isForwarding(name)) delete req.headers[name.toLowerCase()];
      else kept.push(name, raw[i + 1]!);
    }
    raw.length = 0;
    raw.push(...kept);
  }

  /**
   * `--root-path`: the app sees the target below the mount point in
   * `req.url` and the whole target in `req.originalUrl` (Connect's and
   * Express's convention for a mounted app), as a gateway app sees
   * SCRIPT_NAME and PATH_INFO.
   */
  #mount(req: IncomingMessage): void {
    const url = req.url ?? '/';
    const root = this.rootPath;
    if (!url.startsWith(root)) return;
    const next = url.charCodeAt(root.length);
    // '/', '?', or the end.
    if (url.length !== root.length && next !== 47 && next !== 63) return;
    (req as IncomingMessage & { originalUrl?: string }).originalUrl = url;
    const rest = url.slice(root.length);
    req.url = rest === '' || rest.charCodeAt(0) === 63 ? `/${rest}` : rest;
  }

  /** Answers a request refused before the app: its 4xx, and the connection closes. */
  refuse(served: Served, err: GatewayError): void {
    const status = err.status >= 400 ? err.status : 400;
    this.logger.info({ request_id: served.requestId, status, reason: err.message, remote: served.req.socket.remoteAddress }, 'request refused');
    writePlain(served.res, status, false, this.idHeaderLower);
  }

  /**
   * The app threw or rejected: logged with the request id; a 500 when
   * nothing was sent yet, else the response is cut (the only honest end
   * for one half sent).
   */
  appError(served: Served, err: unknown, hint?: string): void {
    const { req, res } = served;
    if (res.destroyed || (res.writableEnded && !res.writableFinished && res.socket === null)) {
      this.logger.debug({ request_id: served.requestId, err }, 'error after the client went away');
      return;
    }
    this.logger.error({ request_id: served.requestId, method: req.method, path: req.url, err, ...(hint === undefined ? {} : { hint }) }, hint === undefined ? 'application error' : `application error: ${hint}`);
    if (!res.headersSent) {
      writePlain(res, 500, true, this.idHeaderLower);
      return;
    }
    res.destroy();
  }

  /** Runs the preRequest hook, then `next`. */
  withHooks(served: Served, next: () => void): void {
    const pre = this.preRequest;
    if (pre === undefined) return next();
    let r: unknown;
    try {
      r = pre(served.req);
    } catch (err) {
      this.logger.error({ request_id: served.requestId, hook: 'preRequest', err }, 'the preRequest hook threw');
      return next();
    }
    if (isThenable(r)) {
      Promise.resolve(r).then(next, (err: unknown) => {
        this.logger.error({ request_id: served.requestId, hook: 'preRequest', err }, 'the preRequest hook threw');
        next();
      });
    } else next();
  }
}

function runHook(logger: Logger, requestId: string, name: string, fn: () => unknown): void {
  try {
    const r = fn();
    if (isThenable(r)) Promise.resolve(r).catch((err: unknown) => logger.error({ request_id: requestId, hook: name, err }, `the ${name} hook threw`));
  } catch (err) {
    logger.error({ request_id: requestId, hook: name, err }, `the ${name} hook threw`);
  }
}

/** Takes every field named `lower` (any case) out of a raw header list. */
function dropHeader(raw: string[], lower: string): void {
  let j = 0;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === lower.length && raw[i]!.toLowerCase() === lower) continue;
    raw[j++] = raw[i]!;
    raw[j++] = raw[i + 1]!;
  }
  raw.length = j;
}

/** `X-Forwarded-*` or `Forwarded`, in any case. */
function isForwarding(name: string): boolean {
  const c = name.charCodeAt(0) | 32;
  if (c === 120 /* x */) return name.length > 12 && name.charCodeAt(1) === 45 && name.slice(2, 12).toLowerCase() === 'forwarded-';
  if (c === 102 /* f */) return name.length === 9 && name.toLowerCase() === 'forwarded';
  return false;
}

/**
 * gwserver's own short answer (a refusal, a 500), replacing whatever
 * headers the app had set but the request id. `keepAlive`: the connection
 * may carry the next request (a 500 after a whole request body); a refusal
 * closes it.
 */
export function writePlain(res: ServerResponse, status: number, keepAlive: boolean, idHeaderLower = 'x-request-id'): void {
  const text = `${STATUS_TEXT[status] ?? 'Error'}\n`;
  for (const name of res.getHeaderNames()) {
    if (name !== idHeaderLower) res.removeHeader(name);
  }
  if (!keepAlive || !res.req?.complete) res.shouldKeepAlive = false;
  res.writeHead(status, STATUS_TEXT[status] ?? 'Error', { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(text.length) });
  res.end(text);
}

function expireServed(c: Container, served: Served): void {
  c.expire(served);
}

function dropWrite(this: ServerResponse, ...args: unknown[]): boolean {
  const cb = args[args.length - 1];
  if (typeof cb === 'function') process.nextTick(cb as () => void);
  return false;
}

function keepThis(this: ServerResponse): ServerResponse {
  return this;
}

/**
 * After the container answered for the app (a 503 at --response-timeout),
 * what the app still does with its response is dropped, as after a client
 * disconnect: write() returns false, end() and the header methods do
 * nothing; nothing throws. Node emits 'close' once the 503 is out.
 */
function dropLaterWrites(res: ServerResponse): void {
  const r = res as unknown as Record<string, unknown>;
  r.write = dropWrite;
  r.end = function end(this: ServerResponse, ...args: unknown[]): ServerResponse {
    dropWrite.apply(this, args);
    return this;
  };
  for (const name of ['writeHead', 'setHeader', 'setHeaders', 'appendHeader', 'removeHeader', 'flushHeaders', 'writeContinue', 'writeProcessing', 'writeEarlyHints', 'addTrailers']) r[name] = keepThis;
}

function ignoreHints(_hints: unknown, cb?: () => void): void {
  if (typeof cb === 'function') process.nextTick(cb);
}
