/**
 * A small bounded load generator for reload and recycling tests: a few
 * concurrent loops of real HTTP requests on loopback, counting failures.
 */
import http from 'node:http';
import { afterTest } from './scope.js';

export interface LoadResult {
  ok: number;
  /** Requests that failed (any error or a non-200 status). */
  failed: number;
  /** Failures on a reused keep-alive connection before any response byte: the server closed an idle connection as the request was sent (a client must retry these). */
  races: number;
  errors: string[];
  /** Distinct response bodies seen (e.g. worker pids). */
  bodies: Set<string>;
}

export interface LoadOptions {
  concurrency?: number;
  keepAlive?: boolean;
  /** Stop when this returns true (checked before each request). */
  until: () => boolean;
  /** Hard cap on requests, to keep traffic bounded. */
  maxRequests?: number;
  path?: string;
  /** `GET` by default; a `POST` carries a small body (`x=1`). */
  method?: 'GET' | 'POST';
  /** Called with the body of each successful response (to wait until the load reached every worker). */
  onOk?: (body: string) => void;
}

/** Responses a socket carried so far. */
const kServed = Symbol('load.served');
type Counted = import('node:net').Socket & { [kServed]?: number };

function once(agent: http.Agent | false, port: number, path: string, keepAlive: boolean, method: 'GET' | 'POST'): Promise<{ status: number; body: string; reused: boolean; error?: NodeJS.ErrnoException; gotBytes: boolean }> {
  return new Promise((resolve) => {
    let gotBytes = false;
    // req.reusedSocket misses a request the agent queued and then gave a socket that came free: count the socket's responses instead.
    let reused = false;
    const headers: http.OutgoingHttpHeaders = keepAlive ? {} : { Connection: 'close' };
    if (method === 'POST') headers['Content-Type'] = 'application/x-www-form-urlencoded';
    const req = http.request({ host: '127.0.0.1', port, path, method, agent, headers }, (res) => {
      gotBytes = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        const sock = req.socket as Counted | null;
        if (sock) sock[kServed] = (sock[kServed] ?? 0) + 1;
        resolve({ status: res.statusCode ?? 0, body, reused: reused || req.reusedSocket, gotBytes });
      });
      res.on('error', (error) => resolve({ status: 0, body, reused: reused || req.reusedSocket, error, gotBytes }));
    });
    req.on('socket', (sock: Counted) => { reused = (sock[kServed] ?? 0) > 0; });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ status: 0, body: '', reused: reused || req.reusedSocket, error, gotBytes }));
    req.end(method === 'POST' ? 'x=1' : undefined);
  });
}

/**
 * Runs request loops against 127.0.0.1:port until `until()` or `maxRequests`;
 * they also stop when the test ends, so a test that fails before its
 * `until()` turns true leaves no load running into the next one.
 */
export async function runLoad(port: number, options: LoadOptions): Promise<LoadResult> {
  const { concurrency = 4, keepAlive = false, maxRequests = 20_000, path = '/', method = 'GET' } = options;
  const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: concurrency }) : false;
  const result: LoadResult = { ok: 0, failed: 0, races: 0, errors: [], bodies: new Set() };
  let sent = 0;
  let testEnded = false;
  const loop = async () => {
    while (!testEnded && !options.until() && sent < maxRequests) {
      sent++;
      const r = await once(agent, port, path, keepAlive, method);
      if (r.error === undefined && r.status === 200) {
        result.ok++;
        result.bodies.add(r.body);
        options.onOk?.(r.body);
      } else if (r.error !== undefined && r.reused && !r.gotBytes && ['ECONNRESET', 'EPIPE'].includes(r.error.code ?? '') ) {
        result.races++;
      } else if (r.error !== undefined && r.reused && !r.gotBytes && r.error.message === 'socket hang up') {
        result.races++;
      } else {
        result.failed++;
        if (result.errors.length < 10) result.errors.push(r.error ? `${r.error.code ?? ''} ${r.error.message}` : `status ${r.status}`);
      }
    }
  };
  const loops = Promise.all(Array.from({ length: concurrency }, loop));
  afterTest(() => {
    testEnded = true;
    return loops;
  });
  await loops;
  if (agent) agent.destroy();
  return result;
}
