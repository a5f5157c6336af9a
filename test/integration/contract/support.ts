/**
 * Helpers of the contract tests: start a fixture app of
 * test/fixtures/apps/contract.mjs in a real gwserver process, talk to it over
 * raw sockets (to see the exact bytes, and to misbehave as a client can),
 * parse what comes back, and read the apps' `contract event` log records.
 *
 * Every wait has a deadline; nothing sleeps for a fixed time.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startGwserver, type Gwserver } from '../../helpers/gwserver.js';

export const FIXTURE = 'test/fixtures/apps/contract.mjs';

/** `gwserver [extra...] test/fixtures/apps/contract.mjs:NAME` (the root hook kills it after the test). */
export function serve(name: string, extra: string[] = []): Promise<Gwserver> {
  return startGwserver([...extra, `${FIXTURE}:${name}`]);
}

let tokens = 0;
/** A token unique in this test run, to tell one request's log records from another's. */
export function token(): string {
  return `t${process.pid}x${++tokens}`;
}

/** Polls `check` until it returns a value other than undefined, or fails at the deadline. */
export async function until<T>(what: string, check: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The `contract event` records an app logged, optionally only one event and one token. */
export function events(server: Gwserver, event?: string, t?: string): Array<Record<string, any>> {
  return server.records().filter((r) => r.contract !== undefined && (event === undefined || r.contract === event) && (t === undefined || r.t === t));
}

/** Waits for the app to log `event` for token `t`. */
export function waitEvent(server: Gwserver, event: string, t: string, timeoutMs = 10_000): Promise<Record<string, any>> {
  return server.waitForRecord((r) => r.contract === event && r.t === t, timeoutMs);
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request on a new connection (no agent, so no reuse), read to the end. */
export function request(url: string, options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${url} within 10 s`)));
    req.end(options.body);
  });
}

/**
 * A normal request on a new connection still works and is served by the
 * same process: nothing the previous request did took the worker down.
 */
export async function assertAlive(server: Gwserver): Promise<void> {
  const res = await request(`${server.url}/health`);
  assert.equal(res.status, 200, `health check: ${res.status} ${res.body}`);
  // One worker (gwserver's default): it must still be the one that served before.
  assert.deepEqual([JSON.parse(res.body.toString()).pid], server.workerPids(), 'the same worker answers');
  assert.equal(server.proc.exitCode, null);
  assert.equal(server.proc.signalCode, null);
}

/**
 * A full round trip on another connection: whatever the server had written
 * before it answered this has reached the client over loopback by the time
 * this resolves. Used before asserting that something did NOT arrive.
 */
export async function barrier(server: Gwserver): Promise<void> {
  await assertAlive(server);
}

/** The `application error` record about a request whose target contains `needle`. */
export function appError(server: Gwserver, needle: string): Promise<Record<string, any>> {
  return server.waitForRecord((r) => r.level === 'error' && typeof r.path === 'string' && r.path.includes(needle) && r.err !== undefined);
}

/** A client on a raw TCP connection: writes exact bytes, sees exact bytes. */
export class RawClient {
  readonly socket: net.Socket;
  data = Buffer.alloc(0);
  closed = false;
  error: NodeJS.ErrnoException | undefined;
  readonly #ready: Promise<void>;
  #waiters: Array<() => void> = [];

  constructor(port: number, host = '127.0.0.1') {
    this.socket = net.connect(port, host);
    this.#ready = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
    this.socket.on('data', (d: Buffer) => {
      this.data = Buffer.concat([this.data, d]);
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

  static async open(port: number): Promise<RawClient> {
    const c = new RawClient(port);
    await c.#ready;
    return c;
  }

  #notify(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Writes and resolves once the bytes were handed to the kernel. */
  write(bytes: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes, (err) => (err ? reject(err) : resolve()));
    });
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

  /** Waits until the server closed the connection. */
  waitClosed(timeoutMs = 10_000): Promise<void> {
    return this.waitFor('the server to close the connection', (c) => c.closed, timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Sends `bytes` on a new connection and returns everything until the server closes it. */
export async function rawExchange(port: number, bytes: string | Buffer, timeoutMs = 10_000): Promise<RawClient> {
  const c = await RawClient.open(port);
  try {
    await c.write(bytes);
    await c.waitClosed(timeoutMs);
    return c;
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

/** `GET target HTTP/1.1` with a Host header (and `extra` header lines). */
export function get(target: string, extra = '', method = 'GET', version = '1.1'): string {
  return `${method} ${target} HTTP/${version}\r\nHost: 127.0.0.1\r\n${extra}\r\n`;
}
