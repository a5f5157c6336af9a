/**
 * Every use gwserver makes of the private parts of Node's `ServerResponse`
 * (Node 20's OutgoingMessage), in one place, each feature-detected: a Node
 * without one falls back to the public API, slower but the same.
 *
 * @module
 */
import { ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';

/** The internals the fast head path writes (see {@link storeHead}). */
type InternalResponse = ServerResponse & {
  _header: string | null;
  _hasBody: boolean;
  _expect_continue: boolean;
  _sent100: boolean;
  _contentLength: number | null;
  useChunkedEncodingByDefault: boolean;
  _storeHeader(firstLine: string, headers: string[] | null): void;
  _implicitHeader(): void;
};

/** Whether this Node has the internal the fast head path needs (else writeHead does it all). */
const CAN_STORE_HEADER = typeof (ServerResponse.prototype as Partial<InternalResponse>)._storeHeader === 'function';
const WRITE_HEAD = ServerResponse.prototype.writeHead;

/**
 * Stores a response head built by the caller, the way `writeHead(status,
 * reason, headers)` would, without checking each header again (the caller
 * has). `head` is the status line and every header line but the framing
 * ones; `framing` holds Content-Length and Date as name/value pairs, which
 * Node's own processing must see (its framing state depends on them).
 * `length`, when given, is a Content-Length the caller adds: Node writes it
 * from its own state when it frames a body of known length (HTTP/1.1), and
 * as a header otherwise (HEAD, HTTP/1.0).
 *
 * Returns false, having done nothing, when this Node lacks the internal,
 * when writeHead was replaced on the response (fromNodeHandler's stand-in,
 * on-headers in a framework: it must see the call), or when a head is
 * stored already: then the caller uses writeHead.
 */
export function storeHead(res: ServerResponse, status: number, reason: string, head: string, framing: string[] | null, length: number | undefined): boolean {
  const r = res as InternalResponse;
  if (!CAN_STORE_HEADER || r.writeHead !== WRITE_HEAD || r._header) return false;
  if (status === 204 || status === 304) r._hasBody = false;
  if (length !== undefined) {
    if (r._hasBody && r.useChunkedEncodingByDefault) r._contentLength = length;
    else (framing ??= []).push('Content-Length', String(length));
  }
  r.statusCode = status;
  r.statusMessage = reason;
  // As writeHead: a final status without 100 Continue sent ends the connection.
  if (r._expect_continue && !r._sent100) r.shouldKeepAlive = false;
  r._storeHeader(head, framing);
  return true;
}

/** The bytes of the head Node stored for `res` (0 before it is stored, or where Node keeps it elsewhere). */
export function headBytes(res: ServerResponse): number {
  const head = (res as Partial<InternalResponse>)._header;
  return typeof head === 'string' ? head.length : 0;
}

/** Forgets a stored head (a writeHead whose headers the caller then refused). */
export function forgetHead(res: ServerResponse): void {
  (res as Partial<InternalResponse>)._header = null;
}

/** Writes the implicit head through res.writeHead, as Node does on a first write (so wrappers such as on-headers run). */
export function implicitHeader(res: ServerResponse): void {
  const r = res as Partial<InternalResponse>;
  if (typeof r._implicitHeader === 'function') r._implicitHeader();
  else res.writeHead(res.statusCode);
}

/** The response a node:http server is writing on `socket` now, if any. */
export function responseOn(socket: Socket): ServerResponse | undefined {
  return (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined;
}

const kIdValue = Symbol('gwserver.idValue');
type Tagged = InternalResponse & { [kIdValue]?: string };

let idPatch: boolean | undefined;
/**
 * The one header name {@link addHeaderAtHead} adds in this process (a
 * worker has one request-id header): one property per response, the value,
 * rather than three. Another name falls back to setHeader.
 */
let idName: string | undefined;
let idLower = '';
let idFirst = 0;

/** `name` is `lower` in any case; a cheap first-character test spares most names a lower-cased copy. */
function sameName(name: string, lower: string): boolean {
  return name.length === lower.length && (name.charCodeAt(0) | 32) === idFirst && (name === lower || name.toLowerCase() === lower);
}

/** Whether `headers`, as writeHead hands them to _storeHeader, name `lower` (any case). */
function names(headers: unknown, lower: string): boolean {
  if (headers === null || headers === undefined || typeof headers !== 'object') return false;
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const entry of headers as string[][]) if (sameName(String(entry[0]), lower)) return true;
      return false;
    }
    for (let i = 0; i < headers.length; i += 2) {
      if (sameName(String(headers[i]), lower)) return true;
    }
    return false;
  }
  // Node's own store (setHeader's) is keyed by the lower-case name: one lookup answers.
  if (Object.getPrototypeOf(headers) === null) return (headers as Record<string, unknown>)[lower] !== undefined;
  for (const key in headers) {
    if (sameName(key, lower)) return true;
  }
  return false;
}

