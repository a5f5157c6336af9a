/**
 * Headers: a case-insensitive view that edits the header list in place.
 */
import assert from 'node:assert/strict';
import { Headers } from '../../../src/gateway/headers.js';
import { GatewayError } from '../../../src/errors.js';
import type { HeaderPair } from '../../../src/gateway/types.js';

function contractError(pattern: RegExp) {
  return (err: unknown): true => {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.code, 'GW_APP_CONTRACT');
    assert.match(err.message, pattern);
    return true;
  };
}

describe('Headers', () => {
  it('edits the list it was given, in place', () => {
    const list: HeaderPair[] = [['Content-Type', 'text/plain']];
    const h = new Headers(list);
    assert.equal(h.list, list);
    h.append('X-A', '1');
    h.set('content-type', 'text/html');
    assert.deepEqual(list, [['content-type', 'text/html'], ['X-A', '1']]);
    h.delete('x-a');
    assert.deepEqual(list, [['content-type', 'text/html']]);
    assert.equal(h.list, list);
  });

  it('starts with a new empty list when given none', () => {
    const h = new Headers();
    assert.equal(h.length, 0);
    assert.deepEqual(h.list, []);
  });

  it('looks names up case-insensitively', () => {
    const h = new Headers([['Set-Cookie', 'a=1'], ['X-Thing', 'x'], ['set-cookie', 'b=2']]);
    assert.equal(h.get('SET-COOKIE'), 'a=1');
    assert.deepEqual(h.getAll('Set-cookie'), ['a=1', 'b=2']);
    assert.equal(h.has('x-thing'), true);
    assert.equal(h.has('X-Other'), false);
    assert.equal(h.get('X-Other'), undefined);
    assert.deepEqual(h.getAll('X-Other'), []);
    assert.equal(h.length, 3);
  });

  it('set() replaces every value, keeping the place of the first', () => {
    const h = new Headers([['A', '1'], ['Vary', 'x'], ['B', '2'], ['vary', 'y']]);
    h.set('VARY', 'z');
    assert.deepEqual(h.list, [['A', '1'], ['VARY', 'z'], ['B', '2']]);
    h.set('C', '3');
    assert.deepEqual(h.list.at(-1), ['C', '3']);
  });

  it('append() keeps existing values; delete() removes them all and says whether any were there', () => {
    const h = new Headers();
    h.append('Vary', 'a').append('vary', 'b');
    assert.deepEqual(h.getAll('Vary'), ['a', 'b']);
    assert.equal(h.delete('VARY'), true);
    assert.equal(h.delete('Vary'), false);
    assert.equal(h.length, 0);
  });

  it('setDefault() adds only when missing and returns the value in force', () => {
    const h = new Headers([['Content-Type', 'text/plain']]);
    assert.equal(h.setDefault('content-type', 'text/html'), 'text/plain');
    assert.equal(h.setDefault('Cache-Control', 'no-store'), 'no-store');
    assert.deepEqual(h.list, [['Content-Type', 'text/plain'], ['Cache-Control', 'no-store']]);
  });

  describe('addHeader', () => {
    it('writes token values bare and others quoted, escaping " and \\', () => {
      const h = new Headers();
      h.addHeader('Content-Disposition', 'attachment', { filename: 'report 2024 "final" \\ v2.csv' });
      h.addHeader('Content-Type', 'text/plain', { charset: 'utf-8' });
      assert.equal(h.get('Content-Disposition'), 'attachment; filename="report 2024 \\"final\\" \\\\ v2.csv"');
      assert.equal(h.get('Content-Type'), 'text/plain; charset=utf-8');
    });

    it('writes null and true as bare names, skips undefined, quotes an empty value', () => {
      const h = new Headers();
      h.addHeader('X-Options', 'main', { flag: null, other: true, skipped: undefined, 'max-age': '0', ext: '' });
      assert.equal(h.get('X-Options'), 'main; flag; other; max-age=0; ext=""');
    });

    it('takes null for a header made only of parameters', () => {
      const h = new Headers();
      h.addHeader('Strict-Transport-Security', null, { 'max-age': '31536000', includeSubDomains: true });
      assert.equal(h.get('Strict-Transport-Security'), 'max-age=31536000; includeSubDomains');
    });

    it('appends, like append()', () => {
      const h = new Headers([['Vary', 'x']]);
      h.addHeader('Vary', 'y');
      assert.deepEqual(h.getAll('vary'), ['x', 'y']);
    });

    it('refuses a parameter name that is not a token', () => {
      assert.throws(() => new Headers().addHeader('X', 'v', { 'bad name': 'x' }), contractError(/^Headers: parameter name "bad name" of header "X" is not an HTTP token$/));
    });

    it('refuses a parameter value with CR/LF', () => {
      assert.throws(() => new Headers().addHeader('X', 'v', { a: 'x\r\nInjected: 1' }), contractError(/value of header "X" must be latin-1 text without CR, LF or NUL/));
    });

    it('refuses a parameter value of another type', () => {
      assert.throws(() => new Headers().addHeader('X', 'v', { a: 5 as unknown as string }), contractError(/parameter "a" of header "X" must be a string, null or true, got number 5/));
    });

    it('Set-Cookie: attributes follow RFC 6265, never quoted (a browser ignores Path="/")', () => {
      const h = new Headers();
      h.addHeader('Set-Cookie', 'sid=abc', { Path: '/', Domain: 'example.org', Expires: 'Wed, 21 Oct 2026 07:28:00 GMT', 'Max-Age': '3600', Secure: true, HttpOnly: null, SameSite: 'Lax' });
      h.addHeader('set-cookie', 'theme=dark', { Path: '/app/a b' });
      assert.deepEqual(h.getAll('Set-Cookie'), [
        'sid=abc; Path=/; Domain=example.org; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Max-Age=3600; Secure; HttpOnly; SameSite=Lax',
        'theme=dark; Path=/app/a b',
      ]);
      // Other headers keep the MIME rules.
      h.addHeader('Content-Disposition', 'attachment', { filename: '/tmp/a.txt' });
      assert.equal(h.get('Content-Disposition'), 'attachment; filename="/tmp/a.txt"');
    });

    it('Set-Cookie: an attribute with ";" cannot be written, and points to setCookie()', () => {
      assert.throws(
        () => new Headers().addHeader('Set-Cookie', 'sid=abc', { Path: '/; Domain=evil.example' }),
        contractError(/^Headers: attribute Path of Set-Cookie cannot hold ";" \(RFC 6265 has no quoting\); setCookie\(\) encodes cookie values$/),
      );
      assert.throws(() => new Headers().addHeader('Set-Cookie', 'sid=abc', { Path: '/\r\nX: 1' }), contractError(/must be latin-1 text without CR, LF or NUL/));
    });
  });

  it('lists keys, values and entries in order, repeats included', () => {
    const h = new Headers([['A', '1'], ['B', '2'], ['a', '3']]);
    assert.deepEqual(h.keys(), ['A', 'B', 'a']);
    assert.deepEqual(h.values(), ['1', '2', '3']);
    assert.deepEqual(h.entries(), [['A', '1'], ['B', '2'], ['a', '3']]);
    assert.deepEqual([...h], [['A', '1'], ['B', '2'], ['a', '3']]);
  });

  it('hands out copies of the pairs, so the list cannot be changed around the checks', () => {
    const h = new Headers([['A', '1']]);
    h.entries()[0]![1] = 'bad\r\n';
    for (const pair of h) pair[1] = 'bad\r\n';
    assert.equal(h.get('A'), '1');
  });

  it('prints the header block with CRLF and a blank line, as wsgiref does', () => {
    assert.equal(String(new Headers([['A', '1'], ['B', 'two words']])), 'A: 1\r\nB: two words\r\n\r\n');
    assert.equal(String(new Headers()), '\r\n');
  });

  it('serialises to JSON as the list of pairs', () => {
    assert.equal(JSON.stringify(new Headers([['A', '1'], ['a', '2']])), '[["A","1"],["a","2"]]');
  });

  describe('checks what goes in', () => {
    it('a name that is not a token', () => {
      assert.throws(() => new Headers().set('Bad Name', 'x'), contractError(/^Headers: header name "Bad Name" is not an HTTP token$/));
      assert.throws(() => new Headers().append('', 'x'), contractError(/header name "" is not an HTTP token/));
    });

    it('a value with CR, LF or NUL', () => {
      for (const value of ['a\rb', 'a\nb', 'a\0b']) {
        assert.throws(() => new Headers().append('X-A', value), contractError(/^Headers: value of header "X-A" must be latin-1 text without CR, LF or NUL/));
      }
    });

    it('a value beyond latin-1', () => {
      assert.throws(() => new Headers().setDefault('X-A', 'caf\u00e9 \u2603'), contractError(/must be latin-1 text/));
      new Headers().append('X-A', 'caf\u00e9'); // latin-1 itself is fine
    });

    it('names and values that are not strings', () => {
      assert.throws(() => new Headers().set(5 as unknown as string, 'x'), contractError(/^Headers: header name must be a string, got number 5$/));
      assert.throws(() => new Headers().set('X', null as unknown as string), contractError(/^Headers: value of header "X" must be a string, got null$/));
    });

    it('a list with a bad entry', () => {
      assert.throws(() => new Headers([['X', 'a'], ['Y']] as unknown as HeaderPair[]), contractError(/^Headers: entry #1 must be a \[name, value\] pair, got an array$/));
      assert.throws(() => new Headers([['Bad Name', 'a']]), contractError(/header name "Bad Name" is not an HTTP token/));
      assert.throws(() => new Headers('x' as unknown as HeaderPair[]), contractError(/expected an array of \[name, value\] pairs, got string x/));
    });

    it('does not refuse hop-by-hop names (startResponse does)', () => {
      new Headers().set('Connection', 'close');
    });
  });
});
