/**
 * The worker's HTTP server through a real gwserver: environ headers built
 * from rawHeaders, gunicorn's limits with their status codes, bad requests
 * refused with Connection: close while the worker serves on, and Node's
 * timeouts as settings.
 */
import assert from 'node:assert/strict';
import { startGwserver, type Gwserver } from '../helpers/gwserver.js';
import { RawClient, rawRequest } from '../helpers/raw.js';
import { until } from '../helpers/until.js';

const APP = 'test/fixtures/apps/basic.mjs';

async function environOf(srv: Gwserver, request: string): Promise<Record<string, string>> {
  const r = await rawRequest({ port: srv.port }, request);
  assert.equal(r.status, 200, r.raw);
  return JSON.parse(r.body.toString()) as Record<string, string>;
}

/** After a refusal the same worker must still answer. */
async function stillServes(srv: Gwserver): Promise<void> {
  const r = await rawRequest({ port: srv.port }, 'GET /alive HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.equal(r.status, 200);
  assert.equal(srv.proc.exitCode, null);
}

describe('worker HTTP server', function () {
  this.timeout(20_000);

  describe('environ headers from rawHeaders', () => {
    let srv: Gwserver;
    before(async () => { srv = await startGwserver([`${APP}:environ`]); });
    after(async () => { await srv.stop(); });

    it('joins repeats with ", ", Cookie with "; ", drops names with "_", keeps CONTENT_*', async () => {
      const env = await environOf(srv, [
        'POST /a%20b/c?x=1&y=%20 HTTP/1.1',
        'Host: example.org:8080',
        'Accept: text/html',
        'Accept: application/json',
        'User-Agent: first',
        'User-Agent: second',
        'Cookie: a=1',
        'Cookie: b=2',
        'X-Forwarded-For: 10.0.0.1',
        'X_Forwarded_For: 6.6.6.6',
        'Content-Type: text/plain',
        'Content-Length: 0',
        'Connection: close',
        '', ''].join('\r\n'));
      assert.equal(env.HTTP_ACCEPT, 'text/html, application/json');
      assert.equal(env.HTTP_USER_AGENT, 'first, second', 'Node keeps only the first in req.headers');
      assert.equal(env.HTTP_COOKIE, 'a=1; b=2');
      assert.equal(env.HTTP_X_FORWARDED_FOR, '10.0.0.1');
      assert.equal(env.CONTENT_TYPE, 'text/plain');
      assert.equal(env.CONTENT_LENGTH, '0');
      assert.equal(env.HTTP_CONTENT_TYPE, undefined);
      assert.equal(env.HTTP_CONTENT_LENGTH, undefined);
      assert.equal(env.REQUEST_METHOD, 'POST');
      assert.equal(env.PATH_INFO, '/a b/c');
      assert.equal(env.QUERY_STRING, 'x=1&y=%20');
      assert.equal(env.RAW_URI, '/a%20b/c?x=1&y=%20');
      assert.equal(env.SERVER_NAME, 'example.org');
      assert.equal(env.SERVER_PORT, '8080');
      assert.equal(env.SERVER_PROTOCOL, 'HTTP/1.1');
      assert.equal(env.SCRIPT_NAME, '');
      assert.equal(env['wsgi.url_scheme'], 'http');
      assert.equal(env['wsgi.multiprocess'], false);
      assert.equal(env['wsgi.multithread'], false);
      assert.equal(env['wsgi.run_once'], false);
      assert.equal(env['wsgi.input_terminated'], true);
      assert.match(env['gwserver.request_id']!, /^[0-9a-f-]{36}$/);
    });

    it('sets REMOTE_ADDR/PORT from the peer, and from a trusted proxy', async () => {
      const direct = await environOf(srv, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.equal(direct.REMOTE_ADDR, '127.0.0.1');
      assert.match(direct.REMOTE_PORT!, /^\d+$/);
      assert.notEqual(direct.REMOTE_PORT, '0');
      // 127.0.0.1 is trusted by default (--forwarded-allow-ips).
      const proxied = await environOf(srv, 'GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9, 127.0.0.1\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n');
      assert.equal(proxied.REMOTE_ADDR, '203.0.113.9');
      assert.equal(proxied['wsgi.url_scheme'], 'https');
      assert.equal(proxied.SERVER_PORT, '443');
    });

    it('decodes PATH_INFO as UTF-8 and refuses a path that is not', async () => {
      const env = await environOf(srv, 'GET /caf%C3%A9/%E2%9C%93?q=%C3%A9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.equal(env.PATH_INFO, '/café/✓');
      assert.equal(env.QUERY_STRING, 'q=%C3%A9');
      const bad = await rawRequest({ port: srv.port }, 'GET /%C3%28 HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal(bad.status, 400);
      assert.equal(bad.headers.connection, 'close');
      await stillServes(srv);
    });

    it('SERVER_NAME falls back to the bound address without a Host (HTTP/1.0)', async () => {
      const env = await environOf(srv, 'GET / HTTP/1.0\r\n\r\n');
      assert.equal(env.SERVER_NAME, '127.0.0.1');
      assert.equal(env.SERVER_PORT, String(srv.port));
      assert.equal(env.SERVER_PROTOCOL, 'HTTP/1.0');
    });
  });

  it('--root-path splits SCRIPT_NAME from PATH_INFO', async () => {
    const srv = await startGwserver(['--root-path', '/api/', `${APP}:environ`]);
    const under = await environOf(srv, 'GET /api/users/7 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(under.SCRIPT_NAME, '/api');
    assert.equal(under.PATH_INFO, '/users/7');
    const outside = await environOf(srv, 'GET /apiary HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(outside.SCRIPT_NAME, '');
    assert.equal(outside.PATH_INFO, '/apiary');
  });

  it('--forwarded-allow-ips: an untrusted peer cannot set the client address or scheme', async () => {
    const srv = await startGwserver(['--forwarded-allow-ips', '10.1.1.1', `${APP}:environ`]);
    const env = await environOf(srv, 'GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n');
    assert.equal(env.REMOTE_ADDR, '127.0.0.1');
    assert.equal(env['wsgi.url_scheme'], 'http');
  });

  describe('limits, with gunicorn\'s defaults', () => {
    let srv: Gwserver;
    let calls: number;
    before(async () => { srv = await startGwserver([`${APP}:environ`]); });
    after(async () => { await srv.stop(); });
    const appCalls = () => srv.records().filter((r) => r.msg === 'request refused').length;
    beforeEach(() => { calls = appCalls(); });

    it('a request line over 4094 bytes gets 414', async () => {
      const ok = await rawRequest({ port: srv.port }, `GET /${'a'.repeat(4094 - 14)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.equal(ok.status, 200, 'exactly at the limit is fine');
      const r = await rawRequest({ port: srv.port }, `GET /${'a'.repeat(4094 - 13)} HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert.equal(r.status, 414);
      assert.equal(r.headers.connection, 'close');
      await stillServes(srv);
    });

    it('a request head larger than the whole header buffer (a 1 MiB request line) gets 431', async () => {
      const r = await rawRequest({ port: srv.port }, `GET /${'a'.repeat(1024 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert.equal(r.status, 431);
      assert.equal(r.headers.connection, 'close');
      await stillServes(srv);
    });

    it('more than 100 header fields get 431', async () => {
      const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-H${i}: v`).join('\r\n');
      const ok = await rawRequest({ port: srv.port }, `GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${fields(97)}\r\n\r\n`);
      assert.equal(ok.status, 200);
      const r = await rawRequest({ port: srv.port }, `GET / HTTP/1.1\r\nHost: x\r\n${fields(100)}\r\n\r\n`);
      assert.equal(r.status, 431);
      assert.equal(r.headers.connection, 'close');
      await stillServes(srv);
    });

    it('a header field line over 8190 bytes (CRLF included) gets 431', async () => {
      const ok = await rawRequest({ port: srv.port }, `GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: ${'b'.repeat(8190 - 9)}\r\n\r\n`);
      assert.equal(ok.status, 200);
      const r = await rawRequest({ port: srv.port }, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(8190 - 8)}\r\n\r\n`);
      assert.equal(r.status, 431);
      await stillServes(srv);
    });

    it('malformed requests get 400 with Connection: close and never reach the app', async () => {
      const bad = [
        'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
        'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
        'GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n',
        'GET / HTTP/1.1\r\nHost : x\r\n\r\n',
        'GARBAGE\r\n\r\n',
        'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n',
        'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
        'GET / HTTP/1.1\r\n\r\n',
      ];
      for (const req of bad) {
        const r = await rawRequest({ port: srv.port }, req);
        assert.equal(r.status, 400, JSON.stringify(req));
        assert.equal(r.headers.connection, 'close', JSON.stringify(req));
      }
      assert.equal(appCalls() - calls, bad.length, 'each was refused (and logged) by the server');
      await stillServes(srv);
    });
  });

  it('limit flags change the limits', async () => {
    const srv = await startGwserver(['--limit-request-line', '64', '--limit-request-fields', '3', '--limit-request-field-size', '40', '--limit-request-body', '10', `${APP}:body`]);
    const send = (req: string) => rawRequest({ port: srv.port }, req);
    assert.equal((await send(`GET /${'a'.repeat(60)} HTTP/1.1\r\nHost: x\r\n\r\n`)).status, 414);
    assert.equal((await send('GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n')).status, 431);
    assert.equal((await send(`GET / HTTP/1.1\r\nHost: x\r\nA: ${'v'.repeat(40)}\r\n\r\n`)).status, 431);
    const over = await send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n');
    assert.equal(over.status, 413, 'declared body over the limit: refused before the app and before the body');
    const within = await send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789');
    assert.equal(within.status, 200);
    assert.equal(within.body.toString(), '10');
    const chunked = await send('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n');
    assert.equal(chunked.status, 413, 'chunked body over the limit: the read fails, nothing sent yet');
  });

  it('lets middleware assign any environ key, the lazily built ones included', async () => {
    const srv = await startGwserver([`${APP}:assign`]);
    const r = await fetch(`${srv.url}/`);
    assert.equal(r.status, 200);
    const out = await r.json() as { lines: string[]; log: string; same: boolean; keys: string[] };
    assert.deepEqual(out.lines, ['captured']);
    assert.equal(out.log, 'replaced');
    assert.equal(out.same, true);
    assert.deepEqual(out.keys, ['gwserver.log', 'gwserver.request_id', 'gwserver.signal', 'gwserver.worker_id', 'wsgi.errors']);
  });

  it('--keep-alive 0 answers with Connection: close and closes', async () => {
    const srv = await startGwserver(['--keep-alive', '0', `${APP}:hello`]);
    const r = await rawRequest({ port: srv.port }, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(r.headers.connection, 'close');
    assert.equal(r.headers['keep-alive'], undefined);
  });

  describe('timeouts', () => {
    it('--headers-timeout: a client that never finishes its headers gets 408', async () => {
      const srv = await startGwserver(['--headers-timeout', '1', `${APP}:hello`]);
      const t0 = Date.now();
      const c = new RawClient(srv.port);
      c.send('GET / HTTP/1.1\r\nHost: x\r\n');
      await c.waitClosed();
      assert.match(c.text, /^HTTP\/1\.1 408 /);
      assert.ok(Date.now() - t0 >= 900, 'not before the timeout');
    });

    it('--request-timeout: a body that takes too long gets 408; the default (0) does not cut', async () => {
      const srv = await startGwserver(['--request-timeout', '1', `${APP}:body`]);
      const c = new RawClient(srv.port);
      c.send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc');
      await c.waitClosed();
      assert.match(c.text, /408/);
    });

    it('--keep-alive: an idle connection is closed after the timeout, and kept before it', async () => {
      const srv = await startGwserver(['--keep-alive', '1', `${APP}:hello`]);
      const c = new RawClient(srv.port);
      let closedAt = 0;
      c.socket.on('close', () => (closedAt = Date.now()));
      c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => c.text.includes('Hello world!'), 5000, 'first response');
      const t0 = Date.now();
      assert.match(c.text, /Keep-Alive: timeout=1/);
      c.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => c.text.split('Hello world!').length === 3, 5000, 'second response on the same connection');
      await until(() => closedAt > 0, 5000, 'idle close');
      assert.ok(closedAt - t0 >= 900, `closed after ${closedAt - t0} ms`);
    });
  });
});
