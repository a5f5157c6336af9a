/**
 * compress() in process, through the gateway core (toNodeHandler in a
 * node:http server on port 0), with the validator on both sides of the
 * middleware (`validator(compress()(validator(app)))`): the middleware keeps
 * the contract as an app towards the server and as a server towards the
 * app, whatever the app's shape (array, string, generator, async generator,
 * write(), a FileWrapper, a promise), and the decisions it makes: which
 * responses are compressed, their headers (Content-Encoding, Vary,
 * Content-Length, ETag, Accept-Ranges), which are left alone (threshold,
 * HEAD, 204/206/304, encoded, no-transform, incompressible types), and
 * close() exactly once.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { compress, toNodeHandler, validator, type Application, type CompressOptions, type HeaderPair } from '../../../src/index.js';
import { createLogger } from '../../../src/logging/logger.js';
import { listen, request, type Reply } from '../../helpers/http.js';
import { mustCall } from '../../helpers/must-call.js';
import { tempDir } from '../../helpers/temp-dir.js';

const TEXT = 'The quick brown fox jumps over the lazy dog. '.repeat(100); // 4500 bytes
const silent = createLogger({ level: 'silent' });

/** Serves `compress(options)(app)` with the validator outside and inside; returns a requester. */
async function serve(app: Application, options?: CompressOptions) {
  const served = await listen(toNodeHandler(validator(compress(options)(validator(app))), { logger: silent }));
  return (path = '/', headers: Record<string, string> = {}, method = 'GET') => request(served.port, { path, headers, method });
}

function decode(r: Reply): string {
  const enc = r.headers['content-encoding'];
  if (enc === 'gzip') return zlib.gunzipSync(r.bytes).toString();
  if (enc === 'br') return zlib.brotliDecompressSync(r.bytes).toString();
  assert.equal(enc, undefined, `unexpected Content-Encoding ${enc}`);
  return r.bytes.toString();
}

const textApp = (headers: HeaderPair[] = [['Content-Type', 'text/plain; charset=utf-8']], body: unknown = [TEXT], status = '200 OK'): Application =>
  (_environ, startResponse) => {
    startResponse(status, headers);
    return body as string[];
  };