/**
 * Sends `name: value` with the response's head unless the app sets that
 * header itself, without going through `setHeader`: a header set before
 * the app runs would cost every response Node's checks of it, and turn an
 * app's `writeHead(status, headers)` into Node's slower merging path (a
 * few percent of a small request). It is added as the head is stored, by
 * a wrapper of `ServerResponse.prototype._storeHeader` installed on first
 * use (server responses only; requests keep OutgoingMessage's own), and
 * the response carries one property, the value: every property added to a
 * response after Node made it costs each request (callgrind: three cost
 * about 1% of a bare handler's instructions). The name and value must be
 * valid (the caller checked them). Returns false when this Node has no
 * `_storeHeader`, or when the process already adds a header of another
 * name (one per process): then the caller uses setHeader.
 */
export function addHeaderAtHead(res: ServerResponse, name: string, lower: string, value: string): boolean {
  if (idPatch === undefined) {
    const proto = ServerResponse.prototype as Partial<InternalResponse>;
    const original = proto._storeHeader;
    idPatch = typeof original === 'function';
    if (idPatch) {
      const wrapped = function _storeHeader(this: Tagged, firstLine: string, headers: string[] | null): void {
        const v = this[kIdValue];
        if (v !== undefined && !names(headers, idLower)) firstLine += `${idName!}: ${v}\r\n`;
        original!.call(this, firstLine, headers);
      };
      Object.defineProperty(proto, '_storeHeader', { value: wrapped, writable: true, configurable: true });
    }
  }
  // An HTTP/2 response (Node's compatibility API) has no head of its own to add to: setHeader.
  if (!idPatch || (res as Partial<InternalResponse>)._storeHeader === undefined) return false;
  if (idName === undefined) {
    idName = name;
    idLower = lower;
    idFirst = lower.charCodeAt(0) | 32;
  } else if (name !== idName) return false;
  (res as Tagged)[kIdValue] = value;
  return true;
}

/** The header {@link addHeaderAtHead} adds to `res`, as [name, value], if any. */
export function headerAtHead(res: ServerResponse): [string, string] | undefined {
  const v = (res as Tagged)[kIdValue];
  return v === undefined ? undefined : [idName!, v];
}

// ---------------------------------------------------------------------------
// HTTP/2: Node's compatibility response, made to take what is done to a node:http one
// ---------------------------------------------------------------------------

/** Headers that are HTTP/1.1's connection management, which HTTP/2 forbids (RFC 9113 8.2.2). */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

function connectionSpecific(name: unknown): boolean {
  return typeof name === 'string' && name.length >= 7 && name.length <= 17 && CONNECTION_SPECIFIC.has(name.toLowerCase());
}

const kReason = Symbol('gwserver.reason');
/** Set on an HTTP/2 stream the server itself reset (a response cut): not the client's doing. */
export const kServerReset = Symbol('gwserver.serverReset');
const kBodyBytes = Symbol('gwserver.bodyBytes');

interface H2Response {
  stream: { destroyed: boolean; close(code?: number): void };
  statusCode: number;
  writableFinished: boolean;
  writeHead(status: number, reason?: unknown, headers?: unknown): unknown;
  setHeader(name: string, value: unknown): unknown;
  appendHeader(name: string, value: unknown): unknown;
  write(chunk: unknown, encoding?: unknown, cb?: unknown): boolean;
  destroy(err?: unknown): void;
  [kReason]?: string;
  [kBodyBytes]?: number;
}

const adapted = new WeakSet<object>();

/** The NGHTTP2_INTERNAL_ERROR code (RFC 9113 7), without loading node:http2 here. */
const INTERNAL_ERROR = 2;

/**
 * Adapts Node's HTTP/2 compatibility response (`proto`:
 * `Http2ServerResponse.prototype`, passed in so that this module does not
 * load node:http2) to what gwserver's code, and a node app's, does to a
 * node:http `ServerResponse`, once per process:
 *
 * - a reason phrase (`writeHead(status, reason, ...)`, `statusMessage =`)
 *   is kept for the logs and not sent: HTTP/2 has none. Node would send
 *   nothing either, but print an UnsupportedWarning on stderr for it.
 * - connection-specific headers (`Connection: close` from an app, which
 *   the gateway contract drops on HTTP/2; Keep-Alive, Transfer-Encoding,
 *   Upgrade) are dropped, where Node warns or throws.
 * - `destroyed`, which node:http's response has and the interfaces read.
 * - `writeContinue()` and `writeEarlyHints()` on a stream its client has
 *   reset do nothing, where Node's throw.
 * - `destroy()` of a response not finished resets its stream with
 *   INTERNAL_ERROR (a client must not take a cut response for a complete
 *   one), where Node's would send NO_ERROR.
 * - the body bytes written are counted (see {@link bodyBytesSent}): the
 *   connection is shared by every stream, so its byte count says nothing
 *   of one response.
 */
