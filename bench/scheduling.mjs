// @ts-check
/**
 * Round-robin versus OS scheduling of accepts (`--scheduling`), measured
 * with real processes: the built CLI (dist/cli/bin.js; run `npm run build`
 * first) and `wrk` (Debian's package).
 *
 *     node bench/scheduling.mjs [--rounds 3] [--duration 5] [--connections 50] [--workers 2]
 *
 * 1. Throughput: `gwserver -w 2 examples/hello.js:application`, alternating
 *    os / round-robin for each round, each server on a fresh port, first
 *    with keep-alive connections (wrk's default), then with a fresh
 *    connection per request (`Connection: close`), where the accept path
 *    is what is measured. One unmeasured warm-up second before each run.
 * 2. A stuck worker: `-w 2 --timeout 10 test/fixtures/apps/stuck.mjs`; one
 *    request to /spin blocks a worker for good; once it spins, 20
 *    sequential requests on fresh connections, each given 3 s to answer
 *    (then the next one starts; a late one is still watched up to 15 s).
 *
 * Prints markdown: machine, per-round figures and medians.
 *
 * @module
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { childPids, freePort } from './lib.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.join(ROOT, 'dist/cli/bin.js');
const MODES = /** @type {const} */ (['os', 'round-robin']);

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const ROUNDS = arg('rounds', 3);
const DURATION = arg('duration', 5);
const CONNECTIONS = arg('connections', 50);
const WORKERS = arg('workers', 2);
const STUCK_REQUESTS = arg('stuck-requests', 20);
const CLIENT_TIMEOUT_MS = 3000;
const LATE_WATCH_MS = 15_000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** utime + stime of a process, in clock ticks. */
function cpuTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/** Starts gwserver; resolves once it logged "listening". */
async function startServer(mode, target, extra = []) {
  const port = await freePort();
  const proc = spawn(process.execPath, [BIN, '-b', `127.0.0.1:${port}`, '-w', String(WORKERS), '--scheduling', mode, ...extra, target], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const log = [];
  let buf = '';
  proc.stderr.setEncoding('utf8');
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gwserver (${mode}) did not listen within 15 s:\n${log.join('\n')}`)), 15_000);
    proc.stderr.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        log.push(line);
        if (line.includes('"msg":"listening"')) {
          clearTimeout(timer);
          resolve(undefined);
        }
      }
    });
    void exited.then(() => reject(new Error(`gwserver (${mode}) exited:\n${log.join('\n')}`)));
  });
  const stop = async () => {
    const workers = childPids(proc.pid ?? 0);
    proc.kill('SIGTERM');
    const killer = setTimeout(() => {
      for (const pid of [...workers, proc.pid]) {
        try {
          process.kill(/** @type {number} */ (pid), 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
    }, 5000);
    await exited;
    clearTimeout(killer);
  };
  return { proc, port, log, stop };
}

/** "635.00us" -> 0.635 (ms). */
function toMs(text) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000;
}

function wrk(port, seconds, close) {
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', ...(close ? ['-H', 'Connection: close'] : []), `http://127.0.0.1:${port}/`];
  const out = execFileSync('wrk', args, { encoding: 'utf8' });
  const num = (re) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : 0;
  };
  const lat = (p) => {
    const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out);
    return m ? toMs(m[1]) : NaN;
  };
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requests: num(/(\d+) requests in/),
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    p50: lat(50),
    p99: lat(99),
    errors: errs ? errs.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
  };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

const fmt = (v, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '-');

