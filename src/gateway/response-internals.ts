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
