/**
 * A client that goes away: `gwserver.signal` is aborted so that an app
 * waiting on something else than the socket can stop, the body's iteration
 * is stopped, close() is called once; and a response that completed never
 * aborts the signal.
 */
import assert from 'node:assert/strict';
import type { Gwserver } from '../../helpers/gwserver.js';
import { request } from '../../helpers/http.js';
import { RawClient } from '../../helpers/raw.js';
import { assertAlive, barrier, events, get, serve, token, waitEvent } from './support.js';

describe('contract: gwserver.signal and a client that disconnects', function () {
  let server: Gwserver;
  beforeEach(async function () {
    server = await serve('signal');
  });

  /** A client whose request `t` has its first chunk, while the app waits in the middle of the body. */
  async function midBody(t: string): Promise<RawClient> {
    const c = await RawClient.open(server.port);
    await c.write(get(`/?mode=mid-body&t=${t}`));
    await c.waitFor('the first chunk', (x) => x.text.includes('start\n'));
    await waitEvent(server, 'waiting', t);
    return c;
  }

  it('is aborted when the client disconnects mid-body; the iteration stops and close() runs once', async function () {
    const t = token();
    const c = await midBody(t);
    c.destroy();
    const rec = await waitEvent(server, 'aborted', t);
    assert.equal(rec.aborted, true);
    await waitEvent(server, 'finally', t);
    await waitEvent(server, 'close', t);
    await barrier(server);
    assert.equal(events(server, 'close', t).length, 1, 'close() exactly once');
    assert.equal(events(server, 'finally', t).length, 1);
    await assertAlive(server);
  });

  it('is aborted when the client disconnects before the app called startResponse', async function () {
    const t = token();
    const c = await RawClient.open(server.port);
    await c.write(get(`/?mode=before-start&t=${t}`));
    await waitEvent(server, 'waiting', t);
    assert.equal(c.data.length, 0);
    c.destroy();
    const rec = await waitEvent(server, 'aborted', t);
    assert.equal(rec.aborted, true);
    await assertAlive(server);
  });

  it('is aborted when the client resets the connection (RST) mid-body', async function () {
    const t = token();
    const c = await midBody(t);
    c.socket.resetAndDestroy();
    await waitEvent(server, 'aborted', t);
    await waitEvent(server, 'close', t);
    await barrier(server);
    assert.equal(events(server, 'close', t).length, 1);
    await assertAlive(server);
  });

  it('is not aborted once the response completed, even when the connection closes after it', async function () {
    const t = token();
    const res = await request(`${server.url}/?mode=normal&t=${t}`);
    assert.equal(res.body.toString(), 'fine');
    await barrier(server);
    assert.equal(events(server, 'aborted-after-success', t).length, 0);
  });
});
