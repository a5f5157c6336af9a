/**
 * compress() in a real `gwserver -w 2` (test/fixtures/apps/compress.mjs):
 * Accept-Encoding q-values end to end, HEAD, what is left alone,
 * server-sent events arriving event by event through gzip and brotli (the
 * first event is read and decoded while the stream is still open), a
 * stream pulled only as fast as the slow client takes it (and stopped when
 * it leaves), and 1 GiB compressed with gzip and with brotli at the
 * default streaming quality with the worker's RSS growing less than 32 MiB
 * beyond its peak with a 64 MiB body (on a `-w 1` server of its own).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import zlib from 'node:zlib';
import { startGwserver, type Gwserver } from '../helpers/gwserver.js';
import { download } from '../helpers/download.js';
import { get, request } from '../helpers/http.js';
import { mib, RssSampler } from '../helpers/proc.js';
import { afterTest } from '../helpers/scope.js';
import { until } from '../helpers/until.js';

const MiB = 1024 * 1024;
const GIB = 1024 * MiB;
const LIMIT = 32 * MiB;
const APP = 'test/fixtures/apps/compress.mjs:application';
const HAS_ZSTD = typeof (zlib as { createZstdCompress?: unknown }).createZstdCompress === 'function';

function decoder(enc: string | undefined): zlib.Gunzip | zlib.BrotliDecompress | undefined {
  if (enc === 'gzip') return zlib.createGunzip();
  if (enc === 'br') return zlib.createBrotliDecompress();
  if (enc === 'zstd') return (zlib as unknown as { createZstdDecompress(): zlib.Gunzip }).createZstdDecompress();
  return undefined;
}

function decodeAll(enc: string | undefined, bytes: Buffer): string {
  if (enc === 'gzip') return zlib.gunzipSync(bytes).toString();
  if (enc === 'br') return zlib.brotliDecompressSync(bytes).toString();
  if (enc === 'zstd') return (zlib as unknown as { zstdDecompressSync(b: Buffer): Buffer }).zstdDecompressSync(bytes).toString();
  return bytes.toString();
}

describe('compress: a real gwserver -w 2', function () {
  this.timeout(180_000);
  let server: Gwserver;

  before(async function () {
    server = await startGwserver(['-w', '2', APP]);
    await server.waitWorkers(2);
  });

  after(async function () {
    await server?.stop();
  });

  const table: Array<[string | undefined, string | undefined]> = [
    [undefined, undefined],
    ['identity', undefined],
    ['gzip', 'gzip'],
    ['br', 'br'],
    ['gzip, deflate, br', 'br'],
    ['gzip, deflate, br, zstd', HAS_ZSTD ? 'br' : 'br'],
    ['zstd', HAS_ZSTD ? 'zstd' : undefined],
    ['br;q=0.2, gzip;q=0.8', 'gzip'],
    ['br;q=0, gzip', 'gzip'],
    ['gzip;q=0, br;q=0', undefined],
    ['*', 'br'],
    ['*;q=0', undefined],
    ['gzip;q=1.5, br', 'br'],
    ['deflate', undefined],
    ['x-gzip', 'gzip'],
  ];
  for (const [ae, enc] of table) {
    it(`Accept-Encoding ${JSON.stringify(ae)} -> ${enc ?? 'identity'}`, async function () {
      const r = await request(server, { path: '/text?size=100000', headers: ae === undefined ? {} : { 'Accept-Encoding': ae } });
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-encoding'], enc);
      assert.equal(r.headers.vary, 'Accept-Encoding');
      assert.equal(r.headers.etag, enc === undefined ? '"t1"' : 'W/"t1"');
      const text = decodeAll(enc, r.bytes);
      assert.equal(text.length, 100_000);
      assert.match(text, /^line 0: the quick brown fox/);
      if (enc !== undefined) assert.ok(r.bytes.length < 20_000, `${r.bytes.length} bytes`);
    });
  }

  it('an array body keeps an exact Content-Length; a stream with one loses it; HEAD says what GET would', async function () {
    const a = await request(server, { path: '/array', headers: { 'Accept-Encoding': 'br' } });
    assert.equal(a.headers['content-encoding'], 'br');
    assert.equal(a.headers['content-length'], String(a.bytes.length));
    assert.equal(decodeAll('br', a.bytes).length, 20_000);
    const s = await request(server, { path: '/text?size=50000&cl=1', headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(s.headers['content-length'], undefined);
    assert.equal(s.headers['transfer-encoding'], 'chunked');
    assert.equal(decodeAll('gzip', s.bytes).length, 50_000);
    const h = await request(server, { path: '/text?size=50000&cl=1', method: 'HEAD', headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(h.status, 200);
    assert.equal(h.headers['content-encoding'], 'gzip');
    assert.equal(h.headers['content-length'], undefined);
    assert.equal(h.bytes.length, 0);
    const plainHead = await request(server, { path: '/text?size=50000&cl=1', method: 'HEAD' });
    assert.equal(plainHead.headers['content-length'], '50000');
  });

  it('leaves small bodies and images alone', async function () {
    const small = await request(server, { path: '/small', headers: { 'Accept-Encoding': 'gzip, br' } });
    assert.equal(small.headers['content-encoding'], undefined);
    assert.equal(small.body, 'small text');
    const png = await request(server, { path: '/png', headers: { 'Accept-Encoding': 'gzip, br' } });
    assert.equal(png.headers['content-encoding'], undefined);
    assert.equal(png.headers.vary, undefined);
    assert.equal(png.bytes.length, 4096);
  });

  for (const enc of ['gzip', 'br', 'identity']) {
    it(`server-sent events through ${enc}: the first event is readable while the stream is still open`, async function () {
      const received: string[] = [];
      let status = 0;
      let encoding: string | undefined;
      const req = http.get({ host: server.host, port: server.port, path: '/sse', agent: false, headers: { 'Accept-Encoding': enc } }, (res) => {
        status = res.statusCode ?? 0;
        encoding = res.headers['content-encoding'];
        const d = decoder(encoding);
        if (d === undefined) res.on('data', (c: Buffer) => received.push(c.toString()));
        else {
          res.pipe(d);
          d.on('data', (c: Buffer) => received.push(c.toString()));
          d.on('error', () => undefined);
        }
      });
      req.on('error', () => undefined);
      try {
        await until(() => received.join('').includes('data: first\n\n'), 10_000, () => `the first event (got ${JSON.stringify(received.join(''))})`);
        assert.equal(status, 200);
        assert.equal(encoding, enc === 'identity' ? undefined : enc);
        // The app is still waiting for the client to leave: nothing after the first event yet.
        assert.ok(!received.join('').includes('last'), received.join(''));
      } finally {
        req.destroy();
      }
    });
  }

  /** Transfer `id`'s progress, from the worker that serves it (each request may reach either worker). */
  const progressOf = (id: string) => until(async () => JSON.parse((await get(server, `/progress?id=${id}`)).body) as { yielded: number; closed: boolean } | null,
    10_000, `the worker serving ${id} to answer /progress`, 0);

  it('pulls a stream only as fast as a slow client reads it, and stops it when the client leaves', async function () {
    const id = `slow-${Date.now()}`;
    let atSlowEnd: { yielded: number; closed: boolean } | undefined;
    const leave = new Error('leaving');
    await assert.rejects(download(server, `/big?kind=b64&size=${512 * MiB}&id=${id}`, {
      headers: { 'Accept-Encoding': 'gzip' },
      slow: { ms: 3000, rate: MiB },
      onSlowEnd: async () => {
        atSlowEnd = await progressOf(id);
        throw leave;
      },
    }), (err) => err === leave);
    assert.ok(atSlowEnd !== undefined);
    console.log(`      after 3 s at 1 MiB/s the app had been pulled for ${mib(atSlowEnd.yielded)} MiB of 512`);
    assert.ok(atSlowEnd.yielded < LIMIT, `the server pulled ${atSlowEnd.yielded} bytes while the client read ~3 MiB`);
    await until(async () => (await progressOf(id)).closed, 10_000, 'the generator to be stopped after the client left');
  });

  for (const enc of ['gzip', 'br']) {
    it(`compresses 1 GiB with ${enc} with the worker's RSS growing < 32 MiB beyond a 64 MiB body's peak (a -w 1 server of its own)`, async function () {
      // One worker of its own, so the warm-up and the 1 GiB reach the same
      // one; the baseline is its peak during the warm-up (the same path on a
      // small body), not its RSS at rest, which V8's memory reducer may have
      // shrunk meanwhile (see forms.test.ts): what is measured is what the
      // size costs, and a compressor that buffered would grow with it.
      const one = await startGwserver(['-w', '1', APP]);
      afterTest(() => one.stop());
      await one.waitWorkers(1);
      const warmRss = new RssSampler(one.workerPids());
      const warm = await download(one, `/big?size=${64 * MiB}&id=warm-${enc}`, { headers: { 'Accept-Encoding': enc } });
      warmRss.stop();
      assert.equal(warm.status, 200);
      const rss = new RssSampler(one.workerPids());
      const d = decoder(enc)!;
      let plain = 0;
      let first = '';
      d.on('data', (c: Buffer) => {
        if (first.length < 20) first += c.toString('latin1', 0, 20);
        plain += c.length;
      });
      const ended = new Promise<void>((resolve, reject) => { d.on('end', resolve); d.on('error', reject); });
      const r = await download(one, `/big?size=${GIB}&id=gib-${enc}`, {
        headers: { 'Accept-Encoding': enc },
        onData: (piece) => d.write(piece),
      });
      d.end();
      await ended;
      rss.stop();
      console.log(`      ${enc}: 1 GiB -> ${mib(r.bytes)} MiB in ${(r.ms / 1000).toFixed(1)} s; worker RSS ${rss.describe()}`);
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-encoding'], enc);
      assert.equal(plain, GIB);
      assert.match(first, /^line 0: /);
      assert.ok(rss.samples >= 10, `only ${rss.samples} samples`);
      const pid = one.workerPids()[0]!;
      const growth = rss.peak.get(pid)! - warmRss.peak.get(pid)!;
      console.log(`      ${enc}: worker peak RSS with 64 MiB ${mib(warmRss.peak.get(pid)!)} MiB, with 1 GiB ${mib(rss.peak.get(pid)!)} MiB`);
      assert.ok(growth < LIMIT, `worker RSS grew by ${mib(growth)} MiB beyond the 64 MiB body's peak (${warmRss.describe()}; ${rss.describe()})`);
    });
  }
});
