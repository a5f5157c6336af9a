import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  clearListenEnv, createNotifier, describeFd, inspectFd, listenFds, listenPidMismatch,
} from '../../../src/master/systemd.js';
import { freePort } from '../../helpers/free-port.js';
import { parseNotify, startNotifyListener, type NotifyListener } from '../../helpers/notify-socket.js';
import { RawClient } from '../../helpers/raw.js';
import { tempDir } from '../../helpers/temp-dir.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SYSTEMD_TS = pathToFileURL(path.join(ROOT, 'src/master/systemd.ts')).href;

/** The fd under a net.Server or net.Socket (libuv's handle; internal, fine for a test). */
function fdOf(x: net.Server | net.Socket): number {
  const fd = (x as unknown as { _handle?: { fd?: number } })._handle?.fd;
  assert.ok(typeof fd === 'number' && fd >= 0, 'no fd on the handle');
  return fd;
}

function listen(server: net.Server, options: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => { server.off('error', reject); resolve(); });
  });
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('systemd: listenFds (sd_listen_fds)', () => {
  it('returns fds 3..3+N-1 when LISTEN_PID is our pid', () => {
    assert.deepEqual(listenFds({ LISTEN_PID: '4242', LISTEN_FDS: '3' }, 4242), [{ fd: 3 }, { fd: 4 }, { fd: 5 }]);
    assert.deepEqual(listenFds({ LISTEN_PID: String(process.pid), LISTEN_FDS: '1' }), [{ fd: 3 }]);
  });

  it('names the fds from LISTEN_FDNAMES, by position', () => {
    assert.deepEqual(
      listenFds({ LISTEN_PID: '7', LISTEN_FDS: '2', LISTEN_FDNAMES: 'http:admin' }, 7),
      [{ fd: 3, name: 'http' }, { fd: 4, name: 'admin' }],
    );
    // Fewer names than fds, or an empty one: the name is left out.
    assert.deepEqual(
      listenFds({ LISTEN_PID: '7', LISTEN_FDS: '3', LISTEN_FDNAMES: ':admin' }, 7),
      [{ fd: 3 }, { fd: 4, name: 'admin' }, { fd: 5 }],
    );
  });

  it('returns [] when LISTEN_PID names another process, and says which', () => {
    const env = { LISTEN_PID: '4243', LISTEN_FDS: '2' };
    assert.deepEqual(listenFds(env, 4242), []);
    assert.equal(listenPidMismatch(env, 4242), 4243);
    assert.equal(listenPidMismatch({ LISTEN_PID: '4242', LISTEN_FDS: '2' }, 4242), undefined);
    assert.equal(listenPidMismatch({}, 4242), undefined);
  });

  it('returns [] without the variables, or with values that are not positive integers', () => {
    assert.deepEqual(listenFds({}, 1), []);
    assert.deepEqual(listenFds({ LISTEN_FDS: '2' }, 1), []);
    assert.deepEqual(listenFds({ LISTEN_PID: '1' }, 1), []);
    for (const bad of ['0', '-1', '2x', '', ' 2', '1.5']) {
      assert.deepEqual(listenFds({ LISTEN_PID: '1', LISTEN_FDS: bad }, 1), [], `LISTEN_FDS=${JSON.stringify(bad)}`);
    }
    assert.deepEqual(listenFds({ LISTEN_PID: 'abc', LISTEN_FDS: '1' }, 1), []);
  });

  it('clearListenEnv removes the three variables and nothing else', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_PID: '1', LISTEN_FDS: '2', LISTEN_FDNAMES: 'a:b', NOTIFY_SOCKET: '/run/x', PATH: '/bin' };
    clearListenEnv(env);
    assert.deepEqual(env, { NOTIFY_SOCKET: '/run/x', PATH: '/bin' });
    assert.deepEqual(listenFds(env, 1), []);
  });
});

