// @ts-check
/**
 * The side-by-side benchmark (issue 4): raw node:http, gwserver and gunicorn
 * serving the same routes, measured with wrk in one run, alternating the
 * servers (raw, gwserver, gunicorn, then gunicorn, gwserver, raw, ...) so
 * that the machine's drifts hit all of them; medians of the rounds.
 *
 *     npm run bench                 # = npm run build && node bench/run.mjs
 *     npm run bench:smoke           # 1 round of 1 s, -w 2 only, writes bench/out/
 *     node bench/run.mjs [--rounds 3] [--duration 5] [--warmup 1] [--connections 50]
 *                        [--shapes core,w2] [--servers raw,gwserver,gunicorn]
 *                        [--startup-runs 5] [--out DIR] [--python /usr/bin/python3] [--smoke]
 *                        [--only main|frameworks|tls|http2|static] [--fw-rounds 5] [--fw-duration 2] [--fw-warmup 1]
 *                        [--tls-rounds 5] [--tls-duration 2] [--tls-warmup 1]
 *                        [--h2-rounds 5] [--h2-duration 2] [--h2-warmup 1]
 *                        [--static-rounds 5] [--static-duration 2] [--static-warmup 1]
 *
 * Every server is started by this script (the built CLI `node
 * dist/cli/bin.js` for gwserver, bench/servers/raw.mjs for raw,
 * `/usr/bin/python3 -m gunicorn` with bench/peers/app.py), on a fresh port,
 * once per measured run; it is ready when it logged that it listens (for
 * gunicorn: when every worker logged "Booting worker"), and it is stopped by
 * pid (TERM, KILL after 5 s; on SIGINT/SIGTERM of the bench, or any error,
 * everything still running is stopped and killed by pid).
 *
 * One measured run: start the server; wait 0.5 s; read the workers' VmRSS
 * (idle); one request checks the route's answer; a 1 s wrk warm-up; the
 * measured `wrk --latency` run; the workers' VmRSS again (after load); stop.
 *
 * Shapes: `core` = one worker pinned with `taskset -c 0`, wrk pinned with
 * `taskset -c 1`; `w2` = two workers, nothing pinned. wrk uses one thread
 * and 50 connections in both.
 *
 * Then startup: `-w 2` servers spawned in turn (5 each), timed from spawn to
 * the first 200 answer of a request loop. Last, settled idle memory: every
 * server of both shapes started at once (per core: pinned to CPU 0), left
 * idle 12 s, its workers' VmRSS read; then, per core only, each of those
 * servers in turn gets the hello route's warm-up and one measured wrk run
 * ("hello after 12 s idle": results.afterIdle).
 *
 * Then the frameworks section (bench/frameworks.mjs): Express, Hono and
 * Fastify on their own servers and under `gwserver -w 1`, a bare node:http
 * handler under raw node:http, PM2's cluster mode and gwserver, and the
 * access log + metrics on the node and fetch interfaces; per core, servers
 * alternated round by round (`--fw-rounds` rounds of `--fw-duration` s).
 * Last, the TLS section (bench/tls.mjs): TLS handshakes per second (a new
 * connection per request) of `gwserver -w 1 --certfile` against Node's own
 * https server, per core, alternating round by round (`--tls-rounds` rounds
 * of `--tls-duration` s).
 * `--only frameworks` (or `tls`) runs only that section, `--only main`
 * the routes, startup and idle memory; each keeps the other sections'
 * figures of the last run in the output directory's results.json.
 *
 * Last, the HTTP/2 section (bench/http2.mjs; `--only http2`, with
 * `--smoke` a one-second check): gwserver over h2c and over HTTP/1.1 (the
 * same server and app), and Node's own node:http2 server, measured with
 * h2load per core, alternating round by round (`--h2-rounds` of
 * `--h2-duration` s). It needs h2load (nghttp2-client).
 *
 * Last, the static files and compression section (bench/static.mjs;
 * `--only static`): a 1 KiB and a 1 MiB file served by `gwserver -w 1`
 * with staticFiles() and by nginx (sendfile on, and off), per core,
 * alternating round by round (`--static-rounds` of `--static-duration`
 * s); then compress()'s cost per request on a 10 KiB page (off, gzip,
 * br). Without nginx only gwserver is measured on the files.
 *
 * Writes RESULTS.md, results.svg and results.json into the output directory
 * (bench/ by default; bench/out/ with --smoke, which is gitignored).
 *
 * @module
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { report } from './report.mjs';
import { runFrameworks } from './frameworks.mjs';
import { runTls } from './tls.mjs';
import { haveH2load, runHttp2 } from './http2.mjs';
import { runStatic } from './static.mjs';
import { childPids, foreignWrk, freePort, inTurn, rssKiB, treeCpuUs } from './lib.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'dist/cli/bin.js');

const { values: argv } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    shapes: { type: 'string' },
    servers: { type: 'string' },
    'startup-runs': { type: 'string' },
    out: { type: 'string' },
    python: { type: 'string', default: '/usr/bin/python3' },
    only: { type: 'string' },
    'fw-rounds': { type: 'string' },
    'h2-rounds': { type: 'string' },
    'h2-duration': { type: 'string' },
    'h2-warmup': { type: 'string' },
    'fw-duration': { type: 'string' },
    'fw-warmup': { type: 'string' },
    'tls-rounds': { type: 'string' },
    'tls-duration': { type: 'string' },
    'tls-warmup': { type: 'string' },
    'static-rounds': { type: 'string' },
    'static-duration': { type: 'string' },
    'static-warmup': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (argv.help) {
  process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(2, 16).map((l) => l.replace(/^ \* ?/, '')).join('\n') + '\n');
  process.exit(0);
}
const SMOKE = argv.smoke ?? false;
/** @param {string | undefined} v @param {number} dflt */
const num = (v, dflt) => (v === undefined ? dflt : Number(v));
const ROUNDS = num(argv.rounds, SMOKE ? 1 : 5);
const DURATION = num(argv.duration, SMOKE ? 1 : 3);
const WARMUP = num(argv.warmup, SMOKE ? 0 : 1);
const CONNECTIONS = num(argv.connections, 50);
const STARTUP_RUNS = num(argv['startup-runs'], SMOKE ? 1 : 5);
/** How long servers sit idle before the settled memory reading (ms). */
const SETTLED_MS = SMOKE ? 1000 : 12_000;
const SETTLE_MS = SMOKE ? 200 : 500;
const OUT = path.resolve(argv.out ?? (SMOKE ? path.join(ROOT, 'bench/out') : path.join(ROOT, 'bench')));
const PYTHON = argv.python ?? '/usr/bin/python3';
/** The access log of the hello+log row: a real file, emptied before each run, removed at exit. */
const ACCESS_LOG = path.join(os.tmpdir(), `gwserver-bench-${process.pid}`, 'access.log');
/** The bench's sections (`--only`): the routes, startup and idle memory ("main"), the frameworks, TLS handshakes, HTTP/2. */
const SECTIONS = ['main', 'frameworks', 'tls', 'http2', 'static'];
const ONLY = argv.only === undefined ? undefined : argv.only.split(',').map((x) => x.trim()).filter(Boolean);
for (const x of ONLY ?? []) {
  if (!SECTIONS.includes(x)) {
    process.stderr.write(`bench: unknown section ${x} for --only (${SECTIONS.join(', ')})\n`);
    process.exit(2);
  }
}
const RUN_SECTIONS = ONLY ?? SECTIONS;
/** The frameworks section: 5 rounds of 2 s per server and route after a 1 s warm-up of each (smoke: 1 round of 1 s, no warm-up). */
const FW = {
  rounds: num(argv['fw-rounds'], SMOKE ? 1 : 5),
  duration: num(argv['fw-duration'], SMOKE ? 1 : 2),
  warmup: num(argv['fw-warmup'], SMOKE ? 0 : 1),
};
/** The TLS section: 5 rounds of 2 s per server after a 1 s warm-up of each (smoke: 1 round of 1 s, no warm-up). */
const TLS = {
  rounds: num(argv['tls-rounds'], SMOKE ? 1 : 5),
  duration: num(argv['tls-duration'], SMOKE ? 1 : 2),
  warmup: num(argv['tls-warmup'], SMOKE ? 0 : 1),
};
/** The HTTP/2 section: 5 rounds of 2 s per variant after a 1 s warm-up of each (smoke: 1 round of 1 s, no warm-up). */
const H2 = {
  rounds: num(argv['h2-rounds'], SMOKE ? 1 : 5),
  duration: num(argv['h2-duration'], SMOKE ? 1 : 2),
  warmup: num(argv['h2-warmup'], SMOKE ? 0 : 1),
};

