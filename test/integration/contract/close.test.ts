/**
 * close() exactly once, and the iteration stopped, on every path (a normal
 * response, an error mid-body, a client that goes away, HEAD) for every
 * kind of application: a function returning a sync or an async iterable,
 * an async function, a generator function, an async generator function, a
 * bound method, and an array with a close().
 *
 * Generator-function apps have no close() (their body is the generator):
 * for them, the generator's finally block running once is the check.
 */
import assert from 'node:assert/strict';
import type { Gwserver } from '../../helpers/gwserver.js';
import { request } from '../../helpers/http.js';
import { parseResponse, RawClient, rawExchange } from '../../helpers/raw.js';
import { appError, assertAlive, barrier, events, get, serve, token, waitEvent } from './support.js';

interface Kind {
  /** CALLABLE in contract.mjs. */
  app: string;
  /** Whether the body has a close() (every kind but generator functions). */
  close: boolean;
  /** Whether the body is a generator whose finally block reports (every kind but the array). */
  generator: boolean;
  /**
   * Whether startResponse is called inside the generator (generator
   * functions): HEAD must pull one step. Otherwise it was called before the
   * body was returned, and HEAD must not pull at all.
   */
  startsInBody: boolean;
}

const KINDS: Kind[] = [
  { app: 'syncIterable', close: true, generator: true, startsInBody: false },
  { app: 'asyncIterable', close: true, generator: true, startsInBody: false },
  { app: 'asyncApp', close: true, generator: true, startsInBody: false },
  { app: 'genApp', close: false, generator: true, startsInBody: true },
  { app: 'asyncGenApp', close: false, generator: true, startsInBody: true },
  { app: 'bound.handle', close: true, generator: true, startsInBody: false },
  { app: 'arrayApp', close: true, generator: false, startsInBody: false },
];

/**
 * Waits for the body's end events, then checks each happened exactly once.
 * `started: false` says the generator was never pulled (so its finally block
 * never runs: return() on a generator that has not started just ends it).
 */
async function assertEndedOnce(server: Gwserver, kind: Kind, t: string, started = true): Promise<void> {
  const generator = kind.generator && started;
  if (kind.close) await waitEvent(server, 'close', t);
  if (generator) await waitEvent(server, 'finally', t);
  // Anything that would call close() twice has had a round trip's time to do it.
  await barrier(server);
  if (kind.close) assert.deepEqual(events(server, 'close', t).map((r) => r.n), [1], 'close() exactly once');
  assert.equal(events(server, 'finally', t).length, generator ? 1 : 0, 'the generator finished once (or never started)');
}

for (const kind of KINDS) {
  describe(`contract: close() for ${kind.app}`, function () {
    let server: Gwserver;
    beforeEach(async function () {
      server = await serve(kind.app);
    });

    it('normal response: the body, then close() once', async function () {
      const t = token();
      const res = await request(`${server.url}/?mode=ok&t=${t}`);
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'ab');
      if (kind.app === 'bound.handle') assert.equal(res.headers['x-label'], 'bound', 'called with its this');
      await assertEndedOnce(server, kind, t);
      if (kind.generator) assert.equal(events(server, 'finally', t)[0]!.completed, true);
    });

    it('HEAD: headers only, close() once', async function () {
      const t = token();
      const c = await rawExchange(server.port, get(`/?mode=ok&t=${t}`, 'Connection: close\r\n', 'HEAD'));
      const res = parseResponse(c.data, { head: true, closed: true });
      assert.equal(res.status, 200);
      assert.equal(res.rest.length, 0, `no body bytes, got ${JSON.stringify(res.rest.toString())}`);
      // Pulled only as far as startResponse: a generator app is stopped after its
      // first step; a body returned after startResponse is not pulled at all.
      await assertEndedOnce(server, kind, t, kind.startsInBody);
      if (kind.startsInBody) assert.equal(events(server, 'finally', t)[0]!.completed, false, 'iteration stopped');
    });

    if (!kind.generator) return;

    it('an error mid-body: truncated response, logged, close() once', async function () {
      const t = token();
      const c = await rawExchange(server.port, get(`/?mode=fail&t=${t}`));
      const res = parseResponse(c.data, { closed: true });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'a');
      assert.equal(res.complete, false, 'the client sees a truncated response');
      const rec = await appError(server, t);
      assert.equal(rec.err.message, 'SECRET-mid-body-failure');
      await assertEndedOnce(server, kind, t);
      await assertAlive(server);
    });

    it('the client goes away mid-body: iteration stopped, close() once', async function () {
      const t = token();
      const c = await RawClient.open(server.port);
      await c.write(get(`/?mode=endless&t=${t}`));
      await c.waitFor('some of the body', (x) => x.data.length > 64 * 1024);
      c.destroy();
      await assertEndedOnce(server, kind, t);
      assert.equal(events(server, 'finally', t)[0]!.completed, false, 'stopped, not run to its end');
      if (events(server, 'finally', t).length > 0 && events(server, 'close', t).length > 0) {
        // The server was waiting for the socket to drain, not for the body:
        // close() comes after the generator's finally, so it may free what finally uses.
        const all = events(server, undefined, t);
        assert.ok(all.findIndex((r) => r.contract === 'finally') < all.findIndex((r) => r.contract === 'close'), JSON.stringify(all.map((r) => r.contract)));
      }
      await assertAlive(server);
    });
  });
}
