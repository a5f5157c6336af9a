/**
 * --response-timeout under each interface: an app that sends no headers
 * in time gets its client a 503 (Connection: close), its abort signal
 * fires, its late answer is dropped without an error reaching anyone, the
 * worker serves on, and the timeout is counted and logged with the request
 * id; an upload slower than the timeout is not cut (the clock is the
 * app's, not the client's).
 */
import assert from 'node:assert/strict';
import { eachInterface, type Gwserver } from '../helpers/gwserver.js';
import { get } from '../helpers/http.js';
import { scrapeUntil, startWithMetrics, sum } from '../helpers/metrics.js';
import { parseResponse, RawClient, rawRequest } from '../helpers/raw.js';
import { until } from '../helpers/until.js';

const APP = 'test/fixtures/apps/deadline.mjs';

/** POSTs `size` bytes in `parts` pieces spread over `ms`, resolves with the answer's status and body. */
async function slowUpload(port: number, size: number, parts: number, ms: number): Promise<{ status: number; body: string }> {
  const c = await RawClient.open(port);
  try {
    await c.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`);
    const piece = Math.ceil(size / parts);
    for (let sent = 0; sent < size; sent += piece) {
      await new Promise((resolve) => setTimeout(resolve, ms / parts));
      await c.write(Buffer.alloc(Math.min(piece, size - sent), 'u'));
    }
    await c.waitFor('the answer', (x) => x.text.includes('\r\n\r\n') && parseResponse(x.data).complete);
    const r = parseResponse(c.data);
    return { status: r.status, body: r.body.toString('latin1') };
  } finally {
    c.destroy();
  }
}

for (const [kind, target, flags] of eachInterface(APP)) {
  describe(`--response-timeout, ${kind} interface`, function () {
    this.timeout(40_000);
    let srv: Gwserver;
    let mport: number;
    before(async () => {
      ({ srv, mport } = await startWithMetrics(['-w', '1', '--response-timeout', '1', ...flags, target]));
    });
    after(async () => { await srv?.stop(); });

    it('answers 503 with Connection: close when the app is late; the signal fires, the late answer is dropped, the worker serves on', async () => {
      const worker = srv.workerPids()[0];
      const t0 = Date.now();
      const r = await rawRequest({ port: srv.port }, 'GET /slow HTTP/1.1\r\nHost: x\r\nX-Request-ID: late-1\r\n\r\n');
      const ms = Date.now() - t0;
      assert.equal(r.status, 503);
      assert.equal(r.headers.connection, 'close');
      assert.equal(r.headers['x-request-id'], 'late-1');
      assert.ok(ms >= 900 && ms < 4000, `answered after ${ms} ms`);
      const rec = await srv.waitForRecord((x) => x.request_id === 'late-1' && /response-timeout/.test(String(x.msg)));
      assert.equal(rec.response_timeout, 1);
      // The app's own answer comes 5 s after its call: wait for it, then look at what it saw.
      let seen: { aborted: number; late: unknown[]; closed: number } = { aborted: 0, late: [], closed: 0 };
      await until(async () => {
        seen = JSON.parse((await get(srv.port, '/seen')).body);
        return seen.late.length === 1;
      }, 15_000, 'the late answer');
      assert.equal(seen.aborted, 1, JSON.stringify(seen));
      if (kind === 'node') assert.deepEqual(seen.late, [false]);
      if (kind === 'gateway') {
        assert.deepEqual(seen.late, ['GW_RESPONSE_TIMEOUT']);
        await until(async () => JSON.parse((await get(srv.port, '/seen')).body).closed === 1, 5000, 'close() of the late body');
      }
      assert.equal((await get(srv.port, '/fast')).body, 'fast');
      assert.deepEqual(srv.workerPids(), [worker], 'the same worker serves on');
      const samples = await scrapeUntil(mport, (s) => sum(s, 'gwserver_response_timeouts_total') === 1, 5000, 'the timeout counted');
      assert.equal(sum(samples, 'gwserver_http_requests_total', { status: '503' }), 1);
      assert.deepEqual(srv.records().filter((x) => x.level === 'error' || x.level === 'fatal'), [], 'no error record');
    });

    it('does not count the time a slow upload takes: 2.5 s of body, then an immediate answer, is served', async () => {
      const r = await slowUpload(srv.port, 50_000, 10, 2500);
      assert.equal(r.status, 200);
      assert.equal(r.body, '50000');
    });
  });
}
