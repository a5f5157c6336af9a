import assert from 'node:assert/strict';
import { formatConfig } from '../../../src/config/print.js';
import { defaults, SETTINGS, type Config } from '../../../src/config/settings.js';

describe('--print-config output', () => {
  const config: Config = { ...defaults({}), workers: 4, procName: 'shop', postFork: () => undefined, umask: 0o22, user: 1000 };
  const text = formatConfig(config);
  const lines = text.trimEnd().split('\n');

  it('one "name = value" line per setting, sorted by name, in one column', () => {
    assert.ok(text.endsWith('\n'));
    assert.equal(lines.length, SETTINGS.length);
    const names = lines.map((l) => l.split(' = ')[0]!.trimEnd());
    assert.deepEqual(names, [...names].sort());
    assert.deepEqual([...names].sort(), SETTINGS.map((s) => s.name).sort());
    assert.equal(new Set(lines.map((l) => l.indexOf(' = '))).size, 1, 'the = signs line up');
  });

  it('shows each type readably', () => {
    const value = (name: string) => lines.find((l) => l.startsWith(`${name} `))!.split(' = ')[1]!.replace(/ {2}# restart$/, '');
    assert.equal(value('workers'), '4');
    assert.equal(value('procName'), 'shop');
    assert.equal(value('pidfile'), "''");
    assert.equal(value('bind'), '["127.0.0.1:8000"]');
    assert.equal(value('preload'), 'false');
    assert.equal(value('umask'), '0o022');
    assert.equal(value('socketMode'), '0o666');
    assert.equal(value('user'), '1000');
    assert.equal(value('postFork'), '<function>');
    assert.equal(value('onStarting'), 'None');
    assert.equal(value('timeout'), '30');
  });
});