describe('systemd: describeFd / inspectFd (/proc)', () => {
  it('describes a listening TCP socket (IPv4) by its address', async () => {
    const server = net.createServer();
    await listen(server, { host: '127.0.0.1', port: 0 });
    try {
      const { port } = server.address() as net.AddressInfo;
      assert.deepEqual(inspectFd(fdOf(server)), { kind: 'tcp', host: '127.0.0.1', port, family: 4, listening: true });
      assert.equal(describeFd(fdOf(server)), `http://127.0.0.1:${port}`);
    } finally {
      await close(server);
    }
  });

  it('describes a listening TCP socket (IPv6 loopback) in brackets', async function () {
    const server = net.createServer();
    try {
      await listen(server, { host: '::1', port: 0, ipv6Only: true });
    } catch {
      this.skip(); // no IPv6 on this machine
    }
    try {
      const { port } = server.address() as net.AddressInfo;
      assert.equal(describeFd(fdOf(server)), `http://[::1]:${port}`);
      assert.equal(inspectFd(fdOf(server)).kind, 'tcp');
    } finally {
      await close(server);
    }
  });

  it('tells a connected TCP socket from a listening one', async () => {
    const server = net.createServer((c) => c.end());
    await listen(server, { host: '127.0.0.1', port: 0 });
    const { port } = server.address() as net.AddressInfo;
    const client = net.connect({ host: '127.0.0.1', port });
    try {
      await new Promise<void>((resolve, reject) => { client.once('connect', resolve); client.once('error', reject); });
      const info = inspectFd(fdOf(client));
      assert.equal(info.kind, 'tcp');
      assert.equal(info.kind === 'tcp' && info.listening, false);
      assert.equal(info.kind === 'tcp' && info.port, client.localPort);
    } finally {
      client.destroy();
      await close(server);
    }
  });

  it('describes a listening unix socket by its path', async () => {
    const dir = tempDir('gwserver-sd-');
    const sock = path.join(dir, 'with space.sock');
    const server = net.createServer();
    await listen(server, { path: sock });
    try {
      assert.deepEqual(inspectFd(fdOf(server)), { kind: 'unix', path: sock, stream: true, listening: true });
      assert.equal(describeFd(fdOf(server)), `unix:${sock}`);
    } finally {
      await close(server);
    }
  });

  it('falls back to fd://N for a file, or an fd that is not open', () => {
    const fd = openSync(fileURLToPath(import.meta.url), 'r');
    try {
      assert.equal(describeFd(fd), `fd://${fd}`);
      const info = inspectFd(fd);
      assert.equal(info.kind, 'unknown');
      assert.match(info.kind === 'unknown' ? info.reason : '', /not a socket/);
    } finally {
      closeSync(fd);
    }
    assert.equal(describeFd(987_654), 'fd://987654');
    assert.match(JSON.stringify(inspectFd(987_654)), /ENOENT/);
  });
});

// ---- socket activation end to end -------------------------------------------

/**
 * The fixture systemd-socket-activate execs: it takes its sockets with
 * listenFds(), describes them, clears the variables, serves fd 3 (and 4)
 * with a server that answers every connection with what it found.
 */
const ACTIVATED = `
import net from 'node:net';
const { listenFds, describeFd, clearListenEnv } = await import(${JSON.stringify(SYSTEMD_TS)});
const fds = listenFds();
const info = {
  pid: process.pid,
  listenPid: process.env.LISTEN_PID,
  fds: fds.map((f) => ({ ...f, address: describeFd(f.fd) })),
};
clearListenEnv();
info.leftAfterClear = ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES'].filter((k) => k in process.env);
for (const { fd } of fds) net.createServer((c) => c.end(JSON.stringify(info) + '\\n')).listen({ fd });
console.log(JSON.stringify(info));
`;

interface Activator {
  proc: ChildProcess;
  port: number;
  stderr(): string;
  exited: Promise<void>;
}

/**
 * Runs `systemd-socket-activate -l 127.0.0.1:PORT ... -- node fixture` and
 * resolves once it listens. The port comes from binding port 0 and closing
 * it; another process may take it in between, so EADDRINUSE means a retry
 * with a new port.
 */
