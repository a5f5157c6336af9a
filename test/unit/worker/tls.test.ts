import assert from 'node:assert/strict';
import { tlsServerOptions } from '../../../src/worker/tls.js';

describe('tlsServerOptions()', () => {
  it('the worker\'s TLS options: --cert-reqs as requestCert/rejectUnauthorized, the handshake bounded by --headers-timeout', () => {
    const material = { cert: 'C', key: 'K', ca: 'A', ticketKeys: Buffer.alloc(48, 1).toString('base64') };
    const none = tlsServerOptions(material, { certReqs: 'none', ciphers: '', tlsMinVersion: 'TLSv1.2', headersTimeout: 60 });
    assert.deepEqual({ ...none, ticketKeys: undefined }, { cert: 'C', key: 'K', ca: 'A', minVersion: 'TLSv1.2', requestCert: false, rejectUnauthorized: false, handshakeTimeout: 60_000, ticketKeys: undefined });
    assert.deepEqual(none.ticketKeys, Buffer.alloc(48, 1));
    const optional = tlsServerOptions(material, { certReqs: 'optional', ciphers: 'ECDHE+AESGCM', tlsMinVersion: 'TLSv1.3', headersTimeout: 0 });
    assert.equal(optional.requestCert, true);
    assert.equal(optional.rejectUnauthorized, false);
    assert.equal(optional.ciphers, 'ECDHE+AESGCM');
    assert.equal(optional.handshakeTimeout, undefined, "0: Node's own 120 s");
    const required = tlsServerOptions(material, { certReqs: 'required', ciphers: '', tlsMinVersion: 'TLSv1.2' });
    assert.equal(required.requestCert, true);
    assert.equal(required.rejectUnauthorized, true);
  });
});
