/**
 * The three interfaces under the same container, through real gwserver
 * processes: each says at boot what it serves; a wrong guess is a 500 whose
 * log line names the fix, never a hung request; the request limits, the
 * request id, --root-path, the request hooks and the refusal of CONNECT
 * (its socket released) hold under each.
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { startGwserver, type Gwserver } from '../helpers/gwserver.js';
import { rawRequest } from '../helpers/raw.js';
import { until } from '../helpers/until.js';

const APP = 'test/fixtures/apps/interfaces.mjs';
const TARGETS = {
  gateway: `${APP}:gatewayApp`,
  node: `${APP}:nodeHandler`,
  fetch: `${APP}:fetchObject`,
} as const;

async function get(srv: Gwserver, target: string, extra = ''): Promise<{ status: number; body: string; headers: Record<string, string> }> {
  const r = await rawRequest({ port: srv.port }, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}Connection: close\r\n\r\n`);
  return { status: r.status, body: r.body.toString(), headers: r.headers };
}

describe('interfaces: a wrong guess is a 500 that names the fix', function () {
  this.timeout(30_000);
  const cases: Array<[string, string[], string]> = [
    ['a node handler taken for a gateway app', [TARGETS.node], '--interface node'],
    ['a bare fetch function taken for a gateway app', [`${APP}:fetchHandler`], '--interface fetch'],
    ['a gateway app served with --interface node', ['--interface', 'node', TARGETS.gateway], '--interface gateway'],
  ];
  for (const [name, args, fix] of cases) {
    it(name, async () => {
      const srv = await startGwserver(args);
      const r = await get(srv, '/x');
      assert.equal(r.status, 500);
      const rec = await srv.waitForRecord((x) => x.level === 'error' || x.level === 50);
      assert.ok(JSON.stringify(rec).includes(fix), JSON.stringify(rec));
      assert.equal((await get(srv, '/again')).status, 500, 'and the worker serves on');
      await srv.stop();
    });
  }

  it('an --interface that cannot fit the app stops the boot with one line', async () => {
    const srv = await startGwserver(['--interface', 'fetch', 'test/fixtures/apps/frameworks/express.mjs'], { noWait: true });
    const { code } = await srv.exited;
    assert.equal(code, 4);
    const line = srv.stderr.find((l) => l.startsWith('gwserver: error:'));
    assert.match(line ?? '', /Express\/Connect app \(node\).*--interface node/);
  });
});

describe('interfaces: a node app that sets the request id header itself', function () {
  it('sends its header once, whether through writeHead or setHeader', async () => {
    const srv = await startGwserver(['--interface', 'node', `${APP}:nodeOwnId`]);
    for (const how of ['head', 'set']) {
      const r = await rawRequest({ port: srv.port }, `GET /?how=${how} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.equal(r.status, 200);
      assert.equal(r.raw.match(/x-request-id:/gi)?.length, 1, r.raw);
      assert.equal(r.headers['x-request-id'], 'app-own');
    }
    await srv.stop();
  });
});

for (const kind of ['gateway', 'node', 'fetch'] as const) {
  describe(`interfaces: the container under the ${kind} interface`, function () {
    this.timeout(60_000);
    let srv: Gwserver;
    let tmp: string;
    let hooks: string;
    before(async () => {
      tmp = mkdtempSync(path.join(os.tmpdir(), 'gw-if-'));
      hooks = path.join(tmp, 'hooks.log');
      // A bare function is a gateway app unless --interface says otherwise.
      const iface = kind === 'node' ? ['--interface', 'node'] : [];
      srv = await startGwserver(['-w', '1', '-c', 'test/fixtures/configs/hooks.mjs', '--root-path', '/mount', '--limit-request-body', '100', '--limit-request-line', '200', '--limit-request-fields', '10', ...iface, TARGETS[kind]], { env: { GW_HOOKS_LOG: hooks } });
    });
    after(async () => {
      await srv?.stop();
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    it('says at boot which interface it serves', async () => {
      const rec = await srv.waitForRecord((r) => typeof r.interface === 'string');
      assert.equal(rec.interface, kind);
    });

    it('makes a request id, shows it to the app and returns it; keeps a valid one', async () => {
      const made = await get(srv, '/mount/a');
      assert.equal(made.status, 200);
      const body = JSON.parse(made.body);
      assert.equal(body.kind, kind);
      assert.match(made.headers['x-request-id']!, /^[0-9a-f-]{36}$/);
      assert.equal(body.id, made.headers['x-request-id']);
      const kept = await get(srv, '/mount/a', 'X-Request-ID: abc-123\r\n');
      assert.equal(kept.headers['x-request-id'], 'abc-123');
      assert.equal(JSON.parse(kept.body).id, 'abc-123');
    });

    it('applies --root-path', async () => {
      const body = JSON.parse((await get(srv, '/mount/users?x=1')).body);
      if (kind === 'node') {
        assert.equal(body.url, '/users?x=1');
        assert.equal(body.originalUrl, '/mount/users?x=1');
      } else if (kind === 'gateway') {
        assert.equal(body.url, '/mount/users');
      } else {
        assert.match(body.url, /^http:\/\/127\.0\.0\.1\/mount\/users\?x=1$/);
      }
    });

    it('refuses what breaks the limits before the app: 414, 431, 413', async () => {
      assert.equal((await get(srv, `/${'a'.repeat(300)}`)).status, 414);
      assert.equal((await get(srv, '/', Array.from({ length: 12 }, (_, i) => `X-H${i}: v\r\n`).join(''))).status, 431);
      const big = await rawRequest({ port: srv.port }, `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\nConnection: close\r\n\r\n${'x'.repeat(101)}`);
      assert.equal(big.status, 413);
      assert.equal((await get(srv, '/mount/ok')).status, 200);
    });

    it('runs the request hooks with the request (gateway: the environ) and the status', async () => {
      await get(srv, '/mount/hooked?q=1');
      const entries = () => readFileSync(hooks, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
      await until(() => entries().some((e) => e.hook === 'postRequest' && String(e.path).endsWith('/hooked')), 10_000, 'postRequest');
      const pre = entries().find((e) => e.hook === 'preRequest' && String(e.path).endsWith('/hooked'))!;
      const post = entries().find((e) => e.hook === 'postRequest' && String(e.path).endsWith('/hooked'))!;
      assert.equal(pre.given, kind === 'gateway' ? 'environ' : 'request');
      assert.equal(post.status, '200 OK');
      // Through worker.log (gunicorn's worker.log.info), the worker's records, with its id.
      const [worker] = srv.workerPids();
      for (const hook of ['postWorkerInit', 'preRequest', 'postRequest']) {
        await until(() => srv.records().some((r) => r.from_hook === hook), 10_000, `${hook} through worker.log`);
        const rec = srv.records().find((r) => r.from_hook === hook)!;
        assert.deepEqual([rec.msg, rec.pid, rec.worker_id], [`${hook} hook ran (worker.log)`, worker, 1]);
      }
      assert.equal(pre.pid, worker);
      assert.ok(entries().some((e) => e.hook === 'postWorkerInit' && Number(e.pid) === worker), 'postWorkerInit ran in the worker');
    });

    it('releases CONNECT sockets whatever the peer sends (the open-file count comes back)', async () => {
      const [worker] = srv.workerPids();
      const fds = () => readdirSync(`/proc/${worker}/fd`).length;
      const before = fds();
      const tail = Buffer.alloc(100 * 1024, 'x');
      let next = 0;
      const connect = Buffer.concat([Buffer.from('CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n'), tail]);
      const lane = async () => {
        while (next++ < 1000) await rawRequest(srv.port, connect).catch(() => undefined);
      };
      await Promise.all(Array.from({ length: 32 }, lane));
      await until(() => fds() <= before + 5, 15_000, `the open files to come back to ${before} (now ${fds()})`);
      assert.equal((await get(srv, '/mount/alive')).status, 200);
    });

    // Last: it stops the worker.
    it('runs workerInt in the worker that gets INT, with worker.log', async () => {
      const [worker] = srv.workerPids();
      process.kill(worker!, 'SIGINT');
      const entries = () => readFileSync(hooks, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      await until(() => entries().some((e) => e.hook === 'workerInt' && e.pid === worker), 10_000, 'workerInt');
      const rec = await srv.waitForRecord((r) => r.from_hook === 'workerInt');
      assert.deepEqual([rec.pid, rec.worker_id], [worker, 1]);
      await until(() => srv.workerPids().length === 1 && srv.workerPids()[0] !== worker, 15_000, 'a replacement');
    });
  });
}
