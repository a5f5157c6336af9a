/**
 * WebSockets through fromNodeHandler's `upgrade` under gwserver -w 2: an
 * echo works; across a HUP the open sockets keep working while new ones
 * land on the new workers; at the end of --graceful-timeout the old
 * worker's sockets get a close frame 1001; they count as upgraded
 * connections in the metrics, not as requests. A worker without an upgrade
 * handler answers an upgrade request as a plain request.
 */
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startGwserver, type Gwserver } from '../helpers/gwserver.js';
import { get } from '../helpers/http.js';
import { until } from '../helpers/until.js';
import { scrapeUntil, sum } from '../helpers/metrics.js';

interface Client {
  ws: WebSocket;
  pid: number;
  messages: string[];
  closed?: number;
}

async function connect(port: number): Promise<Client> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
  const c: Client = { ws, pid: 0, messages: [] };
  ws.on('message', (d) => c.messages.push(String(d)));
  ws.on('close', (code) => { c.closed = code; });
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  await until(() => c.messages.length > 0, 5000, 'the greeting');
  c.pid = Number(/^pid (\d+)$/.exec(c.messages.shift()!)![1]);
  return c;
}

async function echo(c: Client, text: string): Promise<void> {
  const n = c.messages.length;
  c.ws.send(text);
  await until(() => c.messages.length > n, 5000, `the echo of ${text}`);
  assert.equal(c.messages[n], text);
}

describe('WebSockets (ws) under gwserver -w 2', function () {
  this.timeout(60_000);
  let srv: Gwserver;
  let mport: number;
  const clients: Client[] = [];
  before(async () => {
    srv = await startGwserver(['-w', '2', '--graceful-timeout', '3', '--metrics-bind', '127.0.0.1:0', 'test/fixtures/apps/frameworks/ws.mjs']);
    const rec = await srv.waitForRecord((r) => r.msg === 'metrics listening');
    mport = Number(new URL(String(rec.address)).port);
  });
  after(async () => {
    for (const c of clients) c.ws.terminate();
    await srv?.stop();
  });

  it('echoes, and counts the socket as upgraded, not as a request in flight', async () => {
    const a = await connect(srv.port);
    clients.push(a);
    await echo(a, 'hello');
    assert.ok(srv.workerPids().includes(a.pid));
    const s = await scrapeUntil(mport, (x) => sum(x, 'gwserver_upgraded_connections') === 1, 5000, 'one upgraded connection');
    assert.equal(sum(s, 'gwserver_http_requests_in_flight'), 0);
    assert.ok(sum(s, 'gwserver_upgrades_total') >= 1);
    const plain = await get(srv.port, '/');
    assert.match(plain.body, /^plain \d+$/);
  });

  it('across a HUP: open sockets finish, new ones land on new workers, the old ones get 1001 at the end of the grace', async () => {
    const a = clients[0]!;
    const old = srv.workerPids();
    process.kill(srv.pid, 'SIGHUP');
    await until(() => srv.workerPids().filter((p) => !old.includes(p)).length >= 2, 20_000, 'two new workers');
    // The master retires the old workers once the new ones are ready.
    await srv.waitForRecord((r) => r.msg === 'worker stopping' && old.includes(r.pid as number) && srv.records().filter((x) => x.msg === 'worker stopping' && old.includes(x.pid as number)).length === 2, 20_000);
    // The old worker is still draining: its socket still echoes.
    await echo(a, 'still here');
    const b = await connect(srv.port);
    clients.push(b);
    assert.ok(!old.includes(b.pid), `a new socket landed on an old worker (${b.pid})`);
    await echo(b, 'new');
    await until(() => a.closed !== undefined, 15_000, 'the old socket closed at the end of the grace');
    assert.equal(a.closed, 1001);
    await until(() => !srv.workerPids().includes(a.pid), 10_000, 'the old worker to exit');
    await echo(b, 'after');
  });
});

describe('an upgrade request to a worker without an upgrade handler', function () {
  let srv: Gwserver;
  before(async () => { srv = await startGwserver(['test/fixtures/apps/frameworks/express.mjs']); });
  after(async () => { await srv?.stop(); });

  it('is answered as a plain request', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/`);
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => resolve(-1));
    });
    assert.equal(status, 200);
  });
});
