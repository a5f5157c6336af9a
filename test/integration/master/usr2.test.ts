/**
 * USR2 through real processes and real signals: the master re-executes
 * itself, the new master inherits the listening sockets (a client loop of
 * fresh connections sees no refused connection and no failure), its workers
 * take over, the old master retires (or, with --keep-old-master, stays until
 * WINCH and TERM), the pid file moves to .oldbin and back, a new master that
 * cannot start leaves the old one serving, under systemd MAINPID moves to the
 * new master, and socket activation carries over.
 *
 * The new master is a child of the old one and outlives it as an orphan:
 * test/helpers/gwserver.ts kills every gwserver process that logged through
 * the server's stderr, so it and its workers die with the test too.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { childPids, startGwserver, type Gwserver } from '../../helpers/gwserver.js';
import { freePort } from '../../helpers/free-port.js';
import { get } from '../../helpers/http.js';
import { runLoad, type LoadResult } from '../../helpers/load.js';
import { startNotifyListener, parseNotify, type NotifyListener } from '../../helpers/notify-socket.js';
import { until } from '../../helpers/until.js';
import { tempDir } from '../../helpers/temp-dir.js';

const APP = 'test/fixtures/apps/master.mjs:application';

/** A live process (a zombie awaiting its reaper counts as gone). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function ppid(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function title(pid: number): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').trim();
}

async function waitWorkers(pid: number, n: number, timeoutMs = 15_000): Promise<number[]> {
  await until(() => childPids(pid).filter(running).length === n, timeoutMs, `${n} workers of ${pid}`);
  return childPids(pid).filter(running);
}

/** Sends USR2 to the old master; resolves once it reports the new master ready. */
async function upgrade(srv: Gwserver, oldPid = srv.pid): Promise<{ newPid: number; readyMs: number; t0: number }> {
  const seen = srv.records().length;
  const t0 = Date.now();
  process.kill(oldPid, 'SIGUSR2');
  const isReady = (r: Record<string, any>) => r.pid === oldPid && /is ready: upgrade took/.test(r.msg ?? '');
  await until(() => srv.records().slice(seen).some(isReady), 30_000, 'the new master to be ready');
  const rec = srv.records().slice(seen).find(isReady)!;
  return { newPid: rec.new_master_pid as number, readyMs: rec.ms as number, t0 };
}

/** TERM to a master by pid; resolves once it logged its exit (an orphaned new master is nobody's child here). */
async function stopMaster(srv: Gwserver, pid: number): Promise<Record<string, any>> {
  process.kill(pid, 'SIGTERM');
  const rec = await srv.waitForRecord((r) => r.pid === pid && r.msg === 'master stopped', 15_000);
  await until(() => !running(pid), 5000, `master ${pid} gone`);
  return rec;
}

function assertNoFailure(result: LoadResult): void {
  assert.equal(result.failed, 0, `failed requests: ${result.errors.join('; ')}`);
  assert.equal(result.races, 0, 'fresh connections cannot race');
}

