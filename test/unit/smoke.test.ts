import assert from 'node:assert/strict';
import { x } from '../../src/index.ts';
describe('smoke', () => { it('works', () => { assert.equal(x, 1); }); });
