/**
 * A 1 GiB response to a slow reader, and a 1 GiB upload to a slow app, must
 * not grow the worker's memory much: backpressure has to hold the data in
 * the peer (and the kernel's socket buffers), not in the worker.
 *
 * Each test starts its own gwserver serving test/fixtures/apps/stream.mjs,
 * warms it up, takes the worker's VmRSS (from /proc/PID/status: the
 * process's resident memory, not the test runner's heap) as the baseline,
 * then moves the full 1 GiB over a raw node:net socket while sampling VmRSS
 * every 100 ms, and asserts the peak is less than 32 MiB over the baseline.
 *
 * The slow side is slow for real, and the tests show the server waited:
 * during the slow phase the app's own counters (GET /progress) show that
 * the download generator was pulled for, or the client could push, only a
 * few MiB, far below 1 GiB, which is what any server that buffered instead
 * of waiting would reach within a second.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { startGwserver, type Gwserver } from '../helpers/gwserver.js';
import { get } from '../helpers/http.js';

const MiB = 1024 * 1024;
const GIB = 1024 * MiB;
const CHUNK = 64 * 1024;
/** The largest RSS growth allowed, by the issue. */
// Issue 4 sets 32 MiB (issue 2 asked for 64); measured peaks are 1-17 MiB.
const LIMIT = 32 * MiB;
/** How long the slow side is slow, and how slowly the download reader reads meanwhile. */
const SLOW_MS = 5000;
const SLOW_RATE = 1 * MiB; // bytes per second
/** Upload: the app sleeps this long before each of its first reads, for SLOW_MS in all. */
const SLEEP_MS = 100;
const SLOW_READS = SLOW_MS / SLEEP_MS;

const APP = 'test/fixtures/apps/stream.mjs:application';

/** Body byte at offset o is o & 0xff (as the fixture sends and checks). */
const PATTERN = Buffer.alloc(CHUNK);
for (let i = 0; i < CHUNK; i++) PATTERN[i] = i & 0xff;
const REF = Buffer.alloc(CHUNK + 256);
for (let i = 0; i < REF.length; i++) REF[i] = i & 0xff;

const mib = (n: number) => (n / MiB).toFixed(1);

/** Sockets opened by a test; all destroyed after it, whatever happened. */
const sockets = new Set<net.Socket>();
function track(socket: net.Socket): net.Socket {
  sockets.add(socket);
  socket.once('close', () => sockets.delete(socket));
  return socket;
}

/** Resident memory of a process in bytes, from /proc/PID/status (VmRSS is in kB). */
function vmRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Samples a process's VmRSS every 100 ms until stopped; keeps the peak. */
class RssSampler {
  readonly pid: number;
  readonly baseline: number;
  peak: number;
  samples = 0;
  #timer: NodeJS.Timeout;

  constructor(pid: number) {
    this.pid = pid;
    this.baseline = vmRss(pid);
    this.peak = this.baseline;
    this.#timer = setInterval(() => this.sample(), 100);
  }

  sample(): void {
    const rss = vmRss(this.pid);
    this.samples++;
    if (rss > this.peak) this.peak = rss;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.sample();
  }

  get growth(): number {
    return this.peak - this.baseline;
  }
}
const samplers = new Set<RssSampler>();

/** GET a small JSON document on its own connection (no pooled socket is left behind). */
async function getJson(server: Gwserver, path: string): Promise<Record<string, number>> {
  const r = await get(server, path);
  assert.equal(r.status, 200);
  return JSON.parse(r.body) as Record<string, number>;
}

/** Streaming decoder of a chunked body: hands out data pieces, says when the last chunk was seen. */
class ChunkedDecoder {
  #state: 'size' | 'data' | 'crlf' | 'trailer' | 'done' = 'size';
  #line = '';
  #left = 0;

  get done(): boolean {
    return this.#state === 'done';
  }

