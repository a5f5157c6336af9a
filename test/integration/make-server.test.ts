/**
 * makeServer(): wsgiref's simple server over real sockets on 127.0.0.1,
 * port 0: serveForever() until close(), handleRequest() one request at a
 * time (the others wait, unserved), the port it bound, the common log
 * format line per request (and quiet), and a port that cannot be bound.
 */
import assert from 'node:assert/strict';
import type { ExchangeRecord } from '../../src/gateway/handler.js';
import type { Application } from '../../src/gateway/types.js';
import { logDateTime, makeServer, type MakeServerOptions, type SimpleServer } from '../../src/toolkit/simple-server.js';
import { get } from '../helpers/http.js';
import { RawClient } from '../helpers/raw.js';
import { afterTest } from '../helpers/scope.js';
import { sink } from '../helpers/sink.js';
import { until } from '../helpers/until.js';

const hello: Application = (_environ, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
  return ['Hello world!'];
};

/** A server on 127.0.0.1:0 whose lines land in `lines`, closed when the test ends. */
async function start(app: Application, options: MakeServerOptions = {}): Promise<{ server: SimpleServer; lines: string[] }> {
  const lines: string[] = [];
  const server = makeServer('127.0.0.1', 0, app, { logStream: { write: (l: string) => lines.push(l) }, ...options });
  afterTest(() => server.close(0));
  await server.ready();
  return { server, lines };
}

