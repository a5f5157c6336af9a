/**
 * The control socket and gwserverctl against real `gwserver -w 2` masters:
 * every command (status, workers with a request in flight, stack of a
 * worker busy in a known function, reload waiting for readiness, add,
 * remove, kill, reopen, shutdown with a request in flight, config, top),
 * the socket refusing other users and surviving bad input, the default
 * path (two servers side by side, USR2 with --keep-old-master), and the
 * command line's mistakes.
 *
 * Each test gives its servers and its gwserverctl runs an XDG_RUNTIME_DIR of
 * its own, so that the default sockets are found there and nowhere else.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { childPids, ROOT, runToExit, startGwserver, type Gwserver, type Run } from '../helpers/gwserver.js';
import { get } from '../helpers/http.js';
import { afterTest } from '../helpers/scope.js';
import { tempDir } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';

const CTL = path.join(ROOT, 'dist/cli/ctl-bin.js');
const FIXTURE = path.join(ROOT, 'test/fixtures/apps/control.mjs');
const APP = 'test/fixtures/apps/control.mjs:application';
const NOBODY = 65534;

/** Runs gwserverctl to its exit (killed, and the test failed, after `timeoutMs`). */
function ctl(args: string[], env: NodeJS.ProcessEnv, opts: { uid?: number; timeoutMs?: number } = {}): Promise<Run> {
  return runToExit(args, { bin: CTL, env: { GWSERVER_CONTROL_SOCKET: '', ...env }, uid: opts.uid, gid: opts.uid, timeoutMs: opts.timeoutMs ?? 20_000 });
}