  /** Feeds raw bytes; calls onData for each piece of chunk data. */
  push(buf: Buffer, onData: (piece: Buffer) => void): void {
    let i = 0;
    while (i < buf.length) {
      switch (this.#state) {
        case 'size':
        case 'crlf':
        case 'trailer': {
          const nl = buf.indexOf(10, i);
          const end = nl < 0 ? buf.length : nl + 1;
          this.#line += buf.toString('latin1', i, end);
          i = end;
          if (this.#line.length > 1024) throw new Error('chunked framing: line too long');
          if (nl < 0) break;
          const line = this.#line.replace(/\r?\n$/, '');
          this.#line = '';
          if (this.#state === 'crlf') {
            if (line !== '') throw new Error(`chunked framing: expected CRLF after data, got ${JSON.stringify(line)}`);
            this.#state = 'size';
          } else if (this.#state === 'trailer') {
            if (line === '') this.#state = 'done';
          } else {
            const m = /^([0-9a-fA-F]+)(?:;.*)?$/.exec(line);
            if (!m) throw new Error(`chunked framing: bad size line ${JSON.stringify(line)}`);
            this.#left = parseInt(m[1]!, 16);
            this.#state = this.#left === 0 ? 'trailer' : 'data';
          }
          break;
        }
        case 'data': {
          const n = Math.min(this.#left, buf.length - i);
          onData(buf.subarray(i, i + n));
          i += n;
          this.#left -= n;
          if (this.#left === 0) this.#state = 'crlf';
          break;
        }
        case 'done':
          throw new Error('bytes after the end of the chunked body');
      }
    }
  }
}

interface DownloadResult {
  status: number;
  headers: Record<string, string>;
  bytes: number;
  ms: number;
  /** Body bytes received when the slow phase ended. */
  slowReceived: number;
  /** Bytes the app's generator had been pulled for at that moment. */
  slowYielded: number;
}

/**
 * Downloads /download with a reader that, for `slowMs`, takes at most
 * `rate` bytes per second off the socket (the socket stays paused the rest
 * of the time, so the kernel's receive window fills and the server's writes
 * wait), then reads at full speed. Checks framing and every byte.
 */
function slowDownload(server: Gwserver, opts: { id: string; cl: boolean; size: number; slowMs: number; rate: number }): Promise<DownloadResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = track(net.connect({ host: server.host, port: server.port }));
    let head: Buffer | undefined = Buffer.alloc(0);
    let status = 0;
    const headers: Record<string, string> = {};
    let length: number | undefined;
    let chunked: ChunkedDecoder | undefined;
    let bytes = 0;
    let slow = opts.slowMs > 0;
    let allowance = 0;
    let last = Date.now();
    let slowReceived = 0;
    let slowYielded = 0;
    let settled = false;
    const ticker = setInterval(() => {
      const now = Date.now();
      // At most two ticks' worth, so a late tick does not turn into a burst.
      allowance = Math.min(allowance + (opts.rate * (now - last)) / 1000, (opts.rate * 40) / 1000);
      last = now;
      pump();
    }, 20);
    const slowTimer = slow && setTimeout(() => {
      // End of the slow phase: ask the app how far the server pulled it, then go full speed.
      slowReceived = bytes;
      getJson(server, `/progress?id=${opts.id}`).then((p) => {
        slowYielded = p.yielded!;
        slow = false;
        clearInterval(ticker);
        pump();
      }, fail);
    }, opts.slowMs);
    if (!slow) clearInterval(ticker);

    function finish(err?: Error): void {
      if (settled) return;
      settled = true;
      clearInterval(ticker);
      if (slowTimer) clearTimeout(slowTimer);
      socket.destroy();
      if (err) reject(err);
      else resolve({ status, headers, bytes, ms: Date.now() - started, slowReceived, slowYielded });
    }
    function fail(err: Error): void {
      finish(err);
    }

    function body(piece: Buffer): void {
      // Compare with the pattern in pieces of at most 64 KiB (one memcmp each).
      for (let i = 0; i < piece.length; i += CHUNK) {
        const part = piece.subarray(i, Math.min(piece.length, i + CHUNK));
        const start = bytes & 0xff;
        if (!part.equals(REF.subarray(start, start + part.length))) {
          throw new Error(`body byte mismatch near offset ${bytes}`);
        }
        bytes += part.length;
      }
    }

    function consume(buf: Buffer): void {
      if (head !== undefined) {
        head = Buffer.concat([head, buf]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > 16384) throw new Error('response head too long');
          return;
        }
        const lines = head.toString('latin1', 0, end).split('\r\n');
        const m = /^HTTP\/1\.1 (\d{3}) /.exec(lines[0]!);
        if (!m) throw new Error(`bad status line ${JSON.stringify(lines[0])}`);
        status = Number(m[1]);
        for (const line of lines.slice(1)) {
          const c = line.indexOf(':');
          headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
        }
        const rest = head.subarray(end + 4);
        head = undefined;
        if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) chunked = new ChunkedDecoder();
        else if (headers['content-length'] !== undefined) length = Number(headers['content-length']);
        else throw new Error(`response has neither Content-Length nor chunked: ${JSON.stringify(headers)}`);
        buf = rest;
      }
      if (chunked) {
        chunked.push(buf, body);
        if (chunked.done) finish();
      } else {
        if (bytes + buf.length > length!) throw new Error(`more than Content-Length ${length} bytes`);
        body(buf);
        if (bytes === length) finish();
      }
    }

