import assert from 'node:assert/strict';
import { formatConfig, RESTART_MARK } from '../../../src/config/print.js';
import { appliesOn, DEFAULTS, defaults, onHup, SETTINGS, type Config } from '../../../src/config/settings.js';

describe('when a setting takes effect (the registry)', () => {
  it('marks what the master sets up once as restart, and the rest as hup', () => {
    const restart = SETTINGS.filter((s) => appliesOn(s) === 'restart').map((s) => s.name).sort();
    assert.deepEqual(restart, ['backlog', 'bind', 'chdir', 'config', 'controlSocket', 'metricsBind', 'metricsBuckets', 'noControlSocket', 'pidfile', 'preload', 'reload', 'scheduling', 'socketMode']);
    assert.equal(appliesOn(SETTINGS.find((s) => s.name === 'timeout')!), 'hup');
  });

  it('a HUP keeps the restart-only settings and names the ones that changed', () => {
    const now: Config = { ...defaults({}), bind: ['127.0.0.1:8000'], scheduling: 'os', workers: 2 };
    const next: Config = { ...now, bind: ['127.0.0.1:9000'], scheduling: 'round-robin', workers: 4, timeout: 60, metricsBuckets: [...now.metricsBuckets] };
    const { config, kept } = onHup(now, next);
    assert.deepEqual(config.bind, ['127.0.0.1:8000']);
    assert.equal(config.scheduling, 'os');
    assert.equal(config.workers, 4);
    assert.equal(config.timeout, 60);
    assert.deepEqual(kept.map((k) => [k.name, k.flag, k.next]), [['bind', '--bind', ['127.0.0.1:9000']], ['scheduling', '--scheduling', 'round-robin']]);
    assert.deepEqual(onHup(now, now).kept, []);
  });

  it('--print-config ends the restart-only lines with "# restart"', () => {
    const lines = formatConfig(defaults({})).trimEnd().split('\n');
    const marked = lines.filter((l) => l.endsWith(RESTART_MARK)).map((l) => l.split(' ')[0]).sort();
    assert.deepEqual(marked, SETTINGS.filter((s) => appliesOn(s) === 'restart').map((s) => s.name).sort());
  });

  it('DEFAULTS holds every default once, without the environment', () => {
    assert.equal(DEFAULTS.limitRequestLine, 4094);
    assert.equal(DEFAULTS.keepAlive, 65);
    assert.deepEqual(DEFAULTS.forwardedAllowIps, ['127.0.0.1', '::1']);
    assert.deepEqual(DEFAULTS.bind, ['127.0.0.1:8000']);
    assert.ok(Object.isFrozen(DEFAULTS));
  });
});
