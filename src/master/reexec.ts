/**
 * USR2: the master re-executes itself and hands its listening sockets to the
 * new master (gunicorn's "upgrade on the fly", nginx's binary upgrade): how
 * gwserver itself, Node.js, or anything the master loaded once (a
 * `--preload`ed app, the config's bind addresses aside) is upgraded without
 * a refused connection.
 *
 * The old master spawns the new one with the same Node.js binary and flags
 * (`process.execPath`, `process.execArgv`), the same script and arguments,
 * in the directory gwserver started in and with its current environment.
 * The sockets go to the new master as fds 3, 4, ... through spawn's stdio:
 * the same kernel sockets, never closed nor re-bound, so connections keep
 * queueing on them throughout. `GWSERVER_FDS` names the fds and
 * `GWSERVER_FD_SOCKETS` describes them (address, bind spec, socket file).
 * Not LISTEN_FDS: that is systemd's, checked against LISTEN_PID, and the
 * master clears it at startup. An IPC channel (the fd after the sockets)
 * carries one message back: `gwserver:master-ready`, sent when the new
 * master's workers all listen and systemd (when there is one) has read the
 * new master's READY=1 with MAINPID=.
 *
 * Who owns what while two masters share the sockets:
 *
 * - the pid file: the old master renames `PIDFILE` to `PIDFILE.oldbin`
 *   before spawning; the new master writes `PIDFILE`. If the new master
 *   exits, the old one renames `.oldbin` back; it removes `.oldbin` when it
 *   exits itself. (nginx's scheme, and gunicorn's until 19.x; gunicorn 20+
 *   has the new master write `PIDFILE.2` until the old one is gone.)
 * - unix socket files: removed at exit only by the last master holding the
 *   socket (gunicorn's rule): the old master gives up its files while a new
 *   master runs; the new master takes them when the old one is gone (its end
 *   of the IPC channel closes).
 * - systemd: once the new master is ready it is the unit's main process
 *   (MAINPID=); the old master sends nothing more, in particular no
 *   STOPPING=1, which would stop the unit.
 *
 * What then happens to the old master is the arbiter's decision
 * (`--keep-old-master`): it retires, or it stays until told (gunicorn).
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { ActTable } from '../ipc/dispatch.js';
import { MASTER_EXIT_MEANING } from '../ipc/exit-codes.js';
import type { MasterReadyMessage } from '../ipc/protocol.js';
import type { Logger } from '../logging/logger.js';
import type { ListenSocket } from './sockets.js';
import { describeFd, inspectFd, type Notifier } from './systemd.js';

/** The fds a re-executed master inherits its sockets on (`3,4`). */
export const FDS_ENV = 'GWSERVER_FDS';
/** A JSON array, one {@link HandedSocket} per fd of {@link FDS_ENV}, in the same order. */
export const SOCKETS_ENV = 'GWSERVER_FD_SOCKETS';
/**
 * The fd of the metrics socket (--metrics-bind), when the old master had
 * one: passed after the app sockets, apart from them (it is the master's,
 * never a worker's). The new master serves it once it is ready.
 */
export const METRICS_FD_ENV = 'GWSERVER_METRICS_FD';
/** The first fd the sockets are passed on, as systemd's. */
const FIRST_FD = 3;

/** How the old master describes a socket it hands over. */
export interface HandedSocket {
  /** As logged: `http://127.0.0.1:8000`, `unix:/run/app.sock`. */
  address: string;
  /** The `--bind` value it came from (`fd://N` for a socket systemd passed). */
  bind: string;
  /** A unix socket file gwserver created: the last master to exit removes it. */
  path?: string;
}

// ---- in the new master ---------------------------------------------------

/** Set when this master was re-executed by a master that still runs. */
let oldMaster: { pid: number } | undefined;
let reexecuted = false;

/**
 * The pid of the master that re-executed this one, while it still runs
 * (its end of the IPC channel is open); undefined otherwise.
 */
export function oldMasterPid(): number | undefined {
  return oldMaster?.pid;
}

/**
 * The sockets an old master handed over (`GWSERVER_FDS`), or undefined
 * when this master was not re-executed. Removes the variables from `env`,
 * so that workers and hook subprocesses never see them.
 *
 * `binds` is this master's `--bind`: the inherited sockets win (the port is
 * never unbound), so a changed `--bind` is logged as ignored.
 *
 * @throws Error with a one-line message when the variables are malformed or
 * name an fd that is not an open socket.
 */