export function adaptHttp2Responses(proto: object): void {
  if (adapted.has(proto)) return;
  adapted.add(proto);
  const p = proto as H2Response;
  const writeHead = p.writeHead;
  const setHeader = p.setHeader;
  const appendHeader = p.appendHeader;
  const write = p.write;
  const destroy = p.destroy;
  Object.defineProperty(proto, 'statusMessage', {
    configurable: true,
    get(this: H2Response): string {
      return this[kReason] ?? STATUS_CODES[this.statusCode] ?? '';
    },
    set(this: H2Response, value: unknown) {
      this[kReason] = String(value);
    },
  });
  if (!('destroyed' in proto)) {
    Object.defineProperty(proto, 'destroyed', {
      configurable: true,
      get(this: H2Response): boolean {
        return this.stream.destroyed;
      },
    });
  }
  Object.defineProperty(proto, 'writeHead', {
    configurable: true,
    writable: true,
    value: function writeHeadH2(this: H2Response, status: number, reason?: unknown, headers?: unknown) {
      if (typeof reason === 'string') this[kReason] = reason;
      else if (headers === undefined) headers = reason;
      return writeHead.call(this, status, asRecord(headers));
    },
  });
  Object.defineProperty(proto, 'setHeader', {
    configurable: true,
    writable: true,
    value: function setHeaderH2(this: H2Response, name: string, value: unknown) {
      return connectionSpecific(name) ? this : setHeader.call(this, name, value);
    },
  });
  Object.defineProperty(proto, 'appendHeader', {
    configurable: true,
    writable: true,
    value: function appendHeaderH2(this: H2Response, name: string, value: unknown) {
      return connectionSpecific(name) ? this : appendHeader.call(this, name, value);
    },
  });
  // end(chunk) writes through write(): counted once.
  Object.defineProperty(proto, 'write', {
    configurable: true,
    writable: true,
    value: function writeH2(this: H2Response, chunk: unknown, encoding?: unknown, cb?: unknown) {
      if (chunk !== null && chunk !== undefined) {
        const n = typeof chunk === 'string' ? Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8') : (chunk as Uint8Array).byteLength ?? 0;
        this[kBodyBytes] = (this[kBodyBytes] ?? 0) + n;
      }
      return write.call(this, chunk, encoding, cb);
    },
  });
  // Node's own check misses a stream its client reset already: additionalHeaders would throw.
  for (const name of ['writeContinue', 'writeEarlyHints'] as const) {
    const original = (proto as Record<string, unknown>)[name];
    if (typeof original !== 'function') continue;
    Object.defineProperty(proto, name, {
      configurable: true,
      writable: true,
      value: function informationalH2(this: H2Response, ...args: unknown[]) {
        if (this.stream.destroyed) return false;
        return (original as (...a: unknown[]) => unknown).apply(this, args);
      },
    });
  }
  Object.defineProperty(proto, 'destroy', {
    configurable: true,
    writable: true,
    value: function destroyH2(this: H2Response, err?: unknown) {
      if (err === undefined && !this.writableFinished && !this.stream.destroyed) {
        (this.stream as Record<symbol, unknown>)[kServerReset] = true;
        this.stream.close(INTERNAL_ERROR);
        return;
      }
      destroy.call(this, err);
    },
  });
}

/**
 * `headers` as writeHead takes them (pairs, a flat list, a record), as a
 * record without connection-specific fields (a repeated name's values in
 * an array). Node's compatibility writeHead takes a list field by field
 * through removeHeader and appendHeader (its slow path, as its response
 * always has a header map); a record is one setHeader per name.
 */
function asRecord(headers: unknown): unknown {
  if (headers === null || typeof headers !== 'object') return headers;
  if (Array.isArray(headers)) {
    const out: Record<string, string | string[]> = {};
    const put = (name: unknown, value: unknown) => {
      if (connectionSpecific(name)) return;
      const key = String(name).toLowerCase();
      const prev = out[key];
      const v = Array.isArray(value) ? value.map(String) : String(value);
      if (prev === undefined) out[key] = v;
      else out[key] = [...(Array.isArray(prev) ? prev : [prev]), ...(Array.isArray(v) ? v : [v])];
    };
    if (headers.length > 0 && Array.isArray(headers[0])) for (const h of headers as unknown[][]) put(h[0], h[1]);
    else for (let i = 0; i < headers.length; i += 2) put(headers[i], headers[i + 1]);
    return out;
  }
  let found = false;
  for (const key in headers) if (connectionSpecific(key)) found = true;
  if (!found) return headers;
  const out: Record<string, unknown> = {};
  for (const key in headers) if (!connectionSpecific(key)) out[key] = (headers as Record<string, unknown>)[key];
  return out;
}

/** The response body bytes written, for an HTTP/2 response ({@link adaptHttp2Responses}); undefined for node:http's. */
export function bodyBytesSent(res: ServerResponse): number | undefined {
  const r = res as unknown as Partial<H2Response>;
  return r[kBodyBytes] ?? (r.stream === undefined ? undefined : 0);
}
