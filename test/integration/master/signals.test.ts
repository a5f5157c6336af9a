/**
 * The master through real processes and real signals: graceful and quick
 * stops, reloads under load, scaling, dead workers, and sockets that
 * outlive every worker.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, startGwserver, alive } from '../../helpers/gwserver.js';
import { get } from '../../helpers/http.js';
import { runLoad } from '../../helpers/load.js';
import { RawClient } from '../../helpers/raw.js';
import { until } from '../../helpers/until.js';
import { tempDir } from '../../helpers/temp-dir.js';

const APP = 'test/fixtures/apps/master.mjs:application';

describe('master: signals and supervision', function () {
  this.timeout(60_000);

  it('boots -w 3 workers that all serve, with process titles', async () => {
    const srv = await startGwserver(['-w', '3', '--name', 'titled', APP]);
    const pids = await srv.waitWorkers(3);
    for (const pid of pids) {
      assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /^gwserver: worker \[titled\]/);
    }
    assert.match(readFileSync(`/proc/${srv.pid}/cmdline`, 'utf8'), /^gwserver: master \[titled\]/);
    const seen = new Set<string>();
    for (let i = 0; i < 60 && seen.size < 2; i++) seen.add((await get(srv)).body);
    assert.ok(seen.size >= 2, `requests reached ${seen.size} worker(s)`);
    for (const body of seen) assert.ok(pids.includes(Number(body)), body);
  });

  it('TERM lets an in-flight request finish, then the master exits 0 and no process is left', async () => {
    const srv = await startGwserver(['-w', '2', APP]);
    const workers = await srv.waitWorkers(2);
    const slow = fetch(`${srv.url}/slow?ms=1500`).then(async (r) => ({ status: r.status, body: await r.text() }));
    await srv.waitForRecord((r) => r.probe === 'slow-started');
    srv.proc.kill('SIGTERM');
    const res = await slow;
    assert.equal(res.status, 200);
    assert.match(res.body, /^slow done by \d+$/);
    const exit = await srv.exited;
    assert.equal(exit.code, 0);
    await until(() => workers.every((pid) => !alive(pid)), 5000, 'workers gone');
  });

  it('INT stops at once, without waiting for in-flight requests', async () => {
    const srv = await startGwserver(['-w', '1', APP]);
    const [worker] = await srv.waitWorkers(1);
    const slow = fetch(`${srv.url}/slow?ms=20000`).then((r) => r.status, () => 'failed');
    await srv.waitForRecord((r) => r.probe === 'slow-started');
    const t0 = Date.now();
    srv.proc.kill('SIGINT');
    const exit = await srv.exited;
    assert.equal(exit.code, 0);
    assert.ok(Date.now() - t0 < 5000);
    assert.equal(await slow, 'failed');
    await until(() => !alive(worker!), 5000, 'worker gone');
  });

  it('HUP loads fresh app code (no --preload)', async () => {
    const dir = tempDir('gw-hup-');
    const app = path.join(dir, 'app.mjs');
    const write = (v: string) => writeFileSync(app, `export function application(e, s) { s('200 OK', []); return ['${v}']; }\n`);
    write('v1');
    const srv = await startGwserver(['-w', '2', `${app}:application`]);
    assert.equal((await get(srv)).body, 'v1');
    write('v2');
    srv.proc.kill('SIGHUP');
    await srv.waitForRecord((r) => r.msg?.startsWith('reloaded in'));
    await until(async () => (await get(srv)).body === 'v2', 10_000, 'v2 served');
    write('v3');
    srv.proc.kill('SIGHUP');
    await until(async () => (await get(srv)).body === 'v3', 15_000, 'v3 served');
  });

  it('HUP with an app that no longer loads keeps the old workers serving', async () => {
    const dir = tempDir('gw-hup-');
    const app = path.join(dir, 'app.mjs');
    writeFileSync(app, "export function application(e, s) { s('200 OK', []); return ['good']; }\n");
    const srv = await startGwserver(['-w', '1', `${app}:application`]);
    const [old] = await srv.waitWorkers(1);
    writeFileSync(app, "throw new Error('broken deploy');\n");
    srv.proc.kill('SIGHUP');
    await srv.waitForRecord((r) => /could not load the app/.test(r.msg ?? ''));
    assert.equal((await get(srv)).body, 'good');
    assert.deepEqual(srv.workerPids(), [old]);
    assert.equal(srv.proc.exitCode, null, 'the master did not halt');
  });

  it('TTIN and TTOU add and remove a worker', async () => {
    const srv = await startGwserver(['-w', '2', APP]);
    await srv.waitWorkers(2);
    srv.proc.kill('SIGTTIN');
    await srv.waitWorkers(3);
    // One at a time: the kernel merges a signal sent while the same one is still pending.
    srv.proc.kill('SIGTTOU');
    await srv.waitWorkers(2);
    srv.proc.kill('SIGTTOU');
    await srv.waitWorkers(1);
    srv.proc.kill('SIGTTOU');
    await srv.waitForRecord((r) => r.msg === 'SIGTTOU: already at 1 worker');
    assert.equal(srv.workerPids().length, 1);
    assert.equal((await get(srv)).status, 200);
  });

  it('a worker killed with SIGKILL is replaced at once and logged with its reason', async () => {
    const srv = await startGwserver(['-w', '2', APP]);
    const [victim] = await srv.waitWorkers(2);
    process.kill(victim!, 'SIGKILL');
    const rec = await srv.waitForRecord((r) => r.worker_pid === victim && /exited/.test(r.msg ?? ''));
    assert.equal(rec.signal, 'SIGKILL');
    assert.equal(rec.reason, 'signal SIGKILL');
    await until(() => srv.workerPids().length === 2 && !srv.workerPids().includes(victim!), 10_000, 'replacement');
    assert.equal((await get(srv)).status, 200);
  });

  it('the socket survives the death of the only worker: a client connecting meanwhile is served', async () => {
    const srv = await startGwserver(['-w', '1', APP]);
    const [victim] = await srv.waitWorkers(1);
    process.kill(victim!, 'SIGKILL');
    await until(() => !alive(victim!), 5000, 'worker dead');
    // No worker is accepting now: the connection waits in the master's backlog.
    const c = await RawClient.open(srv.port).catch(() => undefined);
    assert.ok(c, 'connection accepted by the kernel with no worker running');
    await c.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await c.waitClosed(20_000);
    assert.match(c.text, /^HTTP\/1\.1 200 OK/);
    assert.notEqual(c.text.split('\r\n\r\n')[1], String(victim));
  });

  it('an uncaught exception outside any request ends that worker only; it is replaced', async () => {
    const srv = await startGwserver(['-w', '1', APP]);
    const [first] = await srv.waitWorkers(1);
    assert.equal((await get(srv, '/crash')).status, 200);
    await srv.waitForRecord((r) => r.worker_pid === first && /exited/.test(r.msg ?? ''));
    await until(() => srv.workerPids().length === 1 && srv.workerPids()[0] !== first, 10_000, 'replacement');
    assert.equal((await get(srv)).status, 200);
    assert.ok(srv.records().some((r) => r.level === 'fatal' && /uncaught exception/.test(r.msg)));
  });

  it('a worker dying while booting is retried with backoff, not in a fork loop', async () => {
    const dir = tempDir('gw-boot-');
    const app = path.join(dir, 'app.mjs');
    writeFileSync(app, "export function application(e, s) { s('200 OK', []); return ['ok']; }\n");
    const srv = await startGwserver(['-w', '1', `${app}:application`]);
    // From now on every new worker dies during boot (not an app-load error: the process just exits).
    writeFileSync(app, "process.exit(7);\n");
    const [victim] = await srv.waitWorkers(1);
    process.kill(victim!, 'SIGKILL');
    await srv.waitForRecord(() => srv.records().filter((r) => /died while booting/.test(r.msg ?? '')).length >= 3, 20_000);
    const waits = srv.records().filter((r) => /died while booting/.test(r.msg ?? '')).map((r) => r.retry_in_ms as number);
    assert.deepEqual(waits.slice(0, 3), [100, 200, 400]);
    // Fixed: the next attempt boots and serves.
    copyFileSync(path.join(ROOT, 'test/fixtures/apps/master.mjs'), app);
    await until(async () => (await get(srv).catch(() => ({ status: 0 }))).status === 200, 20_000, 'recovered');
  });

  it('an app that cannot load halts the master at boot with exit 4 and the cause, in under 5 s', async () => {
    const t0 = Date.now();
    const srv = await startGwserver(['-w', '2', 'test/fixtures/apps/loader/throws.js:application'], { noWait: true });
    const exit = await srv.exited;
    assert.equal(exit.code, 4);
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
    const errors = srv.stderr.filter((l) => l.startsWith('gwserver: error: '));
    assert.equal(errors.length, 1, srv.stderr.join('\n'));
    assert.match(errors[0]!, /threw while loading/);
  });

  it('--pid writes the master\'s pid after binding and removes it at exit', async () => {
    const dir = tempDir('gw-pid-');
    const pidfile = path.join(dir, 'gw.pid');
    const srv = await startGwserver(['--pid', pidfile, APP]);
    assert.equal(readFileSync(pidfile, 'utf8').trim(), String(srv.pid));
    await srv.stop();
    assert.equal(existsSync(pidfile), false);
  });

  it('--max-requests cycles workers under load with zero failures', async () => {
    const srv = await startGwserver(['-w', '2', '--max-requests', '50', '--max-requests-jitter', '10', APP]);
    await srv.waitWorkers(2);
    let stop = false;
    const load = runLoad(srv.port, { concurrency: 4, until: () => stop, maxRequests: 1500 });
    const result = await load;
    stop = true;
    assert.equal(result.failed, 0, result.errors.join('; '));
    const isRecycled = (r: Record<string, any>) => r.reason === 'max-requests' && /exited/.test(r.msg ?? '');
    await until(() => srv.records().filter(isRecycled).length >= 3, 10_000, 'three workers recycled');
    const recycled = srv.records().filter(isRecycled);
    // A worker asks for its replacement at 50-60 requests and serves on until the replacement is ready.
    for (const r of recycled) assert.ok(r.requests >= 50, `recycled after ${r.requests} requests`);
    console.log(`      --max-requests 50 (+jitter 10): ${result.ok} requests, ${recycled.length} workers recycled, 0 failed`);
  });

  it('--max-worker-memory replaces a worker over the limit gracefully', async () => {
    const srv = await startGwserver(['-w', '1', '--max-worker-memory', '10', APP]);
    const [first] = await srv.waitWorkers(1);
    const rec = await srv.waitForRecord((r) => r.worker_pid === first && r.reason === 'memory' && /exited/.test(r.msg ?? ''), 15_000);
    assert.equal(rec.code, 0, 'stopped gracefully');
    assert.ok(srv.records().some((r) => /over --max-worker-memory 10/.test(r.msg ?? '')));
  });
});

// One test for both schedulings and both kinds of client (it was written twice, in this file and in scheduling.test.ts).
describe('master: HUP twice under load', function () {
  this.timeout(60_000);

  for (const scheduling of ['os', 'round-robin']) {
    for (const keepAlive of [false, true]) {
      const clients = keepAlive ? 'keep-alive clients: no request that reached a worker fails' : 'fresh connections: zero failed requests';
      it(`--scheduling ${scheduling}, with ${clients}; only new workers left`, async () => {
        const srv = await startGwserver(['-w', '2', '--scheduling', scheduling, APP]);
        const before = await srv.waitWorkers(2);
        const reloads = () => srv.records().filter((r) => r.msg?.startsWith('reloaded in'));
        let stop = false;
        const warm = new Set<string>();
        const load = runLoad(srv.port, { concurrency: 4, keepAlive, until: () => stop, onOk: (b) => warm.add(b) });
        try {
          // The load is under way before the signal.
          await until(() => warm.size > 0, 10_000, 'the load under way');
          for (const round of [1, 2]) {
            srv.proc.kill('SIGHUP');
            await srv.waitForRecord(() => reloads().length >= round, 15_000);
          }
          await until(() => srv.workerPids().length === 2 && srv.workerPids().every((p) => !before.includes(p)), 10_000, 'old workers gone');
        } finally {
          stop = true;
        }
        const result = await load;
        assert.equal(result.failed, 0, result.errors.join('; '));
        assert.ok(result.ok > 50, `only ${result.ok} requests`);
        assert.ok(srv.workerPids().every((p) => !before.includes(p)), 'all workers replaced');
        console.log(`      --scheduling ${scheduling}, HUP x2 with ${keepAlive ? 'keep-alive clients' : 'fresh connections'}: reloads took ${reloads().map((r) => r.ms).join(', ')} ms; ${result.ok} ok, ${result.races} idle-connection close races (to retry), 0 failed`);
      });
    }
  }
});
