// @ts-check
/**
 * The benchmark's TLS section (bench/run.mjs runs it after the frameworks;
 * `node bench/run.mjs --only tls` runs only it): TLS handshakes per second,
 * gwserver against Node's own `https` server, per core (issue 13).
 *
 * - `https`: bench/servers/raw-https.mjs, `https.createServer` answering
 *   `GET /hello`, Node's default TLS options.
 * - `gwserver`: `gwserver -w 1 --certfile --keyfile` serving
 *   bench/servers/app.mjs (the main section's hello route).
 *
 * Both serve one ECDSA P-256 certificate made with `openssl` for the run
 * (what most certificates issued today are), both pinned to CPU 0
 * (`taskset -c 0`; gwserver's master and worker alike). wrk, pinned to CPU
 * 1, sends `Connection: close` (`-t1 -c50 -H 'Connection: close'` on an
 * https URL): every request is a new connection, so requests/s is
 * connections, hence handshakes, per second. wrk reuses its TLS session on
 * part of its reconnections (about half here), and both servers resume
 * with session tickets, so a "handshake" is a mix of full and resumed ones:
 * raw-https.mjs counts them, and the results say the mix.
 *
 * How it runs: both servers started once, each checked (`GET /hello` over
 * https) and warmed up (`warmup` s of wrk), then `rounds` rounds in which
 * they take turns (https, gwserver, https, gwserver, ...), one `duration`
 * s wrk run each. The ratio gwserver / https is the median of the
 * per-round ratios, with their min and max.
 *
 * @module
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { inTurn } from './lib.mjs';

const HELLO = 'Hello world!';

/**
 * Runs the section.
 * @param {any} h what bench/run.mjs lends: its process handling, wrk, settings
 */
export async function runTls(h) {
  const { ROOT, BIN, connections, rounds, duration, warmup, log, median } = h;
  const t0 = Date.now();
  const load1Before = os.loadavg()[0] ?? NaN;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gwserver-bench-tls-'));
  /** @type {any[]} */
  const runs = [];
  /** @type {string[]} */
  const notes = [];
  /** @type {Map<string, any>} */
  const up = new Map();
  try {
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=gwserver bench', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    if (made.status !== 0) throw new Error(`openssl could not make the bench's certificate: ${made.error?.message ?? made.stderr.toString().trim()}`);
    const binRel = path.relative(ROOT, BIN);
    const servers = [
      { id: 'https', title: "Node's https.createServer", command: (/** @type {number} */ port) => ['node', 'bench/servers/raw-https.mjs', '--port', String(port), '--cert', cert, '--key', key], singleProcess: () => true },
      { id: 'gwserver', title: 'gwserver -w 1 --certfile --keyfile', command: (/** @type {number} */ port) => ['node', binRel, '-b', `127.0.0.1:${port}`, '-w', '1', '--certfile', cert, '--keyfile', key, 'bench/servers/app.mjs:application'], singleProcess: () => false },
    ].map((s) => ({ ...s, ready: (/** @type {string[]} */ lines) => lines.some((l) => l.includes('"msg":"listening"')) }));
    log(`bench: tls, per core: ${rounds} round(s) x ${servers.length} runs of ${duration} s (servers alternating), a new TLS connection per request, ${warmup} s warm-up of each`);
    for (const s of servers) {
      const srv = await h.startServer(s, 1, { cpu: '0' });
      up.set(s.id, { s, srv, cmd: portless(srv.cmd, srv.port, dir) });
      const answer = await get(srv.port);
      if (answer.status !== 200 || answer.body !== HELLO) throw new Error(`${s.title}: GET /hello over https answered ${answer.status} ${JSON.stringify(answer.body.slice(0, 80))}`);
    }
    const wrkCmd = (/** @type {number} */ port, /** @type {number} */ seconds) => ['taskset', '-c', '1', 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-H', 'Connection: close', `https://127.0.0.1:${port}/hello`];
    if (warmup > 0) for (const [, u] of up) await h.runWrk(wrkCmd(u.srv.port, warmup), warmup);
    for (let round = 1; round <= rounds; round++) {
      for (const [id, u] of inTurn([...up], round)) {
        const cmd = wrkCmd(u.srv.port, duration);
        const build = h.currentBuild(`tls round ${round} ${id}`);
        const load1 = os.loadavg()[0] ?? NaN;
        const foreign0 = h.foreignWrkNow();
        const res = await h.runWrk(cmd, duration);
        const foreignWrk = Math.max(foreign0, h.foreignWrkNow());
        runs.push({ server: id, round, ...res, load1, foreignWrk, build, wrkCmd: portless(cmd, u.srv.port, dir) });
        const errs = res.socketErrors.connect + res.socketErrors.read + res.socketErrors.write + res.socketErrors.timeout + res.non2xx;
        log(`  tls round ${round}/${rounds} ${id.padEnd(8)} ${res.rps.toFixed(0).padStart(6)} handshakes/s  p50 ${res.p50.toFixed(2)} ms  p99 ${res.p99.toFixed(2)} ms  errors ${errs}  (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
      }
    }
  } finally {
    for (const [, u] of up) await u.srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  // What a handshake was: the https server counted them at its stop.
  const counted = up.get('https')?.srv.lines.map((/** @type {string} */ l) => { try { return JSON.parse(l); } catch { return undefined; } }).find((/** @type {any} */ r) => r?.msg === 'handshakes');
  const handshakes = counted ? { full: counted.full, resumed: counted.resumed } : undefined;
  if (handshakes) notes.push(`Node's https server saw ${handshakes.full} full handshakes and ${handshakes.resumed} resumed sessions (${Math.round((100 * handshakes.resumed) / Math.max(1, handshakes.full + handshakes.resumed))}% resumed) over the section, warm-ups and checks included; gwserver runs the same TLS stack with session tickets on.`);
  /** @type {number[]} */
  const perRound = [];
  for (let round = 1; round <= rounds; round++) {
    const a = runs.find((r) => r.server === 'https' && r.round === round);
    const b = runs.find((r) => r.server === 'gwserver' && r.round === round);
    if (a && b && a.rps > 0) perRound.push(b.rps / a.rps);
  }
  const of = (/** @type {string} */ id) => runs.filter((r) => r.server === id);
  return {
    date: new Date(t0).toISOString(),
    load1Before,
    wallSeconds: (Date.now() - t0) / 1000,
    config: { rounds, duration, warmup, connections, serverCpu: '0', wrkCpu: '1', smoke: h.smoke, certificate: 'ECDSA P-256, self-signed' },
    servers: [...up.values()].map((u) => ({ id: u.s.id, title: u.s.title, cmd: u.cmd })),
    summary: Object.fromEntries(['https', 'gwserver'].map((id) => [id, { rps: median(of(id).map((r) => r.rps)), p99: median(of(id).map((r) => r.p99)) }])),
    ratio: { median: median(perRound), min: Math.min(...perRound), max: Math.max(...perRound), perRound },
    handshakes,
    runs,
    notes,
  };
}

/** A command as shown: the port and the temp directory left out. */
function portless(/** @type {string[]} */ cmd, /** @type {number} */ port, /** @type {string} */ dir) {
  return cmd.map((a) => a.replaceAll(String(port), 'PORT').replaceAll(dir, 'TMP')).map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ').replace(/^\S*node /, 'node ');
}

/**
 * GET /hello over https on a fresh connection (the bench's certificate is its own: not verified).
 * @param {number} port
 * @returns {Promise<{ status: number; body: string }>}
 */
function get(port) {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/hello', rejectUnauthorized: false, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
  });
}
