/**
 * compose.yaml, run by Debian's podman-compose (1.0): its `build:` sections
 * build both images (gwserver's Dockerfile, and deploy/compose/nginx.Dockerfile
 * with Debian's nginx and the shipped config/nginx.conf), FROM the local base
 * passed through the file's ${NODE_IMAGE} and ${NGINX_BASE} build arguments;
 * the stack comes up under a project name of its own (parallel runs do not
 * clash) with nginx published on a free port of 127.0.0.1. Proves: requests
 * through nginx reach both replicas over their unix sockets, with the
 * client's address passed on; `podman-compose restart gw1` under a bounded
 * load of GETs fails none of them (nginx retries on gw2), and gw1 serves
 * again afterwards. The stack is taken down in `after`, whatever happened.
 *
 * What it cannot prove: Docker Compose itself (the file is written for both;
 * `stop_grace_period`, which podman-compose 1.0 ignores, is not exercised),
 * and a POST caught by the restart (nginx does not retry those; the load is
 * GETs).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { get } from '../helpers/http.js';
import { runLoad } from '../helpers/load.js';
import { ROOT } from '../helpers/gwserver.js';
import { until } from '../helpers/until.js';
import { baseImage, buildFlags, ok, podman, publishedPort, requirePodman, run, type Ran } from './podman.js';

const PROJECT = `gwtest-compose-${process.pid}`;

describe('deploy: compose.yaml, nginx in front of two replicas (podman-compose)', function () {
  this.timeout(6 * 60_000);
  let env: NodeJS.ProcessEnv = {};
  let port = 0;
  const compose = (args: string[], timeoutMs = 120_000): Promise<Ran> => run('podman-compose', ['-f', 'compose.yaml', '-p', PROJECT, ...args], { env, cwd: ROOT, timeoutMs });
  const container = (service: string) => `${PROJECT}_${service}_1`;
  /** The access records of a replica's log (stdout), parsed. */
  const accessLines = async (service: string) => {
    const out = await ok(podman(['logs', container(service)]), `podman logs ${service}`);
    return out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => typeof r.status === 'number');
  };

  before(async function () {
    requirePodman(this);
    if (spawnSync('sh', ['-c', 'command -v podman-compose']).status !== 0) {
      console.log('      skipped: needs podman-compose (apt-get install podman-compose)');
      this.skip();
    }
    const base = await baseImage();
    env = {
      NODE_IMAGE: base,
      NGINX_BASE: base,
      GWSERVER_IMAGE: 'localhost/gwserver-compose-test-gw:latest',
      NGINX_IMAGE: 'localhost/gwserver-compose-test-nginx:latest',
      // "127.0.0.1:" + ":80": a free port of the loopback.
      NGINX_PORT: '127.0.0.1:',
    };
    // The flags of test/deploy/podman.ts's buildImage, as podman-compose takes them (one string).
    await ok(compose([`--podman-build-args=${buildFlags().join(' ')}`, 'build'], 10 * 60_000), 'podman-compose build');
    // podman-compose 1.0 exits 0 even when a container fails to start: what runs is checked below.
    await ok(compose(['up', '-d']), 'podman-compose up -d');
    const running = await ok(podman(['ps', '--filter', `label=io.podman.compose.project=${PROJECT}`, '--format', '{{.Names}}']), 'podman ps');
    assert.deepEqual(running.trim().split('\n').sort(), ['gw1', 'gw2', 'nginx'].map(container));
    port = await publishedPort(container('nginx'), 80);
    for (const service of ['gw1', 'gw2']) {
      await until(async () => (await podman(['logs', container(service)])).stderr.includes('"msg":"listening"'), 60_000, `${service} listening`, 200);
    }
    await until(() => get(port, '/', { timeoutMs: 2_000 }).then((r) => r.status === 200, () => false), 60_000, `nginx answering 200 on 127.0.0.1:${port}`, 200);
  });

  after(async () => {
    await compose(['down', '-v'], 120_000);
    // What down leaves (podman-compose 1.0 keeps the network), or what a failed up left.
    const left = await podman(['ps', '-a', '--filter', `label=io.podman.compose.project=${PROJECT}`, '--format', '{{.Names}}']);
    const names = left.stdout.trim().split('\n').filter(Boolean);
    if (names.length) await podman(['rm', '-f', '-t', '0', ...names]);
    await podman(['volume', 'rm', '-f', `${PROJECT}_sockets`]);
    await podman(['network', 'rm', '-f', `${PROJECT}_default`]);
  });

  it('answers through nginx from both replicas, with the client address passed on over the unix sockets', async () => {
    // Until both have answered: a replica nginx found not yet listening is left out for its fail_timeout (10 s).
    const seen = await until(async () => {
      assert.equal((await get(port, '/encode?mystring=compose')).status, 200);
      const lines = await Promise.all(['gw1', 'gw2'].map(async (service) => (await accessLines(service)).find((r) => r.query === 'mystring=compose')));
      return lines.every(Boolean) && lines;
    }, 30_000, 'requests through nginx on both gw1 and gw2', 100);
    // From X-Forwarded-For, trusted on a unix socket: an IP address, where the socket alone gives none.
    for (const line of seen) assert.match(String(line!.remote_addr), /^\d+\.\d+\.\d+\.\d+$/, JSON.stringify(line));
  });

  it('podman-compose restart gw1 under a bounded load of GETs through nginx: no request fails, and gw1 serves again', async () => {
    let served = 0;
    let done = false;
    const load = runLoad(port, { concurrency: 4, until: () => done, maxRequests: 20_000, onOk: () => served++ });
    await until(() => served >= 20, 10_000, 'the load under way');
    const t0 = Date.now();
    await ok(compose(['restart', 'gw1']), 'podman-compose restart gw1');
    const restarted = Date.now();
    // nginx takes gw1 back once its fail_timeout (10 s) has passed.
    await until(async () => (await accessLines('gw1')).some((r) => Date.parse(String(r.time)) > restarted), 40_000, 'gw1 answering through nginx again', 250);
    done = true;
    const result = await load;
    assert.equal(result.failed, 0, result.errors.join('\n'));
    assert.equal(result.races, 0);
    assert.ok(result.ok > 50, `${result.ok} requests`);
    console.log(`      ${result.ok} requests, none failed; the restart took ${restarted - t0} ms`);
  });
});
