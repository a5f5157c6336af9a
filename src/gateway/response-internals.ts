/**
 * Every use gwserver makes of the private parts of Node's `ServerResponse`
 * (Node 20's OutgoingMessage), in one place, each feature-detected: a Node
 * without one falls back to the public API, slower but the same.
 *
 * @module
 */
import { ServerResponse } from 'node:http';
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

const kIdName = Symbol('gwserver.idName');
const kIdLower = Symbol('gwserver.idLower');
const kIdValue = Symbol('gwserver.idValue');
type Tagged = InternalResponse & { [kIdName]?: string; [kIdLower]?: string; [kIdValue]?: string };

let idPatch: boolean | undefined;

/** Whether `headers`, as writeHead hands them to _storeHeader, name `lower` (any case). */
function names(headers: unknown, lower: string): boolean {
  if (headers === null || headers === undefined || typeof headers !== 'object') return false;
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const entry of headers as string[][]) if (String(entry[0]).length === lower.length && String(entry[0]).toLowerCase() === lower) return true;
      return false;
    }
    for (let i = 0; i < headers.length; i += 2) {
      const n = String(headers[i]);
      if (n.length === lower.length && n.toLowerCase() === lower) return true;
    }
    return false;
  }
  // Node's own store (setHeader's) is keyed by the lower-case name: one lookup answers.
  if (Object.getPrototypeOf(headers) === null) return (headers as Record<string, unknown>)[lower] !== undefined;
  for (const key in headers) {
    if (key.length === lower.length && key.toLowerCase() === lower) return true;
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
 * use (server responses only; requests keep OutgoingMessage's own). The
 * name and value must be valid (the caller checked them). Returns false
 * when this Node has no `_storeHeader`: then the caller uses setHeader.
 */
export function addHeaderAtHead(res: ServerResponse, name: string, lower: string, value: string): boolean {
  if (idPatch === undefined) {
    const proto = ServerResponse.prototype as Partial<InternalResponse>;
    const original = proto._storeHeader;
    idPatch = typeof original === 'function';
    if (idPatch) {
      const wrapped = function _storeHeader(this: Tagged, firstLine: string, headers: string[] | null): void {
        const v = this[kIdValue];
        if (v !== undefined && !names(headers, this[kIdLower]!)) firstLine += `${this[kIdName]}: ${v}\r\n`;
        original!.call(this, firstLine, headers);
      };
      Object.defineProperty(proto, '_storeHeader', { value: wrapped, writable: true, configurable: true });
    }
  }
  if (!idPatch) return false;
  const r = res as Tagged;
  r[kIdName] = name;
  r[kIdLower] = lower;
  r[kIdValue] = value;
  return true;
}

/** The header {@link addHeaderAtHead} adds to `res`, as [name, value], if any. */
export function headerAtHead(res: ServerResponse): [string, string] | undefined {
  const r = res as Tagged;
  return r[kIdValue] === undefined ? undefined : [r[kIdName]!, r[kIdValue]];
}