async function activate(extraArgs: string[], tries = 5): Promise<Activator> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const proc = spawn('systemd-socket-activate', [
      '-l', `127.0.0.1:${port}`, ...extraArgs, '--',
      process.execPath, '--import', 'tsx', '--input-type=module', '-e', ACTIVATED,
    ], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    started.add(proc);
    let err = '';
    proc.stderr!.setEncoding('utf8');
    const exited = new Promise<void>((resolve) => proc.on('close', () => { started.delete(proc); resolve(); }));
    const outcome = await new Promise<'listening' | 'exited'>((resolve) => {
      const deadline = setTimeout(() => resolve('exited'), 10_000);
      proc.stderr!.on('data', (d: string) => {
        err += d;
        if (err.includes(`Listening on 127.0.0.1:${port} as 3.`)) { clearTimeout(deadline); resolve('listening'); }
      });
      void exited.then(() => { clearTimeout(deadline); resolve('exited'); });
    });
    if (outcome === 'listening') return { proc, port, stderr: () => err, exited };
    proc.kill('SIGKILL');
    await exited;
    if (!/in use/i.test(err) || attempt >= tries) {
      throw new Error(`systemd-socket-activate did not listen on 127.0.0.1:${port}: ${err.trim()}`);
    }
  }
}

/** Connects and reads until the server closes; the first connection is also what launches the fixture. */
async function fetchLine(target: { port: number; host: string } | { path: string }, timeoutMs = 15_000): Promise<string> {
  const c = new RawClient(target);
  try {
    await c.waitClosed(timeoutMs);
  } finally {
    c.destroy();
  }
  if (c.error) throw c.error;
  return c.data.toString('utf8');
}

const started = new Set<ChildProcess>();

async function killStarted(): Promise<void> {
  await Promise.all([...started].map((p) => new Promise<void>((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    p.once('close', () => resolve());
    p.kill('SIGKILL');
  })));
}

describe('systemd: socket activation with systemd-socket-activate', () => {
  afterEach(killStarted);

  it('hands the process its socket as fd 3, with LISTEN_PID = its pid, and describeFd names the port', async () => {
    const a = await activate(['--fdname=http']);
    // systemd-socket-activate execs the command on the first connection, in its own pid.
    const info = JSON.parse(await fetchLine({ host: '127.0.0.1', port: a.port }));
    assert.equal(info.pid, a.proc.pid);
    assert.equal(info.listenPid, String(a.proc.pid));
    assert.deepEqual(info.fds, [{ fd: 3, name: 'http', address: `http://127.0.0.1:${a.port}` }]);
    assert.deepEqual(info.leftAfterClear, []);
    // The inherited socket keeps serving.
    assert.deepEqual(JSON.parse(await fetchLine({ host: '127.0.0.1', port: a.port })), info);
  });

  it('passes several sockets (TCP and unix) in order, with their names', async () => {
    const dir = tempDir('gwserver-sd-');
    const sock = path.join(dir, 'gw.sock');
    try {
      const a = await activate(['-l', sock, '--fdname=http:local']);
      const info = JSON.parse(await fetchLine({ path: sock }));
      assert.equal(info.pid, a.proc.pid);
      assert.deepEqual(info.fds, [
        { fd: 3, name: 'http', address: `http://127.0.0.1:${a.port}` },
        { fd: 4, name: 'local', address: `unix:${sock}` },
      ]);
      assert.deepEqual(JSON.parse(await fetchLine({ host: '127.0.0.1', port: a.port })), info);
    } finally {
      await killStarted();
    }
  });
});

// ---- sd_notify ---------------------------------------------------------------

