/**
 * --metrics-bind through real processes: the master's /metrics aggregates
 * what every worker pushed, keeps what exited workers counted (a graceful
 * replacement, a HUP, a SIGKILL more than a second after the last request),
 * answers within 2 s while a worker is stuck (and says so in
 * gwserver_metrics_stale_workers), bounds the method label, shows an app's
 * own prom-client metrics, and serves /healthz and /readyz. A metrics bind
 * that is also an app address is refused at start.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { childPids, runToExit } from '../helpers/gwserver.js';
import { get, request } from '../helpers/http.js';
import { rawRequest } from '../helpers/raw.js';
import { until } from '../helpers/until.js';
import { REQUESTS, scrape, scrapeUntil, startWithMetrics, sum, type Sample } from '../helpers/metrics.js';

const MASTER_APP = 'test/fixtures/apps/master.mjs:application';
const STUCK_APP = 'test/fixtures/apps/stuck.mjs:application';

async function requests(port: number, n: number, path = '/'): Promise<void> {
  for (let i = 0; i < n; i++) assert.equal((await get(port, path)).status, 200);
}

describe('metrics: /metrics aggregated over the workers', function () {
  this.timeout(60_000);

  it('N requests over 2 workers: requests_total sums to N, with the duration and size histograms and the worker gauges', async () => {
    const { srv, mport } = await startWithMetrics(['-w', '2', MASTER_APP]);
    await until(() => srv.workerPids().length === 2, 10_000, '2 workers');
    const N = 40;
    await requests(srv.port, N);
    const s = await scrapeUntil(mport, (x) => sum(x, REQUESTS) === N, 5000, `requests_total = ${N}`);
    assert.equal(sum(s, REQUESTS, { method: 'GET', status: '200' }), N);
    assert.equal(sum(s, 'gwserver_http_request_duration_seconds_count', { method: 'GET', status: '200' }), N);
    assert.equal(sum(s, 'gwserver_http_request_duration_seconds_bucket', { method: 'GET', status: '200', le: '+Inf' }), N);
    assert.equal(sum(s, 'gwserver_http_response_size_bytes_count'), N);
    assert.ok(sum(s, 'gwserver_http_response_size_bytes_sum') > 0);
    assert.equal(sum(s, 'gwserver_http_request_size_bytes_count'), N);
    assert.equal(sum(s, 'gwserver_http_requests_in_flight'), 0);
    assert.equal(sum(s, 'gwserver_workers', { state: 'ready' }), 2);
    assert.equal(sum(s, 'gwserver_metrics_stale_workers'), 0);
    assert.equal(sum(s, 'gwserver_worker_timeouts_total'), 0);
    // Node's default metrics, from the master and both workers.
    assert.ok(sum(s, 'process_resident_memory_bytes') > 0);
    assert.ok(s.some((x) => x.name === 'nodejs_version_info'));
    // Both workers pushed: two workers' heaps at least.
    const scr = await scrape(mport);
    assert.match(scr.contentType, /^text\/plain; version=0\.0\.4/);
    assert.ok(scr.ms < 2000);
  });

  it('keeps requests_total across a worker stopped gracefully (TERM), a HUP reload, and a worker killed with SIGKILL', async () => {
    const { srv, mport } = await startWithMetrics(['-w', '2', MASTER_APP]);
    await until(() => srv.workerPids().length === 2, 10_000, '2 workers');
    const N = 30;
    await requests(srv.port, N);
    await scrapeUntil(mport, (x) => sum(x, REQUESTS) === N, 5000, `requests_total = ${N}`);

    // 1. A worker stopped gracefully from outside: its final snapshot is folded in.
    const [victim, other] = srv.workerPids();
    process.kill(victim!, 'SIGTERM');
    await until(() => !srv.workerPids().includes(victim!) && srv.workerPids().length === 2, 10_000, 'the TERMed worker replaced');
    let s = (await scrape(mport)).samples;
    assert.equal(sum(s, REQUESTS), N, 'after a graceful exit');
    assert.equal(sum(s, 'gwserver_worker_restarts_total', { reason: 'exit' }), 1);

    // 2. More requests, then a HUP replaces every worker.
    const M = 10;
    await requests(srv.port, M);
    await scrapeUntil(mport, (x) => sum(x, REQUESTS) === N + M, 5000, `requests_total = ${N + M}`);
    const before = srv.workerPids();
    process.kill(srv.pid, 'SIGHUP');
    await srv.waitForRecord((r) => /^reloaded in/.test(r.msg ?? ''), 15_000);
    await until(() => srv.workerPids().length === 2 && srv.workerPids().every((p) => !before.includes(p)), 10_000, 'old workers gone');
    // Each scrape while the old workers leave and after: never below N + M.
    for (let i = 0; i < 5; i++) {
      s = (await scrape(mport)).samples;
      assert.equal(sum(s, REQUESTS), N + M, `scrape ${i} after the HUP`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(sum(s, 'gwserver_worker_restarts_total', { reason: 'reload' }), 2);

    // 3. SIGKILL, more than a second after the worker's last request: it pushed everything.
    await requests(srv.port, M);
    await scrapeUntil(mport, (x) => sum(x, REQUESTS) === N + 2 * M, 5000, `requests_total = ${N + 2 * M}`);
    await new Promise((r) => setTimeout(r, 1300)); // the condition under test: the last request is over a second old
    const [killed] = srv.workerPids();
    process.kill(killed!, 'SIGKILL');
    await until(() => !srv.workerPids().includes(killed!) && srv.workerPids().length === 2, 10_000, 'the killed worker replaced');
    s = (await scrape(mport)).samples;
    assert.equal(sum(s, REQUESTS), N + 2 * M, 'after a SIGKILL');
    assert.equal(sum(s, 'gwserver_worker_restarts_total', { reason: 'crash' }), 1);
    await requests(srv.port, 5);
    await scrapeUntil(mport, (x) => sum(x, REQUESTS) === N + 2 * M + 5, 5000, 'counting on after the kill');
    void other;
  });

  it('loses nothing when workers stop gracefully right after their requests (TERM, --max-requests)', async () => {
    const { srv, mport } = await startWithMetrics(['-w', '1', '--max-requests', '10', MASTER_APP]);
    await until(() => srv.workerPids().length === 1, 10_000, 'a worker');
    const [first] = srv.workerPids();
    // The 10th request makes the worker ask for a replacement; it stops once the new one is ready.
    await requests(srv.port, 12);
    await until(() => srv.workerPids().length === 1 && srv.workerPids()[0] !== first, 10_000, 'the max-requests replacement');
    await requests(srv.port, 5);
    const [last] = srv.workerPids();
    // No wait for a push: the final snapshot of the graceful stop is what carries the last requests.
    process.kill(last!, 'SIGTERM');
    await until(() => srv.workerPids().length === 1 && srv.workerPids()[0] !== last, 10_000, 'the TERMed worker replaced');
    const s = (await scrape(mport)).samples;
    assert.equal(sum(s, REQUESTS), 17);
    assert.equal(sum(s, 'gwserver_worker_restarts_total', { reason: 'max-requests' }), 1);
    assert.equal(sum(s, 'gwserver_worker_restarts_total', { reason: 'exit' }), 1);
  });

  it('a worker stuck in for(;;){} does not stop a scrape: it answers within 2 s, with the stale gauge at 1', async () => {
    const { srv, mport } = await startWithMetrics(['-w', '2', '--timeout', '60', STUCK_APP]);
    await until(() => srv.workerPids().length === 2, 10_000, '2 workers');
    const N = 20;
    await requests(srv.port, N);
    await scrapeUntil(mport, (x) => sum(x, REQUESTS) === N, 5000, `requests_total = ${N}`);
    // Never answered: the worker spins until the test kills it.
    const stuck = get(srv.port, '/spin', { timeoutMs: 30_000 }).catch(() => undefined);
    void stuck;
    const t0 = Date.now();
    let worst = 0;
    let stale: Sample[] = [];
    await until(async () => {
      const r = await scrape(mport, 2000);
      worst = Math.max(worst, r.ms);
      assert.equal(r.status, 200);
      stale = r.samples;
      return sum(r.samples, 'gwserver_metrics_stale_workers') === 1;
    }, 8000, 'the stale gauge at 1');
    assert.ok(worst < 2000, `a scrape took ${worst} ms`);
    // The stuck worker's last snapshot still counts.
    assert.equal(sum(stale, REQUESTS), N);
    // The other worker still serves and still pushes.
    await requests(srv.port, 5);
    await scrapeUntil(mport, (x) => sum(x, REQUESTS) === N + 5, 5000, 'the healthy worker counting on');
    console.log(`      stuck worker: stale after ${Date.now() - t0} ms; slowest scrape ${worst} ms`);
  });

  it('folds unknown methods into method="other"', async () => {
    const { srv, mport } = await startWithMetrics(['-w', '1', MASTER_APP]);
    // llhttp knows PROPFIND (it refuses a made-up method with its own 400 before gwserver sees the request).
    const r = await rawRequest({ port: srv.port }, 'PROPFIND / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(r.status, 200);
    await requests(srv.port, 1);
    const s = await scrapeUntil(mport, (x) => sum(x, REQUESTS) === 2, 5000, '2 requests');
    assert.equal(sum(s, REQUESTS, { method: 'other', status: '200' }), 1);
    assert.equal(sum(s, REQUESTS, { method: 'GET', status: '200' }), 1);
    assert.ok(!s.some((x) => x.labels.method === 'PROPFIND'));
  });

  it("sums an app's own prom-client metrics over the workers (examples/metrics.js)", async () => {
    const { srv, mport } = await startWithMetrics(['-w', '2', 'examples/metrics:application']);
    await until(() => srv.workerPids().length === 2, 10_000, '2 workers');
    const K = 30;
    await requests(srv.port, K, '/roll');
    const s = await scrapeUntil(mport, (x) => sum(x, 'example_dice_rolls_total') === K, 5000, `${K} rolls`);
    assert.equal(sum(s, 'example_roll_duration_seconds_count'), K);
    assert.equal(sum(s, REQUESTS), K);
    for (const x of s.filter((y) => y.name === 'example_dice_rolls_total')) assert.match(x.labels.face!, /^[1-6]$/);
  });
});

describe('metrics: health checks and the metrics address', function () {
  this.timeout(30_000);

  it('/healthz 200, /readyz 200 with a worker, 404 elsewhere, HEAD answered, other methods 405', async () => {
    const { mport } = await startWithMetrics(['-w', '1', MASTER_APP]);
    assert.equal((await get(mport, '/healthz')).status, 200);
    const ready = await get(mport, '/readyz');
    assert.equal(ready.status, 200);
    assert.equal((await get(mport, '/nope')).status, 404);
    const head = await request(mport, { path: '/metrics', method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal((await request(mport, { path: '/metrics', method: 'POST' })).status, 405);
  });

  it('/readyz is 503 while the master shuts down (a slow request holds the graceful stop), /healthz still 200', async () => {
    const { srv, mport } = await startWithMetrics(['-w', '1', '--graceful-timeout', '10', MASTER_APP]);
    const slow = get(srv.port, '/slow?ms=4000');
    await srv.waitForRecord((r) => r.probe === 'slow-started');
    process.kill(srv.pid, 'SIGTERM');
    await until(async () => (await get(mport, '/readyz')).status === 503, 3000, '/readyz 503');
    assert.equal((await get(mport, '/healthz')).status, 200);
    assert.equal((await slow).status, 200);
    assert.equal((await srv.exited).code, 0);
  });

  it('/readyz is 503 while no worker runs (WINCH)', async () => {
    const { srv, mport } = await startWithMetrics(['-w', '1', MASTER_APP]);
    assert.equal((await get(mport, '/readyz')).status, 200);
    // WINCH is only obeyed by a master without a terminal: the test's is a pipe.
    process.kill(srv.pid, 'SIGWINCH');
    await until(() => childPids(srv.pid).length === 0, 10_000, 'no worker');
    assert.equal((await get(mport, '/readyz')).status, 503);
    process.kill(srv.pid, 'SIGTTIN');
    await until(async () => (await get(mport, '/readyz')).status === 200, 10_000, '/readyz 200 again');
  });

  for (const [bind, metrics] of [['127.0.0.1:18931', '127.0.0.1:18931'], ['0.0.0.0:18932', '127.0.0.1:18932']] as const) {
    it(`refuses --metrics-bind ${metrics} next to --bind ${bind}: one line, exit 1`, async () => {
      const r = await runToExit(['-b', bind, '--metrics-bind', metrics, MASTER_APP]);
      assert.equal(r.code, 1);
      const lines = r.stderr.split('\n').filter((l) => l.startsWith('gwserver: error:'));
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /--metrics-bind .* is also an application address/);
    });
  }

  it('a metrics address in use: one line, exit 1', async () => {
    const blocker = http.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const port = (blocker.address() as { port: number }).port;
      const r = await runToExit(['-b', '127.0.0.1:0', '--metrics-bind', `127.0.0.1:${port}`, MASTER_APP]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /gwserver: error: cannot listen on 127\.0\.0\.1:\d+ \(--metrics-bind\): the address is already in use/);
    } finally {
      blocker.close();
    }
  });

  it('USR2: the new master serves the same metrics address', async () => {
    const { srv, mport } = await startWithMetrics(['-w', '1', MASTER_APP]);
    await requests(srv.port, 3);
    await scrapeUntil(mport, (x) => sum(x, REQUESTS) === 3, 5000, '3 requests');
    const seen = srv.records().length;
    process.kill(srv.pid, 'SIGUSR2');
    const ready = await srv.waitForRecord((r) => r.pid === srv.pid && /is ready: upgrade took/.test(r.msg ?? ''), 30_000);
    const newPid = ready.new_master_pid as number;
    const rec = await srv.waitForRecord((r) => r.pid === newPid && r.msg === 'metrics listening');
    assert.equal(new URL(String(rec.address)).port, String(mport));
    assert.ok(srv.records().length > seen);
    // The old master is gone: only the new one answers (its counts start afresh).
    await srv.waitForRecord((r) => r.pid === srv.pid && r.msg === 'master stopped', 15_000);
    assert.equal((await get(mport, '/readyz')).status, 200);
    await requests(srv.port, 2);
    await scrapeUntil(mport, (x) => sum(x, REQUESTS) === 2, 5000, 'the new master counting');
  });
});
