/**
 * The npm package as a user gets it (issue 14, point 9). `npm pack`, then
 * the README's "Install from npm" followed as written, in a fresh
 * `npm init -y` project of each module type (npm 11's default,
 * `"type": "commonjs"`, and `"type": "module"`), offline against the packed
 * tarball: its dependencies come from npm's cache, filled by the
 * repository's own `npm ci`. The install prints no warning of gwserver's
 * own; the installed `node_modules/.bin/gwserver` serves the README's app;
 * the shipped examples and source maps work; and what docs/deployment.md
 * says about stopping `npm start` and `npx` holds.
 *
 * The tarball is packed with --ignore-scripts, from the dist/ that
 * `npm test` has just built: its prepack would rebuild dist/ under the
 * running suite.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ROOT, isGwserverProcess, startGwserver, type Gwserver } from '../helpers/gwserver.js';
import { get } from '../helpers/http.js';
import { afterTest } from '../helpers/scope.js';
import { tempDir } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';

const PKG = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { name: string; scripts: Record<string, string> };

/** The README's section `## title`, up to the next `## `. */
function section(markdown: string, title: string): string {
  const start = markdown.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `README.md has no "## ${title}" section`);
  const end = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, end < 0 ? undefined : end);
}

/** The fenced code blocks of `text` in language `lang`, in order. */
function blocks(text: string, lang: string): string[] {
  return [...text.matchAll(new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```$', 'gm'))].map((m) => m[1]!);
}

const INSTALL = section(readFileSync(path.join(ROOT, 'README.md'), 'utf8'), 'Install from npm');
const [SETUP, SERVE] = blocks(INSTALL, 'sh');
const [APP] = blocks(INSTALL, 'js');
const [START] = blocks(INSTALL, 'json');

/**
 * The environment of an npm started here, less what `npm test` (or npx
 * mocha) put in the suite's own: npm_config_local_prefix and the like would
 * point the user's npm at this repository. Its cache stays: that is where
 * `npm ci` left gwserver's dependencies. (spawn drops undefined values.)
 */
const KEEP = new Set(['npm_config_cache', 'npm_config_userconfig', 'npm_config_globalconfig', 'npm_config_cafile', 'npm_config_registry']);
const NPM_ENV: NodeJS.ProcessEnv = Object.fromEntries(
  Object.keys(process.env)
    .filter((k) => (/^npm_/i.test(k) && !KEEP.has(k.toLowerCase())) || k === 'INIT_CWD')
    .map((k) => [k, undefined]),
);

interface Ran {
  code: number | null;
  /** stdout and stderr, as they came. */
  out: string;
  stdout: string;
}

/** Runs a command to its exit (killed by pid at the deadline, or when the test ends). */
function run(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const p = spawn(file, args, { cwd, env: { ...process.env, ...NPM_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    afterTest(() => {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    });
    let out = '';
    let stdout = '';
    p.stdout.on('data', (d) => {
      out += d;
      stdout += d;
    });
    p.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`${file} ${args.join(' ')} did not exit within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, stdout });
    });
  });
}

/** Whether nothing listens on 127.0.0.1:port any more (it can be bound again). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** The lines of npm's output that are warnings or errors. */
function npmWarnings(out: string): string[] {
  return out.split('\n').filter((line) => /^npm (warn|error|WARN|ERR!)/.test(line));
}

interface Project {
  type: 'commonjs' | 'module';
  dir: string;
  /** What npm printed while the README's setup ran. */
  out: string;
  /** Whether the install needed the registry (a dependency newer than the cached one). */
  online: boolean;
}

/**
 * Runs the README's setup block as written, with `npm install gwserver`
 * installing the packed tarball offline (`npm pkg set type=module` after
 * `npm init -y` for a module project).
 */
async function setUp(type: Project['type'], tarball: string): Promise<Project> {
  const root = tempDir(`gw-package-${type}-`);
  const lines = SETUP!.trim().split('\n');
  const dirName = /^mkdir (\S+) && cd \1$/.exec(lines[0]!)?.[1];
  assert.ok(dirName, `the README's setup starts with "mkdir DIR && cd DIR": ${lines[0]}`);
  assert.ok(lines.includes('npm init -y') && lines.includes('npm install gwserver'), `the README's setup runs npm init -y and npm install gwserver:\n${SETUP}`);
  const flags = '--no-audit --no-fund --no-update-notifier --loglevel=warn';
  const script = lines
    .flatMap((line) => (line === 'npm init -y' && type === 'module' ? [line, 'npm pkg set type=module'] : [line]))
    .map((line) => (line === 'npm install gwserver' ? `npm install --offline ${flags} "$GW_TARBALL"` : line))
    .join('\n');
  let ran = await run('sh', ['-ec', script], root, { GW_TARBALL: tarball });
  const dir = path.join(root, dirName);
  let online = false;
  if (ran.code !== 0 && ran.out.includes('ENOTCACHED')) {
    // The cache has the packuments npm ci fetched: a release since then is newer than any cached tarball.
    online = true;
    ran = await run('sh', ['-ec', `npm install --prefer-offline ${flags} "$GW_TARBALL"`], dir, { GW_TARBALL: tarball });
  }
  assert.equal(ran.code, 0, `the README's setup failed:\n${ran.out}`);
  return { type, dir, out: ran.out, online };
}

