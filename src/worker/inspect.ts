/**
 * What a worker is serving now, for `gwserverctl workers` and `top`
 * (`gwserver:inspect`), found without costing the request path anything:
 * nothing is recorded per request. When asked, and at each heartbeat, the
 * worker walks its servers' open HTTP/1 connections (node:http's own list
 * of them, which it keeps for its header and request timeouts) and reads the
 * response each one is writing now. A request seen for the first time is
 * stamped in a WeakMap (gone with the request), so its age is known to
 * within a heartbeat (at most 1 s) without a clock read per request.
 * HTTP/2 streams and upgraded connections (WebSockets) are not listed.
 *
 * @module
 */
import type http from 'node:http';

/** node:http's list of a server's connections (an internal: absent on a Node.js without it, and then nothing is listed). */
interface ConnectionsList {
  all(): Array<{ socket?: { _httpMessage?: InFlightResponse | null } | null }>;
}

interface InFlightResponse {
  req?: { method?: string; url?: string };
  writableFinished?: boolean;
}

/** How many slow requests a worker lists at most. */
const MAX_LISTED = 20;

/** Found once per server (node:http makes the list when the server starts listening). */
const lists = new WeakMap<http.Server, ConnectionsList>();

function connectionsOf(server: http.Server): ConnectionsList | undefined {
  let list = lists.get(server);
  if (list === undefined) {
    list = findConnections(server);
    if (list !== undefined) lists.set(server, list);
  }
  return list;
}

function findConnections(server: http.Server): ConnectionsList | undefined {
  const sym = Object.getOwnPropertySymbols(server).find((s) => s.description === 'http.server.connections');
  const list = sym === undefined ? undefined : (server as unknown as Record<symbol, unknown>)[sym];
  return list !== null && typeof list === 'object' && typeof (list as ConnectionsList).all === 'function' ? (list as ConnectionsList) : undefined;
}

/** A request's path without its query (which may hold secrets), at most 200 characters. */
function shownPath(url: string | undefined): string {
  const u = url ?? '';
  const q = u.indexOf('?');
  const p = q >= 0 ? u.slice(0, q) : u;
  return p.length > 200 ? `${p.slice(0, 200)}...` : p;
}

export class InFlightWatch {
  readonly #servers: () => readonly http.Server[];
  readonly #seen = new WeakMap<object, number>();

  constructor(servers: () => readonly http.Server[]) {
    this.#servers = servers;
  }

  #walk(visit: (res: InFlightResponse) => void): void {
    for (const server of this.#servers()) {
      const list = connectionsOf(server);
      if (list === undefined) continue;
      for (const parser of list.all()) {
        const res = parser.socket?._httpMessage;
        if (res != null && res.writableFinished !== true) visit(res);
      }
    }
  }

  /** At each heartbeat: stamp the requests in flight not seen before. */
  stamp(now: number = Date.now()): void {
    this.#walk((res) => {
      if (!this.#seen.has(res)) this.#seen.set(res, now);
    });
  }

  /** The requests in flight now, and those in flight for at least `olderThanMs` (oldest first). */
  inspect(olderThanMs: number, now: number = Date.now()): { inFlight: number; slow: Array<{ method: string; path: string; ageMs: number }> } {
    let inFlight = 0;
    const slow: Array<{ method: string; path: string; ageMs: number }> = [];
    this.#walk((res) => {
      inFlight++;
      let since = this.#seen.get(res);
      if (since === undefined) {
        since = now;
        this.#seen.set(res, now);
      }
      const ageMs = now - since;
      if (ageMs >= olderThanMs) slow.push({ method: res.req?.method ?? '?', path: shownPath(res.req?.url), ageMs });
    });
    slow.sort((a, b) => b.ageMs - a.ageMs);
    return { inFlight, slow: slow.slice(0, MAX_LISTED) };
  }
}
