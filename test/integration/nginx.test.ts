/**
 * gwserver behind the real nginx, configured by the shipped config/nginx.conf.
 *
 * The file is copied with only what a test must change rewritten (the
 * upstream address, the listen address), each rewrite failing when its line
 * is no longer in the file, and included from a minimal main nginx.conf
 * whose paths are in a temp dir (test/helpers/nginx.ts). Requests go to
 * nginx on 127.0.0.1; gwserver is the built CLI with a fixture app that
 * reports what reached it (test/fixtures/apps/proxied.mjs).
 *
 * Without nginx the suite is skipped, except on CI (CI set), where that is a
 * failure: .ci/run installs Debian's nginx.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { SETTINGS } from '../../src/config/settings.js';
import { ROOT, startGwserver, type Gwserver } from '../helpers/gwserver.js';
import { runLoad } from '../helpers/load.js';
import { request, type Reply, type RequestOptions } from '../helpers/http.js';
import { findNginx, rewriteLine, startNginx, type Nginx } from '../helpers/nginx.js';
import { rawRequest } from '../helpers/raw.js';
import { until } from '../helpers/until.js';

const APP = 'test/fixtures/apps/proxied.mjs:application';
const SHIPPED = path.join(ROOT, 'config/nginx.conf');

async function environOf(port: number, opts: RequestOptions = {}): Promise<{ reply: Reply; environ: Record<string, string> }> {
  const reply = await request(port, { path: '/environ', ...opts });
  assert.equal(reply.status, 200, reply.body);
  return { reply, environ: JSON.parse(reply.body) as Record<string, string> };
}

/** client_max_body_size of the shipped file, in bytes. */
function clientMaxBodySize(conf: string): number {
  const m = /^\s*client_max_body_size (\d+)([kKmMgG]?);$/m.exec(conf);
  if (m === null) throw new Error('config/nginx.conf has no client_max_body_size line: update the test to follow the file');
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * unit;
}

/** The shipped file listening on 127.0.0.1:port only (the test cannot take port 80, nor count on IPv6). */
function listenOn(conf: string, port: number): string {
  const v4 = rewriteLine(conf, /^(\s*)listen 80;$/m, `$1listen 127.0.0.1:${port};`);
  return rewriteLine(v4, /^(\s*)listen \[::\]:80;$/m, '$1# listen [::]:80; (left out by the test)');
}

/** The body of the slow-client tests: well above what the socket buffers between the app and the client can hold. */
const PRODUCE_BYTES = 32 * 1024 * 1024;

const UNIX_UPSTREAM = /^(\s*)server unix:\/run\/gwserver\/gwserver\.sock;$/m;

/** A `NAME Ns;` directive of the shipped file, in seconds. */
function seconds(conf: string, name: string): number {
  const m = new RegExp(`^\\s*${name} (\\d+)s;$`, 'm').exec(conf);
  if (m === null) throw new Error(`config/nginx.conf has no "${name} Ns;" line: update the test to follow the file`);
  return Number(m[1]);
}

const gwDefault = (name: string) => SETTINGS.find((x) => x.name === name)!.default as number;

describe('config/nginx.conf against gwserver\'s defaults', () => {
  const conf = readFileSync(SHIPPED, 'utf8');

  it('closes idle upstream connections before gwserver would (keepalive_timeout < --keep-alive)', () => {
    assert.ok(seconds(conf, 'keepalive_timeout') < gwDefault('keepAlive'), `keepalive_timeout must stay below --keep-alive ${gwDefault('keepAlive')} s`);
  });

  it('waits for a response longer than gwserver waits for a stuck worker (proxy_read_timeout > --timeout)', () => {
    assert.ok(seconds(conf, 'proxy_read_timeout') > gwDefault('timeout'), `proxy_read_timeout must exceed --timeout ${gwDefault('timeout')} s`);
  });

  it('retries a failed request only for less time than gwserver gives a stuck worker (proxy_next_upstream_timeout < --timeout)', () => {
    assert.ok(seconds(conf, 'proxy_next_upstream_timeout') < gwDefault('timeout'), `proxy_next_upstream_timeout must stay below --timeout ${gwDefault('timeout')} s`);
  });

  it('proxies to the unix socket of systemd/gwserver.socket', () => {
    const socket = readFileSync(path.join(ROOT, 'systemd/gwserver.socket'), 'utf8');
    const unix = /^ListenStream=(\/.*)$/m.exec(socket)?.[1];
    assert.equal(unix, '/run/gwserver/gwserver.sock');
    assert.match(conf, UNIX_UPSTREAM);
  });
});

