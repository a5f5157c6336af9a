/**
 * The one raw-socket client of the tests: HTTP over node:net, for tests that
 * need the exact bytes on the wire or must misbehave as a client can. A
 * RawClient writes bytes and records everything received; rawRequest and
 * rawExchange are its two common uses; parseResponse reads a response from
 * the bytes.
 */
import net from 'node:net';

/** A port on 127.0.0.1, a host and port, or a unix socket path. */
export type Target = number | { port: number; host?: string } | { path: string };

/** A client on a raw connection: writes exact bytes, sees exact bytes. */
export class RawClient {
  readonly socket: net.Socket;
  data = Buffer.alloc(0);
  /** The server ended its side (a FIN). */
  ended = false;
  /** The connection is closed (by either side, or by an error). */
  closed = false;
  error: NodeJS.ErrnoException | undefined;
  readonly #connected: Promise<void>;
  #waiters: Array<() => void> = [];

  constructor(target: Target) {
    this.socket = typeof target === 'number' ? net.connect(target, '127.0.0.1')
      : 'path' in target ? net.connect(target.path)
      : net.connect(target.port, target.host ?? '127.0.0.1');
    this.#connected = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
    // A client that never awaits the connection must not see an unhandled rejection.
    this.#connected.catch(() => undefined);
    this.socket.on('data', (d: Buffer) => {
      this.data = Buffer.concat([this.data, d]);
      this.#notify();
    });
    this.socket.on('end', () => {
      this.ended = true;
      this.#notify();
    });
    this.socket.on('error', (err) => {
      this.error = err;
      this.#notify();
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.#notify();
    });
  }

  /** Connects; rejects if the connection fails. */
  static async open(target: Target): Promise<RawClient> {
    const c = new RawClient(target);
    try {
      await c.#connected;
    } catch (err) {
      c.destroy();
      throw err;
    }
    return c;
  }

