/**
 * The listening sockets belong to the master's lifetime, not to any worker's.
 *
 * The master binds each address itself and keeps the file descriptor open
 * until it exits, but never accepts on it: workers inherit the descriptors
 * (through cluster's stdio) and accept. So a socket survives the death of
 * every worker, the last one included (connections wait in the backlog for
 * the next worker), it is bound before workers drop privileges, and a
 * re-executed master (USR2) inherits it the same way.
 *
 * node:cluster's own socket sharing cannot do this: the primary closes a
 * listening handle, and an inherited fd, when its last worker leaves (see
 * docs/operations.md). Node has no public API to bind without accepting, so
 * this module uses `net._createServerHandle` (the function cluster's primary
 * uses for the same job); the worker side uses `Server#_listen2` (what
 * cluster's workers use). Both are confined to this module and
 * src/worker/http-worker.ts.
 *
 * @module
 */
import { constants, accessSync, lstatSync, statSync } from 'node:fs';
import { chmod, lstat, unlink } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { getSystemErrorName } from 'node:util';
import { formatAddress, parseBind, type Bind } from '../config/binds.js';

/** A listening socket the master holds. */
export interface ListenSocket {
  /** The descriptor in the master (workers get it at a fixed position of their own). */
  fd: number;
  /** As logged and shown to users: `http://127.0.0.1:8000`, `unix:/run/app.sock`, `fd://3`. */
  address: string;
  /** `tcp` or `unix` (inherited fds are described when possible). */
  kind: 'tcp' | 'unix' | 'fd';
  /** The bind spec it came from (`--bind` value), or `fd://N` for inherited ones. */
  spec: string;
  /** A unix socket file gwserver created (removed at exit). */
  path?: string;
  /** Keeps the handle (and so the fd) alive; never used to accept. */
  handle?: unknown;
}

interface RawHandle {
  fd: number;
  getsockname?(out: Record<string, unknown>): number;
  close(cb?: () => void): void;
}

type CreateServerHandle = (address: string | null, port: number | null, addressType: number | null, fd?: number, flags?: number) => RawHandle | number;

function createServerHandle(): CreateServerHandle {
  const fn = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
  if (typeof fn !== 'function') {
    throw new Error(`this Node.js (${process.version}) lacks net._createServerHandle, which gwserver's master needs to own its sockets`);
  }
  return fn;
}

function errnoName(errno: number): string {
  try {
    return getSystemErrorName(errno);
  } catch {
    return `errno ${errno}`;
  }
}

/** Why a bind failed, in words an operator can act on. */
export function bindFailure(spec: string, code: string): string {
  const why = code === 'EADDRINUSE' ? 'the address is already in use'
    : code === 'EACCES' ? (spec.startsWith('unix:') ? 'permission denied' : 'permission denied (ports below 1024 need privileges; or use socket activation)')
    : code === 'EADDRNOTAVAIL' ? 'the address is not available on this machine'
    : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'the host name does not resolve'
    : code === 'ENOENT' ? 'the directory of the socket does not exist'
    : code;
  return `cannot listen on ${spec}: ${why}`;
}

/** An error whose message is one line for the operator. */
export class BindError extends Error {
  readonly code: string;
  /** @param why - the reason, when it is known better than `code` says (a unix socket's directory). */
  constructor(spec: string, code: string, why?: string) {
    super(why === undefined ? bindFailure(spec, code) : `cannot listen on ${spec}: ${why}`);
    this.code = code;
  }
}

/** The longest unix socket path Linux takes (sun_path is 108 bytes, with its NUL). */
const UNIX_PATH_MAX = 107;

/** "nobody (uid 65534)", or "uid 1000" for a uid without a name. */
function whoAmI(): string {
  const uid = process.getuid?.() ?? -1;
  try {
    return `${os.userInfo().username} (uid ${uid})`;
  } catch {
    return `uid ${uid}`;
  }
}

/** Why `file` cannot be a unix socket's path: libuv would bind a truncated one. */
function tooLong(file: string): string | undefined {
  const bytes = Buffer.byteLength(file);
  return bytes > UNIX_PATH_MAX ? `the path is too long for a unix socket (${bytes} bytes; at most ${UNIX_PATH_MAX}): use a shorter one` : undefined;
}

/**
 * What keeps a unix socket from being created at `file`, found by looking
 * (nothing is created), or undefined when nothing does. libuv reports a
 * missing directory as EACCES, which would read as a port below 1024; the
 * directory tells the two apart.
 */
