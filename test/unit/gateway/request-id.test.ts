/**
 * Request ids (kept from a valid incoming header, made otherwise, returned in
 * the response) and the request observer that feeds the access log and the
 * metrics: every request reaches requestEnded once, with what was sent.
 * Real node:http servers on 127.0.0.1 port 0, real clients.
 */
import assert from 'node:assert/strict';
import { nextRequestId, toNodeHandler, type ExchangeRecord, type HandlerOptions, type RequestObserver } from '../../../src/gateway/handler.js';
import { createLogger } from '../../../src/logging/logger.js';
import type { Application, Environ } from '../../../src/gateway/types.js';
import { listen } from '../../helpers/http.js';
import { RawClient, rawRequest } from '../../helpers/raw.js';
import { until } from '../../helpers/until.js';

/** Everything a request on a fresh connection got back, up to its complete response. */
async function rawGet(port: number, request: string | Buffer): Promise<string> {
  return (await rawRequest(port, request, 5000)).raw;
}

interface Ended {
  requestId: string;
  status: number;
  sent: number;
  received: number;
  completed: boolean;
  hadEnviron: boolean;
  ms: number;
}

async function withServer(app: Application, options: HandlerOptions, fn: (base: string, port: number) => Promise<void>): Promise<void> {
  const served = await listen(toNodeHandler(app, { logger: createLogger({ level: 'silent' }), ...options }));
  try {
    await fn(served.url, served.port);
  } finally {
    await served.close();
  }
}

function recorder(): { observer: RequestObserver; started: () => number; ended: Ended[] } {
  let started = 0;
  const ended: Ended[] = [];
  return {
    started: () => started,
    ended,
    observer: {
      requestStarted() {
        started++;
      },
      requestEnded(r: ExchangeRecord) {
        ended.push({
          requestId: r.requestId,
          status: r.loggedStatus,
          sent: r.sent,
          received: r.received,
          completed: r.completed,
          hadEnviron: r.environ !== undefined,
          ms: performance.now() - r.startedAt,
        });
      },
    },
  };
}