  #notify(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Writes and resolves once the bytes were handed to the kernel (strings as latin-1: one byte per char). */
  write(bytes: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Writes without waiting: for a peer that may close before taking it all (its error is kept in `error`). */
  send(bytes: string | Buffer): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  /** Writes the last bytes and ends this side (a half-close: the server reads the end of the stream). */
  end(bytes?: string | Buffer): void {
    if (bytes === undefined) this.socket.end();
    else this.socket.end(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  /** Received text (latin-1: one char per byte). */
  get text(): string {
    return this.data.toString('latin1');
  }

  /** Waits until `pred` holds (checked on each event), or fails at the deadline. */
  async waitFor(what: string, pred: (c: RawClient) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; received ${JSON.stringify(this.text.slice(0, 2000))} (closed: ${this.closed})`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 500));
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Waits until the connection is closed. */
  waitClosed(timeoutMs = 10_000): Promise<void> {
    return this.waitFor('the server to close the connection', (c) => c.closed, timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Sends `bytes` on a new connection and returns the client once the server closed it (everything it sent is in `data`). */
export async function rawExchange(target: Target, bytes: string | Buffer, timeoutMs = 10_000): Promise<RawClient> {
  const c = await RawClient.open(target);
  try {
    await c.write(bytes);
    await c.waitClosed(timeoutMs);
    return c;
  } finally {
    c.destroy();
  }
}

export interface RawResponse extends ParsedResponse {
  /** Everything received, as latin-1. */
  raw: string;
  /** Whether the connection was closed when the response was complete. */
  closed: boolean;
}

/** The first final response (1xx skipped) in `data` once complete, or what there is of it once `closed`; undefined before. */
function firstResponse(data: Buffer, closed: boolean): ParsedResponse | undefined {
  let rest = data;
  for (;;) {
    if (rest.indexOf('\r\n\r\n') < 0) return undefined;
    const r = parseResponse(rest, { closed });
    if (r.status >= 200 || r.status < 100) return r.complete || closed ? r : undefined;
    rest = r.rest;
  }
}

/**
 * Sends `bytes` on a new connection (without waiting for the server to take
 * them all: it may answer and close first) and resolves with the first
 * complete response, or with what arrived when the server closed the
 * connection. Rejects if nothing did.
 */
export async function rawRequest(target: Target, bytes: string | Buffer, timeoutMs = 10_000): Promise<RawResponse> {
  const c = new RawClient(target);
  try {
    c.send(bytes);
    let r: ParsedResponse | undefined;
    await c.waitFor('a complete response', () => (r = firstResponse(c.data, c.closed)) !== undefined || c.closed, timeoutMs);
    if (r === undefined) throw new Error(`connection closed without a response; got ${JSON.stringify(c.text)}${c.error ? ` (${c.error.message})` : ''}`);
    return { ...r, raw: c.text, closed: c.closed };
  } finally {
    c.destroy();
  }
}

export interface ParsedResponse {
  status: number;
  reason: string;
  /** Header names lower-cased; repeats joined with ", ". */
  headers: Record<string, string>;
  /** The header lines as sent, in order. */
  rawHeaders: Array<[string, string]>;
  framing: 'length' | 'chunked' | 'close' | 'none';
  body: Buffer;
  /** The chunk sizes as sent (chunked framing only, without the final 0). */
  chunkSizes: number[];
  /** Whether the framing says the body is complete (a closed connection ends a close-delimited body). */
  complete: boolean;
  /** Bytes after this response (the next response, or garbage). */
  rest: Buffer;
}

/**
 * Parses one HTTP/1.x response from raw bytes. `head` says the request was
 * HEAD (no body whatever the headers say); `closed` that the connection was
 * closed after these bytes (which ends a close-delimited body).
 */
export function parseResponse(buf: Buffer, options: { head?: boolean; closed?: boolean } = {}): ParsedResponse {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`no complete response head in ${JSON.stringify(buf.toString('latin1').slice(0, 500))}`);
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3}) (.*)$/.exec(lines[0]!);
  if (!m) throw new Error(`bad status line ${JSON.stringify(lines[0])}`);
  const headers: Record<string, string> = {};
  const rawHeaders: Array<[string, string]> = [];
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    const name = line.slice(0, i);
    const value = line.slice(i + 1).trim();
    rawHeaders.push([name, value]);
    const key = name.toLowerCase();
    headers[key] = headers[key] === undefined ? value : `${headers[key]}, ${value}`;
  }
  const status = Number(m[1]);
  let pos = end + 4;
  const base = { status, reason: m[2]!, headers, rawHeaders, chunkSizes: [] as number[] };
  if (options.head || status === 204 || status === 304 || status < 200) {
    return { ...base, framing: 'none', body: Buffer.alloc(0), complete: true, rest: buf.subarray(pos) };
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts: Buffer[] = [];
    for (;;) {
      const eol = buf.indexOf('\r\n', pos);
      if (eol < 0) break;
      const size = parseInt(buf.subarray(pos, eol).toString('latin1'), 16);
      if (Number.isNaN(size)) throw new Error(`bad chunk size line at ${pos}: ${JSON.stringify(buf.subarray(pos, eol + 2).toString('latin1'))}`);
      if (size === 0) {
        const trailerEnd = buf.indexOf('\r\n\r\n', eol);
        const complete = buf.subarray(eol, eol + 4).toString('latin1') === '\r\n\r\n' || trailerEnd >= 0;
        const after = buf.subarray(eol, eol + 2).toString() === '\r\n' && buf.subarray(eol + 2, eol + 4).toString() === '\r\n' ? eol + 4 : trailerEnd >= 0 ? trailerEnd + 4 : buf.length;
        return { ...base, framing: 'chunked', body: Buffer.concat(parts), complete, rest: buf.subarray(after) };
      }
      if (buf.length < eol + 2 + size + 2) {
        parts.push(buf.subarray(eol + 2, Math.min(buf.length, eol + 2 + size)));
        base.chunkSizes.push(size);
        pos = buf.length;
        break;
      }
      base.chunkSizes.push(size);
      parts.push(buf.subarray(eol + 2, eol + 2 + size));
      pos = eol + 2 + size + 2;
    }
    return { ...base, framing: 'chunked', body: Buffer.concat(parts), complete: false, rest: Buffer.alloc(0) };
  }
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    const body = buf.subarray(pos, pos + n);
    return { ...base, framing: 'length', body, complete: body.length === n, rest: buf.subarray(pos + n) };
  }
  return { ...base, framing: 'close', body: buf.subarray(pos), complete: options.closed === true, rest: Buffer.alloc(0) };
}
