// @ts-check
/**
 * The benchmark's frameworks section (bench/run.mjs runs it last; `node
 * bench/run.mjs --only frameworks` runs only it): the same app on two (or
 * more) servers, side by side, per core.
 *
 * - Express 5, Hono 4 and Fastify 5 (bench/servers/frameworks/*.mjs, each
 *   exporting its app as its default export): GET /hello and GET /json on
 *   the framework's own server (bench/servers/frameworks/serve.mjs:
 *   `http.createServer(app)`, `@hono/node-server`'s `serve()`,
 *   `fastify.listen()`) against `gwserver -w 1 MODULE`.
 * - A bare node:http handler (bench/servers/frameworks/node-handler.mjs):
 *   raw node:http, PM2 7's cluster mode (`pm2 start serve.mjs -i 1`, in a
 *   PM2_HOME of its own, `pm2 kill` at the end) and `gwserver -w 1
 *   --interface node`.
 * - Observability: the access log (`--access-logfile`, a file in the temp
 *   directory, emptied before each run) and metrics (`--metrics-bind
 *   127.0.0.1:0`) on against off, for the node interface (the bare handler)
 *   and the fetch interface (Hono); and raw node:http appending a JSON line
 *   per request to a file through a buffered writer against raw node:http
 *   without: what writing such a file costs on this machine at all.
 *
 * gwserver serves a module natively when it can (`--interface auto`
 * detecting the app, or `--interface node`). While it cannot (it exits, or
 * does not listen within 15 s, or answers a route wrongly), the same app is
 * served through gwserver's adapters (bench/servers/frameworks/adapter.mjs:
 * `fromNodeHandler`, `fromFetch`) and the row says "(adapter)", with the
 * reason in the section's notes.
 *
 * How it runs: per group (one app), every server of the group is started
 * once, pinned to CPU 0 (`taskset -c 0`; PM2's daemon and worker inherit it
 * and are pinned again by pid), each route checked and warmed up once on
 * each server (wrk, `warmup` s), then `rounds` rounds in which the servers
 * take turns, route by route, in the order A, B, C in odd rounds and C, B,
 * A in even ones (so a drift of the machine's speed within a round favours
 * no server), one `duration` s wrk run each (`taskset -c 1 wrk -t1 -c50 --latency`). The servers idle while
 * another is measured. Every comparison's ratio is the median of its
 * per-round ratios, with their min and max.
 *
 * @module
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { childPids, freePort, inTurn, rssKiB, treeCpuUs } from './lib.mjs';

const HELLO = { id: 'hello', path: '/hello', expect: (/** @type {number} */ s, /** @type {Buffer} */ b) => s === 200 && b.toString() === 'Hello world!' };
const JSON_ROUTE = { id: 'json', path: '/json', expect: (/** @type {number} */ s, /** @type {Buffer} */ b) => s === 200 && b.toString() === '{"hello":"world","n":1}' };
/** @type {Record<string, { id: string; path: string; expect: (s: number, b: Buffer) => boolean }>} */
const ROUTES = { hello: HELLO, json: JSON_ROUTE };

const DIR = 'bench/servers/frameworks';
const PM2_BIN = 'node_modules/pm2/bin/pm2';

/**
 * A server of a group. kind: `own` (the framework's own server, or raw
 * node:http), `gwserver`, `pm2`. For gwserver: `native` is the module as
 * users would serve it, `adapter` the fallback, `flags` what goes before
 * the module (`--interface node`, the access log and metrics).
 * @typedef {{ id: string; label: string; kind: 'own' | 'gwserver' | 'pm2'; routes?: string[];
 *   module: string; logFile?: boolean; flags?: string[]; interfaceFlag?: string[]; modeOf?: string }} Variant
 */
/**
 * @typedef {{ id: string; title: string; routes: string[]; variants: Variant[];
 *   compare: Array<{ route: string; a: string; b: string; kind: 'framework' | 'host' | 'observability'; title: string }> }} Group
 */

/** The access log + metrics flags (as the main bench's hello+log row). */
const logFlags = (/** @type {string} */ file) => ['--access-logfile', file, '--metrics-bind', '127.0.0.1:0'];

