/**
 * The Dockerfile, checked without a Docker engine (none runs here or on CI):
 * its runtime stage is read (WORKDIR, ENV, EXPOSE, USER, ENTRYPOINT + CMD,
 * HEALTHCHECK), and the very command line it runs is started from the
 * checkout as a real process: WORKDIR is the repo root, `node` this Node,
 * 0.0.0.0:PORT binds become 127.0.0.1:0. Then the demo app must answer on
 * it, and the HEALTHCHECK command, run as written (its port mapped the same
 * way), must exit 0, and 1 once the server has stopped. Every file the
 * Dockerfile COPYs must exist and not be excluded by .dockerignore.
 *
 * What this cannot see: the image build itself (npm ci in the image, the
 * base image, file ownership).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ROOT, BIN, childPids, killAll } from '../helpers/gwserver.js';
import { get } from '../helpers/http.js';
import { until } from '../helpers/until.js';

interface Instruction {
  /** Upper-cased, e.g. `COPY`. */
  name: string;
  /** The rest of the (continued) line. */
  args: string;
  /** 0 for the first FROM's stage, 1 for the next... */
  stage: number;
}

/** Instructions of a Dockerfile: comments dropped, `\` continuations joined (comment lines inside them too, as Docker does). */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#')) continue;
    if (line === '' && pending === '') continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    if (full === '') continue;
    const m = /^(\S+)\s*(.*)$/.exec(full)!;
    const name = m[1]!.toUpperCase();
    if (name === 'FROM') stage++;
    out.push({ name, args: m[2]!, stage });
  }
  return out;
}

/** An instruction's exec form (a JSON array of strings); fails for the shell form, which would put /bin/sh between Docker's signals and the master. */
function execForm(ins: Instruction | undefined, what: string): string[] {
  assert.ok(ins, `the Dockerfile has no ${what}`);
  const args = ins.name === 'HEALTHCHECK' ? ins.args.replace(/^(--\S+\s+)*CMD\s+/, '') : ins.args;
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    assert.fail(`${what} is not in exec (JSON array) form: ${ins.args}`);
  }
  assert.ok(Array.isArray(parsed) && parsed.every((a) => typeof a === 'string'), `${what} is not a JSON array of strings`);
  return parsed as string[];
}

/** `KEY=VALUE` pairs of ENV lines (the form the Dockerfile uses). */
function envOf(instructions: Instruction[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ins of instructions.filter((i) => i.name === 'ENV')) {
    for (const m of ins.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[m[1]!] = m[2]!.replace(/^"|"$/g, '');
  }
  return env;
}

/**
 * .dockerignore as Docker reads it (moby/patternmatcher): paths relative to
 * the context root, `*` and `?` within one path element, `**` across them,
 * `!` re-includes, the last matching line wins, and a pattern that matches a
 * directory excludes everything under it.
 */
function dockerignore(text: string): (file: string) => boolean {
  const rules = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')).map((l) => {
    const negate = l.startsWith('!');
    const pattern = path.posix.normalize((negate ? l.slice(1) : l).trim()).replace(/^\/+/, '').replace(/\/+$/, '');
    let re = '';
    for (let i = 0; i < pattern.length; i++) {
      const c = pattern[i]!;
      if (c === '*' && pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else if (c === '*') re += '[^/]*';
      else if (c === '?') re += '[^/]';
      else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
    return { negate, re: new RegExp(`^${re}$`) };
  });
  return (file) => {
    const parts = file.split('/');
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of rules) {
      if (candidates.some((c) => rule.re.test(c))) excluded = !rule.negate;
    }
    return excluded;
  };
}

/** Every file under `dir` (relative to ROOT), or `dir` itself when it is a file. */
function filesUnder(rel: string): string[] {
  const abs = path.join(ROOT, rel);
  if (!statSync(abs).isDirectory()) return [rel];
  return readdirSync(abs).flatMap((e) => filesUnder(path.posix.join(rel, e)));
}

const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const all = parseDockerfile(dockerfile);
const runtimeStage = Math.max(...all.map((i) => i.stage));
const runtime = all.filter((i) => i.stage === runtimeStage);
const last = (name: string) => runtime.filter((i) => i.name === name).at(-1);

