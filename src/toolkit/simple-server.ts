/**
 * `makeServer(host, port, app)`: the WSGI literature's
 * `make_server('localhost', 8000, app).serve_forever()`, carried over one
 * to one (Python's `wsgiref.simple_server`). It is {@link serve} (the same
 * streaming server a gwserver worker runs) behind wsgiref's methods:
 * `serveForever()`, `handleRequest()` (serve one request, then return),
 * `close()`, the port it bound, and a line per request on stderr in the
 * common log format, as wsgiref's request handler writes it.
 *
 * @module
 */
import type { AddressInfo } from 'node:net';
import { GatewayError } from '../errors.js';
import { normalizeAddress } from '../gateway/environ.js';
import type { ExchangeRecord, RequestObserver } from '../gateway/handler.js';
import type { Application, Body, Environ } from '../gateway/types.js';
import { createLogger } from '../logging/logger.js';
import { serve, type RunningServer, type ServeOptions } from '../worker/serve.js';

/** Options of {@link makeServer}: those of {@link serve} but `bind`, and two of its own. */
export interface MakeServerOptions extends Omit<ServeOptions, 'bind'> {
  /** No line per request (default false). */
  quiet?: boolean;
  /** Where the request lines go (default `process.stderr`). */
  logStream?: { write(line: string): unknown };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n: number) => String(n).padStart(2, '0');

