/**
 * The first hour of a new user (issue 14, points 1 to 3), through the real
 * command: --reload while editing with an editor that saves by renaming a
 * new file over the old one, a save during a reload, a save with a syntax
 * error; the module-system mistakes of a fresh `npm init -y` project; an
 * app that throws while loading, located in the user's own code; and exports
 * of every kind (point 4): what a framework user exports is served as is,
 * with or without CALLABLE, and what cannot be served is refused at boot
 * with the fix, by --check-config as by a real start. Every error line
 * asserted here is quoted word for word in docs/mistakes.md.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, runToExit, startGwserver, type Gwserver } from '../helpers/gwserver.js';
import { get } from '../helpers/http.js';
import { until } from '../helpers/until.js';
import { tempDir } from '../helpers/temp-dir.js';

/** A gateway app that answers `version`. */
function app(version: string): string {
  return `export function application(environ, startResponse) {\n  startResponse('200 OK', [['Content-Type', 'text/plain']]);\n  return [${JSON.stringify(version)}];\n}\n`;
}

/** Saves `text` to `file` as `sed -i`, vim and JetBrains' safe write do: a new file renamed over the old one (a new inode). */
function saveByRename(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.swp`);
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** The bodies of `n` requests, each on a fresh connection (so every worker gets its share). */
async function answers(srv: Gwserver, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await get(srv)).body);
  return out;
}

/** Waits until `n` answers in a row are all `version`, then checks `n` more: one generation serves. */
async function allServe(srv: Gwserver, version: string, n = 20, deadline = 30_000): Promise<void> {
  let last: string[] = [];
  await until(async () => (last = await answers(srv, n)).every((b) => b === version), deadline, () => `every worker to serve ${version} (last: ${last.join(' ')})`);
  assert.deepEqual([...new Set(await answers(srv, n))], [version], 'no worker of an older generation is left');
}

/** docs/mistakes.md quotes every message with the project in /home/me/hello. */
const DOCS_DIR = '/home/me/hello';
const MISTAKES = readFileSync(path.join(ROOT, 'docs/mistakes.md'), 'utf8');

/** Asserts that `line` is quoted word for word in docs/mistakes.md, with the project's directory `dir` shown as /home/me/hello (and `user` as the docs' user). */
function documented(line: string, dir: string, user?: [actual: string, shown: string]): void {
  let shown = line.split(dir).join(DOCS_DIR);
  if (user !== undefined) shown = shown.split(user[0]).join(user[1]);
  assert.ok(MISTAKES.includes(shown), `docs/mistakes.md does not quote:\n${shown}`);
}

/** A project as npm 11's `npm init -y` leaves it: `"type": "commonjs"` (or the `type` given). */
function project(type: 'commonjs' | 'module', files: Record<string, string>): string {
  const dir = tempDir('gw-first-');
  writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify({ name: 'hello', version: '1.0.0', main: 'index.js', type }, null, 2)}\n`);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

/** The user and group a gwserver process runs as (the test's own when empty). */
type As = { uid?: number; gid?: number };

/** Runs gwserver in `dir` until it exits (every process is stopped with the test if it does not); its exit code and its one `gwserver: error:` line. */
async function failure(dir: string, args: string[], as: As = {}): Promise<{ code: number | null; line: string; srv: Gwserver }> {
  const srv = await startGwserver(args, { cwd: dir, noWait: true, ...as });
  const { code } = await srv.exited;
  const lines = srv.stderr.filter((l) => l.startsWith('gwserver: error: '));
  assert.equal(lines.length, 1, `one error line, got:\n${srv.stderr.join('\n')}`);
  assert.deepEqual(srv.stderr.filter((l) => /^\s+at /.test(l)), [], 'no stack trace on stderr');
  return { code, line: lines[0]!, srv };
}

