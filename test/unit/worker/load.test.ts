/**
 * What a worker's heartbeat says of its load (src/worker/load.ts), read
 * from a real node:http server: requests with a response under way count,
 * an idle keep-alive connection and an upgraded one (a WebSocket) do not;
 * the event loop's utilization and lag come from Node's own measures.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadSampler, requestsInFlight } from '../../../src/worker/load.js';
import { afterTest } from '../../helpers/scope.js';
import { until } from '../../helpers/until.js';

describe('worker: the load its heartbeat reports', () => {
  it('counts the requests in flight, not idle keep-alive connections nor upgraded ones', async () => {
    const held: http.ServerResponse[] = [];
    const server = http.createServer((req, res) => {
      if (req.url === '/hold') held.push(res);
      else res.end('ok');
    });
    const upgradedHere: import('node:stream').Duplex[] = [];
    server.on('upgrade', (_req, socket) => upgradedHere.push(socket) && socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const agent = new http.Agent({ keepAlive: true });
    afterTest(() => {
      agent.destroy();
      for (const res of held) res.end();
      for (const socket of upgradedHere) socket.destroy();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve(undefined)));
    });
    const { port } = server.address() as AddressInfo;
    assert.equal(requestsInFlight([server]), 0);
    // An idle keep-alive connection.
    await new Promise<void>((resolve) => http.get({ port, host: '127.0.0.1', path: '/', agent }, (res) => res.resume().on('end', resolve)));
    // An upgraded connection.
    const up = http.request({ port, host: '127.0.0.1', headers: { Connection: 'Upgrade', Upgrade: 'test' } });
    const upgraded = new Promise<import('node:net').Socket>((resolve) => up.on('upgrade', (_res, socket) => resolve(socket)));
    up.end();
    afterTest(async () => (await upgraded).destroy());
    await upgraded;
    // Three requests the app holds.
    for (let i = 0; i < 3; i++) http.get({ port, host: '127.0.0.1', path: '/hold' }).on('error', () => undefined);
    await until(() => held.length === 3, 5000, 'three requests held');
    assert.equal(requestsInFlight([server]), 3);
    held.shift()!.end('done');
    await until(() => requestsInFlight([server]) === 2, 5000, 'one request done');
  });

  it('says how busy the event loop was since the last sample, and how late the sample came', () => {
    const sample = loadSampler(() => 0, 1000);
    const t = performance.now();
    while (performance.now() - t < 30) { /* busy */ }
    const load = sample();
    assert.equal(load.inflight, 0);
    assert.ok(load.elu > 0.5 && load.elu <= 1, `elu ${load.elu}`);
    assert.equal(load.lag, 0, 'sampled early, not late');
  });
});