export function takeInheritedSockets(log: Logger, binds: readonly string[], env: NodeJS.ProcessEnv = process.env): ListenSocket[] | undefined {
  const fdsVar = env[FDS_ENV];
  const described = env[SOCKETS_ENV];
  delete env[FDS_ENV];
  delete env[SOCKETS_ENV];
  if (fdsVar === undefined) return undefined;
  if (!/^\d+(,\d+)*$/.test(fdsVar)) throw new Error(`${FDS_ENV} must be a comma-separated list of fds, not ${JSON.stringify(fdsVar)}`);
  const fds = fdsVar.split(',').map(Number);
  let info: HandedSocket[] = [];
  try {
    const parsed: unknown = JSON.parse(described ?? '[]');
    if (Array.isArray(parsed)) info = parsed as HandedSocket[];
  } catch {
    log.warn({ [SOCKETS_ENV]: described }, `${SOCKETS_ENV} is not JSON: describing the inherited sockets from /proc`);
  }
  const sockets: ListenSocket[] = [];
  const paths = new Map<ListenSocket, string>();
  fds.forEach((fd, i) => {
    const fi = inspectFd(fd);
    if (fi.kind === 'unknown') {
      throw new Error(`${FDS_ENV} names fd ${fd}, which is not a socket of this process (${fi.reason}); a master sets ${FDS_ENV} when it re-executes itself on USR2, it is not meant to be set by hand`);
    }
    const d = info[i];
    const s: ListenSocket = {
      fd,
      address: typeof d?.address === 'string' ? d.address : describeFd(fd),
      kind: 'fd',
      spec: typeof d?.bind === 'string' ? d.bind : `fd://${fd}`,
    };
    if (typeof d?.path === 'string') paths.set(s, d.path);
    sockets.push(s);
  });
  reexecuted = true;
  const inherited = sockets.map((s) => s.spec);
  if (!inherited.some((b) => b.startsWith('fd://')) && (inherited.length !== binds.length || inherited.some((b, i) => b !== binds[i]))) {
    log.warn({ bind: binds, inherited }, `--bind is now ${binds.join(', ')}, but a re-executed master keeps the sockets of the old one (${inherited.join(', ')}): changing the addresses needs a restart`);
  }
  // The socket files become ours to remove when the old master is gone: then
  // no other master holds the sockets. The channel closes when it exits.
  const takeFiles = () => {
    for (const [s, p] of paths) s.path = p;
  };
  if (typeof process.send === 'function' && process.connected) {
    const pid = process.ppid;
    oldMaster = { pid };
    process.once('disconnect', () => {
      oldMaster = undefined;
      takeFiles();
      log.info({ old_master_pid: pid }, `the old master (pid ${pid}) is gone: this master runs alone`);
    });
  } else {
    takeFiles();
  }
  log.info({ fds, addresses: sockets.map((s) => s.address), old_master_pid: oldMaster?.pid }, `using ${sockets.length} socket(s) inherited from the old master (${FDS_ENV}=${fdsVar})`);
  return sockets;
}

/**
 * The listening metrics socket an old master handed over
 * (`GWSERVER_METRICS_FD`), or undefined. Removes the variable from `env`.
 *
 * @throws Error with a one-line message when the variable is not an fd number.
 */
export function takeInheritedMetricsFd(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env[METRICS_FD_ENV];
  delete env[METRICS_FD_ENV];
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new Error(`${METRICS_FD_ENV} must be an fd number, not ${JSON.stringify(v)}`);
  return Number(v);
}

/**
 * Wraps the notifier so that the first READY=1 (all workers of the first
 * generation listen) is also reported to the old master, after systemd-notify
 * returned: systemd has then read MAINPID= and the old master may exit
 * without taking the unit down. A no-op for a master that was not
 * re-executed.
 */
export function reportReadyToOldMaster(notify: Notifier): Notifier {
  let reported = false;
  return {
    get enabled() {
      return notify.enabled;
    },
    reloading: () => notify.reloading(),
    stopping: () => notify.stopping(),
    status: (text) => notify.status(text),
    ready: async (status) => {
      await notify.ready(status);
      if (reported || !reexecuted) return;
      reported = true;
      // With a callback, a failed send (the old master died just now) is not an uncaught 'error'.
      if (process.connected) process.send?.({ act: 'gwserver:master-ready', pid: process.pid } satisfies MasterReadyMessage, undefined, {}, () => undefined);
    },
  };
}

