/**
 * The shipped Dockerfile, built with podman FROM the local base
 * (test/deploy/base.sh) and run as docs/deployment.md says: `--init`, a port
 * published on 127.0.0.1, `WEB_CONCURRENCY`, a config file mounted at
 * /app/gwserver.config.js. Two containers run side by side: the demo app as
 * the image's own CMD, and a test app (test/deploy/apps/container.mjs,
 * mounted) with a slow route and its worker's pid, under the same
 * ENTRYPOINT. Proves: the published port answers; every process runs as uid
 * 1000; `podman healthcheck run` passes; WEB_CONCURRENCY=3 gives 3 workers and
 * the mounted config file changes a setting (the request-id header's name);
 * logs are JSON lines, access on stdout and errors on stderr; `podman kill -s
 * HUP` replaces the workers with no failed request under a bounded load;
 * `podman stop` with a request in flight answers it whole and exits 0.
 *
 * What it cannot prove: the official node:20-bookworm-slim base (none can be
 * pulled here; the local base is Debian trixie's Node 20 and npm), Docker's
 * own engine (podman stands in: same Dockerfile, `--format docker` so the
 * HEALTHCHECK is kept), nor podman's scheduling of the health check (no
 * systemd on the host to run its timer: the check is run on demand).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { get } from '../helpers/http.js';
import { runLoad } from '../helpers/load.js';
import { tempDir } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';
import { DEPLOY, buildImage, containerName, ok, podman, publishedPort, removeContainers, requirePodman } from './podman.js';

/** The image's CMD with another app: what docs/deployment.md tells users to write for theirs. */
const APP_CMD = ['-b', '0.0.0.0:8000', '--metrics-bind', '0.0.0.0:9100', '--access-logfile', '-', 'container:application'];
/** Above --graceful-timeout (30 s), as docs/deployment.md says. */
const GRACE = 35;

interface Proc {
  user: string;
  pid: number;
  args: string;
}

/** The container's processes (pids of its own namespace), through `podman top`. */
async function top(name: string): Promise<Proc[]> {
  const out = await ok(podman(['top', name, 'user', 'pid', 'args']), `podman top ${name}`);
  return out.trim().split('\n').slice(1).map((line) => {
    const [user, pid, ...args] = line.trim().split(/\s+/);
    return { user: user!, pid: Number(pid), args: args.join(' ') };
  });
}

const workers = async (name: string) => (await top(name)).filter((p) => p.args.startsWith('gwserver: worker'));

/** Waits until the container's port answers 200, and returns that port. */
async function answering(name: string): Promise<number> {
  const port = await publishedPort(name, 8000);
  await until(() => get(port, '/', { timeoutMs: 2_000 }).then((r) => r.status === 200, () => false), 60_000, `${name} answering on 127.0.0.1:${port}`, 200);
  return port;
}

