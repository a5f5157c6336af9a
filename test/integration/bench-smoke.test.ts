/**
 * The benchmark's smoke mode (`node bench/run.mjs --smoke`, what
 * `npm run bench:smoke` runs): one round of 1 s runs, the -w 2 shape, raw
 * node:http and gwserver (and gunicorn when Debian's is installed), the
 * TLS handshakes of gwserver and Node's https server, and the static files
 * and compression section (nginx when installed), written
 * to a temporary directory. It keeps the harness from rotting: every server
 * has to start, answer each route correctly (the bench checks every route's
 * answer before measuring it), take load from wrk, be stopped, and end up as
 * numbers in RESULTS.md's table.
 *
 * Needs wrk (`apt-get install wrk`): skipped without it, except under
 * CI=true, where it must run.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../helpers/gwserver.js';

const hasWrk = !spawnSync('wrk', ['-v']).error;

interface Run {
  shape: string;
  route: string;
  server: string;
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  rssIdleKiB: number;
  rssLoadKiB: number;
}

describe('bench: npm run bench:smoke', function () {
  // The static section adds about 25 s on a quiet machine (four servers, ten wrk runs).
  this.timeout(300_000);
  let child: ChildProcess | undefined;
  let out = '';

  before(function () {
    if (!hasWrk) {
      if (process.env.CI === 'true') throw new Error('wrk is not installed, and under CI the bench smoke must run: apt-get install -y wrk');
      console.log('      (skipped: wrk is not installed; apt-get install -y wrk)');
      this.skip();
    }
    out = mkdtempSync(path.join(os.tmpdir(), 'gwserver-bench-'));
  });

  after(function () {
    // The bench stops everything it started on SIGINT; KILL it if it hangs.
    if (child && child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      child.kill('SIGINT');
      const pid = child.pid;
      setTimeout(() => {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone.
        }
      }, 5000).unref();
    }
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('runs every server on every route and writes a table with numbers', async function () {
    const stderr: string[] = [];
    child = spawn(process.execPath, ['bench/run.mjs', '--smoke', '--out', out], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => stderr.push(d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => stderr.push(d));
    const code = await new Promise<number | null>((resolve) => child!.once('exit', (c) => resolve(c)));
    const log = stderr.join('');
    assert.equal(code, 0, `bench/run.mjs --smoke failed:\n${log}`);

    const results = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8'));
    const servers: string[] = results.config.servers;
    assert.ok(servers.includes('raw') && servers.includes('gwserver'), `servers: ${servers.join(', ')}`);
    const gunicorn = spawnSync('/usr/bin/python3', ['-m', 'gunicorn', '--version']).status === 0;
    assert.equal(servers.includes('gunicorn'), gunicorn, 'gunicorn runs exactly when it is installed');

    const markdown = readFileSync(path.join(out, 'RESULTS.md'), 'utf8');
    const titles: Record<string, string> = { raw: 'raw node:http', gwserver: 'gwserver', gunicorn: 'gunicorn (sync)' };
    const runs: Run[] = results.runs;
    let measured = 0;
    for (const route of results.config.routes as Array<{ id: string; title: string; only?: string }>) {
      for (const server of servers) {
        if (route.only && route.only !== server) continue;
        const na = results.notApplicable.find((x: { route: string; server: string }) => x.route === route.id && x.server === server);
        const row = markdown.split('\n').find((l) => l.startsWith(`| ${route.title} | ${titles[server]} |`));
        assert.ok(row, `no table row for ${route.id} / ${server} in RESULTS.md:\n${markdown}`);
        if (na) {
          // The access log + metrics row: gwserver says why it is not measured.
          assert.match(row, /n\/a/);
          continue;
        }
        const run = runs.find((r) => r.route === route.id && r.server === server);
        assert.ok(run, `no run for ${route.id} / ${server}`);
        assert.ok(run.requests > 0 && run.rps > 0, `${route.id} / ${server}: ${JSON.stringify(run)}`);
        assert.equal(run.non2xx, 0, `${route.id} / ${server}: non-2xx answers`);
        for (const k of ['p50', 'p99', 'rssIdleKiB', 'rssLoadKiB'] as const) assert.ok(Number.isFinite(run[k]) && run[k] > 0, `${route.id} / ${server}: ${k} = ${run[k]}`);
        // req/s, p50 and p99 in the table are numbers.
        const cells = row.split('|').map((c) => c.trim());
        for (const cell of cells.slice(3, 6)) assert.match(cell, /^[\d,]+(\.\d+)?$/, `${route.id} / ${server}: ${row}`);
        measured++;
      }
    }
    assert.ok(measured >= 6, `only ${measured} measured runs`);
    for (const server of servers) {
      const s = results.starts.find((x: { server: string }) => x.server === server);
      assert.ok(s && Number.isFinite(s.firstMs), `no startup time for ${server}`);
    }
    assert.match(markdown, /## Targets/);
    assert.match(markdown, /\| start to first served request < 1 s \| -w 2 \| \d/);
    // The TLS section: both servers took handshakes from wrk, and the ratio is in RESULTS.md.
    const tlsRuns: Array<{ server: string; requests: number; non2xx: number }> = results.tls.runs;
    for (const server of ['https', 'gwserver']) {
      const run = tlsRuns.find((r) => r.server === server);
      assert.ok(run && run.requests > 0 && run.non2xx === 0, `tls / ${server}: ${JSON.stringify(run)}`);
    }
    assert.match(markdown, /## TLS handshakes per second[\s\S]*\*\*gwserver \/ https: \d+\.\d\d\*\*/);
    // The HTTP/2 section, when h2load is there to run it.
    if (spawnSync('h2load', ['--version']).status === 0) {
      assert.match(markdown, /## HTTP\/2 \(h2c\) beside HTTP\/1\.1/);
      for (const r of results.http2.runs as Array<{ variant: string; rps: number; failed: number; errored: number; non2xx: number }>) {
        assert.ok(r.rps > 0 && r.failed + r.errored + r.non2xx === 0, `HTTP/2 section: ${JSON.stringify(r)}`);
      }
      assert.equal(new Set(results.http2.runs.map((r: { variant: string }) => r.variant)).size, 3);
    }
    // The static files and compression section: both gwserver variants (and nginx, when installed) served both files under wrk.
    const staticRuns: Array<{ server: string; file: string; requests: number; non2xx: number; cpuUsPerRequest: number }> = results.static.runs;
    const staticServers = ['gwserver', 'gwserver-blocking', ...(results.static.config.nginx ? ['nginx', 'nginx-nosendfile'] : [])];
    for (const server of staticServers) {
      for (const file of ['1k', '1m']) {
        const run = staticRuns.find((r) => r.server === server && r.file === file);
        assert.ok(run && run.requests > 0 && run.non2xx === 0 && run.cpuUsPerRequest > 0, `static / ${server} / ${file}: ${JSON.stringify(run)}`);
      }
    }
    for (const v of results.static.compression.variants as Array<{ id: string; rps: number }>) assert.ok(v.rps > 0, `compression / ${v.id}: ${JSON.stringify(v)}`);
    assert.match(markdown, /## Static files and compression[\s\S]*\| 1 KiB text file \| gwserver -w 1, staticFiles\(\) \| [\d,]+ \|/);
    assert.ok(existsSync(path.join(out, 'results.svg')));
    assert.match(readFileSync(path.join(out, 'results.svg'), 'utf8'), /^<svg [^>]*>[\s\S]*<rect [^>]*fill="#2f6fd0"[\s\S]*<\/svg>\n$/);
  });
});
