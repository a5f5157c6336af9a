/**
 * Sessions served by a real `gwserver -w 2` (test/fixtures/apps/sessions.mjs):
 * signed and encrypted cookie sessions, which any worker can read, and
 * sessions in a real Redis (Debian's redis-server, started here on a free
 * port of 127.0.0.1 and stopped by its pid). Hostile cookies (tampered,
 * truncated, expired, signed with a retired key) get the app's 401 for a
 * session without a user, and the cookie expired; nothing stays open.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { RedisStore } from '../../src/middleware/sessions.js';
import { startGwserver, type Gwserver } from '../helpers/gwserver.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { request, type Reply } from '../helpers/http.js';
import { afterTest } from '../helpers/scope.js';
import { until } from '../helpers/until.js';

const K1 = 'integration-key-1-0123456789abcdef0123';
const K2 = 'integration-key-2-0123456789abcdef0123';
const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

async function serve(app: string, env: Record<string, string>): Promise<Gwserver> {
  const server = await startGwserver(['-w', '2', `test/fixtures/apps/sessions.mjs:${app}`], { env });
  afterTest(() => server.stop());
  await server.readyWorkers(2);
  return server;
}

const call = (server: Gwserver, method: string, path: string, cookie?: string) =>
  request(server, { method, path, headers: cookie === undefined ? {} : { Cookie: cookie } });

/** `gwsession=...` from a response's Set-Cookie. */
function cookieOf(r: Reply): string {
  const set = r.headers['set-cookie'];
  assert.ok(set !== undefined && set.length === 1, `one Set-Cookie (got ${JSON.stringify(set)})`);
  return set[0]!.split(';')[0]!;
}

/** Calls until both workers answered 200 with the same user, returning the pids seen. */
async function bothWorkersKnow(server: Gwserver, cookie: string, user: string): Promise<void> {
  const pids = new Set<number>();
  await until(async () => {
    const r = await call(server, 'GET', '/me', cookie);
    assert.equal(r.status, 200, r.body);
    const me = JSON.parse(r.body);
    assert.equal(me.user, user);
    pids.add(me.pid);
    return pids.size === 2;
  }, 15_000, 'both workers to read the session');
}

/** The checks each kind of session passes. */
function common(app: string, env: () => Record<string, string>) {
  it('logs in on one worker and is known on both; sets the cookie only on a change', async function () {
    const server = await serve(app, env());
    const login = await call(server, 'POST', '/login?user=ada');
    assert.equal(login.status, 200);
    const setCookie = login.headers['set-cookie']![0]!;
    assert.match(setCookie, /^gwsession=[^;]+; Max-Age=3600; Path=\/; HttpOnly; SameSite=Lax$/);
    const cookie = cookieOf(login);
    await bothWorkersKnow(server, cookie, 'ada');
    const me = await call(server, 'GET', '/me', cookie);
    assert.equal(me.headers['set-cookie'], undefined, 'an unchanged session sets no cookie');
    let c = cookie;
    for (let i = 1; i <= 4; i++) {
      const v = await call(server, 'POST', '/visit', c);
      assert.equal(JSON.parse(v.body).visits, i);
      c = cookieOf(v);
    }
    const out = await call(server, 'POST', '/logout', c);
    assert.match(out.headers['set-cookie']![0]!, /^gwsession=; Max-Age=0/);
  });

  it('refuses tampered, truncated and garbage cookies with 401 and expires them, leaving nothing open', async function () {
    const server = await serve(app, env());
    const cookie = cookieOf(await call(server, 'POST', '/login?user=ada'));
    const workers = server.workerPids();
    const base = new Map(workers.map((pid) => [pid, fds(pid)]));
    const value = cookie.slice('gwsession='.length);
    const flip = (i: number) => value.slice(0, i) + (value[i] === 'A' ? 'B' : 'A') + value.slice(i + 1);
    for (const bad of [flip(2), flip(value.length - 2), value.slice(0, -1), value.slice(0, 20), '', 'x.y', `${value}${value}`, '%ff%fe']) {
      const r = await call(server, 'GET', '/me', `gwsession=${bad}`);
      assert.equal(r.status, 401, `${bad}: ${r.body}`);
      if (bad !== '') assert.match(r.headers['set-cookie']![0]!, /^gwsession=; Max-Age=0/, bad);
    }
    for (const [pid, n] of base) await until(() => fds(pid) <= n, 10_000, () => `worker ${pid} back to ${n} fds (has ${fds(pid)})`);
  });

  it('refuses an expired session', async function () {
    const server = await serve(app, { ...env(), SESSION_MAX_AGE: '1' });
    const cookie = cookieOf(await call(server, 'POST', '/login?user=ada'));
    assert.equal((await call(server, 'GET', '/me', cookie)).status, 200);
    // The browser would have dropped it after Max-Age=1; a replay is refused by the server itself.
    await until(async () => (await call(server, 'GET', '/me', cookie)).status === 401, 10_000, 'the session to expire');
  });
}

