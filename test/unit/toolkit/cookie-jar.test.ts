/**
 * CookieJar: RFC 6265's storage and sending rules, the parts testClient
 * needs: Path, Domain, Expires, Max-Age, Secure, replacement and removal,
 * and the Set-Cookie lines it must ignore.
 */
import assert from 'node:assert/strict';
import { CookieJar } from '../../../src/toolkit/cookie-jar.js';

describe('CookieJar', () => {
  it('sends longer paths first, then the older cookie', () => {
    const jar = new CookieJar();
    jar.store(['a=1; Path=/', 'b=2; Path=/docs', 'c=3; Path=/'], 'http://localhost/');
    assert.equal(jar.header('http://localhost/docs/x'), 'b=2; a=1; c=3');
  });

  it('defaults Path to the directory of the request path', () => {
    const jar = new CookieJar();
    jar.store(['a=1'], 'http://localhost/shop/cart/view');
    jar.store(['b=2', 'c=3; Path=relative'], 'http://localhost/top');
    assert.deepEqual(jar.all().map((c) => [c.name, c.path]), [['a', '/shop/cart'], ['b', '/'], ['c', '/']]);
  });

  it('Domain: sent to subdomains; refused for a domain the response does not belong to', () => {
    const jar = new CookieJar();
    jar.store(['wide=1; Domain=.example.com', 'host=2', 'evil=3; Domain=other.com'], 'http://www.example.com/');
    assert.equal(jar.header('http://api.example.com/'), 'wide=1');
    assert.equal(jar.header('http://www.example.com/'), 'wide=1; host=2');
    assert.equal(jar.header('http://other.com/'), '');
    assert.equal(jar.get('evil'), undefined);
  });

  it('Secure: over https, and to localhost (a secure context for browsers too)', () => {
    const jar = new CookieJar();
    jar.store(['s=1; Secure'], 'https://example.com/');
    assert.equal(jar.header('http://example.com/'), '');
    assert.equal(jar.header('https://example.com/'), 's=1');
    jar.store(['l=1; Secure'], 'http://localhost/');
    assert.equal(jar.header('http://localhost/'), 'l=1');
  });

  it('ignores lines without a name or "=", and unknown or bad attributes', () => {
    const jar = new CookieJar();
    jar.store(['novalue', '=x', 'ok=1; Expires=not a date; Max-Age=soon; Foo=bar; SameSite=Strict; HttpOnly', ' spaced = v w '], 'http://localhost/');
    const all = jar.all();
    assert.deepEqual(all.map((c) => [c.name, c.value]), [['ok', '1'], ['spaced', 'v w']]);
    assert.equal(all[0]!.expires, undefined);
    assert.equal(all[0]!.sameSite, 'Strict');
    assert.equal(all[0]!.httpOnly, true);
  });

  it('a cookie of the same name, domain and path replaces the old; Max-Age <= 0 or a past Expires removes it', () => {
    const jar = new CookieJar();
    jar.store(['a=1', 'b=1', 'c=1'], 'http://localhost/');
    jar.store(['a=2', 'b=; Max-Age=-1', 'c=; Expires=Thu, 01 Jan 1970 00:00:00 GMT'], 'http://localhost/');
    assert.equal(jar.header('http://localhost/'), 'a=2');
  });

  it('set(), get(), delete() and clear() by hand', () => {
    let now = 1_000;
    const jar = new CookieJar({ now: () => now });
    jar.set('token', 'abc', { expires: 2_000 });
    jar.set('lang', 'fr', { path: '/docs' });
    assert.equal(jar.get('token'), 'abc');
    assert.equal(jar.get('lang', 'http://localhost/'), undefined);
    assert.equal(jar.get('lang', 'http://localhost/docs/a'), 'fr');
    now = 2_000;
    assert.equal(jar.get('token'), undefined, 'expired');
    assert.equal(jar.delete('lang'), true);
    assert.equal(jar.delete('lang'), false);
    jar.set('x', '1');
    jar.clear();
    assert.deepEqual(jar.all(), []);
    assert.throws(() => jar.set('bad name', 'v'), /bad cookie/);
    assert.throws(() => jar.set('n', 'a;b'), /bad cookie/);
  });
});
