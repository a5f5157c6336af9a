/**
 * setCookie, clearCookie and parseCookies: Set-Cookie headers as RFC 6265
 * writes them (through the `cookie` package), on a header list or a
 * Headers, and the request's cookies read from its environ.
 */
import assert from 'node:assert/strict';
import { clearCookie, parseCookies, setCookie } from '../../../src/gateway/cookies.js';
import { Headers } from '../../../src/gateway/headers.js';
import { GatewayError } from '../../../src/errors.js';
import type { HeaderPair } from '../../../src/gateway/types.js';
import { setupTestingDefaults } from '../../../src/gateway/util.js';

describe('cookies: setCookie', () => {
  it('adds one Set-Cookie line per cookie to the list given to startResponse, attributes unquoted', () => {
    const list: HeaderPair[] = [['Content-Type', 'text/plain']];
    const line = setCookie(list, 'sid', 'abc', { path: '/', httpOnly: true, sameSite: 'lax', maxAge: 3600, secure: true });
    setCookie(list, 'theme', 'dark', { path: '/' });
    assert.equal(line, 'sid=abc; Max-Age=3600; Path=/; HttpOnly; Secure; SameSite=Lax');
    assert.deepEqual(list, [
      ['Content-Type', 'text/plain'],
      ['Set-Cookie', 'sid=abc; Max-Age=3600; Path=/; HttpOnly; Secure; SameSite=Lax'],
      ['Set-Cookie', 'theme=dark; Path=/'],
    ]);
  });

  it('works on a Headers too, and encodes the value', () => {
    const h = new Headers();
    setCookie(h, 'greeting', 'hello; world', { domain: 'example.org', expires: new Date(Date.UTC(2026, 9, 21, 7, 28)) });
    assert.equal(h.get('set-cookie'), 'greeting=hello%3B%20world; Domain=example.org; Expires=Wed, 21 Oct 2026 07:28:00 GMT');
  });

  it('refuses a name, path or domain a browser would misread, as a contract error', () => {
    const refused = (fn: () => unknown, pattern: RegExp) => assert.throws(fn, (err: unknown) => {
      assert.ok(err instanceof GatewayError);
      assert.equal(err.code, 'GW_APP_CONTRACT');
      assert.match(err.message, pattern);
      return true;
    });
    refused(() => setCookie([], 'bad name', 'x'), /^setCookie: argument name is invalid/);
    refused(() => setCookie([], 'a', 'b', { path: '/; Domain=evil.example' }), /^setCookie: option path is invalid/);
    refused(() => setCookie([], 'a', 'b', { domain: 'ex ample.org' }), /^setCookie: option domain is invalid/);
  });

  it('clearCookie expires the cookie at the epoch, with its path and domain', () => {
    const list: HeaderPair[] = [];
    clearCookie(list, 'sid', { path: '/', domain: 'example.org' });
    assert.deepEqual(list, [['Set-Cookie', 'sid=; Domain=example.org; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT']]);
  });
});

describe('cookies: parseCookies', () => {
  it('reads HTTP_COOKIE (repeats joined with "; " by the server), decoded', () => {
    const environ = setupTestingDefaults({ HTTP_COOKIE: 'sid=abc; theme=dark; greeting=hello%3B%20world' });
    assert.deepEqual({ ...parseCookies(environ) }, { sid: 'abc', theme: 'dark', greeting: 'hello; world' });
  });

  it('an empty object without a Cookie header; the first of a name sent twice', () => {
    assert.deepEqual({ ...parseCookies(setupTestingDefaults()) }, {});
    assert.equal(parseCookies({ HTTP_COOKIE: 'a=1; a=2' }).a, '1');
    assert.equal(parseCookies({ HTTP_COOKIE: 'bad=%E0%A4%A' }).bad, '%E0%A4%A', 'kept as sent when not valid percent-encoding');
  });
});
