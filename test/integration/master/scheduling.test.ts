/**
 * --scheduling: round-robin (the master accepts and hands connections to the
 * workers in turn) and os (the workers accept on the master's sockets),
 * through real processes: spreading, USR2 under load, sockets that outlive
 * the last worker, and what a worker stuck in `for(;;){}` does to the
 * connections that arrive meanwhile (bench/SCHEDULING.md has the figures).
 * HUP under load, for both schedulings, is in signals.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startGwserver, type Gwserver, alive } from '../../helpers/gwserver.js';
import { get } from '../../helpers/http.js';
import { runLoad } from '../../helpers/load.js';
import { RawClient } from '../../helpers/raw.js';
import { until } from '../../helpers/until.js';

const APP = 'test/fixtures/apps/master.mjs:application';
const STUCK = 'test/fixtures/apps/stuck.mjs:application';

/** utime + stime in clock ticks (100 a second on Linux). */
function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/** The worker that burns a full core in two 100 ms samples in a row: the one stuck in /spin. */
async function spinningWorker(srv: Gwserver): Promise<number> {
  let hot = new Set<number>();
  let last = new Map(srv.workerPids().map((p) => [p, cpuTicks(p)]));
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    const now = new Map(srv.workerPids().map((p) => [p, cpuTicks(p)]));
    const burning = [...now].filter(([p, t]) => last.has(p) && t - last.get(p)! >= 8).map(([p]) => p);
    const again = burning.find((p) => hot.has(p));
    if (again !== undefined) return again;
    hot = new Set(burning);
    last = now;
  }
  throw new Error('no worker is spinning');
}

/** The WorkerSpec the master gave a worker (GWSERVER_WORKER in its environment). */
function workerSpec(pid: number): Record<string, any> {
  const kv = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').find((v) => v.startsWith('GWSERVER_WORKER='));
  return JSON.parse(kv!.slice('GWSERVER_WORKER='.length));
}

/**
 * Blocks one of two workers with /spin, then makes `n` requests in turn,
 * each on a fresh connection, waiting for each (up to 15 s).
 */
async function requestsWhileOneIsStuck(srv: Gwserver, n: number): Promise<{ victim: number; other: number; results: Array<{ status: number; body: string; ms: number }> }> {
  const workers = await srv.waitWorkers(2);
  const spin = get(srv.port, '/spin').catch(() => undefined);
  const victim = await spinningWorker(srv);
  const other = workers.find((p) => p !== victim)!;
  const results = [];
  for (let i = 0; i < n; i++) results.push(await get(srv.port));
  // The /spin request itself ends when the stuck worker is killed (or the test stops the server).
  void spin;
  return { victim, other, results };
}

