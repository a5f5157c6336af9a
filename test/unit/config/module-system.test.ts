/**
 * moduleSystemMistake: which import errors are the module-system mistake,
 * and the fix each message gives.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { moduleSystemMistake } from '../../../src/config/module-system.js';
import { tempDir } from '../../helpers/temp-dir.js';

async function importError(file: string): Promise<unknown> {
  try {
    await import(pathToFileURL(file).href);
  } catch (err) {
    return err;
  }
  assert.fail(`${file} loaded`);
}

describe('moduleSystemMistake', () => {
  it('an ES module loaded as CommonJS: .mjs, or "type": "module"', async () => {
    const dir = tempDir('gw-ms-');
    writeFileSync(path.join(dir, 'package.json'), '{"type":"commonjs"}');
    const file = path.join(dir, 'a.js');
    // Node's own error, as a CommonJS load reports it (tsx, which runs these tests, would load the file).
    const err = new SyntaxError('Cannot use import statement outside a module');
    err.stack = `${file}:1\nimport fs from "node:fs";\n^^^^^^\n\nSyntaxError: Cannot use import statement outside a module\n    at wrapSafe (node:internal/modules/cjs/loader:1464:18)`;
    assert.equal(
      moduleSystemMistake(err, file, 'X'),
      `X uses import, an ES module, but Node loads a.js as CommonJS (${dir}/package.json has "type": "commonjs"): rename it to a.mjs, or set "type": "module" in ${dir}/package.json`,
    );
  });

  it('CommonJS loaded as an ES module, for an .mjs file too: .cjs, or export', async () => {
    const dir = tempDir('gw-ms-');
    writeFileSync(path.join(dir, 'b.mjs'), 'const fs = require("node:fs");\n');
    const file = path.join(dir, 'b.mjs');
    assert.equal(
      moduleSystemMistake(await importError(file), file, 'X'),
      'X uses require, which is CommonJS, but Node loads b.mjs as an ES module (its name ends in .mjs): rename it to b.cjs, or write it with export and import',
    );
  });

  it('any other error is not one', async () => {
    const dir = tempDir('gw-ms-');
    writeFileSync(path.join(dir, 'c.mjs'), 'export const x = ;\n');
    const file = path.join(dir, 'c.mjs');
    assert.equal(moduleSystemMistake(await importError(file), file, 'X'), undefined);
    assert.equal(moduleSystemMistake(new ReferenceError('foo is not defined'), file, 'X'), undefined);
    assert.equal(moduleSystemMistake('a string', file, 'X'), undefined);
  });
});
