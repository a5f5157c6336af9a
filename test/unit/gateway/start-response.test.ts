/**
 * The rules of startResponse as pure functions: parseStatus, checkHeaders,
 * contentLengthOf. Every refusal is a GW_APP_CONTRACT error whose message
 * says what is wrong.
 */
import assert from 'node:assert/strict';
import { GatewayError } from '../../../src/errors.js';
import { checkHeaders, contentLengthOf, HOP_BY_HOP, isToken, parseStatus } from '../../../src/gateway/start-response.js';
import type { HeaderPair } from '../../../src/gateway/types.js';

function contractError(pattern?: RegExp) {
  return (err: unknown): true => {
    assert.ok(err instanceof GatewayError, `a GatewayError, got ${String(err)}`);
    assert.equal(err.code, 'GW_APP_CONTRACT');
    assert.equal(err.status, 500);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

describe('parseStatus', function () {
  it('splits "NNN Reason"', function () {
    assert.deepEqual(parseStatus('200 OK'), { code: 200, reason: 'OK', ascii: true });
    assert.deepEqual(parseStatus('404 Not Found'), { code: 404, reason: 'Not Found', ascii: true });
    assert.deepEqual(parseStatus('599 '), { code: 599, reason: '', ascii: true }, 'an empty reason');
    assert.deepEqual(parseStatus('999 Custom'), { code: 999, reason: 'Custom', ascii: true });
    assert.deepEqual(parseStatus('200 Caf\u00e9\tx'), { code: 200, reason: 'Caf\u00e9\tx', ascii: false }, 'latin-1 and tabs');
    assert.equal(parseStatus('200 OK'), parseStatus('200 OK'), 'parsed once, then cached');
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['a number', 200, /must be a string/],
    ['null', null, /must be a string/],
    ['no reason separator', '200', /NNN Reason/],
    ['no code', 'OK', /NNN Reason/],
    ['two digits', '20 OK', /NNN Reason/],
    ['four digits', '2000 OK', /NNN Reason/],
    ['no space', '200OK', /NNN Reason/],
    ['a leading zero', '099 X', /NNN Reason/],
    ['a leading space', ' 200 OK', /NNN Reason/],
    ['CR LF in the reason', '200 OK\r\nX: y', /NNN Reason/],
    ['LF in the reason', '200 OK\n', /NNN Reason/],
    ['NUL in the reason', '200 O\u0000K', /NNN Reason/],
    ['a reason outside latin-1', '200 \u20ac', /NNN Reason/],
    ['1xx', '101 Switching Protocols', /informational/],
    ['100', '100 Continue', /informational/],
  ];
  for (const [what, status, pattern] of bad) {
    it(`refuses ${what}`, function () {
      assert.throws(() => parseStatus(status), contractError(pattern));
    });
  }
});

describe('checkHeaders', function () {
  it('accepts pairs of token names and latin-1 values, repeats included', function () {
    checkHeaders([]);
    checkHeaders([
      ['Content-Type', 'text/plain; charset=utf-8'],
      ['Set-Cookie', 'a=1'],
      ['Set-Cookie', 'b=2'],
      ["!#$%&'*+-.^_`|~0aZ", ''],
      ['X-Latin1', '\u00e9\u00ff\u0080 \t'],
    ]);
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['an object', { 'X-A': '1' }, /must be an array/],
    ['a string', 'X-A: 1', /must be an array/],
    ['a flat array', ['X-A', '1'], /header #0/],
    ['a pair with a number value', [['X-A', 1]], /header #0/],
    ['a pair with three items', [['X-A', '1', '2']], /header #0/],
    ['a one-item pair', [['X-A']], /header #0/],
    ['a name with a space', [['X A', '1']], /not an HTTP token/],
    ['a name with a colon', [['X-A:', '1']], /not an HTTP token/],
    ['an empty name', [['', '1']], /not an HTTP token/],
    ['a name outside ASCII', [['X-\u00c4', '1']], /not an HTTP token/],
    ['a name with CRLF', [['X-A\r\nX-B', '1']], /not an HTTP token/],
    ['a value with CR', [['X-A', 'a\rb']], /latin-1 text without CR, LF or NUL/],
    ['a value with LF', [['X-A', 'a\nb']], /latin-1 text without CR, LF or NUL/],
    ['a value with NUL', [['X-A', 'a\u0000b']], /latin-1 text without CR, LF or NUL/],
    ['a value with another control', [['X-A', '\u001b[31m']], /latin-1/],
    ['a value with DEL', [['X-A', '\u007f']], /latin-1/],
    ['a value outside latin-1', [['X-A', '5\u20ac']], /latin-1/],
    ['a value with an astral character', [['X-A', '\u{1f600}']], /latin-1/],
  ];
  for (const [what, headers, pattern] of bad) {
    it(`refuses ${what}`, function () {
      assert.throws(() => checkHeaders(headers), contractError(pattern));
    });
  }

  it('names the offending header, not only its index, once the pair is well formed', function () {
    assert.throws(() => checkHeaders([['X-Good', '1'], ['X-Bad', 'a\nb']]), contractError(/"X-Bad"/));
  });

  for (const name of ['Connection', 'Keep-Alive', 'Proxy-Authenticate', 'Proxy-Authorization', 'TE', 'Trailer', 'Trailers', 'Transfer-Encoding', 'Upgrade']) {
    it(`refuses the hop-by-hop header ${name}, in any case`, function () {
      assert.ok(HOP_BY_HOP.has(name.toLowerCase()));
      assert.throws(() => checkHeaders([[name, 'x']]), contractError(/hop-by-hop/));
      assert.throws(() => checkHeaders([[name.toUpperCase(), 'x']]), contractError(/hop-by-hop/));
      assert.throws(() => checkHeaders([[name.toLowerCase(), 'x']]), contractError(/hop-by-hop/));
    });
  }

  it('lets end-to-end headers that look similar through', function () {
    checkHeaders([['Proxy-Connection-Info', '1'], ['X-Connection', 'close'], ['Transfer-Encodings', 'x'], ['Content-Encoding', 'gzip']]);
  });
});

describe('isToken', function () {
  it('is true for RFC 9110 tokens only', function () {
    assert.equal(isToken('Content-Type'), true);
    assert.equal(isToken("!#$%&'*+-.^_`|~"), true);
    for (const bad of ['', 'a b', 'a:b', 'a(b)', 'a"b', 'a/b', 'a@b', 'a\u00e9', 'a\tb']) assert.equal(isToken(bad), false, JSON.stringify(bad));
  });
});

describe('contentLengthOf', function () {
  it('is undefined without a Content-Length', function () {
    assert.equal(contentLengthOf([['Content-Type', 'text/plain']]), undefined);
    assert.equal(contentLengthOf([]), undefined);
  });

  it('reads it in any case, trimmed', function () {
    assert.equal(contentLengthOf([['Content-Length', '42']]), 42);
    assert.equal(contentLengthOf([['content-length', '0']]), 0);
    assert.equal(contentLengthOf([['CONTENT-LENGTH', ' 7 ']]), 7);
  });

  it('accepts a repeat with the same value', function () {
    assert.equal(contentLengthOf([['Content-Length', '5'], ['content-length', '5']]), 5);
  });

  it('refuses two different values', function () {
    assert.throws(() => contentLengthOf([['Content-Length', '5'], ['content-length', '6']]), contractError(/two different Content-Length/));
  });

  for (const value of ['', 'abc', '-1', '1.5', '1e3', '0x10', '1 2', '+5', '1234567890123456']) {
    it(`refuses ${JSON.stringify(value)}`, function () {
      assert.throws(() => contentLengthOf([['Content-Length', value]]), contractError(/non-negative integer/));
    });
  }

  it('ignores headers whose name only looks similar', function () {
    const headers: HeaderPair[] = [['Content-Length-X', 'abc'], ['X-Content-Length', 'abc']];
    assert.equal(contentLengthOf(headers), undefined);
  });
});
