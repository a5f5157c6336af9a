// @ts-check
/**
 * The benchmark's routes as a gateway application, served by gwserver:
 *
 *     node dist/cli/bin.js -b 127.0.0.1:8000 -w 1 bench/servers/app.mjs:application
 *
 * - `GET /hello`: "Hello world!" (12 bytes; an array body, so gwserver adds
 *   Content-Length).
 * - `GET /stream`: 1 MiB yielded in 64 KiB chunks by a generator (one
 *   preallocated Buffer), chunked.
 * - `POST /echo`: reads the whole body through `wsgi.input` and answers its
 *   length in bytes.
 * - `GET /async`: "Hello world!" as `/hello`, answered by an async function
 *   (the app returns a promise).
 * - `POST /echo-iter`: reads the body with `for await (const chunk of
 *   environ['wsgi.input'])`, counting its bytes, and answers the count.
 * - `POST /echo-read`: the same as `/echo` (`await wsgi.input.read()`),
 *   under its own path: the bench measures it next to `/echo-iter`, against
 *   raw node:http's `for await` over the request.
 *
 * The same routes are in bench/servers/raw.mjs (node:http) and
 * bench/peers/app.py (WSGI, for gunicorn).
 *
 * @module
 */

/** @typedef {import('gwserver').Application} Application */
/** @typedef {import('gwserver').Environ} Environ */
/** @typedef {import('gwserver').StartResponse} StartResponse */

const TEXT = /** @type {[string, string]} */ (['Content-Type', 'text/plain; charset=utf-8']);
const CHUNK = Buffer.alloc(64 * 1024, 'x');
const STREAM_CHUNKS = 16; // 1 MiB

function* stream() {
  for (let i = 0; i < STREAM_CHUNKS; i++) yield CHUNK;
}

/** @param {Environ} environ @param {StartResponse} startResponse */
async function echo(environ, startResponse) {
  const body = await environ['wsgi.input'].read();
  startResponse('200 OK', [TEXT]);
  return [String(body.length)];
}

/** @param {Environ} environ @param {StartResponse} startResponse */
async function echoIter(environ, startResponse) {
  let size = 0;
  for await (const chunk of environ['wsgi.input']) size += chunk.length;
  startResponse('200 OK', [TEXT]);
  return [String(size)];
}

/** @param {Environ} _environ @param {StartResponse} startResponse */
async function helloAsync(_environ, startResponse) {
  startResponse('200 OK', [TEXT]);
  return ['Hello world!'];
}

/** @type {Application} */
export const application = (environ, startResponse) => {
  switch (environ.PATH_INFO) {
    case '/hello':
      startResponse('200 OK', [TEXT]);
      return ['Hello world!'];
    case '/stream':
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return stream();
    case '/echo':
    case '/echo-read':
      if (environ.REQUEST_METHOD === 'POST') return echo(environ, startResponse);
      break;
    case '/async':
      return helloAsync(environ, startResponse);
    case '/echo-iter':
      if (environ.REQUEST_METHOD === 'POST') return echoIter(environ, startResponse);
      break;
  }
  startResponse('404 Not Found', [TEXT]);
  return ['Not Found'];
};
