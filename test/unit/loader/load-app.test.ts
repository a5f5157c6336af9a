/**
 * The application loader: MODULE:CALLABLE parsing, module resolution
 * (files, directories, packages), CALLABLE lookup (default, dotted paths,
 * factories) and every failure message, against real fixture modules in
 * test/fixtures/apps/loader/.
 *
 * These tests run under tsx (see .mocharc.json), which can import .ts files.
 * What a plain Node 20 does with a .ts file is checked in a child process
 * that runs the loader compiled to JavaScript, without any loader hooks.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { GatewayError } from '../../../src/errors.js';
import type { Application, Body, Chunk, Environ, StartResponse } from '../../../src/gateway/types.js';
import { loadApp, parseTarget } from '../../../src/loader/load-app.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const FIXTURES = path.join(ROOT, 'test/fixtures/apps/loader');
const opts = { cwd: FIXTURES };

/** Calls the app the way a server would and collects status and body. */
async function respond(app: Application, pathInfo = '/'): Promise<{ status: string; body: string }> {
  let status = '';
  const startResponse: StartResponse = (s) => {
    status = s;
    return async () => {};
  };
  const body: Body = await app({ PATH_INFO: pathInfo } as unknown as Environ, startResponse);
  const chunks: Iterable<Chunk> | AsyncIterable<Chunk> = typeof body === 'string' || body instanceof Uint8Array ? [body] : body;
  let text = '';
  for await (const chunk of chunks) text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
  return { status, body: text };
}

async function bodyOf(target: string, options: { cwd?: string } = opts): Promise<string> {
  return (await respond(await loadApp(target, options))).body;
}

/** The GW_APP_LOAD error loadApp rejects with; checks it is one line without a stack. */
async function loadFailure(target: string, options: { cwd?: string } = opts): Promise<GatewayError> {
  let app: Application;
  try {
    app = await loadApp(target, options);
  } catch (err) {
    assert.ok(err instanceof GatewayError, `expected a GatewayError, got ${String(err)}`);
    assert.equal(err.code, 'GW_APP_LOAD');
    assert.equal(err.status, 0);
    assert.doesNotMatch(err.message, /\n/, 'the message is one line');
    assert.doesNotMatch(err.message, /\bat \S+ \(|node:internal/, 'the message holds no stack frame');
    return err;
  }
  assert.fail(`expected loading "${target}" to fail, but got ${typeof app}`);
}

function parseFailure(target: string): GatewayError {
  try {
    parseTarget(target);
  } catch (err) {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.code, 'GW_APP_LOAD');
    assert.doesNotMatch(err.message, /\n/);
    return err;
  }
  assert.fail(`expected parseTarget("${target}") to fail`);
}

