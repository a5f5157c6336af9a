import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { settingsMarkdown } from '../../../src/config/settings-doc.js';
import { ERROR_CODES } from '../../../src/errors.js';
import { SETTINGS } from '../../../src/config/settings.js';

const read = (p: string) => readFileSync(new URL(`../../../${p}`, import.meta.url), 'utf8');

describe('docs stay true to the code', () => {
  it('docs/settings.md is generated from the registry (run npm run docs:settings)', () => {
    assert.equal(read('docs/settings.md'), settingsMarkdown());
  });

  it('every setting has a flag, a validator that accepts its default, and a doc', () => {
    for (const s of SETTINGS) {
      assert.match(s.flag, /^--[a-z][a-z-]+$/);
      assert.ok(s.doc.length > 20, s.name);
      const d = typeof s.default === 'function' ? (s.default as (e: NodeJS.ProcessEnv) => unknown)({}) : s.default;
      assert.deepEqual((s.validate as (v: unknown) => unknown)(d), d, `${s.name}: default passes its validator`);
    }
  });

  it('every error code is documented in docs/gateway.md', () => {
    const doc = read('docs/gateway.md');
    for (const code of Object.keys(ERROR_CODES)) assert.ok(doc.includes(`\`${code}\``), code);
  });
});
