import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { toFetch } from '../../../src/interop/fetch.js';
import type { Application, Environ } from '../../../src/gateway/types.js';
import { until } from '../../helpers/until.js';
import { deferred } from './helpers.js';
import { mustCall } from '../../helpers/must-call.js';
import { tempDir } from '../../helpers/temp-dir.js';

const quiet = { onError: () => {} };

/** A body whose pulls and close() calls are counted. */
function counted(chunks: string[]) {
  const stats = { pulls: 0, closes: 0, returned: false };
  const gen = (function* () {
    try {
      for (const c of chunks) {
        stats.pulls++;
        yield c;
      }
    } finally {
      stats.returned = true;
    }
  })();
  const body = Object.assign(gen, { close: () => void stats.closes++ });
  return { body, stats };
}

describe('toFetch', () => {
  describe('environ', () => {
    it('has every key of the contract, built from the Request', async () => {
      let env: Environ | undefined;
      const handler = toFetch((environ, startResponse) => {
        env = environ;
        startResponse('200 OK', []);
        return [];
      });
      const headers = new Headers([
        ['x-foo', 'a'],
        ['x-foo', 'b'],
        ['x_bad', 'dropped'],
        ['cookie', 'a=1'],
        ['content-type', 'text/plain'],
      ]);
      await handler(new Request('https://example.com:8443/caf%C3%A9/a%20b?x=1&y=%20', { method: 'POST', headers, body: 'hello' , duplex: 'half' } as RequestInit));
      assert.ok(env);
      assert.equal(env.REQUEST_METHOD, 'POST');
      assert.equal(env.SCRIPT_NAME, '');
      assert.equal(env.PATH_INFO, '/café/a b');
      assert.equal(env.QUERY_STRING, 'x=1&y=%20');
      assert.equal(env.RAW_URI, '/caf%C3%A9/a%20b?x=1&y=%20');
      assert.equal(env.SERVER_NAME, 'example.com');
      assert.equal(env.SERVER_PORT, '8443');
      assert.equal(env.SERVER_PROTOCOL, 'HTTP/1.1');
      assert.equal(env.REMOTE_ADDR, '127.0.0.1');
      assert.equal(env.REMOTE_PORT, '0');
      assert.equal(env.HTTP_HOST, 'example.com:8443');
      assert.equal(env.HTTP_X_FOO, 'a, b');
      assert.equal(env.HTTP_COOKIE, 'a=1');
      assert.equal(env.CONTENT_TYPE, 'text/plain');
      assert.equal(env.HTTP_CONTENT_TYPE, undefined);
      assert.equal(Object.keys(env).some((k) => k.includes('BAD')), false);
      // A stream body of unknown length reads as a chunked one.
      assert.equal(env.HTTP_TRANSFER_ENCODING, 'chunked');
      assert.deepEqual(env['wsgi.version'], [1, 0]);
      assert.equal(env['wsgi.url_scheme'], 'https');
      assert.equal(env['wsgi.multithread'], false);
      assert.equal(env['wsgi.multiprocess'], false);
      assert.equal(env['wsgi.run_once'], false);
      assert.equal(env['wsgi.input_terminated'], true);
      assert.equal(typeof env['wsgi.file_wrapper'], 'function');
      assert.equal(typeof env['wsgi.errors'].write, 'function');
      assert.ok(env['gwserver.signal'] instanceof AbortSignal);
      assert.match(env['gwserver.request_id'], /^[0-9a-f-]{36}$/);
      assert.equal(env['gwserver.worker_id'], 0);
      assert.equal(typeof env['gwserver.log'].info, 'function');
    });

    it('takes Content-Length, scriptName and remoteAddr; a Request without Host gets the URL\'s', async () => {
      let env: Environ | undefined;
      const handler = toFetch(
        async (environ, startResponse) => {
          env = environ;
          const body = await environ['wsgi.input'].read();
          startResponse('200 OK', []);
          return [body];
        },
        { scriptName: '/app/', remoteAddr: (r) => r.headers.get('x-peer') ?? undefined },
      );
      const res = await handler(new Request('http://localhost/app/users/1', {
        method: 'PUT',
        headers: { 'content-length': '5', 'x-peer': '10.1.2.3' },
        body: 'abcde',
      }));
      assert.equal(await res.text(), 'abcde');
      assert.equal(env!.SCRIPT_NAME, '/app');
      assert.equal(env!.PATH_INFO, '/users/1');
      assert.equal(env!.CONTENT_LENGTH, '5');
      assert.equal(env!.HTTP_TRANSFER_ENCODING, undefined);
      assert.equal(env!.REMOTE_ADDR, '10.1.2.3');
      assert.equal(env!.HTTP_HOST, 'localhost');
      assert.equal(env!.SERVER_PORT, '80');
    });

    it('answers 400 without calling the app when the path is not UTF-8', async () => {
      const res = await toFetch(mustCall(() => [], 0))(new Request('http://localhost/%FF'));
      assert.equal(res.status, 400);
    });

    it('sends wsgi.errors to options.errors', async () => {
      const out: string[] = [];
      const res = await toFetch((environ, startResponse) => {
        environ['wsgi.errors'].write('warn: x\n');
        environ['wsgi.errors'].writelines(['a', 'b']);
        startResponse('204 No Content', []);
        return [];
      }, { errors: { write: (t) => void out.push(t) } })(new Request('http://localhost/'));
      assert.equal(res.status, 204);
      assert.deepEqual(out, ['warn: x\n', 'a', 'b']);
    });
  });

  describe('response', () => {
    it('streams a generator body lazily: one pull of the body per read', async () => {
      const { body, stats } = counted(['c0', 'c1', 'c2', 'c3']);
      const res = await toFetch((_env, startResponse) => {
        startResponse('200 OK', [['Content-Type', 'text/plain']]);
        return body;
      })(new Request('http://localhost/'));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/plain');
      // Headers go out with the first chunk, as the server sends them: one pull, no more.
      assert.equal(stats.pulls, 1);
      const reader = res.body!.getReader();
      for (let i = 0; i < 4; i++) {
        const r = await reader.read();
        assert.equal(Buffer.from(r.value!).toString(), `c${i}`);
        assert.equal(stats.pulls, i + 1, 'the body must not be pulled ahead of the reader');
      }
      assert.equal(stats.closes, 0);
      assert.equal((await reader.read()).done, true);
      assert.equal(stats.closes, 1);
    });

    it('works with a generator app (startResponse on the first step) and async iterables', async () => {
      let pulls = 0;
      const res = await toFetch(async function* (_env: Environ, startResponse: any) {
        startResponse('201 Created', [['X-A', '1']]);
        pulls++;
        yield 'a';
        pulls++;
        yield new Uint8Array([98]);
      } as unknown as Application)(new Request('http://localhost/'));
      assert.equal(res.status, 201);
      assert.equal(res.statusText, 'Created');
      assert.equal(pulls, 1);
      assert.equal(await res.text(), 'ab');
    });

    it('gives an array body a Content-Length; an empty body gets 0', async () => {
      const a = await toFetch((_e, sr) => {
        sr('200 OK', []);
        return ['héllo', Buffer.from(' world')];
      })(new Request('http://localhost/'));
      assert.equal(a.headers.get('content-length'), '12');
      assert.equal(await a.text(), 'héllo world');
      // biome-ignore lint/correctness/useYield: an app whose body yields nothing
      const b = await toFetch(function* (_e: Environ, sr: any) {
        sr('200 OK', []);
      } as unknown as Application)(new Request('http://localhost/'));
      assert.equal(b.headers.get('content-length'), '0');
      assert.equal(await b.text(), '');
    });

    it('calls close() exactly once when the body completes', async () => {
      const { body, stats } = counted(['a', 'b']);
      const res = await toFetch((_e, sr) => {
        sr('200 OK', []);
        return body;
      })(new Request('http://localhost/'));
      assert.equal(await res.text(), 'ab');
      assert.equal(stats.closes, 1);
      assert.equal(stats.returned, true);
    });

    it('on cancel: aborts gwserver.signal, calls return() and close() exactly once', async () => {
      const { body, stats } = counted(['a', 'b', 'c']);
      let env: Environ | undefined;
      const res = await toFetch((environ, sr) => {
        env = environ;
        sr('200 OK', []);
        return body;
      })(new Request('http://localhost/'));
      const reader = res.body!.getReader();
      await reader.read();
      await reader.cancel('client gone');
      assert.equal(stats.closes, 1);
      assert.equal(stats.returned, true);
      assert.equal(env!['gwserver.signal'].aborted, true);
      assert.equal(stats.pulls, 1);
      await reader.cancel();
      assert.equal(stats.closes, 1);
    });

    it('stops and closes the body when the Request\'s signal aborts', async () => {
      const closed = deferred();
      const ac = new AbortController();
      let env: Environ | undefined;
      const res = await toFetch((environ, sr) => {
        env = environ;
        sr('200 OK', []);
        return Object.assign((async function* () {
          yield 'first';
          await new Promise(() => {}); // waits for something that never comes
        })(), { close: () => closed.resolve() });
      })(new Request('http://localhost/', { signal: ac.signal }));
      const reader = res.body!.getReader();
      await reader.read();
      const pending = reader.read();
      ac.abort();
      await closed.promise;
      assert.equal(env!['gwserver.signal'].aborted, true);
      await assert.rejects(pending);
    });

    it('turns an app that throws into a 500 with a short plain body, and reports it', async () => {
      const errors: unknown[] = [];
      const res = await toFetch(() => {
        throw new Error('kaput');
      }, { onError: (e) => void errors.push(e) })(new Request('http://localhost/'));
      assert.equal(res.status, 500);
      assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
      assert.equal(await res.text(), 'Internal Server Error\n');
      assert.equal((errors[0] as Error).message, 'kaput');
    });

    it('turns an error before the first chunk into a 500, and closes the body once', async () => {
      let closes = 0;
      const errors: unknown[] = [];
      const res = await toFetch(async (_e, sr) => {
        sr('200 OK', []);
        // biome-ignore lint/correctness/useYield: a body that fails before its first chunk
        return Object.assign((async function* () {
          throw new Error('early');
        })(), { close: () => void closes++ });
      }, { onError: (e) => void errors.push(e) })(new Request('http://localhost/'));
      assert.equal(res.status, 500);
      assert.equal(closes, 1);
      assert.equal((errors[0] as Error).message, 'early');
    });

    it('refuses a body that yields before startResponse (500)', async () => {
      const errors: unknown[] = [];
      const res = await toFetch(function* () {
        yield 'too soon';
      } as unknown as Application, { onError: (e) => void errors.push(e) })(new Request('http://localhost/'));
      assert.equal(res.status, 500);
      assert.match(String((errors[0] as Error).message), /before startResponse/);
    });

    it('refuses a bad status or a hop-by-hop header (500)', async () => {
      for (const [status, headers] of [['200', []], ['200 OK', [['Connection', 'upgrade']]], ['200 OK', [['Keep-Alive', 'timeout=5']]]] as const) {
        const res = await toFetch((_e, sr) => {
          sr(status, headers as unknown as Array<[string, string]>);
          return [];
        }, quiet)(new Request('http://localhost/'));
        assert.equal(res.status, 500);
      }
    });

    it('takes Connection: close from the app and leaves it out of the Response (the connection is not the Response\'s)', async () => {
      const res = await toFetch((_e, sr) => {
        sr('200 OK', [['Connection', 'close'], ['X-A', '1']]);
        return ['ok'];
      })(new Request('http://localhost/'));
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('connection'), null);
      assert.equal(res.headers.get('x-a'), '1');
      assert.equal(await res.text(), 'ok');
    });

    it('lets startResponse be called again with excInfo until the headers are out', async () => {
      const res = await toFetch(function* (_e: Environ, sr: any) {
        sr('200 OK', [['X-First', '1']]);
        try {
          throw new Error('oops');
        } catch (err) {
          sr('503 Busy', [['Retry-After', '1']], err);
        }
        assert.throws(() => sr('200 OK', []), /second time/);
        yield 'later';
      } as unknown as Application)(new Request('http://localhost/'));
      assert.equal(res.status, 503);
      assert.equal(res.statusText, 'Busy');
      assert.equal(res.headers.get('retry-after'), '1');
      assert.equal(res.headers.get('x-first'), null);
      assert.equal(await res.text(), 'later');
    });

    it('errors the stream for an error after the headers, and closes the body once', async () => {
      let closes = 0;
      const errors: unknown[] = [];
      const res = await toFetch((_e, sr) => {
        sr('200 OK', []);
        return Object.assign((async function* () {
          yield 'partial';
          throw new Error('late');
        })(), { close: () => void closes++ });
      }, { onError: (e) => void errors.push(e) })(new Request('http://localhost/'));
      assert.equal(res.status, 200);
      const reader = res.body!.getReader();
      assert.equal(Buffer.from((await reader.read()).value!).toString(), 'partial');
      await assert.rejects(reader.read(), /late/);
      assert.equal(closes, 1);
      assert.equal(errors.length, 1);
    });

    it('cuts a body at its Content-Length, and errors one that is short', async () => {
      const errors: unknown[] = [];
      const long = await toFetch((_e, sr) => {
        sr('200 OK', [['Content-Length', '3']]);
        return (function* () {
          yield 'abcdef';
          yield 'more';
        })();
      }, { onError: (e) => void errors.push(e) })(new Request('http://localhost/'));
      assert.equal(await long.text(), 'abc');
      assert.match(String(errors[0]), /more bytes than its Content-Length/);
      const short = await toFetch((_e, sr) => {
        sr('200 OK', [['Content-Length', '10']]);
        return (function* () {
          yield 'abc';
        })();
      }, quiet)(new Request('http://localhost/'));
      await assert.rejects(short.text());
    });

    it('HEAD: pulls only until startResponse, sends no body, closes once', async () => {
      let pulls = 0;
      let closes = 0;
      const app = (_e: Environ, sr: any) => Object.assign((function* () {
        sr('200 OK', [['Content-Type', 'text/plain']]);
        pulls++;
        yield 'x';
        pulls++;
        yield 'y';
      })(), { close: () => void closes++ });
      const res = await toFetch(app)(new Request('http://localhost/', { method: 'HEAD' }));
      assert.equal(res.status, 200);
      assert.equal(res.body, null);
      assert.equal(pulls, 1);
      await until(() => closes === 1);
    });

    it('a 204 or 304 gets a null body', async () => {
      for (const status of ['204 No Content', '304 Not Modified']) {
        let closes = 0;
        const res = await toFetch((_e, sr) => {
          sr(status, []);
          return Object.assign([], { close: () => void closes++ });
        })(new Request('http://localhost/'));
        assert.equal(res.body, null);
        assert.equal(res.headers.get('content-length'), null);
        await until(() => closes === 1);
      }
    });

    it('streams wsgi.file_wrapper with the file\'s size as Content-Length', async () => {
      const dir = tempDir('gw-interop-');
      const file = path.join(dir, 'data.bin');
      const data = Buffer.alloc(200_000, 7);
      await writeFile(file, data);
      const res = await toFetch((env, sr) => {
        sr('200 OK', [['Content-Type', 'application/octet-stream']]);
        return env['wsgi.file_wrapper'](file, 8192);
      })(new Request('http://localhost/'));
      assert.equal(res.headers.get('content-length'), String(data.length));
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(data));
    });
  });

  describe('legacy write()', () => {
    it('answers on the first write, before the app returns; writes resolve as the reader takes them', async () => {
      const progress: string[] = [];
      const res = await toFetch(async (_e, sr) => {
        const write = sr('200 OK', [['Content-Type', 'text/plain']]);
        await write('a');
        progress.push('a drained');
        await write('b');
        progress.push('b drained');
        return ['c'];
      })(new Request('http://localhost/'));
      assert.deepEqual(progress, []);
      const reader = res.body!.getReader();
      assert.equal(Buffer.from((await reader.read()).value!).toString(), 'a');
      await until(() => progress.length === 1);
      assert.equal(Buffer.from((await reader.read()).value!).toString(), 'b');
      assert.equal(Buffer.from((await reader.read()).value!).toString(), 'c');
      assert.equal((await reader.read()).done, true);
      assert.deepEqual(progress, ['a drained', 'b drained']);
      // No Content-Length: write() made it a streamed response.
      assert.equal(res.headers.get('content-length'), null);
    });

    it('keeps the order of writes and yields from inside a generator', async () => {
      const res = await toFetch(function* (_e: Environ, sr: any) {
        const write = sr('200 OK', []);
        void write('1');
        yield '2';
        void write('3');
        yield '4';
      } as unknown as Application)(new Request('http://localhost/'));
      assert.equal(await res.text(), '1234');
    });

    it('rejects a write after the body ended', async () => {
      let write: ((c: string) => Promise<void>) | undefined;
      const res = await toFetch((_e, sr) => {
        write = sr('200 OK', []);
        return ['x'];
      }, quiet)(new Request('http://localhost/'));
      assert.equal(await res.text(), 'x');
      await assert.rejects(write!('late'), /after the response body ended/);
    });
  });

  describe('request body', () => {
    it('streams an upload: wsgi.input pulls the Request body on demand', async () => {
      const CHUNK = 16 * 1024;
      const TOTAL = 64;
      let pulled = 0;
      const source = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (pulled === TOTAL) return controller.close();
          pulled++;
          controller.enqueue(new Uint8Array(CHUNK).fill(pulled % 256));
        },
      }, { highWaterMark: 0 });
      const seen: number[] = [];
      const res = await toFetch(async (env, sr) => {
        const input = env['wsgi.input'];
        let total = 0;
        const first = await input.read(CHUNK);
        total += first.length;
        // Give any read-ahead its chance: it must stay bounded.
        for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
        seen.push(pulled);
        for await (const chunk of input) total += chunk.length;
        sr('200 OK', []);
        return [String(total)];
      })(new Request('http://localhost/up', { method: 'POST', body: source, duplex: 'half' } as RequestInit));
      assert.equal(await res.text(), String(CHUNK * TOTAL));
      assert.ok(seen[0]! <= 4, `read ${seen[0]} chunks ahead of the app`);
    });

    it('does not touch the body when the app does not read it', async () => {
      let pulled = 0;
      const source = new ReadableStream<Uint8Array>({
        pull(controller) {
          pulled++;
          controller.enqueue(new Uint8Array(10));
        },
      }, { highWaterMark: 0 });
      const res = await toFetch((_e, sr) => {
        sr('413 Content Too Large', []);
        return ['no'];
      })(new Request('http://localhost/', { method: 'POST', body: source, duplex: 'half' } as RequestInit));
      assert.equal(res.status, 413);
      await res.text();
      assert.equal(pulled, 0);
    });
  });
});
