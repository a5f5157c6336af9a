import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { RequestInput } from '../../../src/gateway/input.js';
import type { Application, Environ } from '../../../src/gateway/types.js';
import { fromFetch, toFetch } from '../../../src/interop/fetch.js';
import { leaveAfterFirstChunk } from '../../helpers/http.js';
import { mustCall } from '../../helpers/must-call.js';
import { until } from '../../helpers/until.js';
import { deferred, drive, environFor, headerMap, serveApp, type Served } from './helpers.js';

/** A web stream whose pulls and cancel are counted; pulls only when read (highWaterMark 0). */
function source(chunks: string[]) {
  const stats = { pulls: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (stats.pulls === chunks.length) return controller.close();
      controller.enqueue(new TextEncoder().encode(chunks[stats.pulls++]!));
    },
    cancel() {
      stats.cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { stream, stats };
}

describe('fromFetch', () => {
  describe('the Request', () => {
    it('is built from the environ: URL, method, headers, signal', async () => {
      let req: Request | undefined;
      const app = fromFetch((r) => {
        req = r;
        return new Response('ok');
      });
      const env = environFor({
        REQUEST_METHOD: 'DELETE',
        SCRIPT_NAME: '/app',
        PATH_INFO: '/a b/é',
        QUERY_STRING: 'x=1',
        RAW_URI: 'http://proxy.example/ignored', // not origin-form: rebuilt from the environ
        HTTP_HOST: 'example.com:8080',
        HTTP_X_FOO_BAR: 'baz',
        HTTP_COOKIE: 'a=1; b=2',
        'wsgi.url_scheme': 'https',
      });
      const d = await drive(app, env);
      await d.finish();
      assert.ok(req);
      assert.equal(req.method, 'DELETE');
      assert.equal(req.url, 'https://example.com:8080/app/a%20b/%C3%A9?x=1');
      assert.equal(req.headers.get('x-foo-bar'), 'baz');
      assert.equal(req.headers.get('cookie'), 'a=1; b=2');
      assert.equal(req.headers.get('host'), 'example.com:8080');
      assert.equal(req.signal.aborted, false);
      assert.equal(req.body, null);
    });

    it('keeps the client\'s own encoding from RAW_URI while it matches the environ', async () => {
      const urls: string[] = [];
      const app = fromFetch((r) => {
        urls.push(r.url);
        return new Response(null, { status: 204 });
      });
      await (await drive(app, environFor({ PATH_INFO: '/a/b', RAW_URI: '/a%2Fb?q=%20', QUERY_STRING: 'q=%20' }))).finish();
      // A middleware rewrote PATH_INFO: the environ wins.
      await (await drive(app, environFor({ PATH_INFO: '/rewritten', RAW_URI: '/a%2Fb' }))).finish();
      // No Host header: SERVER_NAME and SERVER_PORT.
      await (await drive(app, environFor({ HTTP_HOST: undefined, SERVER_NAME: '::1', SERVER_PORT: '8000', PATH_INFO: '/' }))).finish();
      assert.deepEqual(urls, ['http://127.0.0.1/a%2Fb?q=%20', 'http://127.0.0.1/rewritten', 'http://[::1]:8000/']);
    });

    it('passes gwserver.signal, so a client that goes away aborts the Request', async () => {
      const ac = new AbortController();
      let req: Request | undefined;
      const app = fromFetch((r) => {
        req = r;
        return new Response('x');
      });
      await drive(app, environFor({ 'gwserver.signal': ac.signal }));
      ac.abort();
      assert.equal(req!.signal.aborted, true);
    });

    it('streams the body from wsgi.input, and only when the handler reads it', async () => {
      let firstRead = 0;
      const chunks = ['one,', 'two,', 'three'];
      const input = new RequestInput(Readable.from(chunks.map((c) => Buffer.from(c))), { onFirstRead: () => void firstRead++ });
      const env = environFor({ REQUEST_METHOD: 'POST', HTTP_TRANSFER_ENCODING: 'chunked', CONTENT_TYPE: 'text/plain', 'wsgi.input': input });
      const gate = deferred();
      const app = fromFetch(async (r) => {
        await gate.promise;
        assert.equal(r.headers.get('content-type'), 'text/plain');
        return new Response(`got ${await r.text()}`);
      });
      const pending = drive(app, env);
      // The Request exists, but nobody read its body yet: wsgi.input untouched (no 100 Continue).
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      assert.equal(firstRead, 0);
      gate.resolve();
      const d = await pending;
      assert.equal((await d.finish()).toString(), 'got one,two,three');
      assert.equal(firstRead, 1);
    });

    it('answers 501 for a method fetch cannot carry', async () => {
      const app = fromFetch(mustCall(() => new Response('x'), 0));
      const d = await drive(app, environFor({ REQUEST_METHOD: 'TRACE' }));
      assert.equal(d.started!.status, '501 Not Implemented');
      await d.finish();
    });
  });

  describe('the Response', () => {
    it('gives status, reason and headers to startResponse: Set-Cookie kept apart, hop-by-hop dropped but Connection: close', async () => {
      const app = fromFetch(() => {
        const headers = new Headers({ 'Content-Type': 'text/plain', Connection: 'close', 'Transfer-Encoding': 'chunked', 'Keep-Alive': 'timeout=5' });
        headers.append('Set-Cookie', 'a=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT');
        headers.append('Set-Cookie', 'b=2');
        return new Response('hi', { status: 201, headers });
      });
      const d = await drive(app, environFor());
      assert.equal(d.started!.status, '201 Created');
      const h = headerMap(d.started!.headers);
      assert.deepEqual(h.get('set-cookie'), ['a=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT', 'b=2']);
      assert.deepEqual(h.get('content-type'), ['text/plain']);
      assert.equal(h.has('transfer-encoding') || h.has('keep-alive'), false);
      // The one hop-by-hop header an app may give: the server closes the connection after the response.
      assert.deepEqual(h.get('connection'), ['close']);
      assert.equal((await d.finish()).toString(), 'hi');
    });

    it('keeps a custom statusText', async () => {
      const d = await drive(fromFetch(() => new Response(null, { status: 418, statusText: 'Short And Stout' })), environFor());
      assert.equal(d.started!.status, '418 Short And Stout');
      assert.ok(Array.isArray(d.body), 'a null body is an empty array');
      assert.equal((await d.finish()).length, 0);
    });

    it('pulls the body one chunk per pull (backpressure)', async () => {
      const { stream, stats } = source(['a', 'b', 'c']);
      const d = await drive(fromFetch(() => new Response(stream)), environFor());
      assert.equal(stats.pulls, 0);
      assert.equal((await d.pull())!.toString(), 'a');
      assert.equal(stats.pulls, 1);
      assert.equal((await d.pull())!.toString(), 'b');
      assert.equal(stats.pulls, 2);
      assert.equal((await d.finish()).toString(), 'c');
    });

    it('cancels the Response body when the server stops (client gone)', async () => {
      const { stream, stats } = source(['a', 'b', 'c']);
      const d = await drive(fromFetch(() => new Response(stream)), environFor());
      await d.pull();
      await d.stop();
      assert.equal(stats.cancelled, true);
      assert.equal(stats.pulls, 1);
    });

    it('a HEAD response without body is an empty, non-array body (no Content-Length: 0)', async () => {
      const d = await drive(fromFetch(() => new Response(null, { headers: { 'content-length': '42' } })), environFor({ REQUEST_METHOD: 'HEAD' }));
      assert.equal(Array.isArray(d.body), false);
      assert.deepEqual(headerMap(d.started!.headers).get('content-length'), ['42']);
      assert.equal((await d.finish()).length, 0);
    });

    it('a handler that throws or returns no Response fails the app', async () => {
      await assert.rejects(drive(fromFetch(() => {
        throw new Error('nope');
      }), environFor()), /nope/);
      await assert.rejects(drive(fromFetch(() => 'text' as unknown as Response), environFor()), /must return a Response/);
      await assert.rejects(drive(fromFetch(() => Response.error()), environFor()), /network error/);
    });
  });

  describe('round trip: fromFetch(toFetch(app))', () => {
    const echo: Application = async (environ, startResponse) => {
      const body = await environ['wsgi.input'].read();
      startResponse('202 Accepted', [
        ['Content-Type', 'application/json'],
        ['Set-Cookie', 'a=1'],
        ['Set-Cookie', 'b=2'],
      ]);
      return [JSON.stringify({
        method: environ.REQUEST_METHOD,
        path: environ.PATH_INFO,
        query: environ.QUERY_STRING,
        x: environ.HTTP_X_TEST,
        type: environ.CONTENT_TYPE ?? null,
        body: body.toString(),
      })];
    };

    it('behaves like the app itself', async () => {
      const env = () => environFor({ REQUEST_METHOD: 'PUT', PATH_INFO: '/p/ä', QUERY_STRING: 'k=v', HTTP_X_TEST: 't', CONTENT_TYPE: 'text/plain' }, 'payload');
      const direct = await drive(echo, env());
      const directBody = await direct.finish();
      const wrapped = await drive(fromFetch(toFetch(echo)), env());
      const wrappedBody = await wrapped.finish();
      assert.equal(wrapped.started!.status, direct.started!.status);
      assert.deepEqual(headerMap(wrapped.started!.headers).get('set-cookie'), ['a=1', 'b=2']);
      assert.deepEqual(headerMap(wrapped.started!.headers).get('content-type'), ['application/json']);
      assert.deepEqual(JSON.parse(wrappedBody.toString()), JSON.parse(directBody.toString()));
    });

    it('streams lazily through both adapters', async () => {
      let pulls = 0;
      const gen = function* (_e: Environ, sr: any) {
        sr('200 OK', []);
        for (let i = 0; i < 5; i++) {
          pulls++;
          yield `${i}`;
        }
      } as unknown as Application;
      const d = await drive(fromFetch(toFetch(gen)), environFor());
      assert.equal(pulls, 1);
      assert.equal((await d.pull())!.toString(), '0');
      assert.equal((await d.pull())!.toString(), '1');
      assert.equal(pulls, 2);
      await d.stop();
    });
  });

  describe('through the gateway server', () => {
    // serveApp's servers close when the test ends (test/helpers/http.ts listen()).
    let served: Served | undefined;

    it('serves a fetch handler: status, cookies, streamed upload and download', async () => {
      served = await serveApp(fromFetch(async (req) => {
        const url = new URL(req.url);
        if (req.method === 'POST') {
          let n = 0;
          for await (const chunk of req.body!) n += (chunk as Uint8Array).length;
          return Response.json({ received: n, path: url.pathname, q: url.searchParams.get('q') });
        }
        const headers = new Headers({ 'content-type': 'text/plain' });
        headers.append('set-cookie', 'a=1');
        headers.append('set-cookie', 'b=2');
        return new Response(new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode('hello '));
            c.enqueue(new TextEncoder().encode('world'));
            c.close();
          },
        }), { status: 200, headers });
      }));
      const get = await fetch(`${served.url}/x`);
      assert.equal(get.status, 200);
      assert.deepEqual(get.headers.getSetCookie(), ['a=1', 'b=2']);
      assert.equal(await get.text(), 'hello world');

      const big = Buffer.alloc(3 * 1024 * 1024, 1);
      const post = await fetch(`${served.url}/up%20load?q=%C3%A9`, { method: 'POST', body: big });
      assert.deepEqual(await post.json(), { received: big.length, path: '/up%20load', q: 'é' });
    });

    it('round-trips a gateway app through fromFetch(toFetch(app)) on a real socket', async () => {
      served = await serveApp(fromFetch(toFetch(async (environ, startResponse) => {
        const body = await environ['wsgi.input'].read();
        startResponse('200 OK', [['Content-Type', 'text/plain']]);
        return [`${environ.REQUEST_METHOD} ${environ.PATH_INFO} ${body.length}`];
      })));
      const r = await fetch(`${served.url}/caf%C3%A9`, { method: 'POST', body: 'abc' });
      assert.equal(await r.text(), 'POST /café 3');
      assert.equal(r.headers.get('content-length'), '13'); // 'é' is two bytes
    });

    it('cancels the fetch stream and aborts the Request when the client disconnects', async () => {
      const cancelled = deferred();
      let request: Request | undefined;
      let pulls = 0;
      served = await serveApp(fromFetch((req) => {
        request = req;
        return new Response(new ReadableStream({
          pull(c) {
            pulls++;
            c.enqueue(new Uint8Array(64 * 1024));
          },
          cancel() {
            cancelled.resolve();
          },
        }, { highWaterMark: 0 }));
      }));
      await leaveAfterFirstChunk(served.port, '/stream');
      await cancelled.promise;
      await until(() => request!.signal.aborted, 5000, 'the Request signal to abort');
      const at = pulls;
      for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
      assert.equal(pulls, at, 'nothing pulls the stream after the client went away');
    });
  });
});
