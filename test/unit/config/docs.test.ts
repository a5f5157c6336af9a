import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { settingsMarkdown } from '../../../src/config/settings-doc.js';
import { ERROR_CODES } from '../../../src/errors.js';
import { SECTIONS, SETTINGS, type Setting } from '../../../src/config/settings.js';

const read = (p: string) => readFileSync(new URL(`../../../${p}`, import.meta.url), 'utf8');
const ALL = SETTINGS as readonly Setting<unknown>[];

describe('docs stay true to the code', () => {
  it('docs/settings.md is generated from the registry (run npm run docs:settings)', () => {
    assert.equal(read('docs/settings.md'), settingsMarkdown());
  });

  it('every setting has a validator that accepts its default, a section and a doc', () => {
    for (const s of ALL) {
      assert.match(s.name, /^[a-z][A-Za-z0-9]+$/, s.name);
      assert.ok((SECTIONS as readonly string[]).includes(s.section), s.name);
      assert.ok(s.doc.length > 20, s.name);
      const d = typeof s.default === 'function' ? (s.default as (e: NodeJS.ProcessEnv) => unknown)({}) : s.default;
      assert.deepEqual(s.validate(d), d, `${s.name}: default passes its validator`);
    }
  });

  it('every setting but the hooks and app has a flag; hooks have a signature and no flag', () => {
    for (const s of ALL) {
      if (s.type === 'function') {
        assert.equal(s.flag, undefined, s.name);
        assert.equal(s.section, 'Server hooks', s.name);
        assert.match(s.signature ?? '', new RegExp(`^${s.name}\\((\\w+(, )?)*\\)$`), s.name);
      } else if (s.name === 'app') {
        assert.equal(s.flag, undefined);
      } else {
        assert.match(s.flag ?? '', /^--[a-z][a-z0-9-]+$/, s.name);
      }
    }
  });

  it('flags, short options, names and gunicorn names are unique', () => {
    const unique = (values: Array<string | undefined>) => {
      const defined = values.filter((v): v is string => v !== undefined);
      assert.equal(new Set(defined).size, defined.length, defined.join(' '));
    };
    unique(ALL.map((s) => s.flag));
    unique(ALL.map((s) => s.short));
    unique(ALL.map((s) => s.name));
    unique(ALL.map((s) => s.gunicorn));
  });

  it('docs/configuration.md maps every gunicorn name', () => {
    const doc = read('docs/configuration.md');
    for (const s of ALL) {
      if (s.gunicorn !== undefined) assert.ok(doc.includes(`| \`${s.gunicorn}\` | \`${s.name}\``), `${s.gunicorn} -> ${s.name}`);
    }
  });

  it('every error code is documented in docs/gateway.md', () => {
    const doc = read('docs/gateway.md');
    for (const code of Object.keys(ERROR_CODES)) assert.ok(doc.includes(`\`${code}\``), code);
  });
});
