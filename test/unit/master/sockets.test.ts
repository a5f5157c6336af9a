/**
 * The master's binds, in-process: why a unix socket cannot be created, said
 * from its directory rather than from libuv's EACCES (which it also returns
 * for a directory that does not exist), both when a bind fails and when
 * `--check-config` looks without binding (bindProblem). Through the real
 * command, as another user: test/integration/first-hour.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BindError, bindFailure, bindProblem, bindSocket, closeAll, unixSocketProblem } from '../../../src/master/sockets.js';
import { tempDir } from '../../helpers/temp-dir.js';

describe('master: unix socket binds say what is wrong', () => {
  it('a directory that does not exist is named, with how to make it', () => {
    const dir = tempDir('gw-sock-');
    assert.equal(unixSocketProblem(`${dir}/run/app.sock`), `the directory ${dir}/run does not exist: create it first (under systemd, RuntimeDirectory= does)`);
  });

  it('a parent that is a file, a file in the way, a path too long', () => {
    const dir = tempDir('gw-sock-');
    writeFileSync(path.join(dir, 'file'), '');
    assert.equal(unixSocketProblem(`${dir}/file/app.sock`), `${dir}/file is not a directory`);
    assert.equal(unixSocketProblem(`${dir}/file`), `${dir}/file exists and is not a socket`);
    const long = `${dir}/${'s'.repeat(120)}.sock`;
    assert.equal(unixSocketProblem(long), `the path is too long for a unix socket (${Buffer.byteLength(long)} bytes; at most 107): use a shorter one`);
  });

  it('nothing to say about a directory where the socket can be made', () => {
    assert.equal(unixSocketProblem(`${tempDir('gw-sock-')}/app.sock`), undefined);
  });

  it('a failed bind carries the reason, not "ports below 1024", and leaves no file behind', async () => {
    const dir = tempDir('gw-sock-');
    await assert.rejects(bindSocket(`unix:${dir}/run/app.sock`), (err: unknown) => {
      assert.ok(err instanceof BindError);
      assert.equal(err.message, `cannot listen on unix:${dir}/run/app.sock: the directory ${dir}/run does not exist: create it first (under systemd, RuntimeDirectory= does)`);
      return true;
    });
    // libuv would bind a truncated path: refused before anything is made.
    const long = `${dir}/${'s'.repeat(120)}.sock`;
    await assert.rejects(bindSocket(`unix:${long}`), /the path is too long for a unix socket/);
    assert.deepEqual(readdirSync(dir), []);
  });

  it('EACCES on a unix socket is no port matter', () => {
    assert.equal(bindFailure('unix:/run/x.sock', 'EACCES'), 'cannot listen on unix:/run/x.sock: permission denied');
    assert.equal(bindFailure('0.0.0.0:80', 'EACCES'), 'cannot listen on 0.0.0.0:80: permission denied (ports below 1024 need privileges; or use socket activation)');
  });
});

describe('master: bindProblem (--check-config) looks without binding', () => {
  it('says what a bind would, for unix sockets and host names', async () => {
    const dir = tempDir('gw-sock-');
    assert.equal((await bindProblem(`unix:${dir}/run/app.sock`))?.message, `cannot listen on unix:${dir}/run/app.sock: the directory ${dir}/run does not exist: create it first (under systemd, RuntimeDirectory= does)`);
    assert.equal((await bindProblem('no-such-host.invalid:8000'))?.message, 'cannot listen on no-such-host.invalid:8000: the host name does not resolve');
  });

  it('finds nothing wrong with a usable address, and creates nothing', async () => {
    const dir = tempDir('gw-sock-');
    mkdirSync(path.join(dir, 'run'));
    assert.equal(await bindProblem(`unix:${dir}/run/app.sock`), undefined);
    assert.equal(existsSync(path.join(dir, 'run/app.sock')), false);
    assert.equal(await bindProblem('127.0.0.1:0'), undefined);
    assert.equal(await bindProblem('fd://3'), undefined);
  });

  it('a port in use is no problem for it (the server being checked may hold it)', async () => {
    const held = await bindSocket('127.0.0.1:0');
    try {
      assert.equal(await bindProblem(held.address.replace('http://', '')), undefined);
    } finally {
      await closeAll([held]);
    }
  });
});