/** gwserverctl ... --json, which must succeed: the reply. */
async function ask(args: string[], env: NodeJS.ProcessEnv): Promise<Record<string, any>> {
  const r = await ctl([...args, '--json'], env);
  assert.equal(r.code, 0, `gwserverctl ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, any>;
}

/** A request left in flight: resolves with its status and body when it ends. */
function inFlight(port: number, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    afterTest(() => req.destroy());
  });
}

/** One exchange on a raw connection to `file`: what was written back until the master closed it (or `waitMs` passed). */
function raw(file: string, data: string | Buffer | undefined, waitMs = 3000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const c = net.connect(file);
    let text = '';
    let closed = false;
    const done = () => {
      clearTimeout(timer);
      c.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(done, waitMs);
    c.on('data', (d) => (text += d));
    c.on('error', () => undefined);
    c.on('close', () => {
      closed = true;
      done();
    });
    c.on('connect', () => {
      if (data !== undefined) c.write(data);
    });
  });
}

/** Sends USR2 to `oldPid`; resolves with the new master's pid once the old one says it is ready. */
async function upgrade(srv: Gwserver, oldPid: number): Promise<number> {
  const seen = srv.records().length;
  process.kill(oldPid, 'SIGUSR2');
  const isReady = (r: Record<string, any>) => r.pid === oldPid && /is ready: upgrade took/.test(r.msg ?? '');
  await until(() => srv.records().slice(seen).some(isReady), 30_000, 'the new master to be ready');
  return srv.records().slice(seen).find(isReady)!.new_master_pid as number;
}

describe('gwserverctl and the control socket', function () {
  this.timeout(60_000);
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeEach(() => {
    dir = tempDir('gw-ctl-');
    env = { XDG_RUNTIME_DIR: dir };
  });

  const start = async (args: string[] = [], app = APP) => {
    const srv = await startGwserver(['-w', '2', ...args, app], { env });
    await srv.readyWorkers(2);
    return srv;
  };

  it('status, config and workers answer, in words and in JSON; the socket is 0600 in a 0700 directory of the user', async () => {
    // What a master killed with SIGKILL leaves behind: swept by the next one.
    mkdirSync(path.join(dir, 'gwserver'), { mode: 0o700 });
    const stale = path.join(dir, 'gwserver', '4999999.ctl');
    writeFileSync(stale, '');
    const srv = await start();
    assert.equal(existsSync(stale), false, 'the stale socket of a dead pid is removed');
    const file = path.join(dir, 'gwserver', `${srv.pid}.ctl`);
    const st = statSync(file);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, process.getuid!());
    assert.equal(statSync(path.dirname(file)).mode & 0o777, 0o700);

    const status = await ask(['status'], env);
    assert.equal(status.ok, true);
    assert.equal(status.pid, srv.pid);
    assert.equal(status.generation, 1);
    assert.deepEqual(status.listeners, [srv.url]);
    assert.match(status.settingsDigest, /^[0-9a-f]{16}$/);
    assert.deepEqual(status.reload, { inProgress: false, phase: 'idle', queued: false });
    assert.equal(status.controlSocket, file);
    assert.ok(status.uptimeMs >= 0);
    await until(async () => (await ask(['status'], env)).workers.ready === 2, 10_000, 'two workers ready');
    const words = await ctl(['status'], env);
    assert.equal(words.code, 0);
    assert.match(words.stdout, new RegExp(`^master +pid ${srv.pid}, gwserver `, 'm'));
    assert.match(words.stdout, /^workers +2 ready of 2$/m);
    assert.match(words.stdout, /^reload +none in progress$/m);

    const config = await ask(['config'], env);
    assert.equal(config.settings.workers, 2);
    assert.deepEqual(config.settings.bind, ['127.0.0.1:0']);
    assert.equal(config.settingsDigest, status.settingsDigest);
    assert.match((await ctl(['config'], env)).stdout, /^workers = 2$/m);

    const workers = await ask(['workers'], env);
    assert.deepEqual(workers.workers.map((w: any) => w.pid).sort(), srv.workerPids().sort());
    for (const w of workers.workers) {
      assert.equal(w.state, 'ready');
      assert.equal(w.inFlight, 0);
      assert.ok(w.rssBytes > 1e6, `rss ${w.rssBytes}`);
      assert.ok(w.ageMs > 0 && w.lastBeatMs >= 0);
      // From the heartbeats' load (null only before a worker's first beat since it was ready).
      assert.ok(w.elu === null || (w.elu >= 0 && w.elu <= 1), `elu ${w.elu}`);
      assert.ok(w.lagMs === null || w.lagMs >= 0, `lag ${w.lagMs}`);
    }
    assert.equal(status.adaptive, null, 'no adaptive workers');
    const table = await ctl(['workers'], env);
    assert.match(table.stdout, /^ID +PID +GEN +STATE +AGE +REQUESTS +IN FLIGHT +RSS +LAG +BUSY +HEARTBEAT$/m);
    assert.match(table.stdout, /no request in flight for 1 s or more/);
  });

  it('workers shows a request in flight with its method, path and age', async () => {
    const srv = await start();
    // Held until a /release reaches its worker (or 15 s pass).
    let settled = false;
    const held = inFlight(srv.port, '/hold?ms=15000&secret=1').finally(() => (settled = true));
    const hit = await until(async () => {
      const r = await ask(['workers', '--older-than', '0.5'], env);
      return r.workers.find((w: any) => w.slow.length > 0);
    }, 15_000, 'the held request listed');
    assert.equal(hit.inFlight, 1);
    assert.equal(hit.slow[0].method, 'GET');
    assert.equal(hit.slow[0].path, '/hold', 'the query string is left out');
    assert.ok(hit.slow[0].ageMs >= 500);
    const words = await ctl(['workers', '--older-than', '0'], env);
    assert.match(words.stdout, new RegExp(`^  worker ${hit.id}: GET /hold for [\\d.]+ (ms|s)$`, 'm'));
    // Either worker may take a /release: until the one holding the request does.
    await until(async () => {
      await get(srv.port, '/release');
      return settled;
    }, 10_000, 'the held request released');
    assert.deepEqual(await held, { status: 200, body: 'released' });
  });

  it('stack shows where a busy worker is: the function, its file and line', async () => {
    const srv = await start();
    const line = readFileSync(FIXTURE, 'utf8').split('\n').findIndex((l) => l.includes('SPIN-MARKER')) + 1;
    const busy = inFlight(srv.port, '/spin?ms=8000');
    const found = await until(async () => {
      for (const pid of srv.workerPids()) {
        const r = await ctl(['stack', String(pid)], env);
        if (r.code === 0 && r.stdout.includes('spinHere')) return { pid, out: r.stdout };
      }
      return undefined;
    }, 15_000, 'a stack in spinHere');
    assert.match(found.out, new RegExp(`^worker \\d+ \\(pid ${found.pid}\\), taken in \\d+ ms, its event loop (had not turned for|turning)`, 'm'));
    assert.match(found.out, new RegExp(`^ +at spinHere \\(${FIXTURE.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:${line}:\\d+\\)$`, 'm'));
    assert.match(found.out, /^ +at application \(/m);
    // The capture let it go on: the request completes, and the worker is the same.
    assert.equal((await busy).status, 200);
    assert.ok(srv.workerPids().includes(found.pid));
    const json = await ask(['stack', '1'], env);
    assert.equal(json.worker, 1);
    assert.ok(Array.isArray(json.frames));
    const none = await ctl(['stack', '99'], env);
    assert.equal(none.code, 1);
    assert.equal(none.stderr, 'gwserverctl: no worker with id or pid 99\n');
  });

  it('reload waits until the new generation is ready, and says why one failed', async () => {
    const appDir = tempDir('gw-ctl-app-');
    const appFile = path.join(appDir, 'app.mjs');
    copyFileSync(FIXTURE, appFile);
    const srv = await start([], `${appFile}:application`);
    const before = srv.workerPids();
    const r = await ctl(['reload'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^reloaded: generation 2 is ready \(2 workers\) after [\d.]+ (ms|s)$/m);
    // Said once the new generation serves: two ready workers of generation 2 at that moment.
    const after = await ask(['workers'], env);
    assert.equal(after.workers.filter((w: any) => w.generation === 2 && w.state === 'ready').length, 2);
    assert.ok(srv.records().some((x) => /^reloaded in \d+ ms$/.test(x.msg ?? '')));
    await until(() => before.every((pid) => !srv.workerPids().includes(pid)), 15_000, 'the old workers gone');
    assert.equal((await ask(['status'], env)).generation, 2);

    writeFileSync(appFile, 'export const application = ;\n');
    const failed = await ctl(['reload'], env);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /^gwserverctl: reload failed: a new worker could not load the app: .*the running workers keep serving/);
    assert.equal(failed.stderr.trim().split('\n').length, 1);
    assert.match((await get(srv.port, '/')).body, /^\d+$/);
  });

  it('add and remove change the number of workers, as TTIN and TTOU', async () => {
    const srv = await start();
    const add = await ctl(['add', '2'], env);
    assert.equal(add.code, 0, add.stderr);
    assert.equal(add.stdout, 'workers: 2 -> 4\n');
    await srv.readyWorkers(4);
    const remove = await ctl(['remove', '3'], env);
    assert.equal(remove.stdout, 'workers: 4 -> 1\n');
    await srv.waitWorkers(1);
    const again = await ctl(['remove'], env);
    assert.equal(again.code, 1);
    assert.equal(again.stderr, 'gwserverctl: already at 1 worker: the master keeps at least one\n');
    assert.equal((await ask(['add'], env)).workers, 2);
    await srv.readyWorkers(2);
  });

  it('with adaptive workers, add and remove move both bounds and the count, as TTIN and TTOU do; status shows the bounds', async () => {
    const srv = await start(['--workers-min', '2', '--workers-max', '3', '--workers-scale-down-delay', '0.5']);
    const before = await ctl(['status'], env);
    assert.match(before.stdout, /^workers +2 ready of 2 \(adaptive: 2 to 3\)$/m);
    const add = await ctl(['add', '2'], env);
    assert.equal(add.code, 0, add.stderr);
    assert.equal(add.stdout, 'workers: 2 -> 4 (adaptive: 2 to 3 -> 4 to 5)\n');
    await srv.waitForRecord((r) => r.msg === 'adaptive workers: bounds 2-3 -> 4-5');
    await srv.readyWorkers(4);
    assert.deepEqual((await ask(['status'], env)).adaptive, { min: 4, max: 5 });
    // Idle, but the minimum is 4 now: the scaler keeps them.
    const at = Date.now();
    await until(() => Date.now() - at > 1500, 5000, 'a while idle');
    assert.equal(srv.workerPids().length, 4);
    const remove = await ask(['remove', '3'], env);
    assert.deepEqual([remove.workers, remove.previous, remove.workersMin, remove.workersMax], [1, 4, 1, 2]);
    await srv.waitWorkers(1);
  });

  it('kill stops one worker (gracefully, or at once with --quick) and the master replaces it', async () => {
    const srv = await start();
    const [first, second] = srv.workerPids();
    const byId = await ask(['workers'], env);
    const id = byId.workers.find((w: any) => w.pid === first).id;
    const r = await ctl(['kill', String(id)], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `worker ${id} (pid ${first}) told to stop (SIGTERM); the master replaces it\n`);
    await srv.waitForRecord((x) => x.msg === `worker ${id} exited (killed)`);
    await until(() => !srv.workerPids().includes(first!) && srv.workerPids().length === 2, 15_000, 'a replacement');
    const quick = await ask(['kill', String(second), '--quick'], env);
    assert.equal(quick.signal, 'SIGQUIT');
    await until(() => !srv.workerPids().includes(second!) && srv.workerPids().length === 2, 15_000, 'a replacement');
    await srv.readyWorkers(2);
  });

  it('reopen reopens the log files of the master and every worker, as USR1', async () => {
    const srv = await start();
    const pids = [srv.pid, ...srv.workerPids()];
    const r = await ctl(['reopen'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'log files reopened\n');
    await until(() => pids.every((pid) => srv.records().some((x) => x.pid === pid && x.msg === 'log files reopened')), 10_000, 'every process reopened');
  });

  it('shutdown is graceful: a request in flight completes, then the master exits 0 and removes its socket', async () => {
    const srv = await start();
    const file = path.join(dir, 'gwserver', `${srv.pid}.ctl`);
    const held = inFlight(srv.port, '/hold?ms=1500');
    await until(async () => (await ask(['workers', '--older-than', '0'], env)).workers.some((w: any) => w.inFlight === 1), 10_000, 'the request in flight');
    const r = await ctl(['shutdown', '--graceful'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'shutting down gracefully: requests in flight are finished first\n');
    assert.deepEqual(await held, { status: 200, body: 'released' });
    assert.equal((await srv.exited).code, 0);
    assert.equal(existsSync(file), false);
    const gone = await ctl(['status'], env);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^gwserverctl: no gwserver of this user runs with a default control socket/);
  });

  it('refuses other users: a socket of mode 0600, and nobody is turned away', async function () {
    if (process.getuid?.() !== 0) {
      console.log('      (skipped: needs root to run gwserverctl as nobody; CI runs as root)');
      this.skip();
    }
    const open = tempDir('gw-ctl-open-');
    chmodSync(open, 0o755);
    const file = path.join(open, 'gw.ctl');
    const srv = await start(['--control-socket', file]);
    const st = statSync(file);
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, process.getuid!());
    const r = await ctl(['--socket', file, 'status'], env, { uid: NOBODY });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `gwserverctl: permission denied on ${file}: run gwserverctl as the server's user (or root)\n`);
    assert.equal((await ask(['--socket', file, 'status'], env)).pid, srv.pid);
    // The default directory is the user's alone: nobody cannot even look in it.
    const def = await ctl(['--socket', path.join(dir, 'gwserver', 'x.ctl'), 'status'], env, { uid: NOBODY });
    assert.equal(def.code, 1);
  });

  it('survives bad input: malformed JSON, unknown commands, a 10 MB line, a client that never writes', async function () {
    this.timeout(60_000);
    const srv = await start();
    const file = path.join(dir, 'gwserver', `${srv.pid}.ctl`);
    const bad = await raw(file, '{nope\n{"cmd":"frobnicate","id":3}\n[1]\n{"cmd":"add","n":-1}\n{"cmd":"status","id":"s"}\n', 1500);
    const replies = bad.text.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(replies.length, 5);
    assert.match(replies[0].error, /^malformed JSON/);
    assert.equal(replies[0].ok, false);
    assert.match(replies[1].error, /^unknown command "frobnicate"/);
    assert.equal(replies[1].id, 3);
    assert.match(replies[2].error, /is a JSON object/);
    assert.equal(replies[3].error, 'add: "n" must be an integer >= 1');
    assert.equal(replies[4].ok, true);
    assert.equal(replies[4].id, 's');

    const big = await raw(file, Buffer.alloc(10 * 1024 * 1024, 'a'), 10_000);
    assert.equal(big.closed, true, 'the connection is closed');
    assert.match(big.text, /"error":"request line longer than 65536 bytes: closing"/);

    const t0 = Date.now();
    const idle = await raw(file, undefined, 20_000);
    assert.equal(idle.closed, true);
    assert.match(idle.text, /no request within 10 s/);
    assert.ok(Date.now() - t0 >= 9000);

    // A script that writes its requests and closes its side at once still gets every reply, then the master closes.
    const script = await new Promise<string>((resolve) => {
      const c = net.connect(file);
      let text = '';
      c.on('data', (d) => (text += d));
      c.on('close', () => resolve(text));
      c.end('{"cmd":"status","id":1}\n{"cmd":"reopen","id":2}\n');
    });
    assert.deepEqual(script.trim().split('\n').map((l) => [JSON.parse(l).ok, JSON.parse(l).id]), [[true, 1], [true, 2]]);

    // The master serves on.
    assert.equal((await ask(['status'], env)).pid, srv.pid);
    assert.match((await get(srv.port, '/')).body, /^\d+$/);
  });

  it('default path: two servers side by side each answer on their own socket, found by --pid', async () => {
    const pidfile = path.join(dir, 'a.pid');
    const a = await start(['--pid', pidfile]);
    const b = await start();
    const both = await ctl(['status'], env);
    assert.equal(both.code, 1);
    assert.equal(both.stderr, `gwserverctl: 2 gwservers run (pids ${[a.pid, b.pid].sort((x, y) => x - y).join(', ')}): choose one with --pid PID or --socket PATH\n`);
    assert.equal((await ask(['--pid', pidfile, 'status'], env)).pid, a.pid);
    assert.equal((await ask(['--pid', String(b.pid), 'status'], env)).pid, b.pid);
    assert.equal((await ask(['--socket', path.join(dir, 'gwserver', `${b.pid}.ctl`), 'status'], env)).pid, b.pid);
    assert.equal((await ask(['status'], { ...env, GWSERVER_CONTROL_SOCKET: path.join(dir, 'gwserver', `${a.pid}.ctl`) })).pid, a.pid);
    await b.stop();
    // One left: found without naming it.
    assert.equal((await ask(['status'], env)).pid, a.pid);
  });

  it('USR2 with --keep-old-master: the old and the new master each answer on their own socket (default and named paths)', async function () {
    this.timeout(90_000);
    const pidfile = path.join(dir, 'gw.pid');
    const named = path.join(dir, 'gw.ctl');
    const srv = await start(['--keep-old-master', '--pid', pidfile]);
    const newPid = await upgrade(srv, srv.pid);
    assert.equal((await ask(['--pid', String(srv.pid), 'status'], env)).pid, srv.pid);
    const fresh = await ask(['--pid', pidfile, 'status'], env);
    assert.equal(fresh.pid, newPid);
    assert.equal(fresh.upgrade.oldMasterPid, srv.pid);
    const oldbin = await ask(['--pid', `${pidfile}.oldbin`, 'status'], env);
    assert.equal(oldbin.pid, srv.pid);

    // A path of the operator's is handed over as the pid file: PATH is the new master's, PATH.oldbin the old one's.
    const srv2 = await start(['--keep-old-master', '--control-socket', named]);
    const newPid2 = await upgrade(srv2, srv2.pid);
    assert.equal((await ask(['--socket', named, 'status'], env)).pid, newPid2);
    assert.equal((await ask(['--socket', `${named}.oldbin`, 'status'], env)).pid, srv2.pid);
    srv2.proc.kill('SIGTERM');
    assert.equal((await srv2.exited).code, 0);
    assert.equal(existsSync(`${named}.oldbin`), false);
    assert.equal((await ask(['--socket', named, 'status'], env)).pid, newPid2);
    for (const pid of [newPid, newPid2]) process.kill(pid, 'SIGTERM');
    await until(() => childPids(newPid).length === 0 && childPids(newPid2).length === 0, 15_000, 'the new masters stopped');
  });

  it('top shows a live view and ends on q, on Ctrl-C, and when the server goes away', async () => {
    const srv = await start();
    const run = (onStart: (p: ReturnType<typeof spawn>, out: () => string) => Promise<void>) =>
      new Promise<{ code: number | null; out: string }>((resolve, reject) => {
        const p = spawn(process.execPath, [CTL, 'top'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
        afterTest(() => {
          if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
        });
        let out = '';
        p.stdout!.on('data', (d) => (out += d));
        p.stderr!.on('data', (d) => (out += d));
        const timer = setTimeout(() => reject(new Error(`top did not end: ${out}`)), 20_000);
        p.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, out });
        });
        onStart(p, () => out).catch(reject);
      });
    const quit = await run(async (p, out) => {
      // Two frames: the second has a rate.
      await until(() => (out().match(/^gwserverctl top - /gm) ?? []).length >= 2, 10_000, 'two frames');
      p.stdin!.write('q');
    });
    assert.equal(quit.code, 0);
    assert.match(quit.out, /^[\d.]+ req\/s {2}0 in flight {2}latency: start gwserver with --metrics-bind to see it$/m);
    for (const pid of srv.workerPids()) assert.match(quit.out, new RegExp(`^\\d+ +${pid} +ready `, 'm'));

    // In a terminal (util-linux's script gives it one): raw keys, a hidden cursor shown again at the end.
    if (existsSync('/usr/bin/script')) {
      const tty = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
        const p = spawn('/usr/bin/script', ['-qec', `${process.execPath} ${CTL} top`, '/dev/null'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
        afterTest(() => {
          if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
        });
        let out = '';
        let asked = false;
        p.stdout!.on('data', (d) => {
          out += d;
          if (!asked && out.includes('q or Ctrl-C to quit')) {
            asked = true;
            p.stdin!.write('q');
          }
        });
        const timer = setTimeout(() => reject(new Error(`top in a terminal did not end: ${out}`)), 20_000);
        p.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, out });
        });
      });
      assert.equal(tty.code, 0);
      assert.ok(tty.out.includes('\x1b[?25l'), 'the cursor is hidden');
      assert.ok(tty.out.lastIndexOf('\x1b[?25h') > tty.out.lastIndexOf('q or Ctrl-C to quit'), `the cursor is shown again at the end: ${JSON.stringify(tty.out.slice(-60))}`);
    }

    const interrupted = await run(async (p, out) => {
      await until(() => out().includes('gwserverctl top - '), 10_000, 'a frame');
      p.kill('SIGINT');
    });
    assert.equal(interrupted.code, 0, 'Ctrl-C ends it cleanly');

    const away = await run(async (_p, out) => {
      await until(() => out().includes('gwserverctl top - '), 10_000, 'a frame');
      await srv.stop();
    });
    assert.equal(away.code, 1);
    assert.match(away.out, /gwserverctl: the server went away\n$/);
  });

  it('stack needs the watchdog: with --timeout 0 it says so', async () => {
    await start(['--timeout', '0']);
    const r = await ctl(['stack', '1'], env);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'gwserverctl: stacks on demand need the watchdog, which --timeout 0 turns off\n');
  });

  it('--no-control-socket: no socket is made', async () => {
    const srv = await start(['--no-control-socket']);
    assert.equal(existsSync(path.join(dir, 'gwserver', `${srv.pid}.ctl`)), false);
    const r = await ctl(['status'], env);
    assert.equal(r.code, 1);
  });

  it('the command line: a mistake is one line and a non-zero exit, never a stack trace', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['--bogus', 'status'], 2, /^gwserverctl: Unknown argument: bogus \(see gwserverctl --help\)\n$/],
      [['frobnicate'], 2, /^gwserverctl: unknown command "frobnicate" \(see gwserverctl --help\)\n$/],
      [[], 2, /^gwserverctl: no command \(see gwserverctl --help\)\n$/],
      [['add', 'two'], 2, /^gwserverctl: add N must be a positive whole number, not "two"\n$/],
      [['stack'], 2, /^gwserverctl: stack WORKER \(a worker id or pid\) must be a positive whole number\n$/],
      [['status', '--quick'], 2, /^gwserverctl: --graceful and --quick go with shutdown and kill\n$/],
      [['--socket', path.join(dir, 'none.ctl'), 'status'], 1, /^gwserverctl: no control socket at .*none\.ctl\n$/],
      [['--pid', path.join(dir, 'none.pid'), 'status'], 1, /^gwserverctl: cannot read the pid file .*none\.pid: ENOENT\n$/],
      [['status'], 1, /^gwserverctl: no gwserver of this user runs with a default control socket/],
    ];
    for (const [args, code, stderr] of cases) {
      const r = await ctl(args, env);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, stderr, args.join(' '));
      assert.equal(r.stdout, '');
    }
    // The server's side: the control socket is never TCP.
    const tcp = await runToExit(['--control-socket', '127.0.0.1:9000', '--check-config', APP]);
    assert.equal(tcp.code, 2);
    assert.equal(tcp.stderr, 'gwserver: error: invalid value for --control-socket: "127.0.0.1:9000" is not a file path: the control socket is a unix socket, never TCP (write a path, e.g. /run/gwserver/control.sock)\n');

    const help = await ctl(['--help'], env);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: gwserverctl /);
  });
});