describe('compress: which coding', function () {
  it('compresses an array body in one go, with Content-Length, Vary and Content-Encoding', async function () {
    const get = await serve(textApp());
    for (const [ae, enc] of [['gzip', 'gzip'], ['br', 'br'], ['gzip, br', 'br'], ['br;q=0.1, gzip', 'gzip']] as const) {
      const r = await get('/', { 'Accept-Encoding': ae });
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-encoding'], enc, ae);
      assert.equal(r.headers.vary, 'Accept-Encoding');
      assert.equal(r.headers['content-length'], String(r.bytes.length));
      assert.ok(r.bytes.length < TEXT.length / 5, `${enc}: ${r.bytes.length} bytes`);
      assert.equal(decode(r), TEXT);
    }
  });

  it('sends identity, with Vary, to a client that accepts no coding it offers', async function () {
    const get = await serve(textApp());
    for (const ae of [undefined, 'identity', 'gzip;q=0, br;q=0', 'deflate', '*;q=0']) {
      const r = await get('/', ae === undefined ? {} : { 'Accept-Encoding': ae });
      assert.equal(r.headers['content-encoding'], undefined, String(ae));
      assert.equal(r.headers.vary, 'Accept-Encoding');
      assert.equal(r.body, TEXT);
      assert.equal(r.headers['content-length'], String(TEXT.length));
    }
  });

  it('compresses a known body over 64 KiB in libuv\'s pool, and a small streamed one with a small window, both whole', async function () {
    const big = 'x'.repeat(100).concat(TEXT).repeat(40); // ~184 KiB
    const get = await serve(textApp(undefined, [big]));
    for (const enc of ['gzip', 'br']) {
      const r = await get('/', { 'Accept-Encoding': enc });
      assert.equal(r.headers['content-length'], String(r.bytes.length));
      assert.equal(decode(r), big);
    }
    const small = await serve(function* (_e, sr) {
      sr('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '2000']]);
      yield TEXT.slice(0, 1000);
      yield TEXT.slice(1000, 2000);
    }, { threshold: 100 });
    for (const enc of ['gzip', 'br']) assert.equal(decode(await small('/', { 'Accept-Encoding': enc })), TEXT.slice(0, 2000));
  });

  it('offers only the encodings asked for, in their order', async function () {
    const get = await serve(textApp(), { encodings: ['gzip'] });
    assert.equal((await get('/', { 'Accept-Encoding': 'br, gzip' })).headers['content-encoding'], 'gzip');
    assert.equal((await get('/', { 'Accept-Encoding': 'br' })).headers['content-encoding'], undefined);
  });

  it('takes the levels and window given', async function () {
    const get = await serve(textApp(), { level: { gzip: 1, br: 11 }, brotliWindowBits: 22 });
    assert.equal(decode(await get('/', { 'Accept-Encoding': 'gzip' })), TEXT);
    assert.equal(decode(await get('/', { 'Accept-Encoding': 'br' })), TEXT);
  });
});

describe('compress: what is left alone', function () {
  it('a body under the threshold (known by Content-Length or by the array), with Vary only when it could have been compressed', async function () {
    const small = 'small body';
    let get = await serve(textApp(undefined, [small]));
    let r = await get('/', { 'Accept-Encoding': 'gzip' });
    assert.equal(r.headers['content-encoding'], undefined);
    assert.equal(r.body, small);
    get = await serve(textApp([['Content-Type', 'text/plain'], ['Content-Length', String(small.length)]], (function* () { yield small; })()));
    r = await get('/', { 'Accept-Encoding': 'gzip' });
    assert.equal(r.headers['content-encoding'], undefined);
    assert.equal(r.body, small);
    get = await serve(textApp(undefined, [small]), { threshold: 0 });
    r = await get('/', { 'Accept-Encoding': 'gzip' });
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(decode(r), small);
  });

  it('an empty body, even with threshold 0', async function () {
    const get = await serve(textApp(undefined, []), { threshold: 0 });
    const r = await get('/', { 'Accept-Encoding': 'gzip' });
    assert.equal(r.headers['content-encoding'], undefined);
    assert.equal(r.headers['content-length'], '0');
  });

  const untouched: Array<[string, HeaderPair[], string]> = [
    ['an image', [['Content-Type', 'image/png']], '200 OK'],
    ['a zip', [['Content-Type', 'application/zip']], '200 OK'],
    ['octet-stream', [['Content-Type', 'application/octet-stream']], '200 OK'],
    ['no Content-Type', [], '200 OK'],
    ['Content-Encoding already', [['Content-Type', 'text/plain'], ['Content-Encoding', 'gzip']], '200 OK'],
    ['Content-Encoding identity', [['Content-Type', 'text/plain'], ['Content-Encoding', 'identity']], '200 OK'],
    ['Cache-Control: no-transform', [['Content-Type', 'text/plain'], ['Cache-Control', 'public, No-Transform']], '200 OK'],
    ['a 206', [['Content-Type', 'text/plain'], ['Content-Range', `bytes 0-${TEXT.length - 1}/${TEXT.length * 2}`]], '206 Partial Content'],
    ['Content-Range on a 200', [['Content-Type', 'text/plain'], ['Content-Range', 'bytes */1']], '200 OK'],
  ];
  for (const [what, headers, status] of untouched) {
    it(`${what}: as it is, without Vary`, async function () {
      const get = await serve(textApp(headers, [TEXT], status));
      const r = await get('/', { 'Accept-Encoding': 'gzip, br' });
      assert.equal(r.status, Number(status.slice(0, 3)));
      assert.equal(r.headers['content-encoding'], headers.find(([n]) => n === 'Content-Encoding')?.[1]);
      assert.equal(r.headers.vary, undefined);
      assert.equal(r.body, TEXT);
    });
  }

  it('204 and 304', async function () {
    for (const status of ['204 No Content', '304 Not Modified']) {
      const get = await serve(textApp([['Content-Type', 'text/plain'], ['ETag', '"x"']], [], status));
      const r = await get('/', { 'Accept-Encoding': 'gzip' });
      assert.equal(r.status, Number(status.slice(0, 3)));
      assert.equal(r.headers['content-encoding'], undefined);
      assert.equal(r.headers.etag, '"x"');
    }
  });

  it('HEAD: the headers GET would have (Content-Encoding, Vary, no Content-Length), no body, no compressor', async function () {
    const close = mustCall();
    const body = Object.assign([TEXT], { close });
    const get = await serve(textApp([['Content-Type', 'text/plain'], ['Content-Length', String(TEXT.length)]], body));
    const r = await get('/', { 'Accept-Encoding': 'gzip' }, 'HEAD');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(r.headers.vary, 'Accept-Encoding');
    assert.equal(r.headers['content-length'], undefined);
    assert.equal(r.bytes.length, 0);
  });

  it('a filter of its own', async function () {
    const get = await serve(textApp([['Content-Type', 'image/png']]), { filter: (type) => type === 'image/png' });
    const r = await get('/', { 'Accept-Encoding': 'gzip' });
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(decode(r), TEXT);
  });
});

describe('compress: headers of a compressed response', function () {
  it('makes a strong ETag weak, keeps a weak one, drops Accept-Ranges and Content-Length, and merges Vary', async function () {
    const headers: HeaderPair[] = [['Content-Type', 'text/plain'], ['ETag', '"v1"'], ['Accept-Ranges', 'bytes'], ['Content-Length', String(TEXT.length)], ['Vary', 'Cookie']];
    const get = await serve(textApp(headers));
    const r = await get('/', { 'Accept-Encoding': 'gzip' });
    assert.equal(r.headers.etag, 'W/"v1"');
    assert.equal(r.headers['accept-ranges'], undefined);
    assert.equal(r.headers['content-length'], String(r.bytes.length));
    assert.equal(r.headers.vary, 'Cookie, Accept-Encoding');
    assert.equal(decode(r), TEXT);
    // The app's header list is its own: nothing was added to it.
    assert.equal(headers.length, 5);
    const weak = await serve(textApp([['Content-Type', 'text/plain'], ['ETag', 'W/"v2"'], ['Vary', 'accept-encoding']]));
    const w = await weak('/', { 'Accept-Encoding': 'gzip' });
    assert.equal(w.headers.etag, 'W/"v2"');
    assert.equal(w.headers.vary, 'accept-encoding');
  });

  it('leaves Vary: * as it is', async function () {
    const get = await serve(textApp([['Content-Type', 'text/plain'], ['Vary', '*']]));
    const r = await get('/', { 'Accept-Encoding': 'gzip' });
    assert.equal(r.headers.vary, '*');
    assert.equal(r.headers['content-encoding'], 'gzip');
  });
});

describe('compress: every body shape', function () {
  const chunks = Array.from({ length: 20 }, (_, i) => `chunk ${i}: ${'x'.repeat(200)}\n`);
  const whole = chunks.join('');
  const shapes: Array<[string, Application]> = [
    ['a string', (_e, sr) => { sr('200 OK', [['Content-Type', 'text/plain']]); return whole; }],
    ['a Buffer', (_e, sr) => { sr('200 OK', [['Content-Type', 'text/plain']]); return Buffer.from(whole); }],
    ['a sync generator calling startResponse on its first step', function* (_e, sr) { sr('200 OK', [['Content-Type', 'text/plain']]); yield* chunks; }],
    ['an async generator', async function* (_e, sr) { sr('200 OK', [['Content-Type', 'text/plain']]); for (const c of chunks) yield Buffer.from(c); }],
    ['an async app returning an array', async (_e, sr) => { sr('200 OK', [['Content-Type', 'text/plain']]); return chunks; }],
    ['write() and an empty array', async (_e, sr) => {
      const write = sr('200 OK', [['Content-Type', 'text/plain']]);
      for (const c of chunks) await write(c);
      return [];
    }],
    ['write() without awaiting, then a generator', (_e, sr) => {
      const write = sr('200 OK', [['Content-Type', 'text/plain']]);
      void write(chunks[0]!);
      void write(chunks[1]!);
      return (function* () { yield* chunks.slice(2); })();
    }],
    ['empty chunks in between', function* (_e, sr) { sr('200 OK', [['Content-Type', 'text/plain']]); for (const c of chunks) { yield ''; yield c; } yield new Uint8Array(0); }],
  ];
  for (const [what, app] of shapes) {
    it(`${what}: compressed with gzip and br, and whole`, async function () {
      const get = await serve(app);
      for (const enc of ['gzip', 'br']) {
        const r = await get('/', { 'Accept-Encoding': enc });
        assert.equal(r.status, 200, r.body);
        assert.equal(r.headers['content-encoding'], enc);
        assert.equal(decode(r), whole);
      }
      const plain = await get('/');
      assert.equal(plain.body, whole);
    });
  }

  it('a file_wrapper body: compressed when accepted, and untouched otherwise (the server still knows its size)', async function () {
    const dir = tempDir('gw-compress-');
    const file = path.join(dir, 'a.txt');
    writeFileSync(file, whole);
    const get = await serve((environ, sr) => {
      sr('200 OK', [['Content-Type', 'text/plain']]);
      return environ['wsgi.file_wrapper'](file);
    });
    const r = await get('/', { 'Accept-Encoding': 'gzip' });
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(decode(r), whole);
    const plain = await get('/');
    assert.equal(plain.headers['content-length'], String(whole.length));
    assert.equal(plain.body, whole);
  });

  it('an empty generator that answers with startResponse at its end: identity', async function () {
    const get = await serve(function* (_e, sr) {
      sr('200 OK', [['Content-Type', 'text/plain']]);
      yield* [];
    });
    const r = await get('/', { 'Accept-Encoding': 'gzip' });
    assert.equal(r.headers['content-encoding'], undefined);
    assert.equal(r.body, '');
  });

  it('calls the body\'s close() exactly once, compressed or not', async function () {
    for (const ae of ['gzip', 'identity']) {
      const close = mustCall();
      const get = await serve((_e, sr) => {
        sr('200 OK', [['Content-Type', 'text/plain']]);
        return Object.assign((function* () { yield* chunks; })(), { close });
      });
      const r = await get('/', { 'Accept-Encoding': ae });
      assert.equal(decode(r), whole);
      const arrayClose = mustCall();
      const getArray = await serve((_e, sr) => {
        sr('200 OK', [['Content-Type', 'text/plain']]);
        return Object.assign([...chunks], { close: arrayClose });
      });
      assert.equal(decode(await getArray('/', { 'Accept-Encoding': ae })), whole);
    }
  });

  it('an error page given with excInfo replaces the response before anything was sent', async function () {
    const get = await serve(function* (_e, sr) {
      sr('200 OK', [['Content-Type', 'image/png']]);
      try {
        throw new Error('boom');
      } catch (err) {
        sr('500 Internal Server Error', [['Content-Type', 'text/plain']], err);
        yield TEXT;
      }
    });
    const r = await get('/', { 'Accept-Encoding': 'gzip' });
    assert.equal(r.status, 500);
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.equal(decode(r), TEXT);
  });

  it('an app that throws gets the server\'s 500', async function () {
    const get = await serve(() => {
      throw new Error('boom');
    });
    const r = await get('/', { 'Accept-Encoding': 'gzip' });
    assert.equal(r.status, 500);
  });
});