describe('loader: parseTarget', () => {
  it('splits MODULE:CALLABLE', () => {
    assert.deepEqual(parseTarget('examples/hello:application'), { module: 'examples/hello', callable: 'application' });
    assert.deepEqual(parseTarget('./app.mjs:app.handler'), { module: './app.mjs', callable: 'app.handler' });
  });

  it('uses "application" when there is no ":"', () => {
    assert.deepEqual(parseTarget('examples/hello.js'), { module: 'examples/hello.js', callable: 'application' });
  });

  it('parses a factory call and its JSON arguments', () => {
    assert.deepEqual(parseTarget('app:createApp()'), {
      module: 'app', callable: 'createApp()', call: { name: 'createApp', args: [] },
    });
    assert.deepEqual(parseTarget('app:lib.createApp("prod", 2, {"debug": true}, [null])'), {
      module: 'app',
      callable: 'lib.createApp("prod", 2, {"debug": true}, [null])',
      call: { name: 'lib.createApp', args: ['prod', 2, { debug: true }, [null]] },
    });
  });

  it('splits at the first ":", so that arguments may contain one', () => {
    assert.deepEqual(parseTarget('app:createApp("http://x:80")').call, { name: 'createApp', args: ['http://x:80'] });
  });

  it('keeps a Windows drive letter in MODULE', () => {
    assert.deepEqual(parseTarget('C:\\srv\\app.js:handler'), { module: 'C:\\srv\\app.js', callable: 'handler' });
    assert.deepEqual(parseTarget('C:/srv/app.js'), { module: 'C:/srv/app.js', callable: 'application' });
  });

  it('refuses a file: URL, which would split into "file" and a path', () => {
    assert.equal(
      parseFailure('file:///srv/app.js:application').message,
      '"file:///srv/app.js:application" is a URL: give MODULE as a path (e.g. /srv/app.js:application), not a file: URL',
    );
  });

  it('refuses an empty target', () => {
    assert.match(parseFailure('').message, /^no application given: name one as MODULE:CALLABLE/);
  });

  it('refuses an empty MODULE', () => {
    assert.equal(
      parseFailure(':application').message,
      '":application" has no MODULE before the ":": write MODULE:CALLABLE, e.g. app:application',
    );
  });

  it('refuses an empty CALLABLE', () => {
    assert.equal(
      parseFailure('examples/hello:').message,
      '"examples/hello:" has nothing after the ":": name the application (e.g. application, app.handler, createApp() or createApp("prod", 2)), or drop the ":" to use "application"',
    );
  });

  it('refuses a CALLABLE that is not a name, dotted path or call', () => {
    for (const bad of ['app..handler', 'app.', '1app', 'app handler', 'createApp("x")y', 'app-name']) {
      assert.match(parseFailure(`m:${bad}`).message, /is not a valid CALLABLE: write a name, a dotted path or a call/, bad);
    }
  });

  it('refuses arguments that are not JSON values, saying how to write them', () => {
    assert.match(
      parseFailure("app:createApp('prod')").message,
      /^the arguments of createApp\(\.\.\.\) in "app:createApp\('prod'\)" are not JSON values \(.+\): quote strings with double quotes, e.g. createApp\("prod", 2, \{"debug": true\}\)$/,
    );
    parseFailure('app:createApp(env=prod)');
    parseFailure('app:createApp(1,)');
  });
});

describe('loader: finding MODULE', () => {
  it('loads a file named as given', async () => {
    assert.equal(await bodyOf('esm-app.js'), 'esm-app.js');
    assert.equal(await bodyOf('./only-mjs.mjs'), 'only-mjs.mjs');
  });

  it('appends .js, then .mjs, then .cjs', async () => {
    assert.equal(await bodyOf('esm-app'), 'esm-app.js');
    assert.equal(await bodyOf('only-mjs'), 'only-mjs.mjs');
    assert.equal(await bodyOf('prio'), 'prio.js', 'prio.js before prio.mjs and prio.cjs');
    assert.equal(await bodyOf('prio2'), 'prio2.mjs', 'prio2.mjs before prio2.cjs');
  });

  it('prefers a file (with an extension appended) to a directory of the same name', async () => {
    assert.equal(await bodyOf('both'), 'both.js');
    assert.equal(await bodyOf('both/'), 'both/index.js');
  });

  it('loads a directory through its package.json "main" (here without extension, CommonJS)', async () => {
    assert.equal(await bodyOf('dir-main'), 'dir-main/server.js');
  });

  it('prefers package.json "exports" to "main", with the import condition', async () => {
    assert.equal(await bodyOf('dir-exports'), 'dir-exports/esm.js');
  });

  it('loads a directory through index.js or index.mjs', async () => {
    assert.equal(await bodyOf('dir-index'), 'dir-index/index.js');
    assert.equal(await bodyOf('dir-index-mjs'), 'dir-index-mjs/index.mjs');
  });

  it('loads a CommonJS package from the node_modules of cwd', async () => {
    assert.equal(await bodyOf('fakepkg'), 'fakepkg');
    assert.equal(await bodyOf('fakepkg/extra'), 'fakepkg/extra');
  });

  it('loads a package from a node_modules above cwd', async () => {
    assert.equal(await bodyOf('fakepkg', { cwd: path.join(FIXTURES, 'dir-index') }), 'fakepkg');
  });

  it('loads an ESM-only package (exports with only the "import" condition) and its pattern exports', async () => {
    assert.equal(await bodyOf('esm-only'), 'esm-only');
    assert.equal(await bodyOf('esm-only/features/beta'), 'esm-only/features/beta');
  });

  it('loads a scoped package', async () => {
    assert.equal(await bodyOf('@scope/scoped'), '@scope/scoped');
  });

  it('loads an absolute path, whatever cwd is', async () => {
    assert.equal(await bodyOf(path.join(FIXTURES, 'esm-app.js'), { cwd: os.tmpdir() }), 'esm-app.js');
    assert.equal(await bodyOf(path.join(FIXTURES, 'esm-app'), { cwd: os.tmpdir() }), 'esm-app.js');
  });

  it('resolves from process.cwd() by default', async () => {
    assert.equal(process.cwd(), ROOT, 'mocha runs from the repository root');
    assert.equal(await bodyOf('test/fixtures/apps/loader/esm-app', {}), 'esm-app.js');
  });

  it('fails with what it looked for when nothing matches', async () => {
    const err = await loadFailure('examples/nope');
    assert.equal(
      err.message,
      `cannot find module "examples/nope" (looked for ${path.join(FIXTURES, 'examples/nope')}, .js, .mjs, .cjs, a directory, a package) relative to ${FIXTURES}`,
    );
  });

  it('does not claim to look for a package when MODULE is a relative or absolute path', async () => {
    assert.equal(
      (await loadFailure('./nope')).message,
      `cannot find module "./nope" (looked for ${path.join(FIXTURES, 'nope')}, .js, .mjs, .cjs, a directory) relative to ${FIXTURES}`,
    );
  });

  it('points at a .ts file that exists when the named one does not', async () => {
    const err = await loadFailure('ts-app');
    assert.match(err.message, /^cannot find module "ts-app" \(looked for .*\) relative to .*; .*ts-app\.ts exists: build it \(tsc\) and load the \.js, or name the TypeScript file itself \("ts-app\.ts"\)/);
    assert.match((await loadFailure('ts-app.js')).message, /ts-app\.ts exists: .*\("ts-app\.ts"\)/);
  });

  it('fails on a directory with no entry point, naming what to add', async () => {
    assert.equal(
      (await loadFailure('dir-empty')).message,
      `directory "dir-empty" (${path.join(FIXTURES, 'dir-empty')}) has no entry point: give its package.json a "main" or "exports", or add index.js, index.mjs, index.cjs`,
    );
  });

  it('fails on a "main" that does not exist', async () => {
    assert.match(
      (await loadFailure('dir-bad-main')).message,
      /^directory "dir-bad-main" has "main": "dist\/server\.js" in .*package\.json, but .*dist\/server\.js does not exist .*: fix "main" or build the package$/,
    );
  });

  it('fails on a package subpath that "exports" does not list', async () => {
    assert.match(
      (await loadFailure('esm-only/lib/index.js')).message,
      /^package "esm-only" does not export "\.\/lib\/index\.js" for import\(\) \(see "exports" in .*esm-only\/package\.json\): name an exported entry point, or a file by its path$/,
    );
  });
});

