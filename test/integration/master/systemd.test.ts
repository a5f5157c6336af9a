/**
 * The master under systemd's two protocols, through real processes:
 *
 * - socket activation with Debian's `systemd-socket-activate`, which binds
 *   the port, execs gwserver on the first connection and hands it fd 3 with
 *   LISTEN_FDS/LISTEN_PID: gwserver serves the inherited socket, the socket
 *   outlives the death of the only worker, and LISTEN_* meant for another
 *   process (a parent shell) are ignored in favour of --bind;
 * - sd_notify with a real unix datagram listener standing in for systemd
 *   (test/helpers/notify-socket.ts): READY=1 once the workers listen,
 *   RELOADING=1 then READY=1 around HUP, STOPPING=1 on TERM.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BIN, childPids, ROOT, startGwserver, alive } from '../../helpers/gwserver.js';
import { parseNotify, startNotifyListener, type NotifyListener } from '../../helpers/notify-socket.js';
import { until } from '../../helpers/until.js';
import { freePort } from '../../helpers/free-port.js';
import { get } from '../../helpers/http.js';
import { RawClient } from '../../helpers/raw.js';
import { tempDir } from '../../helpers/temp-dir.js';

const APP = 'test/fixtures/apps/ops.mjs:application';

type LogRecord = Record<string, any>;

/** A master's worker processes (its children that are gwserver workers: not a passing systemd-notify). */
function workersOf(master: number): number[] {
  return childPids(master).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('gwserver: worker');
    } catch {
      return false;
    }
  });
}

/** The LISTEN_* variables in a process's environment (from /proc). */
function listenVars(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter((kv) => kv.startsWith('LISTEN_'));
}

// ---- systemd-socket-activate ------------------------------------------------

/** Processes started here (systemd-socket-activate, which becomes gwserver): killed with their descendants after each test. */
const started = new Set<ChildProcess>();

