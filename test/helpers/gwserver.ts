/**
 * Starts a real `gwserver` process (the built CLI, dist/cli/bin.js) on port 0
 * and waits, with a deadline, for its "listening" log record (or runs one to
 * its exit: runToExit). Every process started here is killed by pid when the
 * test ends, even when it fails: the master, its workers, and the processes
 * that logged through its stderr (a master re-executed on USR2 is a child of
 * the old one, and outlives it as an orphan with workers of its own).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';
import { until } from './until.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'dist/cli/bin.js');

const running = new Set<ChildProcess>();
/** Every pid that wrote a log record to a server's stderr (masters of every generation, workers). */
const logged = new WeakMap<ChildProcess, Set<number>>();
/** Servers started inside a test (not in a before() hook) die with that test. */
const perTest = new Set<ChildProcess>();
let inTest = false;

export interface Gwserver {
  proc: ChildProcess;
  pid: number;
  /** e.g. `http://127.0.0.1:41234` (first TCP bind; `https://` with --certfile). */
  url: string;
  port: number;
  host: string;
  /** All bound addresses as logged (`http://...` or `unix:/path`). */
  addresses: string[];
  /** stderr lines so far (JSON log records, mostly). */
  stderr: string[];
  stdout: string[];
  /** The pids of the master's workers now (from /proc). */
  workerPids(): number[];
  /** Waits until the master has exactly `n` workers; returns their pids. */
  waitWorkers(n: number, timeoutMs?: number): Promise<number[]>;
  /**
   * Waits until the master has exactly `n` workers and has logged each one
   * ready (`worker N ready`, so at log level info or below); returns their
   * pids. A worker counted by {@link waitWorkers} may still be loading its
   * app: its open files, memory and threads are not yet those of a worker
   * that serves.
   */
  readyWorkers(n: number, timeoutMs?: number): Promise<number[]>;
  /** Every pid that has logged to this server's stderr so far (a re-executed master and its workers too). */
  loggedPids(): number[];
  /** Parsed JSON log records from stderr. */
  records(): Array<Record<string, any>>;
  /** Waits until a log record matches. */
  waitForRecord(pred: (r: Record<string, any>) => boolean, timeoutMs?: number): Promise<Record<string, any>>;
  /** SIGTERM, then SIGKILL after a grace; resolves with the exit code/signal. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Do not wait for "listening" (for boot-failure tests). */
  noWait?: boolean;
  /** Run gwserver through this command, e.g. `['systemd-socket-activate', '-l', '127.0.0.1:8000', '--']` (it must exec node). */
  wrap?: string[];
  /** What runs instead of `node dist/cli/bin.js` (the args follow it): an installed package's `node_modules/.bin/gwserver`, `['npm', 'start', '--']`. */
  command?: string[];
  /** Start it as the leader of a process group of its own (a signal can then go to the whole group: `process.kill(-pid)`). */
  detached?: boolean;
  /** Run gwserver as this user and group (a test running as root, to see what another user sees): see {@link asUser}. */
  uid?: number;
  gid?: number;
}

/**
 * The command prefix that runs a process as `uid`:`gid` (no supplementary
 * groups) for a test running as root. It keeps CAP_DAC_READ_SEARCH, so the
 * process can read the checkout wherever CI cloned it (under /root, or in
 * a temp directory only root may enter), while writing still needs the
 * user's own permission: what the tests look at. util-linux's setpriv.
 */
function asUser(uid: number | undefined, gid: number | undefined): string[] {
  if (uid === undefined && gid === undefined) return [];
  return [
    'setpriv',
    ...(uid === undefined ? [] : [`--reuid=${uid}`]),
    ...(gid === undefined ? [] : [`--regid=${gid}`]),
    '--clear-groups',
    '--inh-caps=+dac_read_search',
    '--ambient-caps=+dac_read_search',
    '--',
  ];
}

