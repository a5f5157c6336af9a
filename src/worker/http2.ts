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
  /** A session without a stream is closed after this long (`--keep-alive`). */
  idleMs: number;
  /** A session with streams open whose client does not answer a PING within this long is cut (`--send-timeout`; 0: never). */
  sendMs: number;
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

/**
 * How long a session may be silent (no frame either way) before it is
 * sent a PING, and how long an idle one has to answer it. A client that
 * reads its socket answers a PING at once, whatever its flow-control
 * windows. The probe is what ends a session nghttp2 has given up on: in
 * Node 20, a session that nghttp2 terminated (its GOAWAY for a protocol
 * error queued, a frame too large, a reset flood) stops reading and is
 * never closed, and its socket, whose client may long be gone, stays open.
 */
export const PROBE_MS = 5000;

/** What the layer keeps of each session. */
interface Track {
  /** Streams open now. */
  open: number;
  /** When the last stream ended (or the session began). */
  idleSince: number;
  /** A PING is out, unanswered. */
  probing: boolean;
  /** Client-reset streams in the current window (see {@link RESET_LIMIT}). */
  resets: number;
  resetsSince: number;
}
const kTrack = Symbol('gwserver.track');
type Session = http2.ServerHttp2Session & { [kTrack]: Track };
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
  readonly #sendMs: number;
  /** The sessions' 'stream' listener (`this`: the session). */
  readonly #onStream: (this: Session, stream: Stream) => void;
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
    this.#sendMs = o.sendMs;
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
      // Reset by its client in the same read as its HEADERS: nobody to answer (as a node:http client gone before its request is parsed).
      if ((res as unknown as { stream: http2.ServerHttp2Stream }).stream.destroyed) return;
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
      const session = this[kSession]!;
      const t = session[kTrack];
      if (--t.open === 0) t.idleSince = Date.now();
      if (this[kServerReset] === true) return;
      if (this.rstCode === constants.NGHTTP2_NO_ERROR && this.writableFinished) return;
      layer.#reset(session);
    };
    this.#onStream = function onStream(this: Session, stream: Stream): void {
      // Kept on the stream: a closed stream has let go of its session. A
      // stream reset in the same read as its HEADERS may be closed already.
      stream[kSession] = this;
      this[kTrack].open++;
      if (stream.closed) onStreamClose.call(stream);
      else stream.once('close', onStreamClose);
    };
    server.on('session', (session: Session) => this.#onSession(session));
    this.server = server;
  }

  /** Serves a connection that opened with the HTTP/2 preface (its bytes put back in front of it). */
  accept(socket: Socket): void {
    // node:http's sockets are half-open (its parser answers after the
    // client's FIN); a session must end with its client's side, or a
    // client that leaves without GOAWAY holds the connection until the
    // idle timeout.
    socket.allowHalfOpen = false;
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
    for (const session of this.#sessions) {
      // One nghttp2 gave up on would hold the stop to the end of the grace:
      // a live client answers at once. (Before close(): Node cancels a PING
      // sent on a closed session; one already out is answered.)
      this.#probe(session, PROBE_MS);
      session.close();
    }
  }

  /** The end of the grace: whatever is still open is cut. */
  destroy(): void {
    for (const session of this.#sessions) session.destroy();
  }

  #onSession(session: Session): void {
    this.#sessions.add(session);
    session.once('close', () => this.#sessions.delete(session));
    session.on('error', (err: Error) => this.#logger.debug({ err, remote: session.socket?.remoteAddress }, 'HTTP/2 session error'));
    session[kTrack] = { open: 0, idleSince: Date.now(), probing: false, resets: 0, resetsSince: 0 };
    session.on('stream', this.#onStream);
    session.setTimeout(Math.min(this.#idleMs, PROBE_MS), () => this.#silent(session));
    if (this.#closing) {
      // Accepted as the worker stopped: the requests it carried in its first flight are served.
      session.once('stream', () => session.close());
      setTimeout(() => {
        if (!session.closed) session.close();
      }, 1000).unref();
    }
  }

  /**
   * No frame either way for a while. Idle (no stream) for --keep-alive:
   * GOAWAY, and the session ends at once. Otherwise a PING: a session
   * that does not answer within {@link PROBE_MS} (idle) or --send-timeout
   * (streams open: a client that stopped reading) is cut.
   */
  #silent(session: Session): void {
    if (session.destroyed) return;
    const t = session[kTrack];
    if (t.open === 0 && Date.now() - t.idleSince >= this.#idleMs) {
      session.close();
      return;
    }
    const deadline = t.open === 0 ? PROBE_MS : this.#sendMs;
    if (deadline !== 0) this.#probe(session, deadline);
  }

  /** Sends a PING; cuts the session if no answer comes within `deadline` ms. */
  #probe(session: Session, deadline: number): void {
    const t = session[kTrack];
    // A closed session (GOAWAY sent) takes no PING: the end of the grace is its bound.
    if (session.destroyed || session.closed) return;
    if (t.probing) {
      // A PING is out already, with a longer deadline (a stop comes while it waits): this one's applies too.
      setTimeout(() => {
        if (t.probing) session.destroy();
      }, deadline).unref();
      return;
    }
    t.probing = true;
    const cut = () => {
      this.#logger.debug({ remote: session.socket?.remoteAddress, open_streams: t.open }, 'an HTTP/2 client did not answer a PING: connection closed');
      session.destroy();
    };
    const timer = setTimeout(cut, deadline);
    timer.unref();
    try {
      session.ping((err) => {
        clearTimeout(timer);
        t.probing = false;
        if (err !== null && !session.closed) session.destroy();
      });
    } catch {
      clearTimeout(timer);
      session.destroy();
    }
  }

  /** A stream of `session` was reset by its client before its response was over (see {@link RESET_LIMIT}). */
  #reset(session: Session): void {
    if (session.destroyed) return;
    const now = Date.now();
    const t = session[kTrack];
    if (now - t.resetsSince > RESET_WINDOW_MS) {
      t.resetsSince = now;
      t.resets = 0;
    }
    // Once: the session is gone within a few milliseconds.
    if (++t.resets !== RESET_LIMIT + 1) return;
    this.#calmed++;
    this.#logger.warn({ remote: session.socket?.remoteAddress, resets: t.resets, window_s: RESET_WINDOW_MS / 1000 }, `an HTTP/2 client reset more than ${RESET_LIMIT} streams in ${RESET_WINDOW_MS / 1000} s (rapid reset, CVE-2023-44487): connection closed`);
    session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    // The GOAWAY goes out first; then nothing more is read from this client.
    setTimeout(() => session.destroy(), 50).unref();
  }
}
