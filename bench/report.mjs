// @ts-check
/**
 * Turns bench/run.mjs's results into RESULTS.md (tables, ratios, targets
 * with PASS/FAIL) and results.svg (hand-written SVG bars, no dependency).
 *
 * @module
 */

import { http2Markdown } from './http2.mjs';
import { staticMarkdown } from './static.mjs';

const SERVER_TITLES = /** @type {Record<string, string>} */ ({ raw: 'raw node:http', gwserver: 'gwserver', gunicorn: 'gunicorn (sync)' });
const SERVER_COLORS = /** @type {Record<string, string>} */ ({ raw: '#8c8c8c', gwserver: '#2f6fd0', gunicorn: '#e08a2c' });
const SHAPE_TITLES = /** @type {Record<string, string>} */ ({ core: 'per core', w2: '-w 2' });
const ROUTE_SHORT = /** @type {Record<string, string>} */ ({ hello: 'hello', async: 'async hello', stream: 'stream 1 MiB', echo: 'echo 64 KiB', 'echo-iter': 'for await 64K', 'echo-read': 'read() 64K', 'hello+log': 'hello + log/metrics' });
/** gwserver / raw requests/s targets per route (issue 4). */
const RAW_TARGET = /** @type {Record<string, number>} */ ({ hello: 0.9, stream: 0.9, echo: 0.85 });
const MiB = 1024;

