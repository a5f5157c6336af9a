/**
 * route(), mount() and byMethod(): what each app sees (SCRIPT_NAME,
 * PATH_INFO, wsgiorg.routing_args, applicationUri), the order of
 * patterns, 404/405/308, and hostile paths: encoded slashes, dot
 * segments, empty segments, trailing slashes, prefixes that are only
 * prefixes of a segment. In-process through testClient (the app under
 * the validator) and, for paths fetch would normalize on its way, through
 * a real socket.
 */
import assert from 'node:assert/strict';
import { applicationUri, requestUri, setupTestingDefaults } from '../../../src/gateway/util.js';
import type { Application, Environ } from '../../../src/gateway/types.js';
import { byMethod, mount, normalizeSegments, route, routeParams, ROUTING_ARGS, type RoutingArgs } from '../../../src/toolkit/routing.js';
import { testClient } from '../../../src/toolkit/test-client.js';
import { makeServer } from '../../../src/toolkit/simple-server.js';
import { rawRequest } from '../../helpers/raw.js';
import { afterTest } from '../../helpers/scope.js';

/** An app that answers with what it saw, as JSON. */
function echo(name: string): Application {
  return function echoApp(environ, startResponse) {
    startResponse('200 OK', [['Content-Type', 'application/json']]);
    return [JSON.stringify({
      app: name,
      method: environ.REQUEST_METHOD,
      script: environ.SCRIPT_NAME,
      path: environ.PATH_INFO,
      params: routeParams(environ),
      args: environ[ROUTING_ARGS] ?? null,
      appUri: applicationUri(environ),
      uri: requestUri(environ),
    })];
  };
}

interface Seen {
  app: string;
  method: string;
  script: string;
  path: string;
  params: Record<string, string>;
  args: RoutingArgs | null;
  appUri: string;
  uri: string;
}

/** Calls `app` directly with an environ for `pathInfo` (any bytes, as a raw request may carry). */
async function direct(app: Application, pathInfo: string, extra: Partial<Environ> = {}): Promise<{ status: string; headers: Array<[string, string]>; seen?: Seen; text: string }> {
  let status = '';
  let headers: Array<[string, string]> = [];
  const body = await app(setupTestingDefaults({ PATH_INFO: pathInfo, ...extra }), (s, h) => {
    status = s;
    headers = h;
    return async () => {};
  });
  const text = (body as string[]).join('');
  return { status, headers, text, seen: status.startsWith('200') ? JSON.parse(text) as Seen : undefined };
}