/** Starts the project's installed gwserver (node_modules/.bin/gwserver) with `args`; stopped by pid when the test ends. */
function serve(project: Project, args: string[], opts: { command?: string[]; detached?: boolean } = {}): Promise<Gwserver> {
  return startGwserver(args, { cwd: project.dir, env: NPM_ENV, command: opts.command ?? [path.join(project.dir, 'node_modules/.bin/gwserver')], detached: opts.detached ?? false });
}

/** The README's serve command (`npx gwserver ...`) as arguments, on port 0 instead of 8000. */
function readmeServeArgs(): string[] {
  const words = SERVE!.trim().split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ['npx', 'gwserver'], `the README serves with npx gwserver: ${SERVE}`);
  return words.slice(2).map((w) => w.replace('127.0.0.1:8000', '127.0.0.1:0'));
}

/** Writes the README's app where its first line (`// app.mjs`) says; returns that name. */
function writeReadmeApp(project: Project): string {
  const name = /^\/\/ (\S+)\n/.exec(APP!)?.[1];
  assert.ok(name, `the README's app starts with a "// FILE" line:\n${APP}`);
  writeFileSync(path.join(project.dir, name), APP!);
  return name;
}

/** The master's pid: the one that logged "listening". */
function masterPid(srv: Gwserver): number {
  const pid = srv.records().find((r) => r.msg === 'listening')?.pid;
  assert.equal(typeof pid, 'number', 'a "listening" record with a pid');
  return pid as number;
}