/** All descendants of `pid`, each stopped (SIGSTOP) as it is found, so that none forks a replacement meanwhile. */
function stopDescendants(pid: number): number[] {
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of childPids(queue.shift()!)) {
      try {
        process.kill(child, 'SIGSTOP');
      } catch {
        // Already gone.
      }
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** Kills a process we started and every process below it (a gwserver master's workers), by pid. */
async function killTree(proc: ChildProcess): Promise<void> {
  if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  try {
    process.kill(proc.pid, 'SIGSTOP');
  } catch {
    // Already gone.
  }
  for (const pid of stopDescendants(proc.pid).reverse()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  proc.kill('SIGKILL');
  await exited;
}

interface Activated {
  /** systemd-socket-activate, which execs the command in the same pid on the first connection. */
  proc: ChildProcess;
  port: number;
  /** stderr lines: systemd-socket-activate's, then the command's (gwserver's JSON records). */
  lines: string[];
  records(): LogRecord[];
  waitForRecord(pred: (r: LogRecord) => boolean, timeoutMs?: number): Promise<LogRecord>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs `systemd-socket-activate -l 127.0.0.1:PORT -- command...` and
 * resolves once it listens (the command starts on the first connection).
 * The port comes from binding port 0 and closing it; another process may
 * take it in between, so "in use" means a retry with a new port.
 */
async function activate(command: string[], tries = 5): Promise<Activated> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const proc = spawn('systemd-socket-activate', ['-l', `127.0.0.1:${port}`, '--', ...command], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    started.add(proc);
    const lines: string[] = [];
    let buf = '';
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    proc.stdout!.resume();
    let hasExited = false;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      proc.on('exit', (code, signal) => {
        hasExited = true;
        started.delete(proc);
        resolve({ code, signal });
      });
    });
    /** Polls `cond` while the process runs; the failure shows its stderr. */
    const whileRunning = (cond: () => boolean, timeoutMs: number, what: string): Promise<true> => until(() => {
      if (cond()) return true;
      if (hasExited) throw new Error(`systemd-socket-activate exited while waiting for ${what}; stderr:\n${lines.join('\n')}`);
      return false;
    }, timeoutMs, () => `${what}; stderr:\n${lines.join('\n')}`);
    const records = () => lines.flatMap((l) => {
      if (!l.startsWith('{')) return [];
      try {
        return [JSON.parse(l) as LogRecord];
      } catch {
        return [];
      }
    });
    try {
      await whileRunning(() => lines.some((l) => l.includes(`Listening on 127.0.0.1:${port} as 3.`)), 10_000, 'systemd-socket-activate to listen');
    } catch (err) {
      await killTree(proc);
      if (!lines.some((l) => /in use/i.test(l)) || attempt >= tries) throw err;
      continue;
    }
    return {
      proc,
      port,
      lines,
      records,
      async waitForRecord(pred, timeoutMs = 15_000) {
        let hit: LogRecord | undefined;
        await whileRunning(() => (hit = records().find(pred)) !== undefined, timeoutMs, 'a log record');
        return hit!;
      },
      exited,
    };
  }
}

describe('master: systemd socket activation (systemd-socket-activate)', function () {
  this.timeout(60_000);
  afterEach(async () => {
    await Promise.all([...started].map(killTree));
  });

  it('serves the inherited socket with -w 2, logs its real address, and keeps LISTEN_* from the workers', async () => {
    // A --bind that socket activation replaces.
    const unused = await freePort();
    const a = await activate([process.execPath, BIN, '-w', '2', '-b', `127.0.0.1:${unused}`, APP]);
    // The first connection makes systemd-socket-activate exec gwserver; it waits in the backlog until a worker accepts.
    const first = await get(a.port);
    assert.equal(first.status, 200);
    const master = a.proc.pid!;
    const listening = await a.waitForRecord((r) => r.msg === 'listening');
    assert.equal(listening.pid, master, 'gwserver runs in the pid systemd-socket-activate started (LISTEN_PID)');
    assert.equal(listening.address, `http://127.0.0.1:${a.port}`);
    assert.deepEqual(a.records().filter((r) => r.msg === 'listening').map((r) => r.address), [`http://127.0.0.1:${a.port}`], 'only the inherited socket: --bind is replaced');
    const using = a.records().find((r) => /from systemd \(LISTEN_FDS\)/.test(r.msg ?? ''));
    assert.deepEqual(using?.fds, [3]);
    assert.equal(a.records().some((r) => /LISTEN_PID/.test(r.msg ?? '')), false);

    await until(() => workersOf(master).length === 2, 10_000, '2 workers');
    const workers = workersOf(master);
    assert.ok(workers.includes(Number(first.body)), `served by ${first.body}, workers ${workers}`);
    for (const pid of workers) assert.deepEqual(listenVars(pid), [], `worker ${pid} sees no LISTEN_* variables`);
    // (Not checked on the master: /proc/PID/environ shows the environment a process started with, not unsetenv's.)
    // Both workers accept on the inherited socket.
    const seen = new Set<string>();
    for (let i = 0; i < 100 && seen.size < 2; i++) seen.add((await get(a.port)).body);
    assert.deepEqual([...seen].map(Number).sort(), [...workers].sort());
  });

  it('kill -9 of the only worker (-w 1) does not lose the inherited socket: the next client is served by the replacement', async () => {
    const a = await activate([process.execPath, BIN, '-w', '1', APP]);
    const first = await get(a.port);
    assert.equal(first.status, 200);
    const master = a.proc.pid!;
    await a.waitForRecord((r) => r.msg === 'listening');
    let victim = Number(first.body);
    assert.deepEqual(workersOf(master), [victim]);
    for (const round of [1, 2]) {
      process.kill(victim, 'SIGKILL');
      await until(() => !alive(victim), 5000, `worker ${victim} gone (round ${round})`);
      // Right after: the replacement may not even be forked yet. With plain node:cluster the primary would have closed fd 3 with its last worker, and this would be refused.
      const r = await get(a.port);
      assert.equal(r.status, 200, `round ${round}`);
      assert.notEqual(Number(r.body), victim);
      assert.deepEqual(workersOf(master), [Number(r.body)], 'served by the replacement');
      const exit = await a.waitForRecord((x) => x.worker_pid === victim && /exited/.test(x.msg ?? ''));
      assert.equal(exit.reason, 'signal SIGKILL');
      victim = Number(r.body);
    }
    assert.equal(a.proc.exitCode, null, 'the master is still running');
    // Still the inherited socket, not a new one.
    assert.deepEqual(a.records().filter((r) => r.msg === 'listening').map((r) => r.address), [`http://127.0.0.1:${a.port}`]);
  });

  it('ignores LISTEN_FDS meant for another process (LISTEN_PID of a parent shell), says so, and binds --bind', async () => {
    // sh is what systemd-socket-activate execs (LISTEN_PID = its pid); sh forks gwserver, which inherits fd 3 and the variables.
    const cmd = `"${process.execPath}" "${BIN}" -w 1 -b 127.0.0.1:0 ${APP}; exit $?`;
    const a = await activate(['/bin/sh', '-c', cmd]);
    // Start sh (and gwserver) with a connection nobody will serve: gwserver must not accept on fd 3.
    const trigger = new RawClient(a.port);
    try {
      const warning = await a.waitForRecord((r) => /LISTEN_PID/.test(r.msg ?? ''));
      const shell = a.proc.pid!;
      assert.equal(warning.level, 'warn');
      assert.equal(warning.listen_pid, shell);
      assert.notEqual(warning.pid, shell, 'gwserver is a child of the shell');
      assert.match(warning.msg, new RegExp(`LISTEN_PID is ${shell}, not this process: ignoring LISTEN_FDS`));
      const listening = await a.waitForRecord((r) => r.msg === 'listening');
      const port = Number(new URL(listening.address).port);
      assert.notEqual(port, a.port);
      assert.equal(a.records().some((r) => /from systemd \(LISTEN_FDS\)/.test(r.msg ?? '')), false);
      const r = await get(port);
      assert.equal(r.status, 200);
      const master = warning.pid as number;
      assert.deepEqual(workersOf(master), [Number(r.body)]);
      assert.deepEqual(listenVars(Number(r.body)), [], 'the worker sees no LISTEN_* variables');
    } finally {
      trigger.destroy();
    }
  });
});

// ---- sd_notify ----------------------------------------------------------------

describe('master: sd_notify to a fake NOTIFY_SOCKET (real unix datagram listener)', function () {
  this.timeout(60_000);
  let listener: NotifyListener;
  let dir: string;

  beforeEach(async () => {
    listener = await startNotifyListener();
    dir = tempDir('gw-notify-');
  });
  afterEach(async () => {
    await listener.stop();
  });

  /** Payloads without systemd-notify's BARRIER=1 follow-ups. */
  const payloads = () => listener.messages.filter((m) => m !== 'BARRIER=1');
  const booted = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map(Number) : []);

  it('READY=1 (STATUS=, MAINPID=) once the workers listen, RELOADING=1 then READY=1 around HUP, STOPPING=1 on TERM', async () => {
    const mark = path.join(dir, 'booted');
    // Workers take at least 800 ms to load the app: a READY=1 sent before they listen would be caught below.
    const srv = await startGwserver(['-w', '2', '-b', '127.0.0.1:0', APP], {
      noWait: true,
      env: { NOTIFY_SOCKET: listener.path, GW_OPS_BOOT_DELAY_MS: '800', GW_OPS_BOOT_MARK: mark },
    });
    const readyMsg = await listener.waitFor((m) => m.includes('READY=1'), 20_000);
    // At the moment READY=1 arrives, both workers have loaded the app (they write the mark before they listen) and a request succeeds.
    const atReady = booted(mark);
    assert.equal(atReady.length, 2, `workers booted when READY=1 arrived: ${atReady}`);
    const ready = parseNotify(readyMsg);
    assert.equal(ready.MAINPID, String(srv.pid));
    const m = /^2 workers serving (http:\/\/127\.0\.0\.1:(\d+))$/.exec(ready.STATUS ?? '');
    assert.ok(m, `STATUS=${ready.STATUS}`);
    const port = Number(m[2]);
    const res = await get(port);
    assert.equal(res.status, 200);
    assert.ok(atReady.includes(Number(res.body)));
    const listening = await srv.waitForRecord((r) => r.msg === 'listening');
    assert.equal(listening.address, m[1]);
    assert.deepEqual(payloads().map((p) => Object.keys(parseNotify(p)).sort()), [['MAINPID', 'READY', 'STATUS']], 'one READY=1 so far');

    // HUP: RELOADING=1 first, READY=1 once the new workers listen.
    const from = listener.messages.length;
    srv.proc.kill('SIGHUP');
    const reloadingMsg = await listener.waitFor((x) => x.includes('RELOADING=1'), 10_000, from);
    const reloading = parseNotify(reloadingMsg);
    assert.equal(reloading.MAINPID, String(srv.pid));
    assert.match(reloading.MONOTONIC_USEC ?? '', /^\d+$/);
    const afterReloading = listener.messages.indexOf(reloadingMsg, from) + 1;
    const reloadedMsg = await listener.waitFor((x) => x.includes('READY=1'), 20_000, afterReloading);
    const atReloaded = booted(mark);
    assert.equal(atReloaded.length, 4, `two new workers loaded the app when READY=1 arrived: ${atReloaded}`);
    assert.equal(parseNotify(reloadedMsg).MAINPID, String(srv.pid));
    assert.match(parseNotify(reloadedMsg).STATUS ?? '', /^2 workers serving http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await get(port)).status, 200);
    await srv.waitForRecord((r) => /^reloaded in/.test(r.msg ?? ''));

    // TERM: STOPPING=1, then a clean exit.
    srv.proc.kill('SIGTERM');
    const stopping = parseNotify(await listener.waitFor((x) => x.includes('STOPPING=1'), 10_000, afterReloading));
    assert.equal(stopping.MAINPID, String(srv.pid));
    assert.equal((await srv.exited).code, 0);
    assert.deepEqual(payloads().map((p) => ['READY', 'RELOADING', 'STOPPING'].filter((k) => k in parseNotify(p))), [['READY'], ['RELOADING'], ['READY'], ['STOPPING']]);
    assert.deepEqual(srv.records().filter((r) => /sd_notify/.test(r.msg ?? '')), [], 'no notification failed');
  });

  it('a HUP abandoned because the new app code cannot load still ends RELOADING=1 with READY=1 (the old workers serve)', async () => {
    const app = path.join(dir, 'app.mjs');
    writeFileSync(app, "export function application(e, s) { s('200 OK', []); return ['good']; }\n");
    const srv = await startGwserver(['-w', '1', `${app}:application`], { env: { NOTIFY_SOCKET: listener.path } });
    const [old] = workersOf(srv.pid);
    await listener.waitFor((m) => m.includes('READY=1'), 10_000);
    const from = listener.messages.length;
    writeFileSync(app, "throw new Error('broken deploy');\n");
    srv.proc.kill('SIGHUP');
    const reloading = await listener.waitFor((m) => m.includes('RELOADING=1'), 10_000, from);
    const ready = parseNotify(await listener.waitFor((m) => m.includes('READY=1'), 15_000, listener.messages.indexOf(reloading, from) + 1));
    assert.equal(ready.MAINPID, String(srv.pid));
    assert.match(ready.STATUS ?? '', /^1 worker serving http:\/\/127\.0\.0\.1:\d+$/);
    await srv.waitForRecord((r) => /could not load the app/.test(r.msg ?? ''));
    const res = await get(srv.port);
    assert.deepEqual([res.status, res.body], [200, 'good']);
    assert.deepEqual(workersOf(srv.pid), [old]);
  });

  it('a NOTIFY_SOCKET that cannot be reached is logged as a warning and gwserver serves on', async () => {
    const srv = await startGwserver(['-w', '1', APP], { env: { NOTIFY_SOCKET: path.join(dir, 'missing.sock') } });
    const warning = await srv.waitForRecord((r) => r.msg === 'sd_notify failed');
    assert.equal(warning.level, 'warn');
    assert.match(JSON.stringify(warning.err), /READY=1/);
    assert.equal((await get(srv.port)).status, 200);
    srv.proc.kill('SIGTERM');
    assert.equal((await srv.exited).code, 0);
  });
});