const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('request ids', () => {
  let seen: string[] = [];
  const echoId: Application = (environ: Environ, startResponse) => {
    seen.push(environ['gwserver.request_id'] as string);
    startResponse('200 OK', [['Content-Type', 'text/plain']]);
    return [String(environ['gwserver.request_id'])];
  };
  beforeEach(() => {
    seen = [];
  });

  it('makes a UUID-shaped id, unique per request, and returns it in X-Request-ID', async () => {
    await withServer(echoId, {}, async (base) => {
      const a = await fetch(base);
      const b = await fetch(base);
      const idA = a.headers.get('x-request-id');
      const idB = b.headers.get('x-request-id');
      assert.match(idA!, UUID_SHAPE);
      assert.match(idB!, UUID_SHAPE);
      assert.notEqual(idA, idB);
      assert.equal(await a.text(), idA);
      assert.deepEqual(seen, [idA, idB]);
    });
  });

  it('counts ids up in the last 12 hex digits, across the 256-id blocks the prefix is made for', () => {
    const ids = Array.from({ length: 1100 }, () => nextRequestId());
    for (const id of ids) assert.match(id, UUID_SHAPE);
    assert.equal(new Set(ids).size, ids.length);
    const counters = ids.map((id) => parseInt(id.slice(24), 16));
    for (let i = 1; i < counters.length; i++) assert.equal(counters[i], counters[i - 1]! + 1, `${ids[i - 1]} then ${ids[i]}`);
    assert.equal(new Set(ids.map((id) => id.slice(0, 24))).size, 1);
  });

  it('keeps a valid incoming X-Request-ID', async () => {
    await withServer(echoId, {}, async (base) => {
      for (const id of ['abc-123', 'nginx:7f3a9c0e5b2d4e1f', 'a+b/c=d@e~f_g.h', 'x'.repeat(200)]) {
        const r = await fetch(base, { headers: { 'X-Request-ID': id } });
        assert.equal(r.headers.get('x-request-id'), id);
        assert.equal(await r.text(), id);
      }
    });
  });

  it('replaces an incoming id that is too long or has characters a log line could trip on', async () => {
    await withServer(echoId, {}, async (_base, port) => {
      for (const id of ['has space', 'quote"d', 'x'.repeat(201), 'semi;colon', 'caf\u00e9']) {
        // As UTF-8 bytes (the é too).
        const r = await rawGet(port, Buffer.from(`GET / HTTP/1.1\r\nHost: a\r\nX-Request-ID: ${id}\r\nConnection: close\r\n\r\n`));
        const got = /\r\nx-request-id: ([^\r]*)\r\n/i.exec(r)?.[1];
        assert.match(got ?? '', UUID_SHAPE, `for ${JSON.stringify(id)}: ${r.slice(0, 200)}`);
      }
    });
  });

  it('does not add a second X-Request-ID when the app set one', async () => {
    const app: Application = (_e, startResponse) => {
      startResponse('200 OK', [['x-request-id', 'from-the-app']]);
      return ['ok'];
    };
    await withServer(app, {}, async (_base, port) => {
      const r = await rawGet(port, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
      assert.deepEqual(r.match(/x-request-id:[^\r]*/gi), ['x-request-id: from-the-app']);
    });
  });

  it('uses the header named by requestIdHeader, and none with an empty name', async () => {
    await withServer(echoId, { requestIdHeader: 'X-Correlation-ID' }, async (base) => {
      const r = await fetch(base, { headers: { 'X-Correlation-ID': 'corr-1', 'X-Request-ID': 'other' } });
      assert.equal(r.headers.get('x-correlation-id'), 'corr-1');
      assert.equal(r.headers.get('x-request-id'), null);
      assert.equal(await r.text(), 'corr-1');
    });
    await withServer(echoId, { requestIdHeader: '' }, async (base) => {
      const r = await fetch(base, { headers: { 'X-Request-ID': 'ignored' } });
      assert.equal(r.headers.get('x-request-id'), null);
      assert.match(await r.text(), UUID_SHAPE);
    });
  });

  it('returns the id on gwserver\'s own error responses (a refused request, an app that threw)', async () => {
    const app: Application = () => {
      throw new Error('boom');
    };
    await withServer(app, { limitRequestLine: 100 }, async (base, port) => {
      const refused = await rawGet(port, `GET /${'a'.repeat(200)} HTTP/1.1\r\nHost: a\r\nX-Request-ID: long-line-1\r\n\r\n`);
      assert.match(refused, /^HTTP\/1\.1 414 /);
      assert.match(refused, /\r\nX-Request-ID: long-line-1\r\n/i);
      const failed = await fetch(base, { headers: { 'X-Request-ID': 'boom-1' } });
      assert.equal(failed.status, 500);
      assert.equal(failed.headers.get('x-request-id'), 'boom-1');
    });
  });
});

describe('the request observer', () => {
  it('sees every request start and end once, with status and byte counts', async () => {
    const rec = recorder();
    const app: Application = (environ, startResponse) => {
      const input = environ['wsgi.input'];
      return (async () => {
        const body = await input.read();
        startResponse('201 Created', [['Content-Type', 'text/plain']]);
        return [`got ${body.length}`];
      })();
    };
    await withServer(app, { observer: rec.observer }, async (base) => {
      const get = await fetch(base, { headers: { 'X-Request-ID': 'obs-get' } });
      assert.equal(await get.text(), 'got 0');
      const post = await fetch(base, { method: 'POST', body: 'x'.repeat(5000), headers: { 'X-Request-ID': 'obs-post' } });
      assert.equal(await post.text(), 'got 5000');
      await until(() => rec.ended.length === 2, 5000, 'two requestEnded calls');
    });
    assert.equal(rec.started(), 2);
    const [g, p] = rec.ended;
    assert.deepEqual({ ...g!, ms: 0 }, { requestId: 'obs-get', status: 201, sent: 5, received: 0, completed: true, hadEnviron: true, ms: 0 });
    assert.deepEqual({ ...p!, ms: 0 }, { requestId: 'obs-post', status: 201, sent: 8, received: 5000, completed: true, hadEnviron: true, ms: 0 });
    assert.ok(g!.ms > 0 && p!.ms > 0);
  });

  it('sees a refused request (no environ) and a client that went away (499, not completed)', async () => {
    const rec = recorder();
    let release: () => void = () => undefined;
    const app: Application = (_e, _startResponse) => new Promise((resolve) => {
      release = () => resolve([]);
    });
    await withServer(app, { observer: rec.observer, limitRequestLine: 100 }, async (_base, port) => {
      const refused = await rawGet(port, `GET /${'a'.repeat(200)} HTTP/1.1\r\nHost: a\r\n\r\n`);
      assert.match(refused, /^HTTP\/1\.1 414 /);
      await until(() => rec.ended.length === 1, 5000, 'the refused request ended');
      const s = new RawClient(port);
      s.send('GET /wait HTTP/1.1\r\nHost: a\r\nX-Request-ID: gone-1\r\n\r\n');
      await until(() => rec.started() === 2, 5000, 'the second request started');
      s.destroy();
      await until(() => rec.ended.length === 2, 5000, 'the abandoned request ended');
      release();
    });
    assert.equal(rec.ended[0]!.status, 414);
    assert.equal(rec.ended[0]!.hadEnviron, false);
    assert.equal(rec.ended[0]!.completed, true);
    assert.deepEqual({ ...rec.ended[1]!, ms: 0 }, { requestId: 'gone-1', status: 499, sent: 0, received: 0, completed: false, hadEnviron: true, ms: 0 });
  });
});
