/**
 * `wsgi.input` through a real gwserver and raw sockets: every way of reading
 * (read(n), read(), readline(size), readlines(hint), async iteration) for
 * Content-Length and chunked bodies; one read at a time; never more than
 * Content-Length; a client that sends less makes read reject;
 * `100 Continue` only on the first read; --limit-request-body; and what
 * happens to a body the app did not read.
 */
import assert from 'node:assert/strict';
import type { Gwserver } from '../../helpers/gwserver.js';
import { request } from '../../helpers/http.js';
import { parseResponse, RawClient, rawExchange } from '../../helpers/raw.js';
import { assertAlive, barrier, events, get, serve, token, waitEvent } from './support.js';

const BODY = 'hello\nbig world\n\nlast line without newline';

/** A POST with a Content-Length body. */
function post(target: string, body: string, extra = 'Connection: close\r\n'): string {
  return `POST ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${Buffer.byteLength(body, 'latin1')}\r\n${extra}\r\n${body}`;
}

/** A POST with a chunked body, cut into `sizes`-byte chunks. */
function postChunked(target: string, body: string, sizes: number[], extra = 'Connection: close\r\n'): string {
  let out = `POST ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n${extra}\r\n`;
  let pos = 0;
  for (let i = 0; pos < body.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, body.length - pos);
    out += `${n.toString(16)}\r\n${body.slice(pos, pos + n)}\r\n`;
    pos += n;
  }
  return `${out}0\r\n\r\n`;
}

/** The JSON the input app answered. */
async function answer(server: Gwserver, bytes: string): Promise<any> {
  const c = await rawExchange(server.port, bytes);
  const res = parseResponse(c.data, { closed: true });
  assert.equal(res.status, 200, `status ${res.status}: ${res.body}`);
  return JSON.parse(res.body.toString('latin1'));
}

const lines = ['hello\n', 'big world\n', '\n', 'last line without newline'];