const fmtInt = (/** @type {number} */ v) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '-');
const fmt = (/** @type {number} */ v, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '-');
// null: a figure measured as NaN (none: raw node:http has no master) that went through results.json.
const mib = (/** @type {number | null} */ kib) => (kib === null ? '-' : fmt(kib / MiB, 1));
const signed = (/** @type {number} */ v) => `${v >= 0 ? '+' : ''}${fmt(v, 1)}`;
const ratio = (/** @type {number} */ a, /** @type {number} */ b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : NaN);
/** Requests per CPU-second of a run's server (NaN for runs that did not record CPU time). */
const perCpu = (/** @type {any} */ r) => (r.cpuUs > 0 ? r.requests / r.cpuUs : NaN);
const verdict = (/** @type {boolean | undefined} */ ok) => (ok === undefined ? '-' : ok ? '**PASS**' : '**FAIL**');
const short = (/** @type {number} */ v) => (!Number.isFinite(v) ? '-' : v >= 10_000 ? `${(v / 1000).toFixed(1)}k` : v >= 1000 ? `${(v / 1000).toFixed(2)}k` : v.toFixed(0));
const esc = (/** @type {string} */ s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * @param {any} results what bench/run.mjs collected
 * @param {{ median: (xs: number[]) => number }} h
 */
export function report(results, { median }) {
  if (!results.runs) return { markdown: frameworksOnly(results, median), svg: undefined, targets: [] };
  const { machine: m, config: c } = results;
  /** Whether a route was measured in a shape (results of older runs: every route in every shape). */
  const inShape = (/** @type {any} */ route, /** @type {string} */ shape) => !route.shapes || route.shapes.includes(shape);
  /** The route whose raw node:http figure a route is compared with. */
  const baseOf = (/** @type {any} */ route) => route.baseline ?? route.id;
  /** @type {Array<any>} */
  const runs = results.runs;
  const shapes = c.shapes.map((/** @type {any} */ s) => s.id);
  const routes = c.routes;
  const servers = c.servers;

  /** Medians per shape, route and server. */
  const summary = (/** @type {string} */ shape, /** @type {string} */ route, /** @type {string} */ server) => {
    const rs = runs.filter((r) => r.shape === shape && r.route === route && r.server === server);
    if (rs.length === 0) return undefined;
    const sum = (/** @type {(r: any) => number} */ f) => rs.reduce((a, r) => a + f(r), 0);
    return {
      n: rs.length,
      rps: median(rs.map((r) => r.rps)),
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      rssIdle: median(rs.map((r) => r.rssIdleKiB)),
      rssLoad: median(rs.map((r) => r.rssLoadKiB)),
      masterIdle: median(rs.map((r) => r.masterIdleKiB)),
      non2xx: sum((r) => r.non2xx),
      socket: {
        connect: sum((r) => r.socketErrors.connect), read: sum((r) => r.socketErrors.read),
        write: sum((r) => r.socketErrors.write), timeout: sum((r) => r.socketErrors.timeout),
      },
      requests: sum((r) => r.requests),
      perRound: rs.map((r) => r.rps),
    };
  };
  const na = (/** @type {string} */ shape, /** @type {string} */ route, /** @type {string} */ server) =>
    results.notApplicable.find((/** @type {any} */ x) => x.shape === shape && x.route === route && x.server === server);

  /** The ratios B / A of a run's figure (requests/s unless `metric` says otherwise) in each round (B and A measured seconds apart in that round). */
  const roundRatios = (/** @type {string} */ shape, /** @type {[string, string]} */ [routeB, serverB], /** @type {[string, string]} */ [routeA, serverA], /** @type {(r: any) => number} */ metric = (r) => r.rps) => {
    const out = [];
    for (const b of runs.filter((r) => r.shape === shape && r.route === routeB && r.server === serverB)) {
      const a = runs.find((x) => x.shape === shape && x.route === routeA && x.server === serverA && x.round === b.round);
      if (a) out.push(ratio(metric(b), metric(a)));
    }
    return out.filter(Number.isFinite);
  };
  /** The same for requests per CPU-second of each server's process tree. */
  const cpuRoundRatios = (/** @type {string} */ shape, /** @type {[string, string]} */ b, /** @type {[string, string]} */ a) => roundRatios(shape, b, a, perCpu);
  /** "; per CPU-second 0.95 [0.93-0.97]", when the runs recorded CPU time. */
  const cpuText = (/** @type {number[]} */ xs) => (xs.length ? `; per CPU-second ${spreadText(xs)}` : '');
  /** "0.93 [0.88-0.97]": the median of the per-round ratios and their spread. */
  const spreadText = (/** @type {number[]} */ xs) => (xs.length ? `${fmt(median(xs))} [${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))}]` : '-');

  const errorsText = (/** @type {NonNullable<ReturnType<typeof summary>>} */ s) => {
    const parts = [];
    if (s.non2xx) parts.push(`${s.non2xx} non-2xx`);
    for (const [k, v] of Object.entries(s.socket)) if (v) parts.push(`${v} ${k}`);
    return parts.length ? parts.join(', ') : '0';
  };

  /** hello once more on the settled servers (bench/run.mjs's settled phase; absent in older results). */
  /** @type {Array<any>} */
  const afterIdle = results.afterIdle ?? [];
  const idleOf = (/** @type {string} */ shape, /** @type {string} */ server) => afterIdle.find((x) => x.shape === shape && x.server === server && x.route === 'hello');
  const idleSeconds = (/** @type {any} */ a) => fmt((a.idleMs ?? c.settledMs) / 1000, 0);
  const runErrorsText = (/** @type {any} */ r) => {
    const parts = [];
    if (r.non2xx) parts.push(`${r.non2xx} non-2xx`);
    for (const [k, v] of Object.entries(r.socketErrors ?? {})) if (v) parts.push(`${v} ${k}`);
    return parts.length ? parts.join(', ') : '0';
  };

  // ------------------------------------------------------------ targets
  /** @type {Array<{ target: string; shape: string; measured: string; ok: boolean | undefined; note?: string }>} */
  const targets = [];
  const get = (/** @type {string} */ shape, /** @type {string} */ route, /** @type {string} */ server) => summary(shape, route, server);
  for (const shape of shapes) {
    const st = SHAPE_TITLES[shape] ?? shape;
    const issueShape = shape === 'core';
    for (const route of ['hello', 'stream', 'echo']) {
      const g = get(shape, route, 'gwserver');
      const r = get(shape, route, 'raw');
      if (!g || !r) continue;
      const target = /** @type {number} */ (RAW_TARGET[route]);
      const x = ratio(g.rps, r.rps);
      const stretch = route === 'hello' ? ` (stretch 0.95: ${x >= 0.95 ? 'met' : 'not met'})` : '';
      targets.push({ target: `${route}: gwserver req/s >= ${target.toFixed(2)} x raw`, shape: st, measured: `${fmt(x)} x (${fmtInt(g.rps)} / ${fmtInt(r.rps)})${stretch}${cpuText(cpuRoundRatios(shape, [route, 'gwserver'], [route, 'raw']))}`, ok: x >= target, note: issueShape || route !== 'hello' ? undefined : 'the issue sets it per core; shown for information' });
      if (route === 'hello') {
        const y = ratio(g.p99, r.p99);
        targets.push({ target: 'hello: gwserver p99 <= 1.2 x raw', shape: st, measured: `${fmt(y)} x (${fmt(g.p99)} / ${fmt(r.p99)} ms)`, ok: y <= 1.2, note: issueShape ? undefined : 'the issue sets it per core; shown for information' });
        const gi = idleOf(shape, 'gwserver');
        const ri = idleOf(shape, 'raw');
        if (gi && ri) {
          const z = ratio(gi.rps, ri.rps);
          targets.push({ target: `hello after ${idleSeconds(gi)} s idle: gwserver req/s vs raw`, shape: st, measured: `${fmt(z)} x (${fmtInt(gi.rps)} / ${fmtInt(ri.rps)}); main runs (0.5 s after ready, median): ${fmt(x)} x`, ok: undefined, note: 'one run per server on the settled servers, not alternated rounds; shown for information' });
        }
      }
    }
    // Issue 11: the shapes real apps have, each against its raw baseline, as medians of the per-round ratios.
    for (const [route, base, target] of /** @type {Array<[string, string, number]>} */ ([['async', 'hello', 0.9], ['echo-iter', 'echo-iter', 0.85], ['echo-read', 'echo-iter', 0.85]])) {
      const xs = roundRatios(shape, [route, 'gwserver'], [base, 'raw']);
      if (xs.length === 0) continue;
      const title = routes.find((/** @type {any} */ x) => x.id === route)?.title ?? route;
      targets.push({ target: `${title}: gwserver req/s >= ${target.toFixed(2)} x raw (issue 11)`, shape: st, measured: `${spreadText(xs)} (median of the per-round ratios [min-max], ${xs.length} rounds)${cpuText(cpuRoundRatios(shape, [route, 'gwserver'], [base, 'raw']))}`, ok: median(xs) >= target });
    }
    const log = get(shape, 'hello+log', 'gwserver');
    const off = get(shape, 'hello', 'gwserver');
    if (log && off) {
      const x = ratio(log.rps, off.rps);
      const xs = roundRatios(shape, ['hello+log', 'gwserver'], ['hello', 'gwserver']);
      targets.push({ target: 'access log + metrics on: >= 0.85 x gwserver with them off (issue 4; issue 11 asks 0.90)', shape: st, measured: `${fmt(x)} x (${fmtInt(log.rps)} / ${fmtInt(off.rps)}); per round ${spreadText(xs)}${cpuText(cpuRoundRatios(shape, ['hello+log', 'gwserver'], ['hello', 'gwserver']))}`, ok: x >= 0.85 });
    } else if (na(shape, 'hello+log', 'gwserver')) {
      targets.push({ target: 'access log + metrics on: >= 0.85 x gwserver with them off', shape: st, measured: na(shape, 'hello+log', 'gwserver').reason, ok: undefined, note: 'gwserver has no access log or metrics yet' });
    }
    if (shape === 'core') {
      for (const route of ['hello', 'stream', 'echo']) {
        const g = get(shape, route, 'gwserver');
        const p = get(shape, route, 'gunicorn');
        if (!g || !p) continue;
        const x = ratio(g.rps, p.rps);
        const r = get(shape, route, 'raw');
        const ceiling = r ? `; raw node:http itself: ${fmt(ratio(r.rps, p.rps), 1)} x` : '';
        targets.push({ target: `${route}: gwserver >= 3 x gunicorn's sync worker`, shape: st, measured: `${fmt(x, 1)} x (${fmtInt(g.rps)} / ${fmtInt(p.rps)})`, ok: x >= 3, note: `gunicorn: a new connection per request, its figure is a floor${ceiling}` });
      }
    }
    const g = get(shape, 'hello', 'gwserver');
    const r = get(shape, 'hello', 'raw');
    /** @type {Array<any>} */
    const settled = results.settled ?? [];
    const gs = settled.find((x) => x.shape === shape && x.server === 'gwserver');
    const rs = settled.find((x) => x.shape === shape && x.server === 'raw');
    if (gs && rs) {
      const d = (gs.workerKiB - rs.workerKiB) / MiB;
      const early = g && r ? `; 0.5 s after ready: ${mib(g.rssIdle)} vs ${mib(r.rssIdle)} MiB (${signed((g.rssIdle - r.rssIdle) / MiB)} MiB)` : '';
      targets.push({ target: 'idle worker RSS <= raw node:http + 15 MiB', shape: st, measured: `${mib(gs.workerKiB)} MiB vs ${mib(rs.workerKiB)} MiB (${signed(d)} MiB), idle ${fmt(results.config.settledMs / 1000, 0)} s${early}`, ok: d <= 15, note: shape === 'core' ? 'raw: the single node:http process; gwserver: its one worker' : 'raw: a node:cluster worker' });
    } else if (g && r) {
      const d = (g.rssIdle - r.rssIdle) / MiB;
      targets.push({ target: 'idle worker RSS <= raw node:http + 15 MiB', shape: st, measured: `${mib(g.rssIdle)} MiB vs ${mib(r.rssIdle)} MiB (${signed(d)} MiB), 0.5 s after ready`, ok: d <= 15, note: shape === 'core' ? 'raw: the single node:http process; gwserver: its one worker' : 'raw: a node:cluster worker' });
    }
  }
  /** @type {Array<any>} */
  const starts = results.starts;
  const gwStarts = starts.filter((s) => s.server === 'gwserver');
  if (gwStarts.length) {
    const x = median(gwStarts.map((s) => s.firstMs));
    targets.push({ target: 'start to first served request < 1 s', shape: '-w 2', measured: `${fmtInt(x)} ms (median of ${gwStarts.length})`, ok: x < 1000 });
  }
  targets.push({ target: '1 GiB download to a slow reader, 1 GiB upload: worker RSS growth < 32 MiB', shape: '-', measured: 'not measured by the bench: test/integration/memory.test.ts', ok: undefined });

  // ------------------------------------------------------------- tables
  const L = [];
  const runsLine = `${c.rounds} round${c.rounds === 1 ? '' : 's'}, the servers alternating in every round (${servers.join(', ')}, ${servers.join(', ')}, ...), one wrk run of ${c.duration} s per server and route after a ${c.warmup} s warm-up${c.warmup ? '' : ' (none)'}, each on a freshly started server on a fresh port; medians of the rounds`;
  L.push('# Benchmark results', '');
  L.push(`Written by \`${c.smoke ? 'npm run bench:smoke' : 'npm run bench'}\` (bench/run.mjs) on ${m.date}; the run rewrites this file, do not edit it. How to run it and how to read it: [docs/benchmark.md](../docs/benchmark.md).${c.smoke ? ' **This is a smoke run (1 round, 1 s runs): the numbers are not meaningful.**' : ''}`, '');
  L.push('![requests/s relative to raw node:http, per route, one panel per shape](results.svg)', '');
  L.push('## Machine and run', '');
  L.push(`- date: ${m.date}`);
  L.push(`- machine: ${m.cores} × ${m.cpu}, ${fmt(m.memoryGiB, 1)} GiB, ${m.kernel}`);
  L.push(`- Node ${m.node}; ${m.wrk}; gunicorn ${m.gunicorn ?? 'not installed'}${m.python ? ` (${m.python}, \`${results.config.python ?? '/usr/bin/python3'} -m gunicorn\`)` : ''}`);
  L.push(`- gwserver: ${m.git ? `\`git describe --always --dirty\` = ${m.git}` : 'not a git checkout'}`);
  L.push(`- ${runsLine}`);
  L.push(`- wrk: one thread, ${c.connections} keep-alive connections, \`--latency\`; load average (1 min) ${fmt(m.load1)} before, ${fmt(results.load1After)} after; wall time ${fmtInt(results.wallSeconds)} s${results.frameworks && !results.frameworks.kept && !results.kept ? ` (${fmtInt(results.totalWallSeconds)} s with the frameworks section)` : ''}`);
  if (results.kept) L.push(`- **These figures are kept from the run of ${m.date}**: the last run (${results.frameworks?.date ?? '?'}) was \`--only frameworks\` and rewrote only the Frameworks section.`);
  if (routes.some((/** @type {any} */ r) => r.baseline)) L.push("- The async, for await and read() rows (new gateway shapes) are measured in one shape only (per core when the run has it), next to their raw node:http baseline in each round: async hello against raw's hello, both uploads against raw's `for await` over the request.");
  if (results.builds.length > 1) {
    L.push(`- **dist/ was rebuilt during the run** (${results.builds.length} builds; new ones first measured at: ${results.builds.slice(1).map((/** @type {any} */ b) => b.before).join('; ')}): gwserver's figures mix builds (the "build" column of Every run says which). Run again on a checkout nobody rebuilds meanwhile.`);
  } else {
    L.push(`- dist/ (gwserver's build) was the same for every run (fingerprint ${results.builds[0]?.fingerprint ?? '-'})`);
  }
  for (const n of results.notes) L.push(`- **${n}**`);
  const shared = runs.filter((r) => r.foreignWrk > 0).length;
  if (shared) L.push(`- **The machine was shared: ${shared} of ${runs.length} measured runs had another wrk (not this bench's) running at their start or end** ("other wrk" in Every run): another benchmark competed for the 2 cores, and those figures are noisy.`);
  L.push('');

  L.push('## Targets (issues 4 and 11)', '');
  L.push('| target | shape | measured | verdict |', '| --- | --- | --- | --- |');
  for (const t of targets) L.push(`| ${t.target} | ${t.shape} | ${t.measured}${t.note ? ` (${t.note})` : ''} | ${verdict(t.ok)} |`);
  L.push('');

  for (const shape of c.shapes) {
    L.push(`## ${SHAPE_TITLES[shape.id] ?? shape.id}: ${shape.title.replace(/^[^:]*: /, '')}`, '');
    L.push('| route | server | req/s | p50 ms | p99 ms | errors | worker RSS idle MiB | worker RSS after load MiB | req/s per round |');
    L.push('| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | --- |');
    for (const route of routes) {
      if (!inShape(route, shape.id)) continue;
      for (const server of servers) {
        if (route.only && route.only !== server) continue;
        const n = na(shape.id, route.id, server);
        if (n) {
          L.push(`| ${route.title} | ${SERVER_TITLES[server] ?? server} | ${n.reason} | ${n.reason} | ${n.reason} | - | - | - | - |`);
          continue;
        }
        const s = summary(shape.id, route.id, server);
        if (!s) continue;
        L.push(`| ${route.title} | ${SERVER_TITLES[server] ?? server} | ${fmtInt(s.rps)} | ${fmt(s.p50)} | ${fmt(s.p99)} | ${errorsText(s)} | ${mib(s.rssIdle)} | ${mib(s.rssLoad)} | ${s.perRound.map(fmtInt).join(', ')} |`);
      }
    }
    L.push('');
    const idle = afterIdle.filter((a) => a.shape === shape.id && a.route === 'hello');
    if (idle.length) {
      const raw = idleOf(shape.id, 'raw');
      L.push(`### hello after ${idleSeconds(/** @type {any} */ (idle[0]))} s idle (${SHAPE_TITLES[shape.id] ?? shape.id})`, '');
      L.push(`The servers of the settled-memory reading (see Startup and idle memory), started at once, pinned like the runs above and left idle ${idleSeconds(/** @type {any} */ (idle[0]))} s: V8's memory reducer has run its full GCs before their first request, as in a server that idles before its traffic. Then, for each server in turn, the check request, a ${c.warmup} s warm-up and one ${c.duration} s wrk run of hello. One run per server, not alternated rounds: a check against the table above, not a precise ratio.`, '');
      L.push('| server | req/s | p50 ms | p99 ms | errors | x raw req/s | main runs req/s (median) | x main runs | first request after ready, s |');
      L.push('| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |');
      for (const server of servers) {
        const a = idleOf(shape.id, server);
        if (!a) continue;
        const main = summary(shape.id, 'hello', server);
        L.push(`| ${SERVER_TITLES[server] ?? server} | ${fmtInt(a.rps)} | ${fmt(a.p50)} | ${fmt(a.p99)} | ${runErrorsText(a)} | ${raw ? fmt(ratio(a.rps, raw.rps)) : '-'} | ${fmtInt(main?.rps ?? NaN)} | ${fmt(ratio(a.rps, main?.rps ?? NaN))} | ${fmt((a.readyAgoMs ?? NaN) / 1000, 1)} |`);
      }
      L.push('');
    }
  }

  L.push('## Ratios', '');
  L.push('gwserver / raw node:http and gwserver / gunicorn, from the medians above (the target in brackets). raw / gunicorn is the ceiling of the gunicorn ratio: what a hand-written node:http server gets on the same routes. A route marked "vs raw ..." is compared with raw node:http\'s figure of that route, measured just before it in every round.', '');
  L.push('**per round** is the median of the ratios gwserver / raw of each round (the two measured seconds apart), and in brackets the smallest and largest of them: the noise of the machine on that ratio.', '');
  L.push('| route | shape | gwserver / raw req/s | per round [min-max] | gwserver / raw p99 | gwserver / gunicorn req/s | raw / gunicorn req/s |', '| --- | --- | ---: | --- | ---: | ---: | ---: |');

  for (const route of routes) {
    for (const shape of shapes) {
      if (!inShape(route, shape)) continue;
      const g = summary(shape, route.id, 'gwserver');
      const title = baseOf(route) === route.id ? route.title : `${route.title} (vs raw ${routes.find((/** @type {any} */ x) => x.id === baseOf(route))?.title ?? baseOf(route)})`;
      if (!g) {
        if (na(shape, route.id, 'gwserver')) L.push(`| ${title} | ${SHAPE_TITLES[shape] ?? shape} | ${na(shape, route.id, 'gwserver').reason} | | | | |`);
        continue;
      }
      const r = summary(shape, baseOf(route), 'raw');
      const p = summary(shape, route.id, 'gunicorn');
      const t = RAW_TARGET[route.id];
      const rr = r ? ratio(g.rps, r.rps) : NaN;
      const rp = r ? ratio(g.p99, r.p99) : NaN;
      const gp = p ? ratio(g.rps, p.rps) : NaN;
      const ceiling = r && p ? ratio(r.rps, p.rps) : NaN;
      const prText = spreadText(roundRatios(shape, [route.id, 'gwserver'], [baseOf(route), 'raw']));
      L.push(`| ${title} | ${SHAPE_TITLES[shape] ?? shape} | ${fmt(rr)}${t ? ` (>= ${t.toFixed(2)})` : ''} | ${prText} | ${fmt(rp)}${route.id === 'hello' ? ' (<= 1.20)' : ''} | ${fmt(gp, 1)}${shape === 'core' && p ? ' (>= 3)' : ''} | ${fmt(ceiling, 1)} |`);
    }
  }
  L.push('');

  L.push('## Startup and idle memory', '');
  L.push(`Start to first request: each server spawned with 2 workers, unpinned, ${c.startupRuns} time${c.startupRuns === 1 ? '' : 's'} in turn; a request loop (GET /hello on a fresh connection, retried every 5 ms while refused) times the first 200 answer from the spawn. "Ready" is when the server logged that all workers are up (gwserver's and raw's \`listening\` record, gunicorn's last "Booting worker"). Idle RSS (VmRSS) is read 0.5 s after ready, before any request, in the runs above (median over every run of that shape; the worker figure is the largest worker's), and once more after ${fmt(c.settledMs / 1000, 0)} s idle ("settled": every server of both shapes started at once and left alone; a Node process still holds the garbage of its boot at 0.5 s, which V8's memory reducer collects about 8 s after the last allocation).`, '');
  L.push('| server | start to first 200, median ms | every run, ms | ready, median ms | master RSS idle MiB (-w 2) | worker RSS idle MiB (-w 2) | worker RSS idle MiB (per core) | worker RSS settled MiB (-w 2) | worker RSS settled MiB (per core) |');
  L.push('| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const server of servers) {
    const ss = starts.filter((s) => s.server === server);
    const idle = (/** @type {string} */ shape, /** @type {string} */ k) => median(runs.filter((r) => r.shape === shape && r.server === server).map((r) => r[k]));
    const single = server === 'raw' ? ' (single process, no master)' : '';
    const settledOf = (/** @type {string} */ shape) => /** @type {Array<any>} */ (results.settled ?? []).find((x) => x.shape === shape && x.server === server)?.workerKiB ?? NaN;
    L.push(`| ${SERVER_TITLES[server] ?? server} | ${fmtInt(median(ss.map((s) => s.firstMs)))} | ${ss.map((s) => fmtInt(s.firstMs)).join(', ')} | ${fmtInt(median(ss.map((s) => s.readyMs)))} | ${mib(idle('w2', 'masterIdleKiB'))} | ${mib(idle('w2', 'rssIdleKiB'))} | ${mib(idle('core', 'rssIdleKiB'))}${single} | ${mib(settledOf('w2'))} | ${mib(settledOf('core'))} |`);
  }
  L.push('');

  if (results.frameworks) L.push(...frameworksMarkdown(results.frameworks, median));
  if (results.tls) L.push(...tlsMarkdown(results.tls));
  if (results.http2) L.push(...http2Markdown(results.http2, median));
  if (results.static) L.push(...staticMarkdown(results.static));

  L.push('## Commands', '');
  L.push('Each server is started by bench/run.mjs from the repository root, with PORT a fresh port for every start; wrk runs after a check request (the route must answer what it should) and a warm-up run of the same command with the warm-up duration.', '', '```');
  /** @type {Set<string>} */
  const seen = new Set();
  for (const r of runs) {
    const line = `# ${SHAPE_TITLES[r.shape] ?? r.shape}, ${r.route}, ${r.server}\n${r.serverCmd.replace(/^\S*node /, 'node ')}\n${r.wrkCmd}`;
    const key = `${r.shape} ${r.route} ${r.server}`;
    if (!seen.has(key)) {
      seen.add(key);
      L.push(line);
    }
  }
  for (const server of servers) {
    const s = starts.find((x) => x.server === server);
    if (s) L.push(`# startup, ${server}\n${s.cmd.replace(/^\S*node /, 'node ')}`);
  }
  L.push('```', '');

  L.push('## Every run', '');
  L.push('In the order they ran (load average: 1 minute, read just before the measured run).', '');
  L.push('| shape | round | route | server | req/s | p50 ms | p99 ms | requests | non-2xx | socket errors (connect/read/write/timeout) | worker RSS idle -> after MiB | master RSS idle MiB | load avg | build | other wrk |');
  L.push('| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |');
  for (const r of runs) {
    const e = r.socketErrors;
    L.push(`| ${SHAPE_TITLES[r.shape] ?? r.shape} | ${r.round} | ${r.route} | ${r.server} | ${fmtInt(r.rps)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${fmtInt(r.requests)} | ${r.non2xx} | ${e.connect}/${e.read}/${e.write}/${e.timeout} | ${r.workersIdleKiB.map(mib).join('+')} -> ${r.workersLoadKiB.map(mib).join('+')} | ${mib(r.masterIdleKiB)} | ${fmt(r.load1)} | ${r.build} | ${r.foreignWrk ?? '-'} |`);
  }
  L.push('');

  L.push('## Caveats', '');
  L.push("- **gunicorn's figures are a floor.** Its sync worker closes the connection after every response (`Connection: close`), so for every request wrk opens a new TCP connection: wrk spends its own core on connects, and gunicorn on accepts. gwserver and raw keep wrk's 50 connections alive. That is how gunicorn's sync worker is deployed (behind nginx, which buffers), but part of the gap is the connection handling, not the app server's per-request cost.");
  L.push('- **The gunicorn target and its ceiling**: the ratios table gives raw / gunicorn, what a hand-written node:http server reaches against gunicorn on the same route. Where it is under 3, no Node server meets "3 x gunicorn" on that route on this machine: for the 1 MiB stream the work is copying bytes through the kernel, which gunicorn\'s blocking `sendall` does as cheaply as Node (or more so).');
  L.push('- **Noise.** The machine is a shared VM with 2 cores; single pinned runs drift by up to 30%. The servers alternate within each round and the tables give medians; the per-round columns show the spread. Ratios within one run are what to compare, not absolute numbers across machines or days.');
  L.push('- **-w 2 shares the cores with wrk**: 2 workers and wrk (one thread) compete for 2 cores, so that shape measures how the servers do under contention rather than their ceiling.');
  L.push('- **Access log + metrics**: raw and gunicorn are not measured in that row: the target compares gwserver with itself. The Frameworks section has the same comparison for the node and fetch interfaces, and raw node:http writing a similar file, the machine\'s cost of the write.');
  L.push('- **Frameworks**: short rounds (see its first paragraph), servers started once per group rather than once per run; its ratios are medians of per-round ratios, with their spread. An "(adapter)" row measures gwserver\'s adapters, not native serving.');
  L.push('- The 1 GiB slow-reader / upload memory target is covered by test/integration/memory.test.ts, not by this benchmark.');
  L.push('');

  return { markdown: L.join('\n'), svg: chart(results, summary, na), targets };
}

/**
 * Requests/s per route relative to raw node:http (= 100%), one bar per
 * server, one panel per shape; the labels are the requests/s.
 * @param {any} results
 * @param {(shape: string, route: string, server: string) => any} summary
 * @param {(shape: string, route: string, server: string) => any} na
 */
function chart(results, summary, na) {
  const c = results.config;
  const shapes = c.shapes.map((/** @type {any} */ s) => s.id);
  const servers = c.servers;
  const routesIn = (/** @type {string} */ shape) => c.routes.filter((/** @type {any} */ r) => !r.shapes || r.shapes.includes(shape));
  const baseOf = (/** @type {any} */ route) => route.baseline ?? route.id;
  const panelW = Math.max(470, ...shapes.map((/** @type {string} */ s) => 70 + 88 * routesIn(s).length));
  const panelH = 330;
  const top = 70;
  const W = Math.max(980, panelW * shapes.length + 40);
  const H = top + panelH + 28;
  const plotL = 46;
  const plotT = 40;
  const plotH = panelH - plotT - 60;
  const plotW = panelW - plotL - 14;
  // The y scale: relative to raw, at least 0..120%.
  let ymax = 1.2;
  for (const shape of shapes) {
    for (const route of routesIn(shape)) {
      const raw = summary(shape, baseOf(route), 'raw');
      for (const server of servers) {
        const s = summary(shape, route.id, server);
        if (s && raw) ymax = Math.max(ymax, s.rps / raw.rps);
      }
    }
  }
  ymax = Math.ceil(ymax * 4) / 4;
  const o = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  o.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  o.push(`<text x="12" y="22" font-size="16" font-weight="bold">Requests/s relative to raw node:http (= 100%), median of ${c.rounds} round${c.rounds === 1 ? '' : 's'}${c.smoke ? ' (smoke run: not meaningful)' : ''}</text>`);
  o.push(`<text x="12" y="40" fill="#444">Bar labels: requests/s. ${esc(results.machine.date.slice(0, 10))}, ${results.machine.cores} × ${esc(results.machine.cpu)}, Node ${esc(results.machine.node)}.</text>`);
  // Legend.
  let lx = 12;
  for (const server of servers) {
    o.push(`<rect x="${lx}" y="50" width="12" height="12" fill="${SERVER_COLORS[server] ?? '#555'}"/><text x="${lx + 16}" y="60">${esc(SERVER_TITLES[server] ?? server)}</text>`);
    lx += 30 + (SERVER_TITLES[server] ?? server).length * 7;
  }
  o.push(`<line x1="${lx}" y1="56" x2="${lx + 22}" y2="56" stroke="#c0392b" stroke-width="2" stroke-dasharray="4 3"/><text x="${lx + 27}" y="60">gwserver's target (x raw)</text>`);
  shapes.forEach((/** @type {string} */ shape, /** @type {number} */ pi) => {
    const x0 = 10 + pi * panelW;
    const y0 = top;
    const px = x0 + plotL;
    const py = y0 + plotT;
    const title = c.shapes[pi].title;
    o.push(`<g>`);
    o.push(`<text x="${x0 + 4}" y="${y0 + 16}" font-size="14" font-weight="bold">${esc(SHAPE_TITLES[shape] ?? shape)}</text>`);
    o.push(`<text x="${x0 + 4}" y="${y0 + 31}" font-size="10.5" fill="#444">${esc(title.replace(/^[^:]*: /, ''))}</text>`);
    const yOf = (/** @type {number} */ v) => py + plotH - (Math.min(v, ymax) / ymax) * plotH;
    for (let t = 0; t <= ymax + 1e-9; t += 0.25) {
      const y = yOf(t);
      o.push(`<line x1="${px}" y1="${y}" x2="${px + plotW}" y2="${y}" stroke="${t === 0 ? '#333' : '#e3e3e3'}"/>`);
      o.push(`<text x="${px - 4}" y="${y + 4}" text-anchor="end" fill="#555" font-size="10">${Math.round(t * 100)}%</text>`);
    }
    const routes = routesIn(shape);
    const groupW = plotW / routes.length;
    routes.forEach((/** @type {any} */ route, /** @type {number} */ ri) => {
      const gx = px + ri * groupW;
      const raw = summary(shape, baseOf(route), 'raw');
      const inRow = servers.filter((/** @type {string} */ s) => !route.only || route.only === s);
      const shown = servers.filter((/** @type {string} */ s) => inRow.includes(s));
      const barW = Math.min(34, (groupW - 16) / Math.max(1, shown.length));
      const bx0 = gx + (groupW - barW * shown.length) / 2;
      const base = raw?.rps ?? Math.max(...inRow.map((/** @type {string} */ s) => summary(shape, route.id, s)?.rps ?? 0), 1);
      shown.forEach((/** @type {string} */ server, /** @type {number} */ si) => {
        const bx = bx0 + si * barW;
        const s = summary(shape, route.id, server);
        const n = na(shape, route.id, server);
        if (n || !s) {
          const label = n ? n.reason.replace(/\s*\(.*\)$/, '') : 'not run';
          o.push(`<text transform="translate(${bx + barW / 2 + 4},${py + plotH - 6}) rotate(-90)" font-size="11" fill="${SERVER_COLORS[server] ?? '#555'}">${esc(`${SERVER_TITLES[server] ?? server}: ${label}`)}</text>`);
          return;
        }
        const v = s.rps / base;
        const y = yOf(v);
        o.push(`<rect x="${bx + 2}" y="${y}" width="${barW - 4}" height="${py + plotH - y}" fill="${SERVER_COLORS[server] ?? '#555'}"><title>${esc(`${SERVER_TITLES[server] ?? server}, ${route.title}: ${fmtInt(s.rps)} req/s (${Math.round(v * 100)}% of raw), p99 ${fmt(s.p99)} ms`)}</title></rect>`);
        const target = RAW_TARGET[route.id];
        if (server === 'gwserver' && target && raw && baseOf(route) === route.id) {
          const ty = yOf(target);
          o.push(`<line x1="${bx - 1}" y1="${ty}" x2="${bx + barW + 1}" y2="${ty}" stroke="#c0392b" stroke-width="2" stroke-dasharray="4 3"/>`);
        }
        o.push(`<text x="${bx + barW / 2}" y="${y - 4}" text-anchor="middle" font-size="10" stroke="#ffffff" stroke-width="3" paint-order="stroke">${short(s.rps)}</text>`);
      });
      o.push(`<text x="${gx + groupW / 2}" y="${py + plotH + 16}" text-anchor="middle" font-size="11">${esc(ROUTE_SHORT[route.id] ?? route.id)}</text>`);
      const g = summary(shape, route.id, 'gwserver');
      if (g && raw && route.id !== 'hello+log') o.push(`<text x="${gx + groupW / 2}" y="${py + plotH + 31}" text-anchor="middle" font-size="10" fill="${SERVER_COLORS.gwserver}">${fmt(g.rps / raw.rps)} x raw</text>`);
    });
    o.push(`</g>`);
  });
  o.push(`<text x="12" y="${H - 12}" font-size="10.5" fill="#444">gunicorn (sync) closes the connection after every response, so its figure is a floor. async hello: x raw's hello; for await, read() 64K: x raw's for await.</text>`);
  o.push('</svg>');
  return `${o.join('\n')}\n`;
}

/**
 * The frameworks section of RESULTS.md (bench/frameworks.mjs's results):
 * one table per kind of comparison, the rounds, the servers' command lines
 * and the notes.
 * @param {any} fw results.frameworks
 * @param {(xs: number[]) => number} median
 * @returns {string[]}
 */
export function frameworksMarkdown(fw, median) {
  const c = fw.config;
  /** @type {any[]} */
  const runs = fw.runs;
  /** @type {any[]} */
  const variants = fw.variants;
  const L = [];
  const variant = (/** @type {string} */ g, /** @type {string} */ id) => variants.find((v) => v.group === g && v.id === id);
  const label = (/** @type {string} */ g, /** @type {string} */ id) => {
    const v = variant(g, id);
    if (!v) return `${id} (not run)`;
    if (v.mode === 'adapter') return `${v.label} ${v.served && v.served.interface !== 'gateway' ? `(adapter module, served natively as ${v.served.interface})` : '**(adapter)**'}`;
    return `${v.label}${v.mode === 'native' ? ' (native)' : ''}`;
  };
  const of = (/** @type {string} */ g, /** @type {string} */ route, /** @type {string} */ id) => runs.filter((r) => r.group === g && r.route === route && r.variant === id);
  const errs = (/** @type {any[]} */ rs) => rs.reduce((a, r) => a + r.non2xx + r.socketErrors.connect + r.socketErrors.read + r.socketErrors.write + r.socketErrors.timeout, 0);
  const roundsLine = `${c.rounds} round${c.rounds === 1 ? '' : 's'} of ${c.duration} s per server and route`;
  L.push('## Frameworks (per core)', '');
  L.push(`Run on ${fw.date}${fw.kept ? ' (**kept from an earlier run**: the last run did not include this section)' : ''}${c.smoke ? ' (**smoke run: the numbers are not meaningful**)' : ''}, wall time ${fmtInt(fw.wallSeconds)} s. ${roundsLine} (short rounds, to keep the whole \`npm run bench\` near 15 minutes), after a ${c.warmup} s warm-up of each server and route; wrk \`-t1 -c${c.connections} --latency\` pinned to CPU ${c.wrkCpu}, every server pinned to CPU ${c.serverCpu}. Within a group (one app) every server is started once, and in each round the servers take turns route by route (A, B, A, B, ...), so that the machine's drifts hit both sides of a ratio alike; a server idles while another is measured.`, '');
  const fm = fw.machine;
  if (fm) L.push(`Machine: ${fm.cores} × ${fm.cpu}, ${fmt(fm.memoryGiB, 1)} GiB, ${fm.kernel}; Node ${fm.node}; ${fm.wrk}; gwserver ${fm.git ? `\`git describe --always --dirty\` = ${fm.git}` : '(not a git checkout)'}; dist/ fingerprint ${[...new Set(runs.map((r) => fw.builds?.[r.build - 1]?.fingerprint).filter(Boolean))].join(', ') || '-'}; load average (1 min) ${fmt(fw.load1Before)} before the section.`, '');
  L.push('**B / A** is the median of the per-round ratios of requests/s, **min-max** the smallest and largest of them (the noise between two servers measured seconds apart); req/s and p99 are the medians of the rounds. **B / A per CPU** is the same for requests per CPU-second of the server (user + system time of its whole process tree during the run, from /proc: a master, PM2\'s daemon included), **its min-max** beside it: time other processes or the hypervisor took from the server is not in it, so on a shared machine it is the steadier measure of what each server gets done per core. **(adapter)**: gwserver could not serve the module natively (the notes below say why) and served it through `fromNodeHandler` / `fromFetch` (bench/servers/frameworks/adapter.mjs) instead; **(native)**: gwserver served the module itself.', '');
  const kinds = /** @type {const} */ ([
    ['framework', 'Frameworks: their own server (A) / gwserver -w 1 (B)'],
    ['host', 'Hosting a bare node:http handler: PM2 cluster mode, gwserver, raw node:http'],
    ['observability', 'Access log + metrics on (B) / off (A), and the file write on a raw node:http server'],
  ]);
  for (const [kind, title] of kinds) {
    const cs = fw.comparisons.filter((/** @type {any} */ x) => x.kind === kind);
    if (!cs.length) continue;
    L.push(`### ${title}`, '');
    L.push('| comparison | A | B | A req/s | B req/s | B / A req/s | min-max | B / A per CPU | min-max | A p99 ms | B p99 ms | errors A / B |');
    L.push('| --- | --- | --- | ---: | ---: | ---: | --- | ---: | --- | ---: | ---: | --- |');
    for (const x of cs) {
      const a = of(x.group, x.route, x.a);
      const b = of(x.group, x.route, x.b);
      /** @type {number[]} */
      const ratios = [];
      /** @type {number[]} */
      const cpuRatios = [];
      for (const ra of a) {
        const rb = b.find((r) => r.round === ra.round);
        if (rb) {
          ratios.push(ratio(rb.rps, ra.rps));
          cpuRatios.push(ratio(perCpu(rb), perCpu(ra)));
        }
      }
      const spreadOf = (/** @type {number[]} */ xs) => {
        const fin = xs.filter(Number.isFinite);
        return fin.length ? `${fmt(Math.min(...fin))}-${fmt(Math.max(...fin))}` : '-';
      };
      L.push(`| ${x.title} | ${label(x.group, x.a)} | ${label(x.group, x.b)} | ${fmtInt(median(a.map((r) => r.rps)))} | ${fmtInt(median(b.map((r) => r.rps)))} | ${fmt(median(ratios))} | ${spreadOf(ratios)} | ${fmt(median(cpuRatios))} | ${spreadOf(cpuRatios)} | ${fmt(median(a.map((r) => r.p99)))} | ${fmt(median(b.map((r) => r.p99)))} | ${a.length ? errs(a) : '-'} / ${b.length ? errs(b) : '-'} |`);
    }
    L.push('');
  }
  const shared = runs.filter((r) => r.foreignWrk > 0).length;
  if (shared) L.push(`**The machine was shared: ${shared} of ${runs.length} runs of this section had another wrk (not this bench's) running at their start or end** (marked * below): another benchmark competed for the 2 cores, and those figures are noisy.`, '');
  L.push('### Every server, every round', '');
  L.push('| group | route | server | req/s per round | median | p99 ms per round | worker RSS after the rounds MiB |');
  L.push('| --- | --- | --- | --- | ---: | --- | ---: |');
  for (const g of fw.groups) {
    for (const route of g.routes) {
      for (const v of g.variants) {
        if (!v.routes.includes(route)) continue;
        const rs = of(g.id, route, v.id);
        const vv = variant(g.id, v.id);
        if (!rs.length) {
          const u = (fw.unavailable ?? []).find((/** @type {any} */ x) => x.group === g.id && x.variant === v.id);
          L.push(`| ${g.title} | ${route} | ${v.id} | not run${u ? `: ${u.reason}` : ''} | - | - | - |`);
          continue;
        }
        L.push(`| ${g.title} | ${route} | ${label(g.id, v.id)} | ${rs.map((r) => `${fmtInt(r.rps)}${r.foreignWrk > 0 ? '*' : ''}`).join(', ')} | ${fmtInt(median(rs.map((r) => r.rps)))} | ${rs.map((r) => fmt(r.p99)).join(', ')} | ${vv?.workerRssKiB ? mib(vv.workerRssKiB) : '-'} |`);
      }
    }
  }
  L.push('');
  L.push('Servers, as bench/run.mjs started them from the repository root (PORT a fresh port, LOGFILE a file in the temp directory, emptied before each run; wrk: `taskset -c 1 wrk -t1 -c50 -dDs --latency http://127.0.0.1:PORT/ROUTE`):', '', '```');
  for (const v of variants) L.push(`# ${fw.groups.find((/** @type {any} */ g) => g.id === v.group)?.title ?? v.group}, ${v.id} (${v.mode}${v.served ? `; the worker: interface ${v.served.interface}, ${v.served.why}` : ''})`, v.cmd);
  L.push('```', '');
  const builds = fw.builds ?? [];
  const fwBuilds = new Set(runs.map((r) => r.build));
  if (fwBuilds.size > 1) L.push(`- **dist/ was rebuilt during the section** (builds ${[...fwBuilds].join(', ')} of ${builds.length}): gwserver's figures mix builds.`);
  for (const n of fw.notes) L.push(`- ${n}`);
  if (fw.notes.length || fwBuilds.size > 1) L.push('');
  return L;
}

