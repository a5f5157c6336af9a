/**
 * The --reload watcher: every save is seen, in place or by rename, in
 * subdirectories and in directories made after it started; dependencies
 * and dot-directories are not watched.
 */
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isSource, watchSources } from '../../../src/master/reloader.js';
import { afterTest } from '../../helpers/scope.js';
import { tempDir } from '../../helpers/temp-dir.js';
import { until } from '../../helpers/until.js';

function saveByRename(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

describe('reloader', () => {
  it('isSource: source files outside node_modules and dot-directories', () => {
    assert.equal(isSource('app.mjs'), true);
    assert.equal(isSource(path.join('lib', 'x.ts')), true);
    assert.equal(isSource('app.mjs.tmp'), false);
    assert.equal(isSource(path.join('node_modules', 'x', 'index.js')), false);
    assert.equal(isSource(path.join('.git', 'x.js')), false);
  });

  it('sees every save by rename, in subdirectories and in directories made later', async () => {
    const dir = tempDir('gw-watch-');
    mkdirSync(path.join(dir, 'lib'));
    writeFileSync(path.join(dir, 'app.mjs'), '1');
    const seen: string[] = [];
    const stop = watchSources(dir, (file) => seen.push(path.relative(dir, file)), 20);
    afterTest(stop);
    for (let i = 0; i < 3; i++) {
      saveByRename(path.join(dir, 'app.mjs'), String(i));
      await until(() => seen.length === i + 1, 5000, () => `save ${i + 1} (seen: ${seen.join(', ')})`);
    }
    saveByRename(path.join(dir, 'lib', 'x.js'), 'x');
    await until(() => seen.at(-1) === path.join('lib', 'x.js'), 5000, 'lib/x.js');
    mkdirSync(path.join(dir, 'routes'));
    // The new directory is watched once its creation is seen.
    await until(() => {
      saveByRename(path.join(dir, 'routes', 'a.js'), 'a');
      return seen.at(-1) === path.join('routes', 'a.js');
    }, 5000, 'routes/a.js');
    assert.deepEqual(seen.slice(0, 3), ['app.mjs', 'app.mjs', 'app.mjs']);
  });
});
