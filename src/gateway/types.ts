/**
 * The gateway interface: PEP 3333 (WSGI) carried over to TypeScript.
 *
 * These types are the whole contract between a server and an application.
 * Names follow PEP 3333 on purpose so that anyone who knows WSGI knows them;
 * where Node forbids blocking (reading the body, writing output) the
 * operation returns a promise instead.
 *
 * @module
 */
import type { Readable } from 'node:stream';
import type { FileHandle } from 'node:fs/promises';

/** One piece of a response body. A string is sent as UTF-8. */
export type Chunk = Uint8Array | string;

/**
 * What an application returns: any sync or async iterable of chunks, with an
 * optional `close()` that the server calls exactly once when the response is
 * over (completed, failed, or abandoned by the client).
 *
 * A bare `Uint8Array` or string is accepted as a one-chunk body. An array is
 * special only in that its size is known up front, so the server can add
 * `Content-Length` for it.
 */
export type Body =
  | ((Iterable<Chunk> | AsyncIterable<Chunk>) & { close?(): void | Promise<void> })
  | Chunk;

/**
 * The legacy imperative output path returned by {@link StartResponse}.
 * Resolves once the chunk was handed to the socket and the socket drained.
 */
export type Write = (chunk: Chunk) => Promise<void>;

/** A response header: `[name, value]`, both latin-1 text. */
export type HeaderPair = [name: string, value: string];

/**
 * Records the response status and headers; nothing is sent until the first
 * non-empty body chunk (or the end of the body).
 *
 * @param status - `"NNN Reason"`, e.g. `"200 OK"`.
 * @param headers - `[name, value]` pairs. Hop-by-hop headers are refused.
 * @param excInfo - pass the caught error to replace an earlier status while
 *   nothing was sent; if headers were already sent the error is re-thrown.
 */
export type StartResponse = (status: string, headers: HeaderPair[], excInfo?: unknown) => Write;

/**
 * A gateway application: a function, async function, generator function or
 * bound method taking the request's environ and `startResponse`.
 */
export type Application = (environ: Environ, startResponse: StartResponse) => Body | Promise<Body>;

/** Wraps an application in another one (request ids, auth, compression...). */
export type Middleware = (app: Application) => Application;

/**
 * `wsgi.input`: the request body, streamed from the socket on demand.
 *
 * Only one read may be pending at a time. Reading to EOF is always safe
 * (`wsgi.input_terminated` is true), chunked bodies included.
 */
export interface InputStream extends AsyncIterable<Buffer> {
  /** Exactly `size` bytes, fewer only at EOF; without `size`, the rest. Empty at EOF. */
  read(size?: number): Promise<Buffer>;
  /** Up to and including the next `"\n"`, or at most `size` bytes. Empty at EOF. */
  readline(size?: number): Promise<Buffer>;
  /** All remaining lines; stops after the line that brings the total past `hint`. */
  readlines(hint?: number): Promise<Buffer[]>;
}

/** `wsgi.errors`: text written here lands in the error log with the request id. */
export interface ErrorStream {
  write(text: string): void;
  writelines(lines: Iterable<string>): void;
  flush(): void;
}

/** The minimal logger shape exposed as `gwserver.log` (a pino child logger). */
export interface RequestLogger {
  trace(obj: unknown, msg?: string): void;
  debug(obj: unknown, msg?: string): void;
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
  fatal(obj: unknown, msg?: string): void;
}

/** What `wsgi.file_wrapper` accepts: a path, an open FileHandle, or a Readable. */
export type FileLike = string | FileHandle | Readable;

/** `wsgi.file_wrapper`: a body the server streams efficiently from a file. */
export type FileWrapperFactory = (file: FileLike, blockSize?: number) => Body;