/**
 * RESULTS.md when the output directory had no routes figures to keep and the
 * run was `--only frameworks`.
 * @param {any} results @param {(xs: number[]) => number} median
 */
function frameworksOnly(results, median) {
  const m = results.machine;
  const L = ['# Benchmark results', ''];
  L.push(`Written by \`node bench/run.mjs --only ${[results.frameworks && !results.frameworks.kept ? 'frameworks' : '', results.tls && !results.tls.kept ? 'tls' : ''].filter(Boolean).join(',') || 'frameworks'}\` on ${m.date}; the run rewrites this file, do not edit it. A full \`npm run bench\` adds the routes, startup and idle memory. How to run it and how to read it: [docs/benchmark.md](../docs/benchmark.md).`, '');
  L.push('## Machine', '');
  L.push(`- machine: ${m.cores} × ${m.cpu}, ${fmt(m.memoryGiB, 1)} GiB, ${m.kernel}`);
  L.push(`- Node ${m.node}; ${m.wrk}`);
  L.push(`- gwserver: ${m.git ? `\`git describe --always --dirty\` = ${m.git}` : 'not a git checkout'}`, '');
  if (results.frameworks) L.push(...frameworksMarkdown(results.frameworks, median));
  if (results.tls) L.push(...tlsMarkdown(results.tls));
  if (results.http2) L.push(...http2Markdown(results.http2, median));
  if (results.static) L.push(...staticMarkdown(results.static));
  return L.join('\n');
}

/**
 * The TLS section of RESULTS.md (bench/tls.mjs's results): handshakes per
 * second of gwserver against Node's https server, the ratio with its
 * per-round spread, the commands.
 * @param {any} t results.tls
 */
export function tlsMarkdown(t) {
  const c = t.config;
  const L = ['## TLS handshakes per second', ''];
  L.push(`Run on ${t.date}${t.kept ? ' (**kept from an earlier run**: the last run did not include this section)' : ''}${c.smoke ? ' (**smoke run: the numbers are not meaningful**)' : ''}, wall time ${fmtInt(t.wallSeconds)} s. ${c.rounds} round(s) of ${c.duration} s per server, the servers alternating, after a ${c.warmup} s warm-up of each; wrk \`-t1 -c${c.connections} --latency -H 'Connection: close'\` on an https URL, pinned to CPU ${c.wrkCpu}, every server pinned to CPU ${c.serverCpu}: every request is a new TLS connection, so requests/s is handshakes/s. Certificate: ${c.certificate}. Load average (1 min) ${fmt(t.load1Before)} before the section.`, '');
  L.push('| server | handshakes/s (median) | p99 ms | per round |', '| --- | ---: | ---: | --- |');
  for (const sv of t.servers) {
    const rs = t.runs.filter((/** @type {any} */ r) => r.server === sv.id);
    L.push(`| ${sv.title} | ${fmtInt(t.summary[sv.id]?.rps)} | ${fmt(t.summary[sv.id]?.p99)} | ${rs.map((/** @type {any} */ r) => fmtInt(r.rps)).join(', ')} |`);
  }
  L.push('');
  L.push(`**gwserver / https: ${fmt(t.ratio.median)}** (median of the per-round ratios; min-max ${fmt(t.ratio.min)}-${fmt(t.ratio.max)}; per round ${t.ratio.perRound.map((/** @type {number} */ x) => fmt(x)).join(', ')}).`, '');
  const foreign = t.runs.filter((/** @type {any} */ r) => r.foreignWrk > 0).length;
  if (foreign > 0) L.push(`- ${foreign} of ${t.runs.length} runs had another wrk running on the machine: noisy.`);
  for (const n of t.notes ?? []) L.push(`- ${n}`);
  L.push('', '```');
  for (const sv of t.servers) L.push(`# ${sv.title}`, sv.cmd);
  const first = t.runs[0];
  if (first) L.push('# wrk', first.wrkCmd);
  L.push('```', '');
  return L;
}