describe('systemd: createNotifier (systemd-notify against a fake NOTIFY_SOCKET)', () => {
  let listener: NotifyListener;
  let errors: Error[];
  const env = () => ({ NOTIFY_SOCKET: listener.path, PATH: process.env.PATH });
  const onError = (err: Error) => { errors.push(err); };
  /** Payloads without systemd-notify's BARRIER=1 follow-ups. */
  const payloads = () => listener.messages.filter((m) => m !== 'BARRIER=1');

  beforeEach(async () => {
    listener = await startNotifyListener();
    errors = [];
  });
  afterEach(async () => {
    await listener.stop();
  });

  it('sends READY=1 with STATUS= and MAINPID= (this pid), answering the barrier', async () => {
    const n = createNotifier(env(), { onError });
    assert.equal(n.enabled, true);
    const t0 = Date.now();
    await n.ready('2 workers serving http://127.0.0.1:8000');
    // systemd-notify waits for the barrier; our listener closes the fd at once, so no 5 s wait.
    assert.ok(Date.now() - t0 < 3000, `ready() took ${Date.now() - t0} ms`);
    const msg = await listener.waitFor((m) => m.includes('READY=1'));
    assert.deepEqual(parseNotify(msg), { READY: '1', STATUS: '2 workers serving http://127.0.0.1:8000', MAINPID: String(process.pid) });
    await listener.waitFor((m) => m === 'BARRIER=1');
    assert.deepEqual(errors, []);
    const dgram = listener.datagrams.find((d) => d.data === msg)!;
    const barrier = listener.datagrams.find((d) => d.data === 'BARRIER=1')!;
    assert.equal(barrier.fds, 1, 'BARRIER=1 carries one fd (a pipe systemd closes)');
    if (process.getuid?.() === 0) {
      // As root, systemd-notify can put our pid in the credentials (SCM_CREDENTIALS).
      assert.equal(dgram.pid, process.pid);
    } else {
      // Unprivileged, the kernel reports systemd-notify's own pid: NotifyAccess=all is needed.
      assert.notEqual(dgram.pid, process.pid);
    }
  });

  it('sends RELOADING=1 with MONOTONIC_USEC= (CLOCK_MONOTONIC), then READY=1, in call order', async () => {
    const n = createNotifier(env(), { onError });
    // Not awaited one by one: the notifier itself must keep the order.
    const done = Promise.all([n.reloading(), n.ready('reloaded')]);
    await done;
    await listener.waitFor((m) => m.includes('READY=1'));
    const [reloading, ready] = payloads().map(parseNotify);
    assert.equal(reloading!.RELOADING, '1');
    assert.equal(ready!.READY, '1');
    const dgram = listener.datagrams.find((d) => d.data.includes('RELOADING=1'))!;
    const sent = Number(reloading!.MONOTONIC_USEC);
    assert.ok(sent <= dgram.monotonicUsec && sent > dgram.monotonicUsec - 5_000_000,
      `MONOTONIC_USEC=${sent} should be shortly before reception at ${dgram.monotonicUsec}`);
    assert.deepEqual(errors, []);
  });

  it('sends STOPPING=1 and STATUS= updates, one line each, in order', async () => {
    const n = createNotifier(env(), { onError });
    void n.status('booting\nworker 1');
    void n.ready();
    await n.stopping();
    await listener.waitFor((m) => m.includes('STOPPING=1'));
    assert.deepEqual(payloads().map(parseNotify), [
      { MAINPID: String(process.pid), STATUS: 'booting worker 1' },
      { MAINPID: String(process.pid), READY: '1' },
      { MAINPID: String(process.pid), STOPPING: '1' },
    ]);
    assert.deepEqual(errors, []);
  });

  it('uses the pid it is given for MAINPID=', async () => {
    const n = createNotifier(env(), { onError, pid: process.ppid });
    await n.ready();
    const msg = await listener.waitFor((m) => m.includes('READY=1'));
    assert.equal(parseNotify(msg).MAINPID, String(process.ppid));
  });

  it('is a no-op when NOTIFY_SOCKET is unset or empty', async () => {
    for (const e of [{ PATH: process.env.PATH }, { NOTIFY_SOCKET: '', PATH: process.env.PATH }]) {
      // A command that cannot run: any attempt would report an error.
      const n = createNotifier(e, { onError, command: '/nonexistent/systemd-notify' });
      assert.equal(n.enabled, false);
      await n.ready('x');
      await n.reloading();
      await n.status('y');
      await n.stopping();
    }
    assert.deepEqual(errors, []);
  });

  it('never throws when the socket does not exist: the error goes to onError', async () => {
    const n = createNotifier({ NOTIFY_SOCKET: path.join(path.dirname(listener.path), 'missing.sock'), PATH: process.env.PATH }, { onError });
    await n.ready('x');
    await n.stopping();
    assert.equal(errors.length, 2);
    assert.match(errors[0]!.message, /READY=1.*exit code 1.*No such file or directory/);
    assert.match(errors[1]!.message, /STOPPING=1/);
  });

  it('never throws when systemd-notify is missing, nor when onError throws', async () => {
    const n = createNotifier(env(), { onError, command: '/nonexistent/systemd-notify' });
    await n.ready();
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.message, /cannot run \/nonexistent\/systemd-notify: ENOENT/);
    const throwing = createNotifier(env(), { onError: () => { throw new Error('boom'); }, command: '/nonexistent/systemd-notify' });
    await throwing.ready();
    await throwing.stopping();
    // A notifier without onError stays silent too.
    await createNotifier(env(), { command: '/nonexistent/systemd-notify' }).ready();
  });
});