describe('loader: importing MODULE', () => {
  it('loads CommonJS: named exports, and module.exports built at run time', async () => {
    assert.equal(await bodyOf('cjs-app.cjs'), 'cjs-app.cjs');
    assert.equal(await bodyOf('cjs-dynamic.cjs'), 'cjs-dynamic.cjs');
  });

  it('reports a module that throws while loading, with the error and where it arose', async () => {
    const err = await loadFailure('throws.js');
    assert.match(
      err.message,
      /^module "throws\.js" \(.*throws\.js\) threw while loading: TypeError: DATABASE_URL is not set \(at .*throws\.js:3:\d+\)$/,
    );
    assert.ok(err.cause instanceof TypeError, 'the original error is the cause');
  });

  it('reports a module with a syntax error', async () => {
    assert.match((await loadFailure('syntax-error.js')).message, /^module "syntax-error\.js" \(.*\) threw while loading: SyntaxError: /);
  });
});

describe('loader: CALLABLE', () => {
  it('defaults to "application"', async () => {
    assert.equal(await bodyOf('esm-app'), 'esm-app.js');
  });

  it('names another export', async () => {
    assert.equal(await bodyOf('esm-app:other'), 'esm-app.js other');
  });

  it('"default" is the default export, and module.exports for CommonJS', async () => {
    assert.equal(await bodyOf('esm-app:default'), 'esm-app.js default');
    assert.equal(await bodyOf('cjs-default.cjs:default'), 'cjs-default.cjs');
  });

  it('follows a dotted path and binds the method to its object', async () => {
    assert.equal(await bodyOf('esm-app:nested.deep.handler'), 'esm-app.js nested.deep');
    assert.equal(await bodyOf('cjs-app.cjs:app.handler'), 'cjs-app.cjs app.handler');
  });

  it('binds a class instance method, so that `this` works', async () => {
    const app = await loadApp('class-app.js:app.handler', opts);
    assert.equal((await respond(app, '/there')).body, 'class-app.js says hello to /there');
  });

  it('calls a factory without arguments', async () => {
    assert.equal(await bodyOf('factory.js:createApp()'), 'createApp "default" 1');
  });

  it('calls a factory with JSON arguments', async () => {
    assert.equal(await bodyOf('factory.js:createApp("prod", 2)'), 'createApp "prod" 2');
  });

  it('awaits an async factory', async () => {
    assert.equal(await bodyOf('factory.js:createAppAsync("x", {"n": [1, 2]})'), 'createAppAsync x {"n":[1,2]}');
  });

  it('calls a factory with `this` bound to its object', async () => {
    assert.equal(await bodyOf('factory.js:factories.make("y")'), 'factories.make y');
  });

  it('fails on a missing attribute, listing the exports', async () => {
    assert.equal(
      (await loadFailure('esm-app.js:app.handler')).message,
      'module "esm-app.js" has no attribute "app.handler" (it exports: App, answer, application, config, default, nested, other)',
    );
  });

  it('lists CommonJS module.exports among the exports', async () => {
    assert.match((await loadFailure('cjs-dynamic.cjs:nope')).message, /\(it exports: .*\bapplication\b.*\)$/);
  });

  it('says to use :default when the module\'s default export is the function', async () => {
    assert.equal(
      (await loadFailure('cjs-default.cjs')).message,
      'module "cjs-default.cjs" has no attribute "application" (it exports: default); its default export (module.exports for CommonJS) is a function: use "cjs-default.cjs:default"',
    );
  });

  it('fails on a missing attribute deeper in the path, listing what the object has', async () => {
    assert.equal(
      (await loadFailure('class-app.js:app.handle')).message,
      'module "class-app.js" has no attribute "app.handle" ("app" has: greeting, handler); check "class-app.js:app.handle"',
    );
    assert.match((await loadFailure('esm-app:answer.x')).message, /\("answer" is a number\)/);
  });

  it('does not take Object builtins for attributes', async () => {
    assert.match((await loadFailure('cjs-app.cjs:toString')).message, /has no attribute "toString"/);
    assert.match((await loadFailure('esm-app:config.hasOwnProperty')).message, /has no attribute "config\.hasOwnProperty"/);
  });

  it('fails when CALLABLE is not a function', async () => {
    assert.equal(
      (await loadFailure('esm-app.js:config')).message,
      '"esm-app.js:config" is not a function (it is an object): the application must be a function (environ, startResponse)',
    );
    assert.match((await loadFailure('esm-app:answer')).message, /^"esm-app:answer" is not a function \(it is a number\)/);
  });

  it('names the methods of an object that is not a function', async () => {
    assert.equal(
      (await loadFailure('class-app.js:app')).message,
      '"class-app.js:app" is not a function (it is an instance of Greeter): the application must be a function (environ, startResponse); to serve one of its methods (handler), name it, e.g. "class-app.js:app.handler"',
    );
  });

  it('refuses an app of another convention without pointing at one of its methods (a Hono app\'s fetch is no gateway app)', async () => {
    assert.equal(
      (await loadFailure('hono-app.js:default')).message,
      '"hono-app.js:default" is a Hono app (fetch), not a gateway application (environ, startResponse): loadApp loads gateway applications only; loadServedApp loads fetch apps too',
    );
    assert.match((await loadFailure('express-app.js:default')).message, /^"express-app\.js:default" is an Express\/Connect app \(node\), not a gateway application/);
  });

  it('fails when CALLABLE is a class', async () => {
    assert.match((await loadFailure('esm-app:App')).message, /^"esm-app:App" is a class, which cannot be called without new/);
  });

  it('fails when a factory is not a function', async () => {
    assert.match((await loadFailure('esm-app:config()')).message, /^"esm-app:config" is not a function \(it is an object\)/);
  });

  it('reports a factory that throws, or rejects', async () => {
    const thrown = await loadFailure('factory.js:failing()');
    assert.match(thrown.message, /^factory "factory\.js:failing\(\)" threw: Error: config file app\.toml is missing \(at .*factory\.js:\d+:\d+\)$/);
    assert.ok(thrown.cause instanceof Error);
    assert.match(
      (await loadFailure('factory.js:rejecting()')).message,
      /^factory "factory\.js:rejecting\(\)" threw: RangeError: port 70000 is out of range/,
    );
  });

  it('fails when a factory does not return a function', async () => {
    assert.equal(
      (await loadFailure('factory.js:returnsObject()')).message,
      '"factory.js:returnsObject()" did not return a function (it returned an object): the application must be a function (environ, startResponse)',
    );
  });

  it('reports bad factory arguments before loading anything', async () => {
    assert.match((await loadFailure('no-such-module:createApp(prod)')).message, /^the arguments of createApp/);
  });
});

