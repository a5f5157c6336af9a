/**
 * The worker's HTTP server: `node:http` (llhttp) parses; the app is served
 * through its interface: the gateway handler, or the node or fetch
 * interface over the container layer (container.ts). Refusals of malformed
 * requests, CONNECT, upgrades, graceful close: here, once, for all three.
 * It listens through the ordinary `listen()` calls, so under `node:cluster`
 * the master owns the sockets and several workers share them; nothing here
 * assumes the process is alone.
 *
 * @module
 */
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket, TlsOptions } from 'node:tls';
import { chmod, lstat, unlink } from 'node:fs/promises';
import net, { type Socket } from 'node:net';
import { GatewayError, type ErrorCode } from '../errors.js';
import { STATUS_TEXT } from '../gateway/request-checks.js';
import { responseOn } from '../gateway/response-internals.js';
import { createHandler, type GatewayHandler, type HandlerOptions } from '../gateway/handler.js';
import type { Application } from '../gateway/types.js';
import type { InterfaceName, ServedApp, UpgradeHandler } from '../interop/kinds.js';
import { Container, type ContainerOptions } from './container.js';
import { createNodeListener } from './node-interface.js';
import type { Logger } from '../logging/logger.js';
import { createLogger } from '../logging/logger.js';
import { formatAddress, secureAddress, type Bind } from '../config/binds.js';
import { DEFAULTS } from '../config/settings.js';
import { ProxyProtocolReader, type ProxyProtocolMode } from './proxy-protocol.js';
import { normalizeAddress, proxyTrust } from '../gateway/environ.js';
import { Http2Layer, sniffPreface } from './http2.js';
import { planProtocols, type ProtocolOptions, type ProtocolPlan } from './protocols.js';

export interface WorkerServerOptions extends HandlerOptions, ProtocolOptions {
  /** `--http2-max-concurrent-streams` (default 100). */
  http2MaxConcurrentStreams?: number;
  /** `--http2-initial-window-size` (default 65535). */
  http2InitialWindowSize?: number;
  /** `--http2-max-header-list-size` (default 65536). */
  http2MaxHeaderListSize?: number;
  /** `--http2-max-frame-size` (default 16384). */
  http2MaxFrameSize?: number;
  /** The request hooks of a node or fetch app (they receive the request, not an environ). */
  requestHooks?: Pick<ContainerOptions, 'preRequest' | 'postRequest'>;
  /** Idle keep-alive timeout in seconds (0: close after each response). */
  keepAlive?: number;
  /** Seconds to receive a request's headers (0: no limit). */
  headersTimeout?: number;
  /** Seconds to receive a whole request (0: no limit). */
  requestTimeout?: number;
  /** Seconds a connection with output waiting may make no progress before it is closed (0: no limit). */
  sendTimeout?: number;
  /** Open connections past which a new one is answered 503 (0: no limit). */
  workerConnections?: number;
  /** Told when the worker becomes full (no room for a connection) and when it has room again. */
  onFull?: (full: boolean) => void;
  /** The PROXY protocol header to read in front of each connection (`--proxy-protocol`; default off). */
  proxyProtocol?: ProxyProtocolMode;
  /** Peers whose PROXY header is believed (`--proxy-allow-from`). */
  proxyAllowFrom?: string | string[];
  /**
   * Serve HTTPS with these options (src/worker/tls.ts builds them from the
   * master's key and certificates). `requestCert` without
   * `rejectUnauthorized` is `--cert-reqs optional`: a client may send no
   * certificate, and one whose certificate does not verify is closed.
   */
  tls?: TlsOptions;
  /** listen() backlog. */
  backlog?: number;
  /** Mode of unix sockets this server creates. */
  socketMode?: number;
}

/**
 * How long a stopping worker keeps its idle keep-alive connections open
 * (see {@link WorkerServer.close}). A proxy under load reuses each of its
 * connections within milliseconds; one that stays idle for a second is
 * rarely picked at the instant it is closed.
 */
export const DRAIN_MS = 1000;