describe('deploy: the image, built and run with podman', function () {
  this.timeout(5 * 60_000);
  let image = '';
  const demo = containerName('image-demo');
  const app = containerName('image-app');
  let demoPort = 0;
  let appPort = 0;

  before(async function () {
    requirePodman(this);
    image = await buildImage('localhost/gwserver-test-image:latest');
    const dir = tempDir('gw-image-');
    const config = path.join(dir, 'gwserver.config.js');
    // /app's package.json says "type": "module": a .js config file there is an ES module.
    writeFileSync(config, "export default { requestIdHeader: 'X-Trace-Id' };\n", { mode: 0o644 });
    const run = (name: string, args: string[]) => ok(podman(['run', '-d', '--init', '--name', name, '-p', '127.0.0.1::8000', '--stop-timeout', String(GRACE), ...args]), `podman run ${name}`);
    await Promise.all([
      run(demo, ['-e', 'WEB_CONCURRENCY=3', '-v', `${config}:/app/gwserver.config.js:ro`, image]),
      run(app, ['-v', `${path.join(DEPLOY, 'apps/container.mjs')}:/app/container.mjs:ro`, image, ...APP_CMD]),
    ]);
    [demoPort, appPort] = await Promise.all([answering(demo), answering(app)]);
  });

  after(removeContainers);

  it('reports its size (docs/deployment.md gives it)', async () => {
    const bytes = Number(await ok(podman(['image', 'inspect', '--format', '{{.Size}}', image]), 'podman image inspect'));
    assert.ok(bytes > 0);
    console.log(`      the image: ${(bytes / 1e6).toFixed(0)} MB`);
  });

  it('answers through the port published on 127.0.0.1 (the demo app of the CMD)', async () => {
    const r = await get(demoPort, '/encode?mystring=gw');
    assert.equal(r.status, 200);
    assert.match(r.body, /Z3c=/);
  });

  it('runs every process as the unprivileged node user, uid 1000', async () => {
    const procs = await top(demo);
    assert.ok(procs.some((p) => p.args.startsWith('gwserver: master')), JSON.stringify(procs));
    for (const p of procs) {
      assert.equal(p.user, 'node', `${p.pid} ${p.args}`);
      const status = await ok(podman(['exec', demo, 'cat', `/proc/${p.pid}/status`]), 'podman exec cat');
      assert.match(status, /^Uid:\s+1000\s+1000\s+1000\s+1000$/m, `${p.pid} ${p.args}`);
    }
  });

  it('passes its HEALTHCHECK (podman healthcheck run)', async () => {
    const cfg = JSON.parse(await ok(podman(['image', 'inspect', '--format', '{{json .Config.Healthcheck}}', image]), 'podman image inspect'));
    assert.match(cfg.Test.join(' '), /healthz/);
    // The first run may come before the metrics endpoint listens (the start period).
    await until(async () => (await podman(['healthcheck', 'run', demo])).code === 0, 30_000, 'podman healthcheck run exiting 0', 500);
    const state = await ok(podman(['inspect', '--format', '{{.State.Health.Status}}', demo]), 'podman inspect');
    assert.equal(state.trim(), 'healthy');
  });

  it('takes WEB_CONCURRENCY (3 workers; the image default 2) and a config file mounted at /app/gwserver.config.js', async () => {
    assert.equal((await workers(demo)).length, 3);
    assert.equal((await workers(app)).length, 2);
    const r = await get(demoPort, '/');
    assert.match(String(r.headers['x-trace-id']), /^[0-9a-f-]{20,}$/);
    assert.equal(r.headers['x-request-id'], undefined);
    // Without the file, the default name.
    assert.ok((await get(appPort, '/')).headers['x-request-id']);
  });

  it('logs JSON lines: the access log on stdout, the error log on stderr', async () => {
    await get(demoPort, '/encode?mystring=logged');
    const logs = await until(async () => {
      const r = await podman(['logs', demo]);
      return r.stdout.includes('mystring=logged') && r;
    }, 10_000, 'the access line in podman logs');
    const parse = (text: string) => text.trim().split('\n').map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        assert.fail(`not a JSON line: ${line}`);
      }
    });
    const access = parse(logs.stdout).find((r) => r.query === 'mystring=logged');
    assert.equal(access?.status, 200);
    // podman run prints its own complaints (no systemd for the health check timer) before the container's: only the container's lines are parsed.
    const errors = parse(logs.stderr.split('\n').filter((l) => !l.startsWith('time=')).join('\n'));
    assert.ok(errors.some((r) => r.msg === 'listening'), logs.stderr.slice(0, 2000));
  });

  it('reloads on podman kill -s HUP: new workers, and not one request of a bounded load failed', async () => {
    const before = new Set((await workers(app)).map((p) => p.pid));
    assert.equal(before.size, 2);
    let reloaded = false;
    let served = 0;
    const load = runLoad(appPort, { concurrency: 4, until: () => reloaded, maxRequests: 20_000, onOk: () => served++ });
    await until(() => served >= 20, 10_000, 'the load under way');
    await ok(podman(['kill', '-s', 'HUP', app]), 'podman kill -s HUP');
    const fresh = await until(async () => {
      const now = (await workers(app)).map((p) => p.pid);
      return now.length === 2 && now.every((pid) => !before.has(pid)) && now;
    }, 60_000, 'two new workers');
    // Some load after the reload too, answered by the new workers.
    const at = served;
    await until(() => served >= at + 20, 10_000, 'requests after the reload');
    reloaded = true;
    const result = await load;
    assert.equal(result.failed, 0, result.errors.join('\n'));
    assert.equal(result.races, 0);
    assert.ok(fresh.some((pid) => result.bodies.has(String(pid))), `no answer from a new worker (${fresh}); bodies ${[...result.bodies]}`);
    console.log(`      ${result.ok} requests during the reload, none failed`);
  });

  it('podman stop with a request in flight: the request is answered whole, the container exits 0 within the grace period', async () => {
    let started!: () => void;
    const inFlight = new Promise<void>((resolve) => {
      started = resolve;
    });
    const reply = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: appPort, path: '/slow?ms=2000', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
          // The first line is there: the request is in the app, mid-response.
          if (body === 'started\n') started();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      });
      req.setTimeout(30_000, () => req.destroy(new Error('no response in 30 s')));
      req.on('error', reject);
    });
    await Promise.race([inFlight, reply]);
    const t0 = Date.now();
    await ok(podman(['stop', '-t', String(GRACE), app], { timeoutMs: (GRACE + 20) * 1000 }), 'podman stop');
    const took = (Date.now() - t0) / 1000;
    console.log(`      podman stop took ${took} s`);
    assert.deepEqual(await reply, { status: 200, body: 'started\ndone\n' });
    const state = JSON.parse(await ok(podman(['inspect', '--format', '{{json .State}}', app]), 'podman inspect'));
    assert.equal(state.ExitCode, 0);
    assert.equal(state.Status, 'exited');
    assert.ok(took < GRACE, `podman stop took ${took} s`);
  });
});