describe('loader: TypeScript modules', () => {
  let built: string;

  /** Runs `node args...` without loader hooks; resolves with its stdout. */
  function node(args: string[], cwd: string): Promise<string> {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
      child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`node ${args.join(' ')} exited ${code}: ${err}${out}`))));
    });
  }

  /** loadApp(target) in a plain `node` child process, with the loader compiled to JavaScript. */
  async function loadInChild(target: string, nodeFlags: string[] = []): Promise<{ ok: boolean; message?: string; typescript?: unknown }> {
    const loader = pathToFileURL(path.join(built, 'loader/load-app.js')).href;
    const script = `
      import { loadApp } from ${JSON.stringify(loader)};
      const typescript = process.features.typescript;
      try {
        const app = await loadApp(${JSON.stringify(target)});
        console.log(JSON.stringify({ ok: typeof app === 'function', typescript }));
      } catch (err) {
        console.log(JSON.stringify({ ok: false, message: err.message, typescript }));
      }`;
    return JSON.parse(await node([...nodeFlags, '--input-type=module', '-e', script], FIXTURES));
  }

  before(async () => {
    built = await mkdtemp(path.join(os.tmpdir(), 'gwserver-loader-'));
    const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
    await node([tsc, '--ignoreConfig', '--outDir', built, '--rootDir', 'src', '--module', 'nodenext',
      '--target', 'es2022', '--types', 'node', '--skipLibCheck', 'src/loader/load-app.ts'], ROOT);
    await writeFile(path.join(built, 'package.json'), '{ "type": "module" }\n');
  });

  after(async () => {
    if (built) await rm(built, { recursive: true, force: true });
  });

  it('attempts the import, so a process that runs TypeScript (tsx here) loads a .ts module', async () => {
    assert.equal(await bodyOf('ts-app.ts'), 'ts-app.ts');
  });

  it('on a Node that cannot run TypeScript, says how to compile or run it', async function () {
    const result = await loadInChild('ts-app.ts');
    if (result.typescript) this.skip(); // this Node strips types: the next test covers it
    const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
    const enable = (major === 22 && minor >= 6) || (major === 23 && minor < 6)
      ? 'enable type stripping (NODE_OPTIONS=--experimental-strip-types)'
      : 'use Node 22.18+ or 23.6+, which strips types';
    assert.deepEqual(result, {
      ok: false,
      message:
        `cannot load TypeScript module "ts-app.ts": Node v${process.versions.node} does not run TypeScript here; ` +
        `compile it (tsc) and load the .js, or ${enable}, or run gwserver through a loader (node --import tsx <gwserver> ...)`,
    });
  });

  it('on a Node that strips types (process.features.typescript), loads a .ts module', async function () {
    const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
    const canStrip = major > 22 || (major === 22 && minor >= 6);
    if (!canStrip) {
      // Node < 22.6 has no type stripping at all; nothing to run here.
      this.skip();
    }
    const result = await loadInChild('ts-app.ts', major >= 24 || (major === 23 && minor >= 6) || (major === 22 && minor >= 18) ? [] : ['--experimental-strip-types']);
    assert.ok(result.typescript, 'the child strips types');
    assert.deepEqual(result, { ok: true, typescript: result.typescript });
  });

  it('on plain Node, points at the line of a syntax error it cannot show', async () => {
    const result = await loadInChild('syntax-error.js');
    assert.equal(result.ok, false);
    const file = path.join(FIXTURES, 'syntax-error.js');
    assert.equal(
      result.message,
      `module "syntax-error.js" (${file}) threw while loading: SyntaxError: Unexpected token ';'; to see where, run: node --check ${file}`,
    );
  });
});
