/**
 * The toolkit middleware's examples, examples/forms.mjs and
 * examples/login.mjs, each served as its header says (`gwserver -w 2
 * examples/NAME.mjs` from the repo root) and driven over real sockets.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { startGwserver, type Gwserver } from '../helpers/gwserver.js';
import { request, type Reply } from '../helpers/http.js';
import { multipart, MULTIPART_TYPE } from '../helpers/multipart.js';
import { afterTest } from '../helpers/scope.js';
import { tempDir } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';

async function serve(example: string, env: Record<string, string> = {}): Promise<Gwserver> {
  const server = await startGwserver(['-w', '2', `examples/${example}`], { env });
  afterTest(() => server.stop());
  return server;
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const URLENCODED = 'application/x-www-form-urlencoded';

describe('examples/forms.mjs', function () {
  this.timeout(30_000);
  let server: Gwserver;
  let tmp: string;
  beforeEach(async function () {
    tmp = tempDir('gw-forms-example-');
    server = await serve('forms.mjs', { TMPDIR: tmp });
  });
  const post = (body: string | Buffer, type: string) => request(server, { method: 'POST', body, headers: { 'Content-Type': type } });
  /** What the app left in its TMPDIR: gwserver's own runtime files (its control socket's directory, the workers' stack sockets) aside. */
  const left = () => readdirSync(tmp).filter((name) => !name.startsWith('gwserver-'));

  it('shows a multipart form', async function () {
    const r = await request(server);
    assert.equal(r.status, 200);
    assert.match(r.body, /enctype="multipart\/form-data"/);
  });

  it('greets, and says what file came; the file is gone after', async function () {
    const r = await post(multipart([{ name: 'name', value: 'Ada <3' }, { name: 'file', value: Buffer.alloc(1234, 1), filename: 'notes.txt', type: 'text/plain' }]), MULTIPART_TYPE);
    assert.equal(r.status, 200, r.body);
    assert.match(r.body, /<p id="greeting">Hello, Ada &lt;3!<\/p>/);
    assert.match(r.body, /<p id="file">You sent notes.txt \(text\/plain, 1234 bytes\)\.<\/p>/);
    await until(() => left().length === 0, 10_000, () => `the upload to be removed (left: ${left().join(', ')})`);
    const plain = await post(form({ name: 'Grace' }), URLENCODED);
    assert.match(plain.body, /Hello, Grace!/);
    assert.doesNotMatch(plain.body, /id="file"/);
  });

  it('refuses a missing name (400), a file over 1 MiB (413), another body type (415), another method (405)', async function () {
    assert.equal((await post(form({ name: ' ' }), URLENCODED)).status, 400);
    const big = await post(multipart([{ name: 'name', value: 'x' }, { name: 'file', value: Buffer.alloc(1024 * 1024 + 1), filename: 'big.bin' }]), MULTIPART_TYPE);
    assert.equal(big.status, 413);
    assert.match(big.body, /form: file "big.bin" is larger than 1048576 bytes/);
    assert.equal((await post('{"name":"x"}', 'application/json')).status, 415);
    const put = await request(server, { method: 'PUT', body: 'x' });
    assert.equal(put.status, 405);
    assert.equal(put.headers.allow, 'GET, HEAD, POST');
    await until(() => left().length === 0, 10_000, () => `nothing left in the temp dir (left: ${left().join(', ')})`);
  });
});

describe('examples/login.mjs', function () {
  this.timeout(30_000);
  const SECRET = 'test-secret-0123456789abcdef0123456789abcdef';

  const cookieOf = (r: Reply) => r.headers['set-cookie']![0]!.split(';')[0]!;

  it('logs in with the form, is known on both workers, logs out', async function () {
    const server = await serve('login.mjs', { SESSION_SECRET: SECRET });
    const front = await request(server);
    assert.match(front.body, /<form action="login" method="post">/);
    const wrong = await request(server, { method: 'POST', path: '/login', body: form({ name: 'ada', password: 'wrong' }), headers: { 'Content-Type': URLENCODED } });
    assert.equal(wrong.status, 401);
    assert.match(wrong.body, /Wrong name or password/);
    assert.equal(wrong.headers['set-cookie'], undefined);

    const login = await request(server, { method: 'POST', path: '/login', body: form({ name: 'ada', password: 'lovelace' }), headers: { 'Content-Type': URLENCODED } });
    assert.equal(login.status, 303);
    assert.equal(login.headers.location, '/');
    assert.match(login.headers['set-cookie']![0]!, /; HttpOnly; SameSite=Lax$/);
    const cookie = cookieOf(login);
    // Each on a new connection, so both workers get some: a signed cookie needs no shared state.
    for (let i = 0; i < 6; i++) {
      const r = await request(server, { headers: { Cookie: cookie } });
      assert.match(r.body, /<p id="user">Logged in as ada\.<\/p>/);
    }

    const tampered = `${cookie.slice(0, -2)}${cookie.endsWith('A') ? 'B' : 'A'}${cookie.slice(-1)}`;
    assert.match((await request(server, { headers: { Cookie: tampered } })).body, /<form action="login"/);

    const logout = await request(server, { method: 'POST', path: '/logout', headers: { Cookie: cookie } });
    assert.equal(logout.status, 303);
    assert.match(logout.headers['set-cookie']![0]!, /^gwsession=; Max-Age=0/);
  });

  it('answers scripts with HTTP Basic on /api/whoami', async function () {
    const server = await serve('login.mjs', { SESSION_SECRET: SECRET });
    const basic = (s: string) => ({ Authorization: `Basic ${Buffer.from(s).toString('base64')}` });
    const ok = await request(server, { path: '/api/whoami', headers: basic('grace:hopper') });
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse(ok.body), { user: 'grace' });
    for (const headers of [{}, basic('grace:lovelace'), { Authorization: 'Basic ###' }]) {
      const r = await request(server, { path: '/api/whoami', headers });
      assert.equal(r.status, 401);
      assert.equal(r.headers['www-authenticate'], 'Basic realm="login example", charset="UTF-8"');
    }
  });

  it('runs as written without SESSION_SECRET, with a warning', async function () {
    const server = await serve('login.mjs', { SESSION_SECRET: '' });
    const login = await request(server, { method: 'POST', path: '/login', body: form({ name: 'ada', password: 'lovelace' }), headers: { 'Content-Type': URLENCODED } });
    assert.equal(login.status, 303);
    await until(() => server.stderr.some((l) => l.includes('SESSION_SECRET is not set')), 10_000, 'the warning');
  });
});
