/**
 * HTTP/2 in a worker, through Node's `node:http2` and its compatibility
 * API: every stream becomes a `(req, res)` pair that the gateway handler,
 * the container and the interfaces serve as they serve node:http's, so
 * request ids, limits, the access log, metrics, the response timeout and
 * the drain hold over HTTP/2 without a second request path.
 *
 * What this layer adds around Node's:
 *
 * - the connection preface sniffed on a cleartext connection (h2c by
 *   prior knowledge, {@link sniffPreface}), the socket then handed to the
 *   HTTP/2 server or put back for node:http's parser;
 * - each request made to look as node:http's do to the layers above
 *   ({@link normalizeRequest}): no pseudo-headers in `headers` and
 *   `rawHeaders`, `Host` from `:authority` (RFC 9113 8.3.1), `method` and
 *   `url` plain properties;
 * - the responses adapted once (response-internals.ts): no reason phrase
 *   and no connection-specific headers on HTTP/2, dropped silently;
 * - GOAWAY on a graceful stop ({@link Http2Layer.close}), idle sessions
 *   closed after `--keep-alive`, and a bound on streams a client resets
 *   (CVE-2023-44487, "rapid reset", {@link RESET_LIMIT}).
 *
 * @module
 */
import http2, { constants } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { STATUS_TEXT } from '../gateway/request-checks.js';
import { adaptHttp2Responses, kServerReset } from '../gateway/response-internals.js';
import type { Logger } from '../logging/logger.js';

/** The client connection preface (RFC 9113 3.4): what an h2c-by-prior-knowledge connection opens with. */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * Reads the start of a connection until it is known whether it opens with
 * the HTTP/2 preface, then calls `next` with the bytes put back in front
 * of the (paused) socket. Most connections are decided by their first
 * byte; only one that stops inside a prefix of the preface waits, for at
 * most `timeoutMs` (then it is destroyed).
 */
export function sniffPreface(socket: Socket, next: (h2: boolean) => void, timeoutMs: number): void {
  let buf: Buffer | undefined;
  let timer: NodeJS.Timeout | undefined;
  const done = () => {
    if (timer !== undefined) clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('close', done);
    socket.pause();
  };
  const onData = (chunk: Buffer) => {
    buf = buf === undefined ? chunk : Buffer.concat([buf, chunk]);
    const n = Math.min(buf.length, PREFACE.length);
    const h2 = buf.compare(PREFACE, 0, n, 0, n) === 0;
    if (h2 && n < PREFACE.length) {
      timer ??= setTimeout(() => {
        done();
        socket.destroy();
      }, timeoutMs);
      return;
    }
    done();
    socket.unshift(buf);
    next(h2);
  };
  socket.on('data', onData);
  socket.once('close', done);
  // A reader before this one (PROXY) may have paused it: 'data' listeners do not resume a paused socket.
  socket.resume();
}