describe('contract: wsgi.input', function () {
  let server: Gwserver;
  beforeEach(async function () {
    server = await serve('input');
  });

  for (const framing of ['Content-Length', 'chunked'] as const) {
    const send = (target: string) => (framing === 'chunked' ? postChunked(target, BODY, [3, 7, 1, 20]) : post(target, BODY));

    describe(`with a ${framing} body`, function () {
      it('read() returns the whole body, then empty at EOF', async function () {
        const r = await answer(server, send('/?mode=read'));
        assert.equal(r.text, BODY);
        assert.equal(r.again, 0);
      });

      it('read(n) returns exactly n bytes, fewer only at EOF', async function () {
        const r = await answer(server, send('/?mode=read-n&n=4'));
        const expected = BODY.match(/[\s\S]{1,4}/g);
        assert.deepEqual(r.pieces, expected);
      });

      it('readline() returns lines up to and including "\\n"', async function () {
        const r = await answer(server, send('/?mode=readline'));
        assert.deepEqual(r.lines, lines);
      });

      it('readline(size) returns at most size bytes', async function () {
        const r = await answer(server, send('/?mode=readline&size=4'));
        assert.deepEqual(r.lines, ['hell', 'o\n', 'big ', 'worl', 'd\n', '\n', 'last', ' lin', 'e wi', 'thou', 't ne', 'wlin', 'e']);
      });

      it('readlines(hint) stops after the line that reaches hint; readlines() reads the rest', async function () {
        const r = await answer(server, send('/?mode=readlines&hint=7'));
        assert.deepEqual(r.first, ['hello\n', 'big world\n']);
        assert.deepEqual(r.rest, ['\n', 'last line without newline']);
      });

      it('async iteration yields the whole body in chunks', async function () {
        const r = await answer(server, send('/?mode=iterate'));
        assert.equal(r.text, BODY);
        assert.ok(r.chunks >= 1);
      });

      it('a read started while another is pending rejects', async function () {
        const r = await answer(server, send('/?mode=concurrent'));
        assert.equal(r.second, 'GW_CONCURRENT_READ');
        assert.equal(r.first, 'h', 'the first read is not disturbed');
      });
    });
  }

  it('never yields more than Content-Length: the next pipelined request is not body', async function () {
    const c = await rawExchange(server.port, post('/?mode=read', 'hello', '') + get('/health', 'Connection: close\r\n'));
    const first = parseResponse(c.data);
    assert.equal(JSON.parse(first.body.toString()).text, 'hello');
    assert.equal(parseResponse(first.rest, { closed: true }).status, 200, 'the pipelined request is served');
  });

  describe('a client that sends less than it declared', function () {
    for (const [how, close] of [
      ['half-closes', (c: RawClient) => c.socket.end()],
      ['closes', (c: RawClient) => c.destroy()],
      ['resets', (c: RawClient) => c.socket.resetAndDestroy()],
    ] as const) {
      it(`makes read reject with an error that says so (Content-Length; the client ${how})`, async function () {
        const t = token();
        const c = await RawClient.open(server.port);
        await c.write(post(`/?mode=read&t=${t}`, 'abc', '').replace('Content-Length: 3', 'Content-Length: 10'));
        await waitEvent(server, 'app-called', t);
        close(c);
        const rec = await waitEvent(server, 'read-error', t);
        assert.equal(rec.code, 'GW_CLIENT_GONE');
        assert.match(rec.message, /sent 3 of the 10 bytes/);
        if (how === 'half-closes') {
          // It can still read: nothing was sent, so it gets a 400.
          await c.waitClosed();
          assert.equal(parseResponse(c.data, { closed: true }).status, 400);
        }
        await assertAlive(server);
      });
    }

    it('makes read reject with an error that says so (chunked)', async function () {
      const t = token();
      const c = await RawClient.open(server.port);
      await c.write(`POST /?mode=read&t=${t} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`);
      await waitEvent(server, 'app-called', t);
      c.socket.end();
      const rec = await waitEvent(server, 'read-error', t);
      assert.equal(rec.code, 'GW_CLIENT_GONE');
      assert.match(rec.message, /before the end of its chunked body/);
      await c.waitClosed();
      assert.equal(parseResponse(c.data, { closed: true }).status, 400);
      await assertAlive(server);
    });

    it('makes a read that starts after the client went away reject (not hang)', async function () {
      const t = token();
      const c = await RawClient.open(server.port);
      await c.write(post(`/?mode=gated&t=${t}`, 'abc', '').replace('Content-Length: 3', 'Content-Length: 10'));
      await waitEvent(server, 'waiting', t);
      c.socket.resetAndDestroy();
      // The server has seen the reset before the app reads.
      await waitEvent(server, 'aborted', t);
      await request(`${server.url}/release?t=${t}`);
      const rec = await waitEvent(server, 'read-error', t);
      assert.equal(rec.code, 'GW_CLIENT_GONE');
      await assertAlive(server);
    });
  });

  describe('Expect: 100-continue', function () {
    const expect = (target: string) => `POST ${target} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n`;

    it('is answered on the first read, not before', async function () {
      const t = token();
      const c = await RawClient.open(server.port);
      try {
        await c.write(expect(`/?mode=gated&t=${t}`));
        await waitEvent(server, 'waiting', t);
        await barrier(server);
        assert.equal(c.data.length, 0, `no 100 before the app reads, got ${JSON.stringify(c.text)}`);
        await request(`${server.url}/release?t=${t}`);
        await c.waitFor('100 Continue', (x) => x.text.length >= 25);
        assert.equal(c.text, 'HTTP/1.1 100 Continue\r\n\r\n');
        await c.write('hello');
        await c.waitFor('the response', (x) => x.text.includes('}'));
        const res = parseResponse(c.data.subarray(25));
        assert.equal(res.status, 200);
        assert.equal(JSON.parse(res.body.toString()).text, 'hello');
      } finally {
        c.destroy();
      }
    });

    for (const mode of ['reject', 'ignore']) {
      it(`is never sent to an app that answers without reading (${mode})`, async function () {
        const t = token();
        const c = await RawClient.open(server.port);
        try {
          await c.write(expect(`/?mode=${mode}&t=${t}`));
          await c.waitFor('the final response', (x) => x.text.includes('\r\n\r\n') && x.text.length > 60);
          assert.doesNotMatch(c.text, /100 Continue/);
          const res = parseResponse(c.data);
          assert.equal(res.status, mode === 'reject' ? 413 : 200);
          // The client may never send the body: the connection cannot carry another request.
          assert.equal(res.headers.connection, 'close');
          await c.waitClosed();
          assert.doesNotMatch(c.text, /100 Continue/);
        } finally {
          c.destroy();
        }
      });
    }
  });

  describe('a body the app did not read', function () {
    it('is drained when small, so the connection carries the next request', async function () {
      const body = 'x'.repeat(1000);
      const c = await rawExchange(server.port, post('/?mode=ignore', body, '') + get('/health', 'Connection: close\r\n'));
      const first = parseResponse(c.data);
      assert.equal(first.status, 200);
      assert.equal(first.headers.connection, 'keep-alive');
      assert.equal(parseResponse(first.rest, { closed: true }).status, 200);
    });

    it('is drained after a partial read, too', async function () {
      const body = 'x'.repeat(5000);
      const c = await rawExchange(server.port, post('/?mode=read-some&n=10', body, '') + get('/health', 'Connection: close\r\n'));
      const first = parseResponse(c.data);
      assert.equal(first.body.toString(), 'read 10');
      assert.equal(parseResponse(first.rest, { closed: true }).status, 200);
    });

    it('closes the connection when large, instead of reading it all', async function () {
      const c = await RawClient.open(server.port);
      try {
        // Declares 10 MB, sends 300 KB, and waits: the server must answer and close.
        await c.write(`POST /?mode=ignore HTTP/1.1\r\nHost: x\r\nContent-Length: ${10 * 1024 * 1024}\r\n\r\n`);
        c.socket.write('y'.repeat(300 * 1024));
        await c.waitFor('the response', (x) => x.text.includes('ignored'));
        const res = parseResponse(c.data);
        assert.equal(res.status, 200);
        assert.equal(res.headers.connection, 'close');
        await c.waitClosed();
      } finally {
        c.destroy();
      }
      await assertAlive(server);
    });
  });
});