    function pump(): void {
      if (settled) return;
      try {
        while (!slow || allowance > 0) {
          const buf = socket.read() as Buffer | null;
          if (buf === null) break;
          allowance -= buf.length;
          consume(buf);
          if (settled) return;
        }
      } catch (err) {
        fail(err as Error);
      }
    }

    // Paused mode: nothing is taken off the socket except by pump().
    socket.on('readable', pump);
    socket.on('error', fail);
    socket.on('end', () => finish(new Error(`connection closed after ${bytes} body bytes`)));
    socket.on('connect', () => {
      socket.write(`GET /download?id=${opts.id}&size=${opts.size}${opts.cl ? '&cl=1' : ''} HTTP/1.1\r\nHost: ${server.host}:${server.port}\r\nConnection: close\r\n\r\n`);
    });
  });
}

interface UploadResult {
  status: number;
  response: { bytes: number; mismatchAt: number };
  ms: number;
  /** Bytes that had left the client (handed to the kernel) when the app was halfway through its slow reads. */
  slowSent: number;
  /** Bytes the app had read at that moment. */
  slowRead: number;
}

/**
 * POSTs `size` bytes of the pattern from one reused buffer, with
 * Content-Length or chunked, always waiting for 'drain' when write()
 * says so. Meanwhile polls /progress; the sample taken while the app is in
 * the middle of its slow reads says how much the client could push.
 */
