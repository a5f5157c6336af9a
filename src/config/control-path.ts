/**
 * Where a master's control socket is (`--control-socket`), for the master
 * that binds it and for `gwserverctl`, which looks for it by the same rules.
 *
 * The default is one file per master, named by its pid, in a directory of
 * the user's own: `$XDG_RUNTIME_DIR/gwserver/PID.ctl` (a user session, or a
 * systemd unit with `RuntimeDirectory=`), else `$TMPDIR/gwserver-UID/PID.ctl`.
 * A pid is unique among running processes, so two servers on one host, two
 * instances of `gwserver@.service` and an old and a new master during USR2
 * never collide, and `gwserverctl --pid FILE` finds a server from its pid
 * file alone.
 *
 * @module
 */
import { lstatSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The environment variable `gwserverctl` reads a socket path from (after `--socket`). */
export const CONTROL_SOCKET_ENV = 'GWSERVER_CONTROL_SOCKET';

/** The suffix of a default control socket's name (`PID.ctl`). */
const SUFFIX = '.ctl';

function uid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : 0;
}

/** The directory default control sockets are made in, for this user. */
export function controlDir(env: NodeJS.ProcessEnv = process.env): string {
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime !== undefined && runtime !== '' && path.isAbsolute(runtime)) return path.join(runtime, 'gwserver');
  return path.join(os.tmpdir(), `gwserver-${uid()}`);
}

/** The default control socket of the master with pid `pid`. */
export function defaultControlPath(pid: number, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(controlDir(env), `${pid}${SUFFIX}`);
}

/**
 * Makes the default directory (mode 0700), and checks that it is a directory
 * of this user's that no one else can write to: in a shared /tmp, another
 * user could have made it first to catch the sockets.
 *
 * @throws Error with a one-line message.
 */
export function ensureControlDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory`);
  if (st.uid !== uid()) throw new Error(`${dir} belongs to uid ${st.uid}, not to this user (${uid()}): choose a path with --control-socket`);
  if ((st.mode & 0o022) !== 0) throw new Error(`${dir} can be written by others (mode ${(st.mode & 0o777).toString(8)}): choose a path with --control-socket`);
}

/**
 * Whether process `pid` runs: it exists (ours or another user's), and is not
 * a zombie waiting for its parent (a killed master whose parent has not
 * reaped it yet is gone for our purposes).
 */
export function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    // No /proc: kill() said it exists.
    return true;
  }
}

/** The default sockets in `dir`, with the pid each names (gwserverctl's search, when no socket is named). */
export function listDefaultSockets(dir: string): Array<{ pid: number; path: string }> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: Array<{ pid: number; path: string }> = [];
  for (const name of names) {
    const m = /^(\d+)\.ctl$/.exec(name);
    if (m) out.push({ pid: Number(m[1]), path: path.join(dir, name) });
  }
  return out.sort((a, b) => a.pid - b.pid);
}
