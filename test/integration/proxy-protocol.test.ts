/**
 * --proxy-protocol: the client address from a PROXY header (v1 text, v2
 * binary) reaches every interface as the connection's remote address; a
 * header from a peer not in --proxy-allow-from, a malformed one, or none
 * where one is required, closes the connection without an answer.
 */
import assert from 'node:assert/strict';
import { eachInterface, startGwserver, type Gwserver } from '../helpers/gwserver.js';
import { RawClient } from '../helpers/raw.js';

const APP = 'test/fixtures/apps/edge.mjs';
const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const GET = 'GET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';

function v2tcp4(ip: number[], port: number): Buffer {
  const addr = Buffer.alloc(12);
  Buffer.from(ip).copy(addr, 0);
  Buffer.from([10, 0, 0, 1]).copy(addr, 4);
  addr.writeUInt16BE(port, 8);
  addr.writeUInt16BE(80, 10);
  return Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0, 12]), addr]);
}

/** Sends `bytes` (in one write, or in two 50 ms apart when `split`), resolves with all that came back until the server closed. */
async function exchange(port: number, bytes: Buffer, split = false): Promise<string> {
  const c = new RawClient(port);
  try {
    if (split) {
      c.send(bytes.subarray(0, 5));
      await new Promise((resolve) => setTimeout(resolve, 50));
      c.send(bytes.subarray(5));
    } else {
      c.send(bytes);
    }
    await c.waitClosed();
    return c.text;
  } finally {
    c.destroy();
  }
}

const body = (raw: string) => raw.slice(raw.indexOf('\r\n\r\n') + 4);

for (const [kind, target, flags] of eachInterface(APP)) {
  describe(`--proxy-protocol, ${kind} interface`, function () {
    this.timeout(30_000);
    let v1: Gwserver;
    let auto: Gwserver;
    before(async () => {
      [v1, auto] = await Promise.all([
        startGwserver(['-w', '1', '--proxy-protocol', 'v1', ...flags, target]),
        startGwserver(['-w', '1', '--proxy-protocol', 'auto', ...flags, target]),
      ]);
    });
    after(async () => { await Promise.all([v1?.stop(), auto?.stop()]); });

    it('v1: the client address and port from the header, also when the header arrives in pieces', async () => {
      const got = await exchange(v1.port, Buffer.from(`PROXY TCP4 203.0.113.7 10.0.0.1 51234 80\r\n${GET}`));
      assert.match(got, /^HTTP\/1\.1 200 /);
      assert.equal(body(got), '203.0.113.7 51234');
      const split = await exchange(v1.port, Buffer.from(`PROXY TCP6 2001:db8::7 2001:db8::1 4000 443\r\n${GET}`), true);
      assert.equal(body(split), '2001:db8::7 4000');
    });

    it('v1: no header, a malformed one, or a v2 one: 400 and the connection closed, the app never called', async () => {
      for (const bytes of [Buffer.from(GET), Buffer.from(`PROXY TCP4 nonsense\r\n${GET}`), Buffer.concat([v2tcp4([198, 51, 100, 9], 1234), Buffer.from(GET)])]) {
        const got = await exchange(v1.port, bytes);
        assert.match(got, /^HTTP\/1\.1 400 Bad Request\r\nConnection: close\r\n/);
        assert.doesNotMatch(body(got), /\d+\.\d+/);
      }
      await v1.waitForRecord((r) => /connection refused: .*--proxy-protocol v1/.test(String(r.msg)));
    });

    it('auto: v1, v2, or no header (a direct client)', async () => {
      assert.equal(body(await exchange(auto.port, Buffer.concat([v2tcp4([198, 51, 100, 9], 1234), Buffer.from(GET)]))), '198.51.100.9 1234');
      assert.equal(body(await exchange(auto.port, Buffer.from(`PROXY TCP4 203.0.113.8 10.0.0.1 5 80\r\n${GET}`))), '203.0.113.8 5');
      assert.match(body(await exchange(auto.port, Buffer.from(GET))), /^(127\.0\.0\.1|::ffff:127\.0\.0\.1) \d+$/);
    });
  });
}

describe('--proxy-protocol from a peer not allowed', function () {
  this.timeout(30_000);
  let srv: Gwserver;
  before(async () => {
    srv = await startGwserver(['-w', '1', '--proxy-protocol', 'auto', '--proxy-allow-from', '10.9.9.9', `${APP}:gateway`]);
  });
  after(async () => { await srv?.stop(); });

  it('its header gets 403 and the connection closed; its plain requests are served as its own', async () => {
    assert.match(await exchange(srv.port, Buffer.from(`PROXY TCP4 203.0.113.7 10.0.0.1 51234 80\r\n${GET}`)), /^HTTP\/1\.1 403 Forbidden\r\nConnection: close\r\n/);
    assert.match(body(await exchange(srv.port, Buffer.from(GET))), /^127\.0\.0\.1 \d+$/);
  });
});