/** The static files and compression section: 5 rounds of 2 s per server and file after a 1 s warm-up of each (smoke: 1 round of 1 s, no warm-up). */
const STATIC = {
  rounds: num(argv['static-rounds'], SMOKE ? 1 : 5),
  duration: num(argv['static-duration'], SMOKE ? 1 : 2),
  warmup: num(argv['static-warmup'], SMOKE ? 0 : 1),
};

/** @typedef {{ id: string; title: string; workers: number; serverCpu?: string; wrkCpu?: string; threads: number }} Shape */
/** @type {Record<string, Shape>} */
const SHAPES = {
  core: { id: 'core', title: 'per core: 1 worker pinned to CPU 0 (taskset -c 0), wrk -t1 pinned to CPU 1', workers: 1, serverCpu: '0', wrkCpu: '1', threads: 1 },
  w2: { id: 'w2', title: '-w 2: 2 workers, unpinned, wrk -t1 unpinned', workers: 2, threads: 1 },
};

/**
 * A route. `only`: the one server that runs it (the others are left out of
 * its row); `servers`: the servers that run it (the others show "n/a");
 * `baseline`: the route whose raw node:http figure it is compared with
 * (itself by default); `oneShape`: measured in one shape only, per core
 * when the run has it (else the run's first shape), to keep the run short.
 * @typedef {{ id: string; title: string; path: string; method?: string; lua?: string;
 *   body?: Buffer; expect: (status: number, body: Buffer) => boolean; only?: string;
 *   servers?: string[]; baseline?: string; oneShape?: boolean }} Route
 */
/** @type {Route[]} */
const ROUTES = [
  { id: 'hello', title: 'hello world (12 B)', path: '/hello', expect: (s, b) => s === 200 && b.toString() === 'Hello world!' },
  // New gateway shapes, per core only (oneShape), each next to its raw
  // baseline in the same round. An async app's hello: raw's baseline is its
  // hello, measured just before.
  { id: 'async', title: 'hello world from an async app', path: '/async', only: 'gwserver', baseline: 'hello', oneShape: true, expect: (s, b) => s === 200 && b.toString() === 'Hello world!' },
  { id: 'stream', title: '1 MiB streamed in 64 KiB chunks', path: '/stream', expect: (s, b) => s === 200 && b.length === 1024 * 1024 },
  {
    id: 'echo', title: 'POST 64 KiB, read fully, answer its length', path: '/echo', method: 'POST', lua: 'bench/post.lua',
    body: Buffer.alloc(65536, 'x'), expect: (s, b) => s === 200 && b.toString() === '65536',
  },
  // The 64 KiB upload read chunk by chunk: gwserver with `for await (const
  // chunk of environ['wsgi.input'])`, raw with `for await (const chunk of
  // req)`; then gwserver reading it with `read()` against the same raw run.
  {
    id: 'echo-iter', title: 'POST 64 KiB, read with for await', path: '/echo-iter', method: 'POST', lua: 'bench/post.lua', servers: ['raw', 'gwserver'], oneShape: true,
    body: Buffer.alloc(65536, 'x'), expect: (s, b) => s === 200 && b.toString() === '65536',
  },
  {
    id: 'echo-read', title: 'POST 64 KiB, read with read()', path: '/echo-read', method: 'POST', lua: 'bench/post.lua', only: 'gwserver', baseline: 'echo-iter', oneShape: true,
    body: Buffer.alloc(65536, 'x'), expect: (s, b) => s === 200 && b.toString() === '65536',
  },
  // The same hello world with gwserver's access log (JSON lines to a real
  // file) and metrics (--metrics-bind) on: the target compares gwserver with
  // itself (>= 0.85 x off). SERVERS.gwserver.logArgs are the flags.
  { id: 'hello+log', title: 'hello world, access log + metrics on', path: '/hello', only: 'gwserver', expect: (s, b) => s === 200 && b.toString() === 'Hello world!' },
];