describe('routing', () => {
  describe('mount()', () => {
    const app = mount({
      '/api': echo('api'),
      '/api/v2': echo('v2'),
      '/static/': echo('static'),
      '/': echo('site'),
    });
    const client = testClient(app);

    it('moves the prefix to SCRIPT_NAME, so the mounted app sees itself there', async () => {
      const seen = (await client.get('/api/users/42?x=1')).json<Seen>();
      assert.equal(seen.app, 'api');
      assert.equal(seen.script, '/api');
      assert.equal(seen.path, '/users/42');
      assert.equal(seen.appUri, 'http://localhost/api');
      assert.equal(seen.uri, 'http://localhost/api/users/42?x=1');
    });

    it('takes the longest prefix first, whatever the order of the table', async () => {
      assert.equal((await client.get('/api/v2/x')).json<Seen>().app, 'v2');
      assert.equal((await client.get('/api/v2')).json<Seen>().app, 'v2');
      assert.equal((await client.get('/api/v3')).json<Seen>().app, 'api');
      const seen = (await client.get('/api/v2/x')).json<Seen>();
      assert.equal(seen.script, '/api/v2');
      assert.equal(seen.path, '/x');
    });

    it('respects segment boundaries: /api does not take /apix or /api-docs', async () => {
      for (const p of ['/apix', '/api-docs/x', '/ap']) {
        const seen = (await client.get(p)).json<Seen>();
        assert.equal(seen.app, 'site', p);
        assert.equal(seen.script, '', p);
        assert.equal(seen.path, p, p);
      }
    });

    it('gives the exact prefix an empty PATH_INFO, and the prefix with a slash "/"', async () => {
      let seen = (await client.get('/api')).json<Seen>();
      assert.deepEqual([seen.app, seen.script, seen.path], ['api', '/api', '']);
      assert.equal(seen.appUri, 'http://localhost/api');
      seen = (await client.get('/api/')).json<Seen>();
      assert.deepEqual([seen.app, seen.script, seen.path], ['api', '/api', '/']);
    });

    it('takes a trailing slash in a prefix as the same prefix', async () => {
      const seen = (await client.get('/static/app.css')).json<Seen>();
      assert.deepEqual([seen.app, seen.script, seen.path], ['static', '/static', '/app.css']);
    });

    it('answers 404 when nothing is mounted for the path, or notFound', async () => {
      const bare = testClient(mount({ '/api': echo('api') }));
      const res = await bare.get('/other');
      assert.equal(res.status, 404);
      assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
      assert.equal(res.text, 'Not Found\n');
      const custom = testClient(mount({ '/api': echo('api') }, { notFound: echo('fallback') }));
      assert.equal((await custom.get('/other')).json<Seen>().app, 'fallback');
    });

    it('nests: SCRIPT_NAME grows by each prefix', async () => {
      const nested = testClient(mount({ '/a': mount({ '/b': echo('inner') }) }));
      const seen = (await nested.get('/a/b/c')).json<Seen>();
      assert.deepEqual([seen.script, seen.path, seen.appUri], ['/a/b', '/c', 'http://localhost/a/b']);
    });

    it('appends to the SCRIPT_NAME the server gave (--root-path)', async () => {
      const r = await direct(app, '/api/x', { SCRIPT_NAME: '/root' });
      assert.deepEqual([r.seen!.script, r.seen!.path], ['/root/api', '/x']);
      const under = testClient(app, { scriptName: '/root' });
      const seen = (await under.get('/root/api/x')).json<Seen>();
      assert.deepEqual([seen.script, seen.path, seen.appUri], ['/root/api', '/x', 'http://localhost/root/api']);
    });

    it('refuses bad tables when made', () => {
      assert.throws(() => mount({ api: echo('x') }), /must start with "\/"/);
      assert.throws(() => mount({ '/a': echo('x'), '/a/': echo('y') }), /given twice/);
      assert.throws(() => mount({ '/a': 'nope' as unknown as Application }), /not an application/);
    });
  });

  describe('hostile paths', () => {
    const app = mount({ '/public': echo('public'), '/admin': echo('admin'), '/': echo('site') });

    it('an encoded slash is a slash (PATH_INFO is decoded), and the mounted app sees the same path', async () => {
      // RAW_URI keeps %2F; PATH_INFO, which every app routes on, does not: the router agrees with the app.
      const seen = (await testClient(app).get('/admin%2Fusers')).json<Seen>();
      assert.deepEqual([seen.app, seen.script, seen.path], ['admin', '/admin', '/users']);
      const r = await direct(app, '/public/a%2Fb');
      assert.deepEqual([r.seen!.app, r.seen!.path], ['public', '/a%2Fb'], 'a literal %2F in the decoded path is text');
    });

    it('resolves dot segments before matching, as a browser would, never above SCRIPT_NAME', async () => {
      const cases: Array<[string, string, string, string]> = [
        ['/public/../admin/x', 'admin', '/admin', '/x'],
        ['/public/./a', 'public', '/public', '/a'],
        ['/public/a/..', 'public', '/public', '/'],
        ['/public/..', 'site', '', '/'],
        ['/../../admin', 'admin', '/admin', ''],
        ['/public/%2e%2e/admin', 'admin', '/admin', ''],
        ['/admin/../../../etc/passwd', 'site', '', '/etc/passwd'],
      ];
      for (const [raw, appName, script, path] of cases) {
        const decoded = decodeURIComponent(raw);
        const r = await direct(app, decoded, { SCRIPT_NAME: '' });
        assert.deepEqual([r.seen!.app, r.seen!.script, r.seen!.path], [appName, script, path], raw);
      }
      // Under a SCRIPT_NAME, ".." stays inside it.
      const r = await direct(app, '/../../admin', { SCRIPT_NAME: '/mnt' });
      assert.deepEqual([r.seen!.script, r.seen!.path], ['/mnt/admin', '']);
    });

    it('merges empty segments: //admin is /admin, not a way around its mount', async () => {
      for (const p of ['//admin', '/admin//x', '///admin///x//']) {
        const r = await direct(app, p);
        assert.equal(r.seen!.app, 'admin', p);
        assert.equal(r.seen!.script, '/admin', p);
      }
      assert.equal((await direct(app, '/admin//x')).seen!.path, '/x');
      assert.equal((await direct(app, '///admin///x//')).seen!.path, '/x/');
    });

    it('the same over a real socket, where nothing normalized the path on its way', async () => {
      const server = await makeServer('127.0.0.1', 0, app, { quiet: true }).ready();
      afterTest(() => server.close(0));
      void server.serveForever();
      for (const [target, appName, path] of [
        ['/public/../admin/x', 'admin', '/x'],
        ['//admin', 'admin', ''],
        ['/public/%2e%2e/%2e%2e/admin/%2e/y', 'admin', '/y'],
        ['/admin%2F..%2F..%2Fpublic', 'public', ''],
        ['/public%00/x', 'site', '/public\u0000/x'],
      ] as const) {
        const res = await rawRequest(server.serverPort, `GET ${target} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`);
        assert.equal(res.status, 200, target);
        const seen = JSON.parse(res.body.toString()) as Seen;
        assert.deepEqual([seen.app, seen.path], [appName, path], target);
      }
    });

    it('a PATH_INFO that is not a path ("*" of OPTIONS *) goes to notFound', async () => {
      const r = await direct(app, '*', { REQUEST_METHOD: 'OPTIONS' });
      assert.equal(r.status, '404 Not Found');
    });

    it('normalizeSegments: the rules in one place', () => {
      assert.deepEqual(normalizeSegments(''), []);
      assert.deepEqual(normalizeSegments('/'), ['']);
      assert.deepEqual(normalizeSegments('/a'), ['a']);
      assert.deepEqual(normalizeSegments('/a/'), ['a', '']);
      assert.deepEqual(normalizeSegments('/a/./b/../c/.'), ['a', 'c', '']);
      assert.deepEqual(normalizeSegments('/..'), ['']);
      assert.deepEqual(normalizeSegments('//'), ['']);
      assert.equal(normalizeSegments('*'), undefined);
      assert.equal(normalizeSegments('a/b'), undefined);
    });
  });

  describe('route()', () => {
    const app = route({
      '/': echo('home'),
      '/users': { GET: echo('list'), POST: echo('create') },
      '/users/new': echo('new-form'),
      '/users/:id': { GET: echo('show'), DELETE: echo('delete') },
      '/users/:id/posts/:post': echo('post'),
      '/files/*': echo('files'),
      '/files/:name/*': echo('named-files'),
    });
    const client = testClient(app);

    it('matches exact patterns and fills wsgiorg.routing_args with the parameters', async () => {
      let seen = (await client.get('/users/42')).json<Seen>();
      assert.equal(seen.app, 'show');
      assert.deepEqual(seen.params, { id: '42' });
      assert.deepEqual(seen.args, [[], { id: '42' }]);
      assert.deepEqual([seen.script, seen.path], ['', '/users/42'], 'an exact route leaves the path to the app');
      seen = (await client.get('/users/7/posts/hello%20world')).json<Seen>();
      assert.deepEqual(seen.params, { id: '7', post: 'hello world' }, 'parameters are decoded text, as PATH_INFO');
      assert.equal((await client.get('/users/caf%C3%A9')).json<Seen>().params.id, 'café');
    });

    it('prefers a literal segment to a parameter, whatever the order', async () => {
      const reversed = testClient(route({ '/users/:id': echo('show'), '/users/new': echo('new-form') }));
      assert.equal((await reversed.get('/users/new')).json<Seen>().app, 'new-form');
      assert.equal((await reversed.get('/users/old')).json<Seen>().app, 'show');
      assert.equal((await client.get('/users/new')).json<Seen>().app, 'new-form');
    });

    it('treats a trailing slash as another path, and a parameter as one non-empty segment', async () => {
      assert.equal((await client.get('/users/42/')).status, 404);
      assert.deepEqual((await client.get('/users//42')).json<Seen>().params, { id: '42' }, '/users//42 is /users/42');
      assert.equal((await client.get('/users/a/b')).status, 404);
    });

    it('routes methods: 405 with Allow, HEAD by GET, OPTIONS answered', async () => {
      assert.equal((await client.post('/users', { body: { name: 'x' } })).json<Seen>().app, 'create');
      const res = await client.request('PUT', '/users/1', { body: 'x' });
      assert.equal(res.status, 405);
      assert.equal(res.headers.get('allow'), 'GET, DELETE, HEAD, OPTIONS');
      assert.equal(res.text, 'Method Not Allowed\n');
      const head = await client.head('/users/1');
      assert.equal(head.status, 200);
      assert.equal(head.text, '');
      const options = await client.options('/users');
      assert.equal(options.status, 204);
      assert.equal(options.headers.get('allow'), 'GET, POST, HEAD, OPTIONS');
    });

    it('a prefix pattern /x/* moves the matched segments, parameters included', async () => {
      let seen = (await client.get('/files/a/b.txt')).json<Seen>();
      assert.equal(seen.app, 'named-files', 'a parameter before the rest beats the bare prefix');
      assert.deepEqual([seen.script, seen.path], ['/files/a', '/b.txt']);
      assert.deepEqual(seen.params, { name: 'a' });
      seen = (await client.get('/files')).json<Seen>();
      assert.deepEqual([seen.app, seen.script, seen.path], ['files', '/files', '']);
      seen = (await client.get('/files/')).json<Seen>();
      assert.equal(seen.app, 'files', 'an empty segment is no :name');
    });

    it('adds its parameters to those of a router outside it', async () => {
      const inner = route({ '/posts/:post': echo('post') });
      const outer = testClient(route({ '/users/:id/*': inner }));
      const seen = (await outer.get('/users/3/posts/9')).json<Seen>();
      assert.deepEqual(seen.params, { id: '3', post: '9' });
      assert.deepEqual([seen.script, seen.path], ['/users/3', '/posts/9']);
    });

    it('redirects a mount root without its slash to it (308), keeping the query', async () => {
      const site = testClient(mount({ '/b64': route({ '/': echo('front') }) }));
      const res = await site.get('/b64?x=1');
      assert.equal(res.status, 308);
      assert.equal(res.headers.get('location'), '/b64/?x=1');
      assert.equal((await site.get('/b64/')).json<Seen>().app, 'front');
    });

    it('refuses patterns that cannot work or that clash', () => {
      assert.throws(() => route({ 'users': echo('x') }), /must start with "\/"/);
      assert.throws(() => route({ '/a/*/b': echo('x') }), /"\*" may only end a pattern/);
      assert.throws(() => route({ '/a//b': echo('x') }), /can never match/);
      assert.throws(() => route({ '/a/../b': echo('x') }), /can never match/);
      assert.throws(() => route({ '/a/:1x': echo('x') }), /not a parameter name/);
      assert.throws(() => route({ '/a/:id/:id': echo('x') }), /names :id twice/);
      assert.throws(() => route({ '/u/:id': echo('x'), '/u/:name': echo('y') }), /match the same paths/);
    });
  });

  describe('byMethod()', () => {
    it('serves HEAD with its own app when given', async () => {
      const client = testClient(byMethod({ GET: echo('get'), HEAD: echo('head') }));
      const res = await client.head('/');
      assert.equal(res.status, 200);
      assert.equal((await client.get('/')).json<Seen>().app, 'get');
    });

    it('with autoOptions false, OPTIONS is a method like any other', async () => {
      const client = testClient(byMethod({ GET: echo('get') }, { autoOptions: false }));
      const res = await client.options('/');
      assert.equal(res.status, 405);
      assert.equal(res.headers.get('allow'), 'GET, HEAD');
      const own = testClient(byMethod({ GET: echo('get'), OPTIONS: echo('options') }));
      assert.equal((await own.options('/')).json<Seen>().app, 'options');
    });

    it('matches methods as sent (case-sensitive), and refuses tables that are not methods', async () => {
      const r = await direct(byMethod({ GET: echo('get') }), '/', { REQUEST_METHOD: 'get' });
      assert.equal(r.status, '405 Method Not Allowed');
      assert.throws(() => byMethod({}), /no method/);
      assert.throws(() => byMethod({ 'G T': echo('x') }), /not an HTTP method/);
    });
  });
});
