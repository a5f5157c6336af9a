/**
 * HTTP/2 (h2c by prior knowledge, --http2-cleartext): the same environ and
 * request under every interface (SERVER_PROTOCOL HTTP/2.0, Host from
 * :authority, no pseudo-header leaking), bodies without Content-Length,
 * the request id, Connection: close dropped, per-stream flow control,
 * Node's client, curl and h2load; GOAWAY on TERM and HUP with the streams
 * in flight finishing; a rapid-reset flood bounded; node apps over HTTP/1.x
 * unless --http2-node-apps; h2c only from --forwarded-allow-ips peers; bad
 * flags refused.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { constants } from 'node:http2';
import { eachInterface, runToExit, startGwserver, type Gwserver } from '../helpers/gwserver.js';
import { get } from '../helpers/http.js';
import { GET_ROOT, H2_PREFACE, HAVE_CURL_H2, HAVE_H2LOAD, frame, h2connect, h2request, parseH2load, rawH2, readFrames } from '../helpers/h2.js';
import { until } from '../helpers/until.js';

const run = promisify(execFile);
const APP = 'test/fixtures/apps/h2.mjs';
const H2C = ['--http-protocols', 'h1,h2', '--http2-cleartext'];

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]);
}

for (const [kind, target, flags] of eachInterface(APP)) {
  // A node app gets HTTP/2 only when the operator opts in.
  const optIn = kind === 'node' ? ['--http2-node-apps'] : [];
  describe(`HTTP/2 (h2c), ${kind} interface`, function () {
    this.timeout(30_000);
    let srv: Gwserver;
    before(async () => {
      srv = await startGwserver(['-w', '1', ...H2C, ...optIn, ...flags, target]);
    });
    after(async () => { await srv?.stop(); });

    it('says at boot which protocols it serves', async () => {
      const r = await srv.waitForRecord((x) => Array.isArray(x.protocols));
      assert.deepEqual(r.protocols, ['HTTP/1.1', 'h2c']);
    });

    it('serves the request as over HTTP/1.1: HTTP/2.0, Host from :authority, no pseudo-header, the request id', async () => {
      const session = await h2connect(srv.port);
      try {
        const r = await h2request(session, { ':path': '/env?a=1&b=%20', 'x-foo': 'bar', 'x-request-id': 'h2-test-id' });
        assert.equal(r.status, 200);
        const seen = JSON.parse(r.text);
        assert.equal(seen.protocol, 'HTTP/2.0');
        assert.equal(seen.method, 'GET');
        assert.equal(seen.host, `127.0.0.1:${srv.port}`);
        assert.equal(seen.path, '/env');
        assert.equal(seen.query, 'a=1&b=%20');
        assert.equal(seen.foo, 'bar');
        assert.deepEqual(seen.keys, []);
        assert.ok(!seen.names.some((n: string) => n.startsWith(':') || n.startsWith('-')), seen.names.join(' '));
        assert.equal(r.headers['x-request-id'], 'h2-test-id');
        // A made one when the client gives none.
        const made = await h2request(session, { ':path': '/env' });
        assert.match(String(made.headers['x-request-id']), /^[0-9a-f-]{36}$/);
      } finally {
        session.close();
      }
    });

    it('streams a request body without Content-Length, and one with', async () => {
      const session = await h2connect(srv.port);
      try {
        const body = Buffer.alloc(300_000, 'x');
        const r = await h2request(session, { ':path': '/env', ':method': 'POST' }, body);
        assert.equal(r.status, 200);
        assert.equal(JSON.parse(r.text).body, body.length);
        const sized = await h2request(session, { ':path': '/env', ':method': 'PUT', 'content-length': '5' }, 'hello');
        assert.equal(JSON.parse(sized.text).body, 5);
        assert.equal(JSON.parse(sized.text).method, 'PUT');
      } finally {
        session.close();
      }
    });

    it("drops the app's Connection: close (not an error) and keeps the connection", async () => {
      const session = await h2connect(srv.port);
      try {
        const r = await h2request(session, { ':path': '/close' });
        assert.equal(r.status, 200);
        assert.equal(r.headers.connection, undefined);
        const again = await h2request(session, { ':path': '/env' });
        assert.equal(again.status, 200);
      } finally {
        session.close();
      }
      assert.ok(!srv.records().some((x) => x.level >= 50), 'no error logged');
    });

    it('flow control per stream: a stream whose client does not read does not hold the others', async () => {
      const session = await h2connect(srv.port);
      try {
        const stuck = session.request({ ':path': '/stream?n=200' });
        stuck.on('error', () => {});
        stuck.pause();
        await new Promise((resolve) => stuck.once('response', resolve));
        for (let i = 0; i < 5; i++) {
          const r = await h2request(session, { ':path': '/env', 'x-foo': String(i) });
          assert.equal(JSON.parse(r.text).foo, String(i));
        }
        // The stuck stream's 12.5 MiB have not gone out: the server waits for its window.
        let got = 0;
        stuck.on('data', (c: Buffer) => { got += c.length; });
        stuck.resume();
        await new Promise((resolve) => stuck.once('end', resolve));
        assert.equal(got, 200 * 64 * 1024);
      } finally {
        session.close();
      }
    });

    it('HTTP/1.1 still on the same port', async () => {
      const r = await get(srv.port, '/env');
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.body).protocol, 'HTTP/1.1');
    });

    it('curl --http2-prior-knowledge', async function () {
      if (!HAVE_CURL_H2) this.skip();
      const { stdout } = await run('curl', ['-s', '--http2-prior-knowledge', '-H', 'X-Foo: curl', '-d', 'abc', '-w', '\n%{http_version} %{http_code}', `http://127.0.0.1:${srv.port}/env?c=1`]);
      const [json, tail] = stdout.split('\n');
      assert.equal(tail, '2 200');
      const seen = JSON.parse(json!);
      assert.equal(seen.protocol, 'HTTP/2.0');
      assert.equal(seen.foo, 'curl');
      assert.equal(seen.body, 3);
    });

    it('h2load: a short load run, zero errors', async function () {
      if (!HAVE_H2LOAD) {
        console.log('      (h2load not installed: apt-get install nghttp2-client)');
        this.skip();
      }
      const { stdout } = await run('h2load', ['-n', '3000', '-c', '4', '-m', '10', '-t', '1', `http://127.0.0.1:${srv.port}/env`], { timeout: 20_000 });
      const r = parseH2load(stdout);
      assert.deepEqual({ failed: r.failed, errored: r.errored, timeout: r.timeout, ok: r.status2xx }, { failed: 0, errored: 0, timeout: 0, ok: 3000 });
    });
  });
}

describe('HTTP/2 (h2c): a response cut short is a reset stream', function () {
  this.timeout(20_000);
  it('an app that sends fewer bytes than its Content-Length: RST_STREAM INTERNAL_ERROR, not a clean end', async () => {
    const srv = await startGwserver(['-w', '1', ...H2C, `${APP}:gateway`]);
    const session = await h2connect(srv.port);
    try {
      const r = await h2request(session, { ':path': '/short' });
      assert.equal(r.ended, false);
      assert.equal(r.rstCode, constants.NGHTTP2_INTERNAL_ERROR);
      // The connection carries on.
      assert.equal((await h2request(session, { ':path': '/env' })).status, 200);
    } finally {
      session.close();
      await srv.stop();
    }
  });
});

describe('HTTP/2 (h2c): graceful stop and reload', function () {
  this.timeout(30_000);
  for (const [kind, target, flags] of eachInterface(APP, ['gateway', 'fetch'])) {
    it(`${kind}: TERM sends GOAWAY; the stream in flight finishes; the master exits 0`, async () => {
      const srv = await startGwserver(['-w', '1', ...H2C, ...flags, target]);
      const session = await h2connect(srv.port);
      const goaway = new Promise<number>((resolve) => session.once('goaway', (code) => resolve(code)));
      // The response has begun (its head is out) before the stop.
      let headed!: () => void;
      const head = new Promise<void>((resolve) => { headed = resolve; });
      const slow = h2request(session, { ':path': '/inflight?ms=1000' }, undefined, 10_000, () => headed());
      await head;
      srv.proc.kill('SIGTERM');
      assert.equal(await goaway, constants.NGHTTP2_NO_ERROR);
      const r = await slow;
      assert.equal(r.status, 200);
      assert.equal(r.text, 'start done');
      assert.equal(r.ended, true);
      assert.equal((await srv.exited).code, 0);
      session.destroy();
    });
  }

  it('HUP: the old worker says GOAWAY, finishes its stream; new connections reach the new worker', async () => {
    const srv = await startGwserver(['-w', '1', ...H2C, `${APP}:gateway`]);
    try {
      const [old] = await srv.waitWorkers(1);
      const session = await h2connect(srv.port);
      const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()));
      let headed!: () => void;
      const head = new Promise<void>((resolve) => { headed = resolve; });
      const slow = h2request(session, { ':path': '/inflight?ms=1000' }, undefined, 10_000, () => headed());
      await head;
      process.kill(srv.pid, 'SIGHUP');
      await goaway;
      const r = await slow;
      assert.equal(r.status, 200);
      assert.equal(r.text, 'start done');
      await until(() => srv.workerPids().length === 1 && srv.workerPids()[0] !== old, 15_000, 'the new worker alone');
      const fresh = await h2connect(srv.port);
      try {
        assert.equal((await h2request(fresh, { ':path': '/env' })).status, 200);
      } finally {
        fresh.close();
      }
      session.destroy();
    } finally {
      await srv.stop();
    }
  });
});

describe('HTTP/2 (h2c): a session nghttp2 gave up on', function () {
  this.timeout(30_000);
  it('(a frame too large) is cut when it does not answer a PING; with a request open, TERM does not wait for the grace', async () => {
    const srv = await startGwserver(['-w', '1', ...H2C, `${APP}:gateway`]);
    const [worker] = await srv.readyWorkers(1);
    const fds = () => readdirSync(`/proc/${worker}/fd`).length;
    const before = fds();
    const clients = [];
    // POST /env (its body awaited), then a DATA frame header that claims 1 MiB: FRAME_SIZE_ERROR.
    const post = Buffer.from([0x83, 0x86, 0x04, 0x04, 0x2f, 0x65, 0x6e, 0x76, 0x01, 0x01, 0x61]);
    const big = frame(0, 0, 1);
    big.writeUIntBE(1 << 20, 0, 3);
    for (let i = 0; i < 5; i++) {
      const c = rawH2(srv.port);
      c.socket.write(Buffer.concat([H2_PREFACE, frame(4, 0, 0), big]));
      clients.push(c);
    }
    await until(() => fds() >= before + 5, 5000, 'the five connections');
    // The clients stay (and read nothing more): the server must cut their connections itself,
    // 5 s of silence and 5 s without an answer to its PING (with a request open, --send-timeout).
    await until(() => fds() <= before + 1, 20_000, () => `the connections cut (${fds() - before} left)`);
    for (const c of clients) c.socket.destroy();
    // And a stop with one such connection open is not held to --graceful-timeout (30 s).
    const c = rawH2(srv.port);
    c.socket.write(Buffer.concat([H2_PREFACE, frame(4, 0, 0), frame(1, 0x4, 1, post), big]));
    await until(() => fds() >= before + 1, 5000, 'the connection');
    const t0 = Date.now();
    srv.proc.kill('SIGTERM');
    assert.equal((await srv.exited).code, 0);
    assert.ok(Date.now() - t0 < 15_000, `the stop took ${Date.now() - t0} ms`);
    c.socket.destroy();
  });
});

describe('HTTP/2 (h2c): rapid reset (CVE-2023-44487)', function () {
  this.timeout(30_000);
  it('a client that sends HEADERS then RST_STREAM in a loop gets GOAWAY ENHANCE_YOUR_CALM; others are served; memory bounded', async () => {
    const srv = await startGwserver(['-w', '1', ...H2C, `${APP}:gateway`]);
    try {
      const [worker] = await srv.readyWorkers(1);
      const before = rssKiB(worker!);
      const c = rawH2(srv.port);
      c.socket.write(Buffer.concat([H2_PREFACE, frame(4, 0, 0)]));
      const cancel = Buffer.alloc(4);
      cancel.writeUInt32BE(constants.NGHTTP2_CANCEL);
      let id = 1;
      let pairs = 0;
      // Write until the server closes the connection, or 100,000 pairs (it must not take that many).
      await new Promise<void>((resolve) => {
        const pump = () => {
          if (c.socket.destroyed || pairs >= 100_000) return resolve();
          const batch: Buffer[] = [];
          for (let i = 0; i < 100; i++, pairs++, id += 2) batch.push(frame(1, 0x5, id, GET_ROOT), frame(3, 0, id, cancel));
          if (c.socket.write(Buffer.concat(batch))) setImmediate(pump);
          else c.socket.once('drain', pump);
        };
        c.socket.once('close', () => resolve());
        pump();
      });
      await Promise.race([c.closed, new Promise((resolve) => setTimeout(resolve, 5000))]);
      assert.ok(c.socket.destroyed, `the server did not close the connection after ${pairs} pairs`);
      await srv.waitForRecord((x) => /rapid reset/.test(String(x.msg)));
      // The GOAWAY goes out 50 ms before the connection is cut; a client still writing then may
      // see a reset that drops what it had not read yet: when it got the GOAWAY, it says why.
      // ENHANCE_YOUR_CALM is gwserver's; on a loaded machine nghttp2's own reset rate limit
      // (1.57+, in Node 20) can act first, while the worker's JavaScript is still counting the
      // resets it has been told of, and its GOAWAY says INTERNAL_ERROR.
      const goaway = readFrames(c.received()).find((f) => f.type === 7);
      if (goaway !== undefined) assert.ok([constants.NGHTTP2_ENHANCE_YOUR_CALM, constants.NGHTTP2_INTERNAL_ERROR].includes(goaway.payload.readUInt32BE(4)), `GOAWAY code ${goaway.payload.readUInt32BE(4)}`);
      // The worker serves on (the same one), over both protocols.
      const session = await h2connect(srv.port);
      try {
        assert.equal((await h2request(session, { ':path': '/env' })).status, 200);
      } finally {
        session.close();
      }
      assert.equal((await get(srv.port, '/env')).status, 200);
      assert.deepEqual(srv.workerPids(), [worker]);
      const grew = rssKiB(worker!) - before;
      assert.ok(grew < 100 * 1024, `the worker grew by ${grew} KiB`);
    } finally {
      await srv.stop();
    }
  });
});

describe('HTTP/2 (h2c): who gets it', function () {
  this.timeout(30_000);

  /** Sends the preface and a SETTINGS frame; resolves with what came back until the server closed (or 3 s). */
  async function prefaceAnswer(port: number): Promise<Buffer> {
    const c = rawH2(port);
    c.socket.write(Buffer.concat([H2_PREFACE, frame(4, 0, 0)]));
    await Promise.race([c.closed, new Promise((resolve) => setTimeout(resolve, 3000))]);
    c.socket.destroy();
    return c.received();
  }

  it('a node app: HTTP/1.x only by default (the preface is an HTTP/1.1 parse error), said at boot', async () => {
    const srv = await startGwserver(['-w', '1', ...H2C, '--interface', 'node', `${APP}:node`]);
    try {
      const r = await srv.waitForRecord((x) => Array.isArray(x.protocols));
      assert.deepEqual(r.protocols, ['HTTP/1.1']);
      assert.match(String(r.msg), /not served to a node app.*--http2-node-apps/);
      assert.match((await prefaceAnswer(srv.port)).toString('latin1'), /^HTTP\/1\.1 400 /);
      // Node's client sees an HTTP/1.1 answer where it expects SETTINGS: no response.
      const tried = await h2connect(srv.port).then((s) => h2request(s, { ':path': '/env' }, undefined, 3000), () => undefined);
      assert.notEqual(tried?.status, 200);
      assert.equal(JSON.parse((await get(srv.port, '/env')).body).protocol, 'HTTP/1.1');
    } finally {
      await srv.stop();
    }
  });

  it('a peer not in --forwarded-allow-ips is served HTTP/1.x, as if h2c were off', async () => {
    const srv = await startGwserver(['-w', '1', ...H2C, '--forwarded-allow-ips', '192.0.2.1', `${APP}:gateway`]);
    try {
      assert.match((await prefaceAnswer(srv.port)).toString('latin1'), /^HTTP\/1\.1 400 /);
      assert.equal((await get(srv.port, '/env')).status, 200);
    } finally {
      await srv.stop();
    }
  });

  it('without --http2-cleartext: HTTP/1.x only, and the log says why', async () => {
    const srv = await startGwserver(['-w', '1', '--http-protocols', 'h1,h2', `${APP}:gateway`]);
    try {
      const r = await srv.waitForRecord((x) => Array.isArray(x.protocols));
      assert.deepEqual(r.protocols, ['HTTP/1.1']);
      assert.match(String(r.msg), /h2 needs TLS \(ALPN\) or --http2-cleartext/);
      assert.match((await prefaceAnswer(srv.port)).toString('latin1'), /^HTTP\/1\.1 400 /);
    } finally {
      await srv.stop();
    }
  });

  it('--http-protocols h2 alone: a connection without the preface gets 505', async () => {
    const srv = await startGwserver(['-w', '1', '--http-protocols', 'h2', '--http2-cleartext', `${APP}:gateway`]);
    try {
      assert.equal((await get(srv.port, '/env')).status, 505);
      const session = await h2connect(srv.port);
      try {
        assert.equal((await h2request(session, { ':path': '/env' })).status, 200);
      } finally {
        session.close();
      }
    } finally {
      await srv.stop();
    }
  });

  it('a bad flag is one line and exit 2', async () => {
    for (const args of [['--http-protocols', 'h3'], ['--http2-cleartext'], ['--http2-max-concurrent-streams', '0']]) {
      const r = await runToExit([...args, `${APP}:gateway`]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    const r = await runToExit(['--http-protocols', 'h3', `${APP}:gateway`]);
    assert.match(r.stderr, /h3.*not a protocol gwserver speaks/);
  });
});
