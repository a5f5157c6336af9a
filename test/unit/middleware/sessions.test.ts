/**
 * The sessions middleware in-process: cookie flags, signing and sealing,
 * refusals of tampered, truncated, expired and retired-key cookies, the 4 KB
 * limit, and the memory store. Time is moved by replacing Date.now (put back
 * after each test), never by waiting.
 */
import assert from 'node:assert/strict';
import { compose, MemoryStore, sessions, setupTestingDefaults, validator, type Application, type Environ, type SessionOptions, type SessionStore } from '../../../src/index.js';
import type { Session } from '../../../src/middleware/sessions.js';
import { afterTest } from '../../helpers/scope.js';

const K1 = 'k1-0123456789abcdef0123456789abcdef';
const K2 = 'k2-0123456789abcdef0123456789abcdef';
const K3 = 'k3-0123456789abcdef0123456789abcdef';

interface Result {
  status: string;
  headers: Array<[string, string]>;
  body: string;
  setCookie: string | undefined;
  /** `name=value` of the Set-Cookie, for the next request's Cookie header. */
  cookie: string | undefined;
}

/** An app that counts visits, and does what the query says first. */
const counter: Application = (environ, startResponse) => {
  const session = environ['gwserver.session'] as Session;
  const action = environ.QUERY_STRING;
  if (action === 'throw') {
    session.set('n', 99);
    throw new Error('boom');
  }
  if (action === 'destroy') session.destroy();
  else if (action === 'regenerate') session.regenerate();
  else if (action.startsWith('big=')) session.set('big', 'x'.repeat(Number(action.slice(4))));
  else if (action !== 'read') session.set('n', (session.get<number>('n') ?? 0) + 1);
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [String(session.get('n') ?? 0)];
};

async function call(options: SessionOptions, environ: Partial<Environ> = {}, app: Application = counter): Promise<Result> {
  let status = '';
  let headers: Array<[string, string]> = [];
  // Under the validator: the middleware keeps the contract on both sides.
  const body = await validator(compose(sessions(options))(app))(setupTestingDefaults(environ), (s, h) => {
    status = s;
    headers = h;
    return async () => {};
  });
  const chunks: string[] = [];
  for await (const c of body as AsyncIterable<string>) chunks.push(String(c));
  await (body as { close?(): unknown }).close?.();
  const text = chunks.join('');
  const setCookie = headers.find(([n]) => n === 'Set-Cookie')?.[1];
  return { status, headers, body: text, setCookie, cookie: setCookie?.split(';')[0] };
}

/** Moves this process's clock by `seconds` until the test ends. */
function advance(seconds: number): void {
  const real = Date.now;
  Date.now = () => real() + seconds * 1000;
  afterTest(() => (Date.now = real));
}

