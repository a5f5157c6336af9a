/**
 * The command line: bad flags and bad values are one line and exit 2, app
 * load failures one line and exit 4, --check-config names the interface it
 * chose, binds of every form serve; --help shows every option's metavar and
 * default, -v and --version the version.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SETTINGS, type Setting } from '../../src/config/settings.js';
import { ROOT, runToExit, startGwserver } from '../helpers/gwserver.js';
import { rawRequest } from '../helpers/raw.js';
import { tempDir } from '../helpers/temp-dir.js';

const APP = 'test/fixtures/apps/basic.mjs';


/** Exactly one plain error line (JSON log records may surround it), and no stack trace. */
function assertOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trim().split('\n').filter((l) => !l.startsWith('{'));
  assert.equal(lines.length, 1, `expected one error line, got:\n${stderr}`);
  assert.match(lines[0]!, /^gwserver: error: /);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
}

describe('command line', function () {
  this.timeout(20_000);

  describe('bad usage exits 2 with one line', () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /no application given/],
      [['--nope', `${APP}:hello`], /Unknown argument: nope/],
      [['--limit-request-line', 'abc', `${APP}:hello`], /--limit-request-line: expected a number/],
      [['--limit-request-line', '9000', `${APP}:hello`], /--limit-request-line: 9000 is out of range/],
      [['--limit-request-fields', '-1', `${APP}:hello`], /--limit-request-fields: -1 is out of range/],
      [['--limit-request-body', '1.5', `${APP}:hello`], /--limit-request-body: expected a whole number/],
      [['-b', 'localhost:http', `${APP}:hello`], /--bind: "localhost:http" has no valid port/],
      [['-b', '::1:80', `${APP}:hello`], /put it in brackets/],
      [['-b', 'unix:', `${APP}:hello`], /names no socket path/],
      [['--log-level', 'loud', `${APP}:hello`], /--log-level: "loud" is not a level/],
      [['--socket-mode', '999', `${APP}:hello`], /--socket-mode: expected an octal file mode/],
      [['--root-path', 'api', `${APP}:hello`], /--root-path: must start with "\/"/],
      [['--interface', 'asgi', `${APP}:hello`], /--interface: "asgi" is not one of: auto, gateway, node, fetch/],
      [['a:b', 'c:d'], /one application expected/],
    ];
    for (const [args, pattern] of cases) {
      it(`gwserver ${args.join(' ')}`, async () => {
        const r = await runToExit(args);
        assert.equal(r.code, 2, r.stderr);
        assertOneLine(r.stderr, pattern);
      });
    }
  });

  describe('app load failures exit 4 at once with one line', () => {
    const cases: Array<[string, RegExp]> = [
      ['examples/nope:application', /cannot find module/],
      ['test/fixtures/apps/loader/throws.js:application', /threw while loading/],
      [`${APP}:missing`, /has no attribute "missing"/],
      [`${APP}:nothing.deeper`, /has no attribute/],
    ];
    for (const [target, pattern] of cases) {
      it(target, async () => {
        const r = await runToExit(['-b', '127.0.0.1:0', target]);
        assert.equal(r.code, 4, r.stderr);
        assertOneLine(r.stderr, pattern);
        assert.ok(r.ms < 5000, `took ${r.ms} ms`);
      });
    }
  });

  describe('--check-config prints the interface it chose and why', () => {
    const LOADER = 'test/fixtures/apps/loader';
    const cases: Array<[string[], string]> = [
      [[`${APP}:hello`], 'interface: gateway (a function: the default for functions; --interface node or fetch to change)'],
      [[`${LOADER}/express-app.js`], 'interface: node (an Express/Connect app: handle and use)'],
      [[`${LOADER}/koa-app.js`], 'interface: node (a Koa app: callback and middleware)'],
      [[`${LOADER}/fastify-app.js`], 'interface: node (a Fastify instance: routing and ready)'],
      [[`${LOADER}/hono-app.js`], 'interface: fetch (a Hono app: an object with a fetch method)'],
      [[`${LOADER}/marked.js:node`], 'interface: node (marked by fromNodeHandler)'],
      [['--interface', 'node', `${LOADER}/bare.js:nodeHandler`], 'interface: node (--interface node)'],
    ];
    for (const [args, line] of cases) {
      it(`gwserver --check-config ${args.join(' ')}`, async () => {
        const r = await runToExit(['--check-config', ...args]);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual([r.stdout, r.stderr], [`${line}\n`, '']);
      });
    }

    it('an --interface that does not fit the app exits 4 with one line', async () => {
      const r = await runToExit(['--check-config', '--interface', 'fetch', `${LOADER}/express-app.js`]);
      assert.equal(r.code, 4, r.stderr);
      assert.equal(r.stdout, '');
      assertOneLine(r.stderr, /is an Express\/Connect app \(node\), not a fetch handler: use --interface node or auto$/);
    });

    it('takes --interface from GWSERVER_CMD_ARGS and from a config file', async () => {
      const env = await runToExit(['--check-config', `${LOADER}/bare.js:fetchHandler`], { env: { GWSERVER_CMD_ARGS: '--interface fetch' } });
      assert.deepEqual([env.code, env.stdout], [0, 'interface: fetch (--interface fetch)\n'], env.stderr);
      const dir = tempDir('gw-interface-');
      writeFileSync(path.join(dir, 'gw.json'), JSON.stringify({ interface: 'node' }));
      const file = await runToExit(['--check-config', '-c', path.join(dir, 'gw.json'), `${LOADER}/bare.js:nodeHandler`]);
      assert.deepEqual([file.code, file.stdout], [0, 'interface: node (--interface node)\n'], file.stderr);
    });
  });

  it('-v and --version print the version as gunicorn does, and exit 0', async () => {
    const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['-v', '--version']) {
      const r = await runToExit([flag]);
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, `gwserver (version ${version})\n`, ''], flag);
    }
  });

  it('--help: the usage line and the three common invocations, then every option with its metavar and default, in 80 columns', async () => {
    const h = await runToExit(['--help']);
    assert.equal(h.code, 0, h.stderr);
    const lines = h.stdout.trimEnd().split('\n');
    assert.equal(lines[0], 'usage: gwserver [OPTIONS] [MODULE:CALLABLE]');
    assert.match(lines[2]!, /^ {2}gwserver app:application {2,}\S/);
    assert.match(lines[3]!, /^ {2}gwserver -w 4 -b 0\.0\.0\.0:8000 app:application {2,}\S/);
    assert.match(lines[4]!, /^ {2}gwserver -c gwserver\.config\.js {2,}\S/);
    for (const want of [
      '  -h, --help',
      '  -v, --version',
      '  -t, --timeout SECONDS (default 30)',
      '  -w, --workers INT (default $WEB_CONCURRENCY, or 1)',
      '  -b, --bind ADDRESS (default 127.0.0.1:8000, or 0.0.0.0:$PORT when PORT is set)',
      '      --limit-request-line BYTES (default 4094)',
      '      --socket-mode OCTAL (default 666)',
      '      --log-format FORMAT (default auto)',
      '      --capture-output [true|false] (default on)',
      '      --reload (default off)',
      '      --certfile FILE (default no TLS)',
    ]) assert.ok(lines.includes(want), `--help has the line ${JSON.stringify(want)}`);
    assert.doesNotMatch(h.stdout, /\[(string|boolean|number)\]/, 'no yargs type tags');
    assert.deepEqual(lines.filter((l) => l.length > 80), [], 'fits 80 columns');
    for (const s of SETTINGS as readonly Setting<unknown>[]) {
      const flag = s.flag;
      if (flag === undefined) continue;
      const meta = s.type === 'bool' ? (s.default === true ? ' [true|false]' : '') : ` ${s.meta}`;
      const i = lines.findIndex((l) => l.endsWith(`${flag}${meta}`) || l.includes(`${flag}${meta} (default `));
      assert.ok(i >= 0 && /^ +(-\w, )?--/.test(lines[i]!), `--help shows ${flag}${meta}`);
      assert.ok(lines[i]!.includes(' (default ') || lines[i + 1]!.startsWith('          (default '), `--help shows the default of ${flag}`);
    }
  });

  it('a port in use exits 1 with one line', async () => {
    const first = await startGwserver([`${APP}:hello`]);
    const r = await runToExit(['-b', `127.0.0.1:${first.port}`, `${APP}:hello`]);
    assert.equal(r.code, 1);
    const lines = r.stderr.trim().split('\n');
    assert.match(lines[lines.length - 1]!, /cannot listen on 127\.0\.0\.1:\d+: the address is already in use/);
  });

  it('serves on several binds, IPv6 included', async () => {
    const srv = await startGwserver(['-b', '127.0.0.1:0', '-b', '[::1]:0', `${APP}:hello`]);
    assert.equal(srv.addresses.length, 2);
    for (const address of srv.addresses) {
      const r = await fetch(`${address}/`);
      assert.equal(r.status, 200);
      assert.equal(await r.text(), 'Hello world!');
    }
    assert.match(srv.addresses[1]!, /^http:\/\/\[::1\]:\d+$/);
  });

  describe('unix sockets', () => {
    let dir: string;
    beforeEach(() => { dir = tempDir('gw-unix-'); });

    it('creates the socket with mode 666 by default, serves on it, removes it on exit', async () => {
      const sock = path.join(dir, 'app.sock');
      const srv = await startGwserver(['-b', `unix:${sock}`, `${APP}:environ`]);
      assert.deepEqual(srv.addresses, [`unix:${sock}`]);
      assert.equal(statSync(sock).mode & 0o777, 0o666);
      const r = await rawRequest({ path: sock }, 'GET /x HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n');
      assert.equal(r.status, 200);
      const env = JSON.parse(r.body.toString());
      assert.equal(env.SERVER_NAME, 'app.example');
      assert.equal(env.PATH_INFO, '/x');
      const exit = await srv.stop();
      assert.equal(exit.code, 0);
      assert.throws(() => statSync(sock), /ENOENT/);
    });

    it('--socket-mode sets the permissions; a stale socket file is replaced', async () => {
      const sock = path.join(dir, 'app.sock');
      const first = await startGwserver(['-b', `unix:${sock}`, `${APP}:hello`]);
      first.proc.kill('SIGKILL');
      await first.exited;
      const srv = await startGwserver(['-b', `unix:${sock}`, '--socket-mode', '660', `${APP}:hello`]);
      assert.equal(statSync(sock).mode & 0o777, 0o660);
      const r = await rawRequest({ path: sock }, 'GET / HTTP/1.0\r\n\r\n');
      assert.equal(r.body.toString(), 'Hello world!');
      await srv.stop();
    });
  });

  it('--log-level warning keeps warnings and drops info and debug records', async () => {
    // At warning the "listening" record is not printed: bind a unix socket whose path we know.
    const dir = tempDir('gw-level-');
    const sock = path.join(dir, 'app.sock');
    const srv = await startGwserver(['-b', `unix:${sock}`, '--log-level', 'warning', `${APP}:logs`], { noWait: true });
    let r: Awaited<ReturnType<typeof rawRequest>> | undefined;
    const deadline = Date.now() + 10_000;
    while (r === undefined) {
      r = await rawRequest({ path: sock }, 'GET / HTTP/1.0\r\n\r\n').catch(() => undefined);
      if (r === undefined) {
        assert.ok(Date.now() < deadline, 'server did not come up');
        await new Promise((res) => setTimeout(res, 50));
      }
    }
    assert.equal(r.status, 200);
    await srv.waitForRecord((rec) => rec.msg === 'warn probe');
    await srv.stop();
    const levels = new Set(srv.records().map((rec) => rec.level));
    assert.ok(!levels.has('info') && !levels.has('debug'), [...levels].join(','));
  });

  it('--log-level debug shows debug records', async () => {
    const srv = await startGwserver(['--log-level', 'debug', `${APP}:logs`]);
    assert.equal((await fetch(`${srv.url}/`)).status, 200);
    const rec = await srv.waitForRecord((r) => r.msg === 'debug probe');
    assert.equal(rec.level, 'debug');
    assert.match(String(rec.request_id), /^[0-9a-f-]{36}$/);
  });
});
