/**
 * staticFiles() and serveStatic() in process, through the gateway core
 * (toNodeHandler in a node:http server on port 0) with the validator
 * around them, over a temporary root: each option (index, redirect,
 * dotfiles, symlinks, etag, lastModified, Cache-Control, precompressed,
 * ranges, maxRanges, types, setHeaders, fallthrough), 304/412 keeping the
 * right headers, a root that appears after the first request, and a
 * multipart/byteranges body read part by part. Hostile requests, file
 * descriptors and memory are tested against a real gwserver in
 * test/integration/static.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { compose, compress, serveStatic, staticFiles, toNodeHandler, validator, type Application, type StaticFilesOptions } from '../../../src/index.js';
import { createLogger } from '../../../src/logging/logger.js';
import { listen, request } from '../../helpers/http.js';
import { tempDir } from '../../helpers/temp-dir.js';

const silent = createLogger({ level: 'silent' });
const HELLO = '<!doctype html><title>hi</title>\n';
const DATA = Buffer.from(Array.from({ length: 1000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join(''));

/** A root with a few files, and a secret beside it. */
function makeRoot(): { dir: string; root: string } {
  const dir = tempDir('gw-static-unit-');
  const root = path.join(dir, 'public');
  mkdirSync(path.join(root, 'sub'), { recursive: true });
  mkdirSync(path.join(root, 'empty'));
  mkdirSync(path.join(root, '.git'));
  writeFileSync(path.join(root, 'index.html'), HELLO);
  writeFileSync(path.join(root, 'data.txt'), DATA);
  writeFileSync(path.join(root, 'sub', 'app.js'), 'console.log(1)\n');
  writeFileSync(path.join(root, 'sub', 'home.htm'), HELLO);
  writeFileSync(path.join(root, '.env'), 'SECRET=1\n');
  writeFileSync(path.join(root, '.git', 'config'), 'secret\n');
  writeFileSync(path.join(root, 'photo.png'), Buffer.alloc(2000, 7));
  writeFileSync(path.join(root, 'empty.txt'), '');
  writeFileSync(path.join(root, 'site.webmanifest'), '{}');
  writeFileSync(path.join(root, 'README'), 'no extension\n');
  writeFileSync(path.join(root, 'style.css'), 'body { color: red }\n'.repeat(50));
  writeFileSync(path.join(root, 'style.css.br'), zlib.brotliCompressSync('body { color: red }\n'.repeat(50)));
  writeFileSync(path.join(root, 'style.css.gz'), zlib.gzipSync('body { color: red }\n'.repeat(50)));
  writeFileSync(path.join(dir, 'secret.txt'), 'outside\n');
  symlinkSync(path.join(dir, 'secret.txt'), path.join(root, 'out.txt'));
  symlinkSync('data.txt', path.join(root, 'in.txt'));
  symlinkSync('.env', path.join(root, 'env.txt'));
  symlinkSync(dir, path.join(root, 'up'));
  return { dir, root };
}

async function serve(app: Application) {
  const served = await listen(toNodeHandler(validator(app), { logger: silent }));
  return (p = '/', headers: Record<string, string> = {}, method = 'GET') => request(served.port, { path: p, headers, method });
}

/** Whether the describe blocks below run with `blocking: true`: every test runs in both modes. */
let blocking = false;
const files = (root: string, options?: StaticFilesOptions) => serve(staticFiles(root, { blocking, ...options }));

