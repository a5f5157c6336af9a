/**
 * The validator: each violation it claims to catch, on both sides of the
 * contract, and correct apps passing through with their output unchanged.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { LintError, validator } from '../../../src/gateway/lint.js';
import { setupTestingDefaults } from '../../../src/gateway/util.js';
import { RequestInput } from '../../../src/gateway/input.js';
import { FileWrapper } from '../../../src/gateway/file-wrapper.js';
import type {
  Application,
  Body,
  Chunk,
  Environ,
  HeaderPair,
  InputStream,
  StartResponse,
} from '../../../src/gateway/types.js';
import { tempDir } from '../../helpers/temp-dir.js';

// ---------------------------------------------------------------------------
// A small in-test server: calls the app, iterates the body, closes it.

interface Served {
  status: string | undefined;
  headers: HeaderPair[] | undefined;
  chunks: Chunk[];
  text: string;
}

const nonEmpty = (c: Chunk): boolean => (typeof c === 'string' ? c.length > 0 : c.byteLength > 0);
const toBuffer = (c: Chunk): Buffer => (typeof c === 'string' ? Buffer.from(c) : Buffer.from(c));

function recorder(): { res: Served; startResponse: StartResponse } {
  const res: Served = { status: undefined, headers: undefined, chunks: [], text: '' };
  const startResponse: StartResponse = (status, headers, excInfo) => {
    if (excInfo !== undefined && res.chunks.some(nonEmpty)) throw excInfo;
    res.status = status;
    res.headers = headers;
    return async (chunk) => {
      res.chunks.push(chunk);
    };
  };
  return { res, startResponse };
}

async function serve(app: Application, environ: Environ = setupTestingDefaults()): Promise<Served> {
  const { res, startResponse } = recorder();
  const body = await app(environ, startResponse);
  try {
    if (typeof body === 'string' || body instanceof Uint8Array) res.chunks.push(body);
    else if (Symbol.asyncIterator in body) for await (const c of body as AsyncIterable<Chunk>) res.chunks.push(c);
    else for (const c of body as Iterable<Chunk>) res.chunks.push(c);
  } finally {
    const closable = body as { close?: () => unknown };
    if (typeof closable.close === 'function') await closable.close();
  }
  res.text = Buffer.concat(res.chunks.map(toBuffer)).toString();
  return res;
}

function isLint(side: 'server' | 'application', pattern: RegExp) {
  return (err: unknown): true => {
    assert.ok(err instanceof LintError, `expected a LintError, got ${String(err)}`);
    assert.equal(err.side, side);
    assert.equal(err.code, 'GW_APP_CONTRACT');
    assert.match(err.message, pattern);
    return true;
  };
}

const rejectsApp = (p: Promise<unknown>, pattern: RegExp) => assert.rejects(p, isLint('application', pattern));
const rejectsServer = (p: Promise<unknown>, pattern: RegExp) => assert.rejects(p, isLint('server', pattern));

const TEXT: HeaderPair[] = [['Content-Type', 'text/plain']];

const hello: Application = (_env, startResponse) => {
  startResponse('200 OK', TEXT);
  return ['hello'];
};

const noop = (): void => {};
function inputOf(text: string): InputStream {
  const bytes = Buffer.from(text);
  // Several small chunks, so reads have to join them.
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 3) parts.push(bytes.subarray(i, i + 3));
  return new RequestInput(Readable.from(parts), { length: bytes.length });
}

/** An InputStream whose methods are replaced by `impl`, to play a broken server. */
function fakeInput(impl: Partial<InputStream>): InputStream {
  return {
    read: async () => Buffer.alloc(0),
    readline: async () => Buffer.alloc(0),
    readlines: async () => [],
    async *[Symbol.asyncIterator]() {},
    ...impl,
  };
}

/** Runs an app that does `fn` with the environ and answers "200 OK" with an empty body. */
function withEnviron(fn: (environ: Environ) => Promise<unknown>): Application {
  return async (environ, startResponse) => {
    await fn(environ);
    startResponse('200 OK', TEXT);
    return [];
  };
}

// ---------------------------------------------------------------------------

