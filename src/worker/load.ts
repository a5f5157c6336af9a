/**
 * How busy this worker is, for the master's adaptive worker count
 * (--workers-min, --workers-max): read once per heartbeat, never on the
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
import type { Socket } from 'node:net';
import type { WorkerLoad } from '../ipc/protocol.js';

interface ConnectionsList {
  all(): Array<{ socket?: Socket | null }>;
}

let connectionsKey: symbol | null | undefined;

/** node:http's list of a server's connections (Node 18.13+: `Symbol(http.server.connections)`), if this Node has it. */
function connectionsOf(server: http.Server): ConnectionsList | undefined {
  if (connectionsKey === undefined) {
    connectionsKey = Object.getOwnPropertySymbols(server).find((s) => s.description === 'http.server.connections') ?? null;
  }
  if (connectionsKey === null) return undefined;
  const list = (server as unknown as Record<symbol, unknown>)[connectionsKey] as ConnectionsList | undefined;
  return typeof list?.all === 'function' ? list : undefined;
}

/** HTTP/1 requests in flight on `servers` now: connections with a response under way. */
export function requestsInFlight(servers: readonly http.Server[]): number {
  let n = 0;
  for (const server of servers) {
    const list = connectionsOf(server);
    if (list === undefined) continue;
    for (const parser of list.all()) {
      if ((parser.socket as (Socket & { _httpMessage?: unknown }) | null | undefined)?._httpMessage) n++;
    }
  }
  return n;
}

/**
 * A sampler to call once per heartbeat (every `intervalMs`): each call
 * says the load since the previous one.
 */
export function loadSampler(servers: () => readonly http.Server[], intervalMs: number): () => WorkerLoad {
  let elu: EventLoopUtilization = performance.eventLoopUtilization();
  let last = performance.now();
  return () => {
    const now = performance.now();
    const lag = Math.max(0, now - last - intervalMs);
    last = now;
    const delta = performance.eventLoopUtilization(elu);
    elu = performance.eventLoopUtilization();
    return { inflight: requestsInFlight(servers()), elu: Math.round(delta.utilization * 1000) / 1000, lag: Math.round(lag) };
  };
}
