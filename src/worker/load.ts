/**
 * How busy this worker is, as each heartbeat tells the master (the
 * adaptive worker count, --workers-min and --workers-max, decides on it;
 * `gwserverctl workers` shows it): read once per heartbeat, never on the
 * request path, from what Node already keeps.
 *
 * - Requests in flight: node:http's own list of a server's HTTP/1
 *   connections (the one it checks --headers-timeout against), each with the
 *   response it is writing now, if any. A connection handed to an `upgrade`
 *   handler (a WebSocket) leaves that list: it is not a request. HTTP/2
 *   streams are not counted (their event-loop time is).
 * - Event-loop utilization since the last heartbeat
 *   (`performance.eventLoopUtilization`).
 * - Lag: how late the heartbeat's own timer fired.
 *
 * The connections list is internal to Node (a symbol of `http.Server`):
 * where it is missing, in-flight reads 0 and the other two signals remain.
 *
 * @module
 */
import type http from 'node:http';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import type { WorkerLoad } from '../ipc/protocol.js';

/** node:http's list of a server's connections (an internal: absent on a Node.js without it, and then nothing is listed). */
interface ConnectionsList {
  all(): Array<{ socket?: { _httpMessage?: InFlightResponse | null } | null }>;
}

/** The response a connection is writing now, as node:http keeps it on the socket. */
export interface InFlightResponse {
  req?: { method?: string; url?: string };
  writableFinished?: boolean;
}

/** Found once per server (node:http makes the list when the server starts listening). */
const lists = new WeakMap<http.Server, ConnectionsList>();

/** node:http's list of a server's connections (Node 18.13+: `Symbol(http.server.connections)`), if this Node has it. */
function connectionsOf(server: http.Server): ConnectionsList | undefined {
  let list = lists.get(server);
  if (list === undefined) {
    const sym = Object.getOwnPropertySymbols(server).find((s) => s.description === 'http.server.connections');
    const found = sym === undefined ? undefined : (server as unknown as Record<symbol, unknown>)[sym];
    if (found === null || typeof found !== 'object' || typeof (found as ConnectionsList).all !== 'function') return undefined;
    list = found as ConnectionsList;
    lists.set(server, list);
  }
  return list;
}

/**
 * Calls `visit` with each response under way on `servers` now, and says how
 * many there were: the one walk of the connections that both the heartbeat's
 * count (below) and `gwserverctl workers` (src/worker/inspect.ts) make.
 */
export function forEachInFlight(servers: readonly http.Server[], visit?: (res: InFlightResponse) => void): number {
  let n = 0;
  for (const server of servers) {
    const list = connectionsOf(server);
    if (list === undefined) continue;
    for (const parser of list.all()) {
      const res = parser.socket?._httpMessage;
      if (res == null || res.writableFinished === true) continue;
      n++;
      visit?.(res);
    }
  }
  return n;
}

/** HTTP/1 requests in flight on `servers` now: connections with a response under way. */
export function requestsInFlight(servers: readonly http.Server[]): number {
  return forEachInFlight(servers);
}

/**
 * A sampler to call once per heartbeat (every `intervalMs`): each call
 * says the load since the previous one. `inflight` counts the requests in
 * flight (the worker's heartbeat passes the walk that also stamps their age
 * for gwserverctl: src/worker/inspect.ts).
 */
export function loadSampler(inflight: () => number, intervalMs: number): () => WorkerLoad {
  let elu: EventLoopUtilization = performance.eventLoopUtilization();
  let last = performance.now();
  return () => {
    const now = performance.now();
    const lag = Math.max(0, now - last - intervalMs);
    last = now;
    const delta = performance.eventLoopUtilization(elu);
    elu = performance.eventLoopUtilization();
    return { inflight: inflight(), elu: Math.round(delta.utilization * 1000) / 1000, lag: Math.round(lag) };
  };
}
