/**
 * Each middleware of the toolkit through `testClient` (in-process, under the
 * validator, cookies kept across calls), as an app's own tests would use
 * them: static files, forms, sessions, basic auth, compression, and all of
 * them composed behind the router. Hostile input as issue 15 lists it, each
 * refused with the 4xx the real `gwserver -w 2` gives in
 * test/integration/{static,forms,sessions,auth,compress}.test.ts, and
 * nothing left behind: the forms' temporary directory empty after every
 * request, refused or not, and no file descriptor left open by static files
 * (this process's /proc/self/fd back to where it was). The other unit tests
 * of these middlewares call their internals; these go through the public
 * interface only.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import {
  basicAuth,
  compose,
  compress,
  forms,
  MemoryStore,
  route,
  serveStatic,
  sessions,
  staticFiles,
  testClient,
  type Application,
  type Form,
  type FormLimits,
  type Session,
  type SessionOptions,
  type StreamingTestResponse,
} from '../../../src/index.js';
import { HAS_ZSTD } from '../../../src/middleware/encoding.js';
import { CLOSE, FORM_REFUSALS, multipart, MULTIPART_TYPE, partHead } from '../../helpers/multipart.js';
import { afterTest } from '../../helpers/scope.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { until } from '../../helpers/until.js';
import { b64, BAD_CREDENTIALS } from '../../helpers/basic-auth.js';

const SECRET = 'TOPSECRET-do-not-serve';
const basic = (user: string, password: string) => ({ Authorization: `Basic ${b64(`${user}:${password}`)}` });

/** This process's open descriptors (Linux): the middlewares run in-process here, so a leak shows in it. */
const fds = () => readdirSync('/proc/self/fd').length;
const HAS_PROC_FD = process.platform === 'linux';

/** Waits until this process has no more descriptors open than `base` (closes may land a tick after the response). */
async function fdsBackTo(base: number): Promise<void> {
  if (!HAS_PROC_FD) return;
  await until(() => fds() <= base, 5_000, () => `this process back to ${base} fds (has ${fds()})`);
}

/** Waits until `dir` is empty: the forms middleware removes its files once the response is over. */
async function emptied(dir: string): Promise<void> {
  await until(() => readdirSync(dir).length === 0, 5_000, () => `an empty temp dir (has ${readdirSync(dir).join(', ')})`);
}

/** A deferred promise, so that a test decides when an app's body goes on. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Decodes a whole response body as its Content-Encoding says. */
function decode(encoding: string | null, bytes: Buffer): string {
  if (encoding === null) return bytes.toString('utf8');
  if (encoding === 'gzip') return zlib.gunzipSync(bytes).toString('utf8');
  if (encoding === 'br') return zlib.brotliDecompressSync(bytes).toString('utf8');
  // zstd only where Node has it (HAS_ZSTD); the types of Node 20 do not know it.
  const z = zlib as unknown as { zstdDecompressSync: (b: Buffer) => Buffer };
  if (encoding === 'zstd') return z.zstdDecompressSync(bytes).toString('utf8');
  throw new Error(`unexpected Content-Encoding ${encoding}`);
}

/** A static root with files of each kind the tests ask for, a secret beside it, and ways out. */
function makeRoot(): string {
  const dir = tempDir('gw-tc-static-');
  const root = path.join(dir, 'public');
  mkdirSync(path.join(root, 'sub'), { recursive: true });
  mkdirSync(path.join(root, '%2e%2e'));
  writeFileSync(path.join(root, 'index.html'), '<!doctype html><p>home</p>\n');
  writeFileSync(path.join(root, 'data.txt'), 'data inside the root\n');
  writeFileSync(path.join(root, 'style.css'), 'main { display: grid }\n'.repeat(200));
  // Several blocks (64 KiB each): streamed through wsgi.file_wrapper, so a client can leave mid-file.
  writeFileSync(path.join(root, 'big.txt'), 'x'.repeat(300 * 1024));
  writeFileSync(path.join(root, 'sub', 'x.txt'), 'x\n');
  writeFileSync(path.join(root, '%2e%2e', 'inside.txt'), 'a directory named %2e%2e, served as such\n');
  writeFileSync(path.join(root, '.env'), `${SECRET}\n`);
  writeFileSync(path.join(dir, 'secret.txt'), `${SECRET}\n`);
  symlinkSync(path.join(dir, 'secret.txt'), path.join(root, 'link-out.txt'));
  symlinkSync(dir, path.join(root, 'up'));
  symlinkSync('.env', path.join(root, 'env-link'));
  return root;
}