function upload(server: Gwserver, opts: { id: string; chunked: boolean; size: number; slowReads: number; sleepMs: number }): Promise<UploadResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = track(net.connect({ host: server.host, port: server.port }));
    let handed = 0;
    let slowSent = -1;
    let slowRead = -1;
    let settled = false;
    const parts: Buffer[] = [];
    let drainWaiter: (() => void) | undefined;

    function finish(err?: Error): void {
      if (settled) return;
      settled = true;
      socket.destroy();
      drainWaiter?.();
      if (err) return reject(err);
      try {
        const text = Buffer.concat(parts).toString('latin1');
        const end = text.indexOf('\r\n\r\n');
        const m = /^HTTP\/1\.1 (\d{3}) /.exec(text);
        if (end < 0 || !m) throw new Error(`bad response: ${JSON.stringify(text.slice(0, 500))}`);
        const status = Number(m[1]);
        if (status !== 200) throw new Error(`status ${status}: ${text.slice(0, 500)}`);
        resolve({ status, response: JSON.parse(text.slice(end + 4)), ms: Date.now() - started, slowSent, slowRead });
      } catch (e) {
        reject(e as Error);
      }
    }

    // The response is small; gather it whenever it comes (an early error answer included).
    socket.on('data', (d: Buffer) => parts.push(d));
    socket.on('end', () => finish());
    socket.on('error', (err) => finish(err));
    socket.on('close', () => finish(new Error(`connection closed early after ${handed} bytes were handed over`)));
    socket.on('drain', () => { const w = drainWaiter; drainWaiter = undefined; w?.(); });

    // The side channel: one request at a time, until the app is past its slow reads.
    const slowEnd = opts.slowReads * CHUNK;
    const watch = async () => {
      while (!settled) {
        const sent = handed - socket.writableLength;
        const p = await getJson(server, `/progress?id=${opts.id}`);
        if (p.read! >= slowEnd || settled) return;
        if (p.read! >= slowEnd / 2) {
          slowSent = sent;
          slowRead = p.read!;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    };

    const send = async () => {
      await new Promise<void>((r) => socket.once('connect', () => r()));
      const framing = opts.chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${opts.size}`;
      socket.write(`POST /upload?id=${opts.id}&slow_reads=${opts.slowReads}&sleep_ms=${opts.sleepMs} HTTP/1.1\r\nHost: ${server.host}:${server.port}\r\n${framing}\r\nConnection: close\r\n\r\n`);
      const sizeLine = `${CHUNK.toString(16)}\r\n`;
      const watching = watch();
      for (let left = opts.size; left > 0 && !settled;) {
        const n = Math.min(CHUNK, left);
        const piece = n === CHUNK ? PATTERN : PATTERN.subarray(0, n);
        let ok: boolean;
        if (opts.chunked) {
          socket.cork();
          socket.write(n === CHUNK ? sizeLine : `${n.toString(16)}\r\n`);
          socket.write(piece);
          ok = socket.write('\r\n');
          socket.uncork();
        } else {
          ok = socket.write(piece);
        }
        handed += n;
        left -= n;
        if (!ok && !settled) await new Promise<void>((r) => { drainWaiter = r; });
      }
      if (opts.chunked && !settled) socket.write('0\r\n\r\n');
      await watching;
    };
    send().catch((err: Error) => finish(err));
  });
}

describe('memory: 1 GiB each way through one worker', function () {
  this.timeout(120_000);
  let server: Gwserver | undefined;

  beforeEach(async function () {
    if (process.platform !== 'linux') this.skip();
    server = await startGwserver([APP]);
    // Warm-up: the same code paths on small bodies, so JIT code, buffer
    // pools and socket buffers exist before the baseline is taken.
    for (const cl of [true, false]) {
      const r = await slowDownload(server, { id: `warm-d-${cl}`, cl, size: 8 * MiB, slowMs: 0, rate: 0 });
      assert.equal(r.bytes, 8 * MiB);
    }
    for (const chunked of [false, true]) {
      const r = await upload(server, { id: `warm-u-${chunked}`, chunked, size: 8 * MiB, slowReads: 0, sleepMs: 0 });
      assert.equal(r.response.bytes, 8 * MiB);
    }
  });

  afterEach(async function () {
    for (const s of samplers) s.stop();
    samplers.clear();
    for (const s of sockets) s.destroy();
    sockets.clear();
    await server?.stop();
    server = undefined;
  });

  function sampler(): RssSampler {
    // The worker's RSS, not the master's: with one worker, the master's only child.
    const workers = server!.workerPids();
    assert.equal(workers.length, 1, `one worker expected, found ${workers.join(', ')}`);
    const s = new RssSampler(workers[0]!);
    samplers.add(s);
    return s;
  }

  function report(what: string, rss: RssSampler, ms: number, extra: string): void {
    console.log(`      ${what}: worker RSS baseline ${mib(rss.baseline)} MiB, peak ${mib(rss.peak)} MiB, growth ${mib(rss.growth)} MiB (${rss.samples} samples), in ${(ms / 1000).toFixed(1)} s; ${extra}`);
  }

  for (const cl of [true, false]) {
    const framing = cl ? 'Content-Length' : 'chunked';
    it(`sends a 1 GiB ${framing} response to a slow reader with worker RSS growth < 32 MiB`, async function () {
      const rss = sampler();
      const r = await slowDownload(server!, { id: `d-${framing}`, cl, size: GIB, slowMs: SLOW_MS, rate: SLOW_RATE });
      rss.stop();
      report(`download 1 GiB (${framing})`, rss, r.ms,
        `slow phase (${SLOW_MS / 1000} s at ${mib(SLOW_RATE)} MiB/s): client read ${mib(r.slowReceived)} MiB, app pulled for ${mib(r.slowYielded)} MiB`);

      assert.equal(r.status, 200);
      if (cl) assert.equal(r.headers['content-length'], String(GIB));
      else assert.equal(r.headers['transfer-encoding'], 'chunked');
      assert.equal(r.bytes, GIB);
      assert.ok(rss.samples >= 10, `only ${rss.samples} RSS samples`);
      assert.ok(rss.growth < LIMIT, `worker RSS grew by ${mib(rss.growth)} MiB (baseline ${mib(rss.baseline)} MiB, peak ${mib(rss.peak)} MiB)`);
      // The reader was slow, and the server waited for it: the generator
      // was pulled only as far as the socket buffers could take.
      assert.ok(r.slowReceived <= (SLOW_RATE * SLOW_MS) / 1000 + 2 * MiB, `the slow reader read ${r.slowReceived} bytes`);
      assert.ok(r.slowYielded < LIMIT, `during the slow phase the server pulled ${r.slowYielded} bytes from the app`);
    });
  }

  for (const chunked of [false, true]) {
    const framing = chunked ? 'chunked' : 'Content-Length';
    it(`reads a 1 GiB ${framing} upload with a slow app with worker RSS growth < 32 MiB`, async function () {
      const rss = sampler();
      const r = await upload(server!, { id: `u-${framing}`, chunked, size: GIB, slowReads: SLOW_READS, sleepMs: SLEEP_MS });
      rss.stop();
      report(`upload 1 GiB (${framing})`, rss, r.ms,
        `slow phase (${SLOW_READS} reads ${SLEEP_MS} ms apart): app had read ${mib(r.slowRead)} MiB, client had pushed ${mib(r.slowSent)} MiB`);

      assert.deepEqual(r.response, { bytes: GIB, mismatchAt: -1 });
      assert.ok(rss.samples >= 10, `only ${rss.samples} RSS samples`);
      assert.ok(rss.growth < LIMIT, `worker RSS grew by ${mib(rss.growth)} MiB (baseline ${mib(rss.baseline)} MiB, peak ${mib(rss.peak)} MiB)`);
      // The app was slow, and the client was held back: it could push only
      // what the socket buffers hold, not the whole GiB.
      assert.ok(r.slowSent >= 0, 'no progress sample was taken during the slow reads');
      assert.ok(r.slowSent < LIMIT, `while the app read slowly the client pushed ${r.slowSent} bytes`);
    });
  }
});
