/**
 * Real Express, Koa, Fastify and Hono apps and a bare `export default
 * { fetch }`, each exported the way its users export it, under
 * `gwserver -w 2` with the access log and metrics on: served natively (the
 * node and fetch interfaces), with the container's features the same for
 * all: routes, bodies in and out, a 1 GiB response to a slow reader in
 * bounded memory, errors, client disconnects, request ids, access log
 * lines, metrics, untrusted X-Forwarded-* headers, and a HUP under load
 * with zero failed requests.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { startGwserver, type Gwserver } from '../helpers/gwserver.js';
import { get, request } from '../helpers/http.js';
import { runLoad } from '../helpers/load.js';
import { RawClient } from '../helpers/raw.js';
import { until } from '../helpers/until.js';
import { REQUESTS, scrapeUntil, sum } from '../helpers/metrics.js';

const DIR = 'test/fixtures/apps/frameworks';

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

const APPS: Array<{ name: string; kind: 'node' | 'fetch' }> = [
  { name: 'express', kind: 'node' },
  { name: 'koa', kind: 'node' },
  { name: 'fastify', kind: 'node' },
  { name: 'hono', kind: 'fetch' },
  { name: 'fetch', kind: 'fetch' },
];

for (const { name, kind } of APPS) {
  describe(`frameworks: ${name} under gwserver -w 2 (${kind} interface)`, function () {
    this.timeout(60_000);
    let srv: Gwserver;
    let tmp: string;
    let access: string;
    let mport: number;

    before(async () => {
      tmp = mkdtempSync(path.join(os.tmpdir(), `gw-${name}-`));
      access = path.join(tmp, 'access.log');
      // 127.0.0.1 is not a trusted proxy here: its X-Forwarded-* headers must not reach the app.
      srv = await startGwserver(['-w', '2', '--access-logfile', access, '--metrics-bind', '127.0.0.1:0', '--forwarded-allow-ips', '10.9.9.9', '--graceful-timeout', '10', `${DIR}/${name}.mjs`]);
      const rec = await srv.waitForRecord((r) => r.msg === 'metrics listening');
      mport = Number(new URL(String(rec.address)).port);
    });
    after(async () => {
      await srv?.stop();
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    it(`is served as a ${kind} app, and says so`, async () => {
      const rec = await srv.waitForRecord((r) => typeof r.interface === 'string');
      assert.equal(rec.interface, kind, JSON.stringify(rec));
    });

    it('answers its routes, with a request id made or kept', async () => {
      const hello = await get(srv.port, '/');
      assert.equal(hello.status, 200);
      assert.equal(hello.body, `hello from ${name}`);
      assert.match(String(hello.headers['x-request-id']), /^[0-9a-f-]{36}$/);
      const json = await get(srv.port, '/json', { headers: { 'X-Request-ID': 'given-id-1' } });
      assert.equal(json.status, 200);
      assert.deepEqual(JSON.parse(json.body), { framework: name, n: 1 });
      assert.match(String(json.headers['content-type']), /application\/json/);
      assert.equal(json.headers['x-request-id'], 'given-id-1');
    });

    it('takes a request body and sends it back', async () => {
      const big = 'abcdefghij'.repeat(100_000);
      const r = await request(srv.port, { method: 'POST', path: '/echo', body: big, headers: { 'Content-Type': 'text/plain' } });
      assert.equal(r.status, 200);
      assert.equal(r.body.length, big.length);
      assert.equal(r.body, big);
    });

    it('answers an app error with a 500, logs it with the request id, and serves on', async () => {
      const r = await get(srv.port, '/error', { headers: { 'X-Request-ID': `err-${name}` } });
      assert.equal(r.status, 500);
      const hello = await get(srv.port, '/');
      assert.equal(hello.status, 200);
    });

    it('does not let an untrusted peer pass X-Forwarded-* to the app', async () => {
      const r = await get(srv.port, '/info', { headers: { 'X-Forwarded-For': '6.6.6.6', 'X-Forwarded-Proto': 'https', Forwarded: 'for=6.6.6.6' } });
      assert.equal(r.status, 200);
      const info = JSON.parse(r.body) as { headers: Record<string, string>; url: string; remote: string; ip?: string; protocol?: string };
      assert.equal(info.headers['x-forwarded-for'], undefined);
      assert.equal(info.headers['x-forwarded-proto'], undefined);
      assert.equal(info.headers.forwarded, undefined);
      if (info.ip !== undefined) assert.notEqual(info.ip, '6.6.6.6');
      if (info.protocol !== undefined) assert.equal(info.protocol, 'http');
      if (kind === 'fetch') assert.match(info.url, /^http:\/\/127\.0\.0\.1:\d+\/info$/);
      assert.match(info.remote, /127\.0\.0\.1/);
    });

    it('streams a 1 GiB response to a slow reader in bounded memory, and serves on after the reader leaves', async () => {
      const pidOf = async () => JSON.parse((await get(srv.port, '/info')).body).pid as number;
      const before = new Map(srv.workerPids().map((p) => [p, rssKiB(p)]));
      let received = 0;
      const sock = net.connect(srv.port, '127.0.0.1');
      await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
      sock.write('GET /stream?mb=1024 HTTP/1.1\r\nHost: x\r\n\r\n');
      // A slow reader: 256 KiB every 50 ms at most.
      sock.on('data', (d: Buffer) => {
        received += d.length;
        sock.pause();
        setTimeout(() => sock.resume(), 50);
      });
      await until(() => received > 1024 * 1024, 15_000, 'the first MiB');
      const t0 = Date.now();
      while (Date.now() - t0 < 1500) await new Promise((r) => setTimeout(r, 100));
      for (const [pid, kib] of before) {
        assert.ok(rssKiB(pid) - kib < 100 * 1024, `worker ${pid} grew from ${kib} to ${rssKiB(pid)} KiB for one slow reader (received ${received})`);
      }
      assert.ok(received < 512 * 1024 * 1024, 'the reader was slow');
      sock.destroy();
      assert.ok(before.has(await pidOf()));
      assert.equal((await get(srv.port, '/')).status, 200);
    });

    it('sees a client that goes away: the access log says 499', async () => {
      const c = await RawClient.open(srv.port);
      await c.write(`GET /slow?ms=1500 HTTP/1.1\r\nHost: x\r\nX-Request-ID: gone-${name}\r\n\r\n`);
      await new Promise((r) => setTimeout(r, 200));
      c.destroy();
      await until(() => readFileSync(access, 'utf8').includes(`gone-${name}`), 10_000, 'the access line of the abandoned request');
      const line = readFileSync(access, 'utf8').split('\n').find((l) => l.includes(`gone-${name}`))!;
      assert.equal(JSON.parse(line).status, 499, line);
    });

    it('writes an access log line per request and counts it in the metrics', async () => {
      const id = `log-${name}`;
      const r = await get(srv.port, '/json?x=1', { headers: { 'X-Request-ID': id, 'User-Agent': 'frameworks-test' } });
      assert.equal(r.status, 200);
      await until(() => readFileSync(access, 'utf8').includes(id), 10_000, 'the access line');
      const rec = JSON.parse(readFileSync(access, 'utf8').split('\n').find((l) => l.includes(id))!);
      assert.equal(rec.status, 200);
      assert.equal(rec.method, 'GET');
      assert.equal(rec.request_id, id);
      assert.ok(rec.bytes >= r.body.length, JSON.stringify(rec));
      const err = JSON.parse(readFileSync(access, 'utf8').split('\n').find((l) => l.includes(`err-${name}`))!);
      assert.equal(err.status, 500);
      await scrapeUntil(mport, (s) => sum(s, REQUESTS, { status: '200' }) >= 5 && sum(s, REQUESTS, { status: '500' }) >= 1, 5000, 'the requests counted');
    });

    it('reloads on HUP under load with zero failed requests', async () => {
      const old = srv.workerPids();
      let stop = false;
      let answered = 0;
      const load = runLoad(srv.port, { concurrency: 4, keepAlive: true, until: () => stop, maxRequests: 20_000, path: '/json', onOk: () => answered++ });
      await until(() => answered >= 20, 10_000, 'the load under way');
      process.kill(srv.pid, 'SIGHUP');
      await until(() => {
        const now = srv.workerPids();
        return now.length === 2 && now.every((p) => !old.includes(p));
      }, 20_000, 'new workers');
      // Some load on the new workers too, before it stops.
      const before = answered;
      await until(() => answered >= before + 20, 10_000, 'requests answered by the new workers');
      stop = true;
      const result = await load;
      assert.equal(result.failed, 0, result.errors.join('; '));
      assert.ok(result.ok > 10, `only ${result.ok} requests`);
      if (name === 'fastify') {
        await until(() => srv.records().filter((r) => r.msg === 'fastify closed').length >= 2, 10_000, "the old workers' Fastify close()");
      }
    });
  });
}
