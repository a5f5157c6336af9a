/**
 * Helpers of the contract tests: start a fixture app of
 * test/fixtures/apps/contract.mjs in a real gwserver process, write its
 * request lines (the tests talk to it over raw sockets, test/helpers/raw.ts,
 * to see the exact bytes and to misbehave as a client can), and read the
 * apps' `contract event` log records.
 *
 * Every wait has a deadline; nothing sleeps for a fixed time.
 */
import assert from 'node:assert/strict';
import { startGwserver, type Gwserver } from '../../helpers/gwserver.js';
import { request } from '../../helpers/http.js';

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

/** The `contract event` records an app logged, optionally only one event and one token. */
export function events(server: Gwserver, event?: string, t?: string): Array<Record<string, any>> {
  return server.records().filter((r) => r.contract !== undefined && (event === undefined || r.contract === event) && (t === undefined || r.t === t));
}

/** Waits for the app to log `event` for token `t`. */
export function waitEvent(server: Gwserver, event: string, t: string, timeoutMs = 10_000): Promise<Record<string, any>> {
  return server.waitForRecord((r) => r.contract === event && r.t === t, timeoutMs);
}

/**
 * A normal request on a new connection still works and is served by the
 * same process: nothing the previous request did took the worker down.
 */
export async function assertAlive(server: Gwserver): Promise<void> {
  const res = await request(`${server.url}/health`);
  assert.equal(res.status, 200, `health check: ${res.status} ${res.body}`);
  // One worker (gwserver's default): it must still be the one that served before.
  assert.deepEqual([JSON.parse(res.body).pid], server.workerPids(), 'the same worker answers');
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

/** `GET target HTTP/1.1` with a Host header (and `extra` header lines). */
export function get(target: string, extra = '', method = 'GET', version = '1.1'): string {
  return `${method} ${target} HTTP/${version}\r\nHost: 127.0.0.1\r\n${extra}\r\n`;
}
