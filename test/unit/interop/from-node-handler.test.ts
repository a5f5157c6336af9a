import assert from 'node:assert/strict';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RequestInput } from '../../../src/gateway/input.js';
import { toNodeHandler } from '../../../src/gateway/handler.js';
import type { Application } from '../../../src/gateway/types.js';
import { fromNodeHandler } from '../../../src/interop/node.js';
import { leaveAfterFirstChunk } from '../../helpers/http.js';
import { sink } from '../../helpers/sink.js';
import { until } from '../../helpers/until.js';
import { deferred, drive, environFor, headerMap, serveApp, type Served } from './helpers.js';

const turns = async (n = 10) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

/**
 * The shape of an Express-like framework, without the dependency: it swaps
 * the prototypes of req and res for its own (which inherit from node's, as
 * Express does), adds helpers, parses JSON bodies with req.on('data'), and
 * wraps res.writeHead as an own property (as on-headers does).
 */
function miniExpress(routes: Record<string, (req: any, res: any) => void>) {
  const request = Object.create(IncomingMessage.prototype, {
    ip: { get(this: IncomingMessage) { return this.socket.remoteAddress; } },
    protocol: { get(this: IncomingMessage) { return (this.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http'; } },
    path: { get(this: IncomingMessage) { return new URL(this.url!, 'http://x').pathname; } },
  });
  const response = Object.create(ServerResponse.prototype);
  response.status = function (this: ServerResponse, code: number) {
    this.statusCode = code;
    return this;
  };
  response.cookie = function (this: ServerResponse, name: string, value: string) {
    const prev = (this.getHeader('Set-Cookie') as string[] | undefined) ?? [];
    this.setHeader('Set-Cookie', [...prev, `${name}=${value}; Path=/`]);
    return this;
  };
  response.json = function (this: ServerResponse, obj: unknown) {
    const body = JSON.stringify(obj);
    this.setHeader('Content-Type', 'application/json; charset=utf-8');
    this.setHeader('Content-Length', Buffer.byteLength(body));
    this.end(body);
  };
  return (req: IncomingMessage, res: ServerResponse) => {
    Object.setPrototypeOf(req, request);
    Object.setPrototypeOf(res, response);
    // on-headers: runs just before the headers go, implicit or explicit.
    const writeHead = res.writeHead;
    const started = process.hrtime.bigint();
    res.writeHead = function (this: ServerResponse, ...args: any[]) {
      this.setHeader('X-Response-Time', `${Number(process.hrtime.bigint() - started) / 1e6}ms`);
      return (writeHead as any).apply(this, args);
    } as any;
    const route = routes[`${req.method} ${(req as any).path}`];
    if (route === undefined) {
      (res as any).status(404).json({ error: 'not found' });
      return;
    }
    if (req.headers['content-type']?.startsWith('application/json')) {
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (text += chunk));
      req.on('end', () => {
        (req as any).body = JSON.parse(text);
        route(req, res);
      });
      return;
    }
    route(req, res);
  };
}

describe('fromNodeHandler', () => {
  describe('the request', () => {
    it('is a real IncomingMessage built from the environ', async () => {
      let seen: IncomingMessage | undefined;
      const app = fromNodeHandler((req, res) => {
        seen = req;
        res.end();
      });
      const env = environFor({
        REQUEST_METHOD: 'PATCH',
        SCRIPT_NAME: '/mount',
        PATH_INFO: '/a b',
        QUERY_STRING: 'x=1',
        RAW_URI: '/mount/a%20b?x=1',
        SERVER_PROTOCOL: 'HTTP/1.0',
        REMOTE_ADDR: '10.0.0.7',
        REMOTE_PORT: '5555',
        HTTP_X_THING: 'yes',
        HTTP_COOKIE: 'a=1; b=2',
        CONTENT_TYPE: 'text/plain',
        'wsgi.url_scheme': 'https',
      });
      await (await drive(app, env)).finish();
      assert.ok(seen instanceof IncomingMessage);
      assert.equal(seen.method, 'PATCH');
      // Relative to the mount point, as Connect and Express expect; originalUrl keeps it all.
      assert.equal(seen.url, '/a%20b?x=1');
      assert.equal((seen as any).originalUrl, '/mount/a%20b?x=1');
      assert.equal(seen.httpVersion, '1.0');
      assert.equal(seen.headers['x-thing'], 'yes');
      assert.equal(seen.headers.cookie, 'a=1; b=2');
      assert.equal(seen.headers['content-type'], 'text/plain');
      assert.equal(seen.headers.host, '127.0.0.1');
      assert.ok(seen.rawHeaders.includes('x-thing'));
      assert.equal(seen.socket.remoteAddress, '10.0.0.7');
      assert.equal(seen.socket.remotePort, 5555);
      assert.equal((seen.socket as any).encrypted, true);
    });

    it('pulls the body from wsgi.input only when the handler reads it', async () => {
      let firstRead = 0;
      const input = new RequestInput(Readable.from([Buffer.from('abc'), Buffer.from('def')]), { length: 6, onFirstRead: () => void firstRead++ });
      const env = environFor({ REQUEST_METHOD: 'POST', CONTENT_LENGTH: '6', 'wsgi.input': input });
      const gate = deferred();
      const app = fromNodeHandler(async (req, res) => {
        await gate.promise;
        let body = '';
        for await (const chunk of req) body += chunk;
        assert.equal(req.complete, true);
        res.end(`got ${body}`);
      });
      const pending = drive(app, env);
      await turns();
      assert.equal(firstRead, 0);
      gate.resolve();
      assert.equal((await (await pending).finish()).toString(), 'got abcdef');
    });

    it('delivers a body of many chunks to req.on(\'data\') (flowing mode)', async () => {
      const parts = ['alpha,', 'beta,', 'gamma'];
      let i = 0;
      // One piece per turn of the event loop, so that they reach the handler apart.
      const slow = new Readable({
        read() {
          setImmediate(() => this.push(i < parts.length ? Buffer.from(parts[i++]!) : null));
        },
      });
      const input = new RequestInput(slow, {});
      const env = environFor({ REQUEST_METHOD: 'POST', HTTP_TRANSFER_ENCODING: 'chunked', 'wsgi.input': input });
      const app = fromNodeHandler((req, res) => {
        const seen: string[] = [];
        req.setEncoding('utf8');
        req.on('data', (chunk: string) => seen.push(chunk));
        req.on('end', () => res.end(`${seen.length > 1} ${seen.join('')}`));
      });
      assert.equal((await (await drive(app, env)).finish()).toString(), 'true alpha,beta,gamma');
    });

    it('ends a bodiless request at once, and an unread body when the response finishes', async () => {
      const events: string[] = [];
      const app = fromNodeHandler((req, res) => {
        req.on('end', () => events.push('end'));
        req.on('close', () => events.push('close'));
        req.on('aborted', () => events.push('aborted'));
        res.end('ok');
      });
      const d = await drive(app, environFor({ REQUEST_METHOD: 'POST' }, 'never read'));
      await d.finish();
      await until(() => events.includes('close'));
      assert.deepEqual(events, ['end', 'close']);
    });
  });

  describe('the response', () => {
    it('passes status, reason and headers to startResponse: Set-Cookie kept apart, hop-by-hop dropped but Connection: close', async () => {
      const app = fromNodeHandler((_req, res) => {
        res.statusCode = 201;
        res.statusMessage = 'Made It';
        res.setHeader('Content-Type', 'text/plain');
        res.setHeader('Set-Cookie', ['a=1', 'b=2; Expires=Wed, 21 Oct 2015 07:28:00 GMT']);
        res.setHeader('Connection', 'close');
        res.setHeader('Transfer-Encoding', 'chunked');
        res.setHeader('X-Num', 42);
        res.end('done');
      });
      const d = await drive(app, environFor());
      assert.equal(d.started!.status, '201 Made It');
      const h = headerMap(d.started!.headers);
      assert.deepEqual(h.get('set-cookie'), ['a=1', 'b=2; Expires=Wed, 21 Oct 2015 07:28:00 GMT']);
      assert.deepEqual(h.get('x-num'), ['42']);
      assert.equal(h.has('transfer-encoding'), false);
      // The one hop-by-hop header an app may give: the server closes the connection after the response.
      assert.deepEqual(h.get('connection'), ['close']);
      // The handler's own casing survives.
      assert.ok(d.started!.headers.some(([n]) => n === 'Content-Type'));
      // Ended in one go: an array, so the server can add Content-Length.
      assert.ok(Array.isArray(d.body));
      assert.equal((await d.finish()).toString(), 'done');
    });

    it('merges writeHead\'s headers (object and array forms) with setHeader\'s', async () => {
      const app = fromNodeHandler((req, res) => {
        res.setHeader('X-Early', '1');
        if (req.url === '/obj') res.writeHead(202, { 'X-Late': '2' });
        else res.writeHead(202, 'Fine', ['X-Late', '2', 'X-Late', '3']);
        res.end();
      });
      const a = await drive(app, environFor({ PATH_INFO: '/obj' }));
      assert.equal(a.started!.status, '202 Accepted');
      assert.deepEqual([...headerMap(a.started!.headers).keys()].sort(), ['x-early', 'x-late']);
      const b = await drive(app, environFor({ PATH_INFO: '/arr' }));
      assert.equal(b.started!.status, '202 Fine');
      assert.deepEqual(headerMap(b.started!.headers).get('x-late'), ['2', '3']);
    });

    it('resolves when headers are known, and streams later writes', async () => {
      const gate = deferred();
      const app = fromNodeHandler(async (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('one ');
        await gate.promise;
        res.write('two ');
        res.end('three');
      });
      const d = await drive(app, environFor());
      assert.equal(d.started!.status, '200 OK');
      assert.equal(Array.isArray(d.body), false);
      assert.equal((await d.pull())!.toString(), 'one ');
      gate.resolve();
      assert.equal((await d.finish()).toString(), 'two three');
    });

    it('applies backpressure: write() is false over the high-water mark, drain when the server pulls', async () => {
      const CHUNK = 8 * 1024;
      const log: string[] = [];
      let maxQueued = 0;
      const done = deferred();
      const app = fromNodeHandler((_req, res) => {
        res.writeHead(200);
        let sent = 0;
        const more = () => {
          while (sent < 32) {
            sent++;
            const ok = res.write(Buffer.alloc(CHUNK, sent));
            maxQueued = Math.max(maxQueued, res.writableLength);
            if (!ok) {
              log.push(`full at ${sent}`);
              res.once('drain', more);
              return;
            }
          }
          res.end(() => done.resolve());
        };
        more();
      }, { highWaterMark: 16 * 1024 });
      const d = await drive(app, environFor());
      await turns();
      assert.deepEqual(log, ['full at 2'], 'the handler stops at the high-water mark until the server pulls');
      assert.equal((await d.pull())!.length, CHUNK);
      assert.equal((await d.pull())!.length, CHUNK);
      await until(() => log.length === 2);
      const rest = await d.finish();
      assert.equal(rest.length, 30 * CHUNK);
      await done.promise;
      assert.ok(maxQueued <= 16 * 1024, `queued ${maxQueued} bytes`);
    });

    it('keeps pipe() and pipeline() backpressure, and emits finish then close', async () => {
      let produced = 0;
      const events: string[] = [];
      const app = fromNodeHandler((_req, res) => {
        res.on('finish', () => events.push('finish'));
        res.on('close', () => events.push('close'));
        const src = new Readable({
          read() {
            produced++;
            this.push(produced > 100 ? null : Buffer.alloc(4096));
          },
        });
        void pipeline(src, res);
      });
      const d = await drive(app, environFor());
      await turns(20);
      assert.ok(produced < 20, `produced ${produced} chunks before anyone pulled`);
      assert.equal((await d.finish()).length, 100 * 4096);
      await until(() => events.length === 2);
      assert.deepEqual(events, ['finish', 'close']);
    });

    it('drops the body of a 204 and a 304, as node:http does', async () => {
      const app = fromNodeHandler((_req, res) => {
        res.statusCode = 204;
        res.end('ignored');
      });
      const d = await drive(app, environFor());
      assert.equal(d.started!.status, '204 No Content');
      assert.equal((await d.finish()).length, 0);
    });

    it('HEAD: the server stops early; the handler may go on writing into the void', async () => {
      const finished = deferred();
      const gate = deferred();
      const app = fromNodeHandler(async (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('x');
        await gate.promise;
        res.write('y', (err) => assert.equal(err ?? null, null));
        res.end(() => finished.resolve());
      });
      const d = await drive(app, environFor({ REQUEST_METHOD: 'HEAD' }));
      await d.stop();
      gate.resolve();
      await finished.promise;
    });

    it('a write after end does not throw (and fails only its callback)', async () => {
      const err = deferred<Error | null | undefined>();
      const app = fromNodeHandler((_req, res) => {
        res.end('a');
        assert.equal(res.write('b', (e) => err.resolve(e)), false);
      });
      const d = await drive(app, environFor());
      assert.equal((await d.finish()).toString(), 'a');
      assert.equal((await err.promise as NodeJS.ErrnoException).code, 'ERR_STREAM_WRITE_AFTER_END');
    });
  });

  describe('errors and disconnects', () => {
    it('a handler that throws before the headers fails the app (the server answers 500)', async () => {
      await assert.rejects(drive(fromNodeHandler(() => {
        throw new Error('sync boom');
      }), environFor()), /sync boom/);
      await assert.rejects(drive(fromNodeHandler(async () => {
        throw new Error('async boom');
      }), environFor()), /async boom/);
    });

    it('res.destroy() after the headers errors the body (the server cuts the connection)', async () => {
      const app = fromNodeHandler((_req, res) => {
        res.writeHead(200);
        res.write('partial');
        setImmediate(() => res.destroy(new Error('gave up')));
      });
      const d = await drive(app, environFor());
      assert.equal((await d.pull())!.toString(), 'partial');
      await assert.rejects(d.pull(), /gave up/);
    });

    it('a client that goes away destroys req and closes res; the app promise rejects if headers were not known', async () => {
      const ac = new AbortController();
      const events: string[] = [];
      const app = fromNodeHandler((req, res) => {
        req.on('aborted', () => events.push('req aborted'));
        req.on('close', () => events.push('req close'));
        res.on('close', () => events.push('res close'));
        res.on('finish', () => events.push('res finish'));
      });
      const pending = drive(app, environFor({ REQUEST_METHOD: 'POST', 'gwserver.signal': ac.signal }, 'body never sent'));
      await turns();
      ac.abort();
      await assert.rejects(pending, /client went away/);
      await until(() => events.length === 3);
      assert.deepEqual(events.sort(), ['req aborted', 'req close', 'res close']);
    });

    it('the server stopping mid-body (return/close) closes res and fails pending writes', async () => {
      const closed = deferred();
      const cbErr = deferred<Error | null | undefined>();
      const app = fromNodeHandler((_req, res) => {
        res.on('close', () => closed.resolve());
        res.writeHead(200);
        res.write('a');
        res.write(Buffer.alloc(64 * 1024), (e) => cbErr.resolve(e));
      });
      const d = await drive(app, environFor());
      await d.pull();
      await d.stop();
      await closed.promise;
      assert.equal((await cbErr.promise as NodeJS.ErrnoException).code, 'ERR_STREAM_DESTROYED');
    });
  });

  describe('through the gateway server', () => {
    // serveApp's servers close when the test ends (test/helpers/http.ts listen()).
    let served: Served | undefined;

    it('serves a plain node handler', async () => {
      served = await serveApp(fromNodeHandler((req, res) => {
        res.setHeader('Content-Type', 'text/plain');
        res.write(`${req.method} `);
        res.write(`${req.url} `);
        res.end('bye');
      }));
      const r = await fetch(`${served.url}/hello?x=%20`);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-type'), 'text/plain');
      assert.equal(await r.text(), 'GET /hello?x=%20 bye');
    });

    it('serves an Express-style app: status, cookies, JSON echo, chunked writes, prototype swap', async () => {
      served = await serveApp(fromNodeHandler(miniExpress({
        'POST /echo': (req, res) => res.status(201).cookie('a', '1').cookie('b', '2').json({ youSent: req.body, ip: req.ip, protocol: req.protocol }),
        'GET /chunks': (_req, res) => {
          res.status(200);
          res.setHeader('Content-Type', 'text/plain');
          res.write('a');
          setImmediate(() => {
            res.write('b');
            setImmediate(() => res.end('c'));
          });
        },
      })));
      const echo = await fetch(`${served.url}/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ hello: ['wörld', 1] }),
      });
      assert.equal(echo.status, 201);
      assert.deepEqual(echo.headers.getSetCookie(), ['a=1; Path=/', 'b=2; Path=/']);
      assert.match(echo.headers.get('x-response-time')!, /ms$/);
      assert.deepEqual(await echo.json(), { youSent: { hello: ['wörld', 1] }, ip: '127.0.0.1', protocol: 'http' });

      const chunks = await fetch(`${served.url}/chunks`);
      assert.equal(chunks.headers.get('transfer-encoding'), 'chunked');
      assert.match(chunks.headers.get('x-response-time')!, /ms$/);
      assert.equal(await chunks.text(), 'abc');

      const missing = await fetch(`${served.url}/nope`);
      assert.equal(missing.status, 404);
      assert.deepEqual(await missing.json(), { error: 'not found' });
    });

    it('streams a large upload through for-await and a large download with backpressure', async () => {
      const SIZE = 8 * 1024 * 1024;
      let maxQueued = 0;
      served = await serveApp(fromNodeHandler(async (req, res) => {
        if (req.method === 'POST') {
          let n = 0;
          for await (const chunk of req) n += (chunk as Buffer).length;
          res.end(String(n));
          return;
        }
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': SIZE });
        const block = Buffer.alloc(64 * 1024, 120);
        for (let sent = 0; sent < SIZE; sent += block.length) {
          const ok = res.write(block);
          maxQueued = Math.max(maxQueued, res.writableLength);
          if (!ok) await new Promise((r) => res.once('drain', r));
        }
        res.end();
      }));
      const up = await fetch(`${served.url}/up`, { method: 'POST', body: Buffer.alloc(SIZE, 1) });
      assert.equal(await up.text(), String(SIZE));
      const down = await fetch(`${served.url}/down`);
      assert.equal(down.headers.get('content-length'), String(SIZE));
      assert.equal((await down.arrayBuffer()).byteLength, SIZE);
      assert.ok(maxQueued <= 64 * 1024, `queued ${maxQueued} bytes`);
    });

    it('a client that disconnects mid-response closes res and destroys req', async () => {
      const closed = deferred();
      const aborted = deferred();
      served = await serveApp(fromNodeHandler((req, res) => {
        req.on('close', () => aborted.resolve());
        res.on('close', () => closed.resolve());
        res.writeHead(200);
        const tick = () => {
          if (res.destroyed) return;
          if (res.write(Buffer.alloc(16 * 1024))) setImmediate(tick);
          else res.once('drain', tick);
        };
        tick();
      }));
      await leaveAfterFirstChunk(served.port, '/');
      await Promise.all([closed.promise, aborted.promise]);
    });

    it('a handler that throws becomes a 500 from the server', async () => {
      served = await serveApp(fromNodeHandler(() => {
        throw new Error('handler bug');
      }));
      const r = await fetch(`${served.url}/`);
      assert.equal(r.status, 500);
      assert.equal(await r.text(), 'Internal Server Error\n');
      assert.ok(served.records.some((rec) => rec.err?.message === 'handler bug'));
    });

    it('round-trips a gateway app: fromNodeHandler(toNodeHandler(app)) behaves like app', async () => {
      const app: Application = async (environ, startResponse) => {
        const body = await environ['wsgi.input'].read();
        startResponse('200 OK', [['Content-Type', 'text/plain'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]);
        return (async function* () {
          yield `${environ.REQUEST_METHOD} ${environ.PATH_INFO} ${environ.QUERY_STRING} `;
          yield String(body.length);
        })();
      };
      const direct = await serveApp(app);
      served = await serveApp(fromNodeHandler(toNodeHandler(app, { logger: sink().logger })));
      try {
        for (const url of [direct.url, served.url]) {
          const r = await fetch(`${url}/caf%C3%A9?x=1`, { method: 'POST', body: Buffer.alloc(300_000) });
          assert.equal(r.status, 200);
          assert.deepEqual(r.headers.getSetCookie(), ['a=1', 'b=2']);
          assert.equal(await r.text(), 'POST /café x=1 300000');
        }
      } finally {
        await direct.close();
      }
    });

    it('HEAD through an Express-style json() keeps the GET Content-Length and sends no body', async () => {
      served = await serveApp(fromNodeHandler(miniExpress({
        'HEAD /thing': (_req, res) => {
          res.setHeader('Content-Length', 11);
          res.end();
        },
      })));
      const r = await fetch(`${served.url}/thing`, { method: 'HEAD' });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('content-length'), '11');
      assert.equal(await r.text(), '');
    });
  });
});

