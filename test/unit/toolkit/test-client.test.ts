/**
 * testClient(): real apps called in-process, through the gateway core the
 * server uses (toFetch's exchange) and the validator: bodies of every kind
 * both ways, headers, the cookie jar across calls, streaming responses read
 * as they come and cancelled, and contract violations caught.
 */
import assert from 'node:assert/strict';
import { LintError } from '../../../src/gateway/lint.js';
import type { Application, Environ } from '../../../src/gateway/types.js';
import { CookieJar } from '../../../src/toolkit/cookie-jar.js';
import { testClient } from '../../../src/toolkit/test-client.js';
import { mustCall } from '../../helpers/must-call.js';

/** Answers with the request as the app saw it: method, path, query, headers of interest, and the body read whole. */
const mirror: Application = async (environ, startResponse) => {
  const body = await environ['wsgi.input'].read();
  startResponse('200 OK', [['Content-Type', 'application/json']]);
  return [JSON.stringify({
    method: environ.REQUEST_METHOD,
    path: environ.PATH_INFO,
    query: environ.QUERY_STRING,
    contentType: environ.CONTENT_TYPE ?? null,
    contentLength: environ.CONTENT_LENGTH ?? null,
    chunked: environ.HTTP_TRANSFER_ENCODING ?? null,
    cookie: environ.HTTP_COOKIE ?? null,
    custom: environ.HTTP_X_CUSTOM ?? null,
    host: environ.HTTP_HOST,
    scheme: environ['wsgi.url_scheme'],
    remote: environ.REMOTE_ADDR,
    body: body.toString('utf8'),
  })];
};

interface Mirrored {
  method: string;
  path: string;
  query: string;
  contentType: string | null;
  contentLength: string | null;
  chunked: string | null;
  cookie: string | null;
  custom: string | null;
  host: string;
  scheme: string;
  remote: string;
  body: string;
}

