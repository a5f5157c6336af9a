/**
 * How the server frames a response, seen as raw bytes: the app's
 * Content-Length is exact (more is cut and logged, fewer closes the
 * connection); arrays, bare strings and bytes get a computed Content-Length;
 * other iterables are chunked on HTTP/1.1 and close-delimited on HTTP/1.0;
 * empty chunks are skipped; HEAD runs the app and sends no body.
 */
import assert from 'node:assert/strict';
import type { Gwserver } from '../../helpers/gwserver.js';
import { parseResponse, RawClient, rawExchange } from '../../helpers/raw.js';
import { assertAlive, barrier, events, get, serve, token, waitEvent } from './support.js';

describe('contract: response framing', function () {
  let server: Gwserver;
  beforeEach(async function () {
    server = await serve('framing');
  });

  /** GET `/?mode=MODE` alone on a connection, parsed. */
  async function fetchRaw(mode: string, version = '1.1', extra = 'Connection: close\r\n') {
    const c = await rawExchange(server.port, get(`/?mode=${mode}`, version === '1.1' ? extra : '', 'GET', version));
    return { c, res: parseResponse(c.data, { closed: true }) };
  }

  describe('Content-Length set by the app', function () {
    for (const mode of ['cl-more', 'cl-more-array']) {
      it(`${mode}: more bytes than declared are cut at the limit and logged; the connection stays usable`, async function () {
        const c = await RawClient.open(server.port);
        try {
          await c.write(get(`/?mode=${mode}`));
          await c.waitFor('the response', (x) => x.text.includes('\r\n\r\nhello'));
          await c.write(get('/health', 'Connection: close\r\n'));
          await c.waitClosed();
          const res = parseResponse(c.data);
          assert.equal(res.headers['content-length'], '5');
          assert.equal(res.body.toString(), 'hello');
          const next = parseResponse(res.rest, { closed: true });
          assert.equal(next.status, 200, `the next response follows right after the 5 bytes: ${JSON.stringify(res.rest.toString('latin1'))}`);
        } finally {
          c.destroy();
        }
        const rec = await server.waitForRecord((r) => r.level === 'warn' && r.content_length === 5);
        assert.match(rec.msg, /more bytes than its Content-Length/);
      });
    }

    for (const mode of ['cl-fewer', 'cl-fewer-array']) {
      it(`${mode}: fewer bytes than declared close the connection; the response is incomplete`, async function () {
        const { c, res } = await fetchRaw(mode, '1.1', '');
        assert.equal(c.closed, true, 'closed although the client asked for keep-alive');
        assert.equal(res.headers['content-length'], '10');
        assert.equal(res.body.toString(), 'hello');
        assert.equal(res.complete, false);
        const rec = await server.waitForRecord((r) => r.level === 'error' && r.content_length === 10);
        assert.equal(rec.sent, 5);
        await assertAlive(server);
      });
    }

    it('exact: the declared bytes, not chunked', async function () {
      const { res } = await fetchRaw('cl-exact');
      assert.equal(res.framing, 'length');
      assert.equal(res.headers['transfer-encoding'], undefined);
      assert.equal(res.body.toString(), 'hello');
    });
  });

  describe('Content-Length computed by the server', function () {
    it('for an array', async function () {
      const { res } = await fetchRaw('array');
      assert.equal(res.framing, 'length');
      assert.equal(res.headers['content-length'], '6');
      assert.equal(res.body.toString(), 'abcdef');
    });

    it('for a bare string (its UTF-8 length)', async function () {
      const { res } = await fetchRaw('string');
      assert.equal(res.headers['content-length'], String(Buffer.byteLength('héllo wörld')));
      assert.equal(res.body.toString('utf8'), 'héllo wörld');
    });

    it('for a bare Uint8Array', async function () {
      const { res } = await fetchRaw('bytes');
      assert.equal(res.headers['content-length'], '4');
      assert.deepEqual([...res.body], [104, 105, 0, 255]);
    });

    it('for an empty array: 0', async function () {
      const { res } = await fetchRaw('empty-array');
      assert.equal(res.headers['content-length'], '0');
      assert.equal(res.body.length, 0);
    });

    it('for a generator that yields nothing: 0', async function () {
      const { res } = await fetchRaw('empty-gen');
      assert.equal(res.headers['content-length'], '0');
      assert.equal(res.headers['transfer-encoding'], undefined);
    });

    it('for a generator that yields only empty chunks: 0', async function () {
      const { res } = await fetchRaw('only-empty-chunks');
      assert.equal(res.headers['content-length'], '0');
      assert.equal(res.headers['transfer-encoding'], undefined);
    });

    it('never for a 204', async function () {
      const { res } = await fetchRaw('no-content');
      assert.equal(res.status, 204);
      assert.equal(res.headers['content-length'], undefined);
      assert.equal(res.headers['transfer-encoding'], undefined);
      assert.equal(res.rest.length, 0);
    });
  });

  describe('iterables without Content-Length', function () {
    for (const mode of ['gen', 'async-gen']) {
      it(`${mode}: chunked on HTTP/1.1, one chunk per yield`, async function () {
        const { res } = await fetchRaw(mode);
        assert.equal(res.framing, 'chunked');
        assert.equal(res.headers['content-length'], undefined);
        assert.deepEqual(res.chunkSizes, [1, 2]);
        assert.equal(res.body.toString(), 'abc');
        assert.equal(res.complete, true);
      });

      it(`${mode}: close-delimited on HTTP/1.0`, async function () {
        const { c, res } = await fetchRaw(mode, '1.0');
        assert.equal(res.framing, 'close');
        assert.equal(res.headers['transfer-encoding'], undefined);
        assert.equal(res.body.toString(), 'abc');
        assert.equal(c.closed, true);
      });
    }

    it('empty chunks are skipped (an empty chunk would end a chunked body)', async function () {
      const { res } = await fetchRaw('empty-chunks');
      assert.equal(res.framing, 'chunked');
      assert.deepEqual(res.chunkSizes, [1, 1]);
      assert.equal(res.body.toString(), 'ab');
      assert.equal(res.complete, true);
      assert.equal(res.rest.length, 0);
    });
  });

  describe('HEAD', function () {
    it('runs the app as for GET, pulls only until startResponse, sends no body, stops the iteration, closes', async function () {
      const t = token();
      // HEAD then GET on one connection: the GET's response must follow the HEAD's head directly.
      const c = await rawExchange(server.port, get(`/?mode=steps&t=${t}`, '', 'HEAD') + get('/health', 'Connection: close\r\n'));
      const head = parseResponse(c.data, { head: true });
      assert.equal(head.status, 200);
      assert.equal(head.headers['x-method'], 'HEAD');
      const next = parseResponse(head.rest, { closed: true });
      assert.equal(next.status, 200, `no body bytes after the HEAD response's head: ${JSON.stringify(head.rest.toString('latin1').slice(0, 80))}`);
      const step1 = await waitEvent(server, 'step-1', t);
      assert.equal(step1.method, 'HEAD');
      const fin = await waitEvent(server, 'finally', t);
      assert.equal(fin.completed, false);
      await waitEvent(server, 'close', t);
      await barrier(server);
      assert.equal(events(server, 'step-2', t).length, 0, 'not pulled past startResponse');
      assert.equal(events(server, 'close', t).length, 1);
    });

    it('the same app on GET runs every step', async function () {
      const t = token();
      const c = await rawExchange(server.port, get(`/?mode=steps&t=${t}`, 'Connection: close\r\n'));
      assert.equal(parseResponse(c.data, { closed: true }).body.toString(), 'firstsecond');
      await waitEvent(server, 'step-3', t);
      assert.equal((await waitEvent(server, 'finally', t)).completed, true);
    });

    it('an array body: Content-Length as for GET, no body', async function () {
      const c = await rawExchange(server.port, get('/?mode=array', '', 'HEAD') + get('/health', 'Connection: close\r\n'));
      const head = parseResponse(c.data, { head: true });
      assert.equal(head.headers['content-length'], '6');
      assert.equal(parseResponse(head.rest, { closed: true }).status, 200);
    });

    it('the app\'s Content-Length is kept and nothing is cut or closed', async function () {
      const c = await rawExchange(server.port, get('/?mode=cl-exact', '', 'HEAD') + get('/health', 'Connection: close\r\n'));
      const head = parseResponse(c.data, { head: true });
      assert.equal(head.headers['content-length'], '5');
      assert.equal(parseResponse(head.rest, { closed: true }).status, 200);
    });
  });
});
