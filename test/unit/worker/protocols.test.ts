/**
 * planProtocols: what a server offers, from --http-protocols,
 * --http2-cleartext, --http2-node-apps, the app's interface and TLS; and
 * the settings' validators and their one conflict.
 */
import assert from 'node:assert/strict';
import { conflicts } from '../../../src/config/load.js';
import { http2Cleartext, httpProtocols } from '../../../src/config/validators.js';
import { planProtocols } from '../../../src/worker/protocols.js';

describe('planProtocols', () => {
  it('HTTP/1.x only by default, as gunicorn', () => {
    const p = planProtocols('gateway', {});
    assert.deepEqual([p.h1, p.h2c, p.served], [true, false, ['HTTP/1.1']]);
    assert.equal(p.summary, 'serving HTTP/1.1');
  });

  it('h2c beside HTTP/1.1 for gateway and fetch apps with --http2-cleartext', () => {
    for (const kind of ['gateway', 'fetch'] as const) {
      const p = planProtocols(kind, { httpProtocols: ['h1', 'h2'], http2Cleartext: true });
      assert.deepEqual([p.h1, p.h2c, p.served], [true, true, ['HTTP/1.1', 'h2c']]);
    }
  });

  it('a node app: HTTP/1.x only unless --http2-node-apps, and the summary says why', () => {
    const p = planProtocols('node', { httpProtocols: ['h1', 'h2'], http2Cleartext: true });
    assert.equal(p.h2c, false);
    assert.match(p.summary, /^serving HTTP\/1\.1 only: HTTP\/2 is not served to a node app .*--http2-node-apps/);
    assert.equal(planProtocols('node', { httpProtocols: ['h1', 'h2'], http2Cleartext: true, http2NodeApps: true }).h2c, true);
    // Over TLS too: ALPN offers http/1.1 alone.
    assert.deepEqual(planProtocols('node', { httpProtocols: ['h2', 'h1'] }, true).alpn, ['http/1.1']);
  });

  it('h2 without TLS or --http2-cleartext: HTTP/1.x, and why', () => {
    assert.match(planProtocols('gateway', { httpProtocols: ['h1', 'h2'] }).summary, /h2 needs TLS \(ALPN\) or --http2-cleartext/);
    // h2 alone where it cannot be had: HTTP/1.x rather than nothing.
    assert.equal(planProtocols('gateway', { httpProtocols: ['h2'] }).h1, true);
    // h2 alone with h2c: no HTTP/1.x.
    const only = planProtocols('gateway', { httpProtocols: ['h2'], http2Cleartext: true });
    assert.deepEqual([only.h1, only.h2c], [false, true]);
  });

  it('TLS: ALPN ids in the order of --http-protocols (what createSecureServer will offer)', () => {
    assert.deepEqual(planProtocols('gateway', { httpProtocols: ['h2', 'h1'] }, true).alpn, ['h2', 'http/1.1']);
    assert.deepEqual(planProtocols('fetch', { httpProtocols: ['h1', 'h2'] }, true).alpn, ['http/1.1', 'h2']);
    assert.deepEqual(planProtocols('gateway', { httpProtocols: ['h1'] }, true).alpn, ['http/1.1']);
    assert.equal(planProtocols('gateway', { httpProtocols: ['h2', 'h1'], http2Cleartext: true }, true).h2c, false);
  });
});

describe('HTTP/2 settings', () => {
  it('--http-protocols: h1 and h2, in order, each once; anything else refused', () => {
    assert.deepEqual(httpProtocols('h2, H1,h2'), ['h2', 'h1']);
    assert.deepEqual(httpProtocols(['h1']), ['h1']);
    assert.throws(() => httpProtocols('h1,h3'), /"h3" is not a protocol gwserver speaks/);
    assert.throws(() => httpProtocols(''), /at least one/);
  });

  it("--http2-cleartext: a flag; gunicorn 26's prior-knowledge and off; upgrade refused", () => {
    assert.equal(http2Cleartext(true), true);
    assert.equal(http2Cleartext('prior-knowledge'), true);
    assert.equal(http2Cleartext('off'), false);
    assert.throws(() => http2Cleartext('upgrade'), /prior knowledge only/);
  });

  it('--http2-cleartext needs h2 in --http-protocols', () => {
    assert.match(conflicts({ http2Cleartext: true, httpProtocols: ['h1'] }) ?? '', /needs h2 in --http-protocols/);
    assert.equal(conflicts({ http2Cleartext: true, httpProtocols: ['h1', 'h2'] }), undefined);
    assert.equal(conflicts({ http2Cleartext: false, httpProtocols: ['h1'] }), undefined);
  });
});
