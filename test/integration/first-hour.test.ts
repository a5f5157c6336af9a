/**
 * The first hour of a new user (issue 14, points 1 to 3), through the real
 * command: --reload while editing with an editor that saves by renaming a
 * new file over the old one, a save during a reload, a save with a syntax
 * error; the module-system mistakes of a fresh `npm init -y` project; and an
 * app that throws while loading, located in the user's own code. Every error
 * line asserted here is quoted word for word in docs/mistakes.md.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, startGwserver, type Gwserver } from '../helpers/gwserver.js';
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

/** Asserts that `line` is quoted word for word in docs/mistakes.md, with the project's directory `dir` shown as /home/me/hello. */
function documented(line: string, dir: string): void {
  const shown = line.split(dir).join(DOCS_DIR);
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

/** Runs gwserver in `dir` until it exits (every process is stopped with the test if it does not); its exit code and its one `gwserver: error:` line. */
async function failure(dir: string, args: string[]): Promise<{ code: number | null; line: string; srv: Gwserver }> {
  const srv = await startGwserver(args, { cwd: dir, noWait: true });
  const { code } = await srv.exited;
  const lines = srv.stderr.filter((l) => l.startsWith('gwserver: error: '));
  assert.equal(lines.length, 1, `one error line, got:\n${srv.stderr.join('\n')}`);
  assert.deepEqual(srv.stderr.filter((l) => /^\s+at /.test(l)), [], 'no stack trace on stderr');
  return { code, line: lines[0]!, srv };
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
});
