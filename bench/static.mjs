// @ts-check
/**
 * The benchmark's static files and compression section (bench/run.mjs
 * runs it after HTTP/2; `node bench/run.mjs --only static` runs only it;
 * `--smoke` makes it one round of one second), per core: every server
 * pinned to CPU 0 (`taskset -c 0`, master and workers alike), wrk pinned
 * to CPU 1 (`-t1 -c50`).
 *
 * Static files: the same two files, 1 KiB of text and 1 MiB of bytes, in
 * a temporary directory, served by
 * - `gwserver -w 1` with `staticFiles()` and its defaults
 *   (bench/servers/static.mjs);
 * - the same with `staticFiles(root, { blocking: true })`;
 * - nginx (Debian's), one worker, `sendfile on` as Debian's own
 *   nginx.conf has it, no access log (gwserver's is off by default);
 * - nginx with `sendfile off`, which reads the file into user space and
 *   writes it, as gwserver must (Node has no sendfile).
 * The servers take turns round by round (gwserver, nginx, nginx without
 * sendfile, gwserver, ...), one `duration` s wrk run each, after a warm-up
 * of each. Each run also reads the CPU time the server's processes used
 * (/proc, bench/lib.mjs's treeCpuUs), so the section gives requests per
 * second and requests per CPU-second; the ratios are medians of the
 * per-round ratios, with their min and max.
 *
 * Compression's cost: `gwserver -w 1` answering a 10 KiB HTML page
 * (an array body) without compress() (`/plain`), and through compress()
 * (`/compressed`) to wrk sending `Accept-Encoding: gzip`, `br`, or none;
 * the cost is the CPU time per request over the plain page's.
 *
 * nginx is needed for the static comparison (`apt-get install nginx`);
 * without it a full run skips this part and says so.
 *
 * @module
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { rssKiB, treeCpuUs } from './lib.mjs';

const KiB = 1024;
const MiB = 1024 * KiB;

const FILES = [
  { id: '1k', name: 'small.txt', size: KiB, title: '1 KiB text file' },
  { id: '1m', name: 'big.bin', size: MiB, title: '1 MiB file' },
];

const COMPRESSION = [
  { id: 'off', title: 'no compress(): /plain', path: '/plain', ae: undefined },
  { id: 'identity', title: 'compress(), client accepts nothing', path: '/compressed', ae: undefined },
  { id: 'gzip', title: 'compress(), Accept-Encoding: gzip (level 6)', path: '/compressed', ae: 'gzip' },
  { id: 'br', title: 'compress(), Accept-Encoding: br (quality 4)', path: '/compressed', ae: 'br' },
];

/** The nginx binary: on PATH, or Debian's /usr/sbin (not on a non-root user's PATH). */
export function findNginx() {
  for (const d of [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin']) {
    try {
      accessSync(path.join(d, 'nginx'), constants.X_OK);
      return path.join(d, 'nginx');
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** The bytes of a file of the section: text for the small one, a pattern for the big one. */
function content(/** @type {{ size: number; name: string }} */ f) {
  if (f.name.endsWith('.txt')) return Buffer.from('static file benchmark line\n'.repeat(Math.ceil(f.size / 27)).slice(0, f.size));
  const b = Buffer.alloc(f.size);
  for (let i = 0; i < b.length; i++) b[i] = (i * 31) & 0xff;
  return b;
}

/**
 * An nginx.conf for one port, everything in `dir`, one worker, in the
 * foreground; as root its worker runs as the bench's own user, who can
 * enter the mkdtemp directory (0700).
 */
function nginxConf(/** @type {string} */ dir, /** @type {string} */ root, /** @type {number} */ port, /** @type {boolean} */ sendfile) {
  const p = (/** @type {string} */ n) => path.join(dir, n);
  return [
    'daemon off;', 'master_process on;', 'worker_processes 1;',
    ...(process.getuid?.() === 0 ? [`user ${os.userInfo().username};`] : []),
    `pid ${p(`nginx-${port}.pid`)};`, `error_log ${p('error.log')} warn;`,
    'events { worker_connections 1024; }',
    'http {',
    '  access_log off;',
    `  sendfile ${sendfile ? 'on' : 'off'};`,
    '  tcp_nopush on;',
    '  keepalive_requests 100000;',
    '  types { text/plain txt; application/octet-stream bin; }',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${p(t)};`),
    `  server { listen 127.0.0.1:${port}; root ${root}; }`,
    '}', '',
  ].join('\n');
}

/**
 * GET on a fresh connection; the body as bytes.
 * @param {number} port @param {string} p @param {Record<string, string>} [headers]
 * @returns {Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>}
 */
function get(port, p, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false, headers }, (res) => {
      /** @type {Buffer[]} */
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
  });
}

/** Polls until the server answers (nginx says nothing when it is ready). */
async function answering(/** @type {number} */ port, /** @type {string} */ p, /** @type {() => boolean} */ gone) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      return await get(port, p);
    } catch (err) {
      if (gone() || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * Runs the section.
 * @param {any} h what bench/run.mjs lends: its process handling, wrk, settings
 */
export async function runStatic(h) {
  const { BIN, connections, rounds, duration, warmup, log, median } = h;
  const t0 = Date.now();
  const load1Before = os.loadavg()[0] ?? NaN;
  const nginx = findNginx();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gwserver-bench-static-'));
  const root = path.join(dir, 'public');
  spawnSync('mkdir', ['-p', root]);
  for (const f of FILES) writeFileSync(path.join(root, f.name), content(f));
  /** @type {string[]} */
  const notes = [];
  const binRel = path.relative(h.ROOT, BIN);
  const gwDef = (/** @type {boolean} */ blocking) => ({
    id: blocking ? 'gwserver-blocking' : 'gwserver', title: `gwserver -w 1, staticFiles(${blocking ? 'root, { blocking: true }' : ''})`,
    // env(1) hands the settings over: the exec chain (taskset, env, node) keeps one pid.
    command: (/** @type {number} */ port) => ['env', `STATIC_ROOT=${root}`, `STATIC_BLOCKING=${blocking ? 1 : 0}`, process.execPath, binRel, '-b', `127.0.0.1:${port}`, '-w', '1', 'bench/servers/static.mjs:application'],
    ready: (/** @type {string[]} */ lines) => lines.some((l) => l.includes('"msg":"listening"')),
    singleProcess: () => false,
  });
  const nginxDef = (/** @type {boolean} */ sendfile) => ({
    id: sendfile ? 'nginx' : 'nginx-nosendfile', title: `nginx, 1 worker, sendfile ${sendfile ? 'on' : 'off'}`,
    command: (/** @type {number} */ port) => {
      const conf = path.join(dir, `nginx-${port}.conf`);
      writeFileSync(conf, nginxConf(dir, root, port, sendfile));
      return [/** @type {string} */ (nginx), '-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')];
    },
    ready: () => false,
    singleProcess: () => false,
  });
  const servers = [gwDef(false), gwDef(true), ...(nginx ? [nginxDef(true), nginxDef(false)] : [])];
  if (!nginx) {
    notes.push('nginx is not installed (apt-get install -y nginx): only gwserver was measured on the files.');
    log(`bench: static: ${notes.at(-1)}`);
  }
  /** @type {Map<string, any>} */
  const up = new Map();
  /** @type {any[]} */
  const runs = [];
  /** @type {any[]} */
  const compression = [];
  const u = (/** @type {string} */ id) => up.get(id);
  const wrkCmd = (/** @type {number} */ port, /** @type {string} */ p, /** @type {number} */ seconds, /** @type {string | undefined} */ ae) => [
    'taskset', '-c', '1', 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', ...(ae ? ['-H', `Accept-Encoding: ${ae}`] : []), `http://127.0.0.1:${port}${p}`,
  ];
  /** One measured wrk run with the server's CPU time over it. */
  const measure = async (/** @type {any} */ srv, /** @type {string[]} */ cmd) => {
    const load1 = os.loadavg()[0] ?? NaN;
    const foreign0 = h.foreignWrkNow();
    const cpu0 = treeCpuUs(srv.pid);
    const res = await h.runWrk(cmd, duration);
    const cpuUs = treeCpuUs(srv.pid) - cpu0;
    return { ...res, cpuUs, cpuUsPerRequest: res.requests > 0 ? cpuUs / res.requests : NaN, load1, foreignWrk: Math.max(foreign0, h.foreignWrkNow()), wrkCmd: cmd.join(' ').replace(/127\.0\.0\.1:\d+/, '127.0.0.1:PORT') };
  };
  try {
    log(`bench: static, per core: ${rounds} round(s) x ${servers.length} server(s) x ${FILES.length} files, ${duration} s each (alternating), then compression: ${rounds} round(s) x ${COMPRESSION.length} variants`);
    for (const s of servers) {
      const isGw = s.id.startsWith('gwserver');
      const srv = await h.startServer(s, 1, { cpu: '0', wait: isGw });
      up.set(s.id, { s, srv, cmd: '' });
      for (const f of FILES) {
        const r = await answering(srv.port, `/${f.name}`, () => srv.lines.length > 0 && !isGw);
        if (r.status !== 200 || !r.body.equals(content(f))) throw new Error(`${s.title}: GET /${f.name} answered ${r.status} with ${r.body.length} bytes`);
      }
      u(s.id).cmd = srv.cmd.join(' ').replaceAll(process.execPath, 'node').replaceAll(String(srv.port), 'PORT').replaceAll(dir, 'TMP');
      log(`  static ${s.id}: ${u(s.id).cmd}`);
    }
    if (warmup > 0) for (const [, x] of up) for (const f of FILES) await h.runWrk(wrkCmd(x.srv.port, `/${f.name}`, warmup, undefined), warmup);
    for (let round = 1; round <= rounds; round++) {
      for (const f of FILES) {
        for (const [id, x] of up) {
          const build = h.currentBuild(`static round ${round} ${f.id} ${id}`);
          const r = await measure(x.srv, wrkCmd(x.srv.port, `/${f.name}`, duration, undefined));
          runs.push({ server: id, file: f.id, round, build, ...r });
          const errs = r.socketErrors.connect + r.socketErrors.read + r.socketErrors.write + r.socketErrors.timeout + r.non2xx;
          log(`  static round ${round}/${rounds} ${f.id} ${id.padEnd(16)} ${r.rps.toFixed(0).padStart(7)} req/s  ${r.cpuUsPerRequest.toFixed(0).padStart(5)} µs CPU/req  p99 ${r.p99.toFixed(2)} ms  errors ${errs}  (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
        }
      }
    }
    // Compression: the same gwserver, its /plain and /compressed routes.
    const g = up.get('gwserver').srv;
    for (const v of COMPRESSION) {
      const r = await get(g.port, v.path, v.ae ? { 'Accept-Encoding': v.ae } : {});
      const body = v.ae === 'gzip' ? zlib.gunzipSync(r.body) : v.ae === 'br' ? zlib.brotliDecompressSync(r.body) : r.body;
      if (r.status !== 200 || (r.headers['content-encoding'] ?? 'identity') !== (v.ae ?? 'identity') || body.length < 10_000) {
        throw new Error(`gwserver ${v.path} with Accept-Encoding ${v.ae ?? '(none)'} answered ${r.status}, Content-Encoding ${r.headers['content-encoding']}, ${body.length} bytes`);
      }
      if (v.id === 'off') compression.push({ id: 'sizes', identity: r.body.length });
      else if (v.ae) compression.find((x) => x.id === 'sizes')[v.ae] = r.body.length;
      if (warmup > 0) await h.runWrk(wrkCmd(g.port, v.path, warmup, v.ae), warmup);
    }
    for (let round = 1; round <= rounds; round++) {
      for (const v of COMPRESSION) {
        const build = h.currentBuild(`compression round ${round} ${v.id}`);
        const r = await measure(g, wrkCmd(g.port, v.path, duration, v.ae));
        compression.push({ variant: v.id, round, build, ...r });
        log(`  compression round ${round}/${rounds} ${v.id.padEnd(8)} ${r.rps.toFixed(0).padStart(7)} req/s  ${r.cpuUsPerRequest.toFixed(0).padStart(5)} µs CPU/req  p99 ${r.p99.toFixed(2)} ms  errors ${r.non2xx + r.socketErrors.read}  (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
      }
    }
  } finally {
    for (const [, x] of up) {
      const rss = x.srv.workerPids().map(rssKiB).filter((/** @type {number | undefined} */ v) => v !== undefined);
      x.rssKiB = rss.length ? Math.max(...rss) : null;
      await x.srv.stop();
    }
    rmSync(dir, { recursive: true, force: true });
  }

  /** Per-round ratios b / a of a metric, for one file. */
  const ratios = (/** @type {string} */ file, /** @type {string} */ a, /** @type {string} */ b, /** @type {(r: any) => number} */ metric) => {
    /** @type {number[]} */
    const out = [];
    for (let round = 1; round <= rounds; round++) {
      const ra = runs.find((r) => r.file === file && r.server === a && r.round === round);
      const rb = runs.find((r) => r.file === file && r.server === b && r.round === round);
      if (ra && rb && metric(ra) > 0) out.push(metric(rb) / metric(ra));
    }
    return { median: median(out), min: Math.min(...out), max: Math.max(...out), perRound: out };
  };
  const perCpuSecond = (/** @type {any} */ r) => (r.cpuUs > 0 ? r.requests / (r.cpuUs / 1e6) : NaN);
  const comparisons = [];
  for (const f of FILES) {
    for (const gw of ['gwserver', 'gwserver-blocking']) {
      for (const other of ['nginx', 'nginx-nosendfile']) {
        if (!up.has(other)) continue;
        comparisons.push({ file: f.id, a: other, b: gw, rps: ratios(f.id, other, gw, (r) => r.rps), perCpu: ratios(f.id, other, gw, perCpuSecond) });
      }
    }
    comparisons.push({ file: f.id, a: 'gwserver', b: 'gwserver-blocking', rps: ratios(f.id, 'gwserver', 'gwserver-blocking', (r) => r.rps), perCpu: ratios(f.id, 'gwserver', 'gwserver-blocking', perCpuSecond) });
  }
  const cost = COMPRESSION.map((v) => {
    const rs = compression.filter((x) => x.variant === v.id);
    return { id: v.id, title: v.title, rps: median(rs.map((x) => x.rps)), cpuUsPerRequest: median(rs.map((x) => x.cpuUsPerRequest)), p99: median(rs.map((x) => x.p99)) };
  });
  const off = cost.find((c) => c.id === 'off');
  for (const c of cost) Object.assign(c, { extraCpuUs: off ? c.cpuUsPerRequest - off.cpuUsPerRequest : NaN, rpsRatio: off && off.rps > 0 ? c.rps / off.rps : NaN });
  return {
    date: new Date(t0).toISOString(),
    load1Before,
    wallSeconds: (Date.now() - t0) / 1000,
    config: { rounds, duration, warmup, connections, serverCpu: '0', wrkCpu: '1', smoke: h.smoke, nginx: nginx ?? null },
    files: FILES.map(({ id, title, size }) => ({ id, title, size })),
    servers: [...up.values()].map((x) => ({ id: x.s.id, title: x.s.title, cmd: x.cmd, rssKiB: x.rssKiB })),
    summary: FILES.map((f) => ({ file: f.id, servers: [...up.keys()].map((id) => {
      const rs = runs.filter((r) => r.file === f.id && r.server === id);
      return { server: id, rps: median(rs.map((r) => r.rps)), cpuUsPerRequest: median(rs.map((r) => r.cpuUsPerRequest)), p99: median(rs.map((r) => r.p99)) };
    }) })),
    comparisons,
    compression: { variants: cost, sizes: compression.find((x) => x.id === 'sizes') ?? null, runs: compression.filter((x) => x.variant !== undefined) },
    runs,
    notes,
  };
}

const fmt = (/** @type {number} */ x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const int = (/** @type {number} */ x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-');

/**
 * The static files and compression section of RESULTS.md.
 * @param {any} s results.static
 */
export function staticMarkdown(s) {
  const c = s.config;
  const L = ['## Static files and compression', ''];
  L.push(`Run on ${s.date}${s.kept ? ' (**kept from an earlier run**: the last run did not include this section)' : ''}${c.smoke ? ' (**smoke run: the numbers are not meaningful**)' : ''}, wall time ${int(s.wallSeconds)} s. Per core: every server pinned to CPU ${c.serverCpu} (master and worker alike), wrk \`-t1 -c${c.connections}\` pinned to CPU ${c.wrkCpu}; ${c.rounds} round(s) of ${c.duration} s per server and file, the servers alternating, after ${c.warmup} s of warm-up each. CPU µs per request is the CPU time of the server's processes (/proc) over the run divided by its requests. Load average (1 min) ${fmt(s.load1Before)} before the section.`, '');
  L.push('| file | server | req/s (median) | CPU µs/request | p99 ms |', '| --- | --- | ---: | ---: | ---: |');
  for (const f of s.files) {
    for (const row of s.summary.find((/** @type {any} */ x) => x.file === f.id)?.servers ?? []) {
      L.push(`| ${f.title} | ${s.servers.find((/** @type {any} */ x) => x.id === row.server)?.title ?? row.server} | ${int(row.rps)} | ${int(row.cpuUsPerRequest)} | ${fmt(row.p99)} |`);
    }
  }
  L.push('');
  if (s.comparisons.length > 0) {
    L.push('| file | B / A | req/s (median, min-max) | requests per CPU-second (median, min-max) |', '| --- | --- | --- | --- |');
    for (const x of s.comparisons) {
      L.push(`| ${s.files.find((/** @type {any} */ f) => f.id === x.file)?.title} | ${x.b} / ${x.a} | **${fmt(x.rps.median)}** (${fmt(x.rps.min)}-${fmt(x.rps.max)}) | ${fmt(x.perCpu.median)} (${fmt(x.perCpu.min)}-${fmt(x.perCpu.max)}) |`);
    }
    L.push('');
  }
  const z = s.compression;
  L.push(`Compression's cost on a ${z.sizes ? `${(z.sizes.identity / 1024).toFixed(1)} KiB HTML page (gzip ${z.sizes.gzip ?? '-'} B, br ${z.sizes.br ?? '-'} B)` : '10 KiB HTML page'}, the same gwserver -w 1:`, '');
  L.push('| variant | req/s (median) | / no compress() | CPU µs/request | added CPU µs/request | p99 ms |', '| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const v of z.variants) L.push(`| ${v.title} | ${int(v.rps)} | ${fmt(v.rpsRatio)} | ${int(v.cpuUsPerRequest)} | ${v.id === 'off' ? '-' : int(v.extraCpuUs)} | ${fmt(v.p99)} |`);
  L.push('');
  const foreign = [...s.runs, ...z.runs].filter((/** @type {any} */ r) => r.foreignWrk > 0).length;
  if (foreign > 0) L.push(`- ${foreign} runs had another wrk running on the machine: noisy.`);
  for (const n of s.notes ?? []) L.push(`- ${n}`);
  L.push('', '```');
  for (const sv of s.servers) L.push(`# ${sv.title}`, sv.cmd);
  const first = s.runs[0];
  if (first) L.push('# wrk (static)', first.wrkCmd);
  L.push('```', '');
  return L;
}