for (const mode of ['async', 'blocking'] as const) {
  describe(`staticFiles: serving (${mode})`, function () {
    before(() => (blocking = mode === 'blocking'));
    after(() => (blocking = false));
    it('serves a file with its type, length, validators and Accept-Ranges; HEAD has the same headers', async function () {
      const { root } = makeRoot();
      const get = await files(root);
      const r = await get('/data.txt');
      assert.equal(r.status, 200);
      assert.deepEqual(r.bytes, DATA);
      assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal(r.headers['content-length'], '1000');
      assert.match(r.headers.etag ?? '', /^"[0-9a-f]+-3e8"$/);
      assert.match(r.headers['last-modified'] ?? '', /GMT$/);
      assert.equal(r.headers['accept-ranges'], 'bytes');
      assert.equal(r.headers.vary, 'Accept-Encoding');
      assert.equal(r.headers['cache-control'], undefined);
      const h = await get('/data.txt', {}, 'HEAD');
      assert.equal(h.bytes.length, 0);
      for (const k of ['content-type', 'content-length', 'etag', 'last-modified', 'accept-ranges']) assert.equal(h.headers[k], r.headers[k], k);
    });

    it('types: mime-types with charsets, an own table, a default; Vary only for compressible types', async function () {
      const { root } = makeRoot();
      assert.equal((await (await files(root))('/sub/app.js')).headers['content-type'], 'text/javascript; charset=utf-8');
      const get = await files(root, { types: { webmanifest: 'application/manifest+json', '.txt': 'text/x-mine', JS: 'text/javascript; charset=iso-8859-1' }, defaultType: 'application/x-default' });
      assert.equal((await get('/sub/app.js')).headers['content-type'], 'text/javascript; charset=iso-8859-1');
      assert.equal((await get('/index.html')).headers['content-type'], 'text/html; charset=utf-8');
      assert.equal((await get('/site.webmanifest')).headers['content-type'], 'application/manifest+json; charset=utf-8');
      // A text type without a charset gets mime-types' (UTF-8); one with parameters is kept as given.
      assert.equal((await get('/data.txt')).headers['content-type'], 'text/x-mine; charset=utf-8');
      assert.equal((await get('/README')).headers['content-type'], 'application/x-default');
      const png = await get('/photo.png');
      assert.equal(png.headers['content-type'], 'image/png');
      assert.equal(png.headers.vary, undefined);
    });

    it('an empty file: 200 with Content-Length 0, a Range on it ignored', async function () {
      const { root } = makeRoot();
      const get = await files(root);
      for (const headers of [{}, { Range: 'bytes=0-' }] as Array<Record<string, string>>) {
        const r = await get('/empty.txt', headers);
        assert.equal(r.status, 200);
        assert.equal(r.headers['content-length'], '0');
        assert.equal(r.bytes.length, 0);
      }
    });

    it('index files, the redirect to a trailing slash (keeping the query and SCRIPT_NAME), and no listings', async function () {
      const { root } = makeRoot();
      let get = await files(root);
      assert.equal((await get('/')).body, HELLO);
      const moved = await get('/sub?x=1');
      assert.equal(moved.status, 301);
      assert.equal(moved.headers.location, '/sub/?x=1');
      assert.equal((await get('/sub/')).status, 404, 'no index.html there, and no listing');
      assert.equal((await get('/empty/')).status, 404);
      get = await files(root, { index: ['missing.html', 'home.htm'] });
      const index = await get('/sub/');
      assert.equal(index.body, HELLO);
      assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
      get = await files(root, { index: false, redirect: false });
      assert.equal((await get('/')).status, 404);
      assert.equal((await get('/sub')).status, 404);
      // Mounted: the redirect goes to the mount's path, percent-encoded.
      mkdirSync(path.join(root, 'a dir é'));
      const mounted = await serve((environ, startResponse) => staticFiles(root)({ ...environ, SCRIPT_NAME: '/static', PATH_INFO: environ.PATH_INFO.slice('/static'.length) }, startResponse));
      assert.equal((await mounted('/static/a%20dir%20%C3%A9')).headers.location, '/static/a%20dir%20%C3%A9/');
      assert.equal((await mounted('/static')).headers.location, '/static/');
    });

    it('a file asked for with a trailing slash is not found', async function () {
      const { root } = makeRoot();
      const get = await files(root);
      assert.equal((await get('/data.txt/')).status, 404);
    });

    it('Cache-Control from maxAge and immutable, or per file', async function () {
      const { root } = makeRoot();
      let get = await files(root, { maxAge: 31536000, immutable: true });
      assert.equal((await get('/data.txt')).headers['cache-control'], 'public, max-age=31536000, immutable');
      get = await files(root, { maxAge: 60 });
      assert.equal((await get('/data.txt')).headers['cache-control'], 'public, max-age=60');
      get = await files(root, { cacheControl: (p) => (p.endsWith('.js') ? 'public, max-age=99' : undefined) });
      assert.equal((await get('/sub/app.js')).headers['cache-control'], 'public, max-age=99');
      assert.equal((await get('/data.txt')).headers['cache-control'], undefined);
      assert.throws(() => staticFiles(root, { maxAge: -1 }), /maxAge/);
    });

    it('setHeaders adds headers to 200 and 206, and a 304 keeps only those a 304 may carry', async function () {
      const { root } = makeRoot();
      const seen: string[] = [];
      const get = await files(root, {
        setHeaders: (headers, rel, stat) => {
          seen.push(`${rel}:${stat.size}`);
          headers.push(['X-Served-By', 'static'], ['Cache-Control', 'no-cache'], ['Content-Language', 'en']);
        },
      });
      const r = await get('/data.txt');
      assert.equal(r.headers['x-served-by'], 'static');
      assert.equal(r.headers['cache-control'], 'no-cache');
      assert.equal((await get('/data.txt', { Range: 'bytes=0-1' })).headers['x-served-by'], 'static');
      const nm = await get('/data.txt', { 'If-None-Match': r.headers.etag! });
      assert.equal(nm.status, 304);
      assert.equal(nm.headers['cache-control'], 'no-cache');
      assert.equal(nm.headers.etag, r.headers.etag);
      assert.equal(nm.headers.vary, 'Accept-Encoding');
      for (const k of ['x-served-by', 'content-language', 'content-type', 'content-length', 'accept-ranges']) assert.equal(nm.headers[k], undefined, k);
      assert.deepEqual(seen, ['data.txt:1000', 'data.txt:1000', 'data.txt:1000']);
    });

    it('etag and lastModified off: no validators, and no 304 from them', async function () {
      const { root } = makeRoot();
      const get = await files(root, { etag: false, lastModified: false });
      const r = await get('/data.txt', { 'If-None-Match': '*', 'If-Modified-Since': new Date(Date.now() + 3600e3).toUTCString() });
      // "*" still matches an existing file (RFC 9110 13.1.2).
      assert.equal(r.status, 304);
      const s = await get('/data.txt', { 'If-Modified-Since': new Date(Date.now() + 3600e3).toUTCString() });
      assert.equal(s.status, 200);
      assert.equal(s.headers.etag, undefined);
      assert.equal(s.headers['last-modified'], undefined);
    });

    it('If-Modified-Since at a second\'s resolution, If-Unmodified-Since and If-Match', async function () {
      const { root } = makeRoot();
      const t = new Date('2024-01-15T12:00:00.750Z');
      utimesSync(path.join(root, 'data.txt'), t, t);
      const get = await files(root);
      const r = await get('/data.txt');
      assert.equal(r.headers['last-modified'], 'Mon, 15 Jan 2024 12:00:00 GMT');
      assert.equal((await get('/data.txt', { 'If-Modified-Since': 'Mon, 15 Jan 2024 12:00:00 GMT' })).status, 304);
      assert.equal((await get('/data.txt', { 'If-Modified-Since': 'Mon, 15 Jan 2024 11:59:59 GMT' })).status, 200);
      assert.equal((await get('/data.txt', { 'If-Unmodified-Since': 'Mon, 15 Jan 2024 11:59:59 GMT' })).status, 412);
      assert.equal((await get('/data.txt', { 'If-Match': '"nope"' })).status, 412);
      assert.equal((await get('/data.txt', { 'If-Match': r.headers.etag! })).status, 200);
    });
  });

  describe(`staticFiles: ranges (${mode})`, function () {
    before(() => (blocking = mode === 'blocking'));
    after(() => (blocking = false));
    it('one range: 206 with Content-Range and exactly those bytes', async function () {
      const { root } = makeRoot();
      const get = await files(root);
      for (const [range, start, end] of [['bytes=0-0', 0, 0], ['bytes=10-19', 10, 19], ['bytes=990-', 990, 999], ['bytes=-5', 995, 999], ['bytes=500-5000', 500, 999], ['bytes=0-9,5-20', 0, 20]] as const) {
        const r = await get('/data.txt', { Range: range });
        assert.equal(r.status, 206, range);
        assert.equal(r.headers['content-range'], `bytes ${start}-${end}/1000`, range);
        assert.equal(r.headers['content-length'], String(end - start + 1));
        assert.deepEqual(r.bytes, DATA.subarray(start, end + 1), range);
      }
    });

    it('several ranges: multipart/byteranges, each part with its type and range, the length exact', async function () {
      const { root } = makeRoot();
      const get = await files(root);
      const r = await get('/data.txt', { Range: 'bytes=900-909, 0-4, 50-59' });
      assert.equal(r.status, 206);
      const m = /^multipart\/byteranges; boundary=([0-9a-f]+)$/.exec(r.headers['content-type'] ?? '');
      assert.ok(m, r.headers['content-type']);
      assert.equal(r.headers['content-length'], String(r.bytes.length));
      const text = r.bytes.toString('latin1');
      const parts = text.split(`--${m[1]}`);
      assert.equal(parts[0], '', 'no preamble');
      assert.equal(parts.at(-1), '--\r\n', 'closing delimiter');
      const got = parts.slice(1, -1).map((p) => {
        const [head, body] = p.replace(/^\r\n/, '').split('\r\n\r\n');
        return { head, body: body!.replace(/\r\n$/, '') };
      });
      assert.deepEqual(got.map((g) => g.head), [0, 50, 900].map((s) => `Content-Type: text/plain; charset=utf-8\r\nContent-Range: bytes ${s}-${s + (s === 0 ? 4 : 9)}/1000`));
      assert.deepEqual(got.map((g) => g.body), [DATA.subarray(0, 5), DATA.subarray(50, 60), DATA.subarray(900, 910)].map((b) => b.toString('latin1')));
    });

    it('416 with Content-Range bytes */size when nothing is satisfiable', async function () {
      const { root } = makeRoot();
      const get = await files(root);
      for (const range of ['bytes=1000-', 'bytes=5000-6000', 'bytes=-0', 'bytes=1000-,2000-']) {
        const r = await get('/data.txt', { Range: range });
        assert.equal(r.status, 416, range);
        assert.equal(r.headers['content-range'], 'bytes */1000');
      }
    });

    it('ignored (200, whole file): bad syntax, another unit, HEAD, a failed If-Range, too many ranges, ranges off', async function () {
      const { root } = makeRoot();
      let get = await files(root, { maxRanges: 3 });
      const etag = (await get('/data.txt')).headers.etag!;
      const cases: Array<[Record<string, string>, string]> = [
        [{ Range: 'bytes=abc' }, 'GET'],
        [{ Range: 'items=0-1' }, 'GET'],
        [{ Range: 'bytes=5-1' }, 'GET'],
        [{ Range: 'bytes=0-1' }, 'HEAD'],
        [{ Range: 'bytes=0-1', 'If-Range': '"other"' }, 'GET'],
        [{ Range: 'bytes=0-1', 'If-Range': `W/${etag}` }, 'GET'],
        [{ Range: 'bytes=0-1', 'If-Range': 'Mon, 15 Jan 2001 12:00:00 GMT' }, 'GET'],
        [{ Range: 'bytes=0-1,3-4,6-7,9-10' }, 'GET'],
      ];
      for (const [headers, method] of cases) {
        const r = await get('/data.txt', headers, method);
        assert.equal(r.status, 200, JSON.stringify(headers));
        assert.equal(r.headers['content-length'], '1000');
        if (method === 'GET') assert.deepEqual(r.bytes, DATA);
      }
      const ok = await get('/data.txt', { Range: 'bytes=0-1', 'If-Range': etag });
      assert.equal(ok.status, 206);
      const lm = (await get('/data.txt')).headers['last-modified']!;
      assert.equal((await get('/data.txt', { Range: 'bytes=0-1', 'If-Range': lm })).status, 206);
      get = await files(root, { ranges: false });
      const off = await get('/data.txt', { Range: 'bytes=0-1' });
      assert.equal(off.status, 200);
      assert.equal(off.headers['accept-ranges'], undefined);
      get = await files(root, { maxRanges: 1 });
      assert.equal((await get('/data.txt', { Range: 'bytes=0-1,5-6' })).status, 200);
      assert.equal((await get('/data.txt', { Range: 'bytes=0-1' })).status, 206);
    });
  });

  describe(`staticFiles: precompressed siblings (${mode})`, function () {
    before(() => (blocking = mode === 'blocking'));
    after(() => (blocking = false));
    const CSS = 'body { color: red }\n'.repeat(50);

    it('serves .br or .gz by the client\'s preference, with the original\'s type, Content-Encoding, its own ETag and Vary', async function () {
      const { root } = makeRoot();
      const get = await files(root);
      const plain = await get('/style.css');
      assert.equal(plain.body, CSS);
      assert.equal(plain.headers['content-encoding'], undefined);
      const table: Array<[string, string | undefined]> = [
        ['br', 'br'], ['gzip', 'gzip'], ['gzip, br', 'br'], ['br;q=0.5, gzip', 'gzip'], ['*', 'br'], ['br;q=0, *', 'gzip'],
        ['identity', undefined], ['gzip;q=0, br;q=0', undefined], ['deflate', undefined],
      ];
      const tags = new Set<string>();
      for (const [ae, enc] of table) {
        const r = await get('/style.css', { 'Accept-Encoding': ae });
        assert.equal(r.headers['content-encoding'], enc, ae);
        assert.equal(r.headers['content-type'], 'text/css; charset=utf-8');
        assert.equal(r.headers.vary, 'Accept-Encoding');
        assert.equal(r.headers['content-length'], String(r.bytes.length));
        const body = enc === 'br' ? zlib.brotliDecompressSync(r.bytes) : enc === 'gzip' ? zlib.gunzipSync(r.bytes) : r.bytes;
        assert.equal(body.toString(), CSS, ae);
        tags.add(r.headers.etag!);
      }
      assert.equal(tags.size, 3, 'one ETag per representation');
      // A conditional request is judged against the representation it gets.
      const br = await get('/style.css', { 'Accept-Encoding': 'br' });
      assert.equal((await get('/style.css', { 'Accept-Encoding': 'br', 'If-None-Match': br.headers.etag! })).status, 304);
      assert.equal((await get('/style.css', { 'Accept-Encoding': 'gzip', 'If-None-Match': br.headers.etag! })).status, 200);
    });

    it('looks for what precompressed lists, and for nothing when false', async function () {
      const { root } = makeRoot();
      let get = await files(root, { precompressed: ['gzip'] });
      assert.equal((await get('/style.css', { 'Accept-Encoding': 'br, gzip' })).headers['content-encoding'], 'gzip');
      get = await files(root, { precompressed: false });
      const r = await get('/style.css', { 'Accept-Encoding': 'br, gzip' });
      assert.equal(r.headers['content-encoding'], undefined);
      assert.equal(r.headers.vary, undefined);
    });

    it('compress() in front leaves a precompressed answer alone and compresses the rest, once', async function () {
      const { root } = makeRoot();
      const get = await serve(compress({ threshold: 100 })(staticFiles(root)));
      const br = await get('/style.css', { 'Accept-Encoding': 'br' });
      assert.equal(br.headers['content-encoding'], 'br');
      assert.equal(zlib.brotliDecompressSync(br.bytes).toString(), CSS);
      assert.equal(br.headers.vary, 'Accept-Encoding');
      const data = await get('/data.txt', { 'Accept-Encoding': 'gzip' });
      assert.equal(data.headers['content-encoding'], 'gzip');
      assert.equal(data.headers.vary, 'Accept-Encoding');
      assert.match(data.headers.etag ?? '', /^W\/"/);
      assert.deepEqual(zlib.gunzipSync(data.bytes), DATA);
      // A weak tag from a compressed answer still revalidates (If-None-Match compares weakly).
      assert.equal((await get('/data.txt', { 'Accept-Encoding': 'gzip', 'If-None-Match': data.headers.etag! })).status, 304);
      const png = await get('/photo.png', { 'Accept-Encoding': 'gzip' });
      assert.equal(png.headers['content-encoding'], undefined);
      assert.equal(png.headers['content-length'], '2000');
    });
  });

  describe(`staticFiles: what is not served (${mode})`, function () {
    before(() => (blocking = mode === 'blocking'));
    after(() => (blocking = false));
    it('dotfiles: ignored (404) by default, 403 with deny, served with allow; a symlink to one hides it too', async function () {
      const { root } = makeRoot();
      let get = await files(root);
      for (const p of ['/.env', '/.git/config', '/.git/', '/env.txt', '/sub/../.env'.replace('/sub/..', '')]) assert.equal((await get(p)).status, 404, p);
      get = await files(root, { dotfiles: 'deny' });
      assert.equal((await get('/.env')).status, 403);
      assert.equal((await get('/env.txt')).status, 403);
      get = await files(root, { dotfiles: 'allow' });
      assert.equal((await get('/.env')).body, 'SECRET=1\n');
      assert.equal((await get('/env.txt')).body, 'SECRET=1\n');
    });

    it('symlinks: inside followed, outside not found; follow and refuse', async function () {
      const { root } = makeRoot();
      let get = await files(root);
      assert.deepEqual((await get('/in.txt')).bytes, DATA);
      assert.equal((await get('/out.txt')).status, 404);
      assert.equal((await get('/up/secret.txt')).status, 404);
      get = await files(root, { symlinks: 'follow' });
      assert.equal((await get('/out.txt')).body, 'outside\n');
      assert.equal((await get('/up/secret.txt')).body, 'outside\n');
      get = await files(root, { symlinks: 'refuse' });
      assert.equal((await get('/in.txt')).status, 404);
      assert.equal((await get('/data.txt')).status, 200);
    });

    it('a root that is a symlink is followed, and one that does not exist yet is looked for again', async function () {
      const { dir, root } = makeRoot();
      const link = path.join(dir, 'current');
      symlinkSync(root, link);
      assert.equal((await (await files(link))('/data.txt')).status, 200);
      const later = path.join(dir, 'later');
      const get = await files(later);
      assert.equal((await get('/a.txt')).status, 404);
      mkdirSync(later);
      writeFileSync(path.join(later, 'a.txt'), 'now\n');
      assert.equal((await get('/a.txt')).body, 'now\n');
    });

    it('methods other than GET and HEAD: 405 with Allow', async function () {
      const { root } = makeRoot();
      const get = await files(root);
      for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
        const r = await get('/data.txt', {}, method);
        assert.equal(r.status, 405, method);
        assert.equal(r.headers.allow, 'GET, HEAD');
      }
    });

    it('refuses bad index names at creation', function () {
      for (const index of ['', '../x', 'a/b', '..']) assert.throws(() => staticFiles('.', { index }), /index name/);
      assert.throws(() => staticFiles(''), /root/);
    });
  });

  describe(`serveStatic and fallthrough (${mode})`, function () {
    before(() => (blocking = mode === 'blocking'));
    after(() => (blocking = false));
    const dynamic: Application = (environ, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return [`dynamic ${environ.REQUEST_METHOD} ${environ.PATH_INFO}`];
    };

    it('serves files, and hands the app what is not a file, hidden files and other methods', async function () {
      const { root } = makeRoot();
      const get = await serve(compose(serveStatic(root))(dynamic));
      assert.deepEqual((await get('/data.txt')).bytes, DATA);
      assert.equal((await get('/nothing/here')).body, 'dynamic GET /nothing/here');
      assert.equal((await get('/.env')).body, 'dynamic GET /.env');
      assert.equal((await get('/out.txt')).body, 'dynamic GET /out.txt');
      assert.equal((await get('/data.txt', {}, 'POST')).body, 'dynamic POST /data.txt');
      assert.equal((await get('/sub/')).body, 'dynamic GET /sub/');
      // A path no browser sends is refused, not handed on.
      assert.equal((await get('/a\\b')).status, 400);
    });

    it('staticFiles(root, { fallthrough }) is the same', async function () {
      const { root } = makeRoot();
      const get = await files(root, { fallthrough: dynamic });
      assert.equal((await get('/missing')).body, 'dynamic GET /missing');
      assert.equal((await get('/index.html')).body, HELLO);
    });
  });
}