/**
 * @typedef {{ id: string; title: string;
 *   command: (port: number, workers: number, extra: string[]) => string[];
 *   ready: (lines: string[], workers: number) => boolean;
 *   singleProcess: (workers: number) => boolean;
 *   logArgs?: string[] | null; naReason?: string }} Server
 */
/** @type {Record<string, Server>} */
const SERVERS = {
  raw: {
    id: 'raw', title: 'raw node:http',
    command: (port, workers) => ['node', 'bench/servers/raw.mjs', '--port', String(port), '--workers', String(workers)],
    ready: (lines) => lines.some((l) => l.includes('"msg":"listening"')),
    singleProcess: (workers) => workers <= 1,
  },
  gwserver: {
    id: 'gwserver', title: 'gwserver',
    command: (port, workers, extra) => ['node', 'dist/cli/bin.js', '-b', `127.0.0.1:${port}`, '-w', String(workers), ...extra, 'bench/servers/app.mjs:application'],
    // The master logs "listening" once every worker is ready.
    ready: (lines) => lines.some((l) => l.includes('"msg":"listening"')),
    singleProcess: () => false,
    logArgs: ['--access-logfile', ACCESS_LOG, '--metrics-bind', '127.0.0.1:0'],
  },
  gunicorn: {
    id: 'gunicorn', title: 'gunicorn (sync)',
    command: (port, workers) => [PYTHON, '-m', 'gunicorn', '-b', `127.0.0.1:${port}`, '-w', String(workers), '-k', 'sync', '--chdir', 'bench/peers', 'app:application'],
    ready: (lines, workers) => lines.filter((l) => l.includes('Booting worker with pid')).length >= workers,
    singleProcess: () => false,
  },
};

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));
const log = (/** @type {string} */ s) => process.stderr.write(`${s}\n`);

// ---------------------------------------------------------------- processes

/** Everything this script started and has not seen exit: pid -> what it is. */
/** @type {Map<number, { proc: import('node:child_process').ChildProcess; name: string }>} */
const live = new Map();

/** A process and all its descendants, from /proc. */
function family(/** @type {number} */ pid) {
  const out = [pid];
  for (let i = 0; i < out.length; i++) for (const c of childPids(/** @type {number} */ (out[i]))) if (!out.includes(c)) out.push(c);
  return out;
}

function signal(/** @type {number} */ pid, /** @type {NodeJS.Signals} */ sig) {
  try {
    process.kill(pid, sig);
  } catch {
    // Gone already.
  }
}

/** SIGKILLs a process and its descendants (stopped first, so that no master forks a replacement meanwhile). */
function killTree(/** @type {number} */ pid) {
  const first = family(pid);
  for (const p of first) signal(p, 'SIGSTOP');
  for (const p of new Set([...first, ...family(pid)])) signal(p, 'SIGKILL');
}

/** The start time of a process (field 22 of /proc/PID/stat), to tell it from a later one with the same pid. */
function startTime(/** @type {number} */ pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/**
 * Processes the bench caused but did not spawn itself (PM2's daemon and its
 * workers, daemonized away from us): pid -> what it is and its start time.
 * killEverything kills them too, by pid, if the pid is still that process.
 * @type {Map<number, { name: string; start: string | undefined }>}
 */
const adopted = new Map();
/** Called synchronously by killEverything before the adopted pids are killed (PM2's own `pm2 kill`). */
/** @type {Set<() => void>} */
const emergencyStops = new Set();

function adopt(/** @type {number} */ pid, /** @type {string} */ name) {
  if (!adopted.has(pid)) adopted.set(pid, { name, start: startTime(pid) });
}
/** SIGKILLs an adopted pid if it is still the process adopted. */
function killAdopted(/** @type {number} */ pid) {
  const a = adopted.get(pid);
  if (a && a.start !== undefined && startTime(pid) === a.start) signal(pid, 'SIGKILL');
  adopted.delete(pid);
}

/** Kills everything still running, synchronously (signal handlers, exit). */
function killEverything() {
  for (const stop of emergencyStops) {
    try {
      stop();
    } catch {
      // Killed by pid below anyway.
    }
  }
  emergencyStops.clear();
  for (const [pid] of live) killTree(pid);
  live.clear();
  for (const [pid] of adopted) killAdopted(pid);
}

let interrupted = false;
for (const sig of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    log(`\nbench: ${sig}: stopping every process it started (${[...[...live.values()].map((e) => `${e.name} ${e.proc.pid}`), ...[...adopted].map(([pid, a]) => `${a.name} ${pid}`)].join(', ') || 'none running'})`);
    killEverything();
    process.exit(130);
  });
}
process.on('exit', killEverything);
process.on('exit', () => rmSync(path.dirname(ACCESS_LOG), { recursive: true, force: true }));

/**
 * Spawns a command from the repository's root; tracked in `live` until it
 * exits.
 * @param {string[]} cmd @param {string} name @param {NodeJS.ProcessEnv} [env] added to the environment
 */
function launch(cmd, name, env) {
  const [file, ...args] = cmd;
  const proc = spawn(file === 'node' ? process.execPath : /** @type {string} */ (file), args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: env ? { ...process.env, ...env } : process.env });
  const pid = proc.pid;
  if (pid === undefined) throw new Error(`could not start ${cmd.join(' ')}`);
  live.set(pid, { proc, name });
  const exited = new Promise((resolve) => proc.once('exit', (code, sig) => {
    live.delete(pid);
    resolve({ code, signal: sig });
  }));
  return { proc, pid, exited };
}