describe('Dockerfile', function () {
  this.timeout(30_000);

  it('builds on a pinned slim Node 20 image and runs as the unprivileged node user, in production mode', () => {
    const froms = all.filter((i) => i.name === 'FROM').map((i) => i.args.split(/\s+/)[0]);
    assert.ok(froms.length >= 2, 'a build stage and a runtime stage');
    // Every stage FROM the NODE_IMAGE build argument, whose default is the official slim Node 20.
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the Dockerfile's own ${} substitution, as written there
    for (const image of froms) assert.equal(image, '${NODE_IMAGE}');
    const arg = all.find((i) => i.name === 'ARG' && i.args.startsWith('NODE_IMAGE='));
    assert.equal(arg?.args, 'NODE_IMAGE=node:20-bookworm-slim');
    assert.equal(last('USER')?.args, 'node');
    assert.equal(envOf(runtime).NODE_ENV, 'production');
    assert.equal(last('STOPSIGNAL')?.args, 'SIGTERM');
  });

  it('COPYs only files that exist and that .dockerignore lets into the build context', () => {
    const ignored = dockerignore(readFileSync(path.join(ROOT, '.dockerignore'), 'utf8'));
    // The host's build output and dependencies never reach the image.
    for (const p of ['node_modules/x', 'dist/cli/bin.js', '.git/HEAD']) assert.ok(ignored(p), `${p} is in the build context`);
    const copies = all.filter((i) => i.name === 'COPY' && !/--from=/.test(i.args));
    assert.ok(copies.length > 0);
    for (const c of copies) {
      const words = c.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      for (const src of words.slice(0, -1)) {
        assert.ok(existsSync(path.join(ROOT, src)), `COPY ${src}: no such file in the repo`);
        for (const f of filesUnder(src)) assert.ok(!ignored(f), `COPY ${src}: ${f} is excluded by .dockerignore`);
      }
    }
    // What the runtime stage takes from the build stage is what `npm run build` makes here.
    for (const c of all.filter((i) => i.name === 'COPY' && /--from=/.test(i.args))) {
      const src = c.args.split(/\s+/).filter((w) => !w.startsWith('--'))[0]!;
      const workdir = all.filter((i) => i.name === 'WORKDIR' && i.stage < runtimeStage).at(-1)!.args;
      const rel = path.posix.relative(workdir, src);
      assert.ok(!rel.startsWith('..') && existsSync(path.join(ROOT, rel)), `COPY --from ${src}: not built here (${rel})`);
    }
  });

  describe('its command, run from the checkout', () => {
    let proc: ChildProcess | undefined;
    const stdout: string[] = [];
    const stderr: string[] = [];
    const records = () => stderr.flatMap((l) => { try { return [JSON.parse(l) as Record<string, any>]; } catch { return []; } });
    /** Container port -> the port the test's process got for it. */
    const ports = new Map<number, number>();
    const workdir = last('WORKDIR')?.args ?? '/';
    const env = envOf(runtime);
    /** A path under WORKDIR, or relative to it, as a path in the checkout. */
    const mapPath = (arg: string) => (arg === workdir || arg.startsWith(`${workdir}/`) ? path.join(ROOT, arg.slice(workdir.length)) : arg);
    const healthcheck = () => {
      const argv = execForm(last('HEALTHCHECK'), 'HEALTHCHECK').map((a) => a.replace(/(127\.0\.0\.1|localhost):(\d+)/g, (_m, host: string, p: string) => {
        const mapped = ports.get(Number(p));
        assert.ok(mapped !== undefined, `HEALTHCHECK asks port ${p}, which the command does not bind`);
        return `${host}:${mapped}`;
      }));
      assert.equal(argv[0], 'node');
      const timeoutS = Number(/--timeout=(\d+)s/.exec(last('HEALTHCHECK')!.args)?.[1] ?? 30);
      // As Docker runs it: in WORKDIR, with the image's environment, within its --timeout.
      const r = spawnSync(process.execPath, argv.slice(1).map(mapPath), { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: timeoutS * 1000 });
      assert.equal(r.error, undefined, String(r.error));
      return r.status;
    };

    after(async () => {
      if (proc) await killAll([proc]);
    });

    it('serves the demo app with the image\'s command line, logs to stdout and stderr, and its HEALTHCHECK passes', async () => {
      const argv = [...execForm(last('ENTRYPOINT'), 'ENTRYPOINT'), ...execForm(last('CMD'), 'CMD')];
      assert.equal(argv[0], 'node');
      assert.equal(path.join(ROOT, path.posix.relative(workdir, path.posix.resolve(workdir, argv[1]!))), BIN, 'the image runs the built CLI');
      const exposed = (last('EXPOSE')?.args ?? '').split(/\s+/).map((p) => Number(p.replace(/\/tcp$/, '')));
      assert.deepEqual(exposed, [8000]);
      // Every 0.0.0.0:PORT (-b, --metrics-bind) on a port the test gets from the kernel.
      const wildcard: number[] = [];
      const args = argv.slice(1).map((a) => {
        const m = /^0\.0\.0\.0:(\d+)$/.exec(a);
        if (m === null) return mapPath(a);
        wildcard.push(Number(m[1]));
        return '127.0.0.1:0';
      });
      const bindAt = argv.indexOf('-b') >= 0 ? argv.indexOf('-b') : argv.indexOf('--bind');
      assert.ok(bindAt > 0, 'the command binds with -b');
      assert.equal(argv[bindAt + 1], `0.0.0.0:${exposed[0]}`, 'the app is bound on every interface, on the EXPOSEd port');

      const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
      for (const k of ['GWSERVER_CMD_ARGS', 'PORT', 'FORWARDED_ALLOW_IPS']) delete childEnv[k];
      proc = spawn(process.execPath, args, { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
      const collect = (stream: NodeJS.ReadableStream, into: string[]) => {
        let buf = '';
        stream.setEncoding('utf8');
        stream.on('data', (d: string) => {
          buf += d;
          const lines = buf.split('\n');
          buf = lines.pop()!;
          into.push(...lines);
        });
      };
      collect(proc.stdout!, stdout);
      collect(proc.stderr!, stderr);
      const exited = new Promise<number | null>((resolve) => proc!.once('exit', (code) => resolve(code)));

      await until(() => {
        assert.equal(proc!.exitCode, null, `the server exited early:\n${stderr.join('\n')}`);
        return records().some((r) => r.msg === 'listening') && records().some((r) => r.msg === 'metrics listening');
      }, 15_000, 'listening and metrics listening');
      const appPort = Number(new URL(records().find((r) => r.msg === 'listening')!.address).port);
      const metricsPort = Number(new URL(records().find((r) => r.msg === 'metrics listening')!.address).port);
      ports.set(exposed[0]!, appPort);
      const metricsAt = argv.indexOf('--metrics-bind');
      if (metricsAt > 0) ports.set(Number(argv[metricsAt + 1]!.split(':').at(-1)), metricsPort);
      assert.equal(wildcard.length, ports.size, 'every 0.0.0.0 bind is accounted for');

      // WEB_CONCURRENCY from the image's ENV sets the number of workers.
      await until(() => childPids(proc!.pid!).length === Number(env.WEB_CONCURRENCY), 15_000, `${env.WEB_CONCURRENCY} workers`);

      const form = await get(appPort, '/');
      assert.equal(form.status, 200);
      assert.match(form.body, /<form action="encode"/);
      const encoded = await get(appPort, '/encode?mystring=gwserver%20in%20a%20container');
      assert.equal(encoded.status, 200);
      assert.ok(encoded.body.includes(Buffer.from('gwserver in a container').toString('base64')), encoded.body);

      // --access-logfile -: a JSON line per request on stdout; the error log is JSON on stderr.
      await until(() => stdout.some((l) => l.includes('"path":"/encode"')), 5000, 'the access line on stdout');
      const access = JSON.parse(stdout.find((l) => l.includes('"path":"/encode"'))!) as Record<string, unknown>;
      assert.equal(access.status, 200);
      assert.ok(records().length > 0);

      assert.equal(healthcheck(), 0, 'HEALTHCHECK while serving');

      // docker stop: the STOPSIGNAL, then the master stops gracefully and exits 0.
      proc.kill(last('STOPSIGNAL')!.args as NodeJS.Signals);
      assert.equal(await exited, 0, stderr.join('\n'));
      assert.equal(healthcheck(), 1, 'HEALTHCHECK once the server is gone');
    });
  });
});
