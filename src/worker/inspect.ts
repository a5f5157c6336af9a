/**
 * What a worker is serving now, for `gwserverctl workers` and `top`
 * (`gwserver:inspect`), found without costing the request path anything:
 * nothing is recorded per request. When asked, and at each heartbeat, the
 * worker walks its servers' open HTTP/1 connections (node:http's own list
 * of them, which it keeps for its header and request timeouts) and reads the
 * response each one is writing now: the walk is src/worker/load.ts's, and the
 * heartbeat's walk that stamps here is the one that counts its load. A request seen for the first time is
 * stamped in a WeakMap (gone with the request), so its age is known to
 * within a heartbeat (at most 1 s) without a clock read per request.
 * HTTP/2 streams and upgraded connections (WebSockets) are not listed.
 *
 * @module
 */
import type http from 'node:http';
import { forEachInFlight } from './load.js';

/** How many slow requests a worker lists at most. */
const MAX_LISTED = 20;

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

  /**
   * At each heartbeat: stamp the requests in flight not seen before, and say
   * how many are in flight (the heartbeat's load: one walk for both).
   */
  stamp(now: number = Date.now()): number {
    return forEachInFlight(this.#servers(), (res) => {
      if (!this.#seen.has(res)) this.#seen.set(res, now);
    });
  }

  /** The requests in flight now, and those in flight for at least `olderThanMs` (oldest first). */
  inspect(olderThanMs: number, now: number = Date.now()): { inFlight: number; slow: Array<{ method: string; path: string; ageMs: number }> } {
    const slow: Array<{ method: string; path: string; ageMs: number }> = [];
    const inFlight = forEachInFlight(this.#servers(), (res) => {
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