/**
 * @typedef {{ server: Server; port: number; pid: number; cmd: string[]; lines: string[];
 *   workerPids: () => number[]; masterPid: number | undefined;
 *   exited: Promise<unknown>; stop: () => Promise<void> }} Running
 */

/**
 * Starts a server on a fresh port. With `wait`, resolves once it is ready
 * (killing it if it does not get there within `timeoutMs`, 20 s by default).
 * @param {Server} server @param {number} workers @param {{ cpu?: string; extra?: string[]; wait?: boolean; timeoutMs?: number }} [o]
 * @returns {Promise<Running>}
 */
async function startServer(server, workers, o = {}) {
  const port = /** @type {number} */ (await freePort());
  const cmd = [...(o.cpu === undefined ? [] : ['taskset', '-c', o.cpu]), ...server.command(port, workers, o.extra ?? [])];
  const { proc, pid, exited } = launch(cmd, server.id);
  /** @type {string[]} */
  const lines = [];
  let buf = '';
  let onLine = () => {};
  const collect = (/** @type {string} */ d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
    onLine();
  };
  proc.stderr?.setEncoding('utf8').on('data', collect);
  proc.stdout?.setEncoding('utf8').on('data', collect);
  let gone = false;
  void exited.then(() => {
    gone = true;
    onLine();
  });
  const single = server.singleProcess(workers);
  /** Worker pids seen so far: killed too if still there after the master exits. */
  const seen = new Set();
  const workerPids = () => {
    const ws = single ? [pid] : childPids(pid);
    for (const w of ws) seen.add(w);
    return ws;
  };
  const stop = async () => {
    workerPids();
    if (!gone) {
      signal(pid, 'SIGTERM');
      const killer = setTimeout(() => killTree(pid), 5000);
      await exited;
      clearTimeout(killer);
    }
    // Workers that outlived their master (they should not): killed by pid.
    for (const w of seen) if (rssKiB(w) !== undefined && w !== pid) signal(w, 'SIGKILL');
  };
  /** @type {Running} */
  const running = { server, port, pid, cmd, lines, workerPids, masterPid: single ? undefined : pid, exited, stop };
  if (o.wait === false) return running;
  try {
    await new Promise((resolve, reject) => {
      const timeoutMs = o.timeoutMs ?? 20_000;
      const timer = setTimeout(() => reject(new Error(`${server.id} was not ready within ${timeoutMs / 1000} s:\n${lines.join('\n')}`)), timeoutMs);
      onLine = () => {
        if (server.ready(lines, workers)) {
          clearTimeout(timer);
          resolve(undefined);
        } else if (gone) {
          clearTimeout(timer);
          reject(new Error(`${server.id} exited before it was ready:\n${lines.join('\n')}`));
        }
      };
      onLine();
    });
  } catch (err) {
    await stop();
    throw err;
  }
  workerPids();
  return running;
}

/**
 * One HTTP request on a fresh connection.
 * @param {number} port @param {{ path: string; method?: string; body?: Buffer }} r @param {number} [timeoutMs]
 * @returns {Promise<{ status: number; body: Buffer }>}
 */
function request(port, r, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: r.path, method: r.method ?? 'GET', agent: false, headers: r.body ? { 'Content-Length': String(r.body.length) } : {} }, (res) => {
      /** @type {Buffer[]} */
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(r.body);
  });
}

// ---------------------------------------------------------------------- wrk

/** "635.00us" -> 0.635 (ms). */
function toMs(/** @type {string} */ text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000;
}

/** @param {string} out */
function parseWrk(out) {
  const n = (/** @type {RegExp} */ re) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : 0;
  };
  const lat = (/** @type {number} */ p) => {
    const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out);
    return m ? toMs(/** @type {string} */ (m[1])) : NaN;
  };
  const e = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const requests = n(/(\d+) requests in/);
  const rps = n(/Requests\/sec:\s+([\d.]+)/);
  if (!/Requests\/sec:/.test(out)) throw new Error(`could not read wrk's output:\n${out}`);
  return {
    // No request completed: wrk prints zeros for the latencies, which are no figures.
    requests, rps, p50: requests > 0 ? lat(50) : NaN, p99: requests > 0 ? lat(99) : NaN,
    socketErrors: e ? { connect: Number(e[1]), read: Number(e[2]), write: Number(e[3]), timeout: Number(e[4]) } : { connect: 0, read: 0, write: 0, timeout: 0 },
    non2xx: n(/Non-2xx or 3xx responses: (\d+)/),
  };
}

/** The wrk command line for a route, a shape and a duration. */
function wrkCommand(/** @type {Shape} */ shape, /** @type {Route} */ route, /** @type {number} */ port, /** @type {number} */ seconds) {
  return [
    ...(shape.wrkCpu === undefined ? [] : ['taskset', '-c', shape.wrkCpu]),
    'wrk', `-t${shape.threads}`, `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', ...(route.lua ? ['-s', route.lua] : []), `http://127.0.0.1:${port}${route.path}`,
  ];
}

/** Other wrk processes running now (another benchmark on the machine): the pids of ours are excluded. */
function foreignWrkNow() {
  return foreignWrk(live.keys()).length;
}

/**
 * Runs a command to its end (wrk, h2load, pm2), its output collected;
 * killed with its children past `timeoutMs`.
 * @param {string[]} cmd @param {string} name @param {number} timeoutMs @param {Record<string, string>} [env]
 * @returns {Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>}
 */
async function runTool(cmd, name, timeoutMs, env) {
  const { proc, pid, exited } = launch(cmd, name, env);
  let out = '';
  proc.stdout?.setEncoding('utf8').on('data', (d) => (out += d));
  proc.stderr?.setEncoding('utf8').on('data', (d) => (out += d));
  const killer = setTimeout(() => killTree(pid), timeoutMs);
  const { code, signal } = /** @type {{ code: number | null; signal: NodeJS.Signals | null }} */ (await exited);
  clearTimeout(killer);
  return { code, signal, out };
}

