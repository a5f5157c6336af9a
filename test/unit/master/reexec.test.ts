/**
 * The new master's side of USR2, in-process: reading GWSERVER_FDS and
 * GWSERVER_FD_SOCKETS (the end-to-end behaviour is in
 * test/integration/master/usr2.test.ts).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { FDS_ENV, SOCKETS_ENV, takeInheritedSockets } from '../../../src/master/reexec.js';
import { sink } from '../../helpers/sink.js';

describe('reexec: takeInheritedSockets (GWSERVER_FDS)', () => {
  let server: net.Server;
  let fd: number;
  let port: number;
  before(async () => {
    server = net.createServer();
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    port = (server.address() as net.AddressInfo).port;
    fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('returns undefined when the variables are absent', () => {
    assert.equal(takeInheritedSockets(sink().logger, [], {}), undefined);
  });

  it('takes the sockets as described, and removes both variables from the environment', () => {
    const env: NodeJS.ProcessEnv = {
      [FDS_ENV]: String(fd),
      [SOCKETS_ENV]: JSON.stringify([{ address: `http://127.0.0.1:${port}`, bind: '127.0.0.1:0', path: '/tmp/not-used.sock' }]),
      OTHER: 'kept',
    };
    const log = sink();
    const sockets = takeInheritedSockets(log.logger, ['127.0.0.1:0'], env)!;
    assert.deepEqual(env, { OTHER: 'kept' });
    assert.equal(sockets.length, 1);
    assert.equal(sockets[0]!.fd, fd);
    assert.equal(sockets[0]!.kind, 'fd');
    assert.equal(sockets[0]!.address, `http://127.0.0.1:${port}`);
    assert.equal(sockets[0]!.spec, '127.0.0.1:0');
    assert.equal(sockets[0]!.handle, undefined, 'no handle: closing it must not close the old master\'s socket file');
    // No old master on an IPC channel here: the socket file is this process's at once.
    assert.equal(sockets[0]!.path, '/tmp/not-used.sock');
    assert.ok(!log.records.some((l) => l.level === 'warn'), JSON.stringify(log.records));
  });

  it('describes a socket from /proc when GWSERVER_FD_SOCKETS is missing, and warns about a changed --bind', () => {
    const log = sink();
    const sockets = takeInheritedSockets(log.logger, ['127.0.0.1:9'], { [FDS_ENV]: String(fd) })!;
    assert.equal(sockets[0]!.address, `http://127.0.0.1:${port}`);
    assert.equal(sockets[0]!.spec, `fd://${fd}`);
    // fd:// specs (socket activation) say nothing about --bind: no warning.
    assert.ok(!log.records.some((l) => l.level === 'warn'));
    const log2 = sink();
    takeInheritedSockets(log2.logger, ['127.0.0.1:9'], { [FDS_ENV]: String(fd), [SOCKETS_ENV]: JSON.stringify([{ address: 'x', bind: '127.0.0.1:0' }]) });
    assert.ok(log2.records.some((l) => l.level === 'warn' && /changing the addresses needs a restart/.test(l.msg)));
  });

  it('refuses a malformed list and an fd that is not a socket, with one line', () => {
    assert.throws(() => takeInheritedSockets(sink().logger, [], { [FDS_ENV]: '3;4' }), /GWSERVER_FDS must be a comma-separated list of fds/);
    const env: NodeJS.ProcessEnv = { [FDS_ENV]: '987654' };
    assert.throws(() => takeInheritedSockets(sink().logger, [], env), /GWSERVER_FDS names fd 987654, which is not a socket of this process/);
    assert.deepEqual(env, {}, 'removed even when refused');
  });
});
