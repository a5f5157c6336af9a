/**
 * A seeded mutation fuzzer over gunicorn's request corpus and random
 * bytes, against a running worker of each interface over HTTP/1.1, and
 * over h2c (the corpus's requests as HTTP/2 frames, mutated frame by frame
 * and field by field): no worker exits, no 5xx answers a client's fault,
 * the worker's open-file count comes back, and a valid request is served
 * afterwards.
 *
 * A few seconds by default; GWSERVER_FUZZ_SECONDS=300 for a longer run,
 * GWSERVER_FUZZ_SEED=N to replay one (the seed is printed either way).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { eachInterface, ROOT, startGwserver, type Gwserver } from '../helpers/gwserver.js';
import { RawClient, rawRequest } from '../helpers/raw.js';
import { H2_PREFACE, frame, h2connect, h2request } from '../helpers/h2.js';
import net from 'node:net';
import { until } from '../helpers/until.js';

const SECONDS = Number(process.env.GWSERVER_FUZZ_SECONDS ?? 3);
const SEED = Number(process.env.GWSERVER_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const LANES = 8;
const APP = 'test/fixtures/apps/fuzz.mjs';

/** mulberry32: small, seedable, good enough to pick mutations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function corpus(): Buffer[] {
  const out: Buffer[] = [];
  for (const kind of ['valid', 'invalid']) {
    const dir = path.join(ROOT, 'test/fixtures/requests', kind);
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.http')).sort()) out.push(readFileSync(path.join(dir, f)));
  }
  return out;
}

const TOKENS = ['\r\n', '\n', '\r', ':', ' ', '\t', '\0', 'Transfer-Encoding: chunked\r\n', 'Content-Length: 5\r\n', 'Content-Length: -1\r\n',
  'Content-Length: 99999999999999999999\r\n', 'Host: a b\r\n', 'Expect: 100-continue\r\n', 'Connection: close\r\n', '0\r\n\r\n', 'ffffffff\r\n',
  'GET / HTTP/1.1\r\n', 'CONNECT x:1 HTTP/1.1\r\n', 'HTTP/1.0', 'HTTP/2.0', '%00', '%ff', '/../', '\xff', 'Upgrade: websocket\r\n'];

/** One input: a corpus request mutated a few times, or random bytes. */
function makeInput(rand: () => number, seeds: Buffer[]): Buffer {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  if (rand() < 0.05) return Buffer.from(Array.from({ length: Math.floor(rand() * 512) }, () => Math.floor(rand() * 256)));
  let b = Buffer.from(pick(seeds));
  const n = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(rand() * (b.length + 1));
    switch (Math.floor(rand() * 8)) {
      case 0: // flip a bit
        if (b.length > 0) b[at % b.length]! ^= 1 << Math.floor(rand() * 8);
        break;
      case 1: // a random byte in
        b = Buffer.concat([b.subarray(0, at), Buffer.from([Math.floor(rand() * 256)]), b.subarray(at)]);
        break;
      case 2: // a run out
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + Math.floor(rand() * 16))]);
        break;
      case 3: // a token in
        b = Buffer.concat([b.subarray(0, at), Buffer.from(pick(TOKENS), 'latin1'), b.subarray(at)]);
        break;
      case 4: // a slice repeated
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + Math.floor(rand() * 64)), b.subarray(at)]);
        break;
      case 5: // cut
        b = b.subarray(0, at);
        break;
      case 6: // CRLF -> LF everywhere
        b = Buffer.from(b.toString('latin1').replaceAll('\r\n', '\n'), 'latin1');
        break;
      default: // two requests in one (pipelining)
        b = Buffer.concat([b, pick(seeds)]);
    }
  }
  return b;
}