describe('sessions', function () {
  describe('signed cookies', function () {
    const opts = { secret: K1 };

    it('sets a cookie only when the session changed, with secure defaults', async function () {
      const read = await call(opts, { QUERY_STRING: 'read' });
      assert.equal(read.setCookie, undefined);
      const r = await call(opts);
      assert.equal(r.body, '1');
      assert.match(r.setCookie!, /^gwsession=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}; Max-Age=86400; Path=\/; HttpOnly; SameSite=Lax$/);
      const https = await call(opts, { 'wsgi.url_scheme': 'https' });
      assert.match(https.setCookie!, /; Secure/);
    });

    it('adds Vary: Cookie when the app used the session, and only then', async function () {
      const vary = (r: Result) => r.headers.filter(([n]) => n === 'Vary').map(([, v]) => v);
      const reads: Application = (environ, startResponse) => {
        const user = (environ['gwserver.session'] as Session).get('user');
        startResponse('200 OK', [['Content-Type', 'text/plain']]);
        return [`user: ${user}`];
      };
      assert.deepEqual(vary(await call(opts, {}, reads)), ['Cookie']);
      assert.deepEqual(vary(await call(opts)), ['Cookie']);
      const untouched: Application = (_environ, startResponse) => {
        startResponse('200 OK', [['Content-Type', 'text/plain']]);
        return ['static'];
      };
      assert.deepEqual(vary(await call(opts, {}, untouched)), []);
      const ownVary: Application = (environ, startResponse) => {
        (environ['gwserver.session'] as Session).get('x');
        startResponse('200 OK', [['Content-Type', 'text/plain'], ['Vary', 'Accept-Encoding, cookie']]);
        return ['x'];
      };
      assert.deepEqual(vary(await call(opts, {}, ownVary)), ['Accept-Encoding, cookie']);
    });

    it('keeps the session across requests', async function () {
      const a = await call(opts);
      const b = await call(opts, { HTTP_COOKIE: `other=1; ${a.cookie}` });
      assert.equal(b.body, '2');
      const c = await call(opts, { HTTP_COOKIE: b.cookie!, QUERY_STRING: 'read' });
      assert.equal(c.body, '2');
      assert.equal(c.setCookie, undefined);
    });

    it('ignores and expires a tampered, truncated, garbage or expired cookie', async function () {
      const a = await call({ ...opts, maxAge: 60 });
      const value = a.cookie!.slice('gwsession='.length);
      const [payload, mac] = value.split('.') as [string, string];
      const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
      const bad = [
        `${flip(payload, 3)}.${mac}`,
        `${payload}.${flip(mac, 5)}`,
        `${payload}.${flip(mac, mac.length - 1)}`,
        value.slice(0, -3),
        payload,
        `.${mac}`,
        'garbage',
        `${Buffer.from(JSON.stringify({ d: { n: 41 }, e: 9e9 })).toString('base64url')}.${mac}`,
      ];
      for (const v of bad) {
        const r = await call(opts, { HTTP_COOKIE: `gwsession=${v}`, QUERY_STRING: 'read' });
        assert.equal(r.body, '0', v);
        assert.match(r.setCookie!, /^gwsession=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax$/, v);
      }
      const fresh = await call(opts, { HTTP_COOKIE: a.cookie!, QUERY_STRING: 'read' });
      assert.equal(fresh.body, '1');
      advance(61);
      const expired = await call(opts, { HTTP_COOKIE: a.cookie!, QUERY_STRING: 'read' });
      assert.equal(expired.body, '0', 'the expiry inside the signed payload is past');
      assert.match(expired.setCookie!, /Max-Age=0/);
    });

    it('rotates keys: an old key verifies while listed, new cookies use the first key, a removed key is refused', async function () {
      const old = await call({ secret: K1 });
      const during = await call({ secret: [K2, K1] }, { HTTP_COOKIE: old.cookie! });
      assert.equal(during.body, '2', 'the K1 cookie is accepted while K1 is in the list');
      const after = await call({ secret: [K2] }, { HTTP_COOKIE: during.cookie!, QUERY_STRING: 'read' });
      assert.equal(after.body, '2', 're-signed with K2');
      const refused = await call({ secret: [K2] }, { HTTP_COOKIE: old.cookie!, QUERY_STRING: 'read' });
      assert.equal(refused.body, '0', 'K1 removed: its cookie is refused');
      const other = await call({ secret: [K3] }, { HTTP_COOKIE: during.cookie!, QUERY_STRING: 'read' });
      assert.equal(other.body, '0');
    });

    it('does not take a cookie signed for another name', async function () {
      const a = await call({ secret: K1, name: 'a' });
      const value = a.cookie!.split('=')[1];
      const b = await call({ secret: K1, name: 'b' }, { HTTP_COOKIE: `b=${value}`, QUERY_STRING: 'read' });
      assert.equal(b.body, '0');
    });

    it('expires the cookie on destroy', async function () {
      const a = await call(opts);
      const d = await call(opts, { HTTP_COOKIE: a.cookie!, QUERY_STRING: 'destroy' });
      assert.match(d.setCookie!, /^gwsession=; Max-Age=0/);
    });

    it('refuses a cookie over 4096 bytes with an error that says why', async function () {
      await call(opts, { QUERY_STRING: 'big=2900' });
      await assert.rejects(call(opts, { QUERY_STRING: 'big=3100' }), /session cookie would be \d+ bytes, over the 4096 a browser keeps/);
    });

    it('refuses short secrets and bad options', function () {
      assert.throws(() => sessions({ secret: 'short' }), /at least 32 bytes/);
      assert.throws(() => sessions({ secret: [] }), /at least one secret/);
      assert.throws(() => sessions({ secret: K1, maxAge: 0 }), /maxAge/);
    });
  });

  describe('encrypted cookies', function () {
    const opts = { secret: [K1], encrypt: true };

    it('keeps the values unreadable, and refuses tampering and signed-only cookies', async function () {
      const a = await call(opts, { QUERY_STRING: 'big=10' });
      const value = a.cookie!.slice('gwsession='.length);
      assert.doesNotMatch(Buffer.from(value, 'base64url').toString('latin1'), /xxxxxxxxxx/);
      const b = await call(opts, { HTTP_COOKIE: a.cookie! });
      assert.equal(b.body, '1');
      const i = 20;
      const tampered = value.slice(0, i) + (value[i] === 'A' ? 'B' : 'A') + value.slice(i + 1);
      assert.equal((await call(opts, { HTTP_COOKIE: `gwsession=${tampered}`, QUERY_STRING: 'read' })).body, '0');
      assert.equal((await call(opts, { HTTP_COOKIE: `gwsession=${value.slice(0, 30)}`, QUERY_STRING: 'read' })).body, '0');
      const signed = await call({ secret: K1 });
      assert.equal((await call(opts, { HTTP_COOKIE: signed.cookie!, QUERY_STRING: 'read' })).body, '0');
      assert.equal((await call({ secret: [K2, K1], encrypt: true }, { HTTP_COOKIE: b.cookie!, QUERY_STRING: 'read' })).body, '1', 'an old key still opens it');
      assert.equal((await call({ secret: [K2], encrypt: true }, { HTTP_COOKIE: b.cookie!, QUERY_STRING: 'read' })).body, '0');
      advance(86_401);
      assert.equal((await call(opts, { HTTP_COOKIE: b.cookie!, QUERY_STRING: 'read' })).body, '0', 'expired');
    });
  });

  describe('with a store', function () {
    it('keeps the data server-side, the cookie holding a signed id', async function () {
      const store = new MemoryStore();
      const opts = { secret: K1, store };
      const a = await call(opts, { QUERY_STRING: 'big=10' });
      assert.match(a.cookie!, /^gwsession=[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/);
      assert.equal(store.size, 1);
      const b = await call(opts, { HTTP_COOKIE: a.cookie! });
      assert.equal(b.body, '1');
      const forged = `gwsession=${a.cookie!.split('=')[1]!.split('.')[0]}.${'A'.repeat(43)}`;
      const f = await call(opts, { HTTP_COOKIE: forged, QUERY_STRING: 'read' });
      assert.equal(f.body, '0');
      assert.match(f.setCookie!, /Max-Age=0/);
    });

    it('gives a new id on regenerate and forgets the old one; destroy deletes it', async function () {
      const store = new MemoryStore();
      const opts = { secret: K1, store };
      const a = await call(opts);
      const r = await call(opts, { HTTP_COOKIE: a.cookie!, QUERY_STRING: 'regenerate' });
      assert.notEqual(r.cookie, a.cookie);
      assert.equal(store.size, 1);
      assert.equal((await call(opts, { HTTP_COOKIE: a.cookie!, QUERY_STRING: 'read' })).body, '0', 'the old id is gone');
      assert.equal((await call(opts, { HTTP_COOKIE: r.cookie!, QUERY_STRING: 'read' })).body, '1', 'the values moved');
      await call(opts, { HTTP_COOKIE: r.cookie!, QUERY_STRING: 'destroy' });
      assert.equal(store.size, 0);
    });

    it('saves nothing when the app throws', async function () {
      const writes: string[] = [];
      const store: SessionStore = {
        get: async () => undefined,
        set: async (id) => void writes.push(id),
        destroy: async () => {},
      };
      await assert.rejects(call({ secret: K1, store }, { QUERY_STRING: 'throw' }), /boom/);
      assert.deepEqual(writes, []);
    });

    it('the memory store forgets a session after its TTL', async function () {
      const store = new MemoryStore();
      await store.set('a', { x: 1 }, 10);
      assert.deepEqual(await store.get('a'), { x: 1 });
      advance(11);
      assert.equal(await store.get('a'), undefined);
      assert.equal(store.size, 0);
    });

    it('the memory store keeps at most max sessions', async function () {
      const store = new MemoryStore({ max: 2 });
      await store.set('a', {}, 10);
      await store.set('b', {}, 10);
      await store.set('c', {}, 10);
      assert.equal(store.size, 2);
      assert.equal(await store.get('a'), undefined);
    });
  });
});