async function throughput(close) {
  /** @type {Array<{ round: number; mode: string; requests: number; rps: number; p50: number; p99: number; errors: number; non2xx: number; load: number; masterCpu: number; workerCpu: number }>} */
  const rows = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const mode of MODES) {
      const srv = await startServer(mode, 'examples/hello.js:application');
      try {
        wrk(srv.port, 1, close);
        const master = srv.proc.pid ?? 0;
        const workers = childPids(master);
        const ticks = () => ({ master: cpuTicks(master) ?? 0, workers: workers.reduce((a, p) => a + (cpuTicks(p) ?? 0), 0) });
        const load = os.loadavg()[0] ?? 0;
        const before = ticks();
        const r = wrk(srv.port, DURATION, close);
        const after = ticks();
        // CPU time (ms) per 1000 requests: 1 tick = 10 ms.
        const per1k = (t) => (r.requests > 0 ? (t * 10 * 1000) / r.requests : NaN);
        rows.push({ round, mode, ...r, load, masterCpu: per1k(after.master - before.master), workerCpu: per1k(after.workers - before.workers) });
      } finally {
        await srv.stop();
      }
      process.stderr.write(`  ${close ? 'fresh connections' : 'keep-alive'} round ${round} ${mode}: ${fmt(rows.at(-1)?.rps ?? NaN, 0)} req/s\n`);
    }
  }
  return rows;
}

/** One GET on a fresh connection: resolves at the first outcome; `late` settles when the request ends (up to LATE_WATCH_MS). */
function probe(port, urlPath = '/') {
  const t0 = Date.now();
  /** @type {(v: { kind: string; ms: number; body?: string }) => void} */
  let settle = () => undefined;
  const late = new Promise((resolve) => (settle = resolve));
  const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, headers: { Connection: 'close' } }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d) => (body += d));
    res.on('end', () => settle({ kind: res.statusCode === 200 ? 'answered' : `status ${res.statusCode}`, ms: Date.now() - t0, body }));
    res.on('error', (e) => settle({ kind: `error ${e.message}`, ms: Date.now() - t0 }));
  });
  req.setTimeout(LATE_WATCH_MS, () => req.destroy(new Error('no answer')));
  req.on('error', (e) => settle({ kind: `error ${/** @type {NodeJS.ErrnoException} */ (e).code ?? e.message}`, ms: Date.now() - t0 }));
  const first = Promise.race([late, sleep(CLIENT_TIMEOUT_MS).then(() => ({ kind: 'hang', ms: CLIENT_TIMEOUT_MS }))]);
  return { first, late };
}

/** Waits until one of the workers burns a full core: it is stuck in /spin. */
async function stuckWorker(master) {
  const deadline = Date.now() + 5000;
  let last = new Map(childPids(master).map((p) => [p, cpuTicks(p) ?? 0]));
  let hot = new Set();
  while (Date.now() < deadline) {
    await sleep(100);
    const now = new Map(childPids(master).map((p) => [p, cpuTicks(p) ?? 0]));
    // CLK_TCK is 100 on Linux: a process on a full core gains 10 ticks in 100 ms.
    const burning = [...now].filter(([p, t]) => last.has(p) && t - (last.get(p) ?? 0) >= 8).map(([p]) => p);
    const again = burning.find((p) => hot.has(p));
    if (again !== undefined) return again;
    hot = new Set(burning);
    last = now;
  }
  throw new Error('no worker started spinning');
}

async function stuck() {
  const rows = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const mode of MODES) {
      const srv = await startServer(mode, 'test/fixtures/apps/stuck.mjs:application', ['--timeout', '10']);
      try {
        // Both workers warm.
        for (let i = 0; i < 4; i++) await probe(srv.port).first;
        const spin = probe(srv.port, '/spin');
        const victim = await stuckWorker(srv.proc.pid ?? 0);
        const t0 = Date.now();
        const results = [];
        for (let i = 0; i < STUCK_REQUESTS; i++) {
          const p = probe(srv.port);
          const first = await p.first;
          results.push({ first, late: p.late });
        }
        const spanMs = Date.now() - t0;
        const lates = await Promise.all(results.filter((r) => r.first.kind !== 'answered').map((r) => r.late));
        void spin.late;
        const answered = results.filter((r) => r.first.kind === 'answered').length;
        const byVictim = results.filter((r) => r.first.kind === 'answered' && r.first.body === `ok ${victim}`).length;
        const killed = srv.log.some((l) => l.includes('timed out') && l.includes(`"worker_pid":${victim}`));
        rows.push({
          round, mode, answered, hung: results.filter((r) => r.first.kind === 'hang').length,
          failed: results.filter((r) => r.first.kind !== 'answered' && r.first.kind !== 'hang').length,
          byVictim, spanMs, killed,
          later: lates.map((l) => (l.kind === 'answered' ? `answered after ${fmt(l.ms / 1000, 1)} s` : `${l.kind} after ${fmt(l.ms / 1000, 1)} s`)).join('; ') || '-',
        });
      } finally {
        await srv.stop();
      }
      const r = rows.at(-1);
      process.stderr.write(`  stuck worker round ${round} ${mode}: ${r?.answered}/${STUCK_REQUESTS} answered within ${CLIENT_TIMEOUT_MS / 1000} s\n`);
    }
  }
  return rows;
}

