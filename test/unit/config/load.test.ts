/**
 * The config loader, case by case (after gunicorn's tests/test_config.py):
 * which layer wins for each pair of layers, how keys are checked, how each
 * kind of config file is read, and what each mistake says.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { reloadConfig, resolveConfig, UsageError, type ResolvedConfig } from '../../../src/config/load.js';
import { SETTINGS } from '../../../src/config/settings.js';
import { tempDir } from '../../helpers/temp-dir.js';

const APP = 'app:application';

/** The test's directory: the config files and the cwd. */
let dir: string;

/** Writes `files` (name -> content) into the test's directory. */
function write(files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
}

function resolve(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<ResolvedConfig> {
  return resolveConfig(argv, env, dir);
}

/** The one-line message of the UsageError `argv`/`env` end in. */
async function usageError(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  try {
    await resolve(argv, env);
  } catch (err) {
    assert.ok(err instanceof UsageError, `expected a UsageError, got ${String(err)}`);
    assert.equal((err as UsageError).code, 'GW_CONFIG');
    assert.doesNotMatch(err.message, /\n/);
    return err.message;
  }
  assert.fail('expected a UsageError');
}

describe('config loader', () => {
  beforeEach(() => { dir = tempDir('gw-config-'); });

  describe('precedence: defaults < config file < GWSERVER_CMD_ARGS < command line', () => {
    // One setting of each type: its flag, and a value for each layer as the layer writes it.
    const cases: Array<{ name: string; flag: string[]; file: string; env: string; argv: string; want: Record<'default' | 'file' | 'env' | 'argv', unknown> }> = [
      { name: 'workers', flag: ['-w'], file: '2', env: '3', argv: '4', want: { default: 1, file: 2, env: 3, argv: 4 } },
      { name: 'timeout', flag: ['--timeout'], file: '5', env: '6.5', argv: '0', want: { default: 30, file: 5, env: 6.5, argv: 0 } },
      { name: 'procName', flag: ['--name'], file: "'from-file'", env: "'from env'", argv: 'from-argv', want: { default: '', file: 'from-file', env: 'from env', argv: 'from-argv' } },
      { name: 'bind', flag: ['-b'], file: "['127.0.0.1:1', '127.0.0.1:2']", env: '[::1]:3', argv: 'unix:/tmp/x.sock', want: { default: ['127.0.0.1:8000'], file: ['127.0.0.1:1', '127.0.0.1:2'], env: ['[::1]:3'], argv: ['unix:/tmp/x.sock'] } },
      { name: 'umask', flag: ['--umask'], file: '0o22', env: '027', argv: '0o77', want: { default: 0, file: 0o22, env: 0o27, argv: 0o77 } },
    ];
    const layers = ['file', 'env', 'argv'] as const;
    for (const c of cases) {
      const setup = (use: ReadonlyArray<(typeof layers)[number]>) => {
        if (use.includes('file')) write({ 'gwserver.config.js': `export const ${c.name} = ${c.file};\n`, 'package.json': '{"type":"module"}' });
        const envArg = c.name === 'procName' ? `${c.flag[0]} '${c.env.slice(1, -1)}'` : `${c.flag[0]} ${c.env}`;
        const env = use.includes('env') ? { GWSERVER_CMD_ARGS: envArg } : {};
        const argv = use.includes('argv') ? [...c.flag, c.argv, APP] : [APP];
        return { env, argv };
      };
      it(`${c.name}: the default alone`, async () => {
        const { env, argv } = setup([]);
        assert.deepEqual((await resolve(argv, env)).config[c.name as 'workers'], c.want.default);
      });
      for (const [i, low] of layers.entries()) {
        it(`${c.name}: ${low} over the default`, async () => {
          const { env, argv } = setup([low]);
          assert.deepEqual((await resolve(argv, env)).config[c.name as 'workers'], c.want[low]);
        });
        for (const high of layers.slice(i + 1)) {
          it(`${c.name}: ${high} over ${low}`, async () => {
            const { env, argv } = setup([low, high]);
            assert.deepEqual((await resolve(argv, env)).config[c.name as 'workers'], c.want[high]);
          });
        }
      }
      it(`${c.name}: argv over env over file`, async () => {
        const { env, argv } = setup(layers);
        assert.deepEqual((await resolve(argv, env)).config[c.name as 'workers'], c.want.argv);
      });
    }

    it('a boolean flag in GWSERVER_CMD_ARGS or on the command line wins over the file', async () => {
      write({ 'gwserver.config.json': '{"preload": false, "reload": true}' });
      const r = await resolve(['-c', 'gwserver.config.json', '--preload', APP], { GWSERVER_CMD_ARGS: '--reload=false' });
      assert.equal(r.config.preload, true);
      assert.equal(r.config.reload, false);
    });

    it('layers are merged per setting: each setting comes from its own highest layer', async () => {
      write({ 'gwserver.config.json': JSON.stringify({ workers: 2, timeout: 10, procName: 'file', maxRequests: 100 }) });
      const r = await resolve(['-c', 'gwserver.config.json', '--timeout', '20', APP], { GWSERVER_CMD_ARGS: '-w 3 --timeout 15' });
      assert.equal(r.config.workers, 3);
      assert.equal(r.config.timeout, 20);
      assert.equal(r.config.procName, 'file');
      assert.equal(r.config.maxRequests, 100);
      assert.equal(r.config.gracefulTimeout, 30);
    });
  });

  describe('WEB_CONCURRENCY', () => {
    it('is the default of workers', async () => {
      assert.equal((await resolve([APP], { WEB_CONCURRENCY: '6' })).config.workers, 6);
      assert.equal((await resolve([APP], { WEB_CONCURRENCY: '' })).config.workers, 1);
    });
    it('the file, GWSERVER_CMD_ARGS and the command line win over it', async () => {
      write({ 'gwserver.config.json': '{"workers": 2}' });
      assert.equal((await resolve(['-c', 'gwserver.config.json', APP], { WEB_CONCURRENCY: '6' })).config.workers, 2);
      assert.equal((await resolve([APP], { WEB_CONCURRENCY: '6', GWSERVER_CMD_ARGS: '-w 3' })).config.workers, 3);
      assert.equal((await resolve(['-w', '4', APP], { WEB_CONCURRENCY: '6' })).config.workers, 4);
    });
    it('a bad value is an error naming the variable, unless a higher layer sets workers', async () => {
      assert.equal(await usageError([APP], { WEB_CONCURRENCY: 'lots' }), '$WEB_CONCURRENCY: invalid value for workers: expected a number, got "lots"');
      assert.equal((await resolve(['-w', '2', APP], { WEB_CONCURRENCY: 'lots' })).config.workers, 2);
    });
  });

  describe('GWSERVER_CMD_ARGS', () => {
    it('is split as a shell would', async () => {
      const r = await resolve([APP], { GWSERVER_CMD_ARGS: `--name 'my app' -b "[::1]:9000" -b 127.0.0.1:9001 --preload` });
      assert.equal(r.config.procName, 'my app');
      assert.deepEqual(r.config.bind, ['[::1]:9000', '127.0.0.1:9001']);
      assert.equal(r.config.preload, true);
    });
    it('may name the config file; the command line\'s -c wins', async () => {
      write({ 'a.json': '{"workers": 2}', 'b.json': '{"workers": 3}' });
      assert.equal((await resolve([APP], { GWSERVER_CMD_ARGS: '-c a.json' })).config.workers, 2);
      assert.equal((await resolve(['-c', 'b.json', APP], { GWSERVER_CMD_ARGS: '-c a.json' })).config.workers, 3);
    });
    it('holds flags only', async () => {
      assert.match(await usageError([APP], { GWSERVER_CMD_ARGS: '-w 2 other:app' }), /^GWSERVER_CMD_ARGS: holds flags only/);
      assert.match(await usageError([APP], { GWSERVER_CMD_ARGS: '--help' }), /^GWSERVER_CMD_ARGS: Unknown argument: help/);
      assert.match(await usageError(['--print-config'], { GWSERVER_CMD_ARGS: '--print-config' }), /^GWSERVER_CMD_ARGS: Unknown argument: print-config/);
    });
    it('unknown flags, bad quoting and bad values are errors naming it', async () => {
      assert.equal(await usageError([APP], { GWSERVER_CMD_ARGS: '--worker 3' }), 'GWSERVER_CMD_ARGS: Unknown argument: worker (did you mean --workers?)');
      assert.match(await usageError([APP], { GWSERVER_CMD_ARGS: `--name 'x` }), /^GWSERVER_CMD_ARGS: no closing quotation/);
      assert.equal(await usageError([APP], { GWSERVER_CMD_ARGS: '-w 0' }), 'GWSERVER_CMD_ARGS: invalid value for --workers: 0 is too small (the least is 1)');
      assert.equal(await usageError([APP], { GWSERVER_CMD_ARGS: '--scheduling fair' }), 'GWSERVER_CMD_ARGS: invalid value for --scheduling: "fair" is not one of: os, round-robin');
    });
  });

  describe('the command line', () => {
    it('bad values and unknown flags are one-line errors', async () => {
      assert.equal(await usageError(['-w', 'four', APP]), 'invalid value for --workers: expected a number, got "four"');
      assert.equal(await usageError(['--max-requests', '-1', APP]), 'invalid value for --max-requests: -1 is too small (the least is 0)');
      assert.equal(await usageError(['--umask', '8', APP]), 'invalid value for --umask: expected an octal file mode such as 660 or 0o666, got "8"');
      assert.equal(await usageError(['--user', 'a b', APP]), 'invalid value for --user: expected a name or a numeric id, got "a b"');
      assert.equal(await usageError(['--workerz', '2', APP]), 'Unknown argument: workerz (did you mean --workers?)');
      assert.equal(await usageError(['--nope', APP]), 'Unknown argument: nope (see gwserver --help)');
      assert.equal(await usageError(['--print-config', '--check-config']), '--print-config and --check-config cannot be combined');
    });
    it('hooks cannot be given on it', async () => {
      assert.equal(await usageError(['--post-fork', 'x', APP]), 'Unknown argument: post-fork (postFork can only be set in a config file)');
      assert.match(await usageError(['--on-starting', 'x', APP]), /onStarting can only be set in a config file/);
    });
    it('every flag of the container is there, with gunicorn\'s short options', async () => {
      const r = await resolve([
        '-w', '3', '-t', '10', '--graceful-timeout', '5', '--max-requests', '1000', '--max-requests-jitter', '50',
        '--max-worker-memory', '512', '--preload', '--reload', '-p', 'run/gw.pid', '-u', 'www-data', '-g', '33', '-m', '027',
        '-n', 'shop', '--scheduling', 'round-robin', APP,
      ]);
      const c = r.config;
      assert.deepEqual(
        [c.workers, c.timeout, c.gracefulTimeout, c.maxRequests, c.maxRequestsJitter, c.maxWorkerMemory, c.preload, c.reload, c.pidfile, c.user, c.group, c.umask, c.procName, c.scheduling],
        [3, 10, 5, 1000, 50, 512, true, true, 'run/gw.pid', 'www-data', 33, 0o27, 'shop', 'round-robin'],
      );
    });
    it('user and group: a numeric id becomes a number, a name stays a string', async () => {
      const r = await resolve(['-u', '1000', '-g', 'www-data', APP]);
      assert.equal(r.config.user, 1000);
      assert.equal(r.config.group, 'www-data');
    });
  });

  describe('config file keys', () => {
    it('an unknown key is an error with a suggestion when one is close', async () => {
      write({ 'gwserver.config.json': '{"worker": 4}' });
      assert.equal(await usageError(['-c', 'gwserver.config.json', APP]), 'gwserver.config.json: unknown setting "worker" (did you mean "workers"?)');
    });
    it('the default gwserver.config.js names itself in errors', async () => {
      write({ 'gwserver.config.js': 'export const worker = 4;\n', 'package.json': '{"type":"module"}' });
      assert.equal(await usageError([APP]), 'gwserver.config.js: unknown setting "worker" (did you mean "workers"?)');
    });
    it('an unknown key with nothing close is an error without a suggestion', async () => {
      write({ 'c.json': '{"colour": "blue"}' });
      assert.equal(await usageError(['-c', 'c.json', APP]), 'c.json: unknown setting "colour"');
    });
    it('gunicorn settings gwserver lacks say what to do instead', async () => {
      write({ 'c.json': '{"worker_class": "gevent"}' });
      assert.match(await usageError(['-c', 'c.json', APP]), /^c\.json: unknown setting "worker_class" \(gunicorn's worker_class has no equivalent: /);
    });
    it('snake_case and gunicorn\'s names are aliases', async () => {
      write({ 'c.json': JSON.stringify({ max_requests: 10, max_requests_jitter: 2, preload_app: true, proc_name: 'x', loglevel: 'debug', errorlog: 'e.log', keepalive: 5, graceful_timeout: 3, wsgi_app: 'w:app', socket_mode: '600' }) });
      const c = (await resolve(['-c', 'c.json'])).config;
      assert.deepEqual(
        [c.maxRequests, c.maxRequestsJitter, c.preload, c.procName, c.logLevel, c.errorLogfile, c.keepAlive, c.gracefulTimeout, c.app, c.socketMode],
        [10, 2, true, 'x', 'debug', 'e.log', 5, 3, 'w:app', 0o600],
      );
    });
    it('a setting given twice under two names is an error', async () => {
      write({ 'c.json': '{"maxRequests": 1, "max_requests": 2}' });
      assert.equal(await usageError(['-c', 'c.json', APP]), 'c.json: sets maxRequests twice (as "maxRequests" and "max_requests")');
    });
    it('config cannot be set in a config file', async () => {
      write({ 'c.json': '{"config": "other.json"}' });
      assert.match(await usageError(['-c', 'c.json', APP]), /^c\.json: "config" cannot be set in a config file/);
    });
    it('a bad value names the file and the key as written', async () => {
      write({ 'c.json': '{"max_requests": "many"}' });
      assert.equal(await usageError(['-c', 'c.json', APP]), 'c.json: invalid value for max_requests: expected a number, got "many"');
      write({ 'd.json': '{"workers": 0}' });
      assert.equal(await usageError(['-c', 'd.json', APP]), 'd.json: invalid value for workers: 0 is too small (the least is 1)');
      write({ 'e.json': '{"bind": ["127.0.0.1:80", "nowhere:port"]}' });
      assert.match(await usageError(['-c', 'e.json', APP]), /^e\.json: invalid value for bind: "nowhere:port" has no valid port/);
      write({ 'f.json': '{"preload": "yes"}' });
      assert.equal(await usageError(['-c', 'f.json', APP]), 'f.json: invalid value for preload: expected true or false, got "yes"');
    });
    it('a value a higher layer overrides is not validated: the merged config is', async () => {
      write({ 'c.json': '{"workers": "many"}' });
      assert.equal((await resolve(['-c', 'c.json', '-w', '2', APP])).config.workers, 2);
    });
    it('values may be strings, as on a command line', async () => {
      write({ 'c.json': '{"workers": "3", "timeout": "2.5", "preload": "true", "umask": "022"}' });
      const c = (await resolve(['-c', 'c.json', APP])).config;
      assert.deepEqual([c.workers, c.timeout, c.preload, c.umask], [3, 2.5, true, 0o22]);
    });
  });

  describe('hooks', () => {
    it('are functions from the config file, undefined when not set', async () => {
      write({ 'hooks.mjs': 'export function postFork(server, worker) {}\nexport const onExit = async () => {};\nexport const whenReady = null;\n' });
      const c = (await resolve(['-c', 'hooks.mjs', APP])).config;
      assert.equal(typeof c.postFork, 'function');
      assert.equal(typeof c.onExit, 'function');
      assert.equal(c.whenReady, undefined);
      assert.equal(c.preRequest, undefined);
    });
    it('must be functions', async () => {
      write({ 'a.json': '{"onStarting": "echo hi"}' });
      assert.equal(await usageError(['-c', 'a.json', APP]), 'a.json: invalid value for onStarting: a hook must be a function, got "echo hi"');
      write({ 'b.mjs': 'export const post_fork = { run() {} };\n' });
      assert.equal(await usageError(['-c', 'b.mjs', APP]), 'b.mjs: invalid value for post_fork: a hook must be a function, got an object');
    });
    it('gunicorn\'s snake_case hook names work', async () => {
      write({ 'h.cjs': 'exports.on_starting = () => {}; exports.nworkers_changed = () => {};\n' });
      const c = (await resolve(['-c', 'h.cjs', APP])).config;
      assert.equal(typeof c.onStarting, 'function');
      assert.equal(typeof c.nworkersChanged, 'function');
    });
  });

  describe('config file formats', () => {
    const formats: Array<[string, Record<string, string>]> = [
      ['.js, ES module, named exports', { 'c.js': 'export const workers = 3;\nexport const bind = ["127.0.0.1:9"];\n', 'package.json': '{"type":"module"}' }],
      ['.js, ES module, default export', { 'c.js': 'export default { workers: 3, bind: ["127.0.0.1:9"] };\n', 'package.json': '{"type":"module"}' }],
      ['.js, CommonJS module.exports', { 'c.js': 'module.exports = { workers: 3, bind: ["127.0.0.1:9"] };\n', 'package.json': '{"type":"commonjs"}' }],
      ['.js, CommonJS exports.x', { 'c.js': 'exports.workers = 3;\nexports.bind = ["127.0.0.1:9"];\n' }],
      ['.js, CommonJS compiled from ESM', { 'c.js': 'Object.defineProperty(exports, "__esModule", { value: true });\nexports.default = { workers: 3, bind: ["127.0.0.1:9"] };\n' }],
      ['.mjs, named exports', { 'c.mjs': 'export const workers = 3;\nexport const bind = ["127.0.0.1:9"];\n' }],
      ['.mjs, default export, with top-level await', { 'c.mjs': 'const w = await Promise.resolve(3);\nexport default { workers: w, bind: ["127.0.0.1:9"] };\n' }],
      ['.cjs', { 'c.cjs': 'const os = require("node:os");\nmodule.exports = { workers: Math.min(3, 3 + 0 * os.cpus().length), bind: ["127.0.0.1:9"] };\n' }],
      ['.json', { 'c.json': '{"workers": 3, "bind": ["127.0.0.1:9"]}' }],
    ];
    for (const [what, files] of formats) {
      it(what, async () => {
        write(files);
        const name = Object.keys(files).find((f) => f.startsWith('c.'))!;
        const r = await resolve(['-c', name, APP]);
        assert.equal(r.config.workers, 3);
        assert.deepEqual(r.config.bind, ['127.0.0.1:9']);
        assert.equal(r.configFile, path.join(dir, name));
        assert.equal(r.config.config, path.join(dir, name));
      });
    }

    it('a default export and different named exports are an error', async () => {
      write({ 'c.mjs': 'export default { workers: 2 };\nexport const timeout = 5;\n' });
      assert.equal(await usageError(['-c', 'c.mjs', APP]), 'c.mjs: has both a default export and named exports (timeout): put every setting in one of them');
    });
    it('a default export that is not an object is an error', async () => {
      write({ 'c.mjs': 'export default function config() { return {}; }\n' });
      assert.match(await usageError(['-c', 'c.mjs', APP]), /^c\.mjs: the default export is a function, not an object of settings/);
      write({ 'd.json': '[1, 2]' });
      assert.match(await usageError(['-c', 'd.json', APP]), /^d\.json: a JSON config file must hold an object of settings/);
    });
    it('a file that throws or does not parse is one line, with where', async () => {
      write({ 'throws.mjs': 'const x = 1;\nthrow new Error("no config for you");\n' });
      assert.equal(await usageError(['-c', 'throws.mjs', APP]), `throws.mjs: cannot load the config file: Error: no config for you (at ${path.join(dir, 'throws.mjs')}:2)`);
      write({ 'bad.cjs': 'module.exports = {\n  workers: 2,,\n};\n' });
      assert.match(await usageError(['-c', 'bad.cjs', APP]), /^bad\.cjs: cannot load the config file: SyntaxError: Unexpected token ','/);
      write({ 'bad.mjs': 'export const workers = ;\n' });
      assert.match(await usageError(['-c', 'bad.mjs', APP]), /^bad\.mjs: cannot load the config file: SyntaxError: .*run: node --check /);
      write({ 'bad.json': '{"workers": 2,}' });
      assert.match(await usageError(['-c', 'bad.json', APP]), /^bad\.json: not valid JSON: /);
      write({ 'esm-in-cjs.js': 'module.exports = { workers: 2 };\n', 'package.json': '{"type":"module"}' });
      assert.equal(
        await usageError(['-c', 'esm-in-cjs.js', APP]),
        `esm-in-cjs.js: the config file uses module.exports, which is CommonJS, but Node loads esm-in-cjs.js as an ES module (${path.join(dir, 'package.json')} has "type": "module"): rename it to esm-in-cjs.cjs, or write it with export and import`,
      );
    });
    it('other extensions are refused', async () => {
      write({ 'c.yaml': 'workers: 2\n' });
      assert.equal(await usageError(['-c', 'c.yaml', APP]), 'c.yaml: a config file must be a .js, .mjs, .cjs or .json file');
    });
    it('a file outside the start directory is named by its absolute path', async () => {
      write({ 'sub/c.json': '{"nope": 1}' });
      const r = resolveConfig(['-c', path.join(dir, 'sub/c.json'), APP], {}, path.join(dir, 'elsewhere'));
      await assert.rejects(r, { message: `${path.join(dir, 'sub/c.json')}: unknown setting "nope"` });
    });
  });

  describe('which config file', () => {
    it('./gwserver.config.js in the start directory is read without -c', async () => {
      write({ 'gwserver.config.js': 'exports.workers = 5;\n' });
      const r = await resolve([APP]);
      assert.equal(r.config.workers, 5);
      assert.equal(r.configFile, path.join(dir, 'gwserver.config.js'));
    });
    it('its absence is no error', async () => {
      const r = await resolve([APP]);
      assert.equal(r.configFile, undefined);
      assert.equal(r.config.config, '');
    });
    it('it is looked for before --chdir, and only in the start directory', async () => {
      write({ 'sub/gwserver.config.js': 'exports.workers = 5;\n' });
      const r = await resolve(['--chdir', 'sub', APP]);
      assert.equal(r.config.workers, 1);
    });
    it('-c replaces it', async () => {
      write({ 'gwserver.config.js': 'exports.workers = 5;\n', 'other.json': '{"timeout": 9}' });
      const r = await resolve(['-c', 'other.json', APP]);
      assert.equal(r.config.workers, 1);
      assert.equal(r.config.timeout, 9);
    });
    it('a named file that does not exist is an error', async () => {
      assert.equal(await usageError(['-c', 'missing.js', APP]), 'config file missing.js not found (from -c/--config)');
      assert.equal(await usageError([APP], { GWSERVER_CMD_ARGS: '-c missing.js' }), 'config file missing.js not found (from -c/--config in GWSERVER_CMD_ARGS)');
    });
  });

  describe('the application', () => {
    it('comes from the command line, else from app in the config file', async () => {
      write({ 'c.json': '{"app": "from/file:app"}' });
      const fromFile = await resolve(['-c', 'c.json']);
      assert.equal(fromFile.target, 'from/file:app');
      assert.equal(fromFile.config.app, 'from/file:app');
      const fromArgv = await resolve(['-c', 'c.json', 'from/argv:app']);
      assert.equal(fromArgv.target, 'from/argv:app');
      assert.equal(fromArgv.config.app, 'from/argv:app');
    });
    it('is needed to run or check, not to print', async () => {
      assert.match(await usageError([]), /^no application given/);
      assert.match(await usageError(['--check-config']), /^no application given/);
      const r = await resolve(['--print-config']);
      assert.equal(r.action, 'print');
      assert.equal(r.target, undefined);
      assert.equal(r.config.app, '');
    });
    it('one at most', async () => {
      assert.equal(await usageError(['a:b', 'c:d']), 'one application expected, got 2: a:b c:d');
    });
    it('the action follows the flags', async () => {
      assert.equal((await resolve([APP])).action, 'run');
      assert.equal((await resolve(['--check-config', APP])).action, 'check');
      assert.equal((await resolve(['--print-config', APP])).action, 'print');
    });
  });

  describe('the result', () => {
    it('is frozen, lists included, and has every setting', async () => {
      const { config } = await resolve([APP]);
      assert.ok(Object.isFrozen(config));
      assert.ok(Object.isFrozen(config.bind));
      assert.throws(() => { (config as { workers: number }).workers = 9; }, TypeError);
      assert.deepEqual(Object.keys(config).sort(), SETTINGS.map((s) => s.name).sort());
    });
  });

  describe('reloadConfig (HUP)', () => {
    for (const [name, before, after] of [
      ['gwserver.config.js', 'export const workers = 2;\n', 'export const workers = 3;\n'],
      ['c.mjs', 'export default { workers: 2 };\n', 'export default { workers: 3 };\n'],
      ['c.cjs', 'module.exports = { workers: 2 };\n', 'module.exports = { workers: 3 };\n'],
      ['c.json', '{"workers": 2}', '{"workers": 3}'],
    ] as const) {
      it(`reads ${name} afresh, with the same command line, environment and start directory`, async () => {
        write({ [name]: before, 'package.json': '{"type":"module"}' });
        const argv = name === 'gwserver.config.js' ? ['-t', '7', APP] : ['-c', name, '-t', '7', APP];
        const first = await resolve(argv, { GWSERVER_CMD_ARGS: '--name n' });
        assert.equal(first.config.workers, 2);
        write({ [name]: after });
        const second = await reloadConfig(first);
        assert.equal(second.config.workers, 3);
        assert.equal(second.config.timeout, 7);
        assert.equal(second.config.procName, 'n');
        assert.equal(second.target, APP);
        const third = await reloadConfig(second.invocation);
        assert.equal(third.config.workers, 3);
      });
    }
    it('throws a UsageError when the file became invalid (the caller keeps the old config)', async () => {
      write({ 'c.json': '{"workers": 2}' });
      const first = await resolve(['-c', 'c.json', APP]);
      write({ 'c.json': '{"workers": "x"}' });
      await assert.rejects(reloadConfig(first), (err: unknown) => err instanceof UsageError && /invalid value for workers/.test(err.message));
    });
  });
});