async function runWrk(/** @type {string[]} */ cmd, /** @type {number} */ seconds) {
  const { code, out } = await runTool(cmd, 'wrk', (seconds + 30) * 1000);
  if (code !== 0) throw new Error(`${cmd.join(' ')} failed (${code}):\n${out}`);
  return parseWrk(out);
}

// -------------------------------------------------------------- measurement

const median = (/** @type {number[]} */ xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? /** @type {number} */ (s[(n - 1) / 2]) : (/** @type {number} */ (s[n / 2 - 1]) + /** @type {number} */ (s[n / 2])) / 2;
};

/** Worker RSS (max over the workers, KiB) and master RSS. */
function memory(/** @type {Running} */ srv) {
  const ws = srv.workerPids().map(rssKiB).filter((v) => v !== undefined);
  return { worker: ws.length ? Math.max(...ws) : NaN, workers: ws, master: srv.masterPid === undefined ? NaN : rssKiB(srv.masterPid) ?? NaN };
}

/** @typedef {Awaited<ReturnType<typeof measure>>} Run */

/**
 * One measured run of one route on one freshly started server.
 * @param {Shape} shape @param {Route} route @param {Server} server @param {number} round
 */
async function measure(shape, route, server, round) {
  const extra = route.id === 'hello+log' ? server.logArgs ?? [] : [];
  if (route.id === 'hello+log') {
    mkdirSync(path.dirname(ACCESS_LOG), { recursive: true });
    writeFileSync(ACCESS_LOG, '');
  }
  const t0 = performance.now();
  const srv = await startServer(server, shape.workers, { cpu: shape.serverCpu, extra });
  const startMs = performance.now() - t0;
  let result;
  let stopMs = NaN;
  try {
    await sleep(SETTLE_MS);
    const idle = memory(srv);
    const check = await request(srv.port, route);
    if (!route.expect(check.status, check.body)) {
      throw new Error(`${server.id} ${route.path}: unexpected answer ${check.status} (${check.body.length} bytes: ${JSON.stringify(check.body.subarray(0, 60).toString())})`);
    }
    if (WARMUP > 0) await runWrk(wrkCommand(shape, route, srv.port, WARMUP), WARMUP);
    const load = os.loadavg()[0] ?? NaN;
    const wrkCmd = wrkCommand(shape, route, srv.port, DURATION);
    const foreign0 = foreignWrkNow();
    const cpu0 = treeCpuUs(srv.pid);
    const r = await runWrk(wrkCmd, DURATION);
    // The server's whole process tree: what these requests cost it, whatever else ran.
    const cpuUs = treeCpuUs(srv.pid) - cpu0;
    const foreign = Math.max(foreign0, foreignWrkNow());
    const after = memory(srv);
    result = {
      shape: shape.id, route: route.id, server: server.id, round, ...r, cpuUs,
      rssIdleKiB: idle.worker, rssLoadKiB: after.worker, masterIdleKiB: idle.master,
      workersIdleKiB: idle.workers, workersLoadKiB: after.workers, load1: load, foreignWrk: foreign,
      serverCmd: srv.cmd.map((a) => a.replace(String(srv.port), 'PORT')).join(' '),
      wrkCmd: wrkCmd.map((a) => a.replace(String(srv.port), 'PORT')).join(' '),
      startMs,
    };
  } finally {
    const t1 = performance.now();
    await srv.stop();
    stopMs = performance.now() - t1;
  }
  return { ...result, stopMs };
}

/**
 * Time from spawning a `-w 2` server to its first 200 answer (a request loop
 * on fresh connections, retried every 5 ms while refused), and to its ready
 * record.
 * @param {Server} server
 */
async function startup(server) {
  const t0 = performance.now();
  const srv = await startServer(server, 2, { wait: false });
  try {
    let readyMs = NaN;
    const watch = setInterval(() => {
      if (Number.isNaN(readyMs) && server.ready(srv.lines, 2)) readyMs = performance.now() - t0;
    }, 2);
    /** @type {number} */
    let firstMs = NaN;
    const deadline = t0 + 20_000;
    while (performance.now() < deadline) {
      try {
        const r = await request(srv.port, { path: '/hello' }, Math.max(1, deadline - performance.now()));
        if (r.status === 200) {
          firstMs = performance.now() - t0;
          break;
        }
      } catch {
        // Not bound yet: retry.
      }
      await sleep(5);
    }
    // Until the ready record too (all workers up), for the second column.
    while (Number.isNaN(readyMs) && performance.now() < deadline) await sleep(5);
    clearInterval(watch);
    if (Number.isNaN(firstMs)) throw new Error(`${server.id} -w 2 served nothing within 20 s:\n${srv.lines.join('\n')}`);
    return { server: server.id, firstMs, readyMs, cmd: srv.cmd.map((a) => a.replace(String(srv.port), 'PORT')).join(' ') };
  } finally {
    await srv.stop();
  }
}

// ------------------------------------------------------------------ builds

/**
 * A fingerprint of dist/ (every file's path, size and mtime): gwserver is
 * served from dist/, and an `npm run build` during the run (someone working
 * in the same checkout) would make later runs measure another build.
 */
function distFingerprint() {
  const hash = createHash('sha1');
  const walk = (/** @type {string} */ dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const st = statSync(p);
        hash.update(`${path.relative(ROOT, p)}:${st.size}:${st.mtimeMs}\n`);
      }
    }
  };
  walk(path.join(ROOT, 'dist'));
  return hash.digest('hex').slice(0, 12);
}

/** @type {Array<{ fingerprint: string; before: string }>} */
const builds = [];
/** The index of the current build of dist/; logs when it changed since the last call. */
function currentBuild(/** @type {string} */ before) {
  const fp = distFingerprint();
  if (builds.at(-1)?.fingerprint !== fp) {
    if (builds.length > 0) log(`bench: WARNING: dist/ changed (rebuilt) before ${before}: gwserver's figures from here on are of another build`);
    builds.push({ fingerprint: fp, before });
  }
  return builds.length;
}

