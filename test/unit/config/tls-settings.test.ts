import assert from 'node:assert/strict';
import { certReqs, tlsVersion } from '../../../src/config/validators.js';

describe('TLS settings', () => {
  it('--cert-reqs takes gunicorn\'s numbers, their names and ssl.CERT_* names', () => {
    for (const [value, want] of [[0, 'none'], ['1', 'optional'], [2, 'required'], ['Required', 'required'], ['CERT_OPTIONAL', 'optional'], ['ssl.CERT_NONE', 'none']] as const) {
      assert.equal(certReqs(value), want, String(value));
    }
    for (const bad of [3, '-1', 'sometimes', '', true]) assert.throws(() => certReqs(bad), /is not one of: none, optional, required \(or 0, 1, 2\)/, String(bad));
  });

  it('--tls-min-version takes TLSv1.2 and TLSv1.3 (and 1.2, 1.3), nothing older', () => {
    for (const [value, want] of [['TLSv1.2', 'TLSv1.2'], ['tlsv1.3', 'TLSv1.3'], ['1.3', 'TLSv1.3'], [1.2, 'TLSv1.2'], ['TLSv1_2', 'TLSv1.2']] as const) {
      assert.equal(tlsVersion(value), want, String(value));
    }
    for (const bad of ['TLSv1.1', 'TLSv1', 'SSLv3', '1.4', '']) assert.throws(() => tlsVersion(bad), /is not a TLS version gwserver offers/, bad);
  });
});