describe('validator', () => {
  describe('correct apps pass through unchanged', () => {
    const apps: Record<string, Application> = {
      'a sync array': (_env, sr) => {
        sr('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '11']]);
        return ['hello', ' ', Buffer.from('world')];
      },
      'a generator': function* (_env: Environ, sr: StartResponse) {
        sr('201 Created', TEXT);
        yield '';
        yield 'one ';
        yield Buffer.from('two');
      } as unknown as Application,
      'an async generator': async function* (_env: Environ, sr: StartResponse) {
        sr('200 OK', TEXT);
        for (const part of ['a', 'b', 'c']) {
          await Promise.resolve();
          yield part;
        }
      } as unknown as Application,
      'a write() user': async (_env, sr) => {
        const write = sr('200 OK', TEXT);
        await write('written ');
        await write(Buffer.from('out'));
        return [];
      },
      'a string body': (_env, sr) => {
        sr('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '4']]);
        return 'text';
      },
      'a Uint8Array body': (_env, sr) => {
        sr('200 OK', TEXT);
        return new Uint8Array([104, 105]);
      },
      'a Readable body': (_env, sr) => {
        sr('200 OK', TEXT);
        return Readable.from([Buffer.from('stream'), Buffer.from('ed')]);
      },
      'an error handler (excInfo before output)': function* (_env: Environ, sr: StartResponse) {
        sr('200 OK', TEXT);
        try {
          throw new Error('boom');
        } catch (err) {
          sr('500 Internal Server Error', TEXT, err);
          yield 'failed';
        }
      } as unknown as Application,
      'a HEAD answer with a Content-Length and no body': (_env, sr) => {
        sr('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '1000']]);
        return [];
      },
    };
    for (const [name, app] of Object.entries(apps)) {
      it(name, async () => {
        const method = name.startsWith('a HEAD') ? 'HEAD' : 'GET';
        const plain = await serve(app, setupTestingDefaults({ REQUEST_METHOD: method }));
        const linted = await serve(validator(app), setupTestingDefaults({ REQUEST_METHOD: method }));
        assert.deepEqual(linted, plain);
        assert.notEqual(linted.status, undefined);
      });
    }

    it('hands arrays, strings and Uint8Arrays on as they are (framing is unchanged)', async () => {
      const array = ['a'];
      const bytes = new Uint8Array([1]);
      for (const body of [array, 'x', bytes]) {
        const { startResponse } = recorder();
        const out = await validator((_e, sr) => {
          sr('200 OK', TEXT);
          return body;
        })(setupTestingDefaults(), startResponse);
        assert.equal(out, body);
      }
    });

    it('keeps a sync app sync and an async app async', () => {
      const { startResponse } = recorder();
      const sync = validator(hello)(setupTestingDefaults(), startResponse);
      assert.ok(Array.isArray(sync));
      const asyncResult = validator(async (e, sr) => hello(e, sr))(setupTestingDefaults(), recorder().startResponse);
      assert.ok(asyncResult instanceof Promise);
    });

    it('keeps the body\'s prototype and methods (a file wrapper is still one)', async () => {
      const dir = tempDir('gw-lint-');
      const file = path.join(dir, 'f.txt');
      await writeFile(file, 'file contents');
      const app: Application = (env, sr) => {
        sr('200 OK', TEXT);
        return env['wsgi.file_wrapper'](file);
      };
      const { startResponse } = recorder();
      const body = await validator(app)(setupTestingDefaults(), startResponse);
      assert.ok(body instanceof FileWrapper);
      assert.equal(await (body as FileWrapper).size(), 13);
      await (body as FileWrapper).close();
      assert.equal((await serve(validator(app))).text, 'file contents');
    });

    it('pulls one chunk from the app per chunk the server pulls', async () => {
      const pulled: number[] = [];
      const app = async function* (_env: Environ, sr: StartResponse) {
        sr('200 OK', TEXT);
        for (let i = 0; i < 3; i++) {
          pulled.push(i);
          yield `${i}`;
        }
      } as unknown as Application;
      const body = (await validator(app)(setupTestingDefaults(), recorder().startResponse)) as AsyncIterable<Chunk>;
      assert.deepEqual(pulled, []);
      const it = body[Symbol.asyncIterator]();
      assert.deepEqual(await it.next(), { done: false, value: '0' });
      assert.deepEqual(pulled, [0]);
      assert.deepEqual(await it.next(), { done: false, value: '1' });
      assert.deepEqual(pulled, [0, 1]);
      await it.return!();
    });

    it('forwards return() so that a disconnect stops the app\'s body, and forwards close()', async () => {
      const events: string[] = [];
      const app: Application = (_env, sr) => {
        sr('200 OK', TEXT);
        const gen = (async function* () {
          try {
            for (;;) yield 'tick';
          } finally {
            events.push('finally');
          }
        })();
        return Object.assign(gen, { close: () => void events.push('close') });
      };
      const body = (await validator(app)(setupTestingDefaults(), recorder().startResponse)) as AsyncIterable<Chunk> & { close(): void };
      for await (const chunk of body) {
        assert.equal(chunk, 'tick');
        break; // the client went away
      }
      body.close();
      assert.deepEqual(events, ['finally', 'close']);
    });

    it('checks reads of wsgi.input and passes their data through', async () => {
      const seen: string[] = [];
      const app = withEnviron(async (env) => {
        const input = env['wsgi.input'];
        seen.push((await input.read(4)).toString());
        seen.push((await input.readline()).toString());
        seen.push((await input.readline(2)).toString());
        seen.push((await input.readlines()).map(String).join('|'));
        seen.push((await input.read()).toString());
      });
      const body = 'abcdef\nghij\nkl\nmn';
      await serve(validator(app), setupTestingDefaults({ CONTENT_LENGTH: String(body.length), 'wsgi.input': inputOf(body) }));
      assert.deepEqual(seen, ['abcd', 'ef\n', 'gh', 'ij\n|kl\n|mn', '']);
    });

    it('passes async iteration of wsgi.input through', async () => {
      let got = '';
      const app = withEnviron(async (env) => {
        for await (const chunk of env['wsgi.input']) got += chunk.toString();
      });
      await serve(validator(app), setupTestingDefaults({ CONTENT_LENGTH: '7', 'wsgi.input': inputOf('payload') }));
      assert.equal(got, 'payload');
    });

    it('passes wsgi.errors writes through', async () => {
      const lines: string[] = [];
      const errors = { write: (t: string) => void lines.push(t), writelines: (ls: Iterable<string>) => void lines.push(...ls), flush: noop };
      const app = withEnviron(async (env) => {
        env['wsgi.errors'].write('one\n');
        env['wsgi.errors'].writelines(['two\n', 'three\n']);
        env['wsgi.errors'].flush();
      });
      await serve(validator(app), setupTestingDefaults({ 'wsgi.errors': errors }));
      assert.deepEqual(lines, ['one\n', 'two\n', 'three\n']);
    });

    it('accepts an environ whose wsgi.errors is a getter (built lazily by the server)', async () => {
      const env = setupTestingDefaults() as Record<string, unknown>;
      const errors = env['wsgi.errors'];
      Object.defineProperty(env, 'wsgi.errors', { enumerable: true, configurable: true, get: () => errors });
      let wrote = false;
      const app = withEnviron(async (e) => {
        e['wsgi.errors'].write('x');
        wrote = true;
      });
      await serve(validator(app), env as Environ);
      assert.equal(wrote, true);
    });

    it('can be nested (validator around middleware around validator)', async () => {
      const inner = validator(hello);
      const middle: Application = (env, sr) => inner(env, sr);
      assert.equal((await serve(validator(middle))).text, 'hello');
    });

    it('accepts PATH_INFO "*" and an environ without CONTENT_TYPE', async () => {
      const res = await serve(validator(hello), setupTestingDefaults({ REQUEST_METHOD: 'OPTIONS', PATH_INFO: '*' }));
      assert.equal(res.status, '200 OK');
    });
  });

  describe('catches the server', () => {
    const call = (environ: unknown, sr: unknown = recorder().startResponse) =>
      (validator(hello) as unknown as (...a: unknown[]) => unknown)(environ, sr);
    const cases: Array<[string, (env: Record<string, unknown>) => void, RegExp]> = [
      ['a missing key', (e) => delete e.RAW_URI, /^validator \(server\): environ\.RAW_URI is missing$/],
      ['a missing wsgi key', (e) => delete e['gwserver.signal'], /environ\['gwserver\.signal'\] is missing/],
      ['a CGI key that is not a string', (e) => (e.SERVER_PORT = 80), /environ\.SERVER_PORT must be a string, got 80$/],
      ['an undefined optional key', (e) => (e.CONTENT_TYPE = undefined), /environ\.CONTENT_TYPE must be a string, got undefined \(leave the key out instead\)/],
      ['an HTTP_ key that is not a string', (e) => (e.HTTP_X_A = ['a']), /environ\.HTTP_X_A must be a string, got an array/],
      ['an empty REQUEST_METHOD', (e) => (e.REQUEST_METHOD = ''), /environ\.REQUEST_METHOD must be a method name \(an HTTP token\), got ""/],
      ['a REQUEST_METHOD that is not a token', (e) => (e.REQUEST_METHOD = 'G ET'), /^validator \(server\): environ\.REQUEST_METHOD must be a method name \(an HTTP token\), got "G ET"$/],
      ['a relative SCRIPT_NAME', (e) => (e.SCRIPT_NAME = 'app'), /environ\.SCRIPT_NAME must be empty or start with "\/", got "app"/],
      ['a relative PATH_INFO', (e) => (e.PATH_INFO = 'x'), /environ\.PATH_INFO must be empty, "\*" or start with "\/", got "x"/],
      ['an empty SCRIPT_NAME and PATH_INFO', (e) => (e.PATH_INFO = ''), /^validator \(server\): environ\.SCRIPT_NAME and environ\.PATH_INFO are both empty; at the root PATH_INFO is "\/"$/],
      ['a QUERY_STRING with its "?"', (e) => (e.QUERY_STRING = '?a=1'), /^validator \(server\): environ\.QUERY_STRING must not include the "\?" that ends the path, got "\?a=1"$/],
      ['a CONTENT_LENGTH that is not digits', (e) => (e.CONTENT_LENGTH = '-1'), /environ\.CONTENT_LENGTH must be a string of digits when present, got "-1"/],
      ['an HTTP_CONTENT_TYPE key', (e) => (e.HTTP_CONTENT_TYPE = 'text/plain'), /environ\.HTTP_CONTENT_TYPE must not exist; that header goes in environ\.CONTENT_TYPE/],
      ['an HTTP_CONTENT_LENGTH key', (e) => (e.HTTP_CONTENT_LENGTH = '0'), /^validator \(server\): environ\.HTTP_CONTENT_LENGTH must not exist; that header goes in environ\.CONTENT_LENGTH$/],
      ['a SERVER_PORT that is not digits', (e) => (e.SERVER_PORT = 'http'), /environ\.SERVER_PORT must be a string of digits, got "http"/],
      ['an unknown SERVER_PROTOCOL', (e) => (e.SERVER_PROTOCOL = 'HTTP/2'), /^validator \(server\): environ\.SERVER_PROTOCOL must be "HTTP\/1\.0", "HTTP\/1\.1" or "HTTP\/2\.0", got "HTTP\/2"$/],
      ['a REMOTE_PORT that is not digits', (e) => (e.REMOTE_PORT = 'x'), /^validator \(server\): environ\.REMOTE_PORT must be a string of digits \(or empty\), got "x"$/],
      ['an empty RAW_URI', (e) => (e.RAW_URI = ''), /^validator \(server\): environ\.RAW_URI must be the request target as received, got ""$/],
      ['a wrong wsgi.version', (e) => (e['wsgi.version'] = [1, 1]), /environ\['wsgi\.version'\] must be \[1, 0\], got an array of length 2/],
      ['a wrong wsgi.url_scheme', (e) => (e['wsgi.url_scheme'] = 'ftp'), /environ\['wsgi\.url_scheme'\] must be "http" or "https", got "ftp"/],
      ['a wsgi.input without readline', (e) => (e['wsgi.input'] = { read: noop, readlines: noop, [Symbol.asyncIterator]: noop }), /environ\['wsgi\.input'\] must have readline\(\)/],
      ['a wsgi.input that is not async iterable', (e) => (e['wsgi.input'] = { read: noop, readline: noop, readlines: noop }), /environ\['wsgi\.input'\] must have \[Symbol\.asyncIterator\]\(\)/],
      ['a wsgi.errors without flush', (e) => (e['wsgi.errors'] = { write: noop, writelines: noop }), /environ\['wsgi\.errors'\] must have flush\(\)/],
      ['wsgi.multithread true', (e) => (e['wsgi.multithread'] = true), /environ\['wsgi\.multithread'\] must be false, got true/],
      ['a wsgi.multiprocess that is not a boolean', (e) => (e['wsgi.multiprocess'] = 1), /environ\['wsgi\.multiprocess'\] must be a boolean, got 1/],
      ['wsgi.run_once true', (e) => (e['wsgi.run_once'] = true), /^validator \(server\): environ\['wsgi\.run_once'\] must be false, got true$/],
      ['wsgi.input_terminated false', (e) => (e['wsgi.input_terminated'] = false), /environ\['wsgi\.input_terminated'\] must be true, got false/],
      ['a wsgi.file_wrapper that is not a function', (e) => (e['wsgi.file_wrapper'] = null), /environ\['wsgi\.file_wrapper'\] must be a function, got null/],
      ['a wsgi.early_hints that is not a function', (e) => (e['wsgi.early_hints'] = 'soon'), /^validator \(server\): environ\['wsgi\.early_hints'\] must be a function when present, got "soon"$/],
      ['a gwserver.signal that is not an AbortSignal', (e) => (e['gwserver.signal'] = new AbortController()), /environ\['gwserver\.signal'\] must be an AbortSignal, got an AbortController/],
      ['an empty gwserver.request_id', (e) => (e['gwserver.request_id'] = ''), /environ\['gwserver\.request_id'\] must be a non-empty string, got ""/],
      ['a negative gwserver.worker_id', (e) => (e['gwserver.worker_id'] = -1), /environ\['gwserver\.worker_id'\] must be a non-negative integer, got -1/],
      ['a gwserver.log without fatal()', (e) => (e['gwserver.log'] = { trace: noop, debug: noop, info: noop, warn: noop, error: noop }), /environ\['gwserver\.log'\] must be a logger .* without fatal\(\)/],
    ];
    for (const [name, mutate, pattern] of cases) {
      it(`environ: ${name}`, () => {
        const env = setupTestingDefaults() as Record<string, unknown>;
        mutate(env);
        assert.throws(() => call(env), isLint('server', pattern));
      });
    }

    it('environ: not a plain object', () => {
      class Env {}
      assert.throws(() => call(new Env()), isLint('server', /^validator \(server\): environ must be a plain object, got an Env$/));
      assert.throws(() => call([]), isLint('server', /environ must be a plain object, got an array/));
      assert.throws(() => call(null), isLint('server', /environ must be a plain object, got null/));
    });

    it('environ: the same object for two requests', async () => {
      const app = validator(hello);
      const env = setupTestingDefaults();
      await serve(app, env);
      assert.throws(() => app(env, recorder().startResponse), isLint('server', /the same environ object was passed for a second request/));
    });

    it('calling the app with other than two arguments', () => {
      const app = validator(hello) as unknown as (...a: unknown[]) => unknown;
      assert.throws(() => app(setupTestingDefaults()), isLint('server', /^validator \(server\): the application must be called with two arguments, \(environ, startResponse\); got 1$/));
    });

    it('a startResponse that is not a function', () => {
      assert.throws(() => call(setupTestingDefaults(), 'nope'), isLint('server', /startResponse must be a function, got "nope"/));
    });

    it('a startResponse that does not return a write function', () => {
      const sr = (() => undefined) as unknown as StartResponse;
      assert.throws(() => validator(hello)(setupTestingDefaults(), sr), isLint('server', /startResponse must return a write function, got undefined/));
    });

    it('a startResponse that accepts excInfo after output went out', async () => {
      const app = function* (_e: Environ, sr: StartResponse) {
        sr('200 OK', TEXT);
        yield 'partial';
        sr('500 Internal Server Error', TEXT, new Error('late'));
      } as unknown as Application;
      const sloppy: StartResponse = () => async () => {};
      const body = validator(app)(setupTestingDefaults(), sloppy) as Iterable<Chunk>;
      const it = body[Symbol.iterator]();
      it.next();
      assert.throws(() => it.next(), isLint('server', /returned normally after 7 body bytes had gone out; once the headers are sent it must re-throw excInfo/));
    });

    /** The validated body of an app whose async generator yields 'a' then 'b'. */
    const abBody = async () => await validator((_e, sr) => {
      sr('200 OK', TEXT);
      return Object.assign((async function* () { yield 'a'; yield 'b'; })(), { close: noop });
    })(setupTestingDefaults(), recorder().startResponse) as AsyncIterable<Chunk> & { close(): void };

    it('pulling a chunk after close()', async () => {
      const body = await abBody();
      const it = body[Symbol.asyncIterator]();
      await it.next();
      await it.return!();
      body.close();
      await rejectsServer(it.next(), /the server pulled a chunk from the body after closing it/);
    });

    it('starting to iterate after close()', async () => {
      const body = await validator((_e, sr) => {
        sr('200 OK', TEXT);
        return Object.assign((function* () { yield 'a'; })(), { close: noop });
      })(setupTestingDefaults(), recorder().startResponse) as Iterable<Chunk> & { close(): void };
      body.close();
      assert.throws(() => body[Symbol.iterator](), isLint('server', /^validator \(server\): the server started iterating the body after closing it$/));
    });

    it('pulling a chunk from a sync body after close()', async () => {
      const body = await validator((_e, sr) => {
        sr('200 OK', TEXT);
        return Object.assign((function* () { yield 'a'; yield 'b'; })(), { close: noop });
      })(setupTestingDefaults(), recorder().startResponse) as Iterable<Chunk> & { close(): void };
      const it = body[Symbol.iterator]();
      assert.deepEqual(it.next(), { done: false, value: 'a' });
      it.return!();
      body.close();
      assert.throws(() => it.next(), isLint('server', /^validator \(server\): the server pulled a chunk from the body after closing it$/));
    });

    it('pulling a chunk from an array after close()', async () => {
      const body = await validator((_e, sr) => {
        sr('200 OK', TEXT);
        return Object.assign(['a', 'b'], { close: noop });
      })(setupTestingDefaults(), recorder().startResponse) as string[] & { close(): void };
      assert.ok(Array.isArray(body));
      const it = body[Symbol.iterator]();
      it.next();
      body.close();
      assert.throws(() => it.next(), isLint('server', /pulled a chunk from the body after closing it/));
    });

    it('pulling the next chunk before the previous pull settled', async () => {
      let release = noop;
      const gate = new Promise<void>((r) => (release = r));
      const body = await validator(async function* (_e: Environ, sr: StartResponse) {
        sr('200 OK', TEXT);
        await gate;
        yield 'a';
      } as unknown as Application)(setupTestingDefaults(), recorder().startResponse) as AsyncIterable<Chunk>;
      const it = body[Symbol.asyncIterator]();
      const first = it.next();
      await rejectsServer(it.next(), /^validator \(server\): the server pulled a chunk before the previous pull had settled; pull one chunk at a time, after the last one was written$/);
      release();
      assert.deepEqual(await first, { done: false, value: 'a' });
      await it.return!();
    });

    it('asking for the body\'s iterator twice', async () => {
      const body = validator(function* (_e: Environ, sr: StartResponse) {
        sr('200 OK', TEXT);
        yield 'a';
      } as unknown as Application)(setupTestingDefaults(), recorder().startResponse) as Iterable<Chunk>;
      const it = body[Symbol.iterator]();
      assert.throws(() => body[Symbol.iterator](), isLint('server', /^validator \(server\): the server asked for the body's iterator a second time; a body is iterated once$/));
      it.return!();
    });

    it('calling close() twice', async () => {
      const body = await validator((_e, sr) => {
        sr('200 OK', TEXT);
        return Object.assign((async function* () { yield 'a'; })(), { close: noop });
      })(setupTestingDefaults(), recorder().startResponse) as AsyncIterable<Chunk> & { close(): void };
      for await (const _ of body);
      body.close();
      assert.throws(() => body.close(), isLint('server', /close\(\) was called a second time; the server must call it exactly once/));
    });

    it('calling close() without stopping the iteration first', async () => {
      const body = await abBody();
      const it = body[Symbol.asyncIterator]();
      await it.next();
      assert.throws(() => body.close(), isLint('server', /close\(\) was called while the body was still being iterated; stop the iteration with the iterator's return\(\) first/));
      await it.return!();
      body.close();
    });

    it('letting a body with close() be garbage-collected unclosed (a process warning)', async () => {
      v8.setFlagsFromString('--expose_gc');
      const gc = vm.runInNewContext('gc') as () => void;
      let warning: Error | undefined;
      const onWarning = (w: Error): void => {
        if (w.name === 'LintWarning') warning = w;
      };
      process.on('warning', onWarning);
      try {
        (() => {
          validator((_e, sr) => {
            sr('200 OK', TEXT);
            return { *[Symbol.iterator]() { yield 'a'; }, close: noop };
          })(setupTestingDefaults({ RAW_URI: '/leak' }), recorder().startResponse);
        })();
        // Cleanup callbacks run some time after a collection: collect until it arrives.
        while (warning === undefined) {
          gc();
          await new Promise((resolve) => setImmediate(resolve));
        }
        assert.match(warning.message, /^validator \(server\): the body of GET \/leak \(request test\) was garbage-collected without close\(\) being called$/);
      } finally {
        process.off('warning', onWarning);
      }
    });

    describe('wsgi.input', () => {
      const read = (input: InputStream, fn: (input: InputStream) => Promise<unknown>, env: Partial<Environ> = {}) =>
        serve(validator(withEnviron((e) => fn(e['wsgi.input']))), setupTestingDefaults({ ...env, 'wsgi.input': input }));

      it('a read that does not resolve to a Buffer', async () => {
        const input = fakeInput({ read: async () => 'text' as unknown as Buffer });
        await rejectsServer(read(input, (i) => i.read(4)), /wsgi\.input\.read\(4\) must resolve to a Buffer, got "text"/);
      });

      it('read(n) returning more than n bytes', async () => {
        const input = fakeInput({ read: async () => Buffer.from('12345') });
        await rejectsServer(read(input, (i) => i.read(4)), /wsgi\.input\.read\(4\) returned 5 bytes/);
      });

      it('data after a short read', async () => {
        const input = fakeInput({ read: async (n) => Buffer.from('ab'.slice(0, n)) });
        await rejectsServer(
          read(input, async (i) => { await i.read(4); await i.read(4); }),
          /wsgi\.input\.read\(4\) returned 2 bytes after read\(4\) had returned only 2 bytes; a read may come up short only at the end of the body/,
        );
      });

      it('more bytes than CONTENT_LENGTH', async () => {
        const input = fakeInput({ read: async () => Buffer.from('abcdef') });
        await rejectsServer(read(input, (i) => i.read(), { CONTENT_LENGTH: '3' }), /wsgi\.input yielded 6 bytes, more than the 3 of environ\.CONTENT_LENGTH/);
      });

      it('readline() returning more than one line', async () => {
        const input = fakeInput({ readline: async () => Buffer.from('a\nb\n') });
        await rejectsServer(read(input, (i) => i.readline()), /wsgi\.input\.readline\(\) returned more than one line/);
      });

      it('readline(n) returning more than n bytes', async () => {
        const input = fakeInput({ readline: async () => Buffer.from('abcde') });
        await rejectsServer(read(input, (i) => i.readline(2)), /^validator \(server\): wsgi\.input\.readline\(2\) returned 5 bytes$/);
      });

      it('readlines() not resolving to an array', async () => {
        const input = fakeInput({ readlines: async () => Buffer.from('a\n') as unknown as Buffer[] });
        await rejectsServer(read(input, (i) => i.readlines()), /^validator \(server\): wsgi\.input\.readlines\(\) must resolve to an array of Buffers, got a Buffer$/);
      });

      it('readlines() returning something other than lines', async () => {
        const input = fakeInput({ readlines: async () => [Buffer.from('a'), Buffer.from('b\n')] });
        await rejectsServer(read(input, (i) => i.readlines()), /wsgi\.input\.readlines\(\) returned something other than a line as line #0/);
      });

      it('iteration yielding something other than Buffers', async () => {
        const input = fakeInput({ async *[Symbol.asyncIterator]() { yield 'text' as unknown as Buffer; } });
        await rejectsServer(read(input, async (i) => { for await (const _ of i); }), /wsgi\.input\.\[Symbol\.asyncIterator\]\(\)\.next\(\) must resolve to a Buffer, got "text"/);
      });
    });
  });

  describe('catches the application', () => {
    const run = (app: Application, env: Partial<Environ> = {}) => serve(validator(app), setupTestingDefaults(env));

    it('validator() given something other than a function', () => {
      assert.throws(() => validator({} as Application), isLint('application', /validator\(\) takes an application function, got a plain object/));
    });

    it('a malformed status', async () => {
      await rejectsApp(run((_e, sr) => { sr('OK', TEXT); return []; }), /^validator \(application\): startResponse: status must be "NNN Reason"/);
    });

    it('a status that is not a string', async () => {
      await rejectsApp(run((_e, sr) => { sr(200 as unknown as string, TEXT); return []; }), /startResponse: status must be a string like "200 OK", got number 200/);
    });

    it('an informational (1xx) status', async () => {
      await rejectsApp(run((_e, sr) => { sr('103 Early Hints', TEXT); return []; }), /^validator \(application\): startResponse: informational status 103 cannot be sent by an application$/);
    });

    it('a header list that is not an array of pairs', async () => {
      await rejectsApp(run((_e, sr) => { sr('200 OK', { a: 'b' } as unknown as HeaderPair[]); return []; }), /startResponse: headers must be an array of \[name, value\] pairs/);
    });

    it('a header that is not a [name, value] pair of strings', async () => {
      await rejectsApp(run((_e, sr) => { sr('200 OK', [['X-A', 1]] as unknown as HeaderPair[]); return []; }), /startResponse: header #0 must be a \[name, value\] pair of strings, got an array$/);
      await rejectsApp(run((_e, sr) => { sr('200 OK', [...TEXT, ['X-A']] as unknown as HeaderPair[]); return []; }), /startResponse: header #1 must be a \[name, value\] pair of strings, got an array$/);
    });

    it('a header name that is not a token', async () => {
      await rejectsApp(run((_e, sr) => { sr('200 OK', [['Bad Name', 'x']]); return []; }), /startResponse: header name "Bad Name" is not an HTTP token/);
    });

    it('a header value with CR/LF', async () => {
      await rejectsApp(run((_e, sr) => { sr('200 OK', [['X-A', 'a\r\nSet-Cookie: x']]); return []; }), /value of header "X-A" must be latin-1 text without CR, LF or NUL/);
    });

    it('a hop-by-hop header (Connection: close aside)', async () => {
      await rejectsApp(run((_e, sr) => { sr('200 OK', [['Keep-Alive', 'timeout=5']]); return []; }), /Keep-Alive is a hop-by-hop header/);
      await rejectsApp(run((_e, sr) => { sr('200 OK', [['Connection', 'keep-alive']]); return []; }), /Connection is a hop-by-hop header/);
      // As gunicorn: the app may ask the server to close the connection after its response.
      await run((_e, sr) => { sr('200 OK', [['Connection', 'close']]); return []; });
    });

    it('a malformed Content-Length', async () => {
      await rejectsApp(run((_e, sr) => { sr('200 OK', [['Content-Length', 'ten']]); return []; }), /Content-Length must be a non-negative integer, got "ten"/);
    });

    it('two different Content-Length headers', async () => {
      await rejectsApp(run((_e, sr) => { sr('200 OK', [['Content-Length', '2'], ['Content-Length', '3']]); return ['ab']; }), /^validator \(application\): startResponse: two different Content-Length headers$/);
    });

    it('startResponse called twice without excInfo', async () => {
      await rejectsApp(run((_e, sr) => { sr('200 OK', TEXT); sr('404 Not Found', TEXT); return []; }), /startResponse was called a second time without excInfo/);
    });

    it('a non-empty chunk before startResponse', async () => {
      const app = function* (_e: Environ, sr: StartResponse) {
        yield '';
        yield 'early';
        sr('200 OK', TEXT);
      } as unknown as Application;
      await rejectsApp(run(app), /chunk #1 of the body is not empty, but startResponse has not been called yet/);
    });

    it('a body that ends without startResponse', async () => {
      const app = async function* () {} as unknown as Application;
      await rejectsApp(run(app), /the body ended, but startResponse was never called/);
    });

    it('an array returned without startResponse', async () => {
      await rejectsApp(run(() => []), /the application returned an array body without calling startResponse first/);
    });

    it('a string returned without startResponse', async () => {
      await rejectsApp(run(() => 'hi'), /the application returned its body \("hi"\) without calling startResponse first/);
    });

    it('no body at all', async () => {
      await rejectsApp(run(((_e: Environ, sr: StartResponse) => { sr('200 OK', TEXT); }) as unknown as Application), /the application must return a body .*, got undefined; return \[\] for an empty body/);
      await rejectsApp(run(async () => null as unknown as Body), /got null; return \[\]/);
    });

    it('a plain object as the body', async () => {
      await rejectsApp(run((_e, sr) => { sr('200 OK', TEXT); return { text: 'hi' } as unknown as Body; }), /^validator \(application\): the body must be an iterable or async iterable of chunks, a Uint8Array or a string, got a plain object, which is not iterable$/);
    });

    it('a typed array other than Uint8Array as the body', async () => {
      await rejectsApp(run((_e, sr) => { sr('200 OK', TEXT); return new Uint16Array(2) as unknown as Body; }), /the body must be a Uint8Array .*, got a Uint16Array/);
    });

    it('a chunk that is neither a Uint8Array nor a string', async () => {
      const app = function* (_e: Environ, sr: StartResponse) {
        sr('200 OK', TEXT);
        yield 'ok';
        yield 42;
      } as unknown as Application;
      await rejectsApp(run(app), /chunk #1 of the body must be a Uint8Array or a string, got 42/);
    });

    it('an array element that is neither a Uint8Array nor a string', async () => {
      await rejectsApp(run((_e, sr) => { sr('200 OK', TEXT); return ['a', { b: 1 }] as unknown as Body; }), /body\[1\] must be a Uint8Array or a string, got a plain object/);
    });

    it('a body whose iterator method does not return an iterator', async () => {
      await rejectsApp(run((_e, sr) => { sr('200 OK', TEXT); return { [Symbol.iterator]: () => 5 } as unknown as Body; }), /the body's iterator method must return an iterator/);
    });

    it('stops the app\'s body when it rejects one of its chunks', async () => {
      let cleaned = false;
      const app = function* (_e: Environ, sr: StartResponse) {
        sr('200 OK', TEXT);
        try {
          yield 1;
        } finally {
          cleaned = true;
        }
      } as unknown as Application;
      await rejectsApp(run(app), /chunk #0 of the body must be/);
      assert.equal(cleaned, true);
    });

    it('write() given something other than a chunk', async () => {
      await rejectsApp(run(async (_e, sr) => { await sr('200 OK', TEXT)(7 as unknown as Chunk); return []; }), /the chunk passed to write\(\) must be a Uint8Array or a string, got 7/);
    });

    it('write() after the body ended', async () => {
      let write: ((c: Chunk) => Promise<void>) | undefined;
      const app: Application = (_e, sr) => { write = sr('200 OK', TEXT); return []; };
      await run(app);
      await rejectsApp(write!('late'), /write\(\) was called after the body ended/);
    });

    it('write() after the body was closed', async () => {
      let write: ((c: Chunk) => Promise<void>) | undefined;
      const app = async function* (_e: Environ, sr: StartResponse) {
        write = sr('200 OK', TEXT);
        yield 'a';
      } as unknown as Application;
      const gen = app;
      const closable: Application = (e, sr) => Object.assign(gen(e, sr) as object, { close: noop }) as Body;
      await run(closable);
      await rejectsApp(write!('late'), /write\(\) was called after the body was closed/);
    });

    it('startResponse after the body ended', async () => {
      let sr: StartResponse | undefined;
      await run((_e, startResponse) => { sr = startResponse; startResponse('200 OK', TEXT); return []; });
      assert.throws(() => sr!('500 Oops', TEXT, new Error('x')), isLint('application', /startResponse was called after the body ended/));
    });

    it('startResponse after the body was closed', async () => {
      let sr: StartResponse | undefined;
      const app: Application = (_e, startResponse) => {
        sr = startResponse;
        startResponse('200 OK', TEXT);
        return Object.assign((function* () { yield 'a'; yield 'b'; })(), { close: noop });
      };
      const body = validator(app)(setupTestingDefaults(), recorder().startResponse) as Iterable<Chunk> & { close(): void };
      const it = body[Symbol.iterator]();
      it.next();
      it.return!();
      body.close();
      assert.throws(() => sr!('500 Oops', TEXT, new Error('x')), isLint('application', /^validator \(application\): startResponse was called after the body was closed$/));
    });

    it('output longer than Content-Length', async () => {
      const app = function* (_e: Environ, sr: StartResponse) {
        sr('200 OK', [['Content-Length', '3']]);
        yield 'ab';
        yield 'cd';
      } as unknown as Application;
      await rejectsApp(run(app), /the response is longer than its Content-Length: 4 bytes so far, Content-Length is 3/);
    });

    it('output shorter than Content-Length (written and yielded)', async () => {
      const app = async (_e: Environ, sr: StartResponse) => {
        await sr('200 OK', [['Content-Length', '10']])('abc');
        return ['de'];
      };
      await rejectsApp(run(app), /the response is shorter than its Content-Length: 5 of 10 bytes/);
    });

    it('does not hold HEAD, 204 or 304 responses to their Content-Length', async () => {
      const app = (status: string): Application => (_e, sr) => { sr(status, [['Content-Length', '10']]); return []; };
      await run(app('200 OK'), { REQUEST_METHOD: 'HEAD' });
      await run(app('304 Not Modified'));
      await run(app('204 No Content'));
    });

    describe('wsgi.input', () => {
      const read = (fn: (input: InputStream) => Promise<unknown>) =>
        run(withEnviron((e) => fn(e['wsgi.input'])), { CONTENT_LENGTH: '6', 'wsgi.input': inputOf('abc\ndef') });

      it('read() with a negative size', async () => {
        await rejectsApp(read((i) => i.read(-1)), /wsgi\.input\.read\(\): the size must be a non-negative integer or omitted, got -1/);
      });

      it('read() with a fractional size', async () => {
        await rejectsApp(read((i) => i.read(1.5)), /wsgi\.input\.read\(\): the size must be a non-negative integer or omitted, got 1\.5/);
      });

      it('readline() with a size that is not a number', async () => {
        await rejectsApp(read((i) => i.readline('2' as unknown as number)), /wsgi\.input\.readline\(\): the size must be a non-negative integer or omitted, got "2"/);
      });

      it('readlines() with a null hint', async () => {
        await rejectsApp(read((i) => i.readlines(null as unknown as number)), /wsgi\.input\.readlines\(\): the size must be .*, got null/);
      });

      it('two reads at once', async () => {
        await rejectsApp(
          read((i) => Promise.all([i.read(2), i.read(2)])),
          /wsgi\.input\.read\(2\) was started while another read was pending; await each read before starting the next/,
        );
      });
    });

    describe('wsgi.errors', () => {
      it('write() given something other than a string', async () => {
        await rejectsApp(run(withEnviron(async (e) => e['wsgi.errors'].write(Buffer.from('x') as unknown as string))), /wsgi\.errors\.write\(\) takes a string, got a Buffer/);
      });

      it('writelines() given something other than strings', async () => {
        await rejectsApp(run(withEnviron(async (e) => e['wsgi.errors'].writelines(['a', 1] as unknown as string[]))), /wsgi\.errors\.writelines\(\) takes strings, got 1 among them/);
      });

      it('writelines() given something other than an iterable', async () => {
        await rejectsApp(run(withEnviron(async (e) => e['wsgi.errors'].writelines(5 as unknown as string[]))), /wsgi\.errors\.writelines\(\) takes an iterable of strings, got 5/);
      });
    });
  });

  it('LintError is a GatewayError with status 500 that says which side broke the rule', () => {
    const err = new LintError('server', 'x');
    assert.equal(err.status, 500);
    assert.equal(err.name, 'LintError');
    assert.equal(err.message, 'validator (server): x');
  });
});