/** A process's parent, from /proc. */
function parentPid(pid: number): number {
  // The command (field 2) may hold spaces and parentheses: the fields after its last ")" are safe.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** Waits until the master is gone and its port can be bound again. */
async function released(pid: number, port: number): Promise<void> {
  await until(() => !isGwserverProcess(pid), 15_000, `master ${pid} to exit`);
  await until(() => portFree(port), 15_000, `port ${port} to be released`);
}

describe('the npm package (npm pack, installed as the README says)', function () {
  this.timeout(60_000);
  let packed: { filename: string; size: number; unpackedSize: number; files: Array<{ path: string }> };
  let tarball: string;
  let cjs: Project;
  let esm: Project;

  before(async function () {
    this.timeout(120_000);
    const dest = tempDir('gw-pack-');
    const ran = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dest], ROOT);
    assert.equal(ran.code, 0, ran.out);
    packed = JSON.parse(ran.stdout)[0];
    tarball = path.join(dest, packed.filename);
    cjs = await setUp('commonjs', tarball);
    esm = await setUp('module', tarball);
  });

  it('packs dist/ with its maps, src/ that they point into, the examples and the docs, and no tests', function () {
    const files = new Set(packed.files.map((f) => f.path));
    for (const f of ['package.json', 'README.md', 'LICENSE', 'dist/cli/bin.js', 'dist/cli/ctl-bin.js', 'dist/index.js', 'dist/index.js.map', 'dist/index.d.ts', 'dist/index.d.ts.map', 'src/index.ts', 'examples/hello.js', 'examples/base64.js', 'docs/examples.md', 'config/gwserver.config.js', 'systemd/gwserver.service']) {
      assert.ok(files.has(f), `the package has ${f}`);
    }
    const stray = [...files].filter((f) => /^(test|bench|node_modules|\.ci)\//.test(f) || f.endsWith('.tsbuildinfo'));
    assert.deepEqual(stray, []);
    // 0.7 MB packed (2.7 MB unpacked) when this was written; a jump means something came in by mistake.
    assert.ok(packed.size < 1_500_000, `packed size ${packed.size} bytes`);
  });

  it('ships a package.json with no install script and a build before packing', function () {
    const installed = JSON.parse(readFileSync(path.join(cjs.dir, 'node_modules/gwserver/package.json'), 'utf8')) as { scripts: Record<string, string> };
    // npm 11 lists a package's preinstall, install, postinstall (and, from a tarball or git, prepare) as install scripts to approve.
    for (const event of ['preinstall', 'install', 'postinstall', 'prepare']) assert.equal(installed.scripts[event], undefined, `scripts.${event}`);
    assert.match(PKG.scripts.prepack ?? '', /npm run build/);
  });

  for (const type of ['commonjs', 'module'] as const) {
    it(`installs offline into a fresh npm init -y project ("type": "${type}") with no warning of gwserver's own`, function () {
      const project = type === 'commonjs' ? cjs : esm;
      const pkg = JSON.parse(readFileSync(path.join(project.dir, 'package.json'), 'utf8')) as { type?: string; dependencies?: Record<string, string> };
      assert.equal(pkg.type, type, "npm init -y's type (npm 11 writes commonjs)");
      assert.ok(pkg.dependencies?.gwserver, 'gwserver is a dependency');
      const own = npmWarnings(project.out).filter((line) => /gwserver|install-scripts/.test(line));
      assert.deepEqual(own, [], `npm's output:\n${project.out}`);
      if (project.online) console.log(`      (a dependency newer than npm's cache: the ${type} install used the registry)`);
    });

    it(`serves the README's app.mjs with the README's command in a "type": "${type}" project, and stops by pid`, async function () {
      const project = type === 'commonjs' ? cjs : esm;
      const app = writeReadmeApp(project);
      const args = readmeServeArgs();
      assert.ok(args.includes(app), `the README serves ${app}: ${SERVE}`);
      const srv = await serve(project, args);
      const reply = await get(srv);
      assert.equal(reply.status, 200);
      const says = /says `([^`]+)`/.exec(INSTALL)?.[1];
      assert.equal(reply.body, says);
      const { code } = await srv.stop();
      assert.equal(code, 0);
      await released(srv.pid, srv.port);
    });
  }

  it('serves app.js written for the module system of each project, as the README says', async function () {
    const body = "function application(environ, startResponse) {\n  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);\n  return ['Hello world!'];\n}\n";
    writeFileSync(path.join(cjs.dir, 'app.js'), `${body}module.exports = { application };\n`);
    writeFileSync(path.join(esm.dir, 'app.js'), `export ${body}`);
    for (const project of [cjs, esm]) {
      const srv = await serve(project, ['app:application']);
      assert.equal((await get(srv)).body, 'Hello world!', project.type);
      assert.equal((await srv.stop()).code, 0);
    }
  });

  it('installs gwserverctl, the second binary, which finds the installed server by its default control socket', async function () {
    const target = 'node_modules/gwserver/examples/hello:application';
    const runtime = tempDir('gw-pack-run-');
    const srv = await startGwserver(['-w', '2', target], { cwd: cjs.dir, env: { ...NPM_ENV, XDG_RUNTIME_DIR: runtime }, command: [path.join(cjs.dir, 'node_modules/.bin/gwserver')] });
    const ran = await run(path.join(cjs.dir, 'node_modules/.bin/gwserverctl'), ['status', '--json'], cjs.dir, { XDG_RUNTIME_DIR: runtime, GWSERVER_CONTROL_SOCKET: '' });
    assert.equal(ran.code, 0, ran.out);
    assert.equal(JSON.parse(ran.stdout).pid, srv.pid);
    assert.equal((await srv.stop()).code, 0);
  });

  it('serves the shipped examples by their path in node_modules, as docs/examples.md says', async function () {
    const target = 'node_modules/gwserver/examples/hello:application';
    assert.ok(readFileSync(path.join(ROOT, 'docs/examples.md'), 'utf8').includes(`npx gwserver ${target}`));
    const srv = await serve(cjs, [target]);
    const reply = await get(srv);
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'Hello world!');
    assert.equal((await srv.stop()).code, 0);
  });

  it("has source and declaration maps that resolve to shipped files, and stack traces that name gwserver's src/ lines", async function () {
    const pkgDir = path.join(cjs.dir, 'node_modules/gwserver');
    const dist = path.join(pkgDir, 'dist');
    const all = readdirSync(dist, { recursive: true, encoding: 'utf8' }).map((f) => path.join(dist, f));
    const maps = all.filter((f) => f.endsWith('.map'));
    const generated = all.filter((f) => f.endsWith('.js') || f.endsWith('.d.ts'));
    assert.ok(maps.length > 0 && maps.length === generated.length, `a map for each .js and .d.ts (${maps.length} maps, ${generated.length} files)`);
    for (const file of generated) {
      const ref = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(file, 'utf8'))?.[1];
      assert.ok(ref && existsSync(path.resolve(path.dirname(file), ref)), `${path.relative(pkgDir, file)} names a shipped map (${ref})`);
    }
    for (const file of maps) {
      const map = JSON.parse(readFileSync(file, 'utf8')) as { sources: string[]; sourceRoot?: string };
      assert.ok(map.sources.length > 0, `${path.relative(pkgDir, file)} has sources`);
      for (const source of map.sources) {
        const resolved = path.resolve(path.dirname(file), map.sourceRoot ?? '', source);
        assert.ok(resolved.startsWith(path.join(pkgDir, 'src') + path.sep) && existsSync(resolved), `${path.relative(pkgDir, file)}: ${source} is shipped`);
      }
    }
    // An error thrown inside gwserver, with Node's source maps on: the frames name src/*.ts, at the right place.
    const script = "import('gwserver').then(({ parseStatus }) => { try { parseStatus('x'); } catch (err) { console.log(err.stack); } });";
    const ran = await run(process.execPath, ['--enable-source-maps', '-e', script], cjs.dir);
    assert.equal(ran.code, 0, ran.out);
    const frames = [...ran.out.matchAll(/^\s+at (\S+) \((.+):(\d+):(\d+)\)$/gm)].filter((m) => m[2]!.startsWith(pkgDir + path.sep));
    assert.ok(frames.length >= 2, `frames in gwserver:\n${ran.out}`);
    const text = (m: RegExpMatchArray) => (readFileSync(m[2]!, 'utf8').split('\n')[Number(m[3]) - 1] ?? '').slice(Number(m[4]) - 1);
    for (const m of frames) assert.ok(m[2]!.startsWith(path.join(pkgDir, 'src') + path.sep) && m[2]!.endsWith('.ts'), `${m[0]} is in src/`);
    assert.match(text(frames[0]!), /^new \w*Error\(/, `${frames[0]![0]} points at the error's construction`);
    assert.ok(text(frames[1]!).startsWith(frames[0]![1]!), `${frames[1]![0]} points at the call of ${frames[0]![1]}`);
  });

  describe("stopping npm start and npx (docs/deployment.md, 'Under npm start and npx')", function () {
    /** The README's start script, its -b left out: the test's bind comes after `npm start --`. */
    function startScript(withExec: boolean): string {
      const script = (JSON.parse(`{${START!}}`) as { scripts: { start: string } }).scripts.start;
      assert.match(script, /^exec gwserver /, `the README's start script begins with exec: ${script}`);
      const bare = script.replace(' -b 127.0.0.1:8000', '');
      return withExec ? bare : bare.replace(/^exec /, '');
    }

    function setStart(project: Project, script: string): void {
      const file = path.join(project.dir, 'package.json');
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { scripts?: Record<string, string> };
      pkg.scripts = { ...pkg.scripts, start: script };
      writeFileSync(file, `${JSON.stringify(pkg, null, 2)}\n`);
    }

    /** `npm start -- -b 127.0.0.1:0` in the CommonJS project, with the README's app and start script. */
    async function npmStart(withExec: boolean): Promise<{ srv: Gwserver; master: number }> {
      writeReadmeApp(cjs);
      setStart(cjs, startScript(withExec));
      const srv = await serve(cjs, ['-b', '127.0.0.1:0'], { command: ['npm', 'start', '--'] });
      return { srv, master: masterPid(srv) };
    }

    it("this repository's own npm start execs node", function () {
      assert.match(PKG.scripts.start ?? '', /^exec node dist\/cli\/bin\.js /);
    });

    it("with exec in the script, a TERM to npm's pid stops gwserver and frees the port", async function () {
      const { srv, master } = await npmStart(true);
      assert.equal(parentPid(master), srv.pid, "with exec, npm's child is the master itself");
      assert.equal((await get(srv)).status, 200);
      process.kill(srv.pid, 'SIGTERM');
      await srv.exited;
      await released(master, srv.port);
    });

    it("without exec, a TERM to npm's pid ends npm and leaves gwserver serving on its port", async function () {
      const { srv, master } = await npmStart(false);
      assert.notEqual(parentPid(master), srv.pid, "without exec, a shell stands between npm and the master");
      process.kill(srv.pid, 'SIGTERM');
      await srv.exited;
      assert.ok(isGwserverProcess(master), 'the master outlived npm');
      assert.equal((await get(srv)).status, 200, 'and still serves');
      process.kill(master, 'SIGTERM');
      await released(master, srv.port);
    });

    it('npx gwserver stops, port freed, with a TERM to its process group', async function () {
      writeReadmeApp(cjs);
      const srv = await serve(cjs, ['-b', '127.0.0.1:0', 'app.mjs'], { command: ['npx', 'gwserver'], detached: true });
      const master = masterPid(srv);
      assert.equal((await get(srv)).status, 200);
      process.kill(-srv.pid, 'SIGTERM');
      await srv.exited;
      await released(master, srv.port);
    });
  });
});
