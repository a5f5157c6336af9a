/**
 * A stopping worker: idle keep-alive connections are closed cleanly (a FIN,
 * not a reset), and a request in flight gets its response with
 * `Connection: close`.
 */
import assert from 'node:assert/strict';
import { startGwserver } from '../../helpers/gwserver.js';
import { RawClient } from '../../helpers/raw.js';
import { until } from '../../helpers/until.js';

const APP = 'test/fixtures/apps/master.mjs:application';

describe('master: connections of a stopping worker', function () {
  this.timeout(20_000);

  it('closes idle keep-alive connections cleanly and answers in-flight requests with Connection: close', async () => {
    const srv = await startGwserver(['-w', '1', APP]);
    const [worker] = await srv.waitWorkers(1);

    const idle = await RawClient.open(srv.port);
    await idle.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => idle.text.includes(`\r\n\r\n${worker}`), 5000, 'first response');
    assert.match(idle.text, /Connection: keep-alive/);

    const busy = await RawClient.open(srv.port);
    await busy.write('GET /slow?ms=1000 HTTP/1.1\r\nHost: x\r\n\r\n');
    await srv.waitForRecord((r) => r.probe === 'slow-started');

    // HUP: a new worker boots, then the old one stops gracefully.
    srv.proc.kill('SIGHUP');
    await until(() => idle.ended, 10_000, 'the idle connection closed by the server');
    assert.notEqual(idle.error?.code, 'ECONNRESET', 'a clean close, not a reset');

    await until(() => busy.ended, 10_000, 'the in-flight response, then a close');
    assert.match(busy.text, /^HTTP\/1\.1 200 OK/);
    assert.match(busy.text, /Connection: close/);
    assert.match(busy.text, /slow done by \d+$/);
    assert.notEqual(busy.error?.code, 'ECONNRESET');
    idle.destroy();
    busy.destroy();
  });
});