export function unixSocketProblem(file: string): string | undefined {
  const dir = path.dirname(path.resolve(file));
  const long = tooLong(file);
  if (long !== undefined) return long;
  let st;
  try {
    st = statSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `the directory ${dir} does not exist: create it first (under systemd, RuntimeDirectory= does)`;
    if (code === 'ENOTDIR') return `${dir} is not a directory`;
    if (code === 'EACCES') return `permission denied: ${whoAmI()} cannot reach ${dir}`;
    return undefined;
  }
  if (!st.isDirectory()) return `${dir} is not a directory`;
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch {
    return `permission denied: ${whoAmI()} cannot create files in ${dir}`;
  }
  try {
    // A file in the way (not a socket a dead process left, which is removed) would read as "already in use".
    if (!lstatSync(file).isSocket()) return `${file} exists and is not a socket`;
  } catch {
    // Nothing there: the socket can be made.
  }
  return undefined;
}

/**
 * What `--check-config` can tell of a `--bind` address without binding it
 * (a port may well be in use by the very server being checked): a unix
 * socket's directory, path and permissions, a host name that does not
 * resolve. Undefined when nothing is wrong that can be seen.
 */
export async function bindProblem(spec: string): Promise<BindError | undefined> {
  const bind = parseBind(spec);
  if (bind.kind === 'unix') {
    const why = unixSocketProblem(bind.path);
    return why === undefined ? undefined : new BindError(spec, 'EACCES', why);
  }
  if (bind.kind === 'tcp') {
    try {
      await resolveHost(bind.host);
    } catch (err) {
      return new BindError(spec, (err as NodeJS.ErrnoException).code ?? 'ENOTFOUND');
    }
  }
  return undefined;
}

async function resolveHost(host: string): Promise<{ address: string; family: 4 | 6 }> {
  if (net.isIPv4(host)) return { address: host, family: 4 };
  if (net.isIPv6(host)) return { address: host, family: 6 };
  const { lookup } = await import('node:dns/promises');
  const r = await lookup(host);
  return { address: r.address, family: r.family === 6 ? 6 : 4 };
}

/** A unix socket file left by a process that died would make bind fail with EADDRINUSE. */
async function removeStaleSocket(path: string): Promise<void> {
  try {
    const st = await lstat(path);
    if (st.isSocket()) await unlink(path);
  } catch {
    // Not there: nothing to do.
  }
}

/** Binds one `--bind` address without accepting on it. */
export async function bindSocket(spec: string, options: { socketMode?: number } = {}): Promise<ListenSocket> {
  const bind: Bind = parseBind(spec);
  const create = createServerHandle();
  if (bind.kind === 'fd') {
    return { fd: bind.fd, address: `fd://${bind.fd}`, kind: 'fd', spec };
  }
  if (bind.kind === 'unix') {
    const long = tooLong(bind.path);
    if (long !== undefined) throw new BindError(spec, 'ENAMETOOLONG', long);
    await removeStaleSocket(bind.path);
    const h = create(bind.path, -1, -1);
    if (typeof h === 'number') throw new BindError(spec, errnoName(h), unixSocketProblem(bind.path));
    await chmod(bind.path, options.socketMode ?? 0o666);
    return { fd: h.fd, address: formatAddress(null, bind), kind: 'unix', spec, path: bind.path, handle: h };
  }
  let resolved: { address: string; family: 4 | 6 };
  try {
    resolved = await resolveHost(bind.host);
  } catch (err) {
    throw new BindError(spec, (err as NodeJS.ErrnoException).code ?? 'ENOTFOUND');
  }
  const h = create(resolved.address, bind.port, resolved.family);
  if (typeof h === 'number') throw new BindError(spec, errnoName(h));
  const out: Record<string, unknown> = {};
  h.getsockname?.(out);
  // libuv defers EADDRINUSE from bind() to listen() and leaves the socket
  // unbound: a worker's listen() on it would pick a random port on every
  // interface. An unbound socket reports port 0.
  if (!Number(out.port)) {
    h.close();
    throw new BindError(spec, 'EADDRINUSE');
  }
  const address = formatAddress({ address: String(out.address ?? resolved.address), port: Number(out.port ?? bind.port) }, bind);
  return { fd: h.fd, address, kind: 'tcp', spec, handle: h };
}

/** Binds every address; on a failure, closes what was bound and throws a BindError. */
export async function bindAll(specs: string[], options: { socketMode?: number } = {}): Promise<ListenSocket[]> {
  const out: ListenSocket[] = [];
  try {
    for (const spec of specs) out.push(await bindSocket(spec, options));
    return out;
  } catch (err) {
    await closeAll(out);
    throw err;
  }
}

/** Closes the sockets (at exit) and removes the unix socket files gwserver created. */
export async function closeAll(sockets: ListenSocket[]): Promise<void> {
  for (const s of sockets) {
    const h = s.handle as RawHandle | undefined;
    h?.close();
    if (s.path !== undefined) await unlink(s.path).catch(() => undefined);
  }
}

/** Sockets inherited as fds (systemd socket activation, or a master re-executed on USR2). */
export function inheritedSockets(fds: Array<{ fd: number; address?: string }>): ListenSocket[] {
  return fds.map(({ fd, address }) => ({ fd, address: address ?? `fd://${fd}`, kind: 'fd' as const, spec: `fd://${fd}` }));
}
