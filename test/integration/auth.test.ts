/**
 * HTTP Basic served by a real `gwserver -w 2` (test/fixtures/apps/auth.mjs):
 * good credentials reach the app with REMOTE_USER; missing, wrong and
 * malformed ones get 401 with the challenge, and leave no descriptor open.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { startGwserver, type Gwserver } from '../helpers/gwserver.js';
import { get } from '../helpers/http.js';
import { afterTest } from '../helpers/scope.js';
import { until } from '../helpers/until.js';
import { b64, BAD_CREDENTIALS } from '../helpers/basic-auth.js';

const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

async function serve(app: string): Promise<Gwserver> {
  const server = await startGwserver(['-w', '2', `test/fixtures/apps/auth.mjs:${app}`]);
  afterTest(() => server.stop());
  await server.readyWorkers(2);
  return server;
}

describe('basicAuth (gwserver -w 2)', function () {
  this.timeout(30_000);

  it('lets good credentials through with REMOTE_USER, UTF-8 and empty passwords included', async function () {
    const server = await serve('users');
    for (const [user, password] of [['ada', 'correct horse'], ['zoë', 'pässwörd'], ['empty', '']]) {
      const r = await get(server, '/', { headers: { Authorization: `Basic ${b64(`${user}:${password}`)}` } });
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(JSON.parse(r.body), { user, type: 'Basic' });
    }
  });

  it('refuses missing, wrong and malformed credentials with 401 and the challenge, leaving nothing open', async function () {
    const server = await serve('users');
    const workers = server.workerPids();
    await get(server, '/');
    await get(server, '/');
    const base = new Map(workers.map((pid) => [pid, fds(pid)]));
    for (const authorization of BAD_CREDENTIALS) {
      const r = await get(server, '/', { headers: authorization === undefined ? {} : { Authorization: authorization } });
      assert.equal(r.status, 401, `${authorization}: ${r.body}`);
      assert.equal(r.headers['www-authenticate'], 'Basic realm="Staff \\"only\\"", charset="UTF-8"');
      assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
      assert.match(r.body, /^Unauthorized/);
    }
    for (const [pid, n] of base) await until(() => fds(pid) <= n, 10_000, () => `worker ${pid} back to ${n} fds (has ${fds(pid)})`);
  });

  it('runs an async verifier that sees the environ; one that throws is a 500', async function () {
    const server = await serve('verifier');
    const auth = { Authorization: `Basic ${b64('grace:hopper')}` };
    const ok = await get(server, '/', { headers: { ...auth, 'X-Expected': 'hopper' } });
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse(ok.body), { user: 'grace', type: 'Basic' });
    const no = await get(server, '/', { headers: { ...auth, 'X-Expected': 'other' } });
    assert.equal(no.status, 401);
    assert.equal(no.headers['www-authenticate'], 'Basic realm="Restricted", charset="UTF-8"');
    const boom = await get(server, '/', { headers: { Authorization: `Basic ${b64('boom:x')}` } });
    assert.equal(boom.status, 500);
  });
});
