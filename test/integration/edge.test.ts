/**
 * The edge, under each interface (gateway, node, fetch): a Host field that
 * is not a valid host[:port], or more than one, gets 400 before any app
 * sees the request (RFC 9112 3.2); an app's `Connection: close` is honoured
 * (the connection closes after the response) instead of being an error.
 */
import assert from 'node:assert/strict';
import { eachInterface, startGwserver, type Gwserver } from '../helpers/gwserver.js';
import { rawExchange, rawRequest } from '../helpers/raw.js';

const APP = 'test/fixtures/apps/edge.mjs';

/** Sends one request and resolves with what came back once the server closed the connection. */
async function untilServerCloses(port: number, request: string): Promise<string> {
  return (await rawExchange(port, request)).text;
}

for (const [kind, target, flags] of eachInterface(APP)) {
  describe(`the edge, ${kind} interface`, function () {
    this.timeout(30_000);
    let srv: Gwserver;
    before(async () => {
      srv = await startGwserver(['-w', '1', ...flags, target]);
    });
    after(async () => { await srv?.stop(); });

    for (const host of ['a b', 'a/../b?c#d', 'a@b', 'x:80:80']) {
      it(`Host: ${host} gets 400 and never reaches the app`, async () => {
        const r = await rawRequest({ port: srv.port }, `GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
        assert.equal(r.status, 400);
        assert.equal(r.headers.connection, 'close');
        assert.doesNotMatch(r.body.toString(), /^ok/);
      });
    }

    it('two Host fields get 400', async () => {
      const r = await rawRequest({ port: srv.port }, 'GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n');
      assert.equal(r.status, 400);
    });

    for (const host of ['example.com', 'example.com:8080', '127.0.0.1:1', '[::1]:8000', 'xn--bcher-kva.example', '']) {
      it(`Host: ${host || '(empty)'} is served`, async () => {
        const r = await rawRequest({ port: srv.port }, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        assert.equal(r.status, 200);
        assert.equal(r.body.toString(), `ok ${host}`);
      });
    }

    if (kind !== 'fetch') {
      it('103 Early Hints go out before the response on HTTP/1.1, and not to an HTTP/1.0 client', async () => {
        const got = await untilServerCloses(srv.port, 'GET /hints HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
        assert.match(got, /^HTTP\/1\.1 103 Early Hints\r\nLink: <\/a\.css>; rel=preload; as=style, <\/b\.js>; rel=preload; as=script\r\n\r\nHTTP\/1\.1 200 OK\r\n/i);
        assert.match(got, /hinted/);
        assert.doesNotMatch(got, /late\.css/);
        const old = await untilServerCloses(srv.port, 'GET /hints HTTP/1.0\r\nHost: x\r\n\r\n');
        assert.match(old, /^HTTP\/1\.1 200 OK\r\n/);
        assert.match(old, /hinted$/);
      });
    }

    it('an app\'s Connection: close is honoured: 200, then the server closes the connection', async () => {
      const got = await untilServerCloses(srv.port, 'GET /close HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.match(got, /^HTTP\/1\.1 200 /);
      assert.match(got, /\r\nConnection: close\r\n/i);
      assert.equal(got.match(/\r\nconnection:/gi)?.length, 1, `one Connection header: ${got}`);
      assert.ok(got.endsWith('ok x'), got);
      // A keep-alive request on another path keeps its connection.
      const r = await rawRequest({ port: srv.port }, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal(r.status, 200);
      assert.notEqual(r.headers.connection, 'close');
    });
  });
}