describe('gwserver behind nginx (config/nginx.conf)', function () {
  this.timeout(30_000);
  let nginxBin = '';
  let shipped = '';
  let dir = '';

  before(function () {
    const found = findNginx();
    if (found === undefined) {
      const msg = 'nginx not found on PATH or in /usr/sbin (apt-get install nginx)';
      if (process.env.CI) throw new Error(`${msg}; the nginx tests cannot be skipped on CI`);
      console.log(`    skipping the nginx tests: ${msg}`);
      this.skip();
    }
    nginxBin = found;
    shipped = readFileSync(SHIPPED, 'utf8');
    dir = mkdtempSync(path.join(os.tmpdir(), 'gwserver-nginx-'));
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('over the unix socket, as shipped', function () {
    let gw: Gwserver | undefined;
    let nginx: Nginx | undefined;
    let port = 0;

    before(async function () {
      const sub = path.join(dir, 'unix');
      mkdirSync(sub);
      const sock = path.join(sub, 'gw.sock');
      gw = await startGwserver(['-w', '2', '-b', `unix:${sock}`, APP]);
      nginx = await startNginx(nginxBin, sub, (p) => rewriteLine(listenOn(shipped, p), UNIX_UPSTREAM, `$1server unix:${sock};`));
      port = nginx.port;
    });

    after(async () => {
      // Both even when the other fails, nginx first (it holds connections to gwserver).
      await nginx?.stop().catch(() => undefined);
      await gw?.stop();
    });

    it('serves a GET: the client address from X-Forwarded-For, the scheme from X-Forwarded-Proto, the host as asked', async () => {
      const { reply, environ } = await environOf(port, { headers: { Host: 'www.example.com' } });
      assert.match(String(reply.headers.server), /^nginx/);
      // Over a unix socket gwserver knows no peer address: 127.0.0.1 can only come from nginx's header.
      assert.equal(environ.REMOTE_ADDR, '127.0.0.1');
      assert.equal(environ.HTTP_X_FORWARDED_FOR, '127.0.0.1');
      assert.equal(environ.HTTP_X_FORWARDED_PROTO, 'http');
      assert.equal(environ['wsgi.url_scheme'], 'http');
      assert.equal(environ.HTTP_HOST, 'www.example.com');
      assert.equal(environ.SERVER_NAME, 'www.example.com');
      assert.equal(environ.SERVER_PORT, '80');
      // Upstream keep-alive as configured: HTTP/1.1 and no "Connection: close".
      assert.equal(environ.SERVER_PROTOCOL, 'HTTP/1.1');
      assert.equal(environ.HTTP_CONNECTION, undefined);
      // nginx's $request_id (32 hex digits) is the request's id in gwserver, and comes back.
      assert.match(environ.HTTP_X_REQUEST_ID ?? '', /^[0-9a-f]{32}$/);
      assert.equal(environ['gwserver.request_id'], environ.HTTP_X_REQUEST_ID);
      assert.equal(reply.headers['x-request-id'], environ.HTTP_X_REQUEST_ID);
    });

    it('does not let a client forge its address or the scheme', async () => {
      // From 127.0.0.2, an address gwserver does not trust as a proxy, as a
      // remote client's would be.
      const { environ } = await environOf(port, {
        localAddress: '127.0.0.2',
        headers: {
          Host: 'www.example.com',
          'X-Forwarded-For': '203.0.113.7',
          'X-Forwarded-Proto': 'https',
          'X-Forwarded-Protocol': 'ssl',
          'X-Forwarded-Ssl': 'on',
          'X-Request-ID': 'client-chosen-id',
        },
      });
      assert.equal(environ.HTTP_X_FORWARDED_FOR, '203.0.113.7, 127.0.0.2');
      assert.equal(environ.REMOTE_ADDR, '127.0.0.2');
      assert.equal(environ['wsgi.url_scheme'], 'http');
      assert.equal(environ.HTTP_X_FORWARDED_PROTO, 'http');
      // Dropped by nginx: passed on, they would contradict X-Forwarded-Proto (a 400) or, alone, set the scheme.
      assert.equal(environ.HTTP_X_FORWARDED_PROTOCOL, undefined);
      assert.equal(environ.HTTP_X_FORWARDED_SSL, undefined);
      assert.match(environ['gwserver.request_id'] ?? '', /^[0-9a-f]{32}$/);
    });

    it('passes the host nginx routed by, not a Host header that contradicts the request line', async () => {
      const { environ } = await environOf(port, { path: 'http://www.example.com/environ', headers: { Host: 'evil.example' } });
      assert.equal(environ.HTTP_HOST, 'www.example.com');
      assert.equal(environ.SERVER_NAME, 'www.example.com');
      assert.equal(environ.PATH_INFO, '/environ');
    });

    it('passes a 1 MiB POST body whole', async () => {
      const body = randomBytes(1024 * 1024);
      const reply = await request(port, { method: 'POST', path: '/body', body, headers: { 'Content-Type': 'application/octet-stream' } });
      assert.equal(reply.status, 200, reply.body.toString());
      assert.deepEqual(JSON.parse(reply.body.toString()), { bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
    });

    it('answers 413 itself for a body above client_max_body_size', async () => {
      const limit = clientMaxBodySize(shipped);
      // Only the head: nginx refuses on the declared length, before reading any body.
      const reply = await rawRequest({ port }, `POST /body HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: ${limit + 1}\r\n\r\n`);
      assert.equal(reply.status, 413);
      assert.match(reply.headers.server ?? '', /^nginx/);
      // A body at the limit is not refused (here sent in full: the limit is 10 MiB).
      const ok = await request(port, { method: 'POST', path: '/body', body: Buffer.alloc(limit, 7) });
      assert.equal(ok.status, 200, ok.body.toString());
      assert.equal(JSON.parse(ok.body.toString()).bytes, limit);
    });

    it('passes a streamed response whole', async () => {
      const n = 16;
      const reply = await request(port, { path: `/stream?n=${n}` });
      assert.equal(reply.status, 200);
      assert.equal(reply.headers['transfer-encoding'], 'chunked');
      const expected = Array.from({ length: n }, (_, i) => `chunk ${i}`.padEnd(1023, '.') + '\n').join('');
      assert.equal(reply.body.toString(), expected);
    });

    it('passes each piece of a stream on as it comes (server-sent events, with X-Accel-Buffering: no)', async () => {
      const release = path.join(dir, 'unix', `release-${process.pid}`);
      const chunks: string[] = [];
      let ended = false;
      let done!: () => void;
      const end = new Promise<void>((resolve) => (done = resolve));
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path: `/hold?release=${encodeURIComponent(release)}`, agent: false }, resolve);
        req.setTimeout(15_000, () => req.destroy(new Error('no response within 15 s')));
        req.on('error', reject);
      });
      res.setEncoding('utf8');
      res.on('data', (d: string) => chunks.push(d));
      res.on('end', () => { ended = true; done(); });
      assert.equal(res.statusCode, 200);
      // nginx acts on the header and does not pass it to the client.
      assert.equal(res.headers['x-accel-buffering'], undefined);
      // The app holds the rest until the file exists: the first line is here while the response is open.
      await until(() => chunks.join('') === 'first\n', 10_000, 'the first line before the response ends');
      assert.equal(ended, false);
      writeFileSync(release, '');
      await end;
      assert.equal(chunks.join(''), 'first\nlast\n');
    });

    /**
     * GET /produce with a client that reads nothing until told: resolves once
     * the app's progress satisfies `until`, then reads the whole body.
     */
    async function produceToStalledClient(name: string, nobuf: boolean, enough: (pulled: number) => boolean, what: string): Promise<{ pulled: number; received: number }> {
      const progress = path.join(dir, 'unix', `progress-${name}`);
      const total = PRODUCE_BYTES;
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path: `/produce?bytes=${total}&progress=${encodeURIComponent(progress)}${nobuf ? '&nobuf=1' : ''}`, agent: false }, resolve);
        req.on('error', reject);
      });
      res.pause();
      const pulledNow = () => Number(existsSync(progress) ? readFileSync(progress, 'utf8') || 0 : 0);
      let pulled = 0;
      try {
        await until(() => enough((pulled = pulledNow())), 15_000, what);
      } finally {
        res.resume();
      }
      let received = 0;
      res.on('data', (d: Buffer) => (received += d.length));
      await new Promise<void>((resolve, reject) => { res.on('end', resolve); res.on('error', reject); });
      return { pulled, received };
    }

    it('buffers the response of a slow client: the app is done with it while the client has read nothing', async () => {
      const { received } = await produceToStalledClient('buffered', false, (pulled) => pulled === PRODUCE_BYTES, 'the app to be pulled to the end');
      assert.equal(received, PRODUCE_BYTES);
    });

    it('lets a slow client hold the app back instead when the app sends X-Accel-Buffering: no', async () => {
      // Pulled as far as the buffers on the way hold (sockets, nginx's
      // proxy_buffer_size), then no further until the client reads.
      let last = -1;
      let same = 0;
      const { pulled, received } = await produceToStalledClient('unbuffered', true, (p) => {
        same = p > 0 && p === last ? same + 1 : 0;
        last = p;
        return same >= 10 || p === PRODUCE_BYTES;
      }, 'the app to be held back');
      assert.ok(pulled < PRODUCE_BYTES / 2, `the app was pulled for ${pulled} of ${PRODUCE_BYTES} bytes while the client read nothing`);
      assert.equal(received, PRODUCE_BYTES);
    });

    it('loses no request through a graceful reload of gwserver (HUP) under a loop of POSTs', async () => {
      const before = new Set(gw!.workerPids());
      assert.equal(before.size, 2);
      const reloads = () => gw!.records().filter((r) => typeof r.msg === 'string' && r.msg.startsWith('reloaded in')).length;
      const reloadsBefore = reloads();
      const served = new Set<number>();
      let stop = false;
      // Keep-alive client connections to nginx: all that could fail is on
      // nginx's side. POSTs, which nginx does not send again: one that went
      // out on a reused upstream connection just as an old worker closed it
      // would be a 502. The stopping worker keeps its idle connections for
      // DRAIN_MS and answers what comes on them with Connection: close.
      const load = runLoad(port, { concurrency: 4, keepAlive: true, method: 'POST', path: '/pid', maxRequests: 20_000, until: () => stop, onOk: (b) => served.add(Number(b)) });
      try {
        await until(() => served.size > 0, 10_000, 'the load under way');
        gw!.proc.kill('SIGHUP');
        await until(() => reloads() > reloadsBefore, 15_000, 'the reload done');
        await until(() => {
          const now = gw!.workerPids();
          return now.length === 2 && now.every((p) => !before.has(p));
        }, 15_000, 'only new workers left');
        const fresh = new Set(gw!.workerPids());
        await until(() => [...served].some((p) => fresh.has(p)), 10_000, 'a response from a new worker');
      } finally {
        stop = true;
      }
      const result = await load;
      const upstreamErrors = (nginx!.errorLog().match(/\[error\].*(prematurely closed|Connection reset by peer|Broken pipe).*/g) ?? []);
      assert.equal(result.failed + result.races, 0, [...result.errors, ...upstreamErrors].join('; '));
      console.log(`      HUP behind nginx: ${result.ok} POSTs, all 200; ${upstreamErrors.length} upstream errors in nginx's log`);
    });
  });

  describe('a request that hangs its worker', function () {
    let gw: Gwserver | undefined;
    let nginx: Nginx | undefined;
    let retryFor = 0;

    before(async function () {
      const sub = path.join(dir, 'hang');
      mkdirSync(sub);
      const sock = path.join(sub, 'gw.sock');
      retryFor = seconds(shipped, 'proxy_next_upstream_timeout');
      // --timeout above the retry window, as with the defaults (30 s against
      // 5 s), but by 1 s only, to keep the test short.
      gw = await startGwserver(['-w', '2', '--timeout', String(retryFor + 1), '-b', `unix:${sock}`, APP]);
      nginx = await startNginx(nginxBin, sub, (p) => rewriteLine(listenOn(shipped, p), UNIX_UPSTREAM, `$1server unix:${sock};`));
    });

    after(async () => {
      await nginx?.stop().catch(() => undefined);
      await gw?.stop();
    });

    it('is not handed to the next worker once gwserver killed its own (proxy_next_upstream_timeout)', async function () {
      this.timeout(30_000 + retryFor * 3000);
      const workers = gw!.workerPids();
      assert.equal(workers.length, 2);
      // Idle upstream connections, as a busy site has: nginx retries only a
      // request that failed on one of those (and /hang takes one of them).
      const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
      try {
        const statuses = await Promise.all(Array.from({ length: 8 }, () => new Promise<number>((resolve, reject) => {
          http.get({ host: '127.0.0.1', port: nginx!.port, path: '/pid', agent }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          }).on('error', reject);
        })));
        assert.deepEqual(statuses, Array(8).fill(200));
      } finally {
        agent.destroy();
      }
      const t0 = Date.now();
      const reply = await request(nginx!.port, { path: '/hang', timeoutMs: 10_000 + (retryFor + 1) * 3000 });
      const ms = Date.now() - t0;
      assert.equal(reply.status, 502);
      const timedOut = () => new Set(gw!.records().filter((r) => / timed out: /.test(r.msg ?? '')).map((r) => r.worker_pid as number));
      await until(() => timedOut().size > 0, 5000, 'the timed-out record');
      // One worker hung and was killed; the other never got the request
      // (nginx had answered, so it would not send it anywhere else now).
      const killed = [...timedOut()];
      assert.equal(killed.length, 1, `workers killed for --timeout: ${killed.join(', ')}`);
      assert.ok(workers.includes(killed[0]!));
      assert.ok(gw!.workerPids().includes(workers.find((w) => w !== killed[0])!), 'the other worker lives on');
      const failures = nginx!.errorLog().split('\n').filter((l) => /\[error\]/.test(l) && l.includes('GET /hang'));
      assert.equal(failures.length, 1, failures.join('\n'));
      console.log(`      /hang: 502 after ${ms} ms, one worker killed by --timeout ${retryFor + 1}, no retry`);
    });
  });

  describe('over 127.0.0.1:PORT, the commented alternative', function () {
    let gw: Gwserver | undefined;
    let nginx: Nginx | undefined;

    before(async function () {
      const sub = path.join(dir, 'tcp');
      mkdirSync(sub);
      // 127.0.0.1 is not a trusted proxy here, so gwserver reports its peer as
      // it is: REMOTE_PORT is nginx's end of the upstream connection, which
      // is what this suite counts. (Trusted, gwserver would report the
      // X-Forwarded-For client with port 0.)
      gw = await startGwserver(['-w', '2', '-b', '127.0.0.1:0', '--forwarded-allow-ips', '192.0.2.1', APP]);
      const gwPort = gw.port;
      nginx = await startNginx(nginxBin, sub, (p) => {
        const conf = rewriteLine(listenOn(shipped, p), UNIX_UPSTREAM, '$1# server unix:/run/gwserver/gwserver.sock; (replaced by the test)');
        return rewriteLine(conf, /^(\s*)# server 127\.0\.0\.1:8000;$/m, `$1server 127.0.0.1:${gwPort};`);
      });
    });

    after(async () => {
      await nginx?.stop().catch(() => undefined);
      await gw?.stop();
    });

    it('reuses its upstream connections (keepalive): 40 requests, each on a new client connection, over one or two', async () => {
      const ports = new Set<string>();
      for (let i = 0; i < 40; i++) {
        const { environ } = await environOf(nginx!.port, { headers: { Host: 'www.example.com' } });
        assert.equal(environ.REMOTE_ADDR, '127.0.0.1');
        assert.equal(environ.HTTP_CONNECTION, undefined);
        ports.add(environ.REMOTE_PORT!);
      }
      // One nginx worker sending one request at a time needs one connection;
      // two allow for one replaced along the way. Without keepalive: 40.
      assert.ok(ports.size >= 1 && ports.size <= 2, `40 requests came over ${ports.size} connections (${[...ports].join(', ')})`);
    });
  });
});
