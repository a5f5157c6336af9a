import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

describe('pinTickShape()', () => {
  it('holds a real tick object, and ticks made after full GCs with none alive still share its hidden class', () => {
    // What an idle worker goes through: a few ticks, then full GCs with no
    // tick object alive (more of them than V8's --retain-maps-for-n-gc), eight times.
    const script = `
      import { executionAsyncResource } from 'node:async_hooks';
      import { pinTickShape, pinnedTick } from './src/worker/tick-shape.ts';
      const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)');
      const turn = () => new Promise((r) => setImmediate(r));
      pinTickShape();
      await turn();
      const pinned = pinnedTick();
      for (let i = 0; i < 8; i++) {
        for (let j = 0; j < 20; j++) process.nextTick(() => {});
        await turn();
        for (let k = 0; k < 4; k++) globalThis.gc();
      }
      const fresh = await new Promise((r) => process.nextTick(() => r(executionAsyncResource())));
      process.stdout.write(JSON.stringify({
        symbols: Object.getOwnPropertySymbols(pinned).length,
        callback: typeof pinned.callback,
        freshSymbols: Object.getOwnPropertySymbols(fresh).length,
        same: sameMap(pinned, fresh),
      }));
    `;
    const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    // A tick object: the async id and trigger id symbols, and the callback.
    assert.deepEqual(JSON.parse(r.stdout), { symbols: 2, callback: 'function', freshSymbols: 2, same: true });
  });
});
