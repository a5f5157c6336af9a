/**
 * systemd integration for the master: socket activation (`LISTEN_FDS`) and
 * readiness notification (`NOTIFY_SOCKET`).
 *
 * Socket activation follows `sd_listen_fds(3)`: the inherited sockets are fds
 * 3..3+LISTEN_FDS-1, and they are ours only when LISTEN_PID is our pid (the
 * variables leak into children otherwise, and a child must not take its
 * parent's sockets for its own).
 *
 * Notification goes through systemd's own `systemd-notify` binary, because
 * Node cannot open AF_UNIX datagram sockets and the npm alternatives are
 * native addons (see docs/systemd.md for the choice). One `systemd-notify`
 * runs at a time, in call order, so systemd sees RELOADING=1 before the
 * READY=1 that ends it.
 *
 * Describing an inherited fd (which address is fd 3?) reads /proc: Node has
 * no getsockname() for a bare fd without taking ownership of it.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';

/** The first fd systemd passes (`SD_LISTEN_FDS_START`). */
export const LISTEN_FDS_START = 3;

/** A socket inherited from systemd: its fd in this process, and its `FileDescriptorName=` if any. */
export interface ListenFd {
  fd: number;
  name?: string;
}

/**
 * The sockets systemd passed to this process (`sd_listen_fds_with_names`).
 *
 * Returns [] unless LISTEN_PID equals `pid` and LISTEN_FDS is a positive
 * integer. A LISTEN_PID that names another process means the variables were
 * meant for a parent (e.g. a shell that was socket-activated); the caller
 * logs that (see {@link listenPidMismatch}). Names come from LISTEN_FDNAMES,
 * colon-separated, by position; a missing or empty name is left out.
 */
export function listenFds(env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): ListenFd[] {
  if (listenPidMismatch(env, pid) !== undefined) return [];
  const listenPid = parseDecimal(env.LISTEN_PID);
  const n = parseDecimal(env.LISTEN_FDS);
  if (listenPid === undefined || n === undefined || n <= 0) return [];
  const names = env.LISTEN_FDNAMES === undefined ? [] : env.LISTEN_FDNAMES.split(':');
  const out: ListenFd[] = [];
  for (let i = 0; i < n; i++) {
    const name = names[i];
    out.push(name ? { fd: LISTEN_FDS_START + i, name } : { fd: LISTEN_FDS_START + i });
  }
  return out;
}

/**
 * When LISTEN_PID is set but names another process, the pid it names (so the
 * caller can log "LISTEN_FDS is for pid N, not us"); otherwise undefined.
 */
export function listenPidMismatch(env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): number | undefined {
  const listenPid = parseDecimal(env.LISTEN_PID);
  return listenPid !== undefined && listenPid !== pid ? listenPid : undefined;
}

/**
 * Removes LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES (`sd_listen_fds(1)`), so
 * that workers and anything else the master spawns do not see them.
 * Call it after {@link listenFds} and before forking.
 */
export function clearListenEnv(env: NodeJS.ProcessEnv = process.env): void {
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
}