function parse(line: string): Record<string, any> | undefined {
  try {
    const v = JSON.parse(line);
    return v && typeof v === 'object' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Runs `gwserver ...args` and resolves once every bind is listening. Pass `-b 127.0.0.1:0` yourself or get it by default. */
export async function startGwserver(args: string[], opts: StartOptions = {}): Promise<Gwserver> {
  const hasBind = args.some((a) => a === '-b' || a === '--bind' || a.startsWith('--bind='));
  const fullArgs = hasBind ? args : ['-b', '127.0.0.1:0', ...args];
  const [file, ...fileArgs] = [...asUser(opts.uid, opts.gid), ...(opts.wrap ?? []), ...(opts.command ?? [process.execPath, BIN]), ...fullArgs];
  const proc = spawn(file!, fileArgs, {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  });
  running.add(proc);
  if (inTest) perTest.add(proc);
  const pids = new Set<number>();
  logged.set(proc, pids);
  const stderr: string[] = [];
  const stdout: string[] = [];
  const waiters: Array<() => void> = [];
  const notify = () => { for (const w of waiters.splice(0)) w(); };
  const collect = (stream: NodeJS.ReadableStream, into: string[]) => {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        into.push(line);
        const pid = parse(line)?.pid;
        if (typeof pid === 'number') logged.get(proc)?.add(pid);
        buf = buf.slice(i + 1);
      }
      notify();
    });
    stream.on('end', () => { if (buf) into.push(buf); notify(); });
  };
  collect(proc.stderr!, stderr);
  collect(proc.stdout!, stdout);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => { running.delete(proc); notify(); resolve({ code, signal }); });
  });
  // Nothing more can be logged once the master exited and its stderr closed:
  // a new master (USR2) and the workers write to the same pipe, and outlive it.
  let exitedFlag = false;
  proc.on('close', () => { exitedFlag = true; notify(); });

  const records = () => {
    const out = stderr.map(parse).filter((r): r is Record<string, any> => r !== undefined);
    for (const r of out) if (typeof r.pid === 'number') pids.add(r.pid);
    return out;
  };
  const waitForRecord = async (pred: (r: Record<string, any>) => boolean, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = records().find(pred);
      if (hit) return hit;
      if (exitedFlag) throw new Error(`gwserver exited before the expected log record; stderr:\n${stderr.join('\n')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a log record; stderr:\n${stderr.join('\n')}`);
      await new Promise<void>((r) => { const t = setTimeout(r, Math.min(left, 200)); waiters.push(() => { clearTimeout(t); r(); }); });
    }
  };
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => void killAll([proc]), 5000);
      const r = await exited;
      clearTimeout(t);
      return r;
    }
    return exited;
  };
  const server: Gwserver = {
    proc, pid: proc.pid!, url: '', port: 0, host: '', addresses: [], stderr, stdout,
    records, waitForRecord, stop, exited,
    workerPids: () => childPids(proc.pid!),
    waitWorkers: async (n, timeoutMs = 15_000) => {
      await until(() => childPids(proc.pid!).length === n, timeoutMs, () => `${n} workers (have ${childPids(proc.pid!).length})`);
      return childPids(proc.pid!);
    },
    readyWorkers: async (n, timeoutMs = 15_000) => {
      const ready = () => {
        const kids = childPids(proc.pid!);
        const said = new Set(records().filter((r) => /^worker \d+ ready$/.test(String(r.msg))).map((r) => r.worker_pid));
        return kids.length === n && kids.every((pid) => said.has(pid)) ? kids : undefined;
      };
      return until(ready, timeoutMs, () => `${n} workers logged ready (have ${childPids(proc.pid!).length} workers; stderr:\n${stderr.slice(-20).join('\n')})`);
    },
    loggedPids: () => { records(); return [...pids]; },
  };
  if (opts.noWait) return server;
  const nBinds = fullArgs.filter((a) => a === '-b' || a === '--bind' || a.startsWith('--bind=')).length;
  const isListening = (r: Record<string, any>) => r.msg === 'listening';
  try {
    const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
    while (records().filter(isListening).length < nBinds) {
      await waitForRecord((r) => isListening(r) && records().filter(isListening).length >= nBinds, Math.max(1, deadline - Date.now()));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  server.addresses = records().filter((r) => r.msg === 'listening').map((r) => String(r.address));
  const tcp = server.addresses.find((a) => a.startsWith('http://') || a.startsWith('https://'));
  if (tcp) {
    const u = new URL(tcp);
    server.url = tcp;
    server.port = Number(u.port);
    server.host = u.hostname;
  }
  return server;
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** From spawn to exit. */
  ms: number;
}

/**
 * Runs gwserver until it exits by itself (--help, --check-config, a boot
 * failure...); one still running after `timeoutMs` is killed and the promise
 * rejects. GWSERVER_CMD_ARGS, WEB_CONCURRENCY and PORT of the test's own
 * environment are removed unless `env` sets them. `bin`: another script
 * of the package to run the same way (gwserverctl's).
 */
export function runToExit(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; uid?: number; gid?: number; bin?: string } = {}): Promise<Run> {
  const bin = opts.bin ?? BIN;
  const timeoutMs = opts.timeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...opts.env };
    for (const k of ['GWSERVER_CMD_ARGS', 'WEB_CONCURRENCY', 'PORT']) if (opts.env?.[k] === undefined) delete env[k];
    const t0 = Date.now();
    const [file, ...fileArgs] = [...asUser(opts.uid, opts.gid), process.execPath, bin, ...args];
    const p = spawn(file!, fileArgs, { cwd: opts.cwd ?? ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`${path.basename(bin)} ${args.join(' ')} did not exit within ${timeoutMs} ms; stderr:\n${stderr}`));
    }, timeoutMs);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/**
 * Runs gwserver with `args` (a mistake on its command line) and asserts
 * what a user must see: exit code 2, and one line on stderr matching
 * `pattern`, never a stack trace.
 */
