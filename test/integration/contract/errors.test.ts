/**
 * Application errors and lazy headers: before the first body byte an error
 * is still a clean 500 (short plain body, details only in the log); after it
 * the connection is cut so the client sees a truncated response, never a
 * complete-looking one. And nothing an app does takes the worker down.
 */
import assert from 'node:assert/strict';
import type { Gwserver } from '../../helpers/gwserver.js';
import { request } from '../../helpers/http.js';
import { parseResponse, rawExchange } from '../../helpers/raw.js';
import { appError, assertAlive, get, serve, token } from './support.js';

describe('contract: application errors', function () {
  let server: Gwserver;
  beforeEach(async function () {
    server = await serve('errors');
  });

  const CLEAN_500: Array<[string, string]> = [
    ['throw-before-start', 'the app throws before startResponse'],
    ['reject', 'the app returns a rejected promise'],
    ['throw-after-start', 'the app throws after startResponse, before returning a body'],
    ['throw-in-body-before-chunk', 'the body throws after startResponse and an empty chunk (headers are lazy)'],
    ['no-start', 'the body is returned without startResponse'],
    ['bad-chunk', 'the body holds something that is not a chunk'],
    ['not-iterable', 'the body is not iterable'],
    ['undefined', 'the app returns undefined'],
  ];

  for (const [mode, what] of CLEAN_500) {
    it(`${what}: a clean 500, details in the log`, async function () {
      const t = token();
      const res = await request(`${server.url}/?mode=${mode}&t=${t}`);
      assert.equal(res.status, 500);
      assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal(res.body.toString(), 'Internal Server Error\n');
      const rec = await appError(server, t);
      assert.match(rec.request_id, /^[0-9a-f-]{36}$/);
      assert.equal(rec.path, `/?mode=${mode}&t=${t}`, 'the route');
      assert.match(rec.err.stack, /\n\s+at /);
      await assertAlive(server);
    });
  }

  it('a 500 keeps the connection usable (the request had no body)', async function () {
    const t = token();
    const c = await rawExchange(server.port, get(`/?mode=throw-before-start&t=${t}`) + get('/health', 'Connection: close\r\n'));
    const first = parseResponse(c.data);
    assert.equal(first.status, 500);
    const second = parseResponse(first.rest, { closed: true });
    assert.equal(second.status, 200);
  });

  it('chunked: an error after the first chunk cuts the response (no terminating 0-chunk)', async function () {
    const t = token();
    const c = await rawExchange(server.port, get(`/?mode=throw-after-chunk&t=${t}`));
    const res = parseResponse(c.data, { closed: true });
    assert.equal(res.status, 200);
    assert.equal(res.framing, 'chunked');
    assert.equal(res.body.toString(), 'partial', 'what the app sent before failing goes out');
    assert.equal(res.complete, false);
    assert.doesNotMatch(c.text, /0\r\n\r\n$/);
    assert.doesNotMatch(c.text, /SECRET|Internal Server Error/);
    const rec = await appError(server, t);
    assert.equal(rec.err.message, 'SECRET-throw-after-chunk');
    await assertAlive(server);
  });

  it('Content-Length: an error after the first chunk sends fewer bytes, then closes', async function () {
    const t = token();
    const c = await rawExchange(server.port, get(`/?mode=throw-after-chunk-cl&t=${t}`));
    const res = parseResponse(c.data, { closed: true });
    assert.equal(res.status, 200);
    assert.equal(res.framing, 'length');
    assert.equal(res.headers['content-length'], '100');
    assert.equal(res.body.toString(), 'partial');
    assert.equal(res.complete, false);
    await appError(server, t);
    await assertAlive(server);
  });

  it('fetch sees the cut response as an error, not as a complete body', async function () {
    const res = await fetch(`${server.url}/?mode=throw-after-chunk-cl`);
    assert.equal(res.status, 200);
    await assert.rejects(res.arrayBuffer());
    await assertAlive(server);
  });

  it('a close() that throws is logged; the response it followed is intact', async function () {
    const t = token();
    const res = await request(`${server.url}/?mode=close-throws&t=${t}`);
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'fine');
    const rec = await appError(server, t);
    assert.equal(rec.err.message, 'SECRET-close-failed');
    await assertAlive(server);
  });

  it('survives every error case in a row, in one process', async function () {
    for (const [mode] of CLEAN_500) await request(`${server.url}/?mode=${mode}`);
    await rawExchange(server.port, get('/?mode=throw-after-chunk'));
    await rawExchange(server.port, get('/?mode=throw-after-chunk-cl'));
    await request(`${server.url}/?mode=close-throws`);
    await assertAlive(server);
    assert.equal(server.records().filter((r) => r.level === 'fatal').length, 0);
  });
});
