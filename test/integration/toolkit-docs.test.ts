/**
 * docs/toolkit.md's examples run as written: every ```js block there that
 * is a script (it imports from 'gwserver', the built package found by its
 * own name from the repository root, and exports no application) is run
 * with node and must exit 0. The blocks that export an application (the
 * middleware's) are run by test/unit/middleware/docs.test.ts; ```ts blocks
 * are fragments that show a shape, and are not run.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ROOT } from '../helpers/gwserver.js';
import { runNode } from '../helpers/run-node.js';

const DOC = readFileSync(`${ROOT}/docs/toolkit.md`, 'utf8');
const BLOCKS = [...DOC.matchAll(/^```js\n([\s\S]*?)^```$/gm)]
  .map((m) => ({ code: m[1]!, line: DOC.slice(0, m.index).split('\n').length }))
  .filter((b) => b.code.includes("from 'gwserver'") && !b.code.includes('export const application'));

describe('docs/toolkit.md examples run as written', function () {
  this.timeout(30_000);

  it('has runnable examples', function () {
    assert.ok(BLOCKS.length >= 5, `found ${BLOCKS.length} js blocks`);
  });

  for (const { code, line } of BLOCKS) {
    it(`the example at docs/toolkit.md:${line}`, async function () {
      const run = runNode(['--input-type=module', '-e', code]);
      assert.equal(await run.exited(), 0, run.stdout + run.stderr);
    });
  }
});