describe('contract: --limit-request-body', function () {
  let server: Gwserver;
  beforeEach(async function () {
    server = await serve('input', ['--limit-request-body', '100']);
  });

  it('a declared body over the limit gets 413 without calling the app', async function () {
    const t = token();
    const c = await rawExchange(server.port, post(`/?mode=read&t=${t}`, 'x'.repeat(101), ''));
    const res = parseResponse(c.data, { closed: true });
    assert.equal(res.status, 413);
    assert.equal(res.headers.connection, 'close');
    await barrier(server);
    assert.equal(events(server, 'app-called', t).length, 0, 'the app was not called');
  });

  it('a declared body at the limit is read normally', async function () {
    const r = await answer(server, post('/?mode=read', 'x'.repeat(100)));
    assert.equal(r.length, 100);
  });

  it('a chunked body over the limit makes read reject, and the client gets 413 (nothing was sent)', async function () {
    const t = token();
    const c = await rawExchange(server.port, postChunked(`/?mode=read&t=${t}`, 'z'.repeat(150), [40]));
    const res = parseResponse(c.data, { closed: true });
    assert.equal(res.status, 413);
    const rec = await waitEvent(server, 'read-error', t);
    assert.equal(rec.code, 'GW_BODY_TOO_LARGE');
    await assertAlive(server);
  });

  it('a chunked body within the limit is read normally', async function () {
    const r = await answer(server, postChunked('/?mode=read', 'z'.repeat(100), [40]));
    assert.equal(r.length, 100);
  });
});
