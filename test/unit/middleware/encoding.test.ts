/**
 * Accept-Encoding negotiation and the compressible-type rule
 * (src/middleware/encoding.ts): q-values (q=0 refuses, malformed ones are
 * dropped), `*`, `identity`, `x-gzip`, case, the server's order for ties,
 * and zstd offered only where this Node has it.
 */
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { acceptedCodings, CODINGS, HAS_ZSTD, isCompressible, parseAcceptEncoding } from '../../../src/middleware/encoding.js';

const BOTH = ['br', 'gzip'] as const;

describe('encoding: Accept-Encoding', function () {
  it('parses names and weights, lower-cased, x-gzip as gzip, the first mention winning', function () {
    assert.deepEqual([...parseAcceptEncoding('GZIP;q=0.5, br ; Q=1.0, x-gzip, identity;q=0')!], [['gzip', 0.5], ['br', 1], ['identity', 0]]);
    assert.equal(parseAcceptEncoding(undefined), undefined);
    assert.deepEqual([...parseAcceptEncoding('')!], []);
  });

  it('drops elements whose q is not a qvalue', function () {
    for (const q of ['2', '1.1', '-1', '0.1234', 'abc', '', '.5']) {
      assert.deepEqual([...parseAcceptEncoding(`gzip;q=${q}, br`)!], [['br', 1]], q);
    }
  });

  const table: Array<[string | undefined, string[]]> = [
    [undefined, []],
    ['', []],
    ['identity', []],
    ['gzip', ['gzip']],
    ['br', ['br']],
    ['gzip, br', ['br', 'gzip']],
    ['br;q=0.5, gzip', ['gzip', 'br']],
    ['gzip;q=0.8, br;q=0.9', ['br', 'gzip']],
    ['gzip;q=0, br;q=0', []],
    ['gzip;q=0.000, br', ['br']],
    ['*', ['br', 'gzip']],
    ['*;q=0', []],
    ['*;q=0.1, gzip', ['gzip', 'br']],
    ['gzip;q=0, *', ['br']],
    ['br;q=0, *;q=0.5', ['gzip']],
    ['deflate, compress', []],
    ['x-gzip', ['gzip']],
    ['Br, GZip', ['br', 'gzip']],
    [' , gzip ,, ', ['gzip']],
    ['identity;q=0', []],
  ];
  for (const [header, want] of table) {
    it(`${JSON.stringify(header)} -> ${want.length > 0 ? want.join(', ') : 'identity'}`, function () {
      assert.deepEqual(acceptedCodings(header, BOTH), want);
    });
  }

  it('breaks ties in the order offered', function () {
    assert.deepEqual(acceptedCodings('br, gzip', ['gzip', 'br']), ['gzip', 'br']);
  });

  it('offers zstd exactly when node:zlib has createZstdCompress', function () {
    assert.equal(HAS_ZSTD, typeof (zlib as { createZstdCompress?: unknown }).createZstdCompress === 'function');
    assert.equal(CODINGS.includes('zstd'), HAS_ZSTD);
    assert.deepEqual(acceptedCodings('zstd', CODINGS), HAS_ZSTD ? ['zstd'] : []);
  });
});

describe('encoding: compressible types', function () {
  it('compresses text, JSON, JavaScript, SVG, XML and their +suffix types', function () {
    for (const t of ['text/html; charset=utf-8', 'text/plain', 'TEXT/CSS', 'text/event-stream', 'application/json', 'text/javascript; charset=utf-8',
      'image/svg+xml', 'application/xml', 'application/ld+json', 'application/vnd.custom+json', 'application/wasm', 'text/x-unknown']) {
      assert.ok(isCompressible(t), t);
    }
  });

  it('leaves images, video, audio, archives, woff2, octet-stream, unknown and missing types alone', function () {
    for (const t of ['image/png', 'image/jpeg', 'image/webp', 'video/mp4', 'audio/mpeg', 'application/zip', 'application/gzip', 'font/woff2',
      'application/octet-stream', 'application/x-unknown-thing', '', undefined]) {
      assert.ok(!isCompressible(t), String(t));
    }
  });
});
