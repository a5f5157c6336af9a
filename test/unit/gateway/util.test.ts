/**
 * The wsgiref.util-like helpers: URL reconstruction, shiftPathInfo,
 * hop-by-hop names and the testing environ.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  applicationUri,
  ErrorCollector,
  guessScheme,
  isHopByHop,
  requestUri,
  setupTestingDefaults,
  shiftPathInfo,
} from '../../../src/gateway/util.js';
import { validator } from '../../../src/gateway/lint.js';
import type { Chunk, Environ } from '../../../src/gateway/types.js';
import { tempDir } from '../../helpers/temp-dir.js';

describe('gateway util', () => {
  describe('guessScheme', () => {
    it('is https when HTTPS is yes, on or 1', () => {
      for (const v of ['yes', 'on', '1', 'ON']) assert.equal(guessScheme({ HTTPS: v }), 'https');
    });

    it('is http otherwise', () => {
      for (const env of [{}, { HTTPS: 'off' }, { HTTPS: '0' }, { HTTPS: true }]) assert.equal(guessScheme(env), 'http');
    });
  });

  describe('applicationUri / requestUri', () => {
    const env = (partial: Partial<Environ>) => setupTestingDefaults(partial);

    it('uses the Host header when there is one', () => {
      const e = env({ HTTP_HOST: 'example.com:8080', SCRIPT_NAME: '/app', PATH_INFO: '/x', QUERY_STRING: 'a=1' });
      assert.equal(applicationUri(e), 'http://example.com:8080/app');
      assert.equal(requestUri(e), 'http://example.com:8080/app/x?a=1');
      assert.equal(requestUri(e, false), 'http://example.com:8080/app/x');
    });

    it('falls back to SERVER_NAME, adding SERVER_PORT unless it is the default', () => {
      const base = { HTTP_HOST: '', SERVER_NAME: 'srv' };
      assert.equal(applicationUri(env({ ...base, SERVER_PORT: '80' })), 'http://srv/');
      assert.equal(applicationUri(env({ ...base, SERVER_PORT: '8000' })), 'http://srv:8000/');
      assert.equal(applicationUri(env({ ...base, 'wsgi.url_scheme': 'https', SERVER_PORT: '443' })), 'https://srv/');
      assert.equal(applicationUri(env({ ...base, 'wsgi.url_scheme': 'https', SERVER_PORT: '80' })), 'https://srv:80/');
    });

    it('brackets a bare IPv6 SERVER_NAME', () => {
      assert.equal(applicationUri(env({ HTTP_HOST: '', SERVER_NAME: '::1', SERVER_PORT: '8000' })), 'http://[::1]:8000/');
      assert.equal(applicationUri(env({ HTTP_HOST: '', SERVER_NAME: '[::1]', SERVER_PORT: '8000' })), 'http://[::1]:8000/');
    });

    it('does not double the slash at the root', () => {
      assert.equal(requestUri(env({ PATH_INFO: '/' })), 'http://127.0.0.1/');
      assert.equal(requestUri(env({ PATH_INFO: '/a/b' })), 'http://127.0.0.1/a/b');
      assert.equal(requestUri(env({ SCRIPT_NAME: '/app', PATH_INFO: '' })), 'http://127.0.0.1/app');
    });

    it('percent-encodes the decoded path again, as UTF-8, keeping what a path may hold', () => {
      const e = env({ SCRIPT_NAME: '/caf\u00e9', PATH_INFO: '/a b/100%/x?y#z/;=,:@!$&\'()*+~' });
      assert.equal(applicationUri(e), 'http://127.0.0.1/caf%C3%A9');
      assert.equal(requestUri(e, false), 'http://127.0.0.1/caf%C3%A9/a%20b/100%25/x%3Fy%23z/;=,:@!$&\'()*+~');
    });

    it('appends QUERY_STRING raw', () => {
      assert.equal(requestUri(env({ PATH_INFO: '/s', QUERY_STRING: 'q=a%20b&x' })), 'http://127.0.0.1/s?q=a%20b&x');
    });
  });

  describe('shiftPathInfo', () => {
    const shift = (scriptName: string, pathInfo: string) => {
      const e = setupTestingDefaults({ SCRIPT_NAME: scriptName, PATH_INFO: pathInfo });
      const name = shiftPathInfo(e);
      return [name, e.SCRIPT_NAME, e.PATH_INFO];
    };

    it('moves one segment from PATH_INFO to SCRIPT_NAME', () => {
      assert.deepEqual(shift('', '/a/b/c'), ['a', '/a', '/b/c']);
      assert.deepEqual(shift('/app', '/users/42'), ['users', '/app/users', '/42']);
      assert.deepEqual(shift('/app', '/last'), ['last', '/app/last', '']);
    });

    it('returns "" for a trailing slash, and SCRIPT_NAME then ends with "/"', () => {
      assert.deepEqual(shift('/a', '/'), ['', '/a/', '']);
      assert.deepEqual(shift('', '/'), ['', '/', '']);
      assert.deepEqual(shift('/app', '/x/'), ['x', '/app/x', '/']);
    });

    it('returns undefined when there is nothing to shift', () => {
      assert.deepEqual(shift('/a', ''), [undefined, '/a', '']);
      assert.deepEqual(shift('', '*'), [undefined, '', '*']);
    });

    it('drops empty and "." segments and resolves ".." like wsgiref', () => {
      assert.deepEqual(shift('', '//x//y'), ['x', '/x', '/y']);
      assert.deepEqual(shift('', '/./x'), ['x', '/x', '']);
      assert.deepEqual(shift('/a', '/.'), [undefined, '/a', '']);
      assert.deepEqual(shift('/a/b', '/../c'), ['..', '/a', '/c']);
      assert.deepEqual(shift('', '/../x'), ['..', '', '/x']);
    });
  });

  describe('isHopByHop', () => {
    it('knows the hop-by-hop headers, in any case', () => {
      for (const name of ['Connection', 'keep-alive', 'Proxy-Authenticate', 'PROXY-AUTHORIZATION', 'TE', 'Trailer', 'Trailers', 'Transfer-Encoding', 'Upgrade']) {
        assert.equal(isHopByHop(name), true, name);
      }
    });

    it('says no to end-to-end headers', () => {
      for (const name of ['Content-Type', 'Content-Length', 'Set-Cookie', 'X-Connection']) assert.equal(isHopByHop(name), false, name);
    });
  });

  describe('setupTestingDefaults', () => {
    it('builds an environ the validator accepts', async () => {
      const environ = setupTestingDefaults();
      const body = validator((_e, sr) => {
        sr('200 OK', [['Content-Type', 'text/plain']]);
        return ['ok'];
      })(environ, () => async () => {});
      assert.deepEqual(body, ['ok']);
    });

    it('describes GET http://127.0.0.1/ by default', () => {
      const e = setupTestingDefaults();
      assert.equal(e.REQUEST_METHOD, 'GET');
      assert.equal(e.SCRIPT_NAME, '');
      assert.equal(e.PATH_INFO, '/');
      assert.equal(e.QUERY_STRING, '');
      assert.equal(e.SERVER_NAME, '127.0.0.1');
      assert.equal(e.SERVER_PORT, '80');
      assert.equal(e.HTTP_HOST, '127.0.0.1');
      assert.equal(e.SERVER_PROTOCOL, 'HTTP/1.1');
      assert.equal(e.RAW_URI, '/');
      assert.deepEqual(e['wsgi.version'], [1, 0]);
      assert.equal(e['wsgi.url_scheme'], 'http');
      assert.equal(e['gwserver.signal'].aborted, false);
      assert.equal(e['gwserver.request_id'], 'test');
      assert.equal(e['gwserver.worker_id'], 0);
      assert.equal('CONTENT_LENGTH' in e, false);
      e['gwserver.log'].info({ a: 1 }, 'dropped');
    });

    it('keeps given keys and derives the others from them', () => {
      const partial = { HTTPS: 'on', SERVER_NAME: 'example.com', PATH_INFO: '/a b', QUERY_STRING: 'x=1' };
      const e = setupTestingDefaults(partial);
      assert.equal(e['wsgi.url_scheme'], 'https');
      assert.equal(e.SERVER_PORT, '443');
      assert.equal(e.HTTP_HOST, 'example.com');
      assert.equal(e.SCRIPT_NAME, '');
      assert.equal(e.PATH_INFO, '/a b');
      assert.equal(e.RAW_URI, '/a%20b?x=1');
      assert.deepEqual(Object.keys(partial), ['HTTPS', 'SERVER_NAME', 'PATH_INFO', 'QUERY_STRING']);
    });

    it('leaves PATH_INFO empty when only SCRIPT_NAME is given', () => {
      const e = setupTestingDefaults({ SCRIPT_NAME: '/app' });
      assert.equal(e.PATH_INFO, '');
      assert.equal(e.RAW_URI, '/app');
    });

    it('gives a fresh empty wsgi.input and a collecting wsgi.errors each time', async () => {
      const a = setupTestingDefaults();
      const b = setupTestingDefaults();
      assert.notEqual(a['wsgi.input'], b['wsgi.input']);
      assert.equal((await a['wsgi.input'].read()).length, 0);
      assert.equal((await a['wsgi.input'].readline()).length, 0);
      assert.deepEqual(await a['wsgi.input'].readlines(), []);
      for await (const _ of a['wsgi.input']) assert.fail('the input is empty');
      const errors = a['wsgi.errors'];
      assert.ok(errors instanceof ErrorCollector);
      errors.write('one\n');
      errors.writelines(['two\n', 'three\n']);
      errors.flush();
      assert.deepEqual(errors.output, ['one\n', 'two\n', 'three\n']);
      assert.equal(errors.text, 'one\ntwo\nthree\n');
      assert.equal((b['wsgi.errors'] as ErrorCollector).text, '');
    });

    it('has a working wsgi.file_wrapper', async () => {
      const dir = tempDir('gw-util-');
      const file = path.join(dir, 'f.txt');
      await writeFile(file, 'x'.repeat(10));
      const body = setupTestingDefaults()['wsgi.file_wrapper'](file, 4) as AsyncIterable<Chunk> & { close(): Promise<void> };
      const chunks: number[] = [];
      for await (const c of body) chunks.push((c as Uint8Array).byteLength);
      await body.close();
      assert.deepEqual(chunks, [4, 4, 2]);
    });
  });
});
