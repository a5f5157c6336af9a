// @ts-check
/**
 * Server CPU time per request, A/B: a steadier measure than requests/s on a
 * shared, noisy machine, for deciding whether a change to the hot path helps.
 *
 *     node bench/cpu-per-request.mjs [--variants raw,gw,gw+log,gw:bench/out/base/dist]
 *                                    [--routes hello,json,async,echo,echo-iter,echo-read,stream,static-1k,static-1m] [--rounds 5]
 *                                    [--duration 3] [--warmup 1] [--connections 50]
 *                                    [--idle MS] [--rss] [--profile DIR] [--app FILE:NAME]
 *
 * Variants: `raw` (bench/servers/raw.mjs), `own` (the `--app` module's
 * default export on its framework's own server, bench/servers/frameworks/serve.mjs:
 * `--app bench/servers/frameworks/hono.mjs --variants own,gw --routes hello,json`;
 * `own-cluster`: the same in one node:cluster worker, `own-cluster+beat`
 * with a 1 s IPC message as gwserver's heartbeat, `own+node:--flag` with a
 * node option),
 * `gw` (dist/, the current build),
 * `gw:DIR` (another build of gwserver, e.g. an earlier one made with
 * `npx tsc -p tsconfig.build.json --outDir bench/out/base/dist` and a copy
 * of package.json in bench/out/base/; inside the repository, so that it
 * finds node_modules; see docs/benchmark.md). Suffixes add gwserver
 * flags: `+log` the access log (a file in the temp dir, removed after each
 * run) and metrics (`--metrics-bind 127.0.0.1:0`), as the bench's
 * "hello+log" row; `+access` the access log alone, `+null` the access log
 * to /dev/null, `+metrics` metrics alone (`gw+access`, `gw:DIR+log`), `+--flag=value` any
 * other flag (`gw+--send-timeout=0`), `+node:--flag` a node option for
 * the master and (node:cluster passes it on) the worker. Every run starts
 * the server afresh pinned to CPU 0 (`taskset -c 0`, gwserver `-w 1`), wrk
 * pinned to CPU 1 (`wrk -t1 -cN`), warms up, then reads the worker's
 * utime+stime (/proc/PID/stat, every thread) before and after a measured wrk
 * run: CPU µs per request = CPU time / requests wrk completed. The variants
 * alternate within every round; the table gives the median, the minimum
 * and every round.
 *
 * `--app`: the gateway app gwserver serves (default
 * bench/servers/app.mjs:application, the routes raw.mjs has too).
 *
 * `--idle MS`: how long the server idles between ready and the warm-up
 * (default 500): 12000 lets V8's memory reducer run first, as it does on a
 * server that waits for its first traffic.
 *
 * `--rss`: also the worker's idle VmRSS (after the idle time, before any
 * request). `--profile DIR`: run the server with `node --cpu-prof` into
 * DIR/VARIANT/ (gwserver's worker inherits the flag and writes its profile
 * when it exits).
 *
 * @module
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { childPids, freePort, rssKiB, treeCpuUs } from './lib.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: argv } = parseArgs({
  options: {
    variants: { type: 'string', default: 'raw,gw' },
    routes: { type: 'string', default: 'hello' },
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '50' },
    idle: { type: 'string', default: '500' },
    rss: { type: 'boolean', default: false },
    profile: { type: 'string' },
    app: { type: 'string', default: 'bench/servers/app.mjs:application' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (argv.help) {
  process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(2, 10).map((l) => l.replace(/^ \* ?/, '')).join('\n') + '\n');
  process.exit(0);
}
const ROUTES = {
  hello: ['http://127.0.0.1:PORT/hello'],
  stream: ['http://127.0.0.1:PORT/stream'],
  echo: ['-s', path.join(ROOT, 'bench/post.lua'), 'http://127.0.0.1:PORT/echo'],
  'echo-iter': ['-s', path.join(ROOT, 'bench/post.lua'), 'http://127.0.0.1:PORT/echo-iter'],
  'echo-read': ['-s', path.join(ROOT, 'bench/post.lua'), 'http://127.0.0.1:PORT/echo-read'],
  async: ['http://127.0.0.1:PORT/async'],
  json: ['http://127.0.0.1:PORT/json'],
  // bench/servers/static.mjs's files (STATIC_ROOT=DIR in the environment, with small.txt and big.bin in it).
  'static-1k': ['http://127.0.0.1:PORT/small.txt'],
  'static-1m': ['http://127.0.0.1:PORT/big.bin'],
};
/** What raw node:http serves in place of a gateway-only route (its baseline in bench/run.mjs). */
const RAW_BASELINE = { async: 'hello', 'echo-read': 'echo-iter' };

