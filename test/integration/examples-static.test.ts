/**
 * examples/static.mjs served by a real gwserver (`gwserver
 * examples/static.mjs`, from the repository root, as its comment says):
 * the page, its stylesheet compressed for a client that accepts it, the
 * app behind the files, and a path out of examples/public/ refused.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { ROOT, startGwserver, type Gwserver } from '../helpers/gwserver.js';
import { get } from '../helpers/http.js';
import { rawRequest } from '../helpers/raw.js';

describe('examples/static.mjs', function () {
  let server: Gwserver;
  beforeEach(async function () {
    server = await startGwserver(['examples/static.mjs']);
  });

  it('serves the page and its files, cached for an hour', async function () {
    const page = await get(server, '/');
    assert.equal(page.status, 200);
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(page.headers['cache-control'], 'public, max-age=3600');
    assert.equal(page.body, readFileSync(path.join(ROOT, 'examples/public/index.html'), 'utf8'));
    const js = await get(server, '/app.js');
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.match(js.body, /api\/time/);
  });

  it('compresses the stylesheet for a client that accepts brotli or gzip, and revalidates it', async function () {
    const css = readFileSync(path.join(ROOT, 'examples/public/style.css'), 'utf8');
    const br = await get(server, '/style.css', { headers: { 'Accept-Encoding': 'gzip, br' } });
    assert.equal(br.headers['content-encoding'], 'br');
    assert.equal(br.headers.vary, 'Accept-Encoding');
    assert.equal(zlib.brotliDecompressSync(br.bytes).toString(), css);
    const gz = await get(server, '/style.css', { headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(zlib.gunzipSync(gz.bytes).toString(), css);
    const again = await get(server, '/style.css', { headers: { 'Accept-Encoding': 'br', 'If-None-Match': br.headers.etag! } });
    assert.equal(again.status, 304);
    const plain = await get(server, '/style.css');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.body, css);
  });

  it('hands the rest to the app: /api/time and 404s', async function () {
    const time = await get(server, '/api/time');
    assert.equal(time.status, 200);
    assert.ok(!Number.isNaN(Date.parse((JSON.parse(time.body) as { time: string }).time)));
    const missing = await get(server, '/nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.body, 'There is nothing at /nope\n');
  });

  it('refuses a way out of examples/public/', async function () {
    const r = await rawRequest(server.port, 'GET /%2e%2e/static.mjs HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    assert.equal(r.status, 400);
    assert.ok(!r.raw.includes('serveStatic('));
  });
});
