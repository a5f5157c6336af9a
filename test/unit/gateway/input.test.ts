/**
 * RequestInput (`wsgi.input`) over plain Node streams: read sizes,
 * readline with a size, readlines with a hint, async iteration, one read at
 * a time, a truncated body, the body limit, `onFirstRead` (100 Continue),
 * discarding, and backpressure (nothing pulled while no read waits).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { GatewayError } from '../../../src/errors.js';
import { RequestInput } from '../../../src/gateway/input.js';

/** A stream that has `parts` and then ends. */
function source(parts: string[]): PassThrough {
  const s = new PassThrough();
  for (const p of parts) s.write(p);
  s.end();
  return s;
}

function over(parts: string[], length: number | undefined = parts.join('').length): RequestInput {
  return new RequestInput(source(parts), { length });
}

const text = (b: Buffer) => b.toString('latin1');

function gatewayError(code: string, pattern?: RegExp) {
  return (err: unknown): true => {
    assert.ok(err instanceof GatewayError, `a GatewayError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

/** Resolves with whether `p` settled within a few turns of the event loop. */
async function settles(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(() => { done = true; }, () => { done = true; });
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  return done;
}

describe('RequestInput', function () {
  describe('read(size)', function () {
    it('returns exactly size bytes across chunk boundaries, fewer only at EOF, then empty', async function () {
      const input = over(['ab', 'cde', 'f', 'ghij']);
      assert.equal(text(await input.read(3)), 'abc');
      assert.equal(text(await input.read(4)), 'defg');
      assert.equal(text(await input.read(5)), 'hij');
      assert.equal((await input.read(5)).length, 0);
      assert.equal((await input.read()).length, 0);
    });

    it('without size (or a negative one) returns the rest', async function () {
      const input = over(['ab', 'cd', 'ef']);
      assert.equal(text(await input.read(1)), 'a');
      assert.equal(text(await input.read()), 'bcdef');
      const other = over(['xy', 'z']);
      assert.equal(text(await other.read(-1)), 'xyz');
    });

    it('read(0) returns empty without touching the stream', async function () {
      let first = 0;
      const input = new RequestInput(source(['abc']), { length: 3, onFirstRead: () => first++ });
      assert.equal((await input.read(0)).length, 0);
      assert.equal(first, 0);
      assert.equal(text(await input.read()), 'abc');
    });

    it('waits for data that has not arrived yet', async function () {
      const s = new PassThrough();
      const input = new RequestInput(s, { length: 6 });
      const pending = input.read(6);
      s.write('abc');
      assert.equal(await settles(pending), false, 'not with half of it');
      s.end('def');
      assert.equal(text(await pending), 'abcdef');
    });

    it('a declared length of 0 is EOF at once, without reading the stream', async function () {
      let first = 0;
      const s = new PassThrough();
      const input = new RequestInput(s, { length: 0, onFirstRead: () => first++ });
      assert.equal(input.ended, true);
      assert.equal((await input.read()).length, 0);
      assert.equal(first, 0, 'no 100 Continue for an empty body');
    });
  });

  describe('readline(size)', function () {
    it('returns lines up to and including "\\n", across chunks, the last one without', async function () {
      const input = over(['he', 'llo\nwor', 'ld\n', '\n', 'end']);
      const lines: string[] = [];
      for (;;) {
        const line = await input.readline();
        if (line.length === 0) break;
        lines.push(text(line));
      }
      assert.deepEqual(lines, ['hello\n', 'world\n', '\n', 'end']);
    });

    it('returns at most size bytes, and the rest of the line on the next call', async function () {
      const input = over(['abcdef\n', 'gh\n']);
      assert.equal(text(await input.readline(4)), 'abcd');
      assert.equal(text(await input.readline(4)), 'ef\n');
      assert.equal(text(await input.readline(3)), 'gh\n');
      assert.equal((await input.readline(3)).length, 0);
    });

    it('a size exactly at the newline includes it', async function () {
      const input = over(['abc\nd']);
      assert.equal(text(await input.readline(4)), 'abc\n');
      assert.equal(text(await input.readline(4)), 'd');
    });

    it('readline(0) is empty', async function () {
      const input = over(['abc\n']);
      assert.equal((await input.readline(0)).length, 0);
      assert.equal(text(await input.readline()), 'abc\n');
    });

    it('mixes with read()', async function () {
      const input = over(['ab\ncd\nef']);
      assert.equal(text(await input.read(1)), 'a');
      assert.equal(text(await input.readline()), 'b\n');
      assert.equal(text(await input.read(2)), 'cd');
      assert.equal(text(await input.readline()), '\n');
      assert.equal(text(await input.read()), 'ef');
    });
  });

  describe('readlines(hint)', function () {
    it('returns every line without a hint', async function () {
      const lines = await over(['a\nbb\n', 'ccc']).readlines();
      assert.deepEqual(lines.map(text), ['a\n', 'bb\n', 'ccc']);
    });

    it('stops after the line that brings the total to the hint', async function () {
      const input = over(['a\nbb\nccc\ndddd\n']);
      assert.deepEqual((await input.readlines(4)).map(text), ['a\n', 'bb\n']);
      assert.deepEqual((await input.readlines(1)).map(text), ['ccc\n']);
      assert.deepEqual((await input.readlines(0)).map(text), ['dddd\n'], 'a hint of 0 means no hint');
    });
  });

  describe('async iteration', function () {
    it('yields the body in chunks as they arrive, then stops', async function () {
      const input = over(['ab', 'cd', 'e']);
      let all = '';
      for await (const chunk of input) {
        assert.ok(chunk.length > 0);
        all += text(chunk);
      }
      assert.equal(all, 'abcde');
    });

    it('starts after what read() took', async function () {
      const input = over(['abcdef']);
      await input.read(2);
      let all = '';
      for await (const chunk of input) all += text(chunk);
      assert.equal(all, 'cdef');
    });
  });

  describe('one read at a time', function () {
    it('a read started while another is pending rejects; the first is not disturbed', async function () {
      const s = new PassThrough();
      const input = new RequestInput(s, { length: 4 });
      const first = input.read(4);
      await assert.rejects(input.read(1), gatewayError('GW_CONCURRENT_READ', /another one is still pending/));
      await assert.rejects(input.readline(), gatewayError('GW_CONCURRENT_READ'));
      s.end('abcd');
      assert.equal(text(await first), 'abcd');
      assert.equal((await input.read()).length, 0, 'reads work again afterwards');
    });
  });

  describe('a truncated body', function () {
    it('Content-Length: the stream closes early, read rejects saying how much came', async function () {
      const s = new PassThrough();
      const input = new RequestInput(s, { length: 10 });
      s.write('abc');
      const pending = input.read();
      await new Promise((r) => setImmediate(r));
      s.destroy();
      await assert.rejects(pending, gatewayError('GW_CLIENT_GONE', /sent 3 of the 10 bytes/));
      await assert.rejects(input.read(), gatewayError('GW_CLIENT_GONE'), 'and every later read that needs more');
    });

    it('chunked: read rejects saying the body did not end', async function () {
      const s = new PassThrough();
      const input = new RequestInput(s, {});
      s.write('abc');
      const pending = input.read();
      await new Promise((r) => setImmediate(r));
      s.destroy(new Error('socket hang up'));
      await assert.rejects(pending, gatewayError('GW_CLIENT_GONE', /before the end of its chunked body/));
    });

    it('a stream that died before the first read rejects that read (no hang)', async function () {
      const s = new PassThrough();
      s.write('abc');
      s.destroy();
      await once(s, 'close');
      const input = new RequestInput(s, { length: 10 });
      await assert.rejects(input.read(), gatewayError('GW_CLIENT_GONE'));
    });

    it('truncated() (the parser saw the connection end) rejects a pending read', async function () {
      const s = new PassThrough();
      const input = new RequestInput(s, { length: 10 });
      s.write('abcd');
      const pending = input.read();
      await new Promise((r) => setImmediate(r));
      input.truncated();
      await assert.rejects(pending, gatewayError('GW_CLIENT_GONE', /sent 4 of the 10 bytes/));
    });

    it('fail(err) rejects a pending read with err', async function () {
      const s = new PassThrough();
      const input = new RequestInput(s, {});
      const pending = input.read(1);
      const err = new GatewayError('GW_BAD_REQUEST', 'bad chunk size');
      input.fail(err);
      await assert.rejects(pending, (e) => e === err);
    });

    it('closing after the end is not an error', async function () {
      const s = source(['abc']);
      const input = new RequestInput(s, { length: 3 });
      assert.equal(text(await input.read()), 'abc');
      s.destroy();
      assert.equal((await input.read()).length, 0);
    });
  });

  describe('limit (chunked bodies)', function () {
    it('read rejects once more than the limit arrived', async function () {
      const input = new RequestInput(source(['12345', '67890']), { limit: 8 });
      await assert.rejects(input.read(), gatewayError('GW_BODY_TOO_LARGE', /limit of 8 bytes/));
    });

    it('a body at the limit is fine', async function () {
      const input = new RequestInput(source(['1234', '5678']), { limit: 8 });
      assert.equal(text(await input.read()), '12345678');
    });

    it('does not apply to a declared length (the handler refuses those before the app)', async function () {
      const input = new RequestInput(source(['1234567890']), { length: 10, limit: 8 });
      assert.equal((await input.read()).length, 10);
    });
  });

  describe('onFirstRead (100 Continue)', function () {
    it('runs once, on the first read, not before', async function () {
      let calls = 0;
      const s = new PassThrough();
      const input = new RequestInput(s, { length: 4, onFirstRead: () => calls++ });
      assert.equal(calls, 0, 'not at construction');
      const a = input.read(2);
      assert.equal(calls, 1);
      s.end('abcd');
      await a;
      await input.readline();
      for await (const _ of input) void _;
      assert.equal(calls, 1);
    });
  });

  describe('discard(max)', function () {
    it('reads and drops a small rest so the stream ends', async function () {
      const s = source(['abc', 'def']);
      const input = new RequestInput(s, { length: 6 });
      assert.equal(input.discard(100), true);
      await once(s, 'end');
      assert.equal(input.ended, true);
      assert.equal(input.received, 6);
    });

    it('refuses a rest over max, or of unknown length', function () {
      assert.equal(new RequestInput(source(['abcdef']), { length: 6 }).discard(5), false);
      assert.equal(new RequestInput(source(['abcdef']), {}).discard(100), false);
    });
  });

  describe('backpressure', function () {
    it('pulls nothing while no read waits: the writer is held back', async function () {
      const s = new PassThrough();
      const input = new RequestInput(s, {});
      s.write(Buffer.alloc(1000));
      await input.read(1);
      // The app now does something else; the client keeps sending.
      let written = 0;
      for (let i = 0; i < 640; i++) {
        const ok = s.write(Buffer.alloc(16 * 1024));
        written += 16 * 1024;
        if (!ok) {
          const drained = await Promise.race([
            once(s, 'drain').then(() => true),
            new Promise<boolean>((r) => setTimeout(() => r(false), 50)),
          ]);
          if (!drained) break;
        }
      }
      assert.ok(written < 1024 * 1024, `the writer was stopped early (wrote ${written} bytes)`);
      assert.ok(input.received <= 64 * 1024, `the input pulled ${input.received} bytes while nobody read`);
      // And the data is all there once the app reads again.
      s.end();
      const rest = await input.read();
      assert.equal(rest.length + 1, 1000 + written);
    });

    it('works over any Readable', async function () {
      const input = new RequestInput(Readable.from([Buffer.from('ab'), Buffer.from('c')]), {});
      assert.equal(text(await input.read()), 'abc');
    });
  });
});