/** Settings of {@link Http2Layer}. */
export interface Http2Options {
  /** `--http2-max-concurrent-streams`. */
  maxConcurrentStreams: number;
  /** `--http2-initial-window-size`. */
  initialWindowSize: number;
  /** `--http2-max-header-list-size`. */
  maxHeaderListSize: number;
  /** `--http2-max-frame-size`. */
  maxFrameSize: number;
  /** `--limit-request-fields` (0: 32768): Node's own cap on header pairs must stay above it, so that the limit answers 431. */
  limitRequestFields: number;
  /** An idle session (no frame either way) is closed after this long (`--keep-alive`). */
  idleMs: number;
  logger: Logger;
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Streams a client may reset before their response is over, within
 * {@link RESET_WINDOW_MS}, before its session is closed with GOAWAY
 * ENHANCE_YOUR_CALM. A browser cancels a few streams when a page is left;
 * a rapid-reset attack (CVE-2023-44487) cancels thousands a second, each
 * one a request the app started. Node 20.20's nghttp2 (1.61) bounds this
 * by itself only by stalling the session: measured here, after about
 * 1,200 to 2,400 reset streams it stops reading from the connection and
 * sends nothing, not even its GOAWAY, and the connection stays open until
 * the client leaves. This closes it well before.
 */
export const RESET_LIMIT = 200;
export const RESET_WINDOW_MS = 10_000;

const kResets = Symbol('gwserver.resets');
type Session = http2.ServerHttp2Session & { [kResets]?: { since: number; count: number } };
const kSession = Symbol('gwserver.session');
type Stream = http2.ServerHttp2Stream & { [kSession]?: Session; [kServerReset]?: boolean };

/** Connection-specific pseudo-header names HTTP/2 requests carry, besides the regular fields. */
const COLON = 58;

/**
 * Makes an HTTP/2 request look as node:http's do to the layers above, in
 * place: the pseudo-headers leave `headers` and `rawHeaders` (they would
 * become environ keys, and a WHATWG Headers refuses their names),
 * `:authority` becomes `Host` when the request has none, and `method` and
 * `url` become plain properties (so that a router may rewrite `url`).
 * Returns false when the request was answered here: CONNECT (405, as over
 * HTTP/1.1), or a Host that names another authority (400, RFC 9113 8.3.1).
 */
export function normalizeRequest(req: IncomingMessage, res: ServerResponse): boolean {
  const h = req.headers as Record<string, string | string[] | undefined>;
  const method = h[':method'] as string;
  const path = h[':path'] as string | undefined;
  const authority = h[':authority'] as string | undefined;
  const raw = req.rawHeaders;
  let j = 0;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.charCodeAt(0) === COLON) continue;
    raw[j++] = raw[i]!;
    raw[j++] = raw[i + 1]!;
  }
  raw.length = j;
  for (const name of Object.keys(h)) if (name.charCodeAt(0) === COLON) delete h[name];
  Object.defineProperty(req, 'method', { value: method, writable: true, enumerable: true, configurable: true });
  Object.defineProperty(req, 'url', { value: path ?? '', writable: true, enumerable: true, configurable: true });
  if (method === 'CONNECT') return answer(res, 405);
  if (authority !== undefined && authority !== '') {
    const host = h.host;
    if (host === undefined) {
      h.host = authority;
      raw.unshift('host', authority);
    } else if (host !== authority) {
      return answer(res, 400);
    }
  }
  return true;
}

function answer(res: ServerResponse, status: number): false {
  const text = `${STATUS_TEXT[status] ?? 'Error'}\n`;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(text.length) });
  res.end(text);
  return false;
}

/**
 * One worker's HTTP/2 server. It never listens: the worker's connection
 * wrapper hands it the connections that opened with the preface
 * ({@link accept}).
 */
export class Http2Layer {
  readonly server: http2.Http2Server;
  readonly #sessions = new Set<Session>();
  readonly #logger: Logger;
  readonly #idleMs: number;
  #closing = false;
  #calmed = 0;

