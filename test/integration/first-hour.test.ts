/**
 * The first hour of a new user (issue 14, points 1 to 3), through the real
 * command: --reload while editing with an editor that saves by renaming a
 * new file over the old one, a save during a reload, a save with a syntax
 * error; the module-system mistakes of a fresh `npm init -y` project; and an
 * app that throws while loading, located in the user's own code. Every error
 * line asserted here is quoted word for word in docs/mistakes.md.
 */
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startGwserver, type Gwserver } from '../helpers/gwserver.js';
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
      await until(() => srv.stderr.filter((l) => l === 'read v2').length === 2, 15_000, 'both new workers to read v2');
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
      assert.equal(
        record.msg,
        `reload failed: a new worker could not load the app: module "app.mjs" (${file}) threw while loading: SyntaxError: Unexpected token '}'; to see where, run: node --check ${file}; the running workers keep serving until the next reload`,
      );
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
});
