import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import { Hono } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import { Container, type ContainerOptions, type Served } from '../../../src/worker/container.js';
import { createFetchListener, installFastResponse, requestUrl } from '../../../src/worker/fetch-interface.js';
import { FastResponse, isFastResponse } from '../../../src/worker/fast-response.js';
import type { FetchHandler } from '../../../src/interop/kinds.js';
import { listen, request, type Listening } from '../../helpers/http.js';
import { sink, type LogRecord } from '../../helpers/sink.js';
import { until } from '../../helpers/until.js';
import { deferred } from '../interop/helpers.js';

interface Running extends Listening {
  records: LogRecord[];
  ended: Served[];
}

/** Serves `fetch` through the fetch interface on 127.0.0.1, port 0, with a container that records what it observes. */
async function start(fetch: FetchHandler, options: ContainerOptions = {}): Promise<Running> {
  const { logger, records } = sink();
  const ended: Served[] = [];
  const c = new Container({ logger, observer: { requestEnded: (r) => void ended.push(r as Served) }, ...options });
  return { ...(await listen(createFetchListener(fetch, c))), records, ended };
}

function honoApp(): Hono {
  const app = new Hono();
  // Changes the Response after the route made it: the headers written are the changed ones.
  app.use('/after', async (c, next) => {
    await next();
    c.res.headers.set('X-After', 'yes');
  });
  app.get('/after', (c) => c.text('after'));
  app.get('/', (c) => c.text('Hello Hono!'));
  app.get('/json', (c) => c.json({ message: 'hi', n: [1, 2] }));
  app.get('/headers', (c) => {
    c.header('X-Echo', c.req.header('x-in') ?? 'none');
    c.header('Set-Cookie', 'a=1; Path=/', { append: true });
    c.header('Set-Cookie', 'b=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT', { append: true });
    return c.text('cookies', 201);
  });
  app.post('/text', async (c) => c.text(`got ${(await c.req.text()).length}`));
  app.post('/json', async (c) => c.json({ echo: await c.req.json() }));
  app.get('/ip', (c) => c.text(getConnInfo(c).remote.address ?? ''));
  app.get('/url', (c) => c.text(c.req.url));
  return app;
}