const ACCESS_LOG = path.join(os.tmpdir(), `gwserver-cpu-${process.pid}.log`);

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/** @param {string} v */
function command(v, /** @type {number} */ port) {
  if (v === 'raw') return ['node', 'bench/servers/raw.mjs', '--port', String(port), '--workers', '1'];
  // The app's own server (bench/servers/frameworks/serve.mjs): a framework module's default export.
  if (v === 'own' || v.startsWith('own+node:')) return ['node', ...v.split('+').slice(1).map((x) => x.slice(5)), 'bench/servers/frameworks/serve.mjs', '--app', /** @type {string} */ (argv.app).replace(/:[\w$]*$/, ''), '--port', String(port)];
  // The same in one node:cluster worker: what being a cluster worker costs, without gwserver.
  if (v.startsWith('own-cluster')) return ['node', 'bench/servers/frameworks/serve.mjs', '--cluster', ...(v === 'own-cluster+beat' ? ['--beat', '1000'] : []), '--app', /** @type {string} */ (argv.app).replace(/:[\w$]*$/, ''), '--port', String(port)];
  const [base, ...extras] = v.split('+');
  const dist = base === 'gw' ? 'dist' : /** @type {string} */ (base).slice(3);
  // `+node:--flag`: a node option for the master, which node:cluster gives the worker too.
  const nodeArgs = extras.filter((x) => x.startsWith('node:')).map((x) => x.slice(5));
  const logArgs = extras.filter((x) => !x.startsWith('node:')).flatMap((x) => {
    if (x === 'log') return ['--access-logfile', ACCESS_LOG, '--metrics-bind', '127.0.0.1:0'];
    if (x === 'access') return ['--access-logfile', ACCESS_LOG];
    if (x === 'null') return ['--access-logfile', '/dev/null'];
    if (x === 'metrics') return ['--metrics-bind', '127.0.0.1:0'];
    // Any other gwserver flag, as one word: `gw+--send-timeout=0`.
    if (x.startsWith('--')) return [x];
    throw new Error(`unknown variant suffix +${x} (log, access, null, metrics)`);
  });
  return ['node', ...nodeArgs, path.join(dist, 'cli/bin.js'), '-b', `127.0.0.1:${port}`, '-w', '1', ...logArgs, /** @type {string} */ (argv.app)];
}


function wrk(/** @type {string[]} */ args) {
  const r = spawnSync('taskset', ['-c', '1', 'wrk', '-t1', `-c${argv.connections}`, ...args], { encoding: 'utf8', cwd: ROOT });
  const out = r.stdout ?? '';
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const errors = /Socket errors: (.*)/.exec(out)?.[1];
  if (Number.isNaN(requests)) throw new Error(`wrk failed: ${out}${r.stderr}`);
  return { requests, rps, non2xx, errors };
}

