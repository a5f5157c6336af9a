/**
 * The master's only HTTP: `/metrics`, `/healthz` and `/readyz` on
 * --metrics-bind, never on an application address (a client of the app must
 * not read the server's metrics, and a probe must not queue behind app
 * traffic). Every answer comes from the master's memory: no request here
 * waits on a worker.
 *
 * @module
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseBind } from '../config/binds.js';

/** Where the metrics server listens: an address to bind, or a listening fd inherited from an old master (USR2). */
export type MetricsListen = { host: string; port: number } | { fd: number };

export interface MetricsServerOptions {
  /** The Prometheus text of every metric. */
  render(): Promise<{ contentType: string; body: string }>;
  /** 200 on /readyz: at least one worker listens and the master is not stopping. */
  ready(): boolean;
  /** A scrape that failed (a bad app metric): logged, answered 500. */
  onError?(err: unknown): void;
}

/** A listening metrics server. */
export interface MetricsServer {
  /** As logged: `http://127.0.0.1:9100`. */
  address: string;
  /** The listening socket's descriptor, to hand to a new master on USR2. */
  fd: number;
  /** Stops accepting, and closes idle keep-alive connections; resolves when the server is closed. */
  close(): Promise<void>;
}

const TEXT = { 'Content-Type': 'text/plain; charset=utf-8' };

/** Why `metricsBind` may not be used next to these app binds, or undefined when it may. */
export function sharedAppAddress(metricsBind: string, binds: readonly string[]): string | undefined {
  const m = parseBind(metricsBind);
  if (m.kind !== 'tcp' || m.port === 0) return undefined;
  const wildcard = (h: string) => h === '0.0.0.0' || h === '::' || h === '';
  for (const b of binds) {
    let a;
    try {
      a = parseBind(b);
    } catch {
      continue;
    }
    if (a.kind !== 'tcp' || a.port !== m.port) continue;
    if (a.host === m.host || wildcard(a.host) || wildcard(m.host)) {
      return `--metrics-bind ${metricsBind} is also an application address (--bind ${b}): the metrics and health checks need an address of their own, e.g. 127.0.0.1:9100`;
    }
  }
  return undefined;
}

function answer(res: http.ServerResponse, status: number, headers: Record<string, string>, body: string, head: boolean): void {
  res.writeHead(status, { ...headers, 'Content-Length': String(Buffer.byteLength(body)), 'Cache-Control': 'no-store' });
  res.end(head ? undefined : body);
}

/**
 * Starts the metrics server. Rejects with the listen error (EADDRINUSE,
 * EACCES, ...) when the address cannot be bound.
 */
export async function startMetricsServer(where: MetricsListen, options: MetricsServerOptions): Promise<MetricsServer> {
  const server = http.createServer({ keepAliveTimeout: 5000 }, (req, res) => {
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      answer(res, 405, { ...TEXT, Allow: 'GET, HEAD' }, 'method not allowed\n', false);
      return;
    }
    const path = (req.url ?? '/').split('?', 1)[0];
    switch (path) {
      case '/metrics':
        options.render().then(
          ({ contentType, body }) => answer(res, 200, { 'Content-Type': contentType }, body, head),
          (err: unknown) => {
            options.onError?.(err);
            answer(res, 500, TEXT, `cannot render the metrics: ${(err as Error)?.message ?? String(err)}\n`, head);
          },
        );
        return;
      case '/healthz':
        // The master answers: it runs. (Whether it serves is /readyz's question.)
        answer(res, 200, TEXT, 'ok\n', head);
        return;
      case '/readyz':
        if (options.ready()) answer(res, 200, TEXT, 'ready\n', head);
        else answer(res, 503, TEXT, 'not ready\n', head);
        return;
      default:
        answer(res, 404, TEXT, 'not found: try /metrics, /healthz or /readyz\n', head);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = () => {
      server.off('error', reject);
      resolve();
    };
    if ('fd' in where) server.listen({ fd: where.fd }, done);
    else server.listen({ host: where.host, port: where.port }, done);
  });
  server.on('error', (err) => options.onError?.(err));
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' || a.address.includes(':') ? `[${a.address}]` : a.address;
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
  let closed: Promise<void> | undefined;
  return {
    address: `http://${host}:${a.port}`,
    fd,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // A scrape under way may finish; a client that keeps its connection open may not hold up the master's exit.
        setTimeout(() => server.closeAllConnections(), 1000).unref();
      })),
  };
}
