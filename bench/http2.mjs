// @ts-check
/**
 * The benchmark's HTTP/2 section (bench/run.mjs runs it after the
 * frameworks; `node bench/run.mjs --only http2` runs only it; `--smoke`
 * makes it one round of one second): HTTP/2 throughput side by side with
 * HTTP/1.1, per core, with h2load (Debian's nghttp2-client) as the client
 * of both, so that the client's own cost is the same kind.
 *
 * - gwserver over h2c: `gwserver -w 1 --http-protocols h1,h2
 *   --http2-cleartext bench/servers/app.mjs:application`, GET /hello, by
 *   `h2load` (prior knowledge), 5 connections of 10 concurrent streams each
 *   (HTTP/2's way: few connections, many streams);
 * - the same gwserver, the same app and port, over HTTP/1.1: `h2load
 *   --h1`, 50 connections of one request at a time (HTTP/1.1's way, the
 *   same 50 requests in flight);
 * - Node's own `node:http2` server (bench/servers/raw-h2.mjs), the HTTP/2
 *   baseline, by `h2load` as gwserver over h2c.
 *
 * How it runs: every server started once, pinned to CPU 0 (`taskset -c
 * 0`), its answer checked and warmed up (`warmup` s of its own client),
 * then `rounds` rounds in which the variants take turns (A, B, C, A, B,
 * C...), one `duration` s h2load run each (`taskset -c 1 h2load -t1 -D
 * duration`). Every comparison's ratio is the median of its per-round
 * ratios, with their min and max, as in the frameworks section. An h2load
 * run with a failed, errored or timed-out request, or a non-2xx answer,
 * is reported as such (its row says so).
 *
 * @module
 */
import { spawnSync } from 'node:child_process';
import http2 from 'node:http2';
import os from 'node:os';
import { inTurn, rssKiB } from './lib.mjs';

/** What a variant runs and how it is measured. */
const VARIANTS = [
  { id: 'gw-h2', label: 'gwserver -w 1, HTTP/2 (h2c): h2load -c5 -m10', server: 'gw', h1: false, connections: 5, streams: 10 },
  { id: 'gw-h1', label: 'gwserver -w 1, HTTP/1.1: h2load --h1 -c50', server: 'gw', h1: true, connections: 50, streams: 1 },
  { id: 'node-h2', label: "Node's own node:http2 server (h2c): h2load -c5 -m10", server: 'node', h1: false, connections: 5, streams: 10 },
];

const COMPARE = [
  { a: 'node-h2', b: 'gw-h2', title: "HTTP/2, GET /hello: Node's node:http2 / gwserver -w 1" },
  { a: 'gw-h1', b: 'gw-h2', title: 'gwserver -w 1, GET /hello: HTTP/1.1 / HTTP/2' },
];

/** Whether h2load is installed. */
export function haveH2load() {
  return spawnSync('h2load', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * h2load's figures from its output.
 * @param {string} out
 */
export function parseH2load(out) {
  const rps = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out);
  const req = /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const lat = /time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)/.exec(out);
  if (rps === null || req === null || codes === null) throw new Error(`cannot read h2load's output:\n${out.split('\n').slice(-12).join('\n')}`);
  const ms = (/** @type {string | undefined} */ s) => {
    if (s === undefined) return NaN;
    const m = /^([\d.]+)(us|ms|s)$/.exec(s);
    if (m === null) return NaN;
    return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
  };
  return {
    rps: Number(rps[1]), total: Number(req[1]), done: Number(req[2]), succeeded: Number(req[3]),
    failed: Number(req[4]), errored: Number(req[5]), timeout: Number(req[6]),
    non2xx: Number(codes[2]) + Number(codes[3]) + Number(codes[4]),
    meanMs: ms(lat?.[3]), maxMs: ms(lat?.[2]),
  };
}

/**
 * Runs the section.
 * @param {any} h what bench/run.mjs lends: its process handling and settings
 */
