/**
 * config/gwserver.config.js, the commented example, loads, validates, names
 * every setting and every hook, and sets nothing away from the defaults.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { resolveConfig } from '../../../src/config/load.js';
import { defaults, SETTINGS, type Setting } from '../../../src/config/settings.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const EXAMPLE = path.join(ROOT, 'config/gwserver.config.js');

describe('the example config (config/gwserver.config.js)', () => {
  const text = readFileSync(EXAMPLE, 'utf8');

  it('loads and validates', async () => {
    const r = await resolveConfig(['-c', 'config/gwserver.config.js', '--print-config'], {}, ROOT);
    assert.equal(r.configFile, EXAMPLE);
  });

  it('holds every setting at its default, hooks unset', async () => {
    // The file reads process.env itself, as any config file may.
    const env = process.env;
    const r = await resolveConfig(['-c', EXAMPLE, 'app:x'], env, ROOT);
    const want = defaults(env) as unknown as Record<string, unknown>;
    for (const s of SETTINGS as readonly Setting<unknown>[]) {
      if (s.name === 'config' || s.name === 'app') continue;
      assert.deepEqual((r.config as unknown as Record<string, unknown>)[s.name], want[s.name], s.name);
    }
  });

  it('names every setting, and every hook with its signature', () => {
    for (const s of SETTINGS as readonly Setting<unknown>[]) {
      if (s.type === 'function') {
        const params = s.signature!.slice(s.name.length);
        assert.ok(text.includes(`// export function ${s.name}${params}`), `hook ${s.signature}`);
      } else if (s.name === 'config') {
        assert.match(text, /`config`/);
      } else {
        // `interface` is a reserved word: `export { iface as interface }`.
        assert.match(text, new RegExp(`export const ${s.name} = |export \\{ \\w+ as ${s.name} \\};`), s.name);
      }
    }
  });
});