/** @returns {Group[]} */
function groups() {
  const framework = (/** @type {string} */ id, /** @type {string} */ title, /** @type {string} */ own) => ({
    id, title, routes: ['hello', 'json'],
    variants: /** @type {Variant[]} */ ([
      { id: 'own', label: `${title} on ${own}`, kind: 'own', module: id },
      { id: 'gw', label: 'gwserver -w 1', kind: 'gwserver', module: id },
    ]),
    compare: /** @type {Group['compare']} */ ([
      { route: 'hello', a: 'own', b: 'gw', kind: 'framework', title: `${title}, GET /hello` },
      { route: 'json', a: 'own', b: 'gw', kind: 'framework', title: `${title}, GET /json` },
    ]),
  });
  const express = framework('express', 'Express 5', 'http.createServer(app)');
  const hono = framework('hono', 'Hono 4', "@hono/node-server's serve()");
  hono.variants.push({ id: 'gw+log', label: 'gwserver -w 1, access log + metrics', kind: 'gwserver', module: 'hono', routes: ['hello'], logFile: true, modeOf: 'gw' });
  hono.compare.push({ route: 'hello', a: 'gw', b: 'gw+log', kind: 'observability', title: 'fetch interface (Hono, GET /hello) under gwserver: access log + metrics on / off' });
  const fastify = framework('fastify', 'Fastify 5', 'fastify.listen()');
  /** @type {Group} */
  const node = {
    id: 'node', title: 'bare node:http handler', routes: ['hello'],
    variants: [
      { id: 'raw', label: 'raw node:http (http.createServer(handler))', kind: 'own', module: 'node-handler' },
      { id: 'raw+file', label: 'raw node:http + a JSON line per request to a file (buffered)', kind: 'own', module: 'node-handler', logFile: true },
      { id: 'pm2', label: 'PM2 7 cluster mode (pm2 start -i 1)', kind: 'pm2', module: 'node-handler' },
      { id: 'gw', label: 'gwserver -w 1 --interface node', kind: 'gwserver', module: 'node-handler', interfaceFlag: ['--interface', 'node'] },
      { id: 'gw+log', label: 'gwserver -w 1 --interface node, access log + metrics', kind: 'gwserver', module: 'node-handler', interfaceFlag: ['--interface', 'node'], logFile: true, modeOf: 'gw' },
    ],
    compare: [
      { route: 'hello', a: 'pm2', b: 'gw', kind: 'host', title: 'bare node:http handler, GET /hello: PM2 cluster -i 1 / gwserver -w 1' },
      { route: 'hello', a: 'raw', b: 'gw', kind: 'host', title: 'bare node:http handler, GET /hello: raw node:http / gwserver -w 1' },
      { route: 'hello', a: 'raw', b: 'pm2', kind: 'host', title: 'bare node:http handler, GET /hello: raw node:http / PM2 cluster -i 1' },
      { route: 'hello', a: 'gw', b: 'gw+log', kind: 'observability', title: 'node interface (bare handler, GET /hello) under gwserver: access log + metrics on / off' },
      { route: 'hello', a: 'raw', b: 'raw+file', kind: 'observability', title: 'raw node:http: a JSON line per request to a file on / off (the machine\'s cost of the file)' },
    ],
  };
  return [express, hono, fastify, node];
}

/**
 * Runs the section.
 * @param {any} h what bench/run.mjs lends: its process handling, wrk, settings
 */
