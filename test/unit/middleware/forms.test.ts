/**
 * The forms functions in-process, over a RequestInput as the server makes
 * it: parseForm and formParts directly, the middleware's pass-through and
 * cleanup, and withClose keeping a body's shape.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { compose, forms, formParts, parseForm, RequestInput, setupTestingDefaults, validator, type Application, type Body, type Environ, type Form } from '../../../src/index.js';
import { withClose } from '../../../src/middleware/body.js';
import { multipart, MULTIPART_TYPE } from '../../helpers/multipart.js';
import { tempDir } from '../../helpers/temp-dir.js';

/** An environ whose body is `data`, sent in chunks of `chunk` bytes; `pulled` counts the bytes read from it. */
function posting(data: string | Buffer, type: string, chunk = 1024): { environ: Environ; pulled: () => number } {
  const bytes = Buffer.from(data);
  let pulled = 0;
  const source = Readable.from((function* () {
    for (let i = 0; i < bytes.length; i += chunk) {
      const piece = bytes.subarray(i, i + chunk);
      pulled += piece.length;
      yield piece;
    }
  })());
  const environ = setupTestingDefaults({
    REQUEST_METHOD: 'POST',
    CONTENT_TYPE: type,
    CONTENT_LENGTH: String(bytes.length),
    'wsgi.input': new RequestInput(source, { length: bytes.length }),
  });
  return { environ, pulled: () => pulled };
}

describe('forms', function () {
  it('parseForm refuses a body that is not a form with a 415 GatewayError', async function () {
    const { environ } = posting('{}', 'application/json');
    await assert.rejects(parseForm(environ), (err: any) => err.status === 415 && err.code === 'GW_UNSUPPORTED_MEDIA_TYPE' && /not application\/x-www-form-urlencoded or multipart\/form-data/.test(err.message));
  });

  it('parseForm writes files into its own directory, removed by cleanup()', async function () {
    const tmp = tempDir('gw-forms-unit-');
    const { environ } = posting(multipart([{ name: 'a', value: 'b' }, { name: 'f', value: 'content', filename: '../../etc/passwd' }]), MULTIPART_TYPE, 7);
    const form = await parseForm(environ, { tmpdir: tmp });
    assert.equal(form.fields.get('a'), 'b');
    const file = form.file('f')!;
    assert.equal(file.filename, 'passwd', 'busboy keeps the base name only');
    assert.ok(file.path.startsWith(`${tmp}/gwserver-form-`), 'the client name is not the path');
    assert.equal(readFileSync(file.path, 'utf8'), 'content');
    await form.cleanup();
    await form.cleanup();
    assert.deepEqual(readdirSync(tmp), []);
  });

  it("a server-side failure (no temp dir) stays the server's error, not a 4xx", async function () {
    const { environ } = posting(multipart([{ name: 'f', value: 'x', filename: 'x' }]), MULTIPART_TYPE);
    await assert.rejects(parseForm(environ, { tmpdir: '/nonexistent/gwserver-test' }), (err: any) => err.code === 'ENOENT' && err.status === undefined);
  });

  it('formParts: stopping early stops reading the body; an unread file is drained', async function () {
    const big = Buffer.alloc(256 * 1024, 1);
    const first = posting(multipart([{ name: 'a', value: '1' }, { name: 'f', value: big, filename: 'f' }]), MULTIPART_TYPE);
    for await (const part of formParts(first.environ)) {
      assert.equal(part.kind, 'field');
      break;
    }
    assert.ok(first.pulled() < big.length, `read ${first.pulled()} bytes`);

    const second = posting(multipart([{ name: 'f', value: big, filename: 'f' }, { name: 'z', value: 'last' }]), MULTIPART_TYPE);
    const seen: string[] = [];
    for await (const part of formParts(second.environ)) seen.push(part.name);
    assert.deepEqual(seen, ['f', 'z']);
  });

  it('the middleware passes other requests through and cleans up after the body closes', async function () {
    const tmp = tempDir('gw-forms-unit-');
    let seen: Form | undefined;
    const app: Application = (environ, startResponse) => {
      seen = environ['gwserver.form'] as Form | undefined;
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return ['ok'];
    };
    const wrapped = compose(forms({ tmpdir: tmp }))(app);
    await wrapped(setupTestingDefaults(), () => async () => {});
    assert.equal(seen, undefined);

    const { environ } = posting(multipart([{ name: 'f', value: 'x', filename: 'x' }]), MULTIPART_TYPE);
    const body = (await wrapped(environ, () => async () => {})) as Body & { close(): Promise<void> };
    assert.ok(Array.isArray(body), 'an array body stays an array');
    assert.ok(existsSync(seen!.files[0]!.path));
    await body.close();
    assert.deepEqual(readdirSync(tmp), []);
  });

  it('keeps the gateway contract under the validator, refusals included', async function () {
    const tmp = tempDir('gw-forms-unit-');
    const app: Application = (environ, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return [String((environ['gwserver.form'] as Form).files.length)];
    };
    const wrapped = validator(compose(forms({ tmpdir: tmp, limits: { fileSize: 10 } }))(app));
    for (const [value, expected] of [['small', '200 OK'], ['far too large', '413 Content Too Large']]) {
      let status = '';
      const { environ } = posting(multipart([{ name: 'f', value, filename: 'x' }]), MULTIPART_TYPE);
      const body = await wrapped(environ, (s) => {
        status = s;
        return async () => {};
      });
      for await (const _ of body as AsyncIterable<unknown>) {
        // drained
      }
      await (body as { close?(): unknown }).close?.();
      assert.equal(status, expected);
    }
    assert.deepEqual(readdirSync(tmp), []);
  });

  it('withClose keeps arrays and objects, wraps strings and frozen bodies, runs once', async function () {
    let runs = 0;
    const after = () => void runs++;
    const array = withClose(['a'], after) as string[] & { close(): Promise<void> };
    assert.ok(Array.isArray(array));
    await array.close();
    await array.close();
    assert.equal(runs, 1);

    let own = 0;
    const gen = (function* () {
      yield 'x';
    })() as Generator<string> & { close?: () => void };
    gen.close = () => void own++;
    const wrapped = withClose(gen, after) as typeof gen;
    assert.equal(wrapped, gen);
    wrapped.close!();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual([own, runs], [1, 2]);

    const str = withClose('text', after) as unknown as [string] & { close(): Promise<void> };
    assert.deepEqual([...str], ['text']);
    await str.close();
    assert.equal(runs, 3);

    const frozen = Object.freeze(['f']);
    const delegate = withClose(frozen as unknown as Body, after) as Iterable<string> & { close(): Promise<void> };
    assert.deepEqual([...delegate], ['f']);
    await delegate.close();
    assert.equal(runs, 4);
  });
});
