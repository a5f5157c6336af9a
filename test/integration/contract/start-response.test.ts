/**
 * startResponse through a real gwserver: the calling rules (once, unless
 * with excInfo; excInfo replaces before the headers are out and re-throws
 * after), and every kind of bad status or header becoming a clean 500 whose
 * details go to the log, never to the client.
 */
import assert from 'node:assert/strict';
import type { Gwserver } from '../../helpers/gwserver.js';
import { request, type Reply } from '../../helpers/http.js';
import { parseResponse, rawExchange } from '../../helpers/raw.js';
import { appError, assertAlive, get, serve, token, waitEvent } from './support.js';

/** A clean 500: short plain text, nothing of the error in it. */
function assertClean500(res: Reply): void {
  assert.equal(res.status, 500);
  assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
  const text = res.bytes.toString('latin1');
  assert.equal(text, 'Internal Server Error\n');
  assert.doesNotMatch(text, /SECRET|startResponse|at /);
}

/** The log has the error with its stack, the request id and the route. */
async function assertLogged(server: Gwserver, t: string, stackPattern: RegExp): Promise<void> {
  const rec = await appError(server, t);
  assert.match(rec.request_id, /^[0-9a-f-]{36}$/);
  assert.equal(rec.method, 'GET');
  assert.match(rec.err.stack, stackPattern);
  assert.match(rec.err.stack, /\n\s+at /, 'a stack, not only a message');
}

describe('contract: startResponse calling rules', function () {
  let server: Gwserver;
  beforeEach(async function () {
    server = await serve('startRules');
  });

  it('a second call without excInfo is an application error: 500, logged', async function () {
    const t = token();
    const res = await request(`${server.url}/?mode=twice&t=${t}`);
    assertClean500(res);
    assert.equal(res.headers['x-first'], undefined);
    assert.equal(res.headers['x-second'], undefined);
    await assertLogged(server, t, /second time without excInfo/);
    await assertAlive(server);
  });

  it('a second call with excInfo before anything was sent replaces the status and headers', async function () {
    const res = await request(`${server.url}/?mode=replace`);
    assert.equal(res.status, 503);
    assert.equal(res.headers['x-first'], undefined, 'the first headers are gone');
    assert.equal(res.headers['x-second'], '1');
    assert.equal(res.body.toString(), 'sorry');
  });

  it('a generator that yielded only an empty chunk can still replace its status with excInfo', async function () {
    const res = await request(`${server.url}/?mode=replace-in-body`);
    assert.equal(res.status, 500);
    assert.equal(res.headers['x-first'], undefined);
    assert.equal(res.headers['x-second'], '1');
    assert.equal(res.body.toString(), 'error page');
  });

  it('a second call with excInfo after the headers went out re-throws excInfo: the response is cut', async function () {
    const t = token();
    const c = await rawExchange(server.port, get(`/?mode=rethrow&t=${t}`));
    const res = parseResponse(c.data, { closed: true });
    assert.equal(res.status, 200);
    assert.equal(res.framing, 'chunked');
    assert.equal(res.body.toString(), 'partial');
    assert.equal(res.complete, false, 'no terminating 0-chunk: the client sees a truncated response');
    assert.doesNotMatch(c.text, /SECRET/);
    const rethrown = await waitEvent(server, 'rethrown', t);
    assert.equal(rethrown.same, true, 'the very excInfo object is thrown');
    const rec = await appError(server, t);
    assert.equal(rec.err.message, 'SECRET-rethrown-excinfo');
    await assertAlive(server);
  });

  it('excInfo on a first call changes nothing', async function () {
    const res = await request(`${server.url}/?mode=first-exc`);
    assert.equal(res.status, 201);
    assert.equal(res.headers['x-first'], '1');
    assert.equal(res.body.toString(), 'created');
  });
});

/** startResponse(status, headers) as `startCase` receives them from the query. */
function caseUrl(server: Gwserver, t: string, status: unknown, headers: unknown): string {
  return `${server.url}/?t=${t}&case=${encodeURIComponent(JSON.stringify({ status, headers }))}`;
}

const BAD_HEADERS: Array<[string, unknown]> = [
  ['a value with a character outside latin-1', [['X-Price', 'SECRET 5\u20ac']]],
  ['a value with CR', [['X-Bad', 'SECRET\rX-Injected: 1']]],
  ['a value with LF', [['X-Bad', 'SECRET\nSet-Cookie: evil=1']]],
  ['a value with CRLF', [['X-Bad', 'SECRET\r\n\r\n<html>']]],
  ['a value with NUL', [['X-Bad', 'SECRET\u0000']]],
  ['a value with another control character', [['X-Bad', 'SECRET\u0007']]],
  ['a name with a space', [['X SECRET', 'v']]],
  ['a name with a colon', [['X-SECRET:', 'v']]],
  ['an empty name', [['', 'SECRET']]],
  ['a name outside ASCII', [['X-SECR\u00c9T', 'v']]],
  ['a name with CRLF', [['X-A\r\nX-SECRET', 'v']]],
  ['a value that is not a string', [['X-SECRET', 5]]],
  ['a header that is not a pair', [['X-SECRET']]],
  ['a header with three items', [['X-SECRET', 'a', 'b']]],
  ['headers that are not an array', { 'X-SECRET': 'v' }],
  ['a malformed Content-Length', [['Content-Length', 'SECRET']]],
  ['a negative Content-Length', [['Content-Length', '-1']]],
  ['two different Content-Lengths', [['Content-Length', '1'], ['content-length', '2']]],
];

