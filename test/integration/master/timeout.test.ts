/**
 * --timeout: a worker whose event loop is stuck is killed and replaced, and
 * the log says where it was stuck.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, startGwserver } from '../../helpers/gwserver.js';
import { until } from '../../helpers/until.js';

const STUCK = 'test/fixtures/apps/stuck.mjs';

function markerLine(marker: string): number {
  const lines = readFileSync(path.join(ROOT, STUCK), 'utf8').split('\n');
  return lines.findIndex((l) => l.includes(marker)) + 1;
}

describe('master: stuck workers (--timeout)', function () {
  this.timeout(30_000);

  it('replaces a worker stuck in for(;;){} within timeout + 2 s, naming the stuck function and file', async () => {
    const srv = await startGwserver(['-w', '1', '--timeout', '2', `${STUCK}:application`]);
    await until(() => srv.workerPids().length === 1, 10_000, 'worker');
    const [victim] = srv.workerPids();
    const t0 = Date.now();
    const stuck = fetch(`${srv.url}/spin`).then((r) => r.status, () => 'cut');
    const rec = await srv.waitForRecord((r) => /timed out/.test(r.msg ?? '') && r.worker_pid === victim, 10_000);
    await until(() => srv.workerPids().length === 1 && srv.workerPids()[0] !== victim, 10_000, 'replacement');
    const replacedMs = Date.now() - t0;
    assert.ok(replacedMs < 4000, `replaced after ${replacedMs} ms (timeout 2 s)`);
    assert.match(rec.stack, /spinForever/);
    assert.ok(rec.stack.includes(`stuck.mjs:${markerLine('@spin-line')}:`), rec.stack);
    assert.equal(await stuck, 'cut');
    const exit = await srv.waitForRecord((r) => r.worker_pid === victim && /exited/.test(r.msg ?? ''));
    assert.equal(exit.reason, 'timeout');
    const res = await fetch(`${srv.url}/`);
    assert.equal(res.status, 200);
    console.log(`      stuck worker: killed and replaced ${replacedMs} ms after the request that blocked it (--timeout 2)`);
  });

  it('a long but finite block below the timeout is reported, not killed', async () => {
    const srv = await startGwserver(['-w', '1', '--timeout', '4', `${STUCK}:application`]);
    await until(() => srv.workerPids().length === 1, 10_000, 'worker');
    const [worker] = srv.workerPids();
    const r = await fetch(`${srv.url}/block?ms=1500`);
    assert.equal(r.status, 200);
    const rec = await srv.waitForRecord((x) => x.msg === 'worker event loop blocked');
    assert.match(rec.stack, /busyWait/);
    assert.deepEqual(srv.workerPids(), [worker]);
  });
});