/** `14/May/2021 13:06:04`, local time: Python's `BaseHTTPRequestHandler.log_date_time_string`. */
export function logDateTime(d: Date): string {
  return `${p2(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
}

/** Control characters as `\xNN`, as Python 3.12's log_message does: a request line cannot forge a log line. */
function escapeControls(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** wsgiref's line for a request: `127.0.0.1 - - [14/May/2021 13:06:04] "GET / HTTP/1.1" 200 12`. */
export function requestLogLine(record: ExchangeRecord, now = new Date()): string {
  const req = record.req;
  const remote = record.environ?.REMOTE_ADDR ?? normalizeAddress(req.socket?.remoteAddress ?? '-');
  const line = escapeControls(`${req.method ?? '-'} ${req.url ?? '-'} HTTP/${req.httpVersion}`);
  return `${remote} - - [${logDateTime(now)}] "${line}" ${record.loggedStatus} ${record.sent}\n`;
}

/** A request held until `handleRequest()` or `serveForever()` lets it reach the app. */
interface Held {
  environ: Environ;
  release: () => void;
  /** Its client went away while it waited: the app is never called. */
  drop: (err: Error) => void;
}

/**
 * A server made by {@link makeServer}. It binds at once; the app is
 * called for requests only while `serveForever()` runs or a
 * `handleRequest()` waits for one (until then requests wait, as on
 * wsgiref's listening socket).
 */
export class SimpleServer {
  readonly #running: Promise<RunningServer>;
  #address: AddressInfo | undefined;
  #forever = false;
  /** handleRequest() calls waiting for a request. */
  readonly #waiting: Array<() => void> = [];
  /** Requests waiting for a handleRequest() (or serveForever()). */
  readonly #held: Held[] = [];
  /** The handleRequest() each request it let through resolves when that request ends. */
  readonly #owners = new WeakMap<Environ, () => void>();
  #closing: Promise<void> | undefined;
  readonly #closed: Promise<void>;
  #markClosed!: () => void;

  /** @internal Use {@link makeServer}. */
  constructor(host: string, port: number, app: Application, options: MakeServerOptions = {}) {
    if (typeof app !== 'function') throw new TypeError(`makeServer() takes a gateway application, got ${app === null ? 'null' : typeof app}`);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`makeServer(): port must be an integer from 0 to 65535, got ${port}`);
    this.#closed = new Promise((resolve) => {
      this.#markClosed = resolve;
    });
    const { quiet = false, logStream, observer, ...rest } = options;
    const out = logStream ?? process.stderr;
    const ended = observer?.requestEnded?.bind(observer);
    const watch: RequestObserver = {
      requestEnded: (record) => {
        if (!quiet) out.write(requestLogLine(record));
        this.#ended(record);
        ended?.(record);
      },
    };
    if (observer?.requestStarted !== undefined) watch.requestStarted = observer.requestStarted.bind(observer);
    // A bare host is wsgiref's '' (every interface); an IPv6 address goes in brackets in bind syntax.
    const bind = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    this.#running = serve(this.#gate(app), {
      // Errors only, readable, with their stacks (wsgiref prints the traceback): not the worker's JSON.
      logger: createLogger({ level: 'warn', format: 'text' }),
      ...rest,
      bind,
      observer: watch,
    });
    this.#running.then((server) => {
      // Kept: after close() the socket has no address, but the server still tells the one it had (as wsgiref's).
      this.#address = server.server.servers[0]!.address() as AddressInfo;
    }, () => {
      // Reported by ready(), serveForever() and handleRequest().
    });
  }

  /** Resolves with the server once it is bound; rejects if it cannot be (the port is taken...). */
  async ready(): Promise<this> {
    await this.#running;
    return this;
  }

  /** The address bound (`{ address, family, port }`). Throws before {@link ready} resolved. */
  get address(): AddressInfo {
    const address = this.#address;
    if (address === undefined) throw new Error('makeServer: the server is not bound yet (await server.ready() first)');
    return { ...address };
  }

  /** The port bound (wsgiref's `server_port`): the one picked when the port asked for was 0. */
  get serverPort(): number {
    return this.address.port;
  }

  /** `http://host:port` of the address bound. */
  get url(): string {
    const { address } = this.address;
    return `http://${address.includes(':') ? `[${address}]` : address}:${this.serverPort}`;
  }

  /** Serves every request until {@link close} is called; resolves then. Rejects if the server could not bind. */
  async serveForever(): Promise<void> {
    await this.#running;
    this.#forever = true;
    for (const held of this.#held.splice(0)) held.release();
    return this.#closed;
  }

  /**
   * Serves one request, then returns, as wsgiref's `handle_request()`:
   * resolves once the response to the next request (or to one already
   * waiting) has ended. Requests the server refuses before they reach the
   * app (malformed, over a limit) are answered but do not count.
   */
  async handleRequest(): Promise<void> {
    await this.#running;
    if (this.#closing !== undefined) return;
    return new Promise<void>((resolve) => {
      const held = this.#held.shift();
      if (held === undefined) {
        this.#waiting.push(resolve);
        return;
      }
      this.#owners.set(held.environ, resolve);
      held.release();
    });
  }

  /**
   * Stops accepting, lets the requests in flight (and those waiting) finish
   * within `graceMs` (default 30 s) and closes; `serveForever()` then
   * resolves. Calling it again returns the same promise.
   */
  close(graceMs?: number): Promise<void> {
    this.#closing ??= (async () => {
      this.#forever = true;
      for (const held of this.#held.splice(0)) held.release();
      const server = await this.#running.catch(() => undefined);
      await server?.close(graceMs);
      // Nothing more will come for those still waiting.
      for (const resolve of this.#waiting.splice(0)) resolve();
      this.#markClosed();
    })();
    return this.#closing;
  }

  /** The app, called only while serving (serveForever, or a handleRequest() waiting). */
  #gate(app: Application): Application {
    return (environ, startResponse): Body | Promise<Body> => {
      const waiter = this.#waiting.shift();
      if (waiter !== undefined) {
        this.#owners.set(environ, waiter);
        return app(environ, startResponse);
      }
      if (this.#forever) return app(environ, startResponse);
      return new Promise<void>((release, drop) => this.#held.push({ environ, release, drop })).then(() => app(environ, startResponse));
    };
  }

  #ended(record: ExchangeRecord): void {
    const environ = record.environ;
    if (environ === undefined) return;
    // A client that went away while its request waited: nothing to serve.
    const i = this.#held.findIndex((h) => h.environ === environ);
    if (i >= 0) this.#held.splice(i, 1)[0]!.drop(new GatewayError('GW_CLIENT_GONE', 'the client went away before its request was served'));
    const owner = this.#owners.get(environ);
    if (owner === undefined) return;
    this.#owners.delete(environ);
    owner();
  }
}

/**
 * Makes a server for `app` on `host`:`port`, as wsgiref's `make_server`:
 * it starts binding at once (port 0 picks a free port: read it from
 * `serverPort` once `ready()` resolved), and serves once `serveForever()`
 * or `handleRequest()` is called. Each request is logged to stderr in the
 * common log format, as wsgiref does
 * (`127.0.0.1 - - [14/May/2021 13:06:04] "GET / HTTP/1.1" 200 12`);
 * `quiet: true` turns that off. Application errors are logged to stderr
 * with their stacks. `host` `''` means every interface.
 *
 * It is the same server as {@link serve} (the options-object form, which
 * takes the same options and a `bind`), and as a gwserver worker.
 *
 * @example
 * ```ts
 * import { makeServer } from 'gwserver';
 *
 * function application(environ, startResponse) {
 *   startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
 *   return ['Hello world!'];
 * }
 *
 * const server = makeServer('localhost', 8000, application);
 * console.log('Serving on port 8000...');
 * await server.serveForever();
 * ```
 *
 * @example
 * ```ts
 * // One request, then stop (wsgiref's handle_request()).
 * const server = await makeServer('127.0.0.1', 0, application, { quiet: true }).ready();
 * const served = server.handleRequest();
 * const res = await fetch(server.url);
 * await served;
 * await server.close();
 * ```
 */
export function makeServer(host: string, port: number, app: Application, options: MakeServerOptions = {}): SimpleServer {
  return new SimpleServer(host, port, app, options);
}