const BAD_STATUSES: Array<[string, unknown]> = [
  ['a code without a reason separator', '200'],
  ['a reason without a code', 'OK'],
  ['four digits', '2000 OK'],
  ['two digits', '20 OK'],
  ['no space', '200OK'],
  ['a CRLF in the reason', '200 OK\r\nX-Injected: SECRET'],
  ['an LF in the reason', '200 OK\nSECRET'],
  ['a NUL in the reason', '200 SECRET\u0000'],
  ['a reason outside latin-1', '200 SECRET \u20ac'],
  ['an informational status', '100 Continue'],
  ['a code starting with 0', '099 SECRET'],
  ['letters for a code', 'abc SECRET'],
  ['a number instead of a string', 200],
  ['null', null],
];

const HOP_BY_HOP = [
  'Connection', 'Keep-Alive', 'Proxy-Authenticate', 'Proxy-Authorization', 'TE', 'Trailer', 'Trailers',
  'Transfer-Encoding', 'Upgrade', 'transfer-encoding', 'CONNECTION',
];

describe('contract: startResponse refuses bad statuses and headers with a clean 500', function () {
  let server: Gwserver;
  beforeEach(async function () {
    server = await serve('startCase');
  });

  for (const [what, headers] of BAD_HEADERS) {
    it(`${what}: 500, details only in the log`, async function () {
      const t = token();
      const res = await request(caseUrl(server, t, '200 OK', headers));
      assertClean500(res);
      await assertLogged(server, t, /startResponse/);
      await assertAlive(server);
    });
  }

  for (const [what, status] of BAD_STATUSES) {
    it(`status with ${what}: 500, details only in the log`, async function () {
      const t = token();
      const res = await request(caseUrl(server, t, status, []));
      assertClean500(res);
      await assertLogged(server, t, /startResponse/);
      await assertAlive(server);
    });
  }

  for (const name of HOP_BY_HOP) {
    it(`the hop-by-hop header ${name} is the server's: 500`, async function () {
      const t = token();
      // Connection: close is the one an app may set (below): any other Connection is refused.
      const value = name.toLowerCase() === 'transfer-encoding' ? 'chunked' : name.toLowerCase() === 'connection' ? 'keep-alive' : 'SECRET';
      const res = await request(caseUrl(server, t, '200 OK', [['Content-Type', 'text/plain'], [name, value]]));
      assertClean500(res);
      await assertLogged(server, t, /hop-by-hop/);
      await assertAlive(server);
    });
  }

  it('honours Connection: close from the app, as gunicorn: 200 with Connection: close (edge.test.ts sees the connection close)', async function () {
    const t = token();
    const res = await request(caseUrl(server, t, '200 OK', [['Content-Type', 'text/plain'], ['Connection', 'close']]));
    assert.equal(res.status, 200);
    assert.equal(res.headers.connection, 'close');
    await assertAlive(server);
  });

  it('accepts what the rules allow: latin-1 and tabs in values, every token character in names, any 2xx-9xx status', async function () {
    const t = token();
    const headers = [
      ['X-Latin1', 'caf\u00e9 \u00ff'],
      ['X-Tab', 'a\tb'],
      ['X-Empty', ''],
      ["!#$%&'*+-.^_`|~09azAZ", 'token'],
      ['X-Twice', '1'],
      ['X-Twice', '2'],
    ];
    const c = await rawExchange(server.port, `GET /?t=${t}&case=${encodeURIComponent(JSON.stringify({ status: '599 Caf\u00e9 Reason', headers }))} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    const res = parseResponse(c.data, { closed: true });
    assert.equal(res.status, 599);
    assert.equal(res.reason, 'Caf\u00e9 Reason', 'the reason goes out as latin-1');
    assert.equal(res.headers['x-latin1'], 'caf\u00e9 \u00ff', 'one byte per character');
    assert.equal(res.headers['x-tab'], 'a\tb');
    assert.equal(res.headers['x-empty'], '');
    assert.equal(res.headers["!#$%&'*+-.^_`|~09azaz"], 'token');
    assert.deepEqual(res.rawHeaders.filter(([n]) => n === 'X-Twice'), [['X-Twice', '1'], ['X-Twice', '2']], 'repeats are kept, in order');
    assert.equal(res.body.toString(), 'the application body');
  });
});
