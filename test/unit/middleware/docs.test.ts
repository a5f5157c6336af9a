/**
 * Every whole-module example in docs/toolkit.md's middleware sections runs
 * as written: each is saved as a module inside the repository (so that
 * `import ... from 'gwserver'` resolves to this package) and, in a child
 * process of its own (an example may open a Redis connection that nobody
 * closes), called once with a form POST carrying Basic credentials
 * `ada:lovelace`, which every example answers 200.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from '../../helpers/gwserver.js';
import { startRedis, type RedisServer } from '../../helpers/redis.js';

const run = promisify(execFile);

/** The ```js blocks of docs/toolkit.md from "## Middleware" to "## Static files" that are whole modules. */
function examples(): string[] {
  const doc = readFileSync(path.join(ROOT, 'docs/toolkit.md'), 'utf8');
  const from = doc.indexOf('\n## Middleware\n');
  assert.ok(from > 0, 'docs/toolkit.md has a Middleware section');
  // Static files and compression come after, with examples of their own kind (tested in static/compress tests).
  const to = doc.indexOf('\n## Static files\n', from);
  const blocks = [...doc.slice(from, to === -1 ? undefined : to).matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks.filter((b) => b.includes('export const application') && b.includes("from 'gwserver'"));
}

const RUNNER = `
import { Readable } from 'node:stream';
import { RequestInput, setupTestingDefaults } from 'gwserver';
const { application } = await import(process.argv[2]);
const data = Buffer.from('name=Ada');
const environ = setupTestingDefaults({
  REQUEST_METHOD: 'POST',
  CONTENT_TYPE: 'application/x-www-form-urlencoded',
  CONTENT_LENGTH: String(data.length),
  HTTP_AUTHORIZATION: 'Basic ' + Buffer.from('ada:lovelace').toString('base64'),
  'wsgi.input': new RequestInput(Readable.from([data]), { length: data.length }),
});
let status;
const body = await application(environ, (s) => { status = s; return async () => {}; });
const chunks = [];
for await (const c of body) chunks.push(Buffer.from(c));
await body.close?.();
console.log(JSON.stringify({ status, body: Buffer.concat(chunks).toString() }));
process.exit(0);
`;

describe('docs/toolkit.md middleware examples', function () {
  this.timeout(60_000);
  let dir: string;
  let redis: RedisServer;

  before(async function () {
    // Inside the repository: a module there imports 'gwserver' as this package.
    dir = mkdtempSync(path.join(ROOT, '.doc-examples-'));
    writeFileSync(path.join(dir, 'run.mjs'), RUNNER);
    redis = await startRedis();
  });

  after(async function () {
    rmSync(dir, { recursive: true, force: true });
    await redis?.stop();
  });

  const blocks = examples();

  it('finds the examples', function () {
    assert.ok(blocks.length >= 9, `${blocks.length} examples`);
  });

  blocks.forEach((code, i) => {
    const first = code.split('\n').find((l) => l.includes("from 'gwserver'"))!;
    it(`example ${i + 1} (${first.trim()}) answers 200`, async function () {
      const file = path.join(dir, `example-${i + 1}.mjs`);
      writeFileSync(file, code);
      // As a reader runs it: without the secrets the examples read from the environment.
      const env: NodeJS.ProcessEnv = { ...process.env, REDIS_URL: redis.url };
      delete env.SESSION_SECRET;
      delete env.SESSION_SECRETS;
      const { stdout } = await run(process.execPath, [path.join(dir, 'run.mjs'), file], {
        cwd: ROOT,
        env,
        timeout: 20_000,
      });
      const result = JSON.parse(stdout.trim().split('\n').pop()!);
      assert.equal(result.status, '200 OK', `${result.status}: ${result.body}`);
      assert.ok(result.body.length > 0);
    });
  });
});