describe('master: USR2 (re-executing the master)', function () {
  this.timeout(90_000);
  let dir: string;
  beforeEach(() => {
    dir = tempDir('gw-usr2-');
  });

  it('under load with fresh connections: no refused connection, no failure; the new workers take over, the old master retires, the pid file moves', async () => {
    const pidfile = path.join(dir, 'gw.pid');
    const sock = path.join(dir, 'gw.sock');
    const srv = await startGwserver(['-w', '2', '--pid', pidfile, '-b', '127.0.0.1:0', '-b', `unix:${sock}`, APP]);
    const oldWorkers = await waitWorkers(srv.pid, 2);
    let stop = false;
    const warm = new Set<string>();
    const load = runLoad(srv.port, { concurrency: 4, until: () => stop, onOk: (b) => warm.add(b) });
    // The load is under way before the signal.
    await until(() => warm.size > 0, 10_000, 'the load under way');

    const up = upgrade(srv);
    const spawned = await srv.waitForRecord((r) => r.pid === srv.pid && /re-executing the master/.test(r.msg ?? ''));
    const newPid = spawned.new_master_pid as number;
    // The new master is the old one's child, with the same command line, in the same directory.
    assert.equal(ppid(newPid), srv.pid);
    assert.equal(readFileSync(`${pidfile}.oldbin`, 'utf8').trim(), String(srv.pid));
    const { readyMs, t0 } = await up;
    assert.equal(readFileSync(pidfile, 'utf8').trim(), String(newPid));

    // Default: the old master stops its workers gracefully and exits 0 once the new one is ready.
    const exit = await srv.exited;
    const retiredMs = Date.now() - t0;
    assert.equal(exit.code, 0);
    await until(() => oldWorkers.every((p) => !running(p)), 10_000, 'old workers gone');
    assert.equal(existsSync(`${pidfile}.oldbin`), false, '.oldbin removed by the old master');
    assert.equal(readFileSync(pidfile, 'utf8').trim(), String(newPid));
    assert.ok(existsSync(sock), 'the unix socket file outlives the old master');
    await srv.waitForRecord((r) => r.pid === newPid && /the old master \(pid \d+\) is gone/.test(r.msg ?? ''));

    // The new master's workers answer, on both sockets.
    const newWorkers = await waitWorkers(newPid, 2);
    assert.ok(newWorkers.every((p) => !oldWorkers.includes(p)));
    for (let i = 0; i < 10; i++) {
      const { body } = await get({ port: srv.port });
      assert.ok(newWorkers.includes(Number(body)), `answered by ${body}, not a new worker`);
      assert.equal(ppid(Number(body)), newPid);
    }
    const viaUnix = await get({ socketPath: sock });
    assert.ok(newWorkers.includes(Number(viaUnix.body)));

    stop = true;
    const result = await load;
    assertNoFailure(result);
    assert.ok([...result.bodies].some((b) => oldWorkers.includes(Number(b))), 'the load reached the old workers');
    assert.ok([...result.bodies].some((b) => newWorkers.includes(Number(b))), 'the load reached the new workers');
    assert.ok(!srv.records().some((r) => r.pid === newPid && /LISTEN_PID|LISTEN_FDS/.test(r.msg ?? '')));

    // The last master removes the pid file and the socket file.
    await stopMaster(srv, newPid);
    await until(() => newWorkers.every((p) => !running(p)), 10_000, 'new workers gone');
    assert.equal(existsSync(pidfile), false);
    assert.equal(existsSync(sock), false);
    console.log(`      USR2 with 2 workers under load: new master ready ${readyMs} ms after USR2, old master gone after ${retiredMs} ms; ${result.ok} requests, 0 failed, 0 refused`);
  });

  it('under load with keep-alive clients: no request that reached a worker fails', async () => {
    const srv = await startGwserver(['-w', '2', APP]);
    await waitWorkers(srv.pid, 2);
    let stop = false;
    const warm = new Set<string>();
    const load = runLoad(srv.port, { concurrency: 4, keepAlive: true, until: () => stop, onOk: (b) => warm.add(b) });
    // The load is under way before the signal.
    await until(() => warm.size > 0, 10_000, 'the load under way');
    const { newPid } = await upgrade(srv);
    await srv.exited;
    const newWorkers = await waitWorkers(newPid, 2);
    for (let i = 0; i < 5; i++) assert.ok(newWorkers.includes(Number((await get({ port: srv.port })).body)));
    stop = true;
    const result = await load;
    assert.equal(result.failed, 0, result.errors.join('; '));
    console.log(`      USR2 with keep-alive clients: ${result.ok} ok, ${result.races} idle-connection close races (to retry), 0 failed`);
    await stopMaster(srv, newPid);
  });

  it('--keep-old-master: both masters serve until the old one gets WINCH and TERM (gunicorn\'s way)', async () => {
    const pidfile = path.join(dir, 'gw.pid');
    const sock = path.join(dir, 'gw.sock');
    const srv = await startGwserver(['-w', '1', '--keep-old-master', '--name', 'upg', '--pid', pidfile, '-b', '127.0.0.1:0', '-b', `unix:${sock}`, APP]);
    const [oldWorker] = await waitWorkers(srv.pid, 1);
    let stop = false;
    const warm = new Set<string>();
    const load = runLoad(srv.port, { concurrency: 4, until: () => stop, onOk: (b) => warm.add(b) });
    // The load is under way before the signal.
    await until(() => warm.size > 0, 10_000, 'the load under way');

    const { newPid } = await upgrade(srv);
    await srv.waitForRecord((r) => r.pid === srv.pid && /--keep-old-master: this master/.test(r.msg ?? ''));
    const [newWorker] = await waitWorkers(newPid, 1);
    assert.ok(running(srv.pid) && running(oldWorker!), 'the old master and its worker keep running');
    assert.equal(title(srv.pid), 'gwserver: master [upg] (old)');
    assert.equal(title(newPid), 'gwserver: master [upg]');
    assert.equal(readFileSync(`${pidfile}.oldbin`, 'utf8').trim(), String(srv.pid));
    assert.equal(readFileSync(pidfile, 'utf8').trim(), String(newPid));

    // One upgrade at a time, from a master that runs alone.
    process.kill(srv.pid, 'SIGUSR2');
    await srv.waitForRecord((r) => r.pid === srv.pid && /USR2 ignored: a new master \(pid \d+\) is already running/.test(r.msg ?? ''));
    process.kill(newPid, 'SIGUSR2');
    await srv.waitForRecord((r) => r.pid === newPid && /USR2 ignored: the master that started this one/.test(r.msg ?? ''));

    // WINCH: the old workers stop; the new ones serve everything.
    process.kill(srv.pid, 'SIGWINCH');
    await until(() => !running(oldWorker!), 10_000, 'old worker gone');
    for (let i = 0; i < 5; i++) assert.equal((await get({ port: srv.port })).body, String(newWorker));

    // TERM: the old master exits and leaves the sockets, the socket file and the pid file to the new one.
    srv.proc.kill('SIGTERM');
    assert.equal((await srv.exited).code, 0);
    assert.equal(existsSync(`${pidfile}.oldbin`), false);
    assert.equal(readFileSync(pidfile, 'utf8').trim(), String(newPid));
    assert.ok(existsSync(sock));
    assert.equal((await get({ socketPath: sock })).body, String(newWorker));
    await srv.waitForRecord((r) => r.pid === newPid && /the old master \(pid \d+\) is gone/.test(r.msg ?? ''));
    stop = true;
    assertNoFailure(await load);

    await stopMaster(srv, newPid);
    assert.equal(existsSync(sock), false);
    assert.equal(existsSync(pidfile), false);
  });

  it('runs the preExec hook in the old master before the new master starts; a throwing preExec is logged and survived', async () => {
    const marker = path.join(dir, 'pre-exec');
    const config = path.join(dir, 'gw.config.mjs');
    writeFileSync(config, [
      "import { appendFileSync } from 'node:fs';",
      `export function preExec(server) { server.log.info('preExec: re-executing with %d workers', server.numWorkers); appendFileSync(${JSON.stringify(marker)}, process.pid + ' ' + server.numWorkers + '\\n'); throw new Error('preExec failed on purpose'); }`,
      '',
    ].join('\n'));
    const srv = await startGwserver(['-c', config, '-w', '1', APP]);
    const { newPid } = await upgrade(srv);
    assert.equal(readFileSync(marker, 'utf8'), `${srv.pid} 1\n`);
    const recs = srv.records();
    const threw = recs.findIndex((r) => r.pid === srv.pid && r.hook === 'preExec' && /threw/.test(r.msg ?? ''));
    const spawned = recs.findIndex((r) => r.pid === srv.pid && /re-executing the master/.test(r.msg ?? ''));
    const first = recs.findIndex((r) => r.pid === newPid);
    assert.ok(threw >= 0 && threw < spawned && spawned < first, `preExec at ${threw}, spawn at ${spawned}, new master's first record at ${first}`);
    // server.log, as gunicorn's pre_exec writes it: the old master's record.
    const said = recs.findIndex((r) => r.pid === srv.pid && r.msg === 'preExec: re-executing with 1 workers' && r.level === 'info');
    assert.ok(said >= 0 && said < threw, `server.log's record at ${said}`);
    await srv.exited;
    await stopMaster(srv, newPid);
  });

  it('a new master that cannot load the app leaves the old master serving, with its pid file and title back', async () => {
    const pidfile = path.join(dir, 'gw.pid');
    const app = path.join(dir, 'app.mjs');
    const write = (body: string) => writeFileSync(app, `export function application(e, s) { s('200 OK', []); return ['${body}']; }\n`);
    write('good');
    const srv = await startGwserver(['-w', '1', '--name', 'fail', '--pid', pidfile, `${app}:application`]);
    const [worker] = await waitWorkers(srv.pid, 1);
    let stop = false;
    const load = runLoad(srv.port, { concurrency: 4, until: () => stop });

    writeFileSync(app, "throw new Error('broken deploy');\n");
    process.kill(srv.pid, 'SIGUSR2');
    const failed = await srv.waitForRecord((r) => r.pid === srv.pid && /USR2 failed/.test(r.msg ?? ''), 20_000);
    assert.equal(failed.code, 4);
    assert.match(failed.msg, /the app could not be loaded/);
    assert.ok(srv.stderr.some((l) => /gwserver: error: .*broken deploy/.test(l)), 'the new master said why');
    assert.equal(readFileSync(pidfile, 'utf8').trim(), String(srv.pid));
    assert.equal(existsSync(`${pidfile}.oldbin`), false);
    assert.equal(title(srv.pid), 'gwserver: master [fail]');
    assert.deepEqual(childPids(srv.pid).filter(running), [worker]);
    assert.equal((await get({ port: srv.port })).body, 'good');
    stop = true;
    const result = await load;
    assertNoFailure(result);
    assert.deepEqual([...result.bodies], ['good']);

    // Fixed: the next USR2 goes through.
    write('fixed');
    const { newPid } = await upgrade(srv);
    await srv.exited;
    await until(async () => (await get({ port: srv.port })).body === 'fixed', 10_000, 'fixed served');
    await stopMaster(srv, newPid);
  });

  it('--preload: USR2 is how the master picks up a changed app; a broken change is caught by the new master before it forks', async () => {
    const app = path.join(dir, 'app.mjs');
    const write = (body: string) => writeFileSync(app, `export function application(e, s) { s('200 OK', []); return ['${body}']; }\n`);
    write('v1');
    const srv = await startGwserver(['-w', '2', '--preload', `${app}:application`]);
    assert.equal((await get({ port: srv.port })).body, 'v1');

    writeFileSync(app, "throw new Error('broken deploy');\n");
    process.kill(srv.pid, 'SIGUSR2');
    const failed = await srv.waitForRecord((r) => r.pid === srv.pid && /USR2 failed/.test(r.msg ?? ''), 20_000);
    assert.equal(failed.code, 4);
    // --preload: the new master loaded the app itself and stopped before forking any worker.
    assert.ok(!srv.records().some((r) => r.pid === failed.new_master_pid && /booting worker/.test(r.msg ?? '')));
    assert.equal((await get({ port: srv.port })).body, 'v1');

    write('v2');
    let stop = false;
    const load = runLoad(srv.port, { concurrency: 2, until: () => stop });
    const { newPid } = await upgrade(srv);
    await srv.exited;
    await until(async () => (await get({ port: srv.port })).body === 'v2', 10_000, 'v2 served');
    stop = true;
    const result = await load;
    assertNoFailure(result);
    assert.ok(result.bodies.has('v1') && result.bodies.has('v2'), [...result.bodies].join(','));
    await stopMaster(srv, newPid);
  });

  describe('under systemd', () => {
    let listener: NotifyListener;
    beforeEach(async () => {
      listener = await startNotifyListener();
    });
    afterEach(async () => {
      await listener.stop();
    });

    it('MAINPID moves to the new master with its READY=1; the old master sends no STOPPING=1', async () => {
      const srv = await startGwserver(['-w', '1', APP], { env: { NOTIFY_SOCKET: listener.path } });
      const payloads = () => listener.messages.filter((m) => m !== 'BARRIER=1').map(parseNotify);
      await listener.waitFor((m) => parseNotify(m).READY === '1');
      assert.equal(payloads()[0]!.MAINPID, String(srv.pid));
      const before = payloads().length;

      const { newPid } = await upgrade(srv);
      // The new master's READY=1 was read (systemd-notify's barrier) before it reported ready to the old one.
      const since = () => payloads().slice(before);
      assert.deepEqual(since().map((p) => [p.READY, p.MAINPID]), [['1', String(newPid)]]);
      await srv.exited;
      assert.ok(since().every((p) => p.MAINPID === String(newPid) && p.STOPPING === undefined), JSON.stringify(since()));

      // Stopping the new master is the unit stopping.
      process.kill(newPid, 'SIGTERM');
      await listener.waitFor((m) => parseNotify(m).STOPPING === '1', 10_000, before);
      assert.equal(since().at(-1)!.MAINPID, String(newPid));
      await srv.waitForRecord((r) => r.pid === newPid && r.msg === 'master stopped');
    });

    it('socket activation: the socket systemd passed goes to the new master; LISTEN_FDS does not', async () => {
      let srv: Gwserver | undefined;
      let port = 0;
      for (let attempt = 1; srv === undefined; attempt++) {
        port = await freePort();
        const s = await startGwserver(['-w', '1', APP], { wrap: ['systemd-socket-activate', '-l', `127.0.0.1:${port}`, '--'], noWait: true });
        await until(() => s.stderr.some((l) => /Listening on .* as 3\./.test(l)) || s.proc.exitCode !== null, 10_000, 'systemd-socket-activate to listen');
        // systemd-socket-activate runs gwserver on the first connection.
        const first = get({ port }).catch((err: Error) => err);
        const started = await Promise.race([s.waitForRecord((r) => r.msg === 'listening', 15_000).then(() => true, () => false), s.exited.then(() => false)]);
        if (started) {
          assert.equal(((await first) as { status: number }).status, 200);
          srv = s;
        } else {
          await s.stop();
          if (attempt >= 5 || !s.stderr.some((l) => /in use/i.test(l))) throw new Error(`systemd-socket-activate failed: ${s.stderr.join('\n')}`);
        }
      }
      assert.ok(srv.records().some((r) => /from systemd \(LISTEN_FDS\)/.test(r.msg ?? '')));
      const [oldWorker] = await waitWorkers(srv.pid, 1);
      let stop = false;
      const load = runLoad(port, { concurrency: 4, until: () => stop });
      const { newPid } = await upgrade(srv);
      await srv.exited;
      const [newWorker] = await waitWorkers(newPid, 1);
      await until(() => !running(oldWorker!), 10_000, 'old worker gone');
      assert.equal((await get({ port })).body, String(newWorker));
      stop = true;
      assertNoFailure(await load);
      const mine = srv.records().filter((r) => r.pid === newPid);
      assert.ok(mine.some((r) => /inherited from the old master \(GWSERVER_FDS=3\)/.test(r.msg ?? '')), JSON.stringify(mine.map((r) => r.msg)));
      assert.ok(mine.some((r) => r.msg === 'listening' && r.address === `http://127.0.0.1:${port}`));
      assert.ok(!mine.some((r) => /LISTEN_PID|LISTEN_FDS/.test(r.msg ?? '')));
      await stopMaster(srv, newPid);
    });
  });
});
