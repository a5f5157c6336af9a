/**
 * The one HTTP client of the tests: a request on a fresh connection (no
 * agent, so nothing is reused or left open: `Connection: close`), read to the
 * end, with a deadline. For exact bytes on the wire, see raw.ts; for load,
 * load.ts. And its other side, for in-process tests: a node:http handler
 * served on a port of 127.0.0.1 until close().
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterTest } from './scope.js';

/**
 * Where to send: a port on 127.0.0.1, a URL (its path and query are the
 * request's), a host and port (a Gwserver is one), or a unix socket.
 */
export type Target = number | string | { port: number; host?: string } | { socketPath: string };

export interface RequestOptions {
  /** `GET` by default. */
  method?: string;
  /** `/` by default; a URL target carries its own. */
  path?: string;
  headers?: http.OutgoingHttpHeaders;
  /** A stream is piped (chunked, unless a Content-Length is given). */
  body?: string | Buffer | Readable;
  /** The client's own address (any 127.0.0.0/8 address is local on Linux). */
  localAddress?: string;
  /** 15 s by default: no response by then destroys the request and rejects. */
  timeoutMs?: number;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body as UTF-8 text. */
  body: string;
  /** The body as received. */
  bytes: Buffer;
  /** From the request to the end of the response. */
  ms: number;
}

function where(target: Target, path: string): http.RequestOptions {
  if (typeof target === 'number') return { host: '127.0.0.1', port: target, path };
  if (typeof target === 'string') {
    const u = new URL(target);
    return { host: u.hostname, port: u.port, path: `${u.pathname}${u.search}` };
  }
  if ('socketPath' in target) return { socketPath: target.socketPath, path };
  return { host: target.host || '127.0.0.1', port: target.port, path };
}

/** One request on a fresh connection; rejects on a connection error or at the deadline. */
export function request(target: Target, options: RequestOptions = {}): Promise<Reply> {
  const { method = 'GET', path = '/', headers, body, localAddress, timeoutMs = 15_000 } = options;
  const to = where(target, path);
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ ...to, method, localAddress, agent: false, headers: { Connection: 'close', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const bytes = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: bytes.toString(), bytes, ms: Date.now() - t0 });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no response to ${method} ${to.socketPath ?? `${to.host}:${to.port}`}${to.path} within ${timeoutMs} ms`)));
    req.on('error', reject);
    if (body instanceof Readable) body.pipe(req);
    else req.end(body);
  });
}

/** A GET of `path`. */
export function get(target: Target, path = '/', options: Omit<RequestOptions, 'path' | 'method' | 'body'> = {}): Promise<Reply> {
  return request(target, { ...options, path });
}

/** GETs `path` and goes away (destroys the connection) at the first bytes of the response body. */
export function leaveAfterFirstChunk(target: Target, path = '/'): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ ...where(target, path), agent: false }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
  });
}

/**
 * GETs `path(i)` for i = 0, 1, ... until every pid of `workers` has answered
 * one (the fixture apps answer with their pid), 200 requests at most, and
 * asserts that these workers, and only they, answered. Returns the pid that
 * answered each request, in order.
 */
export async function reachEveryWorker(target: Target, workers: number[], path: (i: number) => string = () => '/'): Promise<number[]> {
  const pids: number[] = [];
  for (let i = 0; i < 200 && !workers.every((w) => pids.includes(w)); i++) {
    const r = await get(target, path(i));
    assert.equal(r.status, 200);
    pids.push(Number(r.body));
  }
  assert.deepEqual(new Set(pids), new Set(workers), 'requests reached every worker');
  return pids;
}

export interface Listening {
  server: http.Server;
  port: number;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Drops every connection (idle keep-alive ones too), then closes the server. */
  close(): Promise<void>;
}

/** Serves `handler` (or a server made already) on 127.0.0.1, port 0; closed when the test ends, if not before. */
export async function listen(handler: http.RequestListener | http.Server): Promise<Listening> {
  const server = handler instanceof http.Server ? handler : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = () => new Promise<void>((resolve) => {
    if (!server.listening) return resolve();
    server.closeAllConnections();
    server.close(() => resolve());
  });
  afterTest(close);
  return { server, port, url: `http://127.0.0.1:${port}`, close };
}