/** Sends the input, half-closes, and collects the status codes of what came back (until close, or 3 s). */
async function throwAt(port: number, input: Buffer): Promise<number[]> {
  const c = new RawClient(port);
  c.end(input);
  await c.waitClosed(3000).catch(() => undefined);
  c.destroy();
  return [...c.text.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
}

const openFiles = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

for (const [kind, target, flags] of eachInterface(APP)) {
  describe(`fuzz, ${kind} interface`, function () {
    this.timeout(60_000 + SECONDS * 1000);
    let srv: Gwserver;
    before(async () => {
      srv = await startGwserver(['-w', '1', ...flags, target]);
    });
    after(async () => { await srv?.stop(); });

    it(`survives ${SECONDS} s of mutated requests (seed ${SEED})`, async () => {
      const worker = srv.workerPids()[0]!;
      const before = openFiles(worker);
      const rand = prng(SEED);
      const seeds = corpus();
      const deadline = Date.now() + SECONDS * 1000;
      let tried = 0;
      const statuses = new Map<number, number>();
      const failures: string[] = [];
      const lane = async () => {
        while (Date.now() < deadline) {
          const input = makeInput(rand, seeds);
          tried++;
          for (const status of await throwAt(srv.port, input)) {
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
            if (status >= 500 && failures.length < 5) failures.push(`${status} for ${JSON.stringify(input.toString('latin1').slice(0, 300))}`);
          }
        }
      };
      await Promise.all(Array.from({ length: LANES }, lane));
      console.log(`      fuzz (${kind}): ${tried} inputs in ${SECONDS} s, seed ${SEED}; answers ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))} (replay: GWSERVER_FUZZ_SEED=${SEED})`);
      assert.deepEqual(failures, [], 'no 5xx for a client\'s fault');
      const exits = srv.records().filter((x) => x.level === 'error' || x.level === 'fatal' || /exit/i.test(String(x.msg)));
      assert.deepEqual(srv.workerPids(), [worker], `the worker never exited; the log: ${JSON.stringify(exits).slice(0, 3000)}`);
      await until(() => openFiles(worker) <= before + 5, 15_000, `the worker's open files back to ${before} (now ${openFiles(worker)})`);
      const r = await rawRequest({ port: srv.port }, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello');
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), '5');
    });
  });
}

// ---------------------------------------------------------------------------
// h2c: HTTP/2 frames

