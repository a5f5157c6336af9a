/**
 * The seed apps in examples/, each served by a real gwserver process
 * (`gwserver examples/NAME:application` from the repo root) and checked
 * over real sockets with fetch; the toolkit's examples run as their
 * comments say (`node examples/wsgiref.mjs`, `node --test ...`).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { ROOT, startGwserver, type Gwserver } from '../helpers/gwserver.js';
import { runNode } from '../helpers/run-node.js';
import { until } from '../helpers/until.js';

/** Starts `gwserver examples/NAME:application` before each test (the root hook kills it after). */
function serve(name: string): { readonly server: Gwserver } {
  const ctx = {} as { server: Gwserver };
  beforeEach(async function () {
    ctx.server = await startGwserver([`examples/${name}:application`]);
  });
  return ctx;
}

/** Checks the status and the HTML content type, and returns the body. */
async function html(res: Response, status: number): Promise<string> {
  const body = await res.text();
  assert.equal(res.status, status, `status ${res.status}, body:\n${body}`);
  assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
  // Array bodies are framed with Content-Length by the server.
  assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(body)));
  return body;
}

/** Percent-encodes like a browser's form submission (space as "+"). */
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

describe('examples/hello', function () {
  const ctx = serve('hello');

  it('answers "Hello world!" as 12 bytes of plain text with Content-Length', async function () {
    const res = await fetch(`${ctx.server.url}/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(res.headers.get('content-length'), '12');
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(body.toString('utf8'), 'Hello world!');
    assert.equal(body.length, 12);
  });

  it('answers the same on any path and method', async function () {
    const res = await fetch(`${ctx.server.url}/any/path?x=1`, { method: 'POST', body: 'ignored' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'Hello world!');
  });

  it('answers HEAD with the headers and no body', async function () {
    const res = await fetch(`${ctx.server.url}/`, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), '12');
    assert.equal(await res.text(), '');
  });
});

describe('examples/environ', function () {
  const ctx = serve('environ');

  it('shows the request environ as pretty-printed JSON', async function () {
    const res = await fetch(`${ctx.server.url}/foo/bar?baz=bat`, { headers: { 'X-Example': 'yes' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    const text = await res.text();
    assert.match(text, /^\{\n {2}"/, 'pretty-printed with two-space indents');
    const environ = JSON.parse(text);
    assert.equal(environ.REQUEST_METHOD, 'GET');
    assert.equal(environ.PATH_INFO, '/foo/bar');
    assert.equal(environ.QUERY_STRING, 'baz=bat');
    assert.equal(environ.SCRIPT_NAME, '');
    assert.equal(environ.RAW_URI, '/foo/bar?baz=bat');
    assert.equal(environ.SERVER_PROTOCOL, 'HTTP/1.1');
    assert.equal(environ.SERVER_PORT, String(ctx.server.port));
    assert.equal(environ.REMOTE_ADDR, '127.0.0.1');
    assert.equal(environ.HTTP_X_EXAMPLE, 'yes');
    assert.deepEqual(environ['wsgi.version'], [1, 0]);
    assert.equal(environ['wsgi.url_scheme'], 'http');
    assert.equal(environ['wsgi.input_terminated'], true);
    assert.equal(typeof environ['gwserver.request_id'], 'string');
    assert.deepEqual(Object.keys(environ), Object.keys(environ).sort(), 'keys are sorted');
  });

  it('shows values JSON cannot carry as descriptive strings', async function () {
    const environ = await (await fetch(`${ctx.server.url}/`)).json() as Record<string, any>;
    for (const key of ['wsgi.input', 'wsgi.errors', 'wsgi.file_wrapper', 'gwserver.signal', 'gwserver.log']) {
      assert.equal(typeof environ[key], 'string', key);
      assert.match(environ[key], /^<.+>$/, key);
    }
    assert.equal(environ['gwserver.signal'], '<AbortSignal>');
    assert.match(environ['wsgi.file_wrapper'], /^<function /);
  });

  it('shows a request body\'s CONTENT_TYPE and CONTENT_LENGTH', async function () {
    const environ = await (await fetch(`${ctx.server.url}/post`, {
      method: 'POST', body: 'a=1', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    })).json() as Record<string, any>;
    assert.equal(environ.REQUEST_METHOD, 'POST');
    assert.equal(environ.CONTENT_TYPE, 'application/x-www-form-urlencoded');
    assert.equal(environ.CONTENT_LENGTH, '3');
    assert.equal(environ.HTTP_CONTENT_TYPE, undefined);
  });
});

describe('examples/base64', function () {
  const ctx = serve('base64');

  it('shows a form on the front page that GETs mystring from "encode"', async function () {
    const body = await html(await fetch(`${ctx.server.url}/`), 200);
    assert.match(body, /<form action="encode" method="get">/);
    assert.match(body, /<input type="text" name="mystring">/);
    assert.match(body, /<button type="submit">/);
  });

  it('encodes an ASCII string and links back to the front page', async function () {
    const body = await html(await fetch(`${ctx.server.url}/encode?mystring=hello`), 200);
    assert.match(body, /<pre id="result">aGVsbG8=<\/pre>/);
    assert.match(body, /<a href="\/">/);
  });

  it('encodes the UTF-8 bytes of a non-ASCII string, "+" decoding as a space', async function () {
    const s = 'héllo wörld ✓';
    const query = form({ mystring: s });
    assert.match(query, /\+/, 'the query uses "+" for spaces, as a browser does');
    const body = await html(await fetch(`${ctx.server.url}/encode?${query}`), 200);
    const expected = Buffer.from(s, 'utf8').toString('base64');
    assert.equal(expected, 'aMOpbGxvIHfDtnJsZCDinJM=');
    assert.ok(body.includes(`<pre id="result">${expected}</pre>`), body);
    assert.ok(body.includes(`<q id="input">${s}</q>`), body);
  });

  it('HTML-escapes the echoed string', async function () {
    const s = `<script>alert("x" & 'y')</script>`;
    const body = await html(await fetch(`${ctx.server.url}/encode?${form({ mystring: s })}`), 200);
    assert.ok(!body.includes('<script>'), body);
    assert.ok(body.includes('&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;'), body);
    assert.ok(body.includes(Buffer.from(s).toString('base64')), body);
  });

  it('answers 400 for a front page with a query string', async function () {
    const body = await html(await fetch(`${ctx.server.url}/?mystring=x`), 400);
    assert.match(body, /no query string/);
  });

  it('answers 400 for a non-GET front page', async function () {
    const body = await html(await fetch(`${ctx.server.url}/`, { method: 'POST', body: 'mystring=x' }), 400);
    assert.match(body, /only answers GET, not POST/);
  });

  it('answers 400 for a missing or empty mystring', async function () {
    for (const query of ['', '?', '?mystring=', '?other=1']) {
      const body = await html(await fetch(`${ctx.server.url}/encode${query}`), 400);
      assert.match(body, /Missing or empty parameter <code>mystring<\/code>/, `query ${JSON.stringify(query)}`);
    }
  });

  it('answers 400 for a POST to /encode', async function () {
    const body = await html(await fetch(`${ctx.server.url}/encode?mystring=x`, {
      method: 'POST', body: form({ mystring: 'x' }), headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    }), 400);
    assert.match(body, /only answers GET, not POST/);
  });

  it('answers 404 elsewhere, escaping the path it echoes', async function () {
    let body = await html(await fetch(`${ctx.server.url}/nope`), 404);
    assert.match(body, /There is nothing at \/nope/);
    body = await html(await fetch(`${ctx.server.url}/%3Cscript%3E`), 404);
    assert.ok(!body.includes('<script>'), body);
    assert.ok(body.includes('/&lt;script&gt;'), body);
  });

  it('answers HEAD on the front page like GET, without a body', async function () {
    const res = await fetch(`${ctx.server.url}/`, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(await res.text(), '');
  });
});

describe('examples/base64 mounted under --root-path', function () {
  it('builds its links on SCRIPT_NAME, so the form and the link back stay under the prefix', async function () {
    const server = await startGwserver(['--root-path', '/b64', 'examples/base64:application']);
    const front = await html(await fetch(`${server.url}/b64/`), 200);
    // The relative action resolves against /b64/ to /b64/encode.
    assert.match(front, /<form action="encode" method="get">/);
    const body = await html(await fetch(`${server.url}/b64/encode?mystring=hi`), 200);
    assert.match(body, /<pre id="result">aGk=<\/pre>/);
    assert.match(body, /<a href="\/b64\/">Encode another string<\/a>/);
  });
});

describe('examples/greet', function () {
  const ctx = serve('greet');
  const post = (body: string, type = 'application/x-www-form-urlencoded') =>
    fetch(`${ctx.server.url}/`, { method: 'POST', body, headers: { 'Content-Type': type } });

  it('shows a form on GET / that POSTs a name', async function () {
    const body = await html(await fetch(`${ctx.server.url}/`), 200);
    assert.match(body, /<form action="\.\/" method="post">/);
    assert.match(body, /<input type="text" name="name">/);
    assert.match(body, /<button type="submit">/);
  });

  it('greets the posted name', async function () {
    const body = await html(await post(form({ name: 'Ada Lovelace' })), 200);
    assert.match(body, /<p id="greeting">Hello, Ada Lovelace!<\/p>/);
  });

  it('decodes the name as UTF-8 and HTML-escapes it', async function () {
    let body = await html(await post(form({ name: 'Zoë ✓' })), 200);
    assert.ok(body.includes('Hello, Zoë ✓!'), body);
    body = await html(await post(form({ name: `<script>"a" & 'b'</script>` })), 200);
    assert.ok(!body.includes('<script>'), body);
    assert.ok(body.includes('Hello, &lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;!'), body);
  });

  it('reads a body sent with chunked transfer encoding', async function () {
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(Buffer.from('na'));
        controller.enqueue(Buffer.from('me=Chunky'));
        controller.close();
      },
    });
    const res = await fetch(`${ctx.server.url}/`, {
      method: 'POST', body: stream, duplex: 'half', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    } as RequestInit);
    const body = await html(res, 200);
    assert.match(body, /Hello, Chunky!/);
  });

  it('answers 400 with a clear message for a POST without a name', async function () {
    for (const sent of ['', 'name=', 'name=+++', 'other=1']) {
      const body = await html(await post(sent), 400);
      assert.match(body, /Please give a name: the form field <code>name<\/code> is missing or empty/, `body ${JSON.stringify(sent)}`);
    }
  });

  it('answers 415 for a body that is not a urlencoded form', async function () {
    const body = await html(await post('{"name":"x"}', 'application/json'), 415);
    assert.match(body, /application\/x-www-form-urlencoded/);
  });

  it('answers 405 with Allow for other methods', async function () {
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      const res = await fetch(`${ctx.server.url}/`, { method });
      const body = await html(res, 405);
      assert.equal(res.headers.get('allow'), 'GET, HEAD, POST');
      assert.match(body, new RegExp(`${method} is not allowed here`));
    }
  });

  it('answers 404 for other paths', async function () {
    let body = await html(await fetch(`${ctx.server.url}/greet`), 404);
    assert.match(body, /There is nothing at \/greet/);
    body = await html(await fetch(`${ctx.server.url}/x`, {
      method: 'POST', body: form({ name: 'x' }), headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    }), 404);
    assert.match(body, /There is nothing at \/x/);
  });
});

// The framework examples, each exported as its framework's users export it and served natively.
for (const [file, kind, greeting] of [
  ['express.mjs', 'node', 'Hello from Express'],
  ['koa.mjs', 'node', 'Hello from Koa'],
  ['fastify.mjs', 'node', 'Hello from Fastify'],
  ['hono.mjs', 'fetch', 'Hello from Hono'],
  ['fetch.mjs', 'fetch', 'Hello from a fetch handler'],
] as const) {
  describe(`examples/${file}`, function () {
    let server: Gwserver;
    beforeEach(async function () {
      server = await startGwserver([`examples/${file}`]);
    });

    it(`is served as a ${kind} app and answers / and /json`, async function () {
      const rec = await server.waitForRecord((r) => typeof r.interface === 'string');
      assert.equal(rec.interface, kind);
      const res = await fetch(`${server.url}/`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), new RegExp(greeting));
      assert.match(res.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
      const json = await fetch(`${server.url}/json`);
      assert.equal(json.status, 200);
      assert.equal((await json.json() as { hello: string }).hello, 'world');
    });
  });
}

describe('examples/websocket.mjs', function () {
  let server: Gwserver;
  beforeEach(async function () {
    server = await startGwserver(['examples/websocket.mjs:application']);
  });

  it('answers a plain request and echoes over a WebSocket', async function () {
    const res = await fetch(`${server.url}/`);
    assert.match(await res.text(), /echo WebSocket server/);
    const { default: WebSocket } = await import('ws');
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`);
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    const echoed = new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))));
    ws.send('ping');
    assert.equal(await echoed, 'ping');
    ws.close();
  });
});