// ---- in the old master ---------------------------------------------------

/** What the arbiter lends an upgrade. */
export interface UpgradeHost {
  log: Logger;
  /**
   * The master's sockets, handed over in this order. Their `path` is cleared
   * while a new master shares them (so that this master's exit does not
   * remove a socket file the new one serves) and restored when it is gone.
   */
  sockets: ListenSocket[];
  /** The metrics server's listening fd (--metrics-bind), handed over after the sockets. */
  metricsFd?: number | undefined;
  /** The pid file this master wrote ('' for none). */
  pidfile: string;
  /** The control socket: a path of the operator's moves to `PATH.oldbin` while a new master starts, as the pid file does. */
  controlSocket?: { handOver(): void; takeBack(): void } | undefined;
  /** The directory gwserver started in (before --chdir). */
  cwd: string;
  /** This master's process title. */
  title: string;
  /** Runs the preExec hook. */
  preExec(): Promise<void>;
  /** The new master is ready (and, under systemd, the unit's main process). */
  handedOver(pid: number): void;
}

/** A socket file given up while another master shares the socket. */
interface Released {
  socket: ListenSocket;
  path: string;
  handle: unknown;
}

/** Why a master exited, from its exit code (src/ipc/exit-codes.ts). */
function exitCause(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal !== null) return `was killed by ${signal}`;
  const why = MASTER_EXIT_MEANING[code ?? -1];
  return why === undefined ? `exited with code ${code}` : `exited with code ${code} (${why})`;
}

/**
 * The old master's side of an upgrade: one at a time. `start()` on USR2;
 * the outcome is logged, and reported through the host's `handedOver`.
 */
export class MasterUpgrade {
  #child: ChildProcess | undefined;
  #busy = false;
  #oldbin: string | undefined;
  #cleanupInstalled = false;

  /** USR2: spawns a new master on the same sockets. Never throws. */
  async start(host: UpgradeHost): Promise<void> {
    const { log } = host;
    if (this.#busy || this.#child !== undefined) {
      log.warn({ new_master_pid: this.#child?.pid }, `USR2 ignored: a new master${this.#child?.pid ? ` (pid ${this.#child.pid})` : ''} is already running`);
      return;
    }
    const parent = oldMasterPid();
    if (parent !== undefined) {
      log.warn({ old_master_pid: parent }, `USR2 ignored: the master that started this one (pid ${parent}) still runs; stop it first (WINCH, TERM)`);
      return;
    }
    this.#busy = true;
    try {
      await host.preExec();
      this.#spawn(host);
    } finally {
      this.#busy = false;
    }
  }

  #spawn(host: UpgradeHost): void {
    const { log } = host;
    const started = Date.now();
    const handed: HandedSocket[] = host.sockets.map((s) => ({ address: s.address, bind: s.spec, ...(s.path === undefined ? {} : { path: s.path }) }));
    const fds = host.sockets.map((_, i) => FIRST_FD + i);
    this.#renamePidfile(host);
    host.controlSocket?.handOver();
    const files = this.#releaseFiles(host.sockets);
    process.title = `${host.title} (old)`;

    const args = [...process.execArgv, ...process.argv.slice(1)];
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, args, {
        cwd: host.cwd,
        env: {
          ...process.env,
          [FDS_ENV]: fds.join(','),
          [SOCKETS_ENV]: JSON.stringify(handed),
          ...(host.metricsFd === undefined ? {} : { [METRICS_FD_ENV]: String(FIRST_FD + fds.length) }),
        },
        // The sockets as fds 3.., the metrics socket, then the channel for gwserver:master-ready.
        stdio: ['inherit', 'inherit', 'inherit', ...host.sockets.map((s) => s.fd), ...(host.metricsFd === undefined ? [] : [host.metricsFd]), 'ipc'],
      });
    } catch (err) {
      // Some failures throw; the common ones (ENOENT: no Node.js at process.execPath, EAGAIN, EMFILE) come as an 'error' event.
      this.#failed(host, files, `could not be started: ${(err as Error).message}`, started, undefined);
      return;
    }
    this.#child = child;
    log.info({ new_master_pid: child.pid, argv: [process.execPath, ...args], cwd: host.cwd, fds }, `USR2: re-executing the master: new master pid ${child.pid ?? '?'}, inheriting ${fds.length} socket(s) as fds ${fds.join(',')}`);

