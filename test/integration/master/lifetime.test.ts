/**
 * --max-worker-lifetime with real processes: under steady load, every
 * worker is replaced when its lifetime is up, one at a time, each
 * replacement logged ready before the worker it replaces is told to stop,
 * and no request fails; with -w 1 too, where a stop before the replacement
 * is ready would leave no worker at all. And a bad value is one line.
 */
import assert from 'node:assert/strict';
import { expectUsageError, startGwserver, type Gwserver } from '../../helpers/gwserver.js';
import { runLoad } from '../../helpers/load.js';
import { until } from '../../helpers/until.js';

const APP = 'test/fixtures/apps/master.mjs:application';

type Rec = Record<string, any>;

/** A record's time (ISO in the JSON lines), in ms. */
function at(r: Rec): number {
  const t = Date.parse(r.time);
  assert.ok(Number.isFinite(t), `a record without a time: ${JSON.stringify(r)}`);
  return t;
}

/** The master's record saying worker `id` is ready. */
const readyOf = (records: Rec[], id: number) => records.find((r) => r.msg === `worker ${id} ready`);

/**
 * For each worker replaced for its lifetime: its replacement (the worker
 * forked when it was retired) was logged ready no later than the worker
 * itself logged `worker stopping`; and the two never overlapped with a
 * third replacement (one at a time).
 */
function checkReplacements(srv: Gwserver): Array<{ old: number; next: number; overlapMs: number }> {
  const records = srv.records();
  const out: Array<{ old: number; next: number; overlapMs: number }> = [];
  for (const exit of records.filter((r) => r.reason === 'lifetime' && /^worker \d+ exited/.test(r.msg ?? ''))) {
    const old = exit.worker_id as number;
    const retired = records.findIndex((r) => r.msg === `replacing worker ${old} (lifetime)`);
    assert.ok(retired >= 0, `worker ${old} was retired for its lifetime`);
    // The replacement is the next worker the master booted after the retirement.
    const booted = records.slice(retired).find((r) => /^booting worker \d+ with pid/.test(r.msg ?? ''));
    assert.ok(booted, `a replacement of worker ${old} booted`);
    const next = booted.worker_id as number;
    const ready = readyOf(records, next);
    const stopping = records.find((r) => r.worker_id === old && r.msg === 'worker stopping');
    assert.ok(ready, `worker ${next} (replacing ${old}) logged ready`);
    assert.ok(stopping, `worker ${old} logged its stop`);
    assert.ok(at(ready) <= at(stopping), `worker ${next} ready at ${ready.time}, after worker ${old} began to stop at ${stopping.time}`);
    out.push({ old, next, overlapMs: at(stopping) - at(ready) });
  }
  return out;
}

describe('master: --max-worker-lifetime', function () {
  this.timeout(60_000);

  for (const n of [1, 2]) {
    it(`-w ${n}: each worker is replaced when its lifetime is up, its replacement ready first, with zero failed requests`, async () => {
      const srv = await startGwserver(['-w', String(n), '--max-worker-lifetime', '2', '--max-worker-lifetime-jitter', '0.5', APP]);
      const first = await srv.readyWorkers(n);
      let stop = false;
      const load = runLoad(srv.port, { concurrency: 2, until: () => stop, maxRequests: 20_000 });
      const exits = () => srv.records().filter((r) => r.reason === 'lifetime' && /^worker \d+ exited/.test(r.msg ?? ''));
      try {
        // Every first worker gone for its lifetime, and (with -w 1) its replacement too.
        await until(() => first.every((pid) => exits().some((r) => r.worker_pid === pid)) && exits().length >= Math.max(2, n), 20_000, () => `lifetime exits (have ${exits().length})`);
      } finally {
        stop = true;
      }
      const result = await load;
      assert.equal(result.failed, 0, result.errors.join('; '));
      assert.ok(result.ok > 20, `only ${result.ok} requests`);
      const pairs = checkReplacements(srv);
      assert.ok(pairs.length >= Math.max(2, n));
      // One at a time: a worker is retired only once the previous replacement is ready.
      const retirements = srv.records().filter((r) => /^replacing worker \d+ \(lifetime\)$/.test(r.msg ?? ''));
      for (let i = 1; i < retirements.length; i++) {
        const prev = pairs.find((p) => p.old === retirements[i - 1]!.worker_id);
        if (prev === undefined) continue;
        assert.ok(at(readyOf(srv.records(), prev.next)!) <= at(retirements[i]!), 'retired one at a time');
      }
      assert.ok(srv.records().some((r) => /^worker \d+ reached --max-worker-lifetime \([\d.]+ s old\)$/.test(r.msg ?? '')));
      assert.equal(srv.workerPids().length >= n, true);
      console.log(`      -w ${n}, lifetime 2 s (+0.5): ${pairs.length} workers replaced, replacement ready ${pairs.map((p) => p.overlapMs).join(', ')} ms before the stop; ${result.ok} requests, 0 failed`);
    });
  }

  it('a bad value is one line and exit code 2', async () => {
    for (const [args, pattern] of [
      [['--max-worker-lifetime', '-1'], /^gwserver: error: invalid value for --max-worker-lifetime: -1 is out of range/],
      [['--max-worker-lifetime-jitter', 'soon'], /^gwserver: error: invalid value for --max-worker-lifetime-jitter: expected a number/],
    ] as const) {
      await expectUsageError([...args, APP], pattern);
    }
  });
});
