/**
 * The units in systemd/ run by real systemd: a podman container with
 * systemd as PID 1 (`--systemd=always`), built FROM the local base with the
 * units, an app in /srv/app and gwserver installed as docs/systemd.md says
 * (test/deploy/systemd.Dockerfile; gwserver is this checkout's `npm pack`).
 *
 * It proves, against systemd 257 (Debian trixie): socket activation (the
 * first request starts the stopped service and is answered); Type=notify
 * (with an app that takes 3 s to load, systemd holds the unit in
 * `activating` with the master running, and logs "Started" only after the
 * workers' ready lines); `systemctl reload` replacing the workers with zero
 * failed requests under a bounded load; `systemctl stop` with a request in
 * flight (answered, stop well within TimeoutStopSec, nothing left for the
 * final SIGKILL); a SIGKILLed master restarted by Restart=on-failure;
 * `systemctl restart` under load with zero failed requests (connections
 * wait in the socket unit's backlog); the journal's gwserver lines as JSON;
 * the hardening leaving the app its log directory and private /tmp and
 * nothing else (EROFS elsewhere); and the
 * template gwserver@.service with two instances side by side, each on its
 * own sockets, a reload of one leaving the other untouched.
 *
 * It cannot prove: behaviour on a host whose systemd is PID 1 of the
 * machine (a container's systemd lacks UTS namespaces, so ProtectHostname=
 * is ignored, and needs CAP_SYS_ADMIN to build the others); other systemd
 * versions; privileged ports (the units use 8000-8002); USR2 upgrades
 * under systemd (test/integration/master/usr2.test.ts, with a fake
 * NOTIFY_SOCKET). Takes about 1 min 45 s with the image cached, 2 to 3 min
 * when it is built (base image present). Requests come from
 * inside the container (client.mjs through podman exec): the sockets are on
 * the container's 127.0.0.1, which podman's published ports do not reach.
 */
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../helpers/gwserver.js';
import { until } from '../helpers/until.js';
import { buildImage, containerName, DEPLOY, ok, podman, type Ran, removeContainers, requirePodman, run } from './podman.js';

const IMAGE = 'localhost/gwserver-systemd-test:latest';
const APP_DIR = path.join(DEPLOY, 'systemd-app');
const TIMEOUT_STOP_SEC = 40;

interface Got {
  status?: number;
  body?: string;
  error?: string;
}
interface Load {
  ok: number;
  failed: number;
  errors: Record<string, number>;
}

