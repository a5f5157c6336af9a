/**
 * Every refusal path releases its socket within a bound, whatever the peer
 * sends: a CONNECT followed by a stream of data (a tunnel the worker will not
 * open), a malformed request followed by more bytes. Measured as the worker's
 * open-file count (/proc/PID/fd), which must come back to where it was.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { eachInterface, startGwserver, type Gwserver } from '../helpers/gwserver.js';
import { rawRequest } from '../helpers/raw.js';
import { until } from '../helpers/until.js';

const APP = 'test/fixtures/apps/edge.mjs';

function openFiles(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

async function storm(port: number, total: number, head: string, tail: Buffer): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  // The peer keeps sending after its request: the server must not wait for it to stop.
  const bytes = Buffer.concat([Buffer.from(head, 'latin1'), tail]);
  let next = 0;
  const lane = async () => {
    while (next < total) {
      next++;
      // The status line's code; 0 for none (the connection reset or timed out first).
      const status = await rawRequest(port, bytes).then((r) => r.status, () => 0);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: 32 }, lane));
  return statuses;
}

for (const [kind, target, flags] of eachInterface(APP)) {
  describe(`refused connections are released, ${kind} interface`, function () {
    this.timeout(120_000);
    let srv: Gwserver;
    let worker: number;
    before(async () => {
      srv = await startGwserver(['-w', '1', ...flags, target]);
      await until(() => srv.workerPids().length === 1, 10_000, 'the worker');
      worker = srv.workerPids()[0]!;
    });
    after(async () => { await srv?.stop(); });

    const tail = Buffer.alloc(100 * 1024, 'x');
    const cases: Array<[string, string, number]> = [
      ['CONNECT followed by 100 KB', 'CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n', 405],
      ['a malformed request followed by 100 KB', 'GET / HTTP/1.1\r\nHost: x\r\nBad Header : y\r\n\r\n', 400],
      ['a request over a limit followed by 100 KB', `GET /${'a'.repeat(5000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 414],
    ];
    for (const [name, head, status] of cases) {
      it(`${name}: the open-file count comes back, the worker serves on`, async () => {
        const before = openFiles(worker);
        const statuses = await storm(srv.port, 2000, head, tail);
        assert.ok((statuses.get(status) ?? 0) > 1900, `answers: ${JSON.stringify([...statuses])}`);
        // A bound, not an instant: a refused socket gets a grace to read its answer.
        await until(() => openFiles(worker) <= before + 5, 15_000, `the worker's open files to return to ${before} (now ${openFiles(worker)})`);
        const r = await rawRequest({ port: srv.port }, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
        assert.equal(r.status, 200);
        assert.deepEqual(srv.workerPids(), [worker], 'the same worker serves on');
      });
    }
  });
}