describe('middleware through testClient', function () {
  describe('static files (staticFiles, serveStatic)', function () {
    let root: string;
    before(function () {
      // Symlinks and /proc/self/fd: the traversal and descriptor checks are Linux's.
      if (process.platform !== 'linux') this.skip();
      root = makeRoot();
    });

    it('serves a file with its validators, HEAD without a body, 304 for its ETag, 206 for a Range', async function () {
      const client = testClient(staticFiles(root));
      const r = await client.get('/data.txt');
      assert.equal(r.status, 200);
      assert.equal(r.text, 'data inside the root\n');
      assert.equal(r.headers.get('content-type'), 'text/plain; charset=utf-8');
      assert.equal(r.headers.get('content-length'), String(r.body.length));
      const etag = r.headers.get('etag');
      assert.ok(etag !== null);
      const head = await client.head('/data.txt');
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
      assert.equal(head.headers.get('etag'), etag);
      const notModified = await client.get('/data.txt', { headers: { 'If-None-Match': etag } });
      assert.equal(notModified.status, 304);
      assert.equal(notModified.body.length, 0);
      const range = await client.get('/data.txt', { headers: { Range: 'bytes=0-3' } });
      assert.equal(range.status, 206);
      assert.equal(range.text, 'data');
      assert.equal(range.headers.get('content-range'), `bytes 0-3/${r.body.length}`);
    });

    it('redirects a directory to its slash (query kept) and serves its index; 405 with Allow for other methods', async function () {
      const client = testClient(staticFiles(root));
      const dir = await client.get('/sub?x=1');
      assert.equal(dir.status, 301);
      const location = new URL(dir.headers.get('location')!, 'http://localhost');
      assert.equal(location.pathname + location.search, '/sub/?x=1');
      const index = await client.get('/');
      assert.equal(index.status, 200);
      assert.match(index.text, /home/);
      const post = await client.post('/data.txt', { body: 'x' });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get('allow'), 'GET, HEAD');
    });

    describe('no way out of the root', function () {
      // [request path as a client sends it, status]. The WHATWG URL parser
      // that testClient (as fetch) goes through resolves `..` and `.`
      // segments, plain or percent-encoded in any case, and turns `\` into
      // `/` before anything is sent: those arrive as /secret.txt, which is
      // not in the root (404); `/sub/.%2e` is `/`, `//x` another host. What it keeps encoded (`%2f`, `%5c`, `%00`, a
      // control character) is decoded into PATH_INFO by the gateway core,
      // and the static files app refuses it (400), as gwserver does.
      const targets: Array<[string, number]> = [
        ['/../secret.txt', 404],
        ['/../../../../etc/passwd', 404],
        ['/sub/../../secret.txt', 404],
        ['/./secret.txt', 404],
        ['/%2e%2e/secret.txt', 404],
        ['/%2E%2E/secret.txt', 404],
        ['/%2E%2e/secret.txt', 404],
        ['/.%2e/secret.txt', 404],
        ['/%2e%2e%2fsecret.txt', 400],
        ['/%2E%2e%2Fsecret.txt', 400],
        ['/..%2fsecret.txt', 400],
        ['/sub%2f..%2f..%2fsecret.txt', 400],
        ['/..%5csecret.txt', 400],
        ['/..%5Csecret.txt', 400],
        ['/%5c..%5csecret.txt', 400],
        ['/sub\\..\\..\\secret.txt', 404],
        ['/..\\secret.txt', 404],
        ['/%00', 400],
        ['/data.txt%00', 400],
        ['/data.txt%00.png', 400],
        ['/sub%0a', 400],
        // Not UTF-8 once decoded: refused by the gateway core before any app runs, as by the server.
        ['/%c0%ae%c0%ae/secret.txt', 400],
        ['/%ff%fe/secret.txt', 400],
        // Decoded once only: a name that is (or is not) there, inside.
        ['/%252e%252e/inside.txt', 200],
        ['/%252e%252e/%252e%252e/secret.txt', 404],
        // Symlinks out of the root, and dotfiles (directly and through a link).
        ['/link-out.txt', 404],
        ['/up/secret.txt', 404],
        ['/.env', 404],
        ['/%2eenv', 404],
        ['/%2Eenv', 404],
        ['/env-link', 404],
      ];
      for (const [target, status] of targets) {
        it(`GET ${target} -> ${status}, the secret never served, no descriptor left open`, async function () {
          const client = testClient(staticFiles(root));
          await client.get('/data.txt'); // lazy opens (the root's realpath, pools) before the count
          const base = fds();
          const r = await client.get(target);
          assert.equal(r.status, status, r.text);
          assert.ok(!r.text.includes(SECRET), 'the secret came back');
          if (status === 200) assert.match(r.text, /served as such/);
          const head = await client.head(target);
          assert.equal(head.status, status, `HEAD ${target}`);
          await fdsBackTo(base);
        });
      }

      // PATH_INFO as gwserver's own server decodes it from a raw request
      // line that fetch cannot send (`GET /../secret.txt HTTP/1.1`, a raw
      // backslash, %00): set through testClient's `environ`, which the
      // validator still sees. Every one is a 400, in staticFiles and in
      // serveStatic alike (the app behind it is never asked).
      const pathInfos = ['/../secret.txt', '/sub/../../secret.txt', '/./data.txt', '/..\\secret.txt', '/sub\\..\\..\\secret.txt', '/data.txt\0', '/data.txt\0.png', '/sub\n', '/sub/..'];
      for (const pathInfo of pathInfos) {
        it(`PATH_INFO ${JSON.stringify(pathInfo)} -> 400 in staticFiles and serveStatic`, async function () {
          let reached = 0;
          const fallback: Application = (_environ, startResponse) => {
            reached++;
            startResponse('200 OK', [['Content-Type', 'text/plain']]);
            return ['the app'];
          };
          for (const app of [staticFiles(root), compose(serveStatic(root))(fallback)]) {
            const r = await testClient(app).get('/x', { environ: { PATH_INFO: pathInfo }, headers: { Range: 'bytes=0-3' } });
            assert.equal(r.status, 400, r.text);
            assert.ok(!r.text.includes(SECRET));
          }
          assert.equal(reached, 0, 'a traversal reached the app behind serveStatic');
        });
      }
    });

    it('closes the file when the client goes away mid-file', async function () {
      const client = testClient(staticFiles(root));
      await client.get('/data.txt');
      const base = fds();
      const res = await client.stream('GET', '/big.txt');
      assert.equal(res.status, 200);
      for await (const chunk of res) {
        assert.ok(chunk.length > 0);
        break; // the client goes away after the first chunk, the rest of the file unread
      }
      await fdsBackTo(base);
    });

    it('serveStatic hands what is not a file (and other methods) to the app', async function () {
      const site: Application = (environ, startResponse) => {
        startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
        return [`dynamic ${environ.REQUEST_METHOD} ${environ.PATH_INFO}`];
      };
      const client = testClient(compose(serveStatic(root))(site));
      assert.equal((await client.get('/data.txt')).text, 'data inside the root\n');
      assert.equal((await client.get('/nothing')).text, 'dynamic GET /nothing');
      assert.equal((await client.get('/.env')).text, 'dynamic GET /.env');
      assert.equal((await client.get('/link-out.txt')).text, 'dynamic GET /link-out.txt');
      assert.equal((await client.post('/data.txt', { body: 'x' })).text, 'dynamic POST /data.txt');
    });
  });

  describe('forms', function () {
    const small = { fields: 5, fieldSize: 100, files: 2, fileSize: 1000, parts: 6 };
    let tmp: string;
    /** What the app saw, as the fixture of test/integration/forms.test.ts reports it: the files exist while it runs. */
    let seen: { fields: Array<[string, string]>; files: Array<{ field: string; filename: string; size: number; exists: boolean }> } | null;
    let calls: number;

    beforeEach(function () {
      tmp = tempDir('gw-tc-forms-');
      seen = null;
      calls = 0;
    });

    const app = (options: { throwAfter?: boolean; limits?: FormLimits } = {}): Application =>
      compose(forms({ tmpdir: tmp, limits: options.limits ?? small }))((environ, startResponse) => {
        calls++;
        const form = environ['gwserver.form'] as Form | undefined;
        seen = form === undefined ? null : {
          fields: [...form.fields],
          files: form.files.map((f) => ({ field: f.field, filename: f.filename, size: f.size, exists: readdirSync(path.dirname(f.path)).includes(path.basename(f.path)) })),
        };
        if (options.throwAfter) throw new Error('the app failed after the form was parsed');
        startResponse('200 OK', [['Content-Type', 'application/json']]);
        return [JSON.stringify(seen)];
      });

    it('parses an urlencoded form (UTF-8, repeats kept)', async function () {
      const r = await testClient(app()).post('/', { form: { name: 'Ada Lovelace', tag: ['a', 'b'], city: 'Zürich' } });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(seen, { fields: [['name', 'Ada Lovelace'], ['tag', 'a'], ['tag', 'b'], ['city', 'Zürich']], files: [] });
      await emptied(tmp);
    });

    it('parses a FormData body: the file exists while the app runs and is gone after', async function () {
      const fd = new FormData();
      fd.append('name', 'Grace');
      fd.append('doc', new Blob([Buffer.alloc(900, 1)], { type: 'application/x-test' }), 'résumé.bin');
      const r = await testClient(app()).post('/', { body: fd });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(seen, { fields: [['name', 'Grace']], files: [{ field: 'doc', filename: 'résumé.bin', size: 900, exists: true }] });
      await emptied(tmp);
    });

    it('parses a streamed multipart body (chunked, no Content-Length), pieces cutting across boundaries', async function () {
      const body = multipart([{ name: 'name', value: 'Chunky' }, { name: 'doc', value: Buffer.alloc(800, 5), filename: 'c.bin' }]);
      const pieces = Array.from({ length: Math.ceil(body.length / 97) }, (_, i) => body.subarray(i * 97, (i + 1) * 97));
      const r = await testClient(app()).post('/', {
        body: (async function* () {
          yield* pieces;
        })(),
        headers: { 'Content-Type': MULTIPART_TYPE },
      });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(seen, { fields: [['name', 'Chunky']], files: [{ field: 'doc', filename: 'c.bin', size: 800, exists: true }] });
      await emptied(tmp);
    });

    it('passes other bodies through untouched', async function () {
      const r = await testClient(app()).post('/', { body: { a: 1 } });
      assert.equal(r.status, 200);
      assert.equal(seen, null);
      assert.equal(readdirSync(tmp).length, 0);
    });

    for (const [what, make, status, message] of FORM_REFUSALS) {
      it(`refuses ${what} with ${status} without calling the app, leaving the temp dir empty`, async function () {
        const [body, type] = make();
        const r = await testClient(app()).post('/', { body, headers: { 'Content-Type': type } });
        assert.equal(r.status, status, r.text);
        assert.equal(r.headers.get('content-type'), 'text/plain; charset=utf-8');
        assert.match(r.text, /^form: /);
        assert.match(r.text, message);
        assert.equal(calls, 0, 'the app was called');
        await emptied(tmp);
      });
    }

    it('refuses a body that ends before its Content-Length with 400, leaving the temp dir empty', async function () {
      const body = Buffer.concat([Buffer.from(partHead({ name: 'f', filename: 'a.txt' })), Buffer.alloc(300, 3)]);
      // A stream body carries the Content-Length given, not its own: the body ends 1000 bytes early.
      const r = await testClient(app()).post('/', {
        body: (async function* () {
          yield body;
        })(),
        headers: { 'Content-Type': MULTIPART_TYPE, 'Content-Length': String(body.length + 1000) },
      });
      assert.equal(r.status, 400, r.text);
      assert.equal(calls, 0);
      await emptied(tmp);
    });

    it('removes the files when the app throws after the form was parsed (500)', async function () {
      const r = await testClient(app({ throwAfter: true }), { throwErrors: false }).post('/', { body: multipart([{ name: 'f', value: 'abc', filename: 'a.txt' }]), headers: { 'Content-Type': MULTIPART_TYPE } });
      assert.equal(r.status, 500);
      assert.match(String(r.errors[0]), /the app failed after the form was parsed/);
      assert.deepEqual(seen?.files, [{ field: 'f', filename: 'a.txt', size: 3, exists: true }]);
      await emptied(tmp);
    });

    it('removes a partial upload when the client goes away mid-body', async function () {
      const big = app({ limits: { fileSize: 2 ** 30 } });
      const abort = new AbortController();
      const stalled = deferred();
      afterTest(() => stalled.resolve());
      const body = async function* () {
        yield Buffer.from(partHead({ name: 'f', filename: 'big.bin' }));
        for (let i = 0; i < 16; i++) yield Buffer.alloc(64 * 1024, 7);
        // The upload is under way: the client stops sending, and goes away below.
        await stalled.promise;
      };
      const call = testClient(big).post('/', { body: body(), headers: { 'Content-Type': MULTIPART_TYPE }, signal: abort.signal });
      const settled = call.then(() => 'resolved', (err: unknown) => err);
      await until(() => readdirSync(tmp).length > 0, 5_000, 'the upload to reach the disk');
      abort.abort();
      // The call settles (no one is left to read its answer), and the parser's
      // read of wsgi.input fails as under the server when the socket closes:
      // the upload's file must not outlive the request.
      await settled;
      assert.equal(calls, 0, 'the app was called');
      await emptied(tmp);
    });
  });

  describe('sessions', function () {
    const K1 = 'testclient-key-1-0123456789abcdef012345';
    const K2 = 'testclient-key-2-0123456789abcdef012345';

    /** The app of test/fixtures/apps/sessions.mjs: 401 from /me for a session without a user. */
    const sessionApp: Application = (environ, startResponse) => {
      const session = environ['gwserver.session'] as Session;
      const query = new URLSearchParams(environ.QUERY_STRING);
      const json = (status: string, value: unknown) => {
        startResponse(status, [['Content-Type', 'application/json']]);
        return [JSON.stringify(value)];
      };
      switch (`${environ.REQUEST_METHOD} ${environ.PATH_INFO}`) {
        case 'POST /login':
          session.regenerate();
          session.set('user', query.get('user'));
          return json('200 OK', { user: session.get('user') });
        case 'GET /me':
          if (!session.has('user')) return json('401 Unauthorized', { error: 'not logged in', isNew: session.isNew });
          return json('200 OK', { user: session.get('user'), visits: session.get('visits') ?? 0 });
        case 'POST /visit':
          session.set('visits', (session.get<number>('visits') ?? 0) + 1);
          return json('200 OK', { visits: session.get('visits') });
        case 'POST /logout':
          session.destroy();
          return json('200 OK', {});
        default:
          return json('404 Not Found', {});
      }
    };
    const withSessions = (options: SessionOptions) => compose(sessions(options))(sessionApp);

    /** Moves this process's clock by `seconds` until the test ends: an expiry without waiting for it. */
    function moveClock(seconds: number): void {
      const real = Date.now;
      Date.now = () => real() + seconds * 1000;
      afterTest(() => (Date.now = real));
    }

    for (const encrypt of [false, true]) {
      describe(encrypt ? 'encrypted cookies' : 'signed cookies', function () {
        it('logs in, keeps the session across calls in the jar, sets the cookie only on a change, logs out', async function () {
          const client = testClient(withSessions({ secret: K1, maxAge: 3600, encrypt }));
          const login = await client.post('/login?user=ada');
          assert.equal(login.status, 200);
          assert.match(login.headers.getSetCookie()[0]!, /^gwsession=[^;]+; Max-Age=3600; Path=\/; HttpOnly; SameSite=Lax$/);
          const me = await client.get('/me');
          assert.equal(me.status, 200);
          assert.deepEqual(me.json(), { user: 'ada', visits: 0 });
          assert.deepEqual(me.headers.getSetCookie(), [], 'an unchanged session sets no cookie');
          assert.equal(me.headers.get('vary'), 'Cookie');
          for (let i = 1; i <= 3; i++) assert.deepEqual((await client.post('/visit')).json(), { visits: i });
          assert.deepEqual((await client.get('/me')).json(), { user: 'ada', visits: 3 });
          const out = await client.post('/logout');
          assert.match(out.headers.getSetCookie()[0]!, /^gwsession=; Max-Age=0/);
          assert.equal(client.cookies!.get('gwsession'), undefined, 'the jar dropped the expired cookie');
          assert.equal((await client.get('/me')).status, 401);
        });

        if (encrypt) {
          it('does not show the values in the cookie', async function () {
            const client = testClient(withSessions({ secret: K1, encrypt }));
            await client.post('/login?user=adalovelace');
            const raw = Buffer.from(client.cookies!.get('gwsession')!, 'base64url').toString('latin1');
            assert.doesNotMatch(raw, /adalovelace/);
          });
        }

        it('rotates keys: an old-key cookie is read while its key is listed, re-signed on a change, refused once it is not', async function () {
          const jar = testClient(withSessions({ secret: K1, encrypt })).cookies!;
          const first = testClient(withSessions({ secret: K1, encrypt }), { cookies: jar });
          await first.post('/login?user=ada');
          const old = jar.get('gwsession')!;
          // The same jar: the browser keeps its cookie across the deploys.
          const rotating = testClient(withSessions({ secret: [K2, K1], encrypt }), { cookies: jar });
          assert.equal((await rotating.get('/me')).status, 200, 'the K1 cookie while K1 is listed');
          await rotating.post('/visit');
          const renewed = jar.get('gwsession')!;
          assert.notEqual(renewed, old);
          const retired = testClient(withSessions({ secret: K2, encrypt }), { cookies: false });
          const ok = await retired.get('/me', { cookies: { gwsession: renewed } });
          assert.deepEqual(ok.json(), { user: 'ada', visits: 1 }, 'the cookie re-signed with K2');
          const refused = await retired.get('/me', { cookies: { gwsession: old } });
          assert.equal(refused.status, 401, 'K1 retired: its cookie starts a fresh session');
          assert.deepEqual(refused.json(), { error: 'not logged in', isNew: true });
          assert.match(refused.headers.getSetCookie()[0]!, /^gwsession=; Max-Age=0/);
        });

        it('starts a fresh session for tampered, truncated and garbage cookies (401 from the app, never a 500) and expires them', async function () {
          const client = testClient(withSessions({ secret: K1, encrypt }));
          await client.post('/login?user=ada');
          const value = client.cookies!.get('gwsession')!;
          const flip = (i: number) => value.slice(0, i) + (value[i] === 'A' ? 'B' : 'A') + value.slice(i + 1);
          const replay = testClient(withSessions({ secret: K1, encrypt }), { cookies: false });
          const base = HAS_PROC_FD ? fds() : 0;
          const bad = [flip(2), flip(Math.floor(value.length / 2)), flip(value.length - 2), value.slice(0, -1), value.slice(0, 20), '', 'x.y', '.', `${value}${value}`, `${value}.${value}`, '%ff%fe', 'e30.AAAA'];
          for (const cookie of bad) {
            const r = await replay.get('/me', { cookies: { gwsession: cookie } });
            assert.equal(r.status, 401, `${cookie}: ${r.text}`);
            assert.deepEqual(r.json(), { error: 'not logged in', isNew: true });
            if (cookie !== '') assert.match(r.headers.getSetCookie()[0]!, /^gwsession=; Max-Age=0/, cookie);
          }
          // A fresh session from a bad cookie is usable at once: a login replaces the cookie.
          const relogin = await replay.post('/login?user=grace', { cookies: { gwsession: flip(2) } });
          assert.equal(relogin.status, 200);
          assert.match(relogin.headers.getSetCookie()[0]!, /^gwsession=[^;]+; Max-Age=86400/);
          await fdsBackTo(base);
        });

        it('refuses an expired cookie replayed after its Max-Age (the expiry is inside the payload)', async function () {
          const client = testClient(withSessions({ secret: K1, maxAge: 60, encrypt }));
          await client.post('/login?user=ada');
          const cookie = client.cookies!.get('gwsession')!;
          assert.equal((await client.get('/me')).status, 200);
          moveClock(61);
          // A replay: the browser would have dropped it; the server refuses it itself.
          const r = await testClient(withSessions({ secret: K1, maxAge: 60, encrypt }), { cookies: false }).get('/me', { cookies: { gwsession: cookie } });
          assert.equal(r.status, 401);
          assert.match(r.headers.getSetCookie()[0]!, /^gwsession=; Max-Age=0/);
        });
      });
    }

    it('a cookie is not accepted under another cookie name (the name is signed with the value)', async function () {
      const a = testClient(withSessions({ secret: K1, name: 'a' }));
      await a.post('/login?user=ada');
      const value = a.cookies!.get('a')!;
      const b = testClient(withSessions({ secret: K1, name: 'b' }), { cookies: false });
      assert.equal((await b.get('/me', { cookies: { b: value } })).status, 401, 'the name is signed with the value');
    });

    describe('MemoryStore', function () {
      it('keeps the session in the store: a new id on login, the old one refused; logout deletes it', async function () {
        const store = new MemoryStore();
        const client = testClient(withSessions({ secret: K1, store }));
        await client.post('/login?user=ada');
        const first = client.cookies!.get('gwsession')!;
        const id1 = first.split('.')[0]!;
        assert.match(id1, /^[A-Za-z0-9_-]{43}$/);
        assert.deepEqual(((await store.get(id1)) as { d: unknown }).d, { user: 'ada' });
        assert.deepEqual((await client.post('/visit')).json(), { visits: 1 });
        assert.equal(client.cookies!.get('gwsession'), first, 'the cookie holds only the id: unchanged');
        await client.post('/login?user=grace');
        const second = client.cookies!.get('gwsession')!;
        assert.notEqual(second.split('.')[0], id1);
        assert.equal(await store.get(id1), undefined, 'the old id is gone (no session fixation)');
        const replay = testClient(withSessions({ secret: K1, store }), { cookies: false });
        assert.equal((await replay.get('/me', { cookies: { gwsession: first } })).status, 401);
        assert.deepEqual((await client.get('/me')).json(), { user: 'grace', visits: 1 });
        await client.post('/logout');
        assert.equal(await store.get(second.split('.')[0]!), undefined);
        assert.equal((await replay.get('/me', { cookies: { gwsession: second } })).status, 401);
      });

      it('starts a fresh session for a forged, tampered or expired id, never a 500', async function () {
        const store = new MemoryStore();
        const client = testClient(withSessions({ secret: K1, store, maxAge: 60 }));
        await client.post('/login?user=ada');
        const cookie = client.cookies!.get('gwsession')!;
        const [id, mac] = cookie.split('.') as [string, string];
        const replay = testClient(withSessions({ secret: K1, store, maxAge: 60 }), { cookies: false });
        const other = `${id.slice(0, -1)}${id.endsWith('A') ? 'B' : 'A'}`;
        for (const bad of [`${other}.${mac}`, `${id}.${mac.slice(0, -1)}`, id, `${id}.`, 'garbage', `../../${id}.${mac}`]) {
          const r = await replay.get('/me', { cookies: { gwsession: bad } });
          assert.equal(r.status, 401, bad);
          assert.match(r.headers.getSetCookie()[0]!, /^gwsession=; Max-Age=0/, bad);
        }
        assert.equal((await replay.get('/me', { cookies: { gwsession: cookie } })).status, 200);
        moveClock(61);
        assert.equal((await replay.get('/me', { cookies: { gwsession: cookie } })).status, 401, 'expired in the store');
      });
    });
  });

  describe('basic auth', function () {
    const whoami: Application = (environ, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'application/json']]);
      return [JSON.stringify({ user: environ.REMOTE_USER, type: environ.AUTH_TYPE })];
    };
    const users = { ada: 'correct horse', zoë: 'pässwörd', empty: '' };

    it('lets right credentials through with REMOTE_USER and AUTH_TYPE, UTF-8 and empty passwords included', async function () {
      const client = testClient(compose(basicAuth({ realm: 'Staff "only"', users }))(whoami));
      for (const [user, password] of Object.entries(users)) {
        const r = await client.get('/', { headers: basic(user, password) });
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.json(), { user, type: 'Basic' });
      }
    });

    it('refuses missing, wrong and malformed credentials with 401, the challenge and its realm, without calling the app', async function () {
      let calls = 0;
      const counted: Application = (environ, startResponse) => {
        calls++;
        return whoami(environ, startResponse);
      };
      const client = testClient(compose(basicAuth({ realm: 'Staff "only"', users }))(counted));
      const base = HAS_PROC_FD ? fds() : 0;
      for (const authorization of BAD_CREDENTIALS) {
        const r = await client.get('/', { headers: authorization === undefined ? {} : { Authorization: authorization } });
        assert.equal(r.status, 401, `${authorization}: ${r.text}`);
        assert.equal(r.headers.get('www-authenticate'), 'Basic realm="Staff \\"only\\"", charset="UTF-8"');
        assert.equal(r.headers.get('content-type'), 'text/plain; charset=utf-8');
        assert.match(r.text, /^Unauthorized/);
      }
      assert.equal(calls, 0, 'a refused request reached the app');
      await fdsBackTo(base);
    });

    it('runs an async verifier that sees the environ (default realm); one that throws is a 500', async function () {
      const app = compose(basicAuth({
        verify: async (user, password, environ) => {
          await new Promise((resolve) => setImmediate(resolve));
          if (user === 'boom') throw new Error('the verifier failed');
          return user === 'grace' && password === environ.HTTP_X_EXPECTED;
        },
      }))(whoami);
      const client = testClient(app);
      const ok = await client.get('/', { headers: { ...basic('grace', 'hopper'), 'X-Expected': 'hopper' } });
      assert.deepEqual(ok.json(), { user: 'grace', type: 'Basic' });
      const no = await client.get('/', { headers: { ...basic('grace', 'hopper'), 'X-Expected': 'other' } });
      assert.equal(no.status, 401);
      assert.equal(no.headers.get('www-authenticate'), 'Basic realm="Restricted", charset="UTF-8"');
      const boom = await testClient(app, { throwErrors: false }).get('/', { headers: basic('boom', 'x') });
      assert.equal(boom.status, 500);
      assert.match(String(boom.errors[0]), /the verifier failed/);
    });
  });

  describe('compression', function () {
    const TEXT = Buffer.from(Array.from({ length: 2000 }, (_, n) => `line ${n}: the quick brown fox jumps over the lazy dog ${n % 97}\n`).join('').slice(0, 100_000));

    /** The routes of test/fixtures/apps/compress.mjs that these tests need. */
    const routes: Application = (environ, startResponse) => {
      switch (environ.PATH_INFO) {
        case '/text':
          startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8'], ['ETag', '"t1"']]);
          return (function* () {
            for (let i = 0; i < TEXT.length; i += 16 * 1024) yield TEXT.subarray(i, i + 16 * 1024);
          })();
        case '/array':
          startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
          return [TEXT.subarray(0, 20_000)];
        case '/small':
          startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
          return ['small text'];
        case '/png':
          startResponse('200 OK', [['Content-Type', 'image/png']]);
          return [Buffer.alloc(4096, 1)];
        default:
          startResponse('404 Not Found', [['Content-Type', 'text/plain']]);
          return ['not found\n'];
      }
    };
    const client = testClient(compress()(routes));

    // [Accept-Encoding, the coding chosen]: the table of test/integration/compress.test.ts.
    const table: Array<[string | undefined, string | null]> = [
      [undefined, null],
      ['identity', null],
      ['gzip', 'gzip'],
      ['br', 'br'],
      ['gzip, deflate, br', 'br'],
      ['zstd', HAS_ZSTD ? 'zstd' : null],
      ['br;q=0.2, gzip;q=0.8', 'gzip'],
      ['gzip;q=0.5, br', 'br'],
      ['br;q=0, gzip', 'gzip'],
      ['gzip;q=0, br;q=0', null],
      ['*', 'br'],
      ['*;q=0', null],
      ['gzip;q=1.5, br', 'br'],
      ['deflate', null],
      ['x-gzip', 'gzip'],
    ];
    for (const [ae, enc] of table) {
      it(`Accept-Encoding ${JSON.stringify(ae)} -> ${enc ?? 'identity'}, Vary: Accept-Encoding, a weak ETag when compressed`, async function () {
        const r = await client.get('/text', { headers: ae === undefined ? {} : { 'Accept-Encoding': ae } });
        assert.equal(r.status, 200);
        assert.equal(r.headers.get('content-encoding'), enc);
        assert.equal(r.headers.get('vary'), 'Accept-Encoding');
        assert.equal(r.headers.get('etag'), enc === null ? '"t1"' : 'W/"t1"');
        // A generator body has no known size: it streams (chunked), compressed or not.
        assert.equal(r.headers.get('content-length'), null);
        assert.equal(decode(enc, r.body), TEXT.toString());
        if (enc !== null) assert.ok(r.body.length < 20_000, `${r.body.length} bytes`);
      });
    }

    it('an array body keeps an exact Content-Length; HEAD says what GET would, without a body', async function () {
      const a = await client.get('/array', { headers: { 'Accept-Encoding': 'br' } });
      assert.equal(a.headers.get('content-encoding'), 'br');
      assert.equal(a.headers.get('content-length'), String(a.body.length));
      assert.equal(decode('br', a.body), TEXT.subarray(0, 20_000).toString());
      const h = await client.head('/text', { headers: { 'Accept-Encoding': 'gzip' } });
      assert.equal(h.status, 200);
      assert.equal(h.headers.get('content-encoding'), 'gzip');
      assert.equal(h.headers.get('content-length'), null);
      assert.equal(h.body.length, 0);
    });

    it('leaves small bodies (with Vary) and images (without) alone', async function () {
      const small = await client.get('/small', { headers: { 'Accept-Encoding': 'gzip, br' } });
      assert.equal(small.headers.get('content-encoding'), null);
      assert.equal(small.text, 'small text');
      const png = await client.get('/png', { headers: { 'Accept-Encoding': 'gzip, br' } });
      assert.equal(png.headers.get('content-encoding'), null);
      assert.equal(png.headers.get('vary'), null);
      assert.equal(png.body.length, 4096);
      const missing = await client.get('/nothing', { headers: { 'Accept-Encoding': 'gzip' } });
      assert.equal(missing.status, 404);
      assert.equal(missing.headers.get('content-encoding'), null);
    });

    for (const enc of ['gzip', 'br'] as const) {
      it(`a streamed body arrives streamed through ${enc}: each event decodable before the app yields the next, the body closed when the client leaves`, async function () {
        const gates = [deferred(), deferred()];
        let pulled = 0;
        let closed = false;
        const events: Application = (_environ, startResponse) => {
          startResponse('200 OK', [['Content-Type', 'text/event-stream'], ['Cache-Control', 'no-cache']]);
          return (async function* () {
            try {
              for (let i = 0; i < 3; i++) {
                pulled++;
                yield `data: event ${i}\n\n`;
                await gates[i]?.promise;
              }
            } finally {
              closed = true;
            }
          })();
        };
        afterTest(() => gates.forEach((g) => g.resolve()));
        const res: StreamingTestResponse = await testClient(compress()(events)).stream('GET', '/events', { headers: { 'Accept-Encoding': enc } });
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-encoding'), enc);
        assert.equal(res.headers.get('content-length'), null);
        // A decompressor fed as the chunks come: each flushed chunk decodes to the whole event.
        const inflate = enc === 'gzip' ? zlib.createGunzip() : zlib.createBrotliDecompress();
        let text = '';
        inflate.on('data', (d: Buffer) => (text += d.toString()));
        let n = 0;
        for await (const chunk of res) {
          inflate.write(chunk);
          await until(() => text.includes(`data: event ${n}\n\n`), 5_000, () => `event ${n} decoded (have ${JSON.stringify(text)})`);
          assert.equal(pulled, n + 1, 'the app was pulled ahead of the client');
          if (n === 1) break; // the client goes away with the stream still open
          gates[n]!.resolve();
          n++;
        }
        inflate.destroy();
        await until(() => closed, 5_000, 'the app body to be closed');
        assert.equal(pulled, 2);
      });
    }
  });

  describe('composed: compress, sessions, the router, basic auth and forms, static files', function () {
    const K = 'testclient-composed-key-0123456789abcdef';
    let root: string;
    let tmp: string;
    let uploads: number;

    before(function () {
      if (process.platform !== 'linux') this.skip();
      root = makeRoot();
    });
    beforeEach(function () {
      tmp = tempDir('gw-tc-composed-');
      uploads = 0;
    });

    /**
     * A site: a login form and a page of the session's user, an admin
     * upload behind basic auth (the form parsed only once the credentials
     * are right: a refused upload never touches the disk), and static
     * files, all compressed where worth it.
     */
    function site(): Application {
      const json = (startResponse: Parameters<Application>[1], status: string, value: unknown): string[] => {
        startResponse(status, [['Content-Type', 'application/json']]);
        return [JSON.stringify(value)];
      };
      const login: Application = (environ, startResponse) => {
        const form = environ['gwserver.form'] as Form | undefined;
        const user = form?.fields.get('user');
        if (!user) return json(startResponse, '400 Bad Request', { error: 'no user' });
        const session = environ['gwserver.session'] as Session;
        session.regenerate();
        session.set('user', user);
        return json(startResponse, '200 OK', { user });
      };
      const me: Application = (environ, startResponse) => {
        const session = environ['gwserver.session'] as Session;
        if (!session.has('user')) return json(startResponse, '401 Unauthorized', { error: 'not logged in' });
        // Large enough to be compressed (over the 1 KiB threshold).
        return json(startResponse, '200 OK', { user: session.get('user'), padding: 'p'.repeat(2000) });
      };
      const upload: Application = (environ, startResponse) => {
        uploads++;
        const form = environ['gwserver.form'] as Form | undefined;
        const session = environ['gwserver.session'] as Session;
        return json(startResponse, '200 OK', { admin: environ.REMOTE_USER, user: session.get('user') ?? null, files: form?.files.map((f) => [f.filename, f.size]) ?? [] });
      };
      const admin = compose(basicAuth({ realm: 'admin', users: { root: 'hunter2' } }), forms({ tmpdir: tmp, limits: { files: 1, fileSize: 1000, fields: 3 } }))(route({ '/upload': { POST: upload } }));
      return compose(compress(), sessions({ secret: K }))(route({
        '/login': { POST: compose(forms({ tmpdir: tmp }))(login) },
        '/me': { GET: me },
        '/admin/*': admin,
        '/static/*': staticFiles(root),
      }));
    }

    it('logs in with a form, keeps the session, and compresses the page (Vary on both Cookie and Accept-Encoding)', async function () {
      const client = testClient(site(), { headers: { 'Accept-Encoding': 'gzip' } });
      assert.equal((await client.get('/me')).status, 401);
      assert.equal((await client.post('/login', { form: {} })).status, 400);
      const login = await client.post('/login', { form: { user: 'ada' } });
      assert.equal(login.status, 200, login.text);
      const me = await client.get('/me');
      assert.equal(me.status, 200);
      assert.equal(me.headers.get('content-encoding'), 'gzip');
      assert.equal(JSON.parse(decode('gzip', me.body)).user, 'ada');
      const vary = (me.headers.get('vary') ?? '').split(/\s*,\s*/).map((v) => v.toLowerCase());
      assert.ok(vary.includes('cookie') && vary.includes('accept-encoding'), `Vary: ${me.headers.get('vary')}`);
      assert.equal(readdirSync(tmp).length, 0);
    });

    it('uploads behind basic auth with the session beside it; the file is gone after', async function () {
      const client = testClient(site());
      await client.post('/login', { form: { user: 'ada' } });
      const body = multipart([{ name: 'note', value: 'hi' }, { name: 'f', value: Buffer.alloc(500, 1), filename: 'a.bin' }]);
      const r = await client.post('/admin/upload', { body, headers: { 'Content-Type': MULTIPART_TYPE, ...basic('root', 'hunter2') } });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json(), { admin: 'root', user: 'ada', files: [['a.bin', 500]] });
      await emptied(tmp);
      // The router's own answers behind the auth: another method, another path.
      assert.equal((await client.get('/admin/upload', { headers: basic('root', 'hunter2') })).status, 405);
      assert.equal((await client.get('/admin/other', { headers: basic('root', 'hunter2') })).status, 404);
    });

    it('refuses an upload with wrong, malformed or no credentials (401, realm admin) before the form touches the disk', async function () {
      const client = testClient(site());
      const body = multipart([{ name: 'f', value: Buffer.alloc(500, 1), filename: 'a.bin' }]);
      for (const headers of [{}, basic('root', 'wrong'), { Authorization: 'Basic %%%' }, basic('ada', 'hunter2')]) {
        const r = await client.post('/admin/upload', { body, headers: { 'Content-Type': MULTIPART_TYPE, ...headers } });
        assert.equal(r.status, 401, JSON.stringify(headers));
        assert.equal(r.headers.get('www-authenticate'), 'Basic realm="admin", charset="UTF-8"');
        assert.equal(readdirSync(tmp).length, 0, 'a refused upload was written');
      }
      assert.equal(uploads, 0);
    });

    it('refuses a hostile upload with the right credentials (413, 400), leaving the temp dir empty', async function () {
      const client = testClient(site());
      const auth = basic('root', 'hunter2');
      const cases: Array<[Buffer | string, number]> = [
        [multipart([{ name: 'f', value: Buffer.alloc(1001, 1), filename: 'big.bin' }]), 413],
        [multipart([1, 2].map((i) => ({ name: `f${i}`, value: 'x', filename: `${i}.txt` }))), 413],
        [multipart(Array.from({ length: 4 }, (_, i) => ({ name: `f${i}`, value: '1' }))), 413],
        [Buffer.concat([Buffer.from(partHead({ name: 'f', filename: 'a.txt' })), Buffer.alloc(500, 2)]), 400],
        [`--${MULTIPART_TYPE.split('boundary=')[1]}\r\nContent-Disposition form-data\r\n\r\nx${CLOSE}`, 400],
      ];
      for (const [body, status] of cases) {
        const r = await client.post('/admin/upload', { body, headers: { 'Content-Type': MULTIPART_TYPE, ...auth } });
        assert.equal(r.status, status, r.text);
        await emptied(tmp);
      }
      assert.equal(uploads, 0);
    });

    it('serves static files under the router, compressed, and no traversal gets out', async function () {
      const client = testClient(site(), { headers: { 'Accept-Encoding': 'br' } });
      const css = await client.get('/static/style.css');
      assert.equal(css.status, 200);
      assert.equal(css.headers.get('content-encoding'), 'br');
      assert.equal(decode('br', css.body), 'main { display: grid }\n'.repeat(200));
      // The router resolves dot segments (never above its own prefix) before the static app sees them.
      for (const target of ['/static/../secret.txt', '/static/%2e%2e/secret.txt', '/static/..%2fsecret.txt', '/static/sub%2f..%2f..%2f..%2fsecret.txt', '/static/..%5csecret.txt', '/static/%00', '/static/link-out.txt', '/static/.env', '/static/up/secret.txt']) {
        const r = await client.get(target);
        assert.ok(r.status >= 400 && r.status < 500, `${target}: ${r.status}`);
        assert.ok(!decode(r.headers.get('content-encoding'), r.body).includes(SECRET), target);
      }
    });
  });
});