    let readyAt = 0;
    let over = false;
    // The new master's one message, on a channel of its own (not the workers').
    const fromNewMaster = new ActTable<MasterReadyMessage>();
    fromNewMaster.on('gwserver:master-ready', () => {
      if (readyAt !== 0 || over) return;
      readyAt = Date.now();
      log.info({ new_master_pid: child.pid, ms: readyAt - started }, `the new master (pid ${child.pid}) is ready: upgrade took ${readyAt - started} ms`);
      host.handedOver(child.pid!);
    });
    child.on('message', (m: unknown) => void fromNewMaster.dispatch(m));
    const finish = (cause: string, code: number | null, signal: NodeJS.Signals | null) => {
      if (over) return;
      over = true;
      this.#child = undefined;
      if (readyAt === 0) {
        this.#failed(host, files, cause, started, child.pid, code, signal);
        return;
      }
      // It had taken over (--keep-old-master, or it died while this master retires): this master is alone again.
      this.#restore(host, files);
      log.warn({ new_master_pid: child.pid, code, signal }, `the new master (pid ${child.pid}) ${cause}: this master runs alone again`);
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      // A failed spawn (ENOENT: Node.js is no longer at process.execPath); 'exit' may not follow.
      if (child.pid === undefined) finish(`could not be started: ${err.code ?? err.message}`, null, null);
    });
    child.on('exit', (code, signal) => finish(exitCause(code, signal), code, signal));
  }

  #failed(host: UpgradeHost, files: Released[], cause: string, started: number, pid: number | undefined, code: number | null = null, signal: NodeJS.Signals | null = null): void {
    // Restored first: whoever reads the log line finds the pid file back.
    this.#restore(host, files);
    host.log.error(
      { new_master_pid: pid, code, signal, ms: Date.now() - started },
      `USR2 failed: the new master${pid ? ` (pid ${pid})` : ''} ${cause} before it was ready; this master keeps serving`,
    );
  }

  #restore(host: UpgradeHost, files: Released[]): void {
    for (const f of files) {
      f.socket.path = f.path;
      f.socket.handle = f.handle;
    }
    process.title = host.title;
    host.controlSocket?.takeBack();
    if (this.#oldbin !== undefined && host.pidfile) {
      try {
        renameSync(this.#oldbin, host.pidfile);
      } catch (err) {
        host.log.warn({ err }, `cannot rename ${this.#oldbin} back to ${host.pidfile}`);
      }
      this.#oldbin = undefined;
    }
  }

  /**
   * Gives up the socket files while another master shares the sockets;
   * returns them for {@link #restore}. The handle goes too: libuv removes a
   * unix socket's file when the handle that bound it is closed, and the
   * master closes its handles at exit. (The fd stays open until the process
   * ends; the new master holds its own.)
   */
  #releaseFiles(sockets: ListenSocket[]): Released[] {
    const files: Released[] = [];
    for (const s of sockets) {
      if (s.path === undefined) continue;
      files.push({ socket: s, path: s.path, handle: s.handle });
      s.path = undefined;
      s.handle = undefined;
    }
    return files;
  }

  /** PIDFILE -> PIDFILE.oldbin (the new master writes PIDFILE); removed when this master exits. */
  #renamePidfile(host: UpgradeHost): void {
    if (!host.pidfile) return;
    const oldbin = `${host.pidfile}.oldbin`;
    try {
      renameSync(host.pidfile, oldbin);
    } catch {
      // Gone (someone removed it): write the old name anyway, scripts look for it.
      try {
        writeFileSync(oldbin, `${process.pid}\n`);
      } catch (err) {
        host.log.warn({ err }, `cannot write ${oldbin}`);
        return;
      }
    }
    this.#oldbin = oldbin;
    if (!this.#cleanupInstalled) {
      this.#cleanupInstalled = true;
      process.on('exit', () => {
        if (this.#oldbin === undefined) return;
        try {
          if (readFileSync(this.#oldbin, 'utf8').trim() === String(process.pid)) unlinkSync(this.#oldbin);
        } catch {
          // Already gone.
        }
      });
    }
  }
}