describe('the fetch interface', () => {
  let uninstall: (() => void) | undefined;
  before(() => {
    uninstall = installFastResponse();
  });
  after(() => uninstall?.());

  describe('a Hono app', () => {
    let s: Running;
    before(async () => {
      s = await start(honoApp().fetch);
    });
    after(() => s.close());

    it('answers text with its Content-Length and the request id', async () => {
      const r = await request(s.port);
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'Hello Hono!');
      assert.equal(r.headers['content-length'], '11');
      assert.match(r.headers['content-type']!, /^text\/plain/);
      assert.equal(r.headers['transfer-encoding'], undefined);
      assert.match(r.headers['x-request-id'] as string, /^[0-9a-f-]{36}$/);
      const given = await request(s.port, { headers: { 'X-Request-ID': 'abc-123' } });
      assert.equal(given.headers['x-request-id'], 'abc-123');
    });

    it('answers JSON', async () => {
      const r = await request(s.port, { path: '/json' });
      assert.equal(r.headers['content-type'], 'application/json');
      assert.deepEqual(JSON.parse(r.body.toString()), { message: 'hi', n: [1, 2] });
      assert.equal(r.headers['content-length'], String(r.bytes.length));
    });

    it('reads request headers and writes response headers, each Set-Cookie apart', async () => {
      const r = await request(s.port, { path: '/headers', headers: { 'X-In': 'hello' } });
      assert.equal(r.status, 201);
      assert.equal(r.headers['x-echo'], 'hello');
      assert.deepEqual(r.headers['set-cookie'], ['a=1; Path=/', 'b=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT']);
      assert.equal(r.body.toString(), 'cookies');
    });

    it('reads text and JSON bodies, and counts them', async () => {
      const t = await request(s.port, { method: 'POST', path: '/text', body: 'x'.repeat(1000), headers: { 'Content-Type': 'text/plain' } });
      assert.equal(t.body.toString(), 'got 1000');
      const j = await request(s.port, { method: 'POST', path: '/json', body: '{"a":[1,"é"]}', headers: { 'Content-Type': 'application/json' } });
      assert.deepEqual(JSON.parse(j.body.toString()), { echo: { a: [1, 'é'] } });
      await until(() => s.ended.length >= 2, 2000, 'the observer');
      const rec = s.ended.find((e) => e.req.url === '/json' && e.req.method === 'POST')!;
      assert.equal(rec.received, Buffer.byteLength('{"a":[1,"é"]}'));
      assert.equal(rec.sent, j.bytes.length);
    });

    it('writes headers a middleware set on the Response after the route', async () => {
      const r = await request(s.port, { path: '/after' });
      assert.equal(r.headers['x-after'], 'yes');
      assert.equal(r.body.toString(), 'after');
      assert.equal(r.headers['content-length'], '5');
      assert.match(r.headers['content-type']!, /^text\/plain/);
    });

    it('answers HEAD with the GET Content-Length and no body', async () => {
      const r = await request(s.port, { method: 'HEAD' });
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-length'], '11');
      assert.equal(r.body.length, 0);
    });

    it('gives Hono the node request as c.env.incoming (getConnInfo works)', async () => {
      const r = await request(s.port, { path: '/ip' });
      assert.equal(r.body.toString(), '127.0.0.1');
    });

    it('builds the URL from the Host header and the target', async () => {
      const r = await request(s.port, { path: '/url?x=1&y=%20', headers: { Host: 'example.com:8080' } });
      assert.equal(r.body.toString(), 'http://example.com:8080/url?x=1&y=%20');
      // Dot segments are resolved, as the real Request does.
      const dots = await request(s.port, { path: '/a/../url', headers: { Host: 'example.com' } });
      assert.equal(dots.body.toString(), 'http://example.com/url');
      // A Host that would move the path is refused.
      const bad = await request(s.port, { path: '/url', headers: { Host: 'evil.com/x' } });
      assert.equal(bad.status, 400);
    });
  });

  describe('the Request', () => {
    it('is a Request and has what a handler reads, its real Request built only for the rest', async () => {
      let seen: Record<string, unknown> = {};
      const s = await start(async (request) => {
        seen = {
          isRequest: request instanceof Request,
          headersAreHeaders: request.headers instanceof Headers,
          method: request.method,
          url: request.url,
          host: request.headers.get('Host'),
          missing: request.headers.get('x-missing'),
          has: request.headers.has('x-one'),
          entries: [...request.headers].filter(([k]) => k === 'x-one' || k === 'x-two'),
          // The container puts the id it made where a given one would be.
          id: request.headers.get('x-request-id'),
          // Something only undici knows.
          mode: request.mode,
          cloned: new Request(request).url,
        };
        return new Response('ok');
      });
      try {
        const r = await request(s.port, { path: '/p?q=1', headers: { 'X-One': '1', 'X-Two': '2' } });
        assert.deepEqual(seen, {
          id: r.headers['x-request-id'],
          isRequest: true,
          headersAreHeaders: true,
          method: 'GET',
          url: `http://127.0.0.1:${s.port}/p?q=1`,
          host: `127.0.0.1:${s.port}`,
          missing: null,
          has: true,
          entries: [['x-one', '1'], ['x-two', '2']],
          mode: 'cors',
          cloned: `http://127.0.0.1:${s.port}/p?q=1`,
        });
      } finally {
        await s.close();
      }
    });

    it('can be proxied: fetch(request) sends it on, body and headers', async () => {
      const upstream = await listen((req, res) => {
        let b = '';
        req.on('data', (d: Buffer) => (b += d));
        req.on('end', () => res.end(`upstream: ${req.method} ${req.url} ${req.headers['x-in']} ${b}`));
      });
      const up = upstream.port;
      // The client names the upstream in its Host header: request.url points there.
      const s = await start(async (request) => new Response(await (await fetch(request)).text()));
      try {
        const r = await request(s.port, { method: 'POST', path: '/p?q', body: 'payload', headers: { Host: `127.0.0.1:${up}`, 'X-In': 'yes' } });
        assert.equal(r.body.toString(), 'upstream: POST /p?q yes payload');
      } finally {
        await s.close();
        await upstream.close();
      }
    });

    it('has an https URL when a trusted proxy says so (X-Forwarded-Proto), not when another peer does', async () => {
      const handler: FetchHandler = (request) => new Response(request.url);
      const trusted = await start(handler);
      const untrusted = await start(handler, { forwardedAllowIps: '10.0.0.1' });
      try {
        const h = { Host: 'example.com', 'X-Forwarded-Proto': 'https' };
        assert.equal((await request(trusted.port, { path: '/x', headers: h })).body.toString(), 'https://example.com/x');
        assert.equal((await request(untrusted.port, { path: '/x', headers: h })).body.toString(), 'http://example.com/x');
        assert.equal((await request(trusted.port, { path: '/x', headers: { Host: 'example.com', 'X-Forwarded-Ssl': 'on' } })).body.toString(), 'https://example.com/x');
        // Scheme headers that disagree: refused, as for a gateway app.
        const bad = await request(trusted.port, { path: '/x', headers: { ...h, 'X-Forwarded-Ssl': 'off' } });
        assert.equal(bad.status, 400);
      } finally {
        await trusted.close();
        await untrusted.close();
      }
    });

    it('reads a body once: a second read rejects, bodyUsed says so', async () => {
      const out: unknown[] = [];
      const s = await start(async (request) => {
        out.push(request.bodyUsed, await request.text(), request.bodyUsed);
        await request.text().then(() => out.push('read twice'), (err: Error) => out.push(err.name));
        return new Response(null, { status: 204 });
      });
      try {
        const r = await request(s.port, { method: 'PUT', body: 'payload' });
        assert.equal(r.status, 204);
        assert.deepEqual(out, [false, 'payload', true, 'TypeError']);
      } finally {
        await s.close();
      }
    });

    it('has a null body for GET and HEAD', async () => {
      const bodies: unknown[] = [];
      const s = await start(async (request) => {
        bodies.push(request.body, await request.text());
        return new Response('x');
      });
      try {
        await request(s.port);
        assert.deepEqual(bodies, [null, '']);
      } finally {
        await s.close();
      }
    });

    it('streams a 5 MB upload back through new Response(request.body)', async () => {
      const s = await start((request) => new Response(request.body, { headers: { 'content-type': 'application/octet-stream' } }));
      try {
        const chunk = Buffer.alloc(64 * 1024);
        let sent = 0;
        const total = 5 * 1024 * 1024;
        const hash = createHash('sha256');
        const upload = new Readable({
          read() {
            if (sent >= total) return void this.push(null);
            chunk.fill(sent / chunk.length);
            sent += chunk.length;
            hash.update(chunk);
            this.push(Buffer.from(chunk));
          },
        });
        const r = await request(s.port, { method: 'POST', body: upload });
        assert.equal(r.status, 200);
        assert.equal(r.headers['transfer-encoding'], 'chunked');
        assert.equal(r.bytes.length, total);
        assert.equal(createHash('sha256').update(r.bytes).digest('hex'), hash.digest('hex'));
        await until(() => s.ended.length === 1, 2000, 'the observer');
        assert.equal(s.ended[0]!.received, total);
        assert.equal(s.ended[0]!.sent, total);
      } finally {
        await s.close();
      }
    });

    it('reads form data, blobs and clones through the real Request', async () => {
      const s = await start(async (request) => {
        const path = new URL(request.url).pathname;
        if (path === '/form') {
          const form = await request.formData();
          return Response.json({ a: form.get('a'), b: form.getAll('b') });
        }
        if (path === '/clone') {
          const copy = request.clone();
          return Response.json({ one: await request.text(), two: await copy.text() });
        }
        const blob = await request.blob();
        return Response.json({ type: blob.type, size: blob.size });
      });
      try {
        const form = await request(s.port, { method: 'POST', path: '/form', body: 'a=1&b=2&b=3', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
        assert.deepEqual(JSON.parse(form.body.toString()), { a: '1', b: ['2', '3'] });
        const clone = await request(s.port, { method: 'POST', path: '/clone', body: 'twice' });
        assert.deepEqual(JSON.parse(clone.body.toString()), { one: 'twice', two: 'twice' });
        const blob = await request(s.port, { method: 'POST', path: '/blob', body: 'xyz', headers: { 'Content-Type': 'text/x-test' } });
        assert.deepEqual(JSON.parse(blob.body.toString()), { type: 'text/x-test', size: 3 });
      } finally {
        await s.close();
      }
    });

    it('keeps the connection when the handler answers without reading a short body, closes it after a long one', async () => {
      const s = await start(async (request) => {
        // Reads one chunk, then answers.
        const reader = request.body!.getReader();
        await reader.read();
        return new Response('early');
      });
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const send = (size: number) => new Promise<{ status: number; body: string; socket: unknown; connection: string | undefined }>((resolve, reject) => {
          const req = http.request({ host: '127.0.0.1', port: s.port, method: 'POST', path: '/', agent, headers: { 'Content-Length': String(size) } }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode!, body, socket: req.socket, connection: res.headers.connection }));
          });
          req.on('error', reject);
          req.end(Buffer.alloc(size));
        });
        const a = await send(100_000);
        const b = await send(100_000);
        assert.equal(a.body, 'early');
        assert.equal(b.body, 'early');
        assert.equal(a.socket, b.socket, 'the connection carried the second request');
        // Far over the drain limit: not read, the connection closes.
        const big = await new Promise<{ status: number; closed: boolean }>((resolve, reject) => {
          const req = http.request({ host: '127.0.0.1', port: s.port, method: 'POST', path: '/', agent: false, headers: { 'Content-Length': String(64 * 1024 * 1024) } }, (res) => {
            res.resume();
            res.on('end', () => {
              req.socket!.once('close', () => resolve({ status: res.statusCode!, closed: true }));
            });
          });
          req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? undefined : reject(err)));
          req.write(Buffer.alloc(1024 * 1024));
        });
        assert.deepEqual(big, { status: 200, closed: true });
      } finally {
        agent.destroy();
        await s.close();
      }
    });

    it('answers 413 when a chunked body goes over --limit-request-body', async () => {
      const s = await start(async (request) => new Response(`read ${(await request.arrayBuffer()).byteLength}`), { limitRequestBody: 1000 });
      try {
        const r = await request(s.port, { method: 'POST', body: Readable.from([Buffer.alloc(600), Buffer.alloc(600)]) });
        assert.equal(r.status, 413);
        assert.equal(r.headers.connection, 'close');
      } finally {
        await s.close();
      }
    });

    it('aborts its signal when the client goes away before the response', async () => {
      const aborted = deferred<unknown>();
      const called = deferred();
      const s = await start((request) => {
        request.signal.addEventListener('abort', () => aborted.resolve(request.signal.reason));
        called.resolve();
        // Never answers by itself.
        return new Promise<Response>(() => {});
      });
      try {
        const req = http.get({ host: '127.0.0.1', port: s.port, path: '/', agent: false });
        req.on('error', () => {});
        await called.promise;
        req.destroy();
        const reason = await aborted.promise;
        assert.equal((reason as DOMException).name, 'AbortError');
      } finally {
        await s.close();
      }
    });

    it('does not abort its signal when the response is sent', async () => {
      let signal: AbortSignal | undefined;
      const s = await start((request) => {
        signal = request.signal;
        return new Response('done');
      });
      try {
        await request(s.port);
        await new Promise((r) => setTimeout(r, 20));
        assert.equal(signal!.aborted, false);
      } finally {
        await s.close();
      }
    });
  });

  describe('requestUrl', () => {
    it('is the URL the real Request would make of the Host header and the target', () => {
      const c = new Container({ logger: sink().logger });
      const hosts = ['example.com', 'Example.COM:8080', 'example.com:80', 'example.com:443', '127.0.0.1:8080', '127.1', '[::1]:3000', 'a_b.example', 'xn--bcher-kva.example', 'h:0080'];
      const targets = ['/', '/a/b?c=d', "/a'b?c='d", '/a/%2e%2E/b', '/a/./b/../c', '/%7e%41?x=%zz', '/[x]@y:z', '/a"b{c}', '/a\\b?q', '/p?x=/../y'];
      for (const host of hosts) {
        for (const target of targets) {
          const req = { headers: { host }, url: target, socket: { remoteAddress: '10.0.0.9', localAddress: '127.0.0.1', localPort: 80 } } as unknown as http.IncomingMessage;
          const url = requestUrl(req, c);
          assert.equal(url, new Request(`http://${host}${target}`).url, `${host} ${target}`);
        }
      }
    });

    it('refuses a Host header that would move the path, and takes the socket address without one', () => {
      const c = new Container({ logger: sink().logger });
      const mk = (host: string | undefined, url = '/p') => ({ headers: host === undefined ? {} : { host }, url, socket: { remoteAddress: '10.0.0.9', localAddress: '::1', localPort: 8000 } }) as unknown as http.IncomingMessage;
      for (const bad of ['evil.com/x', 'a?b', 'a#b', 'user@host', 'a b']) assert.ok(requestUrl(mk(bad), c) instanceof Error, bad);
      assert.equal(requestUrl(mk(undefined), c), 'http://[::1]:8000/p');
      assert.equal(requestUrl(mk('h', 'http://other.example:81/x?y'), c), 'http://other.example:81/x?y');
      assert.ok(requestUrl(mk('h', 'ftp://x/'), c) instanceof Error);
    });
  });

  describe('the Response', () => {
    it('is a Response, lightweight or real, and both are written', async () => {
      const checks: boolean[] = [];
      const s = await start((request) => {
        const fast = new Response('fast');
        const real = new (Object.getPrototypeOf(FastResponse) as typeof Response)('real');
        const json = Response.json({ a: 1 });
        checks.push(fast instanceof Response, real instanceof Response, json instanceof Response, isFastResponse(fast), !isFastResponse(real));
        return new URL(request.url).pathname === '/real' ? real : fast;
      });
      try {
        assert.equal((await request(s.port)).body.toString(), 'fast');
        const r = await request(s.port, { path: '/real' });
        assert.equal(r.body.toString(), 'real');
        assert.equal(r.headers['content-length'], '4');
        assert.deepEqual(checks, [true, true, true, true, true, true, true, true, true, true]);
      } finally {
        await s.close();
      }
    });

    it('keeps what a real Response would refuse refused', () => {
      assert.throws(() => new Response('x', { status: 204 }), TypeError);
      assert.throws(() => new Response('x', { status: 99 }), RangeError);
      assert.throws(() => new Response('x', { statusText: 'a\nb' }), TypeError);
    });

    it('reads like a real Response when the app reads it', async () => {
      const r = new Response('{"a":1}', { status: 201, headers: { 'X-A': '1' } });
      assert.equal(r.status, 201);
      assert.equal(r.ok, true);
      assert.equal(r.headers.get('x-a'), '1');
      assert.equal(r.headers.get('content-type'), 'text/plain;charset=UTF-8');
      assert.deepEqual(await r.clone().json(), { a: 1 });
      assert.equal(await r.text(), '{"a":1}');
      assert.equal(r.bodyUsed, true);
    });

    it('writes its reason phrase, a Blob body, and a stream with its own Content-Length', async () => {
      const s = await start((request) => {
        const path = new URL(request.url).pathname;
        if (path === '/reason') return new Response('teapot', { status: 418, statusText: 'Short And Stout' });
        if (path === '/blob') return new Response(new Blob(['blob body'], { type: 'text/x-blob' }));
        return new Response(new Blob(['12345']).stream(), { headers: { 'Content-Length': '5' } });
      });
      try {
        const reason = await new Promise<string>((resolve, reject) => {
          http.get({ host: '127.0.0.1', port: s.port, path: '/reason', agent: false }, (res) => {
            res.resume();
            resolve(res.statusMessage!);
          }).on('error', reject);
        });
        assert.equal(reason, 'Short And Stout');
        const blob = await request(s.port, { path: '/blob' });
        assert.equal(blob.body.toString(), 'blob body');
        assert.equal(blob.headers['content-type'], 'text/x-blob');
        const st = await request(s.port, { path: '/stream' });
        assert.equal(st.body.toString(), '12345');
        assert.equal(st.headers['content-length'], '5');
        assert.equal(st.headers['transfer-encoding'], undefined);
      } finally {
        await s.close();
      }
    });

    it('answers 204 with no body and no Content-Length', async () => {
      const s = await start(() => new Response(null, { status: 204, headers: { 'X-A': 'b' } }));
      try {
        const r = await request(s.port);
        assert.equal(r.status, 204);
        assert.equal(r.headers['content-length'], undefined);
        assert.equal(r.headers['x-a'], 'b');
        assert.equal(r.body.length, 0);
      } finally {
        await s.close();
      }
    });

    it('writes bytes, ArrayBuffers, a null body, and a real Response.json() with their Content-Length', async () => {
      const native = Object.getPrototypeOf(FastResponse) as typeof Response;
      const bodies: Record<string, () => Response> = {
        '/bytes': () => new Response(new Uint8Array([1, 2, 3])),
        '/ab': () => new Response(new Uint8Array([4, 5]).buffer),
        '/null': () => new Response(null, { status: 200 }),
        '/real-json': () => native.json({ real: true }),
        '/real-bytes': () => new native(Buffer.from('abcd')),
      };
      const s = await start((request) => bodies[new URL(request.url).pathname]!());
      try {
        const expect: Record<string, [string, string]> = {
          '/bytes': ['3', '010203'],
          '/ab': ['2', '0405'],
          '/null': ['0', ''],
          '/real-json': ['13', Buffer.from('{"real":true}').toString('hex')],
          '/real-bytes': ['4', Buffer.from('abcd').toString('hex')],
        };
        for (const [path, [length, hex]] of Object.entries(expect)) {
          const r = await request(s.port, { path });
          assert.equal(r.headers['content-length'], length, path);
          assert.equal(r.bytes.toString('hex'), hex, path);
        }
      } finally {
        await s.close();
      }
    });

    it('streams a body slowly read with backpressure: the producer stays a few MB ahead of a slow client, and is cancelled when it leaves', async () => {
      const chunk = new Uint8Array(64 * 1024);
      const total = 200 * 1024 * 1024;
      let produced = 0;
      let cancelled = false;
      const s = await start(() => new Response(new ReadableStream<Uint8Array>({
        pull(ctl) {
          if (produced >= total) return ctl.close();
          produced += chunk.length;
          ctl.enqueue(chunk.slice());
        },
        cancel() {
          cancelled = true;
        },
      }, { highWaterMark: 0 })));
      try {
        let received = 0;
        const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
          const req = http.get({ host: '127.0.0.1', port: s.port, path: '/', agent: false }, resolve);
          req.on('error', reject);
        });
        res.on('error', () => {});
        res.pause();
        // The client reads nothing: the producer stops once the buffers on the way are full.
        const settle = async () => {
          let last = -1;
          while (last !== produced) {
            last = produced;
            await new Promise((r) => setTimeout(r, 100));
          }
        };
        await settle();
        const ahead = produced;
        assert.ok(ahead < 16 * 1024 * 1024, `the producer ran ${ahead} bytes ahead of a client that read nothing`);
        // Read 20 MB, slowly, and check the lead stays bounded.
        res.on('data', (d: Buffer) => {
          received += d.length;
          if (received >= 20 * 1024 * 1024) res.pause();
        });
        res.resume();
        await until(() => received >= 20 * 1024 * 1024, 10_000, '20 MB');
        await settle();
        assert.ok(produced - received < 16 * 1024 * 1024, `the producer ran ${produced - received} bytes ahead`);
        assert.ok(produced < total / 2);
        res.destroy();
        await until(() => cancelled, 2000, 'the cancel');
      } finally {
        await s.close();
      }
    });

    it('sends the head of a stream that starts slowly at once (server-sent events)', async () => {
      const first = deferred();
      const s = await start(() => new Response(new ReadableStream<Uint8Array>({
        async pull(ctl) {
          await first.promise;
          ctl.enqueue(new TextEncoder().encode('data: hi\n\n'));
          ctl.close();
        },
      }), { headers: { 'content-type': 'text/event-stream' } }));
      try {
        const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
          http.get({ host: '127.0.0.1', port: s.port, path: '/', agent: false }, resolve).on('error', reject);
        });
        // The head came before the stream produced anything.
        assert.equal(res.headers['content-type'], 'text/event-stream');
        first.resolve();
        let body = '';
        for await (const chunk of res) body += chunk;
        assert.equal(body, 'data: hi\n\n');
      } finally {
        await s.close();
      }
    });

    it('does not write when the handler answered through env.outgoing itself', async () => {
      const s = await start((_request, env) => {
        env!.outgoing.writeHead(202, { 'Content-Type': 'text/plain' });
        env!.outgoing.end('by hand');
        return undefined as unknown as Response;
      });
      try {
        const r = await request(s.port);
        assert.equal(r.status, 202);
        assert.equal(r.body.toString(), 'by hand');
        assert.deepEqual(s.records.filter((x) => x.level === 'error' || x.level === 'fatal'), []);
      } finally {
        await s.close();
      }
    });
  });

  describe('errors', () => {
    it('answers 500 with a hint when the handler returns something else than a Response (a gateway app)', async () => {
      const s = await start((() => ['Hello world']) as unknown as FetchHandler);
      try {
        const r = await request(s.port);
        assert.equal(r.status, 500);
        const err = s.records.find((x) => x.level === 'error')!;
        assert.match(err.msg, /--interface gateway/);
        assert.match(err.msg, /--interface node/);
        assert.match(err.err.message, /returned an array/);
      } finally {
        await s.close();
      }
    });

    it('answers 500 when the handler throws or rejects, and logs it with the request id', async () => {
      const s = await start((request) => {
        if (request.url.endsWith('/throw')) throw new Error('boom');
        return Promise.reject(new Error('later boom'));
      });
      try {
        const a = await request(s.port, { path: '/throw' });
        const b = await request(s.port, { path: '/reject' });
        assert.equal(a.status, 500);
        assert.equal(b.status, 500);
        const errors = s.records.filter((x) => x.level === 'error');
        assert.deepEqual(errors.map((e) => e.err.message), ['boom', 'later boom']);
        assert.equal(errors[0]!.request_id, a.headers['x-request-id']);
      } finally {
        await s.close();
      }
    });

    it('answers 500 when a header is invalid, and cuts a stream that fails halfway', async () => {
      const s = await start((request) => {
        if (request.url.endsWith('/header')) return new Response('x', { headers: [['x-bad', 'a\u0001b']] });
        let n = 0;
        return new Response(new ReadableStream({
          pull(ctl) {
            if (n++ === 0) ctl.enqueue(new TextEncoder().encode('first'));
            else ctl.error(new Error('stream broke'));
          },
        }));
      });
      try {
        const a = await request(s.port, { path: '/header' });
        assert.equal(a.status, 500);
        await assert.rejects(request(s.port, { path: '/stream' }));
      } finally {
        await s.close();
      }
    });
  });

  describe('without the fast Response (a bare { fetch } with real Responses)', () => {
    let restore: (() => void) | undefined;
    before(() => {
      uninstall?.();
      uninstall = undefined;
      restore = () => {
        uninstall = installFastResponse();
      };
    });
    after(() => restore?.());

    it('serves text, a stream and cookies from real Responses', async () => {
      const app = {
        fetch(request: Request): Response {
          assert.ok(!isFastResponse(new Response('')));
          const path = new URL(request.url).pathname;
          if (path === '/stream') {
            return new Response(Readable.toWeb(Readable.from(['a', 'b', 'c'].map((x) => Buffer.from(x)))) as unknown as ReadableStream);
          }
          const h = new Headers({ 'content-type': 'text/plain' });
          h.append('set-cookie', 'x=1');
          h.append('set-cookie', 'y=2');
          return new Response(`hello ${request.method}`, { headers: h });
        },
      };
      const s = await start(app.fetch);
      try {
        const r = await request(s.port);
        assert.equal(r.body.toString(), 'hello GET');
        assert.equal(r.headers['content-length'], '9');
        assert.deepEqual(r.headers['set-cookie'], ['x=1', 'y=2']);
        const st = await request(s.port, { path: '/stream' });
        assert.equal(st.body.toString(), 'abc');
        assert.equal(st.headers['transfer-encoding'], 'chunked');
      } finally {
        await s.close();
      }
    });
  });

  describe('the container', () => {
    it('runs preRequest before the handler', async () => {
      const order: string[] = [];
      const s = await start(() => {
        order.push('handler');
        return new Response('ok');
      }, {
        preRequest: async () => {
          await new Promise((r) => setTimeout(r, 5));
          order.push('pre');
        },
      });
      try {
        await request(s.port);
        assert.deepEqual(order, ['pre', 'handler']);
      } finally {
        await s.close();
      }
    });
  });
});