describe('examples/router.mjs', function () {
  const ctx = serve('router.mjs');

  it('mounts the base64 form under /base64/, its links following the mount', async function () {
    const index = await html(await fetch(`${ctx.server.url}/`), 200);
    assert.match(index, /<a href="base64\/">/);
    const redirect = await fetch(`${ctx.server.url}/base64`, { redirect: 'manual' });
    assert.equal(redirect.status, 308);
    assert.equal(redirect.headers.get('location'), '/base64/');
    const front = await html(await fetch(`${ctx.server.url}/base64/`), 200);
    assert.match(front, /<form action="encode" method="get">/);
    const body = await html(await fetch(`${ctx.server.url}/base64/encode?${form({ mystring: 'hello' })}`), 200);
    assert.match(body, /<pre id="result">aGVsbG8=<\/pre>/);
    assert.match(body, /<a href="\/base64\/">Encode another string<\/a>/);
  });

  it('answers a path parameter as JSON, 405 with Allow for another method, 404 elsewhere', async function () {
    const json = await fetch(`${ctx.server.url}/api/base64/caf%C3%A9`);
    assert.deepEqual(await json.json(), { text: 'café', base64: Buffer.from('café').toString('base64') });
    const post = await fetch(`${ctx.server.url}/base64/encode`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD, OPTIONS');
    assert.equal((await fetch(`${ctx.server.url}/apix`)).status, 404);
  });

  it('examples/router.test.mjs passes under node --test, as its comment says', async function () {
    const run = runNode(['--test', 'examples/router.test.mjs']);
    assert.equal(await run.exited(30_000), 0, run.stdout + run.stderr);
    assert.match(run.stdout, /# pass 6/);
  });
});

describe('examples/wsgiref.mjs', function () {
  it('serves with makeServer and logs each request in the common log format', async function () {
    const run = runNode(['examples/wsgiref.mjs'], { PORT: '0' });
    const url = await until(() => /Serving on (http:\/\/\S+) \.\.\./.exec(run.stdout)?.[1], 15_000, () => `the "Serving on" line; stderr: ${run.stderr}`);
    const res = await fetch(`${url}/hi`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'Hello world! You asked for /hi\n');
    const line = await until(() => run.stderr.split('\n').find((l) => l.includes('"GET /hi')), 5000, 'the request line');
    assert.match(line, /^\S+ - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4} \d{2}:\d{2}:\d{2}\] "GET \/hi HTTP\/1\.1" 200 31$/);
  });
});

describe('examples/README.md', function () {
  it('lists every example in examples/', function () {
    const readme = readFileSync(`${ROOT}/examples/README.md`, 'utf8');
    for (const file of readdirSync(`${ROOT}/examples`)) {
      if (file === 'README.md') continue;
      assert.ok(readme.includes(`\`${file}\``), `examples/README.md does not list ${file}`);
    }
  });
});