describe('testClient', () => {
  describe('requests', () => {
    const client = testClient(mirror);

    it('GET: status, headers and body, with the environ the server would build', async () => {
      const res = await client.get('/hello?x=1', { query: { y: [2, 3], z: true }, headers: { 'X-Custom': 'yes' } });
      assert.equal(res.status, 200);
      assert.equal(res.statusText, 'OK');
      assert.equal(res.headers.get('content-type'), 'application/json');
      assert.equal(res.complete, true);
      const seen = res.json<Mirrored>();
      assert.deepEqual(
        [seen.method, seen.path, seen.query, seen.custom, seen.host, seen.scheme, seen.remote, seen.body, seen.contentLength],
        ['GET', '/hello', 'x=1&y=2&y=3&z=true', 'yes', 'localhost', 'http', '127.0.0.1', '', null],
      );
      // Content-Length from the array body, added by the shared exchange.
      assert.equal(res.headers.get('content-length'), String(res.body.length));
    });

    it('POST a string, bytes, JSON, a form, FormData: each with its type and exact length', async () => {
      let seen = (await client.post('/', { body: 'héllo' })).json<Mirrored>();
      assert.deepEqual([seen.body, seen.contentType, seen.contentLength, seen.chunked], ['héllo', 'text/plain; charset=utf-8', '6', null]);
      seen = (await client.post('/', { body: Buffer.from([1, 2, 3]), headers: { 'Content-Type': 'application/octet-stream' } })).json<Mirrored>();
      assert.deepEqual([seen.body, seen.contentType, seen.contentLength], ['\u0001\u0002\u0003', 'application/octet-stream', '3']);
      seen = (await client.put('/', { body: { name: 'Ada', tags: ['x'] } })).json<Mirrored>();
      assert.deepEqual([seen.method, JSON.parse(seen.body), seen.contentType], ['PUT', { name: 'Ada', tags: ['x'] }, 'application/json']);
      seen = (await client.patch('/', { body: [1, 2] })).json<Mirrored>();
      assert.deepEqual(JSON.parse(seen.body), [1, 2]);
      seen = (await client.post('/', { form: { name: 'Zoë ✓', n: [1, 2] } })).json<Mirrored>();
      assert.equal(seen.contentType, 'application/x-www-form-urlencoded;charset=UTF-8');
      assert.deepEqual([...new URLSearchParams(seen.body)], [['name', 'Zoë ✓'], ['n', '1'], ['n', '2']]);
      const fd = new FormData();
      fd.append('field', 'value');
      fd.append('file', new Blob(['abc'], { type: 'text/plain' }), 'a.txt');
      seen = (await client.post('/', { body: fd })).json<Mirrored>();
      assert.match(seen.contentType!, /^multipart\/form-data; boundary=/);
      assert.equal(Number(seen.contentLength), Buffer.byteLength(seen.body));
      assert.match(seen.body, /filename="a.txt"/);
    });

    it('a stream or async iterable body arrives chunked, read as the app reads it', async () => {
      let pulled = 0;
      async function* parts() {
        for (const p of ['a', 'b', 'c']) {
          pulled++;
          yield p;
        }
      }
      const seen = (await client.post('/', { body: parts() })).json<Mirrored>();
      assert.deepEqual([seen.body, seen.chunked, seen.contentLength], ['abc', 'chunked', null]);
      assert.equal(pulled, 3);
    });

    it('refuses body and form together, and a body on GET (a fetch rule)', async () => {
      await assert.rejects(client.post('/', { body: 'x', form: { a: '1' } }), /either body or form/);
      await assert.rejects(client.request('GET', '/', { body: 'x' }), TypeError);
    });

    it('baseUrl sets the scheme, host and port; remoteAddr and environ are the client\'s', async () => {
      const seen = { app: '' as unknown };
      const other = testClient(async (environ: Environ, startResponse) => {
        seen.app = environ['app.user'];
        return mirror(environ, startResponse);
      }, { baseUrl: 'https://example.com:8443', remoteAddr: '10.0.0.1', environ: { 'app.user': 'ada' }, headers: { 'X-Custom': 'client' } });
      const res = (await other.get('/')).json<Mirrored>();
      assert.deepEqual([res.scheme, res.host, res.remote, res.custom], ['https', 'example.com:8443', '10.0.0.1', 'client']);
      assert.equal(seen.app, 'ada');
      const overridden = (await other.get('/', { headers: { 'X-Custom': 'request' }, environ: { 'app.user': 'bob' } })).json<Mirrored>();
      assert.equal(overridden.custom, 'request');
      assert.equal(seen.app, 'bob');
    });

    it('HEAD: the headers of GET and no body', async () => {
      const res = await testClient((_environ, startResponse) => {
        startResponse('200 OK', [['Content-Type', 'text/plain']]);
        return ['twelve bytes'];
      }).head('/');
      assert.equal(res.status, 200);
      assert.equal(res.body.length, 0);
      assert.equal(res.headers.get('content-type'), 'text/plain');
    });

    it('json() says what the body was when it is not JSON', async () => {
      const res = await testClient((_environ, startResponse) => {
        startResponse('200 OK', [['Content-Type', 'text/html']]);
        return ['<p>hi</p>'];
      }).get('/');
      assert.throws(() => res.json(), /not JSON \(status 200, Content-Type text\/html\): "<p>hi<\/p>"/);
    });

    it('collects what the app writes to wsgi.errors', async () => {
      const res = await testClient((environ, startResponse) => {
        environ['wsgi.errors'].write('deprecated parameter\n');
        startResponse('200 OK', []);
        return [];
      }).get('/');
      assert.equal(res.errorOutput, 'deprecated parameter\n');
    });
  });

  describe('cookies', () => {
    /** Sets what ?set= says, and echoes the Cookie header it got. */
    const cookieApp: Application = (environ, startResponse) => {
      const set = new URLSearchParams(environ.QUERY_STRING).getAll('set');
      startResponse('200 OK', [['Content-Type', 'text/plain'], ...set.map((c): [string, string] => ['Set-Cookie', c])]);
      return [String(environ.HTTP_COOKIE ?? '')];
    };

    it('keeps cookies across calls and sends them back', async () => {
      const client = testClient(cookieApp);
      await client.get('/', { query: { set: ['sid=abc; Path=/; HttpOnly', 'theme=dark'] } });
      assert.equal((await client.get('/')).text, 'sid=abc; theme=dark');
      assert.equal(client.cookies?.get('sid'), 'abc');
      // Replaced by name, domain and path; removed by Max-Age=0.
      await client.get('/', { query: { set: ['sid=def; Path=/', 'theme=; Max-Age=0'] } });
      assert.equal((await client.get('/')).text, 'sid=def');
      // Request cookies go beside the jar's.
      assert.equal((await client.get('/', { cookies: { extra: '1' } })).text, 'sid=def; extra=1');
    });

    it('honours Path: a cookie goes only to its path and below', async () => {
      const client = testClient(cookieApp);
      await client.get('/', { query: { set: 'admin=1; Path=/admin' } });
      await client.get('/shop/cart', { query: { set: 'cart=7' } }); // default path: /shop
      assert.equal((await client.get('/')).text, '');
      assert.equal((await client.get('/admin')).text, 'admin=1');
      assert.equal((await client.get('/admin/users')).text, 'admin=1');
      assert.equal((await client.get('/administrator')).text, '');
      assert.equal((await client.get('/shop/list')).text, 'cart=7');
    });

    it('honours Expires and Max-Age against the jar\'s clock', async () => {
      let now = Date.parse('2030-01-01T00:00:00Z');
      const jar = new CookieJar({ now: () => now });
      const client = testClient(cookieApp, { cookies: jar });
      await client.get('/', { query: { set: ['short=1; Max-Age=60', 'dated=2; Expires=Tue, 01 Jan 2030 01:00:00 GMT', 'old=3; Expires=Thu, 01 Jan 1970 00:00:00 GMT', 'both=4; Max-Age=10; Expires=Tue, 01 Jan 2030 05:00:00 GMT'] } });
      assert.equal((await client.get('/')).text, 'short=1; dated=2; both=4');
      now += 30_000;
      assert.equal((await client.get('/')).text, 'short=1; dated=2', 'Max-Age wins over Expires');
      now += 60_000;
      assert.equal((await client.get('/')).text, 'dated=2');
      now += 3_600_000;
      assert.equal((await client.get('/')).text, '');
    });

    it('can be turned off', async () => {
      const client = testClient(cookieApp, { cookies: false });
      await client.get('/', { query: { set: 'a=1' } });
      assert.equal((await client.get('/')).text, '');
      assert.equal(client.cookies, undefined);
    });
  });

  describe('streaming responses', () => {
    it('reads the body as it comes: a chunk is pulled from the app only when the reader asks', async () => {
      let pulled = 0;
      const closed = mustCall();
      const client = testClient((_environ, startResponse) => {
        startResponse('200 OK', [['Content-Type', 'text/event-stream']]);
        const gen = (async function* () {
          for (let i = 1; i <= 3; i++) {
            pulled = i;
            yield `data: ${i}\n\n`;
          }
        })();
        return Object.assign(gen, { close: closed });
      });
      const res = await client.stream('GET', '/events');
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/event-stream');
      const seen: string[] = [];
      for await (const chunk of res) {
        seen.push(chunk.toString());
        assert.equal(pulled, seen.length, 'the app is never pulled ahead of the reader');
      }
      assert.deepEqual(seen, ['data: 1\n\n', 'data: 2\n\n', 'data: 3\n\n']);
      assert.throws(() => res[Symbol.asyncIterator](), /read already/);
    });

    it('cancel() is a client going away: gwserver.signal aborts, the iteration stops, close() runs', async () => {
      let signal: AbortSignal | undefined;
      let stopped = false;
      const closed = mustCall();
      const client = testClient((environ, startResponse) => {
        signal = environ['gwserver.signal'];
        startResponse('200 OK', []);
        const gen = (function* () {
          try {
            for (let i = 0; ; i++) yield `${i}\n`;
          } finally {
            stopped = true;
          }
        })();
        return Object.assign(gen, { close: closed });
      });
      const res = await client.stream('GET', '/');
      const it = res[Symbol.asyncIterator]();
      assert.equal((await it.next()).value?.toString(), '0\n');
      await res.cancel();
      assert.equal(closed.calls, 1, 'cancel() resolves once close() has run');
      assert.equal(signal?.aborted, true);
      assert.equal(stopped, true);
    });

    it('text() and json() read it whole', async () => {
      const client = testClient((_environ, startResponse) => {
        startResponse('200 OK', [['Content-Type', 'application/json']]);
        return (function* () {
          yield '{"a":';
          yield '1}';
        })();
      });
      assert.deepEqual(await (await client.stream('GET', '/')).json(), { a: 1 });
      assert.equal(await (await client.stream('GET', '/')).text(), '{"a":1}');
    });
  });

  describe('errors', () => {
    const violating: Application = (_environ, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      startResponse('200 OK', [['Content-Type', 'text/html']]);
      return ['twice'];
    };

    it('a contract violation rejects the call with the validator\'s LintError', async () => {
      await assert.rejects(testClient(violating).get('/'), (err: unknown) => {
        assert.ok(err instanceof LintError);
        assert.match(err.message, /^validator \(application\): startResponse was called a second time without excInfo/);
        return true;
      });
    });

    it('with throwErrors false: the 500 a server would send, and the errors', async () => {
      const res = await testClient(violating, { throwErrors: false }).get('/');
      assert.equal(res.status, 500);
      assert.equal(res.text, 'Internal Server Error\n');
      assert.equal(res.errors.length, 1);
      assert.ok(res.errors[0] instanceof LintError);
    });

    it('without the validator, the server\'s own rules still hold (the shared exchange)', async () => {
      await assert.rejects(testClient(violating, { validate: false }).get('/'), /startResponse was called a second time without excInfo/);
      const short: Application = (_environ, startResponse) => {
        startResponse('200 OK', [['Content-Length', '10']]);
        return (function* () {
          yield 'abc';
        })();
      };
      const res = await testClient(short, { validate: false, throwErrors: false }).get('/');
      assert.equal(res.complete, false, 'a body short of its Content-Length is cut, as a server closes the connection');
      assert.equal(res.text, 'abc');
      assert.match(String(res.errors[0]), /sent 3 bytes of the 10 its Content-Length declared/);
    });

    it('an error after the head: the body is cut short, and the call rejects with the app\'s error', async () => {
      const failing: Application = (_environ, startResponse) => {
        startResponse('200 OK', []);
        return (async function* () {
          yield 'partial';
          throw new Error('database went away');
        })();
      };
      await assert.rejects(testClient(failing).get('/'), /database went away/);
      const res = await testClient(failing, { throwErrors: false }).get('/');
      assert.deepEqual([res.status, res.text, res.complete], [200, 'partial', false]);
      const stream = await testClient(failing).stream('GET', '/');
      await assert.rejects(stream.text(), /database went away/);
    });

    it('a body that is never closed by the app under test still gets close() once', async () => {
      const closed = mustCall();
      const client = testClient((_environ, startResponse) => {
        startResponse('200 OK', []);
        return Object.assign(['a', 'b'], { close: closed });
      });
      assert.equal((await client.get('/')).text, 'ab');
    });

    it('refuses what is not an app', () => {
      assert.throws(() => testClient({} as unknown as Application), /takes a gateway application/);
    });
  });
});
