/**
 * Adaptive workers (--workers-min, --workers-max) with real processes: a
 * burst of concurrent slow requests from this test (bounded in number and
 * time, on 127.0.0.1) raises the number of workers to the maximum within a
 * few seconds, and once the load is over it returns to the minimum, one
 * worker at a time; no request fails, the count never leaves the bounds,
 * and each change is logged and counted in /metrics. Bad values are one
 * line.
 */
import assert from 'node:assert/strict';
import { expectUsageError } from '../../helpers/gwserver.js';
import { runLoad } from '../../helpers/load.js';
import { scrapeUntil, startWithMetrics, sum } from '../../helpers/metrics.js';
import { until } from '../../helpers/until.js';

const APP = 'test/fixtures/apps/master.mjs:application';

describe('master: adaptive workers', function () {
  this.timeout(60_000);

  it('a burst of slow requests raises the workers to --workers-max within seconds; after it they return to --workers-min; zero failed requests', async () => {
    const { srv, mport } = await startWithMetrics(['--workers-min', '1', '--workers-max', '3', '--workers-target-inflight', '2', '--workers-scale-down-delay', '1', APP]);
    await srv.readyWorkers(1);
    // The count, watched all along: it must never leave [1, 3].
    let most = 0;
    let least = Infinity;
    const watch = setInterval(() => {
      const n = srv.workerPids().length;
      most = Math.max(most, n);
      least = Math.min(least, n);
    }, 20);
    try {
      let stop = false;
      const t0 = Date.now();
      // 12 clients in loops of 300 ms requests: about 12 in flight, 6 workers' worth at 2 each (the maximum is 3).
      const load = runLoad(srv.port, { concurrency: 12, path: '/slow?ms=300', until: () => stop, maxRequests: 2000 });
      let upMs = 0;
      try {
        await srv.waitForRecord((r) => /^adaptive workers: \d+ -> 3 \(up: /.test(r.msg ?? ''), 10_000);
        await srv.readyWorkers(3, 10_000);
        upMs = Date.now() - t0;
        // The burst goes on a little while at the maximum: nothing scales down under load.
        const at = Date.now();
        await until(() => Date.now() - at > 1500, 5000, 'a while at the maximum');
        assert.equal(srv.records().filter((r) => /^adaptive workers: .*\(down: /.test(r.msg ?? '')).length, 0, 'no scale-down under load');
      } finally {
        stop = true;
      }
      const result = await load;
      assert.equal(result.failed, 0, result.errors.join('; '));
      assert.ok(result.ok >= 24, `only ${result.ok} requests`);
      const t1 = Date.now();
      await srv.readyWorkers(1, 20_000);
      const downMs = Date.now() - t1;
      const changes = srv.records().filter((r) => /^adaptive workers: \d+ -> \d+/.test(r.msg ?? ''));
      const downs = changes.filter((r) => r.direction === 'down');
      // Down one worker at a time, each with its reason.
      assert.deepEqual(downs.map((r) => [r.previous, r.workers]).slice(-2), [[3, 2], [2, 1]]);
      for (const r of changes) assert.match(r.msg, /\((up|down): \d+ requests? in flight, event loops \d+% busy, lag \d+ ms/);
      assert.ok(srv.records().some((r) => r.reason === 'scale-down' && /^worker \d+ exited/.test(r.msg ?? '')));
      const samples = await scrapeUntil(mport, (s) => sum(s, 'gwserver_workers_scaled_total', { direction: 'down' }) >= 2, 5000, 'scale-downs counted');
      assert.ok(sum(samples, 'gwserver_workers_scaled_total', { direction: 'up' }) >= 1);
      assert.equal(sum(samples, 'gwserver_workers_desired'), 1);
      clearInterval(watch);
      assert.ok(most <= 3 + 1, `at most the maximum (and one stopping): ${most}`);
      assert.ok(least >= 1, `never below the minimum: ${least}`);
      console.log(`      1 -> 3 workers ${upMs} ms after the burst began (${changes.filter((r) => r.direction === 'up').map((r) => `${r.previous}->${r.workers}`).join(', ')}), back to 1 ${downMs} ms after it ended; ${result.ok} requests, 0 failed`);
    } finally {
      clearInterval(watch);
    }
  });

  it('TTIN and TTOU move both bounds and the count by one, and the scaler keeps to them', async () => {
    const srv = await startWithMetrics(['--workers-min', '1', '--workers-max', '2', '--workers-scale-down-delay', '0.5', APP]).then((r) => r.srv);
    await srv.readyWorkers(1);
    srv.proc.kill('SIGTTIN');
    await srv.waitForRecord((r) => r.msg === 'adaptive workers: bounds 1-2 -> 2-3');
    // Idle, but the minimum is 2 now: the scaler does not take the worker back.
    await srv.readyWorkers(2);
    const at = Date.now();
    await until(() => Date.now() - at > 2000, 5000, 'a while idle');
    assert.equal(srv.workerPids().length, 2);
    srv.proc.kill('SIGTTOU');
    await srv.waitForRecord((r) => r.msg === 'adaptive workers: bounds 2-3 -> 1-2');
    await srv.readyWorkers(1);
    // The worker is gone from /proc before the master's record of its exit reaches the test's pipe: wait for that record.
    await srv.waitForRecord((r) => r.reason === 'scale-down' && /^worker \d+ exited/.test(r.msg ?? ''), 10_000);
  });

  it('bad bounds are one line and exit code 2', async () => {
    for (const [args, pattern] of [
      [['--workers-min', '0', '--workers-max', '2'], /^gwserver: error: invalid value for --workers-min: 0 is too small/],
      [['--workers-min', '3', '--workers-max', '2'], /^gwserver: error: --workers-min 3 is more than --workers-max 2$/],
      [['--workers-min', '2'], /^gwserver: error: --workers-min 2 needs --workers-max/],
      [['--workers-max', 'many'], /^gwserver: error: invalid value for --workers-max: expected/],
      [['--workers-max', '2', '--workers-target-inflight', '0'], /^gwserver: error: invalid value for --workers-target-inflight: 0 is out of range/],
    ] as const) {
      await expectUsageError([...args, APP], pattern);
    }
  });
});