/**
 * The per-request environment: CGI-style keys, `wsgi.*` keys and
 * `gwserver.*` extensions. Request headers appear as `HTTP_*` keys.
 *
 * Typed so that an app reads it without casts: the CGI keys gwserver always
 * sets are `string`; the ones it sets only sometimes (`CONTENT_TYPE`, the
 * TLS keys) and every request header (`HTTP_*`) are `string | undefined`;
 * `wsgi.*` and `gwserver.*` keys have their own types. Any other key (what a
 * middleware adds) is `unknown`, to be checked before use.
 *
 * @example
 * ```ts
 * export const application: Application = (environ, startResponse) => {
 *   const host = environ.HTTP_HOST ?? environ.SERVER_NAME; // string
 *   const agent = environ.HTTP_USER_AGENT; // string | undefined
 *   startResponse('200 OK', [['Content-Type', 'text/plain']]);
 *   return [`${host} ${agent ?? '-'}`];
 * };
 * ```
 */
export interface Environ {
  REQUEST_METHOD: string;
  SCRIPT_NAME: string;
  PATH_INFO: string;
  QUERY_STRING: string;
  /** Only when the request has a `Content-Type` header. */
  CONTENT_TYPE?: string;
  /** Only when the request has a `Content-Length` header. */
  CONTENT_LENGTH?: string;
  SERVER_NAME: string;
  SERVER_PORT: string;
  SERVER_PROTOCOL: string;
  REMOTE_ADDR: string;
  REMOTE_PORT: string;
  RAW_URI: string;
  /** `on` over TLS (`--certfile`); absent otherwise. The `SSL_*` keys are mod_ssl's, from the connection (docs/tls.md). */
  HTTPS?: string;
  /** Over TLS: `TLSv1.2` or `TLSv1.3`. */
  SSL_PROTOCOL?: string;
  /** Over TLS: the cipher suite, OpenSSL's name. */
  SSL_CIPHER?: string;
  /** Over TLS: `SUCCESS` with a verified client certificate, `NONE` without one. */
  SSL_CLIENT_VERIFY?: string;
  /** With a client certificate: its subject, RFC 2253. */
  SSL_CLIENT_S_DN?: string;
  /** With a client certificate: its issuer, RFC 2253. */
  SSL_CLIENT_I_DN?: string;
  /** With a client certificate: its serial number, hex. */
  SSL_CLIENT_M_SERIAL?: string;
  /** With a client certificate: the start of its validity. */
  SSL_CLIENT_V_START?: string;
  /** With a client certificate: the end of its validity. */
  SSL_CLIENT_V_END?: string;
  /** CGI's authenticated user: gwserver never sets it; an authentication middleware may. */
  REMOTE_USER?: string;
  /**
   * A request header: `HTTP_` and its name upper-cased, `-` as `_`
   * (`Accept-Language` is `HTTP_ACCEPT_LANGUAGE`); repeats joined with `, `
   * (`; ` for `Cookie`). Undefined when the request has no such header.
   */
  [header: `HTTP_${string}`]: string | undefined;
  'wsgi.version': [1, 0];
  'wsgi.url_scheme': 'http' | 'https';
  'wsgi.input': InputStream;
  'wsgi.errors': ErrorStream;
  'wsgi.multithread': false;
  'wsgi.multiprocess': boolean;
  'wsgi.run_once': false;
  'wsgi.input_terminated': true;
  'wsgi.file_wrapper': FileWrapperFactory;
  /** Aborted when the client goes away before the response is complete. */
  'gwserver.signal': AbortSignal;
  /** This request's id (also in every log record about it). */
  'gwserver.request_id': string;
  /** The id of the worker serving the request (`0` when running alone). */
  'gwserver.worker_id': number;
  /** A logger whose records carry this request's id. */
  'gwserver.log': RequestLogger;
  /**
   * Sends a `103 Early Hints` response with these headers (usually `Link`)
   * before the final one, as gunicorn's key of the same name: ignored once
   * the response headers are out, and for HTTP/1.0 clients. Optional: a
   * server that cannot send 1xx responses leaves it out.
   *
   * @example
   * ```ts
   * environ['wsgi.early_hints']?.([['Link', '</app.css>; rel=preload; as=style']]);
   * ```
   */
  'wsgi.early_hints'?: (headers: HeaderPair[]) => void;
  /** Anything else, e.g. what a middleware adds: check it before use. */
  [key: string]: unknown;
}