/** An HPACK integer with an n-bit prefix (RFC 7541 §5.1), the prefix's other bits in `first`. */
function hpackInt(value: number, n: number, first = 0): number[] {
  const max = (1 << n) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  value -= max;
  while (value >= 128) {
    out.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

/** A header block of literal fields without indexing, new names (RFC 7541 §6.2.2): any bytes at all. */
function hpack(fields: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    parts.push(Buffer.from([0x00, ...hpackInt(n.length, 7)]), n, Buffer.from(hpackInt(v.length, 7)), v);
  }
  return Buffer.concat(parts);
}

/** A corpus request (an HTTP/1 message) as HTTP/2 fields and a body, read loosely: the corpus is only a seed. */
function h2Fields(http1: Buffer): { fields: Array<[string, string]>; body: Buffer } {
  const text = http1.toString('latin1');
  let end = text.indexOf('\r\n\r\n');
  if (end < 0) end = text.length;
  const [line = '', ...rest] = text.slice(0, end).split(/\r?\n/);
  const [method = 'GET', target = '/'] = line.split(' ');
  const fields: Array<[string, string]> = [[':method', method], [':scheme', 'http'], [':path', target.startsWith('/') || target === '*' ? target : '/']];
  for (const l of rest) {
    const colon = l.indexOf(':');
    if (colon <= 0) continue;
    const name = l.slice(0, colon).trim().toLowerCase();
    const value = l.slice(colon + 1).trim();
    // HTTP/1's framing and connection fields have no place in HTTP/2: the mutations put faults back.
    if (['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'content-length'].includes(name)) continue;
    if (name === 'host') fields.splice(1, 0, [':authority', value]);
    else fields.push([name, value]);
  }
  return { fields, body: http1.subarray(Math.min(end + 4, http1.length)) };
}

const H2_TOKENS: Array<[string, string]> = [['connection', 'close'], ['transfer-encoding', 'chunked'], ['content-length', '5'], ['content-length', '-1'],
  ['content-length', '99999999999999999999'], ['host', 'a b'], ['host', 'other.example'], [':path', '/again'], [':method', 'CONNECT'], [':protocol', 'websocket'],
  ['X-Upper', 'x'], ['x-nul', 'a\0b'], ['x-crlf', 'a\r\nb: c'], ['te', 'gzip'], ['expect', '100-continue'], [':status', '200'], ['', 'empty'], ['cookie', 'a=1'],
  [':path', ''], [':authority', '%00'], ['x-long', 'y'.repeat(9000)]];

/** Frame types (RFC 9113 §6) and a few unknown ones. */
const FRAME_TYPES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0x42];

/** One h2c input: the preface, SETTINGS, one to three corpus requests as HEADERS (+ DATA), mutated; or garbage after the preface. */
function makeH2Input(rand: () => number, seeds: Buffer[]): Buffer {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const int = (n: number) => Math.floor(rand() * n);
  const randomBytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const frames: Buffer[] = [frame(4, 0, 0)];
  if (rand() < 0.05) return Buffer.concat([H2_PREFACE, randomBytes(int(512))]);
  const requests = 1 + int(3);
  for (let r = 0, id = 1; r < requests; r++, id += 2) {
    const { fields, body } = h2Fields(pick(seeds));
    if (rand() < 0.4) fields.splice(int(fields.length + 1), 0, pick(H2_TOKENS));
    if (rand() < 0.1 && fields.length > 0) fields.splice(int(fields.length), 1);
    const block = hpack(fields);
    const hasBody = body.length > 0 && rand() < 0.8;
    frames.push(frame(1, 0x4 | (hasBody ? 0 : 0x1), id, block));
    if (hasBody) frames.push(frame(0, 0x1, id, body.subarray(0, 16384)));
  }
  const n = int(4);
  for (let i = 0; i < n && frames.length > 1; i++) {
    const at = int(frames.length + 1);
    switch (int(10)) {
      case 0: { // flip a bit
        const f = Buffer.from(pick(frames));
        if (f.length > 0) f[int(f.length)]! ^= 1 << int(8);
        frames[int(frames.length)] = f;
        break;
      }
      case 1: // a random frame
        frames.splice(at, 0, frame(pick(FRAME_TYPES), int(256), int(8), randomBytes(int(64))));
        break;
      case 2: { // a lying length
        const f = Buffer.from(pick(frames));
        f.writeUIntBE(int(1 << 24), 0, 3);
        frames[int(frames.length)] = f;
        break;
      }
      case 3: // a frame twice (a stream reused)
        frames.splice(at, 0, pick(frames));
        break;
      case 4: // a frame dropped
        frames.splice(int(frames.length), 1);
        break;
      case 5: { // HEADERS left open, then CONTINUATION frames (CVE-2024-27316's shape)
        frames.splice(at, 0, frame(1, 0, 101, hpack([[':method', 'GET'], [':path', '/']])));
        for (let k = 0, m = int(200); k < m; k++) frames.splice(at + 1, 0, frame(9, 0, 101, hpack([[`x-${k}`, 'v'.repeat(int(100))]])));
        break;
      }
      case 6: { // WINDOW_UPDATE of 0 or the most
        const p = Buffer.alloc(4);
        p.writeUInt32BE(rand() < 0.5 ? 0 : 0x7fffffff);
        frames.splice(at, 0, frame(8, 0, int(4), p));
        break;
      }
      case 7: { // SETTINGS with random values (some out of range)
        const p = Buffer.alloc(6 * (1 + int(3)));
        for (let o = 0; o < p.length; o += 6) {
          p.writeUInt16BE(1 + int(8), o);
          p.writeUInt32BE(int(2 ** 32), o + 2);
        }
        frames.splice(at, 0, frame(4, 0, 0, p));
        break;
      }
      case 8: { // RST_STREAM, PING, GOAWAY, PRIORITY on itself
        const p = Buffer.alloc(8);
        p.writeUInt32BE(1);
        frames.splice(at, 0, frame(pick([3, 6, 7, 2]), 0, pick([0, 1, 3]), p.subarray(0, pick([4, 5, 8]))));
        break;
      }
      default: // cut short
        frames.splice(at);
    }
  }
  return Buffer.concat([H2_PREFACE, ...frames]);
}

/** Sends an h2c input and reads until the server closes, or it has been silent for 200 ms (at most 2 s). */
async function throwH2(port: number, input: Buffer): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise<void>((resolve) => {
    let quiet: NodeJS.Timeout;
    const done = () => {
      clearTimeout(quiet);
      clearTimeout(cap);
      resolve();
    };
    const cap = setTimeout(done, 2000);
    const arm = () => {
      clearTimeout(quiet);
      quiet = setTimeout(done, 200);
    };
    socket.on('data', arm);
    socket.once('close', done);
    socket.once('connect', () => {
      socket.write(input);
      arm();
    });
  });
  socket.destroy();
}

for (const [kind, target, flags] of eachInterface(APP)) {
  describe(`fuzz over h2c, ${kind} interface`, function () {
    this.timeout(60_000 + SECONDS * 1000);
    let srv: Gwserver;
    before(async () => {
      // The access log says what every stream was answered (HTTP/2 heads are HPACK-coded).
      // A session that nghttp2 gave up on mid-request (a connection error with streams open)
      // is never closed by Node: gwserver cuts it when it does not answer a PING within
      // --send-timeout; 5 s here, so that it is gone within the test's deadline.
      srv = await startGwserver(['-w', '1', '--http-protocols', 'h1,h2', '--http2-cleartext', ...(kind === 'node' ? ['--http2-node-apps'] : []),
        '--send-timeout', '5', '--access-logfile', '-', ...flags, target]);
    });
    after(async () => { await srv?.stop(); });

    it(`survives ${SECONDS} s of mutated HTTP/2 frames (seed ${SEED})`, async () => {
      const worker = srv.workerPids()[0]!;
      const before = openFiles(worker);
      const rand = prng(SEED);
      // The valid requests: the invalid ones are HTTP/1 framing faults, which have no HTTP/2 form.
      const seeds = corpus().slice(0, readdirSync(path.join(ROOT, 'test/fixtures/requests/valid')).filter((x) => x.endsWith('.http')).length);
      const deadline = Date.now() + SECONDS * 1000;
      let tried = 0;
      const lane = async () => {
        while (Date.now() < deadline) {
          tried++;
          await throwH2(srv.port, makeH2Input(rand, seeds));
        }
      };
      await Promise.all(Array.from({ length: LANES }, lane));
      const statuses = new Map<number, number>();
      const failures: string[] = [];
      for (const line of srv.stdout) {
        let r: { status?: number; method?: string; path?: string; protocol?: string };
        try {
          r = JSON.parse(line);
        } catch {
          continue;
        }
        if (typeof r.status !== 'number') continue;
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status >= 500 && failures.length < 5) failures.push(line.slice(0, 300));
      }
      console.log(`      fuzz over h2c (${kind}): ${tried} inputs in ${SECONDS} s, seed ${SEED}; answers ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))} (replay: GWSERVER_FUZZ_SEED=${SEED})`);
      assert.deepEqual(failures, [], 'no 5xx for a client\'s fault');
      const exits = srv.records().filter((x) => x.level === 'error' || x.level === 'fatal' || /exit/i.test(String(x.msg)));
      assert.deepEqual(srv.workerPids(), [worker], `the worker never exited; the log: ${JSON.stringify(exits).slice(0, 3000)}`);
      // Silent sessions are probed after 5 s and cut 5 s later (PROBE_MS, --send-timeout 5).
      await until(() => openFiles(worker) <= before + 5, 30_000, `the worker's open files back to ${before} (now ${openFiles(worker)})`);
      const session = await h2connect(srv.port);
      try {
        const r = await h2request(session, { ':path': '/', ':method': 'POST' }, 'hello');
        assert.equal(r.status, 200);
        assert.equal(r.text, '5');
      } finally {
        session.close();
      }
      assert.equal((await rawRequest({ port: srv.port }, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello')).status, 200);
    });
  });
}
