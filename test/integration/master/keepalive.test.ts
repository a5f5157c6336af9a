/**
 * A stopping worker: idle keep-alive connections are closed cleanly (a FIN,
 * not a reset), and a request in flight gets its response with
 * `Connection: close`.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { startGwserver } from '../../helpers/gwserver.js';
import { waitFor } from '../../helpers/raw.js';

const APP = 'test/fixtures/apps/master.mjs:application';

interface Conn {
  sock: net.Socket;
  data: string;
  ended: boolean;
  reset: boolean;
}

function open(port: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const c: Conn = { sock: net.connect(port, '127.0.0.1'), data: '', ended: false, reset: false };
    c.sock.setEncoding('latin1');
    c.sock.on('data', (d: string) => (c.data += d));
    c.sock.on('end', () => (c.ended = true));
    c.sock.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET') c.reset = true;
    });
    c.sock.once('connect', () => resolve(c));
    c.sock.once('error', reject);
  });
}

describe('master: connections of a stopping worker', function () {
  this.timeout(20_000);

  it('closes idle keep-alive connections cleanly and answers in-flight requests with Connection: close', async () => {
    const srv = await startGwserver(['-w', '1', APP]);
    await waitFor(() => srv.workerPids().length === 1, 10_000, 'worker');
    const [worker] = srv.workerPids();

    const idle = await open(srv.port);
    idle.sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => idle.data.includes(`\r\n\r\n${worker}`), 5000, 'first response');
    assert.match(idle.data, /Connection: keep-alive/);

    const busy = await open(srv.port);
    busy.sock.write('GET /slow?ms=1000 HTTP/1.1\r\nHost: x\r\n\r\n');
    await srv.waitForRecord((r) => r.probe === 'slow-started');

    // HUP: a new worker boots, then the old one stops gracefully.
    srv.proc.kill('SIGHUP');
    await waitFor(() => idle.ended, 10_000, 'the idle connection closed by the server');
    assert.equal(idle.reset, false, 'a clean close, not a reset');

    await waitFor(() => busy.ended, 10_000, 'the in-flight response, then a close');
    assert.match(busy.data, /^HTTP\/1\.1 200 OK/);
    assert.match(busy.data, /Connection: close/);
    assert.match(busy.data, /slow done by \d+$/);
    assert.equal(busy.reset, false);
    idle.sock.destroy();
    busy.sock.destroy();
  });
});