function parseDecimal(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d{1,10}$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

// ---- describing an inherited fd ------------------------------------------

/** What an fd is, as far as /proc tells. */
export type FdInfo =
  | { kind: 'tcp'; host: string; port: number; family: 4 | 6; listening: boolean }
  | { kind: 'unix'; path: string; stream: boolean; listening: boolean }
  | { kind: 'unknown'; reason: string };

/**
 * Inspects fd `fd` of this process through /proc (Linux only; best effort).
 * TCP sockets are looked up in /proc/net/tcp and tcp6 by inode, unix sockets
 * in /proc/net/unix. Anything else (not open, not a socket, UDP, another OS)
 * is `unknown`, with the reason.
 */
export function inspectFd(fd: number, procRoot = '/proc'): FdInfo {
  let link: string;
  try {
    link = readlinkSync(`${procRoot}/self/fd/${fd}`);
  } catch (err) {
    return { kind: 'unknown', reason: `fd ${fd}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
  const m = /^socket:\[(\d+)\]$/.exec(link);
  if (!m) return { kind: 'unknown', reason: `fd ${fd} is not a socket (${link})` };
  const inode = m[1]!;
  for (const [file, family] of [['tcp', 4], ['tcp6', 6]] as const) {
    const hit = findTcp(readProc(`${procRoot}/net/${file}`), inode, family);
    if (hit) return hit;
  }
  const unix = findUnix(readProc(`${procRoot}/net/unix`), inode);
  if (unix) return unix;
  return { kind: 'unknown', reason: `socket ${inode} (fd ${fd}) is neither TCP nor unix` };
}

/**
 * How fd `fd` is shown in logs, in the form the master uses for the sockets it
 * binds: `http://127.0.0.1:8000`, `http://[::1]:8000`, `unix:/run/app.sock`,
 * or `fd://N` when /proc cannot tell.
 */
export function describeFd(fd: number): string {
  const info = inspectFd(fd);
  if (info.kind === 'tcp') return `http://${info.family === 6 ? `[${info.host}]` : info.host}:${info.port}`;
  if (info.kind === 'unix' && info.path !== '') return `unix:${info.path}`;
  return `fd://${fd}`;
}

function readProc(file: string): string[] {
  try {
    return readFileSync(file, 'latin1').split('\n').slice(1);
  } catch {
    return [];
  }
}

/** /proc/net/tcp{,6}: `sl local rem st queues tr retrnsmt uid timeout inode ...`. */
function findTcp(lines: string[], inode: string, family: 4 | 6): FdInfo | undefined {
  for (const line of lines) {
    const f = line.trim().split(/\s+/);
    if (f[9] !== inode) continue;
    const [hex, portHex] = (f[1] ?? '').split(':');
    if (hex === undefined || portHex === undefined) return undefined;
    return { kind: 'tcp', host: procAddress(hex, family), port: parseInt(portHex, 16), family, listening: f[3] === '0A' };
  }
  return undefined;
}

/**
 * The kernel prints each 32-bit word of the (network-order) address as a
 * host-order integer, so on little-endian machines every word's bytes are
 * reversed.
 */
function procAddress(hex: string, family: 4 | 6): string {
  const bytes = Buffer.from(hex, 'hex');
  if (os.endianness() === 'LE') {
    for (let i = 0; i + 4 <= bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
  }
  if (family === 4) return [...bytes].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // SocketAddress prints the canonical form (RFC 5952: `::1`, `::ffff:127.0.0.1`).
  return new net.SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}

/** /proc/net/unix: `Num RefCount Protocol Flags Type St Inode Path`. */
function findUnix(lines: string[], inode: string): FdInfo | undefined {
  for (const line of lines) {
    const m = /^\s*\S+:\s+\S+\s+\S+\s+(\S+)\s+(\S+)\s+\S+\s+(\d+)(?: (.*))?$/.exec(line);
    if (!m || m[3] !== inode) continue;
    const flags = parseInt(m[1]!, 16);
    // __SO_ACCEPTCON (0x10000) marks a listening socket; type 1 is SOCK_STREAM.
    return { kind: 'unix', path: m[4] ?? '', stream: parseInt(m[2]!, 16) === 1, listening: (flags & 0x10000) !== 0 };
  }
  return undefined;
}

// ---- sd_notify ------------------------------------------------------------

/** Readiness notification to systemd; every method is a no-op when `enabled` is false. */
export interface Notifier {
  /** READY=1 (+ STATUS=): once every worker listens, and again when a reload is done. */
  ready(status?: string): Promise<void>;
  /** RELOADING=1 with MONOTONIC_USEC=, at the start of a HUP reload. */
  reloading(): Promise<void>;
  /** STOPPING=1, at the start of a shutdown. */
  stopping(): Promise<void>;
  /** STATUS=, shown by `systemctl status`. */
  status(text: string): Promise<void>;
  /** True when NOTIFY_SOCKET is set. */
  readonly enabled: boolean;
}

export interface NotifierOptions {
  /** The pid systemd should attribute messages to (sent as `--pid=`, i.e. MAINPID=). Default: this process. */
  pid?: number;
  /** Called with the reason when a notification could not be delivered. The methods never reject. */
  onError?: (err: Error) => void;
  /** The program to run; default `systemd-notify` from PATH. */
  command?: string;
  /** A `systemd-notify` still running after this long is killed (its barrier waits up to 5 s). Default 10 s. */
  timeoutMs?: number;
}

/**
 * A notifier for `env.NOTIFY_SOCKET`, or a no-op one when it is unset.
 *
 * Each message is one `systemd-notify --pid=PID VAR=VALUE...` run. The
 * assignments are passed as positional arguments, not `--ready`/`--reloading`
 * flags: systemd 252 (Debian 12) has no `--reloading`/`--stopping`, and
 * positional assignments are sent verbatim by every version.
 *
 * systemd-notify waits for a barrier (it passes the write end of a pipe with
 * BARRIER=1 and waits for systemd to close it), so that systemd can still
 * attribute the message to our cgroup when it reads it. A call therefore
 * takes ~15 ms, and up to 5 s when systemd is slow to answer.
 */
export function createNotifier(env: NodeJS.ProcessEnv = process.env, options: NotifierOptions = {}): Notifier {
  const socket = env.NOTIFY_SOCKET;
  const enabled = socket !== undefined && socket !== '';
  const pid = options.pid ?? process.pid;
  const command = options.command ?? 'systemd-notify';
  const timeoutMs = options.timeoutMs ?? 10_000;
  const onError = options.onError ?? (() => undefined);
  // A minimal environment: NOTIFY_SOCKET is what systemd-notify needs, PATH to
  // find it; LISTEN_* or NODE_OPTIONS have no business there.
  const childEnv: NodeJS.ProcessEnv = { PATH: env.PATH ?? process.env.PATH ?? '/usr/bin:/bin', NOTIFY_SOCKET: socket };
  let queue: Promise<void> = Promise.resolve();

  const send = (assignments: string[]): Promise<void> => {
    if (!enabled) return Promise.resolve();
    const run = () => runNotify(command, [`--pid=${pid}`, ...assignments], childEnv, timeoutMs).then(
      (err) => { if (err) safely(onError, err); },
    );
    queue = queue.then(run, run);
    return queue;
  };

  return {
    enabled,
    ready: (status) => send(status === undefined ? ['READY=1'] : ['READY=1', `STATUS=${oneLine(status)}`]),
    // systemd 253+ wants MONOTONIC_USEC= with RELOADING=1 (Type=notify-reload);
    // older versions ignore it. process.hrtime is CLOCK_MONOTONIC on Linux.
    reloading: () => send(['RELOADING=1', `MONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`]),
    stopping: () => send(['STOPPING=1']),
    status: (text) => send([`STATUS=${oneLine(text)}`]),
  };
}

/** The notify protocol is newline-separated assignments: a newline in a value would start a new one. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}

function safely(fn: (err: Error) => void, err: Error): void {
  try {
    fn(err);
  } catch {
    // A throwing onError must not break the notify queue.
  }
}

/** Runs one systemd-notify; resolves with an Error describing a failure, never rejects. */
function runNotify(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Error | undefined> {
  return new Promise((resolve) => {
    let stderr = '';
    let child;
    try {
      // stdin/stdout ignored: the master's own stdio may be a journal stream.
      child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
    } catch (err) {
      resolve(new Error(`sd_notify: cannot run ${command}: ${(err as Error).message}`));
      return;
    }
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => { if (stderr.length < 4096) stderr += d; });
    child.on('error', (err) => {
      resolve(new Error(`sd_notify: cannot run ${command}: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    });
    child.on('close', (code, signal) => {
      if (code === 0) return resolve(undefined);
      const why = signal !== null ? `killed by ${signal} after ${timeoutMs} ms` : `exit code ${code}`;
      const detail = stderr.trim().replace(/\s*\n\s*/g, '; ');
      resolve(new Error(`sd_notify ${args.slice(1).join(' ')} failed (${why})${detail ? `: ${detail}` : ''}`));
    });
  });
}