export async function runHttp2(h) {
  const { BIN, rounds, duration, warmup, log, median } = h;
  if (!haveH2load()) throw new Error('h2load is not installed: apt-get install -y nghttp2-client (see docs/benchmark.md)');
  const t0 = Date.now();
  const load1Before = os.loadavg()[0] ?? NaN;
  log(`bench: HTTP/2, per core: ${rounds} round(s) x ${VARIANTS.length} runs of ${duration} s (alternating), ${warmup} s warm-up of each`);
  /** @type {any[]} */
  const runs = [];
  /** @type {Map<string, any>} */
  const servers = new Map();
  const serverDefs = {
    gw: {
      id: 'gwserver-h2c', title: 'gwserver',
      command: (/** @type {number} */ port) => ['node', BIN, '-b', `127.0.0.1:${port}`, '-w', '1', '--http-protocols', 'h1,h2', '--http2-cleartext', 'bench/servers/app.mjs:application'],
      ready: (/** @type {string[]} */ lines) => lines.some((l) => l.includes('"msg":"listening"')),
      singleProcess: () => false,
    },
    node: {
      id: 'node-http2', title: 'node:http2',
      command: (/** @type {number} */ port) => ['node', 'bench/servers/raw-h2.mjs', '--port', String(port)],
      ready: (/** @type {string[]} */ lines) => lines.some((l) => l.includes('"msg":"listening"')),
      singleProcess: () => true,
    },
  };
  const h2loadCmd = (/** @type {typeof VARIANTS[number]} */ v, /** @type {number} */ port, /** @type {number} */ seconds) => [
    'taskset', '-c', '1', 'h2load', '-t1', `-c${v.connections}`, `-m${v.streams}`, ...(v.h1 ? ['--h1'] : []), `-D${seconds}`, `http://127.0.0.1:${port}/hello`,
  ];
  const runH2load = async (/** @type {string[]} */ cmd, /** @type {number} */ seconds) => {
    const { code, signal, out } = await h.runTool(cmd, 'h2load', (seconds + 30) * 1000);
    if (code !== 0) throw new Error(`h2load failed (${code ?? signal}): ${out.split('\n').slice(-8).join('\n')}`);
    return parseH2load(out);
  };
  try {
    for (const [key, def] of Object.entries(serverDefs)) {
      const srv = await h.startServer(def, 1, { cpu: '0' });
      servers.set(key, srv);
      await checkHello(srv.port, key === 'gw');
      log(`  http2 ${key}: port ${srv.port}: ${srv.cmd.join(' ').replace(/^\S*node /, 'node ').replaceAll(String(srv.port), 'PORT')}`);
    }
    if (warmup > 0) {
      for (const v of VARIANTS) await runH2load(h2loadCmd(v, servers.get(v.server).port, warmup), warmup);
    }
    for (let round = 1; round <= rounds; round++) {
      for (const v of inTurn(VARIANTS, round)) {
        const port = servers.get(v.server).port;
        const load1 = os.loadavg()[0] ?? NaN;
        const foreign0 = h.foreignWrkNow();
        const res = await runH2load(h2loadCmd(v, port, duration), duration);
        const foreignWrk = Math.max(foreign0, h.foreignWrkNow());
        const build = h.currentBuild(`http2 round ${round} ${v.id}`);
        runs.push({ variant: v.id, round, ...res, load1, foreignWrk, build });
        const errs = res.failed + res.errored + res.timeout + res.non2xx;
        log(`  h2 round ${round}/${rounds} ${v.id.padEnd(8)} ${res.rps.toFixed(0).padStart(7)} req/s  mean ${res.meanMs.toFixed(2)} ms  errors ${errs}  (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
      }
    }
  } finally {
    for (const [, srv] of servers) {
      const rss = srv.workerPids().map(rssKiB).filter((/** @type {number | undefined} */ x) => x !== undefined);
      srv.rssKiB = rss.length ? Math.max(...rss) : null;
      await srv.stop();
    }
  }
  const comparisons = COMPARE.map((c) => {
    const ratios = [];
    for (let round = 1; round <= rounds; round++) {
      const a = runs.find((r) => r.variant === c.a && r.round === round);
      const b = runs.find((r) => r.variant === c.b && r.round === round);
      if (a && b && a.rps > 0) ratios.push(b.rps / a.rps);
    }
    return { ...c, ratios, ratio: ratios.length ? median(ratios) : NaN, min: Math.min(...ratios), max: Math.max(...ratios) };
  });
  return {
    date: new Date(t0).toISOString(),
    load1Before,
    config: { rounds, duration, warmup, serverCpu: '0', clientCpu: '1', smoke: h.smoke },
    variants: VARIANTS.map((v) => ({ ...v, rssKiB: servers.get(v.server)?.rssKiB ?? null })),
    comparisons, runs,
  };
}

/** GET /hello over HTTP/2 (and, for gwserver, the same over HTTP/1.1 is h2load --h1's first request) answers "Hello world!". */
async function checkHello(/** @type {number} */ port, /** @type {boolean} */ _gw) {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const body = await new Promise((resolve, reject) => {
      session.once('error', reject);
      const s = session.request({ ':path': '/hello' });
      let b = '';
      s.setEncoding('utf8');
      s.on('data', (/** @type {string} */ d) => (b += d));
      s.on('end', () => resolve(b));
      s.on('error', reject);
    });
    if (body !== 'Hello world!') throw new Error(`GET /hello over HTTP/2 on port ${port} answered ${JSON.stringify(body)}`);
  } finally {
    session.close();
  }
}

/**
 * The HTTP/2 section of RESULTS.md.
 * @param {any} r results.http2
 * @param {(xs: number[]) => number} median
 */
export function http2Markdown(r, median) {
  const L = [];
  L.push('## HTTP/2 (h2c) beside HTTP/1.1', '');
  if (r.kept) L.push(`These figures are kept from the run of ${r.date}.`, '');
  L.push(`Per core: every server pinned to CPU 0, h2load (\`-t1\`) pinned to CPU 1; ${r.config.rounds} round(s) of ${r.config.duration} s per variant, alternating, after ${r.config.warmup} s of warm-up each${r.config.smoke ? ' (**smoke run**: too short to compare)' : ''}. The app is bench/servers/app.mjs's GET /hello, the baseline bench/servers/raw-h2.mjs. HTTP/2 runs use 5 connections of 10 concurrent streams, HTTP/1.1 runs 50 connections: the same 50 requests in flight.`, '');
  L.push('| variant | req/s (median) | mean latency (ms) | errors | worker RSS after (MiB) |', '| --- | --- | --- | --- | --- |');
  for (const v of r.variants) {
    const mine = r.runs.filter((/** @type {any} */ x) => x.variant === v.id);
    const rps = median(mine.map((/** @type {any} */ x) => x.rps));
    const lat = median(mine.map((/** @type {any} */ x) => x.meanMs));
    const errs = mine.reduce((/** @type {number} */ n, /** @type {any} */ x) => n + x.failed + x.errored + x.timeout + x.non2xx, 0);
    L.push(`| ${v.label} | ${Number.isFinite(rps) ? rps.toFixed(0) : '-'} | ${Number.isFinite(lat) ? lat.toFixed(2) : '-'} | ${errs} | ${v.rssKiB ? (v.rssKiB / 1024).toFixed(1) : '-'} |`);
  }
  L.push('', '| comparison | B / A (median of rounds) | min-max |', '| --- | --- | --- |');
  for (const c of r.comparisons) {
    L.push(`| ${c.title} | ${Number.isFinite(c.ratio) ? c.ratio.toFixed(2) : '-'} | ${c.ratios.length ? `${c.min.toFixed(2)}-${c.max.toFixed(2)}` : '-'} |`);
  }
  L.push('');
  return L;
}