const kFailed = Symbol('gwserver.parseFailed');
/** On a TCP connection of a TLS server: the TLS socket over it, once its handshake is done (HTTP reads and writes that one). */
const kSecure = Symbol('gwserver.tlsSocket');
/** On a TCP connection of a full TLS worker: answer 503 after the handshake (in plain text it would be noise to the client). */
const kFull = Symbol('gwserver.refuseFull');
type Sock = Socket & { [kFailed]?: boolean };
type Tcp = Socket & { [kSecure]?: TLSSocket; [kFull]?: boolean };
/** What Node's TLS socket keeps of the TCP connection it was made over (`_parent`: internal, stable since Node 0.11). */
type TlsOver = TLSSocket & { _parent?: Tcp };

function rawResponse(status: number): string {
  const text = STATUS_TEXT[status] ?? 'Bad Request';
  const body = `${text}\n`;
  return `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
}

const CODE_FOR_STATUS: Record<number, ErrorCode> = {
  400: 'GW_BAD_REQUEST',
  408: 'GW_REQUEST_TIMEOUT',
  413: 'GW_BODY_TOO_LARGE',
  414: 'GW_REQUEST_LINE_TOO_LONG',
  431: 'GW_HEADERS_TOO_LARGE',
};

/** The size llhttp must accept so that our own limits, not its generic overflow, decide. */
export function maxHeaderSize(o: { limitRequestLine?: number; limitRequestFields?: number; limitRequestFieldSize?: number }): number {
  const line = (o.limitRequestLine || 8190) + 2;
  const fields = o.limitRequestFields || 32768;
  const field = o.limitRequestFieldSize || 8190;
  return line + fields * field + 2;
}

/** node:net's internal listen path (what cluster's workers use), and the handle it listens on. */
type InternalServer = http.Server & {
  _handle: object | null;
  _listen2(address: null, port: number | null, addressType: number | null, backlog: number, fd?: number): void;
};

/** Runs `listen` and resolves on 'listening', rejects on 'error'. */
function listening(server: http.Server, listen: () => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      resolve();
    });
    listen();
  });
}

type Listener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** The fetch interface, loaded by {@link loadInterface} (see there). */
let fetchInterface: typeof import('./fetch-interface.js') | undefined;

/**
 * Loads what serving an app of `kind` needs, before a {@link WorkerServer}
 * is made for it. The fetch interface is loaded only for fetch apps: it
 * brings undici's Request and Response, several MiB that a gateway or node
 * worker would carry for nothing. Installs the fast Response for fetch apps
 * (see fast-response.ts) unless `fastResponse` is false.
 */
export async function loadInterface(kind: InterfaceName, fastResponse = true): Promise<void> {
  if (kind !== 'fetch') return;
  fetchInterface ??= await import('./fetch-interface.js');
  if (fastResponse) fetchInterface.installFastResponse();
}

/** A WebSocket close frame, 1001 "going away": what a retiring worker says to upgraded connections left at the end of its grace. */
const GOING_AWAY = Buffer.from([0x88, 0x02, 0x03, 0xe9]);

/** One worker's HTTP server for one app, on one or more sockets. */
export class WorkerServer {
  readonly server: http.Server;
  /** The app's interface. */
  readonly kind: InterfaceName;
  /** The gateway handler (gateway apps only). */
  readonly handler: GatewayHandler | undefined;
  /** The container layer (node and fetch apps only). */
  readonly container: Container | undefined;
  readonly #listener: Listener;
  readonly #upgrade: UpgradeHandler | undefined;
  readonly #served: ServedApp;
  readonly #logger: Logger;
  readonly #options: WorkerServerOptions;
  readonly #unixPaths: string[] = [];
  readonly #servers: http.Server[] = [];
  /** Upgraded connections (WebSockets): no longer HTTP, still this worker's to close. */
  readonly #upgraded = new Set<Socket>();
  /** Every open connection (for --worker-connections and --send-timeout). */
  readonly #open = new Set<Socket>();
  /** The HTTP/2 server that connections opening with the preface are handed to (h2c), if the plan has it. */
  readonly #h2: Http2Layer | undefined;
  /** What this server speaks (see protocols.ts); its summary is logged at boot. */
  readonly protocols: ProtocolPlan;
  #refusedFull = 0;
  #full = false;
  #sendCheck: NodeJS.Timeout | undefined;

  /**
   * @param app a gateway application, or an app of any interface as the
   *   loader resolved it (`loadServedApp`).
   */
  constructor(app: Application | ServedApp, options: WorkerServerOptions = {}) {
    this.#options = options;
    this.#logger = options.logger ?? createLogger();
    const served: ServedApp = typeof app === 'function' ? { kind: 'gateway', app, why: 'a gateway application' } : app;
    this.#served = served;
    this.kind = served.kind;
    if (served.kind === 'gateway') {
      this.handler = createHandler(served.app, { ...options, logger: this.#logger, ownsResponses: true });
      this.#listener = this.handler;
    } else {
      const { preRequest, postRequest, multiprocess, ownsResponses, ...rest } = options;
      void preRequest; void postRequest; void multiprocess; void ownsResponses;
      this.container = new Container({ ...rest, ...options.requestHooks, logger: this.#logger, mountUrl: served.kind === 'node' });
      if (served.kind === 'node') this.#listener = createNodeListener(served.handler, this.container);
      else if (fetchInterface !== undefined) this.#listener = fetchInterface.createFetchListener(served.fetch, this.container);
      else throw new Error("a fetch app needs the fetch interface loaded first: await loadInterface('fetch') before new WorkerServer()");
      if (served.kind === 'node') this.#upgrade = served.upgrade;
    }
    this.protocols = planProtocols(this.kind, options, options.tls !== undefined);
    // One HTTP/2 layer for both ways in: h2c by its preface, h2 chosen by ALPN.
    if (this.protocols.h2c || this.protocols.alpn.includes('h2')) {
      const listener = this.#listener;
      const handler = this.handler;
      this.#h2 = new Http2Layer({
        maxConcurrentStreams: options.http2MaxConcurrentStreams ?? DEFAULTS.http2MaxConcurrentStreams,
        initialWindowSize: options.http2InitialWindowSize ?? DEFAULTS.http2InitialWindowSize,
        maxHeaderListSize: options.http2MaxHeaderListSize ?? DEFAULTS.http2MaxHeaderListSize,
        maxFrameSize: options.http2MaxFrameSize ?? DEFAULTS.http2MaxFrameSize,
        limitRequestFields: options.limitRequestFields ?? DEFAULTS.limitRequestFields,
        idleMs: (options.keepAlive ?? DEFAULTS.keepAlive) * 1000,
        sendMs: (options.sendTimeout ?? DEFAULTS.sendTimeout) * 1000,
        logger: this.#logger,
      }, listener, handler !== undefined ? handler.expectContinue : (req, res) => {
        res.writeContinue();
        listener(req, res);
      });
    }
    this.server = this.#createServer();
  }

  /** HTTP/2 connections open now, and those closed for resetting too many streams (rapid reset). */
  get http2(): { sessions: number; calmed: number } {
    return { sessions: this.#h2?.sessions ?? 0, calmed: this.#h2?.calmed ?? 0 };
  }

  #upgrades = 0;

  /** Upgraded connections (WebSockets) open now, and accepted since the worker started. */
  get upgrades(): { open: number; total: number } {
    return { open: this.#upgraded.size, total: this.#upgrades };
  }

  #createServer(): http.Server {
    const o = this.#options;
    const httpOptions: http.ServerOptions = {
      maxHeaderSize: maxHeaderSize(o),
      requestTimeout: (o.requestTimeout ?? DEFAULTS.requestTimeout) * 1000,
      // Node refuses a headers timeout longer than a (non-zero) request timeout.
      headersTimeout: Math.min((o.headersTimeout ?? DEFAULTS.headersTimeout) * 1000, (o.requestTimeout || Infinity) * 1000),
      keepAliveTimeout: (o.keepAlive ?? DEFAULTS.keepAlive) * 1000,
      noDelay: true,
      // Node checks request and header deadlines on this interval (30 s by default),
      // which would let a 60 s headers timeout fire at up to 90 s.
      connectionsCheckingInterval: 1000,
      requireHostHeader: true,
    };
    // Over TLS the client picks HTTP/2 or HTTP/1.1 by ALPN, from what the plan offers (protocols.ts).
    const server = o.tls === undefined ? http.createServer(httpOptions) : https.createServer({ ...httpOptions, ...o.tls, ALPNProtocols: this.protocols.alpn });
    if (o.tls !== undefined) this.#secure(server as https.Server, o.tls);
    // One more than the limit, so that going over it is visible (Node truncates silently).
    const fields = o.limitRequestFields ?? DEFAULTS.limitRequestFields;
    server.maxHeadersCount = fields > 0 ? fields + 1 : 0;
    const keepAlive = o.keepAlive ?? DEFAULTS.keepAlive;
    if (keepAlive === 0) server.keepAliveTimeout = 1;
    const handler = this.handler;
    if (keepAlive === 0) {
      // Decided before the app runs, so the headers say Connection: close.
      server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => { res.shouldKeepAlive = false; });
      server.on('checkContinue', (_req: http.IncomingMessage, res: http.ServerResponse) => { res.shouldKeepAlive = false; });
    }
    server.on('request', this.#listener);
    // With this listener, 100 Continue waits for the app's first read of
    // wsgi.input. A node or fetch app gets Node's own: 100 Continue at once.
    if (handler !== undefined) server.on('checkContinue', handler.expectContinue);
    else server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
      res.writeContinue();
      this.#listener(req, res);
    });
    // Without an 'upgrade' listener Node serves an upgrade request as a plain one.
    const upgrade = this.#upgrade;
    if (upgrade !== undefined) {
      server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
        this.#upgrades++;
        this.#upgraded.add(socket);
        socket.once('close', () => this.#upgraded.delete(socket));
        try {
          const r = upgrade(req, socket, head);
          if (r !== null && typeof r === 'object' && typeof (r as Promise<unknown>).then === 'function') {
            (r as Promise<unknown>).then(undefined, (err: unknown) => this.#upgradeFailed(socket, err));
          }
        } catch (err) {
          this.#upgradeFailed(socket, err);
        }
      });
    }
    server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: unknown }, socket: Sock) => this.#onClientError(err, socket));
    server.on('connect', (_req: http.IncomingMessage, socket: Sock) => {
      // CONNECT (a proxy tunnel) has no meaning for a gateway app.
      release(socket, rawResponse(405));
    });
    this.#trackConnections(server);
    this.#servers.push(server);
    // The one way for libraries that attach to the server itself (socket.io,
    // Hono's injectWebSocket) to reach it: before it accepts anything.
    this.#served.onServer?.(server);
    return server;
  }

  /**
   * TLS (`--certfile`): Node's TLS server does the handshake and hands the
   * TLS socket to the HTTP layer ('secureConnection'), which stays as it is.
   * Between the two, the worker closes a certificate `--cert-reqs optional`
   * cannot accept, gives the TLS socket the client's address a PROXY header
   * gave the TCP connection (Node's TLS socket asks the kernel), remembers
   * the TLS socket for `--send-timeout`, and answers a connection a full
   * worker took (`--worker-connections`) 503 over TLS. A failed handshake
   * (a scanner, a client without the certificate `--cert-reqs required`
   * asks for, a client that gave up) is logged at debug level and closed:
   * there is no HTTP to answer it with.
   */
  #secure(server: https.Server, options: TlsOptions): void {
    const optional = options.requestCert === true && options.rejectUnauthorized === false;
    server.removeAllListeners('tlsClientError');
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      this.#logger.debug({ remote: socket.remoteAddress, code: err.code, reason: err.message }, 'TLS handshake failed');
      socket.destroy();
    });
    const [serve] = server.listeners('secureConnection') as Array<(socket: TLSSocket) => void>;
    if (serve === undefined) return;
    server.removeListener('secureConnection', serve);
    server.on('secureConnection', (socket: TlsOver) => {
      if (optional && !socket.authorized && socket.getPeerX509Certificate() !== undefined) {
        this.#logger.debug({ remote: socket.remoteAddress, reason: socket.authorizationError }, 'client certificate refused (--cert-reqs optional)');
        socket.destroy();
        return;
      }
      const tcp = socket._parent;
      if (tcp !== undefined && tcp !== null) {
        tcp[kSecure] = socket;
        for (const key of ['remoteAddress', 'remotePort', 'remoteFamily'] as const) {
          const own = Object.getOwnPropertyDescriptor(tcp, key);
          if (own !== undefined) Object.defineProperty(socket, key, own);
        }
        if (tcp[kFull]) {
          // HTTP/2 has no plain-text answer to give: the connection is closed.
          if (socket.alpnProtocol === 'h2') socket.destroy();
          else release(socket, rawResponse(503));
          return;
        }
      }
      if (socket.alpnProtocol === 'h2' && this.#h2 !== undefined) {
        this.#h2.accept(socket);
        return;
      }
      serve.call(server, socket);
    });
  }

  /**
   * --worker-connections, --send-timeout, --proxy-protocol and h2c. Node's
   * own 'connection' listener (the HTTP parser) runs only for a connection
   * the worker has room for (a full worker answers 503 before it reads
   * anything), after its PROXY header was read, and (--http2-cleartext)
   * once its first bytes are not the HTTP/2 preface; one that opens with
   * the preface goes to the HTTP/2 server instead. h2c is for the peers in
   * --forwarded-allow-ips (the client the PROXY header named, if any):
   * from any other, the preface goes to the HTTP/1.1 parser, as if h2c
   * were off (gunicorn 26's rule: h2c is the hop from a proxy that
   * terminates TLS, not something to expose).
   */
  #trackConnections(server: http.Server): void {
    const o = this.#options;
    const limit = o.workerConnections ?? DEFAULTS.workerConnections;
    const sendMs = (o.sendTimeout ?? DEFAULTS.sendTimeout) * 1000;
    const mode = o.proxyProtocol ?? DEFAULTS.proxyProtocol;
    const secure = o.tls !== undefined;
    const h2 = this.#h2;
    // h2c: a cleartext connection's first bytes say whether it speaks HTTP/2 (over TLS, ALPN says it: see #secure).
    const sniff = this.protocols.h2c ? h2 : undefined;
    // Under TLS always: a stopping worker closes the connections still in their handshake (see close()).
    if (limit === 0 && sendMs === 0 && mode === 'off' && sniff === undefined && !secure) return;
    const h2Trust = sniff === undefined ? undefined : proxyTrust(o.forwardedAllowIps ?? DEFAULTS.forwardedAllowIps);
    const h1 = this.protocols.h1;
    const sniffMs = (o.headersTimeout || DEFAULTS.headersTimeout) * 1000;
    const proxy = mode === 'off'
      ? undefined
      : new ProxyProtocolReader({ mode, allowFrom: o.proxyAllowFrom ?? DEFAULTS.proxyAllowFrom, timeoutMs: (o.headersTimeout || DEFAULTS.headersTimeout) * 1000 });
    const refuse = (socket: Socket, reason: string, status: number | undefined) => {
      this.#logger.info({ remote: socket.remoteAddress, reason, status }, `connection refused: ${reason} (--proxy-protocol ${mode})`);
      // Over TLS the client expects a handshake: an answer in plain text would be noise to it.
      if (status === undefined || secure) socket.destroy();
      else release(socket, rawResponse(status));
    };
    const open = this.#open;
    const [parse] = server.listeners('connection') as Array<(socket: Socket) => void>;
    if (parse === undefined) return;
    server.removeListener('connection', parse);
    server.on('connection', (socket: Socket) => {
      if (limit > 0 && open.size >= limit) {
        this.#refusedFull++;
        if (!secure) {
          release(socket, rawResponse(503));
          return;
        }
        // The 503 goes out after the handshake (see #secure), within a bound, like release()'s.
        (socket as Tcp)[kFull] = true;
        const timer = setTimeout(() => ((socket as Tcp)[kSecure] ?? socket).destroy(), 2 * REFUSE_GRACE_MS);
        timer.unref();
        socket.once('close', () => clearTimeout(timer));
        parse.call(server, socket);
        return;
      }
      open.add(socket);
      socket.once('close', () => {
        open.delete(socket);
        this.#stalled.delete(socket);
        if (this.#full && open.size < limit) this.#setFull(false);
      });
      if (limit > 0 && open.size >= limit) this.#setFull(true);
      // `paused`: a reader before (PROXY) paused the socket and put back what followed.
      const serve = (s: Socket, paused: boolean) => {
        if (sniff === undefined || !h2Trust!(normalizeAddress(s.remoteAddress ?? ''))) {
          parse.call(server, s);
          if (paused) s.resume();
          return;
        }
        sniffPreface(s, (preface) => {
          if (preface) sniff.accept(s);
          else if (!h1) release(s, rawResponse(505));
          else {
            parse.call(server, s);
            s.resume();
          }
        }, sniffMs);
      };
      if (proxy === undefined) serve(socket, false);
      else proxy.read(socket, (s) => serve(s, true), (reason, status) => refuse(socket, reason, status));
    });
    if (sendMs > 0 && this.#sendCheck === undefined) {
      this.#sendCheck = setInterval(() => this.#checkStalled(sendMs), Math.min(1000, sendMs));
      this.#sendCheck.unref();
    }
  }

  #setFull(full: boolean): void {
    this.#full = full;
    if (!full) {
      this.#logger.debug({ connections: this.#open.size }, '--worker-connections: room again');
    } else if (Date.now() - this.#fullLoggedAt >= 60_000) {
      // Once a minute at most: a worker at its limit fills again with every connection that closes.
      this.#fullLoggedAt = Date.now();
      this.#logger.warn({ connections: this.#open.size, refused: this.#refusedFull }, `--worker-connections ${this.#open.size} reached: new connections get 503 until one closes`);
    }
    this.#options.onFull?.(full);
  }

  #fullLoggedAt = -Infinity;

  /**
   * Connections with output waiting at the last check: the bytes sent then,
   * and since when that figure has not moved. Kept here, not on the socket:
   * a property added to every socket a second after it opened changes its
   * hidden class under Node's HTTP code, whose property accesses then see two
   * kinds of socket (about 8% more instructions per request, measured).
   */
  readonly #stalled = new Map<Socket, { sent: number; since: number }>();

  /** Closes connections whose waiting output has not moved for sendMs (a client that stopped reading). */
  #checkStalled(sendMs: number): void {
    const now = Date.now();
    const stalled = this.#stalled;
    for (const tcp of this.#open) {
      // Under TLS the HTTP layer writes to the TLS socket: its buffer is the one that waits.
      const socket = (tcp as Tcp)[kSecure] ?? tcp;
      const pending = socket.writableLength;
      if (pending === 0) {
        stalled.delete(tcp);
        continue;
      }
      const sent = socket.bytesWritten - pending;
      const seen = stalled.get(tcp);
      if (seen === undefined || seen.sent !== sent) {
        stalled.set(tcp, { sent, since: now });
        continue;
      }
      if (now - seen.since >= sendMs) {
        this.#logger.info({ remote: socket.remoteAddress, pending_bytes: pending, send_timeout: sendMs / 1000 }, 'a client stopped reading its response: connection closed (--send-timeout)');
        stalled.delete(tcp);
        socket.destroy();
      }
    }
  }

  /** Connections open now, and those refused because the worker was full (--worker-connections). */
  get connections(): { open: number; refusedFull: number } {
    return { open: this.#open.size, refusedFull: this.#refusedFull };
  }

  #onClientError(err: NodeJS.ErrnoException & { rawPacket?: unknown }, socket: Sock): void {
    // llhttp reports the same error again for every later chunk: answer once.
    if (socket[kFailed]) return;
    socket[kFailed] = true;
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || !socket.writable) {
      socket.destroy();
      return;
    }
    let status = 400;
    // llhttp reports one overflow for the request line and the headers alike,
    // past a buffer sized from our limits (~800 KiB by default): our own
    // checks give 414 and 431 below that; above it, 431.
    if (err.code === 'HPE_HEADER_OVERFLOW') status = 431;
    else if (err.code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') status = 413;
    else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') status = 408;
    const gerr = new GatewayError(CODE_FOR_STATUS[status] ?? 'GW_BAD_REQUEST', `malformed request (${err.code ?? 'parse error'}: ${err.message})`);
    this.#logger.info({ status, code: err.code, reason: err.message, remote: socket.remoteAddress }, 'request refused');
    if (this.handler !== undefined && this.handler.parseError(socket, gerr)) return;
    const inflight = responseOn(socket);
    // A node or fetch app holds the response: it learns of the end as of a
    // client gone ('aborted', 'close'); an answer here would cross its own.
    if (inflight && (inflight.headersSent || this.handler === undefined)) {
      socket.destroy();
      return;
    }
    release(socket, rawResponse(status));
  }

  #upgradeFailed(socket: Socket, err: unknown): void {
    this.#logger.error({ err }, 'the upgrade handler threw');
    socket.destroy();
  }

  /** The node:http servers, one per socket. */
  get servers(): readonly http.Server[] {
    return this.#servers;
  }

  #nextServer(): http.Server {
    return this.#servers.length === 1 && !this.server.listening ? this.server : this.#createServer();
  }

  /**
   * Accepts on a listening descriptor this process inherited (the master's
   * socket, passed through cluster's stdio). `listen({fd})` cannot do it in a
   * cluster worker: there it asks the primary to listen on the primary's fd
   * instead, and the primary closes that fd with its last worker. `_listen2`
   * is what cluster's own workers call to listen on a handle directly.
   */
  async listenFd(fd: number): Promise<void> {
    const server = this.#nextServer() as InternalServer;
    if (typeof server._listen2 !== 'function') {
      throw new Error(`this Node.js (${process.version}) lacks net.Server#_listen2, which gwserver's workers need to accept on the master's sockets`);
    }
    await listening(server, () => server._listen2(null, null, null, this.#options.backlog ?? 2048, fd));
  }

  /**
   * Round-robin scheduling: "listens" on a stand-in handle through which the
   * master's connections arrive (src/worker/round-robin.ts), as cluster's
   * workers do. node:net then counts those connections, so `close()` waits
   * for them as for accepted ones. Resolves with the node:http server.
   */
  async listenHandle(handle: object): Promise<http.Server> {
    const server = this.#nextServer() as InternalServer;
    await listening(server, () => {
      server._handle = handle;
      server._listen2(null, -1, -1, this.#options.backlog ?? 2048);
    });
    return server;
  }

  /** Listens on one address; resolves with it as logged (`http://host:port`, `unix:/path`). */
  async listen(bind: Bind): Promise<string> {
    const server = this.#nextServer();
    const backlog = this.#options.backlog ?? 2048;
    if (bind.kind === 'unix') await removeStaleSocket(bind.path);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      server.once('error', onError);
      const done = () => {
        server.off('error', onError);
        resolve();
      };
      if (bind.kind === 'tcp') server.listen({ host: bind.host, port: bind.port, backlog }, done);
      else if (bind.kind === 'unix') server.listen({ path: bind.path, backlog }, done);
      else server.listen({ fd: bind.fd, backlog }, done);
    });
    if (bind.kind === 'unix') {
      await chmod(bind.path, this.#options.socketMode ?? 0o666);
      this.#unixPaths.push(bind.path);
    }
    const shown = formatAddress(server.address(), bind);
    const address = this.#options.tls === undefined ? shown : secureAddress(shown);
    this.#logger.info({ address }, 'listening');
    return address;
  }

  /**
   * Stops accepting and lets in-flight requests finish, every response from
   * now on with `Connection: close`. Idle keep-alive connections stay open
   * for `drainMs` (default {@link DRAIN_MS}, at most `graceMs`): a client
   * that sends its next request on one gets its answer and a clean close,
   * instead of a connection closed as its request arrives (which a proxy
   * cannot retry for a POST: nginx answers 502). Those still idle then are
   * closed. Resolves when all connections are gone, or after `graceMs`
   * (remaining connections are cut).
   */
  async close(graceMs = 30_000, drainMs = DRAIN_MS): Promise<void> {
    this.handler?.stop();
    if (this.container !== undefined) this.container.stopping = true;
    // HTTP/2 has its own way to say it: GOAWAY now, open streams finish.
    this.#h2?.close();
    const closing = this.#servers.map((s) => new Promise<void>((resolve) => {
      if (!s.listening) return resolve();
      // net.Server's close, not http.Server's: since Node 19 that one also
      // closes the idle keep-alive connections at once.
      net.Server.prototype.close.call(s, () => resolve());
    }));
    let sweep: NodeJS.Timeout | undefined;
    const drained = setTimeout(() => {
      for (const s of this.#servers) s.closeIdleConnections();
      // Under TLS: a connection still in its handshake after the drain is no client about to send a request.
      if (this.#options.tls !== undefined) for (const tcp of this.#open) if ((tcp as Tcp)[kSecure] === undefined) tcp.destroy();
      // A keep-alive connection whose response went out before the stop
      // becomes idle when it ends: close those as they come.
      sweep = setInterval(() => {
        for (const s of this.#servers) s.closeIdleConnections();
      }, 50);
    }, Math.min(drainMs, graceMs));
    const timer = setTimeout(() => {
      for (const s of this.#servers) s.closeAllConnections();
      this.#h2?.destroy();
    }, graceMs);
    // WebSockets and other upgraded connections have the grace to finish;
    // those left are told the server is going away a little before its end
    // (the master kills a worker still there at the end), then cut.
    const margin = Math.min(1000, graceMs / 10);
    const farewell = setTimeout(() => {
      for (const socket of this.#upgraded) {
        if (socket.writable) socket.end(GOING_AWAY);
        setTimeout(() => socket.destroy(), margin / 2).unref();
      }
    }, graceMs - margin);
    await Promise.all(closing);
    clearInterval(this.#sendCheck);
    clearTimeout(drained);
    clearInterval(sweep);
    clearTimeout(timer);
    clearTimeout(farewell);
    await Promise.all(this.#unixPaths.map((p) => unlink(p).catch(() => undefined)));
    if (this.#served.kind === 'node' && this.#served.close !== undefined) {
      try {
        await this.#served.close();
      } catch (err) {
        this.#logger.error({ err }, "the app's close() failed");
      }
    }
  }

  /** Call before listening: awaits the app's `ready()` (a Fastify instance). */
  async prepare(): Promise<void> {
    const served = this.#served;
    if (served.kind === 'node' && served.ready !== undefined) await served.ready();
  }
}

/** How long a refused connection may take to read its answer before it is destroyed. */
export const REFUSE_GRACE_MS = 2000;

/**
 * Answers a refused connection and lets it go within {@link REFUSE_GRACE_MS},
 * whatever the peer does. Ending alone is not enough: the server's sockets
 * are half-open, so a peer that keeps sending (a CONNECT tunnel's payload)
 * would hold the socket forever; and a socket nobody reads never sees the
 * peer's FIN behind its unread bytes. What arrives is read and dropped, and
 * the socket is destroyed after a grace, not at once, since destroying it
 * at once can reset the connection before the client has read the answer.
 */
function release(socket: Socket, answer: string): void {
  if (socket.destroyed) return;
  // A socket handed over by node:http (CONNECT, a refused upgrade) has lost
  // the server's 'error' listener: a reset peer must not become an uncaught error.
  socket.on('error', ignore);
  // The peer half-closed and Node ended our side already: nothing can be answered.
  if (socket.writableEnded || !socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(answer);
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), REFUSE_GRACE_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

function ignore(): void {}

/** A socket file left by a process that died would make listen() fail with EADDRINUSE. */
async function removeStaleSocket(path: string): Promise<void> {
  try {
    const st = await lstat(path);
    if (st.isSocket()) await unlink(path);
  } catch {
    // Not there: nothing to do.
  }
}
