/**
 * The pure parts of environ building. The request-level behaviour is tested
 * through a real server in test/integration/server.test.ts.
 */
import assert from 'node:assert/strict';
import { addHeaders, decodePath, headerKey, normalizeAddress, proxyTrust, splitHost, splitTarget } from '../../../src/gateway/environ.js';

describe('environ', () => {
  it('maps header names to environ keys', () => {
    assert.equal(headerKey('Accept-Language'), 'HTTP_ACCEPT_LANGUAGE');
    assert.equal(headerKey('content-type'), 'CONTENT_TYPE');
    assert.equal(headerKey('Content-Length'), 'CONTENT_LENGTH');
    assert.equal(headerKey('X_Forwarded_For'), null);
    assert.equal(headerKey('x-forwarded-for'), 'HTTP_X_FORWARDED_FOR');
  });

  it('joins repeated headers, Cookie with "; ", keeps one Content-Length', () => {
    const env: Record<string, unknown> = {};
    addHeaders(env, ['Accept', 'a', 'accept', 'b', 'Cookie', 'x=1', 'cookie', 'y=2', 'Content-Length', '5', 'Content-Length', '5', 'Bad_Name', 'z']);
    assert.deepEqual(env, { HTTP_ACCEPT: 'a, b', HTTP_COOKIE: 'x=1; y=2', CONTENT_LENGTH: '5' });
  });

  it('percent-decodes paths as UTF-8', () => {
    assert.equal(decodePath('/plain/path'), '/plain/path');
    assert.equal(decodePath('/a%20b'), '/a b');
    assert.equal(decodePath('/caf%C3%A9'), '/café');
    assert.equal(decodePath('/a%2Fb'), '/a/b');
    assert.equal(decodePath('/100%'), '/100%', 'a malformed escape is kept');
    assert.equal(decodePath('/%zz'), '/%zz');
    // Node hands raw UTF-8 bytes over as latin-1 characters.
    assert.equal(decodePath(Buffer.from('/é', 'utf8').toString('latin1')), '/é');
    assert.throws(() => decodePath('/%C3%28'), (err: any) => err.status === 400);
    assert.throws(() => decodePath('/%FF'), (err: any) => err.status === 400);
  });

  it('splits request targets', () => {
    assert.deepEqual(splitTarget('/p?q=1'), { path: '/p', query: 'q=1' });
    assert.deepEqual(splitTarget('/p'), { path: '/p', query: '' });
    assert.deepEqual(splitTarget('/p?'), { path: '/p', query: '' });
    assert.deepEqual(splitTarget('/p?a?b'), { path: '/p', query: 'a?b' });
    assert.deepEqual(splitTarget('/p#frag'), { path: '/p', query: '' });
    assert.deepEqual(splitTarget('*'), { path: '*', query: '' });
    assert.deepEqual(splitTarget('http://example.org:81/x?y'), { path: '/x', query: 'y', authority: 'example.org:81' });
    assert.deepEqual(splitTarget('http://example.org'), { path: '/', query: '', authority: 'example.org' });
    assert.throws(() => splitTarget('example.org:443'), (err: any) => err.status === 400);
  });

  it('splits Host values', () => {
    assert.deepEqual(splitHost('example.org'), ['example.org', '']);
    assert.deepEqual(splitHost('example.org:8080'), ['example.org', '8080']);
    assert.deepEqual(splitHost('[::1]:8080'), ['[::1]', '8080']);
    assert.deepEqual(splitHost('[::1]'), ['[::1]', '']);
  });

  it('trusts proxies by address, "*" for all, unix peers always', () => {
    const trust = proxyTrust('127.0.0.1, ::1');
    assert.equal(trust('127.0.0.1'), true);
    assert.equal(trust('::1'), true);
    assert.equal(trust('10.0.0.1'), false);
    assert.equal(trust(''), true, 'unix socket peer');
    assert.equal(proxyTrust('*')('203.0.113.1'), true);
    assert.equal(proxyTrust(['::ffff:10.0.0.2'])('10.0.0.2'), true);
    assert.equal(normalizeAddress('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(normalizeAddress('::ffff:abcd'), '::ffff:abcd');
  });
});