export async function expectUsageError(args: string[], pattern: RegExp): Promise<void> {
  const r = await runToExit(args);
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
}

export type InterfaceKind = 'gateway' | 'node' | 'fetch';

/**
 * A fixture module that exports the same app once per interface (`gateway`,
 * `node`, `fetchApp`), as [kind, MODULE:CALLABLE, the flags that serve it]
 * for each of `kinds`: the table a test loops over to run under each.
 */
export function eachInterface(app: string, kinds: InterfaceKind[] = ['gateway', 'node', 'fetch']): Array<[InterfaceKind, string, string[]]> {
  const all: Record<InterfaceKind, [string, string[]]> = {
    gateway: [`${app}:gateway`, []],
    node: [`${app}:node`, ['--interface', 'node']],
    fetch: [`${app}:fetchApp`, []],
  };
  return kinds.map((k) => [k, ...all[k]]);
}

/** Whether a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The pids of a process's children (a master's workers), from /proc. */
export function childPids(pid: number): number[] {
  try {
    const tasks = readdirSync(`/proc/${pid}/task`);
    return tasks.flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  } catch {
    return [];
  }
}

/** A process's descendants (children, grandchildren, ...), from /proc. */
function descendants(pid: number): number[] {
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    for (const c of childPids(todo.pop()!)) {
      if (!out.includes(c)) {
        out.push(c);
        todo.push(c);
      }
    }
  }
  return out;
}

/** True for a live (not zombie) process that is one of gwserver's (its title, or the built CLI on its command line). */
export function isGwserverProcess(pid: number): boolean {
  try {
    if (/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) return false;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.startsWith('gwserver: ') || cmdline.includes(path.join(ROOT, 'dist'));
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/**
 * Kills the given gwservers (default: all still running) with SIGKILL: each
 * master, its workers, and every gwserver process that logged through its
 * stderr (a master re-executed on USR2 is orphaned once the old one exits).
 * They are stopped first (SIGSTOP), so that no master forks a replacement
 * between the listing and the kill.
 */
export async function killAll(procs: ChildProcess[] = [...running]): Promise<void> {
  const family = (): Set<number> => {
    const out = new Set<number>();
    for (const p of procs) {
      const roots = [...(logged.get(p) ?? [])].filter(isGwserverProcess);
      if (p.pid !== undefined && p.exitCode === null && p.signalCode === null) roots.push(p.pid);
      for (const r of roots) {
        out.add(r);
        for (const d of descendants(r)) out.add(d);
      }
    }
    return out;
  };
  const first = family();
  for (const pid of first) signal(pid, 'SIGSTOP');
  const all = new Set([...first, ...family()]);
  for (const pid of all) signal(pid, 'SIGKILL');
  await Promise.all(procs.map((p) => new Promise<void>((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    p.once('exit', () => resolve());
    p.kill('SIGKILL');
  })));
}

export const mochaHooks = {
  beforeEach() {
    inTest = true;
  },
  async afterEach() {
    inTest = false;
    const procs = [...perTest];
    perTest.clear();
    await killAll(procs);
  },
  async afterAll() {
    await killAll();
  },
};
