/**
 * The listen backlog as Linux reports it (src/master/backlog.ts): the
 * accept queue of the master's own listening sockets, found by inode, read
 * from /proc/net/tcp; and, on this machine, a real socket whose queue fills
 * while its listener's event loop is blocked.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { backlogIn, backlogReader } from '../../../src/master/backlog.js';
import { bindSocket, closeAll } from '../../../src/master/sockets.js';
import { afterTest } from '../../helpers/scope.js';
import { until } from '../../helpers/until.js';

const SAMPLE = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F40 00000000:0000 0A 00000000:00000003 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F41 00000000:0000 0A 00000000:00000010 00:00000000 00000000  1000        0 4343 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F40 0100007F:C9DA 01 00000000:00000020 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
`;

describe('master: the listen backlog', () => {
  it('sums the accept queues (rx_queue, hex) of the listening sockets with our inodes only', () => {
    assert.equal(backlogIn(SAMPLE, new Set(['4242'])), 3);
    assert.equal(backlogIn(SAMPLE, new Set(['4242', '4343'])), 19);
    assert.equal(backlogIn(SAMPLE, new Set(['1'])), 0);
    assert.equal(backlogIn('', new Set(['4242'])), 0);
  });

  it('reads a real socket of the master: connections made while no one accepts wait in its queue', async function () {
    if (!existsSync('/proc/net/tcp')) this.skip();
    const socket = await bindSocket('127.0.0.1:0');
    afterTest(() => closeAll([socket]));
    // Listening, as a worker listens on it: its event loop accepts whatever waits, whenever it runs.
    const server = net.createServer((c) => c.destroy());
    await new Promise<void>((resolve) => server.listen({ fd: socket.fd }, resolve));
    afterTest(() => new Promise((resolve) => server.close(() => resolve(undefined))));
    const read = backlogReader([socket]);
    assert.equal(read(), 0);
    const port = Number(/:(\d+)$/.exec(socket.address)![1]);
    // While another process connects, this event loop is blocked (spawnSync): nothing is accepted, and the queue is read before it runs again.
    const connect = `const net = require('node:net'); let n = 0; for (let i = 0; i < 3; i++) net.connect(${port}, '127.0.0.1', () => { if (++n === 3) process.exit(0); });`;
    const r = spawnSync(process.execPath, ['-e', connect], { timeout: 10_000 });
    assert.equal(r.status, 0, String(r.stderr));
    assert.equal(read(), 3);
    await until(() => read() === 0, 5000, 'the queue accepted');
    assert.equal(backlogReader([{ fd: 0, address: 'unix:/x', kind: 'unix', spec: 'unix:/x' }])(), undefined);
  });
});
