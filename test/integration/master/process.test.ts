/**
 * Process mechanics: workers drop privileges after the master bound the
 * sockets, --umask, and --reload.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ROOT, startGwserver } from '../../helpers/gwserver.js';
import { until } from '../../helpers/until.js';
import { tempDir } from '../../helpers/temp-dir.js';

const WHOAMI = 'test/fixtures/apps/whoami.mjs:application';

/** A free port below 1024 on 127.0.0.1 (the test runs as root). */
async function freePrivilegedPort(): Promise<number> {
  for (let port = 900; port < 1000; port++) {
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port in 900-999');
}

function uidOf(pid: number): number {
  return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

describe('master: process mechanics', function () {
  this.timeout(30_000);

  it('--user/--group: workers run unprivileged, the master keeps root and the port below 1024', async function () {
    if (process.getuid?.() !== 0) {
      console.log('      (skipped: dropping privileges needs root; CI runs as root)');
      this.skip();
    }
    const nobody = Number(execFileSync('id', ['-u', 'nobody']).toString().trim());
    const nogroup = Number(execFileSync('id', ['-g', 'nobody']).toString().trim());
    const port = await freePrivilegedPort();
    // The app must be readable by nobody: a checkout under `mktemp -d` (mode 0700) is not.
    const appDir = tempDir('gw-user-');
    chmodSync(appDir, 0o755);
    const app = path.join(appDir, 'whoami.mjs');
    copyFileSync(path.join(ROOT, 'test/fixtures/apps/whoami.mjs'), app);
    chmodSync(app, 0o644);
    // Only root may bind it: the master does, before the workers drop to nobody.
    const srv = await startGwserver(['-b', `127.0.0.1:${port}`, '-w', '2', '--user', 'nobody', '--group', String(nogroup), `${app}:application`]);
    assert.equal(srv.port, port);
    await until(() => srv.workerPids().length === 2, 10_000, 'workers');
    const r = (await (await fetch(`${srv.url}/`)).json()) as { uid: number; gid: number };
    assert.equal(r.uid, nobody);
    assert.equal(r.gid, nogroup);
    assert.equal(uidOf(srv.pid), 0, 'the master keeps root');
    for (const pid of srv.workerPids()) assert.equal(uidOf(pid), nobody);
  });

  it('--user that does not exist halts the master at boot with a clear message', async function () {
    if (process.getuid?.() !== 0) this.skip();
    const srv = await startGwserver(['--user', 'no-such-user-gw', WHOAMI], { noWait: true });
    const exit = await srv.exited;
    assert.equal(exit.code, 3);
    assert.ok(srv.stderr.some((l) => /^gwserver: error: cannot switch the workers to user no-such-user-gw \(--user\)/.test(l)), srv.stderr.join('\n'));
  });

  it('--umask sets the mode of files the app creates', async () => {
    const dir = tempDir('gw-umask-');
    chmodSync(dir, 0o777);
    const srv = await startGwserver(['--umask', '027', WHOAMI]);
    const file = path.join(dir, 'made');
    const r = (await (await fetch(`${srv.url}/?touch=${encodeURIComponent(file)}`)).json()) as { umask: number; mode: number };
    assert.equal(r.umask, 0o027);
    assert.equal(r.mode, 0o640);
  });

  it('--reload: editing a source file reloads the workers with the new code', async () => {
    const dir = tempDir('gw-reload-');
    const app = path.join(dir, 'app.mjs');
    writeFileSync(path.join(dir, 'message.mjs'), "export const message = 'before';\n");
    writeFileSync(app, "import { message } from './message.mjs';\nexport function application(e, s) { s('200 OK', []); return [message]; }\n");
    const srv = await startGwserver(['--reload', `${app}:application`]);
    await srv.waitForRecord((r) => /--reload: watching/.test(r.msg ?? ''));
    assert.equal(await (await fetch(`${srv.url}/`)).text(), 'before');
    // A module the app imports counts too, not only the app's own file.
    writeFileSync(path.join(dir, 'message.mjs'), "export const message = 'after';\n");
    // A retiring worker closes its idle keep-alive connections; a poll sent
    // on the pooled connection as it closes is reset (the race RFC 9112
    // section 9.6 leaves to the client), so a failed poll is "not yet".
    await until(async () => (await fetch(`${srv.url}/`).then((r) => r.text()).catch(() => '')) === 'after', 15_000, 'new code served');
    assert.ok(srv.records().some((r) => /message\.mjs changed: reloading the workers/.test(r.msg ?? '')));
  });

  it('--chdir: workers load MODULE relative to it', async () => {
    const srv = await startGwserver(['--chdir', 'test/fixtures', 'apps/master.mjs:application']);
    const r = await fetch(`${srv.url}/`);
    assert.equal(r.status, 200);
    assert.deepEqual([Number(await r.text())], srv.workerPids());
  });

  it('--preload: a broken app stops the master before any worker is forked', async () => {
    const srv = await startGwserver(['--preload', '-w', '2', 'test/fixtures/apps/loader/throws.js:application'], { noWait: true });
    const exit = await srv.exited;
    assert.equal(exit.code, 4);
    assert.ok(srv.stderr.some((l) => /^gwserver: error: .*threw while loading/.test(l)), srv.stderr.join('\n'));
    assert.ok(!srv.records().some((r) => /booting worker/.test(r.msg ?? '')), 'no worker was forked');
  });

  it('--backlog sets the listen backlog of the socket', async () => {
    const srv = await startGwserver(['--backlog', '77', WHOAMI]);
    // For a listening socket, ss shows the backlog in the Send-Q column.
    const line = execFileSync('ss', ['-ltnH', `sport = :${srv.port}`]).toString().trim();
    assert.match(line, /^LISTEN\s+\d+\s+77\s/, line);
  });
});