/** A `project()` that sees the repository's node_modules (express, koa, fastify, hono), as an installed project would. */
function frameworkProject(type: 'commonjs' | 'module', files: Record<string, string>): string {
  const dir = project(type, files);
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

/** `--check-config` in `dir`: its exit code, its stdout and the lines on its stderr. */
async function check(dir: string, args: string[], as: As = {}): Promise<{ code: number | null; stdout: string; stderr: string[] }> {
  const run = await runToExit(['--check-config', ...args], { cwd: dir, ...as });
  return { code: run.code, stdout: run.stdout, stderr: run.stderr.split('\n').filter(Boolean) };
}

const ESM_APP = "export function application(environ, startResponse) {\n  startResponse('200 OK', []);\n  return ['hello'];\n}\n";
const CJS_APP = "module.exports = { application(environ, startResponse) {\n  startResponse('200 OK', []);\n  return ['hello'];\n} };\n";

describe('the first hour', function () {
  this.timeout(90_000);

  describe('--reload while editing', () => {
    it('a save by rename reloads, three times in a row', async () => {
      const dir = tempDir('gw-reload-');
      const file = path.join(dir, 'app.mjs');
      writeFileSync(file, app('v1'));
      const srv = await startGwserver(['--reload', '-w', '2', 'app.mjs'], { cwd: dir });
      await allServe(srv, 'v1');
      for (const version of ['v2', 'v3', 'v4']) {
        saveByRename(file, app(version));
        await allServe(srv, version);
      }
      await until(() => srv.workerPids().length === 2, 10_000, 'the old workers gone');
    });

    it('a save during a reload ends with one generation, on the newest code', async () => {
      const dir = tempDir('gw-reload-');
      const file = path.join(dir, 'app.mjs');
      writeFileSync(file, app('v1'));
      const srv = await startGwserver(['--reload', '-w', '2', 'app.mjs'], { cwd: dir });
      await allServe(srv, 'v1');
      // v2 says when a worker has read it, then takes 3 s to load: the reload is surely running when v3 is saved.
      saveByRename(file, `console.error('read v2');\nawait new Promise((resolve) => setTimeout(resolve, 3000));\n${app('v2')}`);
      await until(() => srv.records().filter((r) => r.msg === 'read v2').length === 2, 15_000, 'both new workers to read v2');
      assert.equal(srv.records().filter((r) => /^reloaded in /.test(r.msg ?? '')).length, 0, 'the reload is running');
      saveByRename(file, app('v3'));
      await allServe(srv, 'v3', 30);
      await until(() => srv.workerPids().length === 2, 10_000, 'the old workers gone');
      assert.deepEqual([...new Set(await answers(srv, 30))], ['v3']);
    });

    it('a syntax error says so once and keeps the old workers serving; the next good save reloads', async () => {
      const dir = tempDir('gw-reload-');
      const file = path.join(dir, 'app.mjs');
      writeFileSync(file, app('v1'));
      const srv = await startGwserver(['--reload', '-w', '2', 'app.mjs'], { cwd: dir });
      await allServe(srv, 'v1');
      const serving = srv.workerPids().sort();
      saveByRename(file, 'export function application(environ, startResponse) {\n  return [\n}\n');
      const failed = (r: Record<string, any>) => /^reload failed: /.test(r.msg ?? '');
      const record = await srv.waitForRecord(failed, 15_000);
      const expected = `reload failed: a new worker could not load the app: module "app.mjs" (${file}) threw while loading: SyntaxError: Unexpected token '}'; to see where, run: node --check ${file}; the running workers keep serving until the next reload`;
      assert.equal(record.msg, expected);
      documented(expected, dir);
      // The failed generation's workers are gone; the old ones serve on.
      await until(() => srv.workerPids().length === 2, 10_000, 'the failed workers gone');
      assert.deepEqual(srv.workerPids().sort(), serving);
      assert.deepEqual([...new Set(await answers(srv, 10))], ['v1']);
      assert.equal(srv.records().filter(failed).length, 1, 'said once');
      assert.deepEqual(srv.records().filter((r) => /next attempt/.test(r.msg ?? '')), [], 'no attempt promised that never comes');
      saveByRename(file, app('v2'));
      await allServe(srv, 'v2');
    });
  });

  describe('the module system', () => {
    it('an app.js with export in a "type": "commonjs" project: rename it to .mjs, or "type": "module"', async () => {
      const dir = project('commonjs', { 'app.js': ESM_APP });
      const { code, line } = await failure(dir, ['app.js']);
      assert.equal(code, 4);
      const expected = `gwserver: error: module "app.js" (${dir}/app.js) uses export, an ES module, but Node loads app.js as CommonJS (${dir}/package.json has "type": "commonjs"): rename it to app.mjs, or set "type": "module" in ${dir}/package.json`;
      assert.equal(line, expected);
      documented(expected, dir);
    });

    it('an app.js with module.exports in a "type": "module" project: rename it to .cjs, or use export', async () => {
      const dir = project('module', { 'app.js': CJS_APP });
      const { code, line } = await failure(dir, ['app.js']);
      assert.equal(code, 4);
      const expected = `gwserver: error: module "app.js" (${dir}/app.js) uses module.exports, which is CommonJS, but Node loads app.js as an ES module (${dir}/package.json has "type": "module"): rename it to app.cjs, or write it with export and import`;
      assert.equal(line, expected);
      documented(expected, dir);
    });

    it('a file the app imports is named, not the app', async () => {
      const dir = project('commonjs', { 'app.mjs': `import * as lib from './lib.js';\n\nexport const greeting = lib.greeting;\n${ESM_APP}`, 'lib.js': "export const greeting = 'hello';\n" });
      const { code, line } = await failure(dir, ['app.mjs']);
      assert.equal(code, 4);
      const expected = `gwserver: error: module "app.mjs" (${dir}/app.mjs) imports ${dir}/lib.js, which uses export, an ES module, but Node loads lib.js as CommonJS (${dir}/package.json has "type": "commonjs"): rename it to lib.mjs, or set "type": "module" in ${dir}/package.json`;
      assert.equal(line, expected);
      documented(expected, dir);
    });

    it('a config file with export default in a "type": "commonjs" project', async () => {
      const dir = project('commonjs', { 'gwserver.config.js': 'export default { workers: 1 };\n', 'app.mjs': ESM_APP });
      const { code, line } = await failure(dir, ['-c', 'gwserver.config.js', 'app.mjs']);
      assert.equal(code, 2);
      const expected = `gwserver: error: gwserver.config.js: the config file uses export, an ES module, but Node loads gwserver.config.js as CommonJS (${dir}/package.json has "type": "commonjs"): rename it to gwserver.config.mjs, or set "type": "module" in ${dir}/package.json`;
      assert.equal(line, expected);
      documented(expected, dir);
    });

    it('a config file with module.exports in a "type": "module" project', async () => {
      const dir = project('module', { 'gwserver.config.js': 'module.exports = { workers: 1 };\n', 'app.mjs': ESM_APP });
      const { code, line } = await failure(dir, ['-c', 'gwserver.config.js', 'app.mjs']);
      assert.equal(code, 2);
      const expected = `gwserver: error: gwserver.config.js: the config file uses module.exports, which is CommonJS, but Node loads gwserver.config.js as an ES module (${dir}/package.json has "type": "module"): rename it to gwserver.config.cjs, or write it with export and import`;
      assert.equal(line, expected);
      documented(expected, dir);
    });
  });

  describe('an app that throws while loading', () => {
    it("points at the user's own line, not the dependency that threw, and logs the whole stack", async () => {
      // As express.static() without a root: serve-static throws, the user's line called it.
      const dir = project('module', {
        'node_modules/static-files/package.json': '{ "name": "static-files", "main": "index.js" }\n',
        'node_modules/static-files/index.js': "module.exports = function serveStatic(root) {\n  if (!root) {\n    throw new TypeError('root path required');\n  }\n};\n",
        'app.mjs': `import serveStatic from 'static-files';\n\nconst files = serveStatic();\n${ESM_APP}`,
      });
      const { code, line, srv } = await failure(dir, ['-w', '1', 'app.mjs']);
      assert.equal(code, 4);
      const expected = `gwserver: error: module "app.mjs" (${dir}/app.mjs) threw while loading: TypeError: root path required (at ${dir}/app.mjs:3:15)`;
      assert.equal(line, expected);
      documented(expected, dir);
      const [record] = srv.records().filter((r) => r.msg === `the app failed to load: ${expected.slice('gwserver: error: '.length)}`);
      assert.ok(record, srv.stderr.join('\n'));
      assert.equal(record.level, 'error');
      const stack = String(record.err?.stack);
      assert.match(stack, /^TypeError: root path required\n/);
      assert.ok(stack.includes(`${dir}/node_modules/static-files/index.js:3:11`), stack);
      assert.ok(stack.includes(`${dir}/app.mjs:3:15`), stack);
    });
  });

  describe('an export of the wrong kind', () => {
    /** Each module exports its app twice, as `app` and as the default export; `reply` is what GET / answers. */
    const KINDS: Array<{ name: string; type: 'module' | 'commonjs'; file: string; code: string; targets: string[]; reply: string; served: string }> = [
      {
        name: 'export default express()', type: 'module', file: 'app.mjs', reply: 'hello from express', served: 'node (an Express/Connect app: handle and use)',
        code: "import express from 'express';\n\nexport const app = express();\napp.get('/', (req, res) => res.send('hello from express'));\nexport default app;\n",
        targets: ['app.mjs', 'app.mjs:default', 'app.mjs:app'],
      },
      {
        name: 'module.exports = express() in CommonJS', type: 'commonjs', file: 'app.js', reply: 'hello from express in CommonJS', served: 'node (an Express/Connect app: handle and use)',
        code: "const express = require('express');\n\nconst app = express();\napp.get('/', (req, res) => res.send('hello from express in CommonJS'));\nmodule.exports = app;\n",
        targets: ['app.js', 'app.js:default'],
      },
      {
        name: 'a Koa app', type: 'module', file: 'app.mjs', reply: 'hello from koa', served: 'node (a Koa app: callback and middleware)',
        code: "import Koa from 'koa';\n\nexport const app = new Koa();\napp.use((ctx) => {\n  ctx.body = 'hello from koa';\n});\nexport default app;\n",
        targets: ['app.mjs', 'app.mjs:default', 'app.mjs:app'],
      },
      {
        name: 'a Fastify instance not yet ready', type: 'module', file: 'app.mjs', reply: 'hello from fastify', served: 'node (a Fastify instance: routing and ready)',
        code: "import Fastify from 'fastify';\n\nexport const app = Fastify();\napp.get('/', async () => 'hello from fastify');\nexport default app;\n",
        targets: ['app.mjs', 'app.mjs:default', 'app.mjs:app'],
      },
      {
        name: 'a Hono app', type: 'module', file: 'app.mjs', reply: 'hello from hono', served: 'fetch (a Hono app: an object with a fetch method)',
        code: "import { Hono } from 'hono';\n\nexport const app = new Hono();\napp.get('/', (c) => c.text('hello from hono'));\nexport default app;\n",
        targets: ['app.mjs', 'app.mjs:default', 'app.mjs:app'],
      },
      {
        name: 'export default { fetch }', type: 'module', file: 'app.mjs', reply: 'hello from fetch', served: 'fetch (an object with a fetch method)',
        code: "export const app = {\n  fetch(request) {\n    return new Response('hello from fetch');\n  },\n};\nexport default app;\n",
        targets: ['app.mjs', 'app.mjs:default', 'app.mjs:app'],
      },
      {
        name: 'the promise of an async factory', type: 'module', file: 'app.mjs', reply: 'hello from a promise', served: 'fetch (a Hono app: an object with a fetch method)',
        code: "import { Hono } from 'hono';\n\nasync function createApp() {\n  const app = new Hono();\n  app.get('/', (c) => c.text('hello from a promise'));\n  return app;\n}\n\nexport const app = createApp();\nexport default app;\n",
        targets: ['app.mjs', 'app.mjs:default', 'app.mjs:app'],
      },
    ];
    for (const kind of KINDS) {
      it(`${kind.name} is served as it is, named as ${kind.targets.join(', ')}; --check-config says how`, async () => {
        const dir = frameworkProject(kind.type, { [kind.file]: kind.code });
        await Promise.all(kind.targets.map(async (target) => {
          const checked = await check(dir, [target]);
          assert.equal(checked.code, 0, checked.stderr.join('\n'));
          assert.equal(checked.stdout, `interface: ${kind.served}\n`, target);
          const srv = await startGwserver(['-w', '1', target], { cwd: dir });
          const reply = await get(srv);
          assert.deepEqual([reply.status, reply.body], [200, kind.reply], target);
          // The worker serves what --check-config said it would.
          const serving = await srv.waitForRecord((r) => typeof r.interface === 'string');
          assert.equal(`${serving.interface} (${serving.why})`, kind.served, target);
          await srv.stop();
        }));
      });
    }

    /** What cannot be served: the module, the target, and the one line both a real start and --check-config print (exit 4). */
    const REFUSED: Array<{ name: string; code: string; target: string; line: (dir: string) => string }> = [
      {
        name: 'an app exported under another name, without CALLABLE',
        code: "import express from 'express';\n\nexport const app = express();\n",
        target: 'app.mjs',
        line: () => 'gwserver: error: module "app.mjs" has no attribute "application" (it exports: app); "app" is an Express/Connect app: use "app.mjs:app"',
      },
      {
        name: 'an object export (settings, not an app)',
        code: "export default { port: 8000, host: '127.0.0.1' };\n",
        target: 'app.mjs',
        line: () => 'gwserver: error: module "app.mjs" has no attribute "application" (it exports: default, port, host), and its default export is not an application (it is an object): the application must be a function (environ, startResponse), an Express, Koa or Fastify app, or an object with a fetch method',
      },
      {
        name: 'a class instance without fetch',
        code: "class Server {\n  handle(req, res) {\n    res.end('hello');\n  }\n}\n\nexport default new Server();\n",
        target: 'app.mjs',
        line: () => 'gwserver: error: module "app.mjs" has no attribute "application" (it exports: default, handle), and its default export is not an application (it is an instance of Server): the application must be a function (environ, startResponse), an Express, Koa or Fastify app, or an object with a fetch method; to serve one of its methods (handle), name it, e.g. "app.mjs:default.handle"',
      },
      {
        name: 'a plain value that is no function',
        code: 'export default 8000;\n',
        target: 'app.mjs',
        line: () => 'gwserver: error: module "app.mjs" has no attribute "application" (it exports: default), and its default export is not an application (it is a number): the application must be a function (environ, startResponse), an Express, Koa or Fastify app, or an object with a fetch method',
      },
      {
        name: 'a named value that is no function',
        code: 'export const app = { port: 8000 };\n',
        target: 'app.mjs:app',
        line: () => 'gwserver: error: "app.mjs:app" is not an application (it is an object): the application must be a function (environ, startResponse), an Express, Koa or Fastify app, or an object with a fetch method',
      },
      {
        name: 'a promise that rejects',
        code: "async function createApp() {\n  throw new Error('DATABASE_URL is not set');\n}\n\nexport default createApp();\n",
        target: 'app.mjs',
        line: (dir) => `gwserver: error: "app.mjs:default" is a promise that rejected: Error: DATABASE_URL is not set (at ${dir}/app.mjs:2:9)`,
      },
      {
        name: 'a factory, the only export, named without CALLABLE',
        code: "import express from 'express';\n\nexport function createApp() {\n  return express();\n}\n",
        target: 'app.mjs',
        line: () => 'gwserver: error: module "app.mjs" has no attribute "application" (it exports: createApp); to serve "createApp", name it: "app.mjs:createApp", or "app.mjs:createApp()" if it is a factory that returns the app',
      },
      {
        name: 'a Hono app under --interface gateway',
        code: "import { Hono } from 'hono';\n\nexport default new Hono();\n",
        target: 'app.mjs --interface gateway',
        line: () => 'gwserver: error: "app.mjs:default" is a Hono app (fetch), not a gateway application (environ, startResponse): use --interface fetch or auto',
      },
    ];
    for (const refused of REFUSED) {
      it(`${refused.name}: refused at boot with the fix, and --check-config says the same`, async () => {
        const dir = frameworkProject('module', { 'app.mjs': refused.code });
        const args = refused.target.split(' ');
        const expected = refused.line(dir);
        const started = await failure(dir, ['-w', '1', ...args]);
        assert.equal(started.code, 4);
        assert.equal(started.line, expected);
        const checked = await check(dir, args);
        assert.equal(checked.code, 4);
        assert.deepEqual(checked.stderr, [expected]);
        assert.equal(checked.stdout, '');
        documented(expected, dir);
      });
    }

    it('a factory served as the app: each request a 500 whose log says to call it in the target', async () => {
      const dir = frameworkProject('module', {
        'app.mjs': "import express from 'express';\n\nexport default async function createApp() {\n  const app = express();\n  app.get('/', (req, res) => res.send('made'));\n  return app;\n}\n",
      });
      // A function: nothing tells it from a gateway app before it is called.
      assert.equal((await check(dir, ['app.mjs'])).stdout, 'interface: gateway (a function: the default for functions; --interface node or fetch to change)\n');
      const srv = await startGwserver(['-w', '1', 'app.mjs'], { cwd: dir });
      const reply = await get(srv, '/', { timeoutMs: 5000 });
      assert.equal(reply.status, 500);
      const record = await srv.waitForRecord((r) => r.level === 'error' && r.path === '/');
      const expected = 'the application returned a function, not a body: if it is a factory that makes the app, call it in the target, so that it runs once, when the worker loads it: MODULE:createApp(), or MODULE:default() for a default export';
      assert.equal(record.err?.message, expected);
      documented(expected, dir);
      await srv.stop();
      const fixed = await startGwserver(['-w', '1', 'app.mjs:default()'], { cwd: dir });
      assert.equal((await get(fixed)).body, 'made');
    });

    it('a bare (req, res) handler is a gateway app by default: the first request is a 500 naming --interface node, never a hung request', async () => {
      const dir = frameworkProject('module', { 'app.mjs': "export default function handler(req, res) {\n  res.setHeader('Content-Type', 'text/plain');\n  res.end('hello');\n}\n" });
      const srv = await startGwserver(['-w', '1', 'app.mjs'], { cwd: dir });
      const reply = await get(srv, '/', { timeoutMs: 5000 });
      assert.equal(reply.status, 500);
      const record = await srv.waitForRecord((r) => r.level === 'error' && r.path === '/');
      const expected = 'application error: if this is a node:http handler (req, res), serve it with --interface node';
      assert.equal(record.msg, expected);
      assert.equal(record.err?.message, 'res.setHeader is not a function');
      documented(expected, dir);
      await srv.stop();
      const fixed = await startGwserver(['-w', '1', '--interface', 'node', 'app.mjs'], { cwd: dir });
      assert.equal((await get(fixed)).body, 'hello');
    });
  });

  describe('checks that check: --check-config fails where a start fails, with its line and exit code', () => {
    const asRoot = process.getuid?.() === 0;
    /** A user other than root, to see what permissions do (root bypasses them): nobody when the tests run as root, else the tests' own. */
    const other: As = asRoot ? { uid: 65534, gid: 65534 } : {};
    const otherUid = asRoot ? 65534 : process.getuid!();
    /** How gwserver names that user: "nobody (uid 65534)", or "uid N" for a uid without a name. */
    const otherName = (() => {
      const entry = readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')).find((f) => Number(f[2]) === otherUid);
      return entry ? `${entry[0]} (uid ${otherUid})` : `uid ${otherUid}`;
    })();
    const DOCS_USER = 'nobody (uid 65534)';

    /** A project that `other` can read (tempDir makes directories only their owner may enter). */
    function readableProject(): string {
      const dir = project('module', { 'app.mjs': ESM_APP });
      chmodSync(dir, 0o755);
      return dir;
    }

    /** Starts gwserver with `args` and runs --check-config with them: both exit with `code` and print exactly `expected`. */
    async function bothRefuse(dir: string, args: string[], code: number, expected: string, as: As = {}): Promise<void> {
      const started = await failure(dir, args, as);
      assert.equal(started.code, code, started.srv.stderr.join('\n'));
      assert.equal(started.line, expected);
      const checked = await check(dir, args, as);
      assert.equal(checked.code, code);
      assert.deepEqual(checked.stderr, [expected]);
      assert.equal(checked.stdout, '');
    }

    it('a --user that does not exist: exit 3', async () => {
      const dir = readableProject();
      const expected = 'gwserver: error: cannot switch the workers to user no-such-user-gw (--user): User identifier does not exist: no-such-user-gw';
      await bothRefuse(dir, ['-w', '1', '--user', 'no-such-user-gw', 'app.mjs'], 3, expected);
      documented(expected, dir);
    });

    it('a --group that does not exist: exit 3', async () => {
      const dir = readableProject();
      const expected = 'gwserver: error: cannot switch the workers to group no-such-group-gw (--group): Group identifier does not exist: no-such-group-gw';
      await bothRefuse(dir, ['-w', '1', '--group', 'no-such-group-gw', 'app.mjs'], 3, expected);
      documented(expected, dir);
    });

    it('a --user that only root may switch to, started by another user: exit 3', async () => {
      const dir = readableProject();
      const expected = 'gwserver: error: cannot switch the workers to user root (--user): only root can change users';
      await bothRefuse(dir, ['-w', '1', '--user', 'root', 'app.mjs'], 3, expected, other);
      documented(expected, dir);
    });

    it('a numeric --user with no /etc/passwd entry (a container\'s uid) is no mistake: checked, started, served as that uid', async function () {
      if (!asRoot) this.skip();
      const dir = readableProject();
      const checked = await check(dir, ['--user', '54321', 'app.mjs']);
      assert.equal(checked.code, 0, checked.stderr.join('\n'));
      const srv = await startGwserver(['-w', '1', '--user', '54321', 'app.mjs'], { cwd: dir });
      assert.equal((await get(srv)).body, 'hello');
      const [worker] = srv.workerPids();
      const status = readFileSync(`/proc/${worker}/status`, 'utf8');
      assert.match(status, /^Uid:\s+54321\s+54321\s+54321\s+54321$/m);
      // Only its group, not root's supplementary ones.
      assert.match(status, /^Groups:\s+0\s*$/m);
    });

    it('a unix socket in a directory that does not exist: exit 1, the directory named (not "ports below 1024")', async () => {
      const dir = readableProject();
      const expected = `gwserver: error: cannot listen on unix:${dir}/run/app.sock: the directory ${dir}/run does not exist: create it first (under systemd, RuntimeDirectory= does)`;
      await bothRefuse(dir, ['-b', `unix:${dir}/run/app.sock`, '-w', '1', 'app.mjs'], 1, expected);
      documented(expected, dir);
    });

    it('a unix socket in a directory the user cannot write to: exit 1, who cannot write where', async () => {
      const dir = readableProject();
      mkdirSync(path.join(dir, 'run'), { mode: 0o555 });
      chmodSync(path.join(dir, 'run'), 0o555);
      const expected = `gwserver: error: cannot listen on unix:${dir}/run/app.sock: permission denied: ${otherName} cannot create files in ${dir}/run`;
      await bothRefuse(dir, ['-b', `unix:${dir}/run/app.sock`, '-w', '1', 'app.mjs'], 1, expected, other);
      documented(expected, dir, [otherName, DOCS_USER]);
    });

    it('a unix socket gwserver can create: --check-config passes without creating it (a start does)', async () => {
      const dir = readableProject();
      mkdirSync(path.join(dir, 'run'));
      const sock = path.join(dir, 'run/app.sock');
      const checked = await check(dir, ['-b', `unix:${sock}`, 'app.mjs']);
      assert.equal(checked.code, 0, checked.stderr.join('\n'));
      assert.equal(existsSync(sock), false);
      const srv = await startGwserver(['-b', `unix:${sock}`, '-w', '1', 'app.mjs'], { cwd: dir });
      assert.deepEqual(srv.addresses, [`unix:${sock}`]);
      assert.equal((await get({ socketPath: sock })).body, 'hello');
    });
  });
});