describe('sessions (gwserver -w 2)', function () {
  this.timeout(60_000);

  describe('signed cookies', function () {
    common('signed', () => ({ SESSION_SECRETS: K1 }));

    it('rotates keys across restarts: old cookies accepted while the key is listed, refused after', async function () {
      let server = await serve('signed', { SESSION_SECRETS: K1 });
      const old = cookieOf(await call(server, 'POST', '/login?user=ada'));
      await server.stop();
      server = await serve('signed', { SESSION_SECRETS: `${K2},${K1}` });
      assert.equal((await call(server, 'GET', '/me', old)).status, 200, 'the K1 cookie while K1 is listed');
      const renewed = cookieOf(await call(server, 'POST', '/visit', old));
      await server.stop();
      server = await serve('signed', { SESSION_SECRETS: K2 });
      assert.equal((await call(server, 'GET', '/me', renewed)).status, 200, 'the cookie re-signed with K2');
      const refused = await call(server, 'GET', '/me', old);
      assert.equal(refused.status, 401, 'K1 retired: its cookie is refused');
    });

    it('marks the cookie Secure when the request came over https (a trusted proxy\'s X-Forwarded-Proto)', async function () {
      const server = await serve('signed', { SESSION_SECRETS: K1 });
      const r = await request(server, { method: 'POST', path: '/login?user=ada', headers: { 'X-Forwarded-Proto': 'https' } });
      assert.match(r.headers['set-cookie']![0]!, /; HttpOnly; Secure; SameSite=Lax$/);
      const plain = await call(server, 'POST', '/login?user=ada');
      assert.doesNotMatch(plain.headers['set-cookie']![0]!, /Secure/);
    });

    it('answers 500 for a session too large for a cookie', async function () {
      const server = await serve('signed', { SESSION_SECRETS: K1 });
      assert.equal((await call(server, 'POST', '/big?n=2000')).status, 200);
      const r = await call(server, 'POST', '/big?n=5000');
      assert.equal(r.status, 500);
      await server.waitForRecord((rec) => /over the 4096 a browser keeps/.test(JSON.stringify(rec)));
    });
  });

  describe('encrypted cookies', function () {
    common('encrypted', () => ({ SESSION_SECRETS: K1 }));

    it('does not show the values in the cookie', async function () {
      const server = await serve('encrypted', { SESSION_SECRETS: K1 });
      const cookie = cookieOf(await call(server, 'POST', '/login?user=adalovelace'));
      const raw = Buffer.from(cookie.split('=')[1]!, 'base64url').toString('latin1');
      assert.doesNotMatch(raw, /adalovelace/);
    });
  });

  describe('in Redis', function () {
    let url: string;
    let redis: RedisServer['client'];
    let server: RedisServer;

    before(async function () {
      server = await startRedis();
      url = server.url;
      redis = server.client;
    });

    after(async function () {
      await server?.stop();
    });

    it('RedisStore takes a node-redis client as it is: set with a TTL, get, destroy', async function () {
      const store = new RedisStore(redis, { prefix: 'direct:' });
      await store.set('abc', { a: 1 }, 100);
      assert.deepEqual(await store.get('abc'), { a: 1 });
      const ttl = await redis.ttl('direct:abc');
      assert.ok(ttl > 90 && ttl <= 100, `TTL ${ttl}`);
      await store.destroy('abc');
      assert.equal(await store.get('abc'), undefined);
      await redis.set('direct:bad', '{not json');
      assert.equal(await store.get('bad'), undefined);
    });

    it("RedisStore takes ioredis's shape: set(key, value, 'EX', ttl) positional", async function () {
      // ioredis is not a dependency: this client speaks its calling convention over the real connection.
      const calls: unknown[][] = [];
      const ioredisLike = {
        get: (key: string) => redis.get(key),
        del: (key: string) => redis.del(key),
        set: (key: string, value: string, ...args: Array<string | number>) => {
          calls.push(args);
          return redis.sendCommand(['SET', key, value, ...args.map(String)]);
        },
      };
      const store = new RedisStore(ioredisLike, { prefix: 'io:' });
      await store.set('abc', { a: 1 }, 50);
      assert.deepEqual(calls, [['EX', 50]]);
      assert.deepEqual(await store.get('abc'), { a: 1 });
      const ttl = await redis.ttl('io:abc');
      assert.ok(ttl > 40 && ttl <= 50, `TTL ${ttl}`);
      await store.destroy('abc');
      assert.equal(await redis.exists('io:abc'), 0);
    });

    common('redis', () => ({ SESSION_SECRETS: K1, REDIS_URL: url }));

    it('keeps the session in Redis with its TTL; a new id on login; logout deletes it', async function () {
      const server = await serve('redis', { SESSION_SECRETS: K1, REDIS_URL: url });
      const first = cookieOf(await call(server, 'POST', '/login?user=ada'));
      const id1 = first.split('=')[1]!.split('.')[0]!;
      assert.match(id1, /^[A-Za-z0-9_-]{43}$/);
      const stored = JSON.parse((await redis.get(`test:${id1}`))!);
      assert.deepEqual(stored.d, { user: 'ada' });
      const ttl = await redis.ttl(`test:${id1}`);
      assert.ok(ttl > 3500 && ttl <= 3600, `TTL ${ttl}`);
      await bothWorkersKnow(server, first, 'ada');

      const second = cookieOf(await call(server, 'POST', '/login?user=grace', first));
      const id2 = second.split('=')[1]!.split('.')[0]!;
      assert.notEqual(id2, id1);
      assert.equal(await redis.exists(`test:${id1}`), 0, 'the old id is gone (no session fixation)');
      assert.equal((await call(server, 'GET', '/me', first)).status, 401);

      await call(server, 'POST', '/logout', second);
      assert.equal(await redis.exists(`test:${id2}`), 0);
      assert.equal((await call(server, 'GET', '/me', second)).status, 401);
    });

    it('survives a restart of gwserver (the sessions are in Redis)', async function () {
      let server = await serve('redis', { SESSION_SECRETS: K1, REDIS_URL: url });
      const cookie = cookieOf(await call(server, 'POST', '/login?user=ada'));
      await server.stop();
      server = await serve('redis', { SESSION_SECRETS: K1, REDIS_URL: url });
      assert.equal(JSON.parse((await call(server, 'GET', '/me', cookie)).body).user, 'ada');
    });
  });
});