describe('master: --scheduling', function () {
  this.timeout(60_000);

  describe('round-robin', () => {
    it('the master accepts and spreads requests over the workers in turn; the workers hold no listening socket', async () => {
      const srv = await startGwserver(['-w', '2', '--scheduling', 'round-robin', APP]);
      const workers = await srv.waitWorkers(2);
      assert.ok(srv.records().some((r) => /^round-robin scheduling/.test(r.msg ?? '')));
      const counts = new Map<string, number>();
      for (let i = 0; i < 20; i++) {
        const r = await get(srv.port);
        assert.equal(r.status, 200);
        counts.set(r.body, (counts.get(r.body) ?? 0) + 1);
      }
      assert.deepEqual([...counts.keys()].map(Number).sort(), [...workers].sort(), 'both workers served');
      // In turn: each gets about half (an ack read after the next connection can skip a turn).
      for (const [pid, n] of counts) assert.ok(n >= 6, `worker ${pid} served ${n} of 20`);
      // The sockets stay with the master: the workers got no descriptor but the IPC channel and stdio.
      for (const pid of workers) {
        const spec = workerSpec(pid);
        assert.deepEqual(spec.fds, []);
        assert.equal(spec.roundRobin, 1);
      }
    });

    it('the socket survives the death of the only worker: a client connecting meanwhile waits in the master and is served by the replacement', async () => {
      const srv = await startGwserver(['-w', '1', '--scheduling', 'round-robin', APP]);
      let [victim] = await srv.waitWorkers(1);
      for (const round of [1, 2]) {
        process.kill(victim!, 'SIGKILL');
        await until(() => !alive(victim!), 5000, 'worker dead');
        const c = await RawClient.open(srv.port).catch(() => undefined);
        assert.ok(c, `round ${round}: connected while no worker runs`);
        await c.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
        await c.waitClosed(20_000);
        assert.match(c.text, /^HTTP\/1\.1 200 OK/);
        const served = Number(c.text.split('\r\n\r\n')[1]);
        assert.notEqual(served, victim);
        assert.deepEqual(srv.workerPids(), [served], 'served by the replacement');
        victim = served;
      }
    });

    it('USR2 under load: the new master accepts on the inherited sockets, the old one stops accepting and exits; zero failed requests', async () => {
      const srv = await startGwserver(['-w', '2', '--scheduling', 'round-robin', APP]);
      await srv.waitWorkers(2);
      let stop = false;
      const load = runLoad(srv.port, { concurrency: 4, until: () => stop });
      srv.proc.kill('SIGUSR2');
      assert.equal((await srv.exited).code, 0, 'the old master retired');
      const masters = new Set(srv.records().filter((r) => /^round-robin scheduling/.test(r.msg ?? '')).map((r) => r.pid));
      assert.equal(masters.size, 2, 'both masters accepted (the new one on the inherited descriptor)');
      const served = new Set<string>();
      await until(async () => {
        served.add((await get(srv.port)).body);
        return served.size >= 2;
      }, 10_000, 'the new workers serving');
      stop = true;
      const result = await load;
      assert.equal(result.failed, 0, result.errors.join('; '));
      console.log(`      round-robin, USR2 under load: ${result.ok} requests, 0 failed`);
    });

    it('TERM lets an in-flight request finish, then the master exits 0', async () => {
      const srv = await startGwserver(['-w', '2', '--scheduling', 'round-robin', APP]);
      const workers = await srv.waitWorkers(2);
      const slow = get(srv.port, '/slow?ms=1500');
      await srv.waitForRecord((r) => r.probe === 'slow-started');
      srv.proc.kill('SIGTERM');
      const res = await slow;
      assert.equal(res.status, 200);
      assert.match(res.body, /^slow done by \d+$/);
      assert.equal((await srv.exited).code, 0);
      await until(() => workers.every((pid) => !alive(pid)), 5000, 'workers gone');
    });

    it('a stuck worker: at most one connection is handed to it, and it is served by another worker once the stuck one is killed', async () => {
      const srv = await startGwserver(['-w', '2', '--timeout', '4', '--scheduling', 'round-robin', STUCK]);
      const { victim, results } = await requestsWhileOneIsStuck(srv, 20);
      assert.ok(results.every((r) => r.status === 200), 'every request answered: none lost');
      assert.ok(results.every((r) => r.body !== `ok ${victim}`), 'none by the stuck worker');
      const slow = results.filter((r) => r.ms > 1000);
      // The one handed to the stuck worker (if its heartbeat was not yet late) waits for the kill (--timeout 4).
      assert.ok(slow.length <= 1, `${slow.length} requests waited: ${slow.map((r) => r.ms).join(', ')} ms`);
      if (slow.length === 1) {
        await srv.waitForRecord((r) => /handed to a worker that exited before taking it/.test(r.msg ?? '') && r.worker_pid === victim);
        assert.ok(slow[0]!.ms < 4000 + 2000, `answered after ${slow[0]!.ms} ms`);
      }
      console.log(`      round-robin with a stuck worker: 20/20 answered, ${slow.length} waited for the stuck worker's kill${slow.length ? ` (${slow[0]!.ms} ms)` : ''}`);
    });
  });

  describe('os', () => {
    it('a stuck worker: every request on a fresh connection meanwhile is answered at once by the other worker', async () => {
      const srv = await startGwserver(['-w', '2', '--timeout', '10', '--scheduling', 'os', STUCK]);
      const { victim, other, results } = await requestsWhileOneIsStuck(srv, 20);
      assert.deepEqual(results.map((r) => r.body), Array(20).fill(`ok ${other}`));
      assert.ok(results.every((r) => r.ms < 1000), results.map((r) => r.ms).join(', '));
      assert.ok(alive(victim), 'still stuck, not yet killed (--timeout 10): nothing waited for the kill');
    });

    it('is the default', async () => {
      const srv = await startGwserver([APP]);
      assert.equal(srv.records().some((r) => /^round-robin scheduling/.test(r.msg ?? '')), false);
      const [worker] = await srv.waitWorkers(1);
      const spec = workerSpec(worker!);
      assert.deepEqual(spec.fds, [4]);
      assert.equal(spec.config.scheduling, 'os');
    });
  });
});
