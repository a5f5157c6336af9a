import assert from 'node:assert/strict';
import { parseProxyHeader } from '../../../src/worker/proxy-protocol.js';

const both = { v1: true, v2: true };
const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** A v2 header: command (1 PROXY, 0 LOCAL), family byte, address bytes. */
function v2(cmd: number, fam: number, addr: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(addr.length);
  return Buffer.concat([SIG, Buffer.from([0x20 | cmd, fam]), len, addr]);
}

describe('PROXY protocol header', () => {
  it('v1 TCP4 and TCP6: the client address and port, and the header length', () => {
    const line = 'PROXY TCP4 203.0.113.7 10.0.0.1 51234 80\r\n';
    assert.deepEqual(parseProxyHeader(Buffer.from(`${line}GET / HTTP/1.1\r\n`), both), { length: line.length, address: '203.0.113.7', port: 51234, family: 'IPv4' });
    const six = 'PROXY TCP6 2001:db8::7 2001:db8::1 4000 443\r\n';
    assert.deepEqual(parseProxyHeader(Buffer.from(six), both), { length: six.length, address: '2001:db8::7', port: 4000, family: 'IPv6' });
    assert.deepEqual(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'), both), { length: 15 });
  });

  it('v1: waits for the CRLF, refuses a bad line or one over 107 bytes', () => {
    assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4'), both), 'more');
    assert.equal(parseProxyHeader(Buffer.from('PRO'), both), 'more');
    assert.ok('error' in (parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 x 1 2\r\n'), both) as object));
    assert.ok('error' in (parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n'), both) as object));
    assert.ok('error' in (parseProxyHeader(Buffer.from(`PROXY ${'x'.repeat(120)}`), both) as object));
  });

  it('v2 TCP4, TCP6 and LOCAL; TLVs are skipped', () => {
    const four = Buffer.from([203, 0, 113, 7, 10, 0, 0, 1, 0xc8, 0x22, 0, 80, 0x03, 0, 1, 0]);
    assert.deepEqual(parseProxyHeader(Buffer.concat([v2(1, 0x11, four), Buffer.from('GET')]), both), { length: 16 + four.length, address: '203.0.113.7', port: 51234, family: 'IPv4' });
    const six = Buffer.alloc(36);
    six.writeUInt16BE(0x2001, 0);
    six.writeUInt16BE(0x0db8, 2);
    six.writeUInt16BE(7, 14);
    six.writeUInt16BE(4000, 32);
    assert.deepEqual(parseProxyHeader(v2(1, 0x21, six), both), { length: 52, address: '2001:db8::7', port: 4000, family: 'IPv6' });
    assert.deepEqual(parseProxyHeader(v2(0, 0x00, Buffer.alloc(0)), both), { length: 16 });
  });

  it('v2: waits for the whole header, refuses a bad version or command', () => {
    const whole = v2(1, 0x11, Buffer.alloc(12));
    assert.equal(parseProxyHeader(whole.subarray(0, 10), both), 'more');
    assert.equal(parseProxyHeader(whole.subarray(0, 20), both), 'more');
    const bad = Buffer.from(whole);
    bad[12] = 0x31;
    assert.ok('error' in (parseProxyHeader(bad, both) as object));
    bad[12] = 0x22;
    assert.ok('error' in (parseProxyHeader(bad, both) as object));
  });

  it('no header: plain HTTP; a version not accepted counts as none', () => {
    assert.equal(parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n'), both), 'none');
    assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), { v1: false, v2: true }), 'none');
  });
});