describe('makeServer', function () {
  it('binds a free port for port 0 and tells it: serverPort, address, url', async function () {
    const { server } = await start(hello);
    assert.ok(server.serverPort > 0);
    assert.deepEqual(server.address, { address: '127.0.0.1', family: 'IPv4', port: server.serverPort });
    assert.equal(server.url, `http://127.0.0.1:${server.serverPort}`);
  });

  it('the address is not known before it is bound, and says so', function () {
    const server = makeServer('127.0.0.1', 0, hello, { quiet: true });
    afterTest(() => server.close(0));
    assert.throws(() => server.serverPort, /not bound yet \(await server.ready\(\) first\)/);
  });

  it('serveForever() serves until close(), then resolves', async function () {
    const { server } = await start(hello, { quiet: true });
    let settled = false;
    const forever = server.serveForever().then(() => {
      settled = true;
    });
    for (let i = 0; i < 3; i++) {
      const res = await get(server.serverPort, `/${i}`);
      assert.equal(res.status, 200);
      assert.equal(res.body, 'Hello world!');
    }
    assert.equal(settled, false);
    await server.close();
    await forever;
    assert.equal(settled, true);
    await assert.rejects(get(server.serverPort, '/', { timeoutMs: 2000 }), /ECONNREFUSED/);
  });

  it('logs one line per request in the common log format, as wsgiref', async function () {
    const { server, lines } = await start(hello);
    void server.serveForever();
    await get(server.serverPort, '/x?y=1');
    const missing = await get(server.serverPort, '/a%20b', { headers: { 'X-Note': 'n' } });
    assert.equal(missing.status, 200);
    await until(() => lines.length === 2, 5000, 'two lines');
    assert.match(lines[0]!, /^127\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4} \d{2}:\d{2}:\d{2}\] "GET \/x\?y=1 HTTP\/1\.1" 200 12\n$/);
    assert.match(lines[1]!, /"GET \/a%20b HTTP\/1\.1" 200 12\n$/);
  });

  it('writes the date as Python\'s log_date_time_string', function () {
    assert.equal(logDateTime(new Date(2021, 4, 14, 13, 6, 4)), '14/May/2021 13:06:04');
    assert.equal(logDateTime(new Date(2021, 0, 2, 3, 4, 5)), '02/Jan/2021 03:04:05');
  });

  it('quiet: no line', async function () {
    const { server, lines } = await start(hello, { quiet: true });
    void server.serveForever();
    assert.equal((await get(server.serverPort, '/')).status, 200);
    assert.deepEqual(lines, []);
  });

  it('handleRequest() serves one request and returns; the next one waits, unserved, for the next call', async function () {
    let calls = 0;
    let started = 0;
    const ended: string[] = [];
    const { server } = await start((environ, startResponse) => {
      calls++;
      return hello(environ, startResponse);
    }, {
      quiet: true,
      observer: {
        requestStarted: () => void started++,
        requestEnded: (r: ExchangeRecord) => void ended.push(r.req.url ?? ''),
      },
    });
    const first = server.handleRequest();
    const res1 = await get(server.serverPort, '/one');
    assert.equal(res1.body, 'Hello world!');
    await first;
    assert.equal(calls, 1);

    // The second request reaches the server but not the app.
    const second = get(server.serverPort, '/two');
    await until(() => started === 2, 5000, 'the second request to arrive');
    assert.equal(calls, 1, 'no handleRequest() waiting: the app is not called');
    const handled = server.handleRequest();
    const res2 = await second;
    assert.equal(res2.body, 'Hello world!');
    await handled;
    assert.equal(calls, 2);
    assert.deepEqual(ended, ['/one', '/two'], 'the user\'s observer sees every request');
  });

  it('a request whose client leaves while it waits is dropped, and does not count as handled', async function () {
    let calls = 0;
    let started = 0;
    let ended = 0;
    const { server } = await start((environ, startResponse) => {
      calls++;
      return hello(environ, startResponse);
    }, { quiet: true, observer: { requestStarted: () => void started++, requestEnded: () => void ended++ } });
    const client = await RawClient.open(server.serverPort);
    client.send('GET /gone HTTP/1.1\r\nHost: h\r\n\r\n');
    await until(() => started === 1, 5000, 'the request to arrive');
    client.destroy();
    await until(() => ended === 1, 5000, 'the abandoned request to end');
    const handled = server.handleRequest();
    const res = await get(server.serverPort, '/next');
    assert.equal(res.status, 200);
    await handled;
    assert.equal(calls, 1, 'the app was called for /next only');
  });

  it('close() serves the requests still waiting, and lets waiting handleRequest() calls go', async function () {
    let started = 0;
    const { server } = await start(hello, { quiet: true, observer: { requestStarted: () => void started++ } });
    const waiting = get(server.serverPort, '/held');
    await until(() => started === 1, 5000, 'the request to arrive');
    await server.close();
    assert.equal((await waiting).status, 200);
    const other = makeServer('127.0.0.1', 0, hello, { quiet: true });
    const idle = other.handleRequest();
    await other.ready();
    await other.close();
    await idle;
  });

  it('logs application errors with the logger given, and answers 500', async function () {
    const logs = sink();
    const { server, lines } = await start(() => {
      throw new Error('boom');
    }, { logger: logs.logger });
    void server.serveForever();
    const res = await get(server.serverPort, '/fail');
    assert.equal(res.status, 500);
    await until(() => lines.length === 1, 5000, 'the request line');
    assert.match(lines[0]!, /"GET \/fail HTTP\/1\.1" 500 \d+\n$/);
    const rec = logs.records.find((r) => r.msg === 'application error');
    assert.equal(rec?.err?.message, 'boom');
  });

  it('a port that cannot be bound rejects ready() and serveForever()', async function () {
    const { server: taken } = await start(hello, { quiet: true });
    const clash = makeServer('127.0.0.1', taken.serverPort, hello, { quiet: true });
    afterTest(() => clash.close(0));
    await assert.rejects(clash.ready(), /EADDRINUSE/);
    await assert.rejects(clash.serveForever(), /EADDRINUSE/);
  });

  it('refuses a bad port or a non-app at once', function () {
    assert.throws(() => makeServer('127.0.0.1', 70000, hello), /port must be an integer from 0 to 65535/);
    assert.throws(() => makeServer('127.0.0.1', 0, 'app' as unknown as Application), /takes a gateway application/);
  });
});