describe('deploy: the systemd units under real systemd (podman --systemd=always)', function () {
  this.timeout(3 * 60_000);
  let ctx = '';
  let c = '';

  const exec = (args: string[], timeoutMs = 60_000): Promise<Ran> => podman(['exec', c, ...args], { timeoutMs });
  const sh = (script: string, timeoutMs = 60_000): Promise<string> => ok(exec(['sh', '-c', script], timeoutMs), `podman exec ${c} sh -c '${script}'`);
  async function show(unit: string): Promise<Record<string, string>> {
    const out = await sh(`systemctl show -p ActiveState,SubState,MainPID,NRestarts,InvocationID,Result,StatusText ${unit}`);
    return Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  }
  /** The master's workers: its children titled "gwserver: worker" (systemd-notify comes and goes). */
  async function workers(unit: string): Promise<number[]> {
    const out = await sh(`M=$(systemctl show -P MainPID ${unit}); for p in $(cat /proc/$M/task/*/children); do grep -qs 'gwserver: worker' /proc/$p/cmdline && echo $p; done; true`);
    return [...new Set(out.trim().split(/\s+/).filter(Boolean).map(Number))].sort((a, b) => a - b);
  }
  async function get(target: string, urlPath = '/'): Promise<Got> {
    return JSON.parse(await sh(`node /opt/gwtest/client.mjs get ${target} '${urlPath}'`)) as Got;
  }
  async function getJson(target: string, urlPath = '/'): Promise<Record<string, unknown>> {
    const r = await get(target, urlPath);
    assert.equal(r.status, 200, JSON.stringify(r));
    return JSON.parse(r.body!) as Record<string, unknown>;
  }
  /** A bounded load (4 clients, 60 s at most) until stop() is called. */
  function load(target: string): { stop: () => Promise<Load> } {
    const stopFile = `/tmp/stop-load-${Math.random().toString(36).slice(2)}`;
    const ran = ok(exec(['node', '/opt/gwtest/client.mjs', 'load', target, '/', '60000', stopFile], 90_000), 'the load client');
    return {
      stop: async () => {
        await sh(`touch ${stopFile}`);
        return JSON.parse(await ran) as Load;
      },
    };
  }
  const accessLines = async (log = '/var/log/gwserver/access.log'): Promise<number> => Number((await sh(`wc -l < ${log}`)).trim());
  const journal = (unit: string): Promise<string> => sh(`journalctl -u ${unit} -t gwserver -o cat --no-pager`);

  before(async function () {
    requirePodman(this);
    this.timeout(15 * 60_000);
    // The build context: gwserver as users get it from the registry (npm
    // pack runs prepack, a clean build of dist/), the units, the app.
    ctx = await mkdtemp(path.join(os.tmpdir(), 'gwserver-systemd-'));
    await ok(run('npm', ['pack', '--pack-destination', ctx], { timeoutMs: 5 * 60_000 }), 'npm pack');
    const tgz = (await readdir(ctx)).find((f) => f.endsWith('.tgz'))!;
    await rename(path.join(ctx, tgz), path.join(ctx, 'gwserver.tgz'));
    await cp(path.join(ROOT, 'systemd'), path.join(ctx, 'systemd'), { recursive: true });
    await mkdir(path.join(ctx, 'app'));
    for (const f of ['app.js', 'package.json']) await cp(path.join(APP_DIR, f), path.join(ctx, 'app', f));
    for (const f of ['client.mjs', 'gwserver.config.js', 'alpha.config.js', 'beta.config.js']) await cp(path.join(APP_DIR, f), path.join(ctx, f));
    await buildImage(IMAGE, { context: ctx, dockerfile: path.join(DEPLOY, 'systemd.Dockerfile') });
    c = containerName('systemd');
    // --systemd=always: podman mounts /run, /tmp as tmpfs and the cgroup
    // tree writable, and stops with SIGRTMIN+3, as systemd expects.
    // --cap-add SYS_ADMIN: the units' sandboxing (ProtectSystem=,
    // PrivateTmp=, PrivateDevices=...) makes a mount namespace per service;
    // without the capability systemd fails every start with 217/USER
    // ("Failed to keep CAP_SYS_ADMIN"). The services themselves get none
    // (CapabilityBoundingSet= is empty).
    await ok(podman(['run', '-d', '--name', c, '--systemd=always', '--cap-add', 'SYS_ADMIN', IMAGE]), `podman run ${IMAGE}`);
    await until(
      async () => /^(running|degraded)$/.test((await exec(['systemctl', 'is-system-running'])).stdout.trim()),
      60_000,
      'systemd to finish booting',
      250,
    );
  });

  after(async () => {
    await removeContainers();
    if (ctx) await rm(ctx, { recursive: true, force: true });
  });

  const active = (unit: string, deadline = 60_000) =>
    until(async () => ((await show(unit)).ActiveState === 'active' ? show(unit) : false), deadline, `${unit} active`, 200);

  it('gwserver.socket activation: the stopped service is started by the first request, which it answers', async () => {
    await active('gwserver.service');
    await sh('systemctl stop gwserver.service');
    assert.equal((await show('gwserver.service')).ActiveState, 'inactive');
    assert.equal((await show('gwserver.socket')).ActiveState, 'active');
    const body = await getJson('127.0.0.1:8000');
    // The first worker up may answer while the second boots: the unit turns
    // active at READY=1, once both listen.
    const s = await active('gwserver.service', 30_000);
    assert.ok((await workers('gwserver.service')).includes(Number(body.pid)), `answered by a worker of MainPID ${s.MainPID}`);
    // The unix socket of the same socket unit, for nginx.
    assert.equal((await get('/run/gwserver/gwserver.sock')).status, 200);
    assert.match(s.StatusText!, /^2 workers serving http:\/\/127\.0\.0\.1:8000, unix:\/run\/gwserver\/gwserver\.sock$/);
  });

  it('Type=notify: activating while the app loads (3 s), active only after every worker is ready', async () => {
    await sh('systemctl set-environment APP_LOAD_MS=3000');
    try {
      await sh('systemctl restart --no-block gwserver');
      let sawLoading: Record<string, string> | undefined;
      const s = await until(
        async () => {
          const now = await show('gwserver.service');
          if (now.ActiveState === 'activating' && Number(now.MainPID) > 0) sawLoading ??= now;
          return now.ActiveState === 'active' && now;
        },
        60_000,
        'gwserver active',
        100,
      );
      assert.ok(sawLoading, 'seen activating with the master running');
      assert.equal(sawLoading.MainPID, s.MainPID);
      // The journal of this run: systemd's "Started" line comes after both
      // workers' ready lines, 3 s or more after the master started.
      const entries = (await sh(`journalctl _SYSTEMD_INVOCATION_ID=${s.InvocationID} + INVOCATION_ID=${s.InvocationID} -o json --no-pager`))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, string>)
        .map((e) => ({ at: Number(e.__REALTIME_TIMESTAMP) / 1000, msg: String(e.MESSAGE) }));
      const when = (re: RegExp) => entries.filter((e) => re.test(e.msg)).map((e) => e.at);
      const started = when(/^Started gwserver\.service/).pop();
      const master = when(/"msg":"starting gwserver master/)[0];
      const ready = when(/"msg":"worker \d+ ready"/);
      assert.ok(started && master && ready.length === 2, JSON.stringify(entries.map((e) => e.msg)));
      assert.ok(Math.max(...ready) <= started, 'Started after the workers were ready');
      assert.ok(started - master >= 3000, `Started ${started - master} ms after the master started`);
    } finally {
      await sh('systemctl unset-environment APP_LOAD_MS');
    }
    // Blocks until READY=1: the next tests run with workers that load at once.
    await sh('systemctl restart gwserver');
  });

  it('systemctl reload: new workers, the same master, zero failed requests under load', async () => {
    const master = (await active('gwserver.service')).MainPID;
    const before = await workers('gwserver.service');
    const lines = await accessLines();
    const l = load('127.0.0.1:8000');
    await until(async () => (await accessLines()) >= lines + 50, 30_000, 'the load to be answered', 100);
    await sh('systemctl reload gwserver');
    const after = await until(
      async () => {
        const w = await workers('gwserver.service');
        return w.length === 2 && w.every((p) => !before.includes(p)) && (await show('gwserver.service')).ActiveState === 'active' && w;
      },
      30_000,
      'the reload to replace both workers',
      100,
    );
    const reloaded = await accessLines();
    await until(async () => (await accessLines()) >= reloaded + 50, 30_000, 'the new workers to answer', 100);
    const r = await l.stop();
    assert.equal((await show('gwserver.service')).MainPID, master);
    assert.equal(r.failed, 0, JSON.stringify(r));
    assert.ok(r.ok >= 100, JSON.stringify(r));
    console.log(`      reload: workers ${before.join(',')} -> ${after.join(',')}; ${r.ok} requests, ${r.failed} failed`);
  });

  it(`systemctl stop with a request in flight: answered, stopped cleanly within TimeoutStopSec=${TIMEOUT_STOP_SEC}`, async () => {
    const { InvocationID: invocation } = await active('gwserver.service');
    const tag = `stop-${Date.now()}`;
    const slow = get('127.0.0.1:8000', `/slow?ms=3000&tag=${tag}`);
    await until(async () => (await journal('gwserver')).includes(tag), 30_000, 'the slow request to be in flight', 100);
    const t0 = Date.now();
    await sh('systemctl stop gwserver', (TIMEOUT_STOP_SEC + 20) * 1000);
    const took = Date.now() - t0;
    const answered = await slow;
    assert.equal(answered.status, 200, JSON.stringify(answered));
    const s = await show('gwserver.service');
    assert.equal(s.ActiveState, 'inactive');
    assert.equal(s.Result, 'success', 'exited 0, not killed by systemd');
    assert.ok(took < TIMEOUT_STOP_SEC * 1000, `stop took ${took} ms`);
    // Nothing left for KillMode=mixed's final SIGKILL: the workers stopped with the master.
    const stopped = await sh(`journalctl INVOCATION_ID=${invocation} + _SYSTEMD_INVOCATION_ID=${invocation} -o cat --no-pager`);
    assert.doesNotMatch(stopped, /SIGKILL|Killing process|remains running/, stopped);
    assert.match(stopped, /Stopped gwserver\.service/);
    console.log(`      stop with a 3 s request in flight: ${took} ms`);
    await sh('systemctl start gwserver');
  });

  it('a SIGKILLed master is restarted by Restart=on-failure and serves again', async () => {
    const s = await active('gwserver.service');
    await sh(`kill -9 ${s.MainPID}`);
    const again = await until(
      async () => {
        const now = await show('gwserver.service');
        return now.ActiveState === 'active' && now.MainPID !== s.MainPID && Number(now.MainPID) > 0 && now;
      },
      60_000,
      'a new master',
      200,
    );
    assert.equal(Number(again.NRestarts), Number(s.NRestarts) + 1);
    assert.equal((await get('127.0.0.1:8000')).status, 200);
    assert.match(await sh(`journalctl _SYSTEMD_INVOCATION_ID=${s.InvocationID} + INVOCATION_ID=${s.InvocationID} -o cat --no-pager`), /Main process exited, code=killed, status=9\/KILL/);
  });

  it('systemctl restart under load: no failed request, new connections wait in the socket unit\'s backlog', async () => {
    const s = await active('gwserver.service');
    const lines = await accessLines();
    const l = load('127.0.0.1:8000');
    await until(async () => (await accessLines()) >= lines + 50, 30_000, 'the load to be answered', 100);
    // Returns once the new master sent READY=1.
    await sh('systemctl restart gwserver');
    const again = await show('gwserver.service');
    assert.notEqual(again.MainPID, s.MainPID);
    const restarted = await accessLines();
    await until(async () => (await accessLines()) >= restarted + 50, 30_000, 'the new master to answer', 100);
    const r = await l.stop();
    assert.equal(r.failed, 0, JSON.stringify(r));
    console.log(`      restart: master ${s.MainPID} -> ${again.MainPID}; ${r.ok} requests, ${r.failed} failed`);
  });

  it('hardening: the app writes its log directory (and its private /tmp), nothing else', async () => {
    const logFile = `/var/log/gwserver/from-the-app-${Date.now()}`;
    assert.equal((await getJson('127.0.0.1:8000', `/write?path=${logFile}`)).wrote, logFile);
    assert.match(await sh(`stat -c %U ${logFile}`), /^gwserver$/m);
    // /srv/app is the gwserver user's home (adduser --home): only ProtectSystem=strict stops it.
    const app = await getJson('127.0.0.1:8000', '/write?path=/srv/app/written');
    const etc = await getJson('127.0.0.1:8000', '/write?path=/etc/gwserver/written');
    assert.equal(app.error, 'EROFS', JSON.stringify(app));
    assert.ok(etc.error === 'EROFS' || etc.error === 'EACCES', JSON.stringify(etc));
    console.log(`      /srv/app: ${app.error}, /etc/gwserver: ${etc.error}`);
    assert.equal((await exec(['test', '-e', '/srv/app/written'])).code, 1);
    // PrivateTmp=: the service's /tmp is its own.
    const tmp = `/tmp/from-the-app-${Date.now()}`;
    assert.equal((await getJson('127.0.0.1:8000', `/write?path=${tmp}`)).wrote, tmp);
    assert.equal((await exec(['test', '-e', tmp])).code, 1, 'not in the system /tmp');
    assert.ok((await accessLines()) > 0, 'the access log in /var/log/gwserver');
  });

  it('the journal: every line gwserver wrote is JSON', async () => {
    await active('gwserver.service');
    const lines = (await sh('journalctl -u gwserver -t gwserver -o cat --no-pager')).trim().split('\n');
    assert.ok(lines.length >= 10, `${lines.length} lines`);
    for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), line);
    assert.ok(lines.some((l) => JSON.parse(l).msg === 'listening'));
  });

  it('gwserver@.service: two instances side by side on their own sockets; reloading one leaves the other untouched', async () => {
    const [alpha, beta] = [await active('gwserver@alpha.service'), await active('gwserver@beta.service')];
    assert.notEqual(alpha.MainPID, beta.MainPID);
    assert.equal(alpha.StatusText, '2 workers serving unix:/run/gwserver/alpha.sock, http://127.0.0.1:8001');
    assert.equal(beta.StatusText, '2 workers serving unix:/run/gwserver/beta.sock, http://127.0.0.1:8002');
    assert.equal((await getJson('127.0.0.1:8001')).cwd, '/srv/alpha');
    assert.equal((await getJson('127.0.0.1:8002')).cwd, '/srv/beta');
    assert.equal((await getJson('/run/gwserver/alpha.sock')).cwd, '/srv/alpha');
    assert.equal((await getJson('/run/gwserver/beta.sock')).cwd, '/srv/beta');
    const alphaWorkers = await workers('gwserver@alpha.service');
    const betaWorkers = await workers('gwserver@beta.service');
    const log = '/var/log/gwserver/alpha/access.log';
    const logged = await accessLines(log);
    const l = load('127.0.0.1:8001');
    await until(async () => (await accessLines(log)) >= logged + 50, 30_000, 'alpha under load', 100);
    await sh('systemctl reload gwserver@alpha');
    await until(
      async () => {
        const w = await workers('gwserver@alpha.service');
        return w.length === 2 && w.every((p) => !alphaWorkers.includes(p)) && (await show('gwserver@alpha.service')).ActiveState === 'active';
      },
      30_000,
      'alpha to replace both workers',
      100,
    );
    const r = await l.stop();
    assert.equal(r.failed, 0, JSON.stringify(r));
    assert.equal((await show('gwserver@alpha.service')).MainPID, alpha.MainPID);
    const b = await show('gwserver@beta.service');
    assert.deepEqual([b.MainPID, b.InvocationID, b.ActiveState], [beta.MainPID, beta.InvocationID, 'active']);
    assert.deepEqual(await workers('gwserver@beta.service'), betaWorkers);
    assert.equal((await getJson('127.0.0.1:8002')).cwd, '/srv/beta');
  });
});