export async function runFrameworks(h) {
  const { ROOT, BIN, tmpDir, connections, rounds, duration, warmup, log, sleep } = h;
  const t0 = Date.now();
  const load1Before = os.loadavg()[0] ?? NaN;
  mkdirSync(tmpDir, { recursive: true });
  const binRel = path.relative(ROOT, BIN);
  /** @type {string[]} */
  const notes = [];
  /** @type {any[]} */
  const runs = [];
  /** @type {any[]} */
  const variantsOut = [];
  /** @type {any[]} */
  const comparisons = [];
  /** @type {any[]} */
  const unavailable = [];
  const all = groups();
  const perRound = all.reduce((n, g) => n + g.routes.reduce((a, r) => a + g.variants.filter((v) => !v.routes || v.routes.includes(r)).length, 0), 0);
  log(`bench: frameworks, per core: ${all.length} groups, ${rounds} round(s) x ${perRound} runs of ${duration} s (servers alternating), ${warmup} s warm-up of each server and route`);

  const wrkCmd = (/** @type {number} */ port, /** @type {string} */ p, /** @type {number} */ seconds) => ['taskset', '-c', '1', 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}${p}`];
  const portless = (/** @type {string[]} */ cmd, /** @type {number} */ port) => cmd.map((a) => a.replaceAll(String(port), 'PORT')).join(' ').replace(/^\S*node /, 'node ');

  for (const group of all) {
    /** @type {Map<string, { v: Variant; srv: any; mode: string; cmd: string; logPath?: string; why?: string; served?: { interface: string; why: string } }>} */
    const up = new Map();
    try {
      // ------------------------------------------------ start the group
      for (const v of group.variants) {
        const logPath = v.logFile ? path.join(tmpDir, `fw-${group.id}-${v.id.replace(/\W/g, '_')}.log`) : undefined;
        if (logPath) writeFileSync(logPath, '');
        const routes = (v.routes ?? group.routes).map((r) => /** @type {typeof HELLO} */ (ROUTES[r]));
        /** @type {{ srv: any; mode: string; cmd: string; why?: string; served?: { interface: string; why: string } }} */
        let started;
        try {
          if (v.kind === 'own') started = await startOwn(h, v, routes, logPath);
          else if (v.kind === 'pm2') started = await startPm2(h, v, routes);
          else started = await startGw(h, v, routes, logPath, binRel, v.modeOf ? up.get(v.modeOf)?.mode : undefined);
        } catch (err) {
          if (v.kind !== 'pm2') throw err;
          // PM2 is someone else's daemon: a failure to start it is reported, not fatal.
          const why = firstError(err);
          unavailable.push({ group: group.id, variant: v.id, reason: why });
          notes.push(`${v.label}: could not be started, its rows are empty: ${why}`);
          log(`bench: ${notes.at(-1)}`);
          continue;
        }
        if (started.why) {
          notes.push(`${group.title}, ${v.label}: served through gwserver's adapter (${v.module === 'node-handler' ? 'fromNodeHandler' : group.id === 'hono' ? 'fromFetch' : 'fromNodeHandler'}): native serving failed: ${started.why}`);
          log(`bench: ${notes.at(-1)}`);
        }
        up.set(v.id, { v, ...started, logPath });
        const served = started.served;
        if (started.mode === 'adapter' && served && served.interface !== 'gateway') {
          notes.push(`${group.title}, ${v.label}: the adapter module was served as a ${served.interface} app by the worker (${served.why}): its row measures native serving, not the adapter`);
          log(`bench: ${notes.at(-1)}`);
        }
        log(`  ${group.id} ${v.id}: ${started.mode}${served ? ` (worker: ${served.interface}, ${served.why})` : ''}, port ${started.srv.port}: ${started.cmd}`);
      }

      // ------------------------------------------------------ warm-up
      for (const route of group.routes) {
        for (const [, u] of up) {
          if (u.v.routes && !u.v.routes.includes(route)) continue;
          if (warmup > 0) await h.runWrk(wrkCmd(u.srv.port, /** @type {typeof HELLO} */ (ROUTES[route]).path, warmup), warmup);
        }
      }

      // ------------------------------------------------------- rounds
      for (let round = 1; round <= rounds; round++) {
        for (const route of group.routes) {
          const r = /** @type {typeof HELLO} */ (ROUTES[route]);
          for (const u of inTurn([...up.values()], round)) {
            if (u.v.routes && !u.v.routes.includes(route)) continue;
            if (u.logPath) writeFileSync(u.logPath, '');
            const build = h.currentBuild(`frameworks ${group.id} round ${round} ${route} ${u.v.id}`);
            const cmd = wrkCmd(u.srv.port, r.path, duration);
            const load1 = os.loadavg()[0] ?? NaN;
            const foreign0 = h.foreignWrkNow();
            const cpu0 = treeCpuUs(u.srv.pid);
            const res = await h.runWrk(cmd, duration);
            // The server's whole process tree (a master, PM2's daemon): what it cost for these requests.
            const cpuUs = treeCpuUs(u.srv.pid) - cpu0;
            const foreignWrk = Math.max(foreign0, h.foreignWrkNow());
            runs.push({ group: group.id, route, variant: u.v.id, round, ...res, cpuUs, load1, foreignWrk, build, wrkCmd: portless(cmd, u.srv.port) });
            const errs = res.socketErrors.connect + res.socketErrors.read + res.socketErrors.write + res.socketErrors.timeout + res.non2xx;
            log(`  fw round ${round}/${rounds} ${group.id.padEnd(7)} ${route.padEnd(5)} ${u.v.id.padEnd(8)} ${res.rps.toFixed(0).padStart(7)} req/s  ${(cpuUs / Math.max(1, res.requests)).toFixed(1).padStart(6)} CPU µs/req  p50 ${res.p50.toFixed(2)} ms  p99 ${res.p99.toFixed(2)} ms  errors ${errs}  (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
          }
        }
      }
    } finally {
      for (const [, u] of up) {
        const rss = /** @type {number[]} */ (u.srv.workerPids().map(rssKiB).filter((/** @type {number | undefined} */ x) => x !== undefined));
        variantsOut.push({
          group: group.id, id: u.v.id, label: u.v.label, kind: u.v.kind, mode: u.mode, served: u.served, cmd: u.cmd, why: u.why,
          workerRssKiB: rss.length ? Math.max(...rss) : null,
          logBytes: u.logPath ? fileSize(u.logPath) : undefined,
        });
        await u.srv.stop();
      }
    }
    for (const c of group.compare) comparisons.push({ group: group.id, groupTitle: group.title, ...c });
  }

  return {
    date: new Date(t0).toISOString(),
    load1Before,
    config: { rounds, duration, warmup, connections, serverCpu: '0', wrkCpu: '1', smoke: h.smoke },
    groups: all.map((g) => ({ id: g.id, title: g.title, routes: g.routes, variants: g.variants.map((v) => ({ id: v.id, routes: v.routes ?? g.routes })) })),
    variants: variantsOut, comparisons, runs, notes, unavailable,
  };

  // ---------------------------------------------------------- helpers
  function fileSize(/** @type {string} */ p) {
    try {
      return statSync(p).size;
    } catch {
      return undefined;
    }
  }

  /** Checks every route's answer on a started server; throws with what came back. */
  async function check(/** @type {number} */ port, /** @type {Array<typeof HELLO>} */ routes, /** @type {string} */ what) {
    for (const r of routes) {
      const res = await h.request(port, { path: r.path }, 5000);
      if (!r.expect(res.status, res.body)) throw new Error(`${what}: GET ${r.path} answered ${res.status} (${res.body.length} bytes: ${JSON.stringify(res.body.subarray(0, 80).toString())})`);
    }
  }

  /** A server of bench/run.mjs's kind for a command. */
  function server(/** @type {string} */ id, /** @type {(port: number) => string[]} */ command) {
    return {
      id, title: id,
      command: (/** @type {number} */ port) => command(port),
      ready: (/** @type {string[]} */ lines) => lines.some((l) => l.includes('"msg":"listening"')),
      singleProcess: () => id.startsWith('own'),
    };
  }

  /** The framework's own server (or raw node:http), by serve.mjs. */
  async function startOwn(/** @type {any} */ hh, /** @type {Variant} */ v, /** @type {Array<typeof HELLO>} */ routes, /** @type {string | undefined} */ logPath) {
    const s = server(`own-${v.module}`, (port) => ['node', `${DIR}/serve.mjs`, '--app', `${DIR}/${v.module}.mjs`, '--port', String(port), ...(logPath ? ['--log-file', logPath] : [])]);
    const srv = await hh.startServer(s, 1, { cpu: '0' });
    try {
      await check(srv.port, routes, v.label);
    } catch (err) {
      await srv.stop();
      throw err;
    }
    return { srv, mode: 'own', cmd: portless(srv.cmd, srv.port).replace(logPath ?? '\0', 'LOGFILE') };
  }

  /**
   * gwserver: natively if it can (unless `mode` says the group's first
   * gwserver already fell back), else through the adapter.
   */
  async function startGw(/** @type {any} */ hh, /** @type {Variant} */ v, /** @type {Array<typeof HELLO>} */ routes, /** @type {string | undefined} */ logPath, /** @type {string} */ bin, /** @type {string | undefined} */ mode) {
    const flags = logPath ? logFlags(logPath) : [];
    const clean = (/** @type {any} */ srv) => portless(srv.cmd, srv.port).replace(logPath ?? '\0', 'LOGFILE');
    /** @type {string | undefined} */
    let why;
    if (mode !== 'adapter') {
      const native = server(`gwserver-${v.module}`, (port) => ['node', bin, '-b', `127.0.0.1:${port}`, '-w', '1', ...(v.interfaceFlag ?? []), ...flags, `${DIR}/${v.module}.mjs`]);
      try {
        const srv = await hh.startServer(native, 1, { cpu: '0', timeoutMs: 15_000 });
        try {
          await check(srv.port, routes, `${v.label} (native)`);
        } catch (err) {
          await srv.stop();
          throw err;
        }
        return { srv, mode: 'native', cmd: clean(srv), served: servedAs(srv.lines) };
      } catch (err) {
        why = firstError(err);
        if (logPath) writeFileSync(logPath, '');
      }
    }
    const adapter = server(`gwserver-adapter-${v.module}`, (port) => ['node', bin, '-b', `127.0.0.1:${port}`, '-w', '1', ...flags, `${DIR}/adapter.mjs:wrap("${v.module}")`]);
    const srv = await hh.startServer(adapter, 1, { cpu: '0' });
    try {
      await check(srv.port, routes, `${v.label} (adapter)`);
    } catch (err) {
      await srv.stop();
      throw err;
    }
    return { srv, mode: 'adapter', cmd: clean(srv), served: servedAs(srv.lines), why: why ?? (mode === 'adapter' ? 'as the group\'s gwserver without the log' : undefined) };
  }

  /**
   * PM2 7 in cluster mode with one instance, in a PM2_HOME of its own (a
   * temp directory): `pm2 start serve.mjs -i 1` under `taskset -c 0` (the
   * daemon it spawns, and the worker the daemon forks, inherit the CPU; both
   * are pinned again by pid), ready when the route answers. Stopped with
   * `pm2 kill`, then every pid it had is SIGKILLed if still there.
   */
  async function startPm2(/** @type {any} */ hh, /** @type {Variant} */ v, /** @type {Array<typeof HELLO>} */ routes) {
    const home = mkdtempSync(path.join(tmpDir, 'pm2-'));
    const env = { PM2_HOME: home };
    const port = /** @type {number} */ (await freePort());
    const pm2 = async (/** @type {string[]} */ args, /** @type {number} */ timeoutMs) => {
      const r = await hh.runTool(['node', PM2_BIN, ...args], 'pm2', timeoutMs, env);
      const { code, signal } = r;
      // eslint-disable-next-line no-control-regex
      const out = r.out.replace(/\x1b\[[0-9;]*m/g, '');
      if (code !== 0) throw new Error(`pm2 ${args.join(' ')} failed (${code ?? signal}):\n${out.split('\n').slice(-15).join('\n')}`);
      return out;
    };
    /** @type {Set<number>} */
    const pids = new Set();
    const daemonPid = () => {
      try {
        return Number(readFileSync(path.join(home, 'pm2.pid'), 'utf8').trim()) || undefined;
      } catch {
        return undefined;
      }
    };
    const track = () => {
      const d = daemonPid();
      if (d) {
        pids.add(d);
        hh.adopt(d, 'pm2 daemon');
        for (const c of childPids(d)) {
          pids.add(c);
          hh.adopt(c, 'pm2 worker');
        }
      }
    };
    // On an interrupted bench: `pm2 kill` (synchronous, 5 s at most), then the pids.
    const emergency = () => {
      spawnSync(process.execPath, [PM2_BIN, 'kill'], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 5000, stdio: 'ignore' });
      rmSync(home, { recursive: true, force: true });
    };
    hh.emergencyStops.add(emergency);
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      track();
      try {
        await pm2(['kill'], 15_000);
      } catch (err) {
        log(`bench: pm2 kill: ${firstError(err)}; killing its pids`);
      }
      for (let i = 0; i < 20 && [...pids].some((p) => rssKiB(p) !== undefined); i++) await sleep(100);
      for (const p of pids) hh.killAdopted(p);
      hh.emergencyStops.delete(emergency);
      rmSync(home, { recursive: true, force: true });
    };
    const args = ['start', `${DIR}/serve.mjs`, '-i', '1', '--name', 'gwbench', '--', '--app', `${DIR}/${v.module}.mjs`, '--port', String(port)];
    const cmdLine = `PM2_HOME=TMP taskset -c 0 node ${PM2_BIN} ${args.join(' ').replaceAll(String(port), 'PORT')}`;
    try {
      const { proc, exited } = hh.launch(['taskset', '-c', '0', 'node', PM2_BIN, ...args], 'pm2', env);
      let out = '';
      proc.stdout?.setEncoding('utf8').on('data', (/** @type {string} */ d) => (out += d));
      proc.stderr?.setEncoding('utf8').on('data', (/** @type {string} */ d) => (out += d));
      const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
      const { code } = await exited;
      clearTimeout(timer);
      track();
      // eslint-disable-next-line no-control-regex
      if (code !== 0) throw new Error(`pm2 start failed (${code}):\n${out.replace(/\x1b\[[0-9;]*m/g, '').split('\n').slice(-15).join('\n')}`);
      // Ready: the route answers (PM2 says "online" before the app listens).
      const deadline = performance.now() + 20_000;
      for (;;) {
        try {
          const res = await hh.request(port, { path: routes[0]?.path ?? '/hello' }, 2000);
          if (res.status === 200) break;
        } catch {
          // Not listening yet.
        }
        if (performance.now() > deadline) throw new Error(`PM2's app did not answer on port ${port} within 20 s`);
        await sleep(20);
      }
      track();
      // Pinned to CPU 0 like the other servers (inherited from taskset; made sure of here, every thread).
      for (const p of pids) spawnSync('taskset', ['-a', '-p', '-c', '0', String(p)], { stdio: 'ignore' });
      const list = JSON.parse((await pm2(['jlist'], 15_000)).split('\n').find((l) => l.trim().startsWith('[')) ?? '[]');
      const workers = list.map((/** @type {any} */ x) => Number(x.pid)).filter((/** @type {number} */ p) => p > 0);
      if (workers.length !== 1 || list[0]?.pm2_env?.exec_mode !== 'cluster_mode') throw new Error(`pm2 jlist: expected one cluster_mode app, got ${JSON.stringify(list.map((/** @type {any} */ x) => ({ pid: x.pid, mode: x.pm2_env?.exec_mode, status: x.pm2_env?.status })))}`);
      await check(port, routes, v.label);
      const srv = { port, pid: daemonPid(), cmd: [cmdLine], workerPids: () => workers, stop };
      return { srv, mode: 'pm2', cmd: cmdLine };
    } catch (err) {
      await stop();
      throw err;
    }
  }

  /**
   * What the worker said it serves: its `{"interface":...,"why":...}` log
   * record (builds that serve the node and fetch interfaces log one at
   * boot; older builds do not).
   * @param {string[]} lines
   * @returns {{ interface: string; why: string } | undefined}
   */
  function servedAs(lines) {
    for (const l of lines) {
      if (!l.includes('"interface":')) continue;
      try {
        const j = JSON.parse(l);
        if (typeof j.interface === 'string') return { interface: j.interface, why: String(j.why ?? '') };
      } catch {
        // Not a record.
      }
    }
    return undefined;
  }

  /** The line that says why a server did not start (gwserver's "error:" line, or the last line). */
  function firstError(/** @type {unknown} */ err) {
    const text = err instanceof Error ? err.message : String(err);
    const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
    const line = lines.find((l) => /^gwserver: error:/.test(l)) ?? lines.find((l) => /"level":"error"/.test(l)) ?? lines.find((l) => /Error/.test(l)) ?? lines[0] ?? text;
    let msg = line;
    try {
      const j = JSON.parse(line);
      if (j && typeof j.msg === 'string') msg = j.msg;
    } catch {
      // Not JSON.
    }
    // gwserver's "has no attribute" lists every export of the module: the first few say enough.
    msg = msg.replace(/\(it exports: ([^)]*)\)/, (_all, list) => {
      const names = String(list).split(', ');
      return `(it exports: ${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''})`;
    });
    return `${lines[0] && lines[0] !== line ? `${lines[0].replace(/:$/, '')}: ` : ''}${msg}`.slice(0, 300);
  }
}
