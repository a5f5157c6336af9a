/**
 * The configuration through the real CLI: --print-config and --check-config
 * (which exit by themselves), precedence across a config file,
 * GWSERVER_CMD_ARGS and the command line, and mistakes as one line and exit 2.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, runToExit, type Run } from '../helpers/gwserver.js';
import { SETTINGS } from '../../src/config/settings.js';
import { tempDir } from '../helpers/temp-dir.js';

const APP = 'test/fixtures/apps/basic.mjs:hello';



/** The `name = value` lines of --print-config as a map. */
function printed(stdout: string): Map<string, string> {
  return new Map(stdout.trimEnd().split('\n').map((l) => {
    const i = l.indexOf(' = ');
    return [l.slice(0, i).trimEnd(), l.slice(i + 3).replace(/ {2}# restart$/, '')] as [string, string];
  }));
}

function assertOneLine(r: Run, code: number, expected: string | RegExp): void {
  assert.equal(r.code, code, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one line, got:\n${r.stderr}`);
  if (typeof expected === 'string') assert.equal(lines[0], `gwserver: error: ${expected}`);
  else assert.match(lines[0]!, expected);
  assert.equal(r.stdout, '');
}

describe('configuration (real CLI)', function () {
  this.timeout(30_000);
  let dir: string;
  beforeEach(() => { dir = tempDir('gw-cfg-'); });

  describe('--print-config', () => {
    it('prints every setting, sorted, and exits 0 without an application', async () => {
      const r = await runToExit(['--print-config']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      const names = r.stdout.trimEnd().split('\n').map((l) => l.split(' = ')[0]!.trimEnd());
      assert.deepEqual(names, [...names].sort());
      assert.deepEqual([...names].sort(), SETTINGS.map((s) => s.name).sort());
      const values = printed(r.stdout);
      assert.equal(values.get('workers'), '1');
      assert.equal(values.get('bind'), '["127.0.0.1:8000"]');
      assert.equal(values.get('postFork'), 'None');
      assert.equal(values.get('config'), "''");
    });

    it('works with the example config, config/gwserver.config.js', async () => {
      const r = await runToExit(['--print-config', '-c', 'config/gwserver.config.js']);
      assert.equal(r.code, 0, r.stderr);
      const values = printed(r.stdout);
      assert.equal(values.get('config'), path.join(ROOT, 'config/gwserver.config.js'));
      assert.equal(values.get('timeout'), '30');
      assert.equal(values.get('onStarting'), 'None');
    });

    it('shows hooks as <function> and the app from the config file', async () => {
      writeFileSync(path.join(dir, 'gw.mjs'), `export const app = 'x:y';\nexport function postFork(server, worker) {}\n`);
      const r = await runToExit(['--print-config', '-c', path.join(dir, 'gw.mjs')]);
      assert.equal(r.code, 0, r.stderr);
      const values = printed(r.stdout);
      assert.equal(values.get('postFork'), '<function>');
      assert.equal(values.get('preFork'), 'None');
      assert.equal(values.get('app'), 'x:y');
    });
  });

  describe('precedence, end to end', () => {
    it('defaults < ./gwserver.config.js < GWSERVER_CMD_ARGS < command line', async () => {
      writeFileSync(path.join(dir, 'gwserver.config.js'), `module.exports = { workers: 2, timeout: 60, procName: 'shop', max_requests: 100 };\n`);
      const r = await runToExit(['--print-config', '-t', '90'], { cwd: dir, env: { GWSERVER_CMD_ARGS: "--workers 4 --timeout 45 --name 'shop api'" } });
      assert.equal(r.code, 0, r.stderr);
      const values = printed(r.stdout);
      assert.equal(values.get('config'), path.join(dir, 'gwserver.config.js'));
      assert.equal(values.get('maxRequests'), '100');
      assert.equal(values.get('procName'), 'shop api');
      assert.equal(values.get('workers'), '4');
      assert.equal(values.get('timeout'), '90');
      assert.equal(values.get('gracefulTimeout'), '30');
    });

    it('WEB_CONCURRENCY is the default number of workers', async () => {
      const r = await runToExit(['--print-config'], { env: { WEB_CONCURRENCY: '3' } });
      assert.equal(printed(r.stdout).get('workers'), '3');
      const r2 = await runToExit(['--print-config', '-w', '5'], { env: { WEB_CONCURRENCY: '3' } });
      assert.equal(printed(r2.stdout).get('workers'), '5');
    });

    it('each config file format: .mjs, .cjs, .json', async () => {
      for (const [name, text] of [
        ['c.mjs', 'export default { workers: 6 };\n'],
        ['c.cjs', 'module.exports = { workers: 6 };\n'],
        ['c.json', '{"workers": 6}'],
      ]) {
        writeFileSync(path.join(dir, name!), text!);
        const r = await runToExit(['--print-config', '-c', name!], { cwd: dir });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(printed(r.stdout).get('workers'), '6', name);
      }
    });
  });

  describe('mistakes: one line, exit 2', () => {
    it('an unknown key in the config file, with a suggestion', async () => {
      writeFileSync(path.join(dir, 'gwserver.config.js'), 'exports.worker = 4;\n');
      assertOneLine(await runToExit([APP], { cwd: dir }), 2, 'gwserver.config.js: unknown setting "worker" (did you mean "workers"?)');
    });
    it('a bad value in the config file', async () => {
      writeFileSync(path.join(dir, 'gwserver.config.js'), 'exports.workers = "four";\n');
      assertOneLine(await runToExit([APP], { cwd: dir }), 2, 'gwserver.config.js: invalid value for workers: expected a number, got "four"');
    });
    it('a hook that is not a function', async () => {
      writeFileSync(path.join(dir, 'gwserver.config.js'), 'exports.postFork = "echo forked";\n');
      assertOneLine(await runToExit([APP], { cwd: dir }), 2, 'gwserver.config.js: invalid value for postFork: a hook must be a function, got "echo forked"');
    });
    it('an unknown flag and a bad value in GWSERVER_CMD_ARGS', async () => {
      assertOneLine(await runToExit([APP], { env: { GWSERVER_CMD_ARGS: '--worker 2' } }), 2, 'GWSERVER_CMD_ARGS: Unknown argument: worker (did you mean --workers?)');
      assertOneLine(await runToExit([APP], { env: { GWSERVER_CMD_ARGS: '--timeout soon' } }), 2, 'GWSERVER_CMD_ARGS: invalid value for --timeout: expected a number, got "soon"');
    });
    it('a bad value on the command line', async () => {
      assertOneLine(await runToExit(['-w', '0', APP]), 2, 'invalid value for --workers: 0 is too small (the least is 1)');
      assertOneLine(await runToExit(['--scheduling', 'fair', APP]), 2, 'invalid value for --scheduling: "fair" is not one of: os, round-robin');
    });
    it('a hook on the command line', async () => {
      assertOneLine(await runToExit(['--pre-request', 'x', APP]), 2, 'Unknown argument: pre-request (preRequest can only be set in a config file)');
    });
    it('a bad WEB_CONCURRENCY', async () => {
      assertOneLine(await runToExit([APP], { env: { WEB_CONCURRENCY: 'auto' } }), 2, '$WEB_CONCURRENCY: invalid value for workers: expected a number, got "auto"');
    });
    it('a config file named with -c that does not exist', async () => {
      assertOneLine(await runToExit(['-c', 'nope.config.js', APP]), 2, 'config file nope.config.js not found (from -c/--config)');
    });
    it('a config file that throws', async () => {
      writeFileSync(path.join(dir, 'gwserver.config.mjs'), 'throw new Error("broken on purpose");\n');
      assertOneLine(await runToExit(['-c', 'gwserver.config.mjs', APP], { cwd: dir }), 2, /^gwserver: error: gwserver\.config\.mjs: cannot load the config file: Error: broken on purpose \(at .*gwserver\.config\.mjs:1\)$/);
    });
  });

  describe('--check-config', () => {
    it('exits 0 when the config is valid and the app loads, printing only the interface', async () => {
      const r = await runToExit(['--check-config', '-c', 'config/gwserver.config.js', APP]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout + r.stderr, 'interface: gateway (a function: the default for functions; --interface node or fetch to change)\n');
    });
    it('takes the app from the config file, and honours --chdir', async () => {
      writeFileSync(path.join(dir, 'gw.json'), JSON.stringify({ app: 'apps/basic.mjs:hello', chdir: path.join(ROOT, 'test/fixtures') }));
      const r = await runToExit(['--check-config', '-c', path.join(dir, 'gw.json')]);
      assert.equal(r.code, 0, r.stderr);
    });
    it('a bad config exits 2 with one line', async () => {
      assertOneLine(await runToExit(['--check-config', '--max-requests', 'lots', APP]), 2, 'invalid value for --max-requests: expected a number, got "lots"');
    });
    it('an app that does not load exits 4 with one line', async () => {
      assertOneLine(await runToExit(['--check-config', 'test/fixtures/apps/basic.mjs:missing']), 4, /^gwserver: error: module .* has no attribute "missing"/);
      assertOneLine(await runToExit(['--check-config', 'test/fixtures/apps/loader/throws.js:application']), 4, /threw while loading/);
    });
    it('no application is a usage error', async () => {
      assertOneLine(await runToExit(['--check-config']), 2, /^gwserver: error: no application given/);
    });
  });
});