/** @param {string} variant @param {string} route */
async function measure(variant, route) {
  const port = /** @type {number} */ (await freePort());
  const [, ...args] = command(variant, port);
  // node:cluster gives the workers the master's execArgv.
  // raw's single process has no SIGTERM handler: it would die without writing its profile.
  const prof = argv.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(argv.profile, variant.replace(/[^\w.-]+/g, '_'))}`, ...(variant === 'raw' ? ['--import', 'data:text/javascript,process.on("SIGTERM",()=>process.exit(0))'] : [])] : [];
  const proc = spawn('taskset', ['-c', '0', process.execPath, ...prof, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((r) => proc.once('exit', r));
  let log = '';
  const ready = new Promise((resolve, reject) => {
    const on = (/** @type {Buffer} */ d) => {
      log += d;
      if (log.includes('"msg":"listening"')) resolve(undefined);
    };
    proc.stderr.on('data', on);
    proc.stdout.on('data', on);
    void exited.then(() => reject(new Error(`${variant} exited: ${log}`)));
    setTimeout(() => reject(new Error(`${variant} not ready: ${log}`)), 20_000);
  });
  try {
    await ready;
    await sleep(Number(argv.idle));
    const pid = variant === 'raw' || variant === 'own' || variant.startsWith('own+') ? /** @type {number} */ (proc.pid) : childPids(/** @type {number} */ (proc.pid))[0];
    if (pid === undefined) throw new Error('no worker');
    const rss = (rssKiB(pid) ?? NaN) / 1024;
    const served = variant === 'raw' ? (RAW_BASELINE[/** @type {keyof typeof RAW_BASELINE} */ (route)] ?? route) : route;
    const target = ROUTES[/** @type {keyof typeof ROUTES} */ (served)].map((a) => a.replace('PORT', String(port)));
    if (Number(argv.warmup) > 0) wrk([`-d${argv.warmup}s`, ...target]);
    const before = treeCpuUs(pid);
    const w = wrk([`-d${argv.duration}s`, ...target]);
    const used = treeCpuUs(pid) - before;
    return { usPerReq: used / w.requests, rps: w.rps, rss, non2xx: w.non2xx, errors: w.errors };
  } finally {
    // SIGTERM: gwserver's worker exits cleanly (and writes --cpu-prof profiles).
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 8000);
    await exited;
    clearTimeout(t);
    rmSync(ACCESS_LOG, { force: true });
  }
}

const median = (/** @type {number[]} */ xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? /** @type {number} */ (s[m]) : (/** @type {number} */ (s[m - 1]) + /** @type {number} */ (s[m])) / 2;
};

const variants = /** @type {string} */ (argv.variants).split(',');
const routes = /** @type {string} */ (argv.routes).split(',');
/** @type {Record<string, Array<{ usPerReq: number; rps: number; rss: number }>>} */
const results = {};
for (let round = 1; round <= Number(argv.rounds); round++) {
  for (const route of routes) {
    for (const v of variants) {
      const r = await measure(v, route);
      (results[`${route} ${v}`] ??= []).push(r);
      const bad = r.non2xx > 0 || (r.errors !== undefined && !/^connect 0, read 0, write 0, timeout 0/.test(r.errors)) ? `  ERRORS non2xx=${r.non2xx} ${r.errors ?? ''}` : '';
      process.stderr.write(`round ${round} ${route.padEnd(6)} ${v.padEnd(28)} ${r.usPerReq.toFixed(2).padStart(7)} µs/req ${r.rps.toFixed(0).padStart(7)} req/s${argv.rss ? `  idle RSS ${r.rss.toFixed(1)} MiB` : ''}${bad}\n`);
    }
  }
}
// The minimum too: on a shared machine noise only ever adds CPU time. And the
// median of the per-round ratios to the route's first variant: the two ran
// seconds apart, so a slow drift of the machine cancels out.
process.stdout.write(`\n${'route variant'.padEnd(36)} ${'µs/req med'.padStart(10)} ${'min'.padStart(6)} ${'x first'.padStart(7)} ${'req/s med'.padStart(9)}${argv.rss ? ' RSS MiB' : ''}  µs/req per round\n`);
for (const [k, rs] of Object.entries(results)) {
  const us = rs.map((r) => r.usPerReq);
  const first = /** @type {Array<{ usPerReq: number }>} */ (results[`${k.split(' ')[0]} ${variants[0]}`]);
  const paired = median(us.map((u, i) => u / /** @type {{ usPerReq: number }} */ (first[i]).usPerReq));
  process.stdout.write(`${k.padEnd(36)} ${median(us).toFixed(2).padStart(10)} ${Math.min(...us).toFixed(1).padStart(6)} ${paired.toFixed(3).padStart(7)} ${median(rs.map((r) => r.rps)).toFixed(0).padStart(9)}${argv.rss ? ` ${median(rs.map((r) => r.rss)).toFixed(1).padStart(7)}` : ''}  ${us.map((u) => u.toFixed(1)).join(', ')}\n`);
}