function machine() {
  const cpus = os.cpus();
  let wrkVersion = '';
  try {
    execFileSync('wrk', ['-v'], { encoding: 'utf8' });
  } catch (e) {
    wrkVersion = String(/** @type {{ stdout?: string }} */ (e).stdout ?? '').split('\n')[0] ?? '';
  }
  return [
    `- date: ${new Date().toISOString()}`,
    `- machine: ${cpus.length} × ${cpus[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}`,
    `- node ${process.version}; ${wrkVersion.replace(/\s*Copyright.*$/, '').trim() || 'wrk'}`,
    `- gwserver -w ${WORKERS}; wrk -t1 -c${CONNECTIONS} -d${DURATION}s --latency; ${ROUNDS} alternating rounds`,
  ].join('\n');
}

function throughputTable(title, rows) {
  const lines = [
    `### ${title}`,
    '',
    '| round | mode | req/s | p50 ms | p99 ms | master CPU ms / 1k req | workers CPU ms / 1k req | socket errors | non-2xx | load avg (1 min) before |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) lines.push(`| ${r.round} | ${r.mode} | ${fmt(r.rps, 0)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmt(r.masterCpu, 0)} | ${fmt(r.workerCpu, 0)} | ${r.errors} | ${r.non2xx} | ${fmt(r.load, 2)} |`);
  for (const mode of MODES) {
    const m = rows.filter((r) => r.mode === mode);
    const med = (f) => median(m.map(f));
    lines.push(`| **median** | **${mode}** | **${fmt(med((r) => r.rps), 0)}** | **${fmt(med((r) => r.p50))}** | **${fmt(med((r) => r.p99))}** | **${fmt(med((r) => r.masterCpu), 0)}** | **${fmt(med((r) => r.workerCpu), 0)}** | | | |`);
  }
  return lines.join('\n');
}

function stuckTable(rows) {
  const lines = [
    `### A stuck worker (-w ${WORKERS}, --timeout 10, ${STUCK_REQUESTS} fresh connections, ${CLIENT_TIMEOUT_MS / 1000} s client timeout)`,
    '',
    `| round | mode | answered | hung | failed | answered by the stuck worker | time for the ${STUCK_REQUESTS} | what became of the hung ones (watched ${LATE_WATCH_MS / 1000} s) |`,
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of rows) lines.push(`| ${r.round} | ${r.mode} | ${r.answered}/${STUCK_REQUESTS} | ${r.hung} | ${r.failed} | ${r.byVictim} | ${fmt(r.spanMs / 1000, 2)} s | ${r.later} |`);
  for (const mode of MODES) {
    const m = rows.filter((r) => r.mode === mode);
    lines.push(`| **median** | **${mode}** | **${median(m.map((r) => r.answered))}/${STUCK_REQUESTS}** | **${median(m.map((r) => r.hung))}** | | | | |`);
  }
  return lines.join('\n');
}

if (!existsSync(BIN)) {
  process.stderr.write('bench/scheduling.mjs: dist/cli/bin.js is missing: run `npm run build` first\n');
  process.exit(2);
}
process.stderr.write('keep-alive throughput...\n');
const keepAlive = await throughput(false);
process.stderr.write('fresh-connection throughput...\n');
const fresh = await throughput(true);
process.stderr.write('stuck worker...\n');
const stuckRows = await stuck();
process.stdout.write([
  '## Scheduling: os versus round-robin',
  '',
  machine(),
  '',
  throughputTable(`Keep-alive connections (wrk default), hello world`, keepAlive),
  '',
  throughputTable(`A fresh connection per request (wrk -H 'Connection: close'), hello world`, fresh),
  '',
  stuckTable(stuckRows),
  '',
].join('\n'));