// ---------------------------------------------------------------- machine

function tryRun(/** @type {string} */ file, /** @type {string[]} */ args) {
  const r = spawnSync(file, args, { encoding: 'utf8', cwd: ROOT });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim(), error: r.error };
}

function machine() {
  const cpus = os.cpus();
  const wrk = tryRun('wrk', ['-v']);
  const gunicorn = tryRun(PYTHON, ['-m', 'gunicorn', '--version']);
  const python = tryRun(PYTHON, ['--version']);
  const git = tryRun('git', ['describe', '--always', '--dirty']);
  return {
    date: new Date().toISOString(),
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: os.totalmem() / 2 ** 30,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    wrk: wrk.error ? undefined : (wrk.out.split('\n')[0] ?? '').replace(/\s*Copyright.*$/, ''),
    gunicorn: gunicorn.ok ? gunicorn.out.replace(/^.*\(version ([^)]+)\).*$/s, '$1') : undefined,
    gunicornError: gunicorn.ok ? undefined : gunicorn.error ? String(gunicorn.error.message) : gunicorn.out.split('\n').at(-1),
    python: python.ok ? python.out : undefined,
    git: git.ok ? git.out : undefined,
    load1: os.loadavg()[0] ?? NaN,
  };
}

// ------------------------------------------------------------------- main

/**
 * The routes (every shape, every round), startup, and the settled idle
 * memory with hello after the idle: what issue 4's targets are judged on.
 * @param {ReturnType<typeof machine>} m @param {number} t0
 */
