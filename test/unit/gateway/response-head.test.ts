/**
 * The response head as the handler writes it itself (Exchange.storeHead,
 * Node's `_storeHeader` without writeHead's second check of every header):
 * exactly the bytes writeHead would give for the framing Node owns (Date,
 * Connection, Keep-Alive, Content-Length or chunked), for GET, HEAD,
 * HTTP/1.0, 204 and 304; an app's own Content-Length and Date are not
 * doubled; a writeHead that something wrapped is still called; the request
 * id header's name is checked once, when the handler is made.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { toNodeHandler } from '../../../src/gateway/handler.js';
import { createLogger } from '../../../src/logging/logger.js';
import type { Application, HeaderPair } from '../../../src/gateway/types.js';
import { listen, type Listening } from '../../helpers/http.js';
import { RawClient } from '../../helpers/raw.js';

/** The raw response head to `request` (bytes up to the empty line), and the rest. */
async function headAndRest(port: number, request: string): Promise<{ head: string[]; rest: string }> {
  const c = await RawClient.open(port);
  try {
    c.end(request);
    await c.waitClosed();
  } finally {
    c.destroy();
  }
  if (c.error) throw c.error;
  const text = c.text;
  const end = text.indexOf('\r\n\r\n');
  return { head: text.slice(0, end).split('\r\n'), rest: text.slice(end + 4) };
}

function serve(app: Application, wrap?: (res: http.ServerResponse) => void): Promise<Listening> {
  const handler = toNodeHandler(app, { logger: createLogger({ level: 'silent' }) });
  return listen((req, res) => {
    wrap?.(res);
    handler(req, res);
  });
}

const names = (head: string[]) => head.slice(1).map((l) => l.slice(0, l.indexOf(':')).toLowerCase());

describe('the response head', () => {
  let headers: HeaderPair[] = [];
  let status = '200 OK';
  let body: unknown = ['hello'];
  const app: Application = (_environ, startResponse) => {
    startResponse(status, headers);
    return body as string[];
  };
  let srv: Awaited<ReturnType<typeof serve>>;
  before(async () => {
    srv = await serve(app);
  });
  after(() => srv.close());
  beforeEach(() => {
    headers = [['Content-Type', 'text/plain']];
    status = '200 OK';
    body = ['hello'];
  });

  it('GET, HTTP/1.1: the app\'s headers, the request id, Date, keep-alive and Content-Length, once each', async () => {
    const { head, rest } = await headAndRest(srv.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(head[0], 'HTTP/1.1 200 OK');
    assert.deepEqual(names(head).sort(), ['connection', 'content-length', 'content-type', 'date', 'x-request-id']);
    assert.ok(head.includes('Content-Length: 5'));
    assert.ok(head.includes('Connection: close'));
    assert.equal(rest, 'hello');
  });

  it('keeps the connection alive (Keep-Alive header) when the client does', async () => {
    const { head } = await headAndRest(srv.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.ok(head.includes('Connection: keep-alive'), head.join('\n'));
    assert.ok(head.some((l) => l.startsWith('Keep-Alive: timeout=')));
  });

  it('HEAD: Content-Length of the body, no body', async () => {
    const { head, rest } = await headAndRest(srv.port, 'HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.ok(head.includes('Content-Length: 5'), head.join('\n'));
    assert.equal(rest, '');
  });

  it('HTTP/1.0: Content-Length, then the connection closes', async () => {
    const { head, rest } = await headAndRest(srv.port, 'GET / HTTP/1.0\r\nHost: x\r\n\r\n');
    assert.equal(head[0], 'HTTP/1.1 200 OK');
    assert.ok(head.includes('Content-Length: 5'), head.join('\n'));
    assert.ok(head.includes('Connection: close'));
    assert.equal(rest, 'hello');
  });

  it('the app\'s own Content-Length and Date are sent once, as the app set them', async () => {
    headers = [['content-length', '5'], ['Date', 'Tue, 01 Jan 2030 00:00:00 GMT']];
    const { head } = await headAndRest(srv.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.deepEqual(names(head).filter((n) => n === 'content-length' || n === 'date'), ['content-length', 'date']);
    assert.ok(head.includes('Date: Tue, 01 Jan 2030 00:00:00 GMT'));
    assert.ok(head.includes('content-length: 5'));
  });

  it('204 and 304: no Content-Length, no body, no chunked', async () => {
    for (const s of ['204 No Content', '304 Not Modified']) {
      status = s;
      body = [];
      const { head, rest } = await headAndRest(srv.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.equal(head[0], `HTTP/1.1 ${s}`);
      assert.ok(!names(head).includes('content-length'), head.join('\n'));
      assert.ok(!names(head).includes('transfer-encoding'), head.join('\n'));
      assert.equal(rest, '');
    }
  });

  it('a streamed body without Content-Length is chunked', async () => {
    body = (function* () {
      yield 'a';
      yield 'b';
    })();
    const { head, rest } = await headAndRest(srv.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.ok(head.includes('Transfer-Encoding: chunked'), head.join('\n'));
    assert.equal(rest, '1\r\na\r\n1\r\nb\r\n0\r\n\r\n');
  });

  it('latin-1 in a header value and the reason goes out as latin-1 bytes', async () => {
    status = '200 Caf\u00e9';
    headers = [['X-Name', 'caf\u00e9']];
    const { head, rest } = await headAndRest(srv.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(head[0], 'HTTP/1.1 200 Caf\u00e9');
    assert.ok(head.includes('X-Name: caf\u00e9'), head.join('\n'));
    assert.equal(rest, 'hello');
  });

  it('a writeHead wrapped by a framework (on-headers) is still called, with the headers', async () => {
    let seen: unknown;
    const wrapped = await serve(app, (res) => {
      const original = res.writeHead;
      res.writeHead = function (this: http.ServerResponse, ...args: unknown[]) {
        seen = args;
        return (original as (...a: unknown[]) => http.ServerResponse).apply(this, args);
      } as http.ServerResponse['writeHead'];
    });
    try {
      const { head } = await headAndRest(wrapped.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.ok(head.includes('Content-Length: 5'));
      assert.ok(Array.isArray(seen), 'writeHead was called');
    } finally {
      await wrapped.close();
    }
  });

  it('a request id header name that is not a token is refused when the handler is made', () => {
    assert.throws(() => toNodeHandler(app, { requestIdHeader: 'X-Id\r\nX-Evil: 1' }), /not a valid header name/);
    assert.doesNotThrow(() => toNodeHandler(app, { requestIdHeader: '' }));
  });
});
