/**
 * `gwserver --validate`: the loaded gateway app runs under the validator in
 * every worker (a broken rule is a 500 and an error record naming it),
 * and a node or fetch app is refused at boot with one line.
 */
import assert from 'node:assert/strict';
import { runToExit, startGwserver } from '../helpers/gwserver.js';

const APP = 'test/fixtures/apps/validate.mjs';

/** The one line a refused boot prints (JSON log records aside). */
function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n').filter((l) => !l.startsWith('{'));
  assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
  return lines[0]!;
}

describe('gwserver --validate', function () {
  this.timeout(30_000);

  it('a violation the server alone lets pass is a 500 and a log record naming it', async function () {
    const plain = await startGwserver([`${APP}:sloppy`]);
    const ok = await fetch(`${plain.url}/`);
    assert.equal(ok.status, 200, 'without --validate the server serves it');
    assert.equal(await ok.text(), 'sloppy but served\n');
    await plain.stop();

    const server = await startGwserver(['--validate', '-w', '2', `${APP}:sloppy`]);
    const res = await fetch(`${server.url}/x`);
    assert.equal(res.status, 500);
    assert.equal(await res.text(), 'Internal Server Error\n');
    const rec = await server.waitForRecord((r) => r.msg === 'application error');
    assert.equal(rec.err?.type, 'LintError');
    assert.equal(rec.err?.message, 'validator (application): wsgi.errors.write() takes a string, got 42');
    assert.equal(rec.path, '/x');
    assert.equal(rec.request_id, res.headers.get('x-request-id'));
  });

  it('an app that keeps the contract is served as without it', async function () {
    const server = await startGwserver(['--validate', `${APP}:tidy`]);
    for (const method of ['GET', 'HEAD', 'POST']) {
      const res = await fetch(`${server.url}/`, { method, body: method === 'POST' ? 'ignored' : undefined });
      assert.equal(res.status, 200, method);
      assert.equal(await res.text(), method === 'HEAD' ? '' : 'tidy\n');
    }
    assert.deepEqual(server.records().filter((r) => r.level === 'error'), []);
  });

  it('a node or fetch app: one line saying it applies to gateway apps only, exit 4', async function () {
    const node = await runToExit(['-b', '127.0.0.1:0', '--validate', '--interface', 'node', `${APP}:nodeHandler`]);
    assert.equal(node.code, 4, node.stderr);
    assert.match(oneLine(node.stderr), /^gwserver: error: --validate applies to gateway apps only: test\/fixtures\/apps\/validate\.mjs:nodeHandler is served as a node app \(--interface node\)$/);
    const fetchApp = await runToExit(['-b', '127.0.0.1:0', '--validate', 'examples/fetch.mjs']);
    assert.equal(fetchApp.code, 4, fetchApp.stderr);
    assert.match(oneLine(fetchApp.stderr), /--validate applies to gateway apps only: examples\/fetch\.mjs is served as a fetch app/);
  });

  it('--check-config and --preload say the same', async function () {
    const check = await runToExit(['--check-config', '--validate', 'examples/express.mjs']);
    assert.equal(check.code, 4, check.stderr);
    assert.equal(check.stdout, '');
    assert.match(oneLine(check.stderr), /--validate applies to gateway apps only: examples\/express\.mjs is served as a node app/);
    const preload = await runToExit(['-b', '127.0.0.1:0', '--preload', '--validate', 'examples/koa.mjs']);
    assert.equal(preload.code, 4, preload.stderr);
    assert.match(oneLine(preload.stderr), /--validate applies to gateway apps only/);
    const fine = await runToExit(['--check-config', '--validate', `${APP}:tidy`]);
    assert.equal(fine.code, 0, fine.stderr);
  });
});