  /**
   * @param onRequest serves a request (the app's listener).
   * @param onContinue serves a request with `Expect: 100-continue` (the gateway handler's, which answers 100 on the first read of the body).
   */
  constructor(o: Http2Options, onRequest: Listener, onContinue: Listener) {
    adaptHttp2Responses(http2.Http2ServerResponse.prototype);
    this.#logger = o.logger;
    this.#idleMs = Math.max(o.idleMs, 1000);
    const server = http2.createServer({
      settings: {
        maxConcurrentStreams: o.maxConcurrentStreams,
        initialWindowSize: o.initialWindowSize,
        maxHeaderListSize: o.maxHeaderListSize,
        maxFrameSize: o.maxFrameSize,
        enablePush: false,
      },
      // Past it, Node resets the stream itself: keep it above our own limit (+ 4 pseudo-headers, and one to see it broken).
      maxHeaderListPairs: (o.limitRequestFields || 32768) + 8,
    });
    const served = (listener: Listener) => (req: IncomingMessage, res: ServerResponse) => {
      if (normalizeRequest(req, res)) listener(req, res);
    };
    server.on('request', served(onRequest) as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
    server.on('checkContinue', served(onContinue) as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
    // One listener function for every stream (no closure per request).
    // A stream that closes with an error code was reset, by its client
    // unless the server cut it itself; one that closes with NO_ERROR
    // before its response was written whole was reset by its client too.
    // (A response written whole but still queued when a NO_ERROR reset
    // arrives cannot be told from one sent: that flood is nghttp2's own
    // limit's, and the idle timeout's; see docs/security.md.)
    const layer = this;
    const onStreamClose = function onStreamClose(this: Stream): void {
      if (this[kServerReset] === true) return;
      if (this.rstCode === constants.NGHTTP2_NO_ERROR && this.writableFinished) return;
      layer.#reset(this[kSession]);
    };
    server.on('stream', (stream: Stream) => {
      // A closed stream has let go of its session.
      stream[kSession] = stream.session as Session;
      stream.once('close', onStreamClose);
    });
    server.on('session', (session: Session) => this.#onSession(session));
    this.server = server;
  }

  /** Serves a connection that opened with the HTTP/2 preface (its bytes put back in front of it). */
  accept(socket: Socket): void {
    this.server.emit('connection', socket);
  }

  /** HTTP/2 connections open now. */
  get sessions(): number {
    return this.#sessions.size;
  }

  /** Sessions closed for resetting too many streams (rapid reset) since the worker started. */
  get calmed(): number {
    return this.#calmed;
  }

  /**
   * A graceful stop: every session gets GOAWAY (NO_ERROR, naming the last
   * stream it took) and ends once its open streams are done; a session
   * that starts from now on is served the requests of its first flight,
   * then told the same. Clients send their next requests on a new
   * connection (to another worker).
   */
  close(): void {
    this.#closing = true;
    for (const session of this.#sessions) session.close();
  }

  /** The end of the grace: whatever is still open is cut. */
  destroy(): void {
    for (const session of this.#sessions) session.destroy();
  }

  #onSession(session: Session): void {
    this.#sessions.add(session);
    session.once('close', () => this.#sessions.delete(session));
    session.on('error', (err: Error) => this.#logger.debug({ err, remote: session.socket?.remoteAddress }, 'HTTP/2 session error'));
    // No frame either way for --keep-alive: GOAWAY (open streams finish).
    // Silent as long again once closing: a client that stopped reading (its
    // flow-control window closed) or a stream that never ends; cut.
    session.setTimeout(this.#idleMs, () => {
      if (session.closed) session.destroy();
      else session.close();
    });
    if (this.#closing) {
      // Accepted as the worker stopped: the requests it carried in its first flight are served.
      session.once('stream', () => session.close());
      setTimeout(() => {
        if (!session.closed) session.close();
      }, 1000).unref();
    }
  }

  /** A stream of `session` was reset by its client before its response was over (see {@link RESET_LIMIT}). */
  #reset(session: Session | undefined): void {
    if (session === undefined || session.destroyed) return;
    const now = Date.now();
    let w = session[kResets];
    if (w === undefined || now - w.since > RESET_WINDOW_MS) w = session[kResets] = { since: now, count: 0 };
    // Once: the session is gone within a few milliseconds.
    if (++w.count !== RESET_LIMIT + 1) return;
    this.#calmed++;
    this.#logger.warn({ remote: session.socket?.remoteAddress, resets: w.count, window_s: RESET_WINDOW_MS / 1000 }, `an HTTP/2 client reset more than ${RESET_LIMIT} streams in ${RESET_WINDOW_MS / 1000} s (rapid reset, CVE-2023-44487): connection closed`);
    session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    // The GOAWAY goes out first; then nothing more is read from this client.
    setTimeout(() => session.destroy(), 50).unref();
  }
}