async function mainSection(m, t0) {
  const shapes = (argv.shapes ?? (SMOKE ? 'w2' : 'core,w2')).split(',').map((s) => {
    const shape = SHAPES[s.trim()];
    if (!shape) throw new Error(`unknown shape ${s} (core, w2)`);
    return shape;
  });
  if (shapes.some((s) => s.serverCpu !== undefined) && os.cpus().length < 2) throw new Error('the per-core shape needs 2 CPUs (server on CPU 0, wrk on CPU 1); use --shapes w2');
  if (shapes.some((s) => s.serverCpu !== undefined) && !tryRun('taskset', ['-c', '0', 'true']).ok) throw new Error('taskset (util-linux) is needed for the per-core shape');
  /** @type {string[]} */
  const notes = [];
  const servers = (argv.servers ?? 'raw,gwserver,gunicorn').split(',').map((s) => s.trim()).filter((id) => {
    if (!SERVERS[id]) throw new Error(`unknown server ${id} (raw, gwserver, gunicorn)`);
    if (id === 'gunicorn' && !m.gunicorn) {
      notes.push(`gunicorn skipped: \`${PYTHON} -m gunicorn --version\` failed (${m.gunicornError ?? 'not installed'}); install it with \`apt-get install -y gunicorn\`.`);
      log(`bench: ${notes.at(-1)}`);
      return false;
    }
    return true;
  }).map((id) => /** @type {Server} */ (SERVERS[id]));

  /** The shape of the routes measured in one shape only: per core when the run has it. */
  const oneShapeId = (shapes.find((s) => s.id === 'core') ?? /** @type {Shape} */ (shapes[0])).id;
  const routesOf = (/** @type {Shape} */ shape) => ROUTES.filter((r) => !r.oneShape || shape.id === oneShapeId);
  /** Whether a server takes part in a route: it runs it (true), shows n/a (a reason), or is left out of its row (false). */
  const takes = (/** @type {Route} */ route, /** @type {Server} */ server) => {
    if (route.only && route.only !== server.id) return false;
    if (route.id === 'hello+log' && !server.logArgs) return server.naReason ?? 'n/a';
    if (route.servers && !route.servers.includes(server.id)) return `n/a (${route.servers.join(' and ')} only)`;
    return true;
  };
  const cells = ROUNDS * shapes.reduce((n, shape) => n + routesOf(shape).reduce((a, r) => a + servers.filter((s) => takes(r, s) === true).length, 0), 0);
  log(`bench: ${shapes.map((s) => s.id).join(', ')} x ${ROUNDS} round(s) x ${servers.map((s) => s.id).join('/')}: ${cells} measured runs of ${DURATION} s (+${WARMUP} s warm-up); output in ${path.relative(process.cwd(), OUT) || '.'}`);

  /** @type {Run[]} */
  const runs = [];
  /** @type {Array<{ shape: string; route: string; server: string; reason: string }>} */
  const notApplicable = [];
  for (const shape of shapes) {
    for (const route of routesOf(shape)) {
      for (const server of servers) {
        const t = takes(route, server);
        if (typeof t === 'string') notApplicable.push({ shape: shape.id, route: route.id, server: server.id, reason: t });
      }
    }
    for (let round = 1; round <= ROUNDS; round++) {
      for (const route of routesOf(shape)) {
        for (const server of inTurn(servers, round)) {
          if (takes(route, server) !== true) continue;
          const build = currentBuild(`${shape.id} round ${round} ${route.id} ${server.id}`);
          const r = { ...(await measure(shape, route, server, round)), build };
          runs.push(r);
          const errs = r.socketErrors.connect + r.socketErrors.read + r.socketErrors.write + r.socketErrors.timeout + r.non2xx;
          log(`  ${shape.id} round ${round}/${ROUNDS} ${route.id.padEnd(9)} ${server.id.padEnd(8)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${errs}  RSS ${(r.rssIdleKiB / 1024).toFixed(1)} -> ${(r.rssLoadKiB / 1024).toFixed(1)} MiB  start ${r.startMs.toFixed(0)} ms, stop ${r.stopMs.toFixed(0)} ms  (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
        }
      }
    }
  }

  log(`bench: startup, -w 2, ${STARTUP_RUNS} run(s) each`);
  /** @type {Array<Awaited<ReturnType<typeof startup>>>} */
  const starts = [];
  for (let i = 0; i < STARTUP_RUNS; i++) {
    for (const server of servers) {
      const build = currentBuild(`startup ${i + 1} ${server.id}`);
      const s = { ...(await startup(server)), build };
      starts.push(s);
      log(`  startup ${i + 1}/${STARTUP_RUNS} ${server.id.padEnd(8)} first 200 after ${s.firstMs.toFixed(0)} ms, ready after ${s.readyMs.toFixed(0)} ms`);
    }
  }

  // Idle memory once V8 has settled: every server of both shapes started at
  // once (the per-core ones pinned to CPU 0, as in the runs above), left
  // alone SETTLED_MS, read. 0.5 s after ready (the runs above) a Node worker
  // still holds the garbage of its boot, which V8's memory reducer collects
  // about 8 s later.
  //
  // Then, per core only, hello once more on each of those servers: a real
  // server idles before its traffic, and the memory reducer's full GCs
  // during the idle can change how the worker serves afterwards (they once
  // left gwserver's worker ~20% slower for good). One sample per server,
  // one after the other: a check, not a median of alternated rounds.
  log(`bench: idle memory, settled (${SETTLED_MS / 1000} s after ready)`);
  /** @type {Array<{ server: string; shape: string; workerKiB: number; masterKiB: number }>} */
  const settled = [];
  /** @type {Array<{ shape: string; server: string; route: string; idleMs: number; readyAgoMs: number; load1: number; serverCmd: string; wrkCmd: string; build: number } & Awaited<ReturnType<typeof runWrk>>>} */
  const afterIdle = [];
  {
    /** @type {Array<{ shape: Shape; server: Server; srv: Running; readyAt: number; stopped: boolean }>} */
    const started = [];
    const stopOne = async (/** @type {typeof started[number]} */ s) => {
      if (s.stopped) return;
      s.stopped = true;
      await s.srv.stop();
    };
    for (const shape of shapes) {
      for (const server of servers) {
        const srv = await startServer(server, shape.workers, { cpu: shape.serverCpu });
        started.push({ shape, server, srv, readyAt: performance.now(), stopped: false });
      }
    }
    try {
      await sleep(SETTLED_MS);
      for (const { shape, server, srv } of started) {
        const mem = memory(srv);
        settled.push({ server: server.id, shape: shape.id, workerKiB: mem.worker, masterKiB: mem.master });
        log(`  ${shape.id} ${server.id.padEnd(8)} worker ${(mem.worker / 1024).toFixed(1)} MiB${Number.isNaN(mem.master) ? ' (single process)' : `, master ${(mem.master / 1024).toFixed(1)} MiB`}`);
      }
      const core = started.filter((s) => s.shape.id === 'core');
      if (core.length === 0) {
        log('bench: hello after the settled idle: skipped (it is measured in the per-core shape, not in this run)');
      } else {
        const route = /** @type {Route} */ (ROUTES.find((r) => r.id === 'hello'));
        log(`bench: hello after the settled idle, per core, one run each (${WARMUP} s warm-up, ${DURATION} s measured)`);
        // The other shapes' servers go first: only the measured server and wrk are left busy.
        for (const s of started) if (s.shape.id !== 'core') await stopOne(s);
        for (const s of core) {
          const { shape, server, srv } = s;
          const build = currentBuild(`${shape.id} after idle hello ${server.id}`);
          const readyAgoMs = performance.now() - s.readyAt;
          const check = await request(srv.port, route);
          if (!route.expect(check.status, check.body)) {
            throw new Error(`${server.id} ${route.path} after the idle: unexpected answer ${check.status} (${check.body.length} bytes: ${JSON.stringify(check.body.subarray(0, 60).toString())})`);
          }
          if (WARMUP > 0) await runWrk(wrkCommand(shape, route, srv.port, WARMUP), WARMUP);
          const load = os.loadavg()[0] ?? NaN;
          const wrkCmd = wrkCommand(shape, route, srv.port, DURATION);
          const r = await runWrk(wrkCmd, DURATION);
          const a = {
            shape: shape.id, server: server.id, route: route.id, idleMs: SETTLED_MS, readyAgoMs, ...r, load1: load,
            serverCmd: srv.cmd.map((x) => x.replace(String(srv.port), 'PORT')).join(' '),
            wrkCmd: wrkCmd.map((x) => x.replace(String(srv.port), 'PORT')).join(' '),
            build,
          };
          afterIdle.push(a);
          const errs = r.socketErrors.connect + r.socketErrors.read + r.socketErrors.write + r.socketErrors.timeout + r.non2xx;
          log(`  ${shape.id} after idle ${route.id.padEnd(9)} ${server.id.padEnd(8)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${errs}  first request ${(readyAgoMs / 1000).toFixed(1)} s after ready  (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
          await stopOne(s);
        }
      }
    } finally {
      for (const s of started) await stopOne(s);
    }
  }

  return {
    machine: m,
    config: {
      smoke: SMOKE, python: PYTHON, rounds: ROUNDS, duration: DURATION, warmup: WARMUP, connections: CONNECTIONS, settleMs: SETTLE_MS, settledMs: SETTLED_MS, startupRuns: STARTUP_RUNS, shapes, servers: servers.map((s) => s.id),
      routes: ROUTES.map((r) => ({ id: r.id, title: r.title, path: r.path, method: r.method ?? 'GET', only: r.only, servers: r.servers, baseline: r.baseline, shapes: shapes.filter((s) => routesOf(s).includes(r)).map((s) => s.id) })),
    },
    notes, runs, notApplicable, starts, settled, afterIdle,
    wallSeconds: (Date.now() - t0) / 1000,
    load1After: os.loadavg()[0] ?? NaN,
  };
}

async function main() {
  const t0 = Date.now();
  if (!existsSync(BIN)) throw new Error('dist/cli/bin.js is missing: run `npm run build` first (npm run bench does)');
  const m = machine();
  if (!m.wrk) throw new Error('wrk is not installed: apt-get install -y wrk (see docs/benchmark.md)');
  log(`bench: sections ${RUN_SECTIONS.join(', ')}${ONLY ? ' (--only)' : ''}`);

  /** With --only, the other section's figures of the last run in OUT are kept. */
  /** @type {any} */
  let previous;
  if (ONLY && existsSync(path.join(OUT, 'results.json'))) {
    try {
      previous = JSON.parse(readFileSync(path.join(OUT, 'results.json'), 'utf8'));
    } catch (err) {
      log(`bench: could not read the previous ${path.join(OUT, 'results.json')} (${err instanceof Error ? err.message : String(err)}): its other sections are not kept`);
    }
  }

  /** @type {any} */
  let results;
  if (RUN_SECTIONS.includes('main')) {
    results = await mainSection(m, t0);
    results.builds = builds.slice();
  } else if (previous?.runs) {
    const { frameworks: _old, tls: _oldTls, http2: _oldH2, static: _oldStatic, ...rest } = previous;
    results = { ...rest, kept: true };
    log(`bench: keeping the routes, startup and idle-memory figures of the run of ${previous.machine?.date ?? '?'} from ${path.relative(process.cwd(), path.join(OUT, 'results.json'))}`);
  } else {
    results = { machine: m };
  }

  if (RUN_SECTIONS.includes('frameworks')) {
    const tf = Date.now();
    if (os.cpus().length < 2) throw new Error('the frameworks section runs per core and needs 2 CPUs (servers on CPU 0, wrk on CPU 1)');
    if (!tryRun('taskset', ['-c', '0', 'true']).ok) throw new Error('taskset (util-linux) is needed for the frameworks section');
    const fw = await runFrameworks({
      ROOT, BIN, tmpDir: path.dirname(ACCESS_LOG), smoke: SMOKE, connections: CONNECTIONS, ...FW,
      startServer, runWrk, runTool, request, launch, adopt, killAdopted, emergencyStops, currentBuild, log, sleep, median, foreignWrkNow,
    });
    results.frameworks = { ...fw, machine: m, builds: builds.slice(), wallSeconds: (Date.now() - tf) / 1000 };
  } else if (previous?.frameworks) {
    results.frameworks = { ...previous.frameworks, kept: true };
    log(`bench: keeping the frameworks figures of the run of ${previous.frameworks.machine?.date ?? '?'}`);
  }
  if (RUN_SECTIONS.includes('tls')) {
    if (os.cpus().length < 2) throw new Error('the tls section runs per core and needs 2 CPUs (servers on CPU 0, wrk on CPU 1)');
    if (!tryRun('taskset', ['-c', '0', 'true']).ok) throw new Error('taskset (util-linux) is needed for the tls section');
    if (!tryRun('openssl', ['version']).ok) throw new Error('openssl is needed for the tls section (apt-get install openssl)');
    const tls = await runTls({ ROOT, BIN, smoke: SMOKE, connections: CONNECTIONS, ...TLS, startServer, runWrk, currentBuild, log, median, foreignWrkNow });
    results.tls = { ...tls, machine: m, builds: builds.slice() };
  } else if (previous?.tls) {
    results.tls = { ...previous.tls, kept: true };
    log(`bench: keeping the tls figures of the run of ${previous.tls.date ?? '?'}`);
  }

  // Without h2load a full run goes on without its HTTP/2 section (asked for by name, it is an error).
  const h2Skipped = RUN_SECTIONS.includes('http2') && !ONLY?.includes('http2') && !haveH2load();
  if (h2Skipped) log('bench: h2load is not installed (apt-get install -y nghttp2-client): the HTTP/2 section is skipped');
  if (RUN_SECTIONS.includes('http2') && !h2Skipped) {
    const th = Date.now();
    if (os.cpus().length < 2) throw new Error('the HTTP/2 section runs per core and needs 2 CPUs (servers on CPU 0, h2load on CPU 1)');
    const h2 = await runHttp2({
      BIN, smoke: SMOKE, ...H2, startServer, runTool, currentBuild, log, median, foreignWrkNow,
    });
    results.http2 = { ...h2, machine: m, wallSeconds: (Date.now() - th) / 1000 };
  } else if (previous?.http2) {
    results.http2 = { ...previous.http2, kept: true };
    log(`bench: keeping the HTTP/2 figures of the run of ${previous.http2.date ?? '?'}`);
  }
  if (RUN_SECTIONS.includes('static')) {
    if (os.cpus().length < 2) throw new Error('the static section runs per core and needs 2 CPUs (servers on CPU 0, wrk on CPU 1)');
    if (!tryRun('taskset', ['-c', '0', 'true']).ok) throw new Error('taskset (util-linux) is needed for the static section');
    const st = await runStatic({ ROOT, BIN, smoke: SMOKE, connections: CONNECTIONS, ...STATIC, startServer, runWrk, currentBuild, log, median, foreignWrkNow });
    results.static = { ...st, machine: m, builds: builds.slice() };
  } else if (previous?.static) {
    results.static = { ...previous.static, kept: true };
    log(`bench: keeping the static figures of the run of ${previous.static.date ?? '?'}`);
  }
  results.totalWallSeconds = (Date.now() - t0) / 1000;

  mkdirSync(OUT, { recursive: true });
  // The figures first: a report that throws must not lose the run.
  writeFileSync(path.join(OUT, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  const { markdown, svg } = report(results, { median });
  const wrote = ['RESULTS.md', 'results.json'];
  if (svg) {
    writeFileSync(path.join(OUT, 'results.svg'), svg);
    wrote.push('results.svg');
  }
  writeFileSync(path.join(OUT, 'RESULTS.md'), markdown);
  log(`bench: done in ${results.totalWallSeconds.toFixed(0)} s; wrote ${wrote.map((f) => path.relative(process.cwd(), path.join(OUT, f))).join(', ')}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    log(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    killEverything();
    process.exit(1);
  },
);
