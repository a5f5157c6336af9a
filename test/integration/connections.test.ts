/**
 * Connection limits and slow readers: --worker-connections answers a
 * connection past the limit with 503 (Connection: close) before reading
 * it, and serves again once one closes; --send-timeout closes a connection
 * whose client stopped reading its response, and the worker serves on.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { eachInterface, startGwserver, type Gwserver } from '../helpers/gwserver.js';
import { RawClient, rawRequest } from '../helpers/raw.js';
import { until } from '../helpers/until.js';

const APP = 'test/fixtures/apps/edge.mjs';

/** A keep-alive connection that has been served one request and stays open. */
async function heldConnection(port: number): Promise<RawClient> {
  const c = await RawClient.open(port);
  await c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await c.waitFor('the first response', (x) => /\r\n\r\nok x$/.test(x.text));
  return c;
}

describe('--worker-connections', function () {
  this.timeout(30_000);
  let srv: Gwserver;
  const held: RawClient[] = [];
  before(async () => {
    srv = await startGwserver(['-w', '1', '--worker-connections', '2', `${APP}:gateway`]);
  });
  after(async () => {
    for (const s of held) s.destroy();
    await srv?.stop();
  });

  it('past the limit a new connection gets 503 with Connection: close; once one closes, connections are served again', async () => {
    const worker = srv.workerPids()[0];
    held.push(await heldConnection(srv.port), await heldConnection(srv.port));
    const r = await rawRequest({ port: srv.port }, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(r.status, 503);
    assert.equal(r.headers.connection, 'close');
    await srv.waitForRecord((x) => /--worker-connections 2 reached/.test(String(x.msg)));
    held.shift()!.destroy();
    await until(async () => (await rawRequest({ port: srv.port }, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).status === 200, 10_000, 'a connection served again');
    assert.deepEqual(srv.workerPids(), [worker]);
  });
});

describe('--worker-connections with round-robin scheduling', function () {
  this.timeout(30_000);
  let srv: Gwserver;
  const held: RawClient[] = [];
  before(async () => {
    srv = await startGwserver(['-w', '2', '--scheduling', 'round-robin', '--worker-connections', '1', '--log-level', 'debug', `${APP}:gateway`]);
    await srv.waitWorkers(2, 10_000);
  });
  after(async () => {
    for (const s of held) s.destroy();
    await srv?.stop();
  });

  it('the master hands a new connection to the worker with room, and 503 only when every worker is full', async () => {
    // One worker full; a short connection on the other (its turn), which then has room again.
    held.push(await heldConnection(srv.port));
    const full = await srv.waitForRecord((x) => /--worker-connections 1 reached/.test(String(x.msg)));
    const short = await rawRequest({ port: srv.port }, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(short.status, 200);
    const roomAgain = (n: number) => until(() => srv.records().filter((x) => x.msg === 'round-robin: a worker has room again' && x.worker_pid !== full.pid).length >= n, 10_000, 'the master to hear that the other worker has room');
    await roomAgain(1);
    // Now the turn is the full worker's: the master must skip it.
    for (let i = 0; i < 3; i++) {
      const r = await rawRequest({ port: srv.port }, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.equal(r.status, 200, `connection ${i + 1}: a worker has room`);
      await roomAgain(i + 2);
    }
    held.push(await heldConnection(srv.port));
    await until(() => new Set(srv.records().filter((x) => /--worker-connections 1 reached/.test(String(x.msg))).map((x) => x.pid)).size === 2, 10_000, 'both workers full');
    const r = await rawRequest({ port: srv.port }, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(r.status, 503);
  });
});

for (const [kind, target, flags] of eachInterface(APP, ['gateway', 'node'])) {
  describe(`--send-timeout, ${kind} interface`, function () {
    this.timeout(30_000);
    let srv: Gwserver;
    before(async () => {
      srv = await startGwserver(['-w', '1', '--send-timeout', '1', ...flags, target]);
    });
    after(async () => { await srv?.stop(); });

    it('closes the connection of a client that stopped reading, and serves on', async () => {
      const sock = net.connect(srv.port, '127.0.0.1');
      let got = 0;
      let closed = false;
      sock.on('close', () => { closed = true; });
      sock.on('error', () => {});
      await new Promise<void>((resolve) => {
        const onData = (d: Buffer) => {
          got += d.length;
          if (got > 0) {
            // Read once, then stop: the server's buffers fill and the response stalls.
            sock.pause();
            sock.off('data', onData);
            resolve();
          }
        };
        sock.on('data', onData);
        sock.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
      });
      const t0 = Date.now();
      const rec = await srv.waitForRecord((x) => /stopped reading/.test(String(x.msg)), 15_000);
      assert.equal(rec.send_timeout, 1);
      assert.ok(rec.pending_bytes > 0);
      assert.ok(Date.now() - t0 < 10_000);
      // The client sees the end once it reads again.
      sock.resume();
      await until(() => closed, 10_000, 'the client to see the connection closed');
      assert.ok(got < 256 * 1024 * 1024, `got ${got} bytes of 256 MiB`);
      const r = await rawRequest({ port: srv.port }, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.equal(r.status, 200);
    });
  });
}
