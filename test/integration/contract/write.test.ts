/**
 * The legacy imperative output path, `write = startResponse(...)`, through a
 * real gwserver: headers go out with the first non-empty chunk; the response
 * is chunked on HTTP/1.1 and close-delimited on HTTP/1.0 unless the app set
 * Content-Length; writes resolve in order; a write after the body ended is
 * an application error.
 */
import assert from 'node:assert/strict';
import type { Gwserver } from '../../helpers/gwserver.js';
import { request } from '../../helpers/http.js';
import { parseResponse, RawClient, rawExchange } from '../../helpers/raw.js';
import { assertAlive, barrier, get, serve, token, waitEvent } from './support.js';

describe('contract: write()', function () {
  let server: Gwserver;
  beforeEach(async function () {
    server = await serve('legacy');
  });

  it('HTTP/1.1: chunked, one chunk per non-empty write, empty writes skipped', async function () {
    const c = await rawExchange(server.port, get('/?mode=basic', 'Connection: close\r\n'));
    const res = parseResponse(c.data, { closed: true });
    assert.equal(res.status, 200);
    assert.equal(res.framing, 'chunked');
    assert.equal(res.headers['content-length'], undefined);
    assert.deepEqual(res.chunkSizes, [6, 5]);
    assert.equal(res.body.toString(), 'hello world');
    assert.equal(res.complete, true);
    assert.equal(res.rest.length, 0);
  });

  it('HTTP/1.0: close-delimited (no Content-Length, no chunked), ended by closing the connection', async function () {
    const c = await rawExchange(server.port, get('/?mode=basic', '', 'GET', '1.0'));
    const res = parseResponse(c.data, { closed: true });
    assert.equal(res.status, 200);
    assert.equal(res.framing, 'close');
    assert.equal(res.headers['transfer-encoding'], undefined);
    assert.equal(res.body.toString(), 'hello world');
    assert.equal(c.closed, true);
  });

  it('HTTP/1.0 with keep-alive asked: still close-delimited, and the connection is closed', async function () {
    const c = await rawExchange(server.port, get('/?mode=basic', 'Connection: keep-alive\r\n', 'GET', '1.0'));
    const res = parseResponse(c.data, { closed: true });
    assert.equal(res.framing, 'close');
    assert.equal(res.body.toString(), 'hello world');
  });

  it('with the app\'s Content-Length: neither chunked nor close-delimited, and the connection is reused', async function () {
    const c = await RawClient.open(server.port);
    try {
      await c.write(get('/?mode=basic&cl=11'));
      await c.waitFor('the first response', (x) => x.text.endsWith('hello world'));
      const first = parseResponse(c.data);
      assert.equal(first.framing, 'length');
      assert.equal(first.headers['content-length'], '11');
      assert.equal(first.headers['transfer-encoding'], undefined);
      assert.equal(first.body.toString(), 'hello world');
      await c.write(get('/health', 'Connection: close\r\n'));
      await c.waitClosed();
      const second = parseResponse(parseResponse(c.data).rest, { closed: true });
      assert.equal(second.status, 200, 'a second request on the same connection');
    } finally {
      c.destroy();
    }
  });

  it('HTTP/1.0 with the app\'s Content-Length: length-framed', async function () {
    const c = await rawExchange(server.port, get('/?mode=basic&cl=11', '', 'GET', '1.0'));
    const res = parseResponse(c.data, { closed: true });
    assert.equal(res.framing, 'length');
    assert.equal(res.body.toString(), 'hello world');
  });

  it('sends nothing, not even the headers, before the first non-empty chunk', async function () {
    const t = token();
    const c = await RawClient.open(server.port);
    try {
      await c.write(get(`/?mode=lazy&t=${t}`, 'Connection: close\r\n'));
      // The app has called startResponse, written two empty chunks, and waits.
      await waitEvent(server, 'waiting', t);
      await barrier(server);
      assert.equal(c.data.length, 0, `nothing may be sent yet, got ${JSON.stringify(c.text)}`);
      await request(`${server.url}/release?t=${t}`);
      await c.waitClosed();
      const res = parseResponse(c.data, { closed: true });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'xy', 'the written chunk, then the returned body');
    } finally {
      c.destroy();
    }
  });

  it('writes started without awaiting each other all resolve, in order, and the bytes keep their order', async function () {
    const t = token();
    const res = await request(`${server.url}/?mode=order&t=${t}`);
    assert.equal(res.status, 200);
    assert.equal(res.bytes.length, 8 * 256 * 1024);
    for (let i = 0; i < 8; i++) {
      const part = res.bytes.subarray(i * 256 * 1024, (i + 1) * 256 * 1024);
      assert.ok(part.every((b) => b === 97 + i), `part ${i} in place`);
    }
    const rec = await waitEvent(server, 'order', t);
    assert.deepEqual(rec.order, [0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('write() then a one-element body: the body follows the written bytes (the headers are not sent twice)', async function () {
    const t = token();
    const c = await rawExchange(server.port, get(`/?mode=then-body&t=${t}`, 'Connection: close\r\n'));
    const res = parseResponse(c.data, { closed: true });
    assert.equal(res.status, 200);
    assert.equal(res.framing, 'chunked');
    assert.equal(res.complete, true);
    assert.equal(res.body.toString(), 'head-tail');
    assert.equal(server.records().filter((r) => r.level === 'error').length, 0, 'no error logged');
    await assertAlive(server);
  });

  it('a write after the body ended is an application error: the write rejects and the log has it', async function () {
    const t = token();
    const res = await request(`${server.url}/?mode=after-end&t=${t}`);
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'done', 'the late write added nothing');
    const rejected = await waitEvent(server, 'late-write-rejected', t);
    assert.equal(rejected.code, 'GW_APP_CONTRACT');
    const rec = await server.waitForRecord((r) => r.level === 'error' && typeof r.path === 'string' && r.path.includes(t));
    assert.match(rec.err.message, /after the response body ended/);
    assert.match(rec.request_id, /^[0-9a-f-]{36}$/);
    assert.equal(server.records().filter((r) => r.contract === 'late-write-resolved').length, 0);
    await assertAlive(server);
  });
});
