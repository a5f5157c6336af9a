// @ts-check
/**
 * Static files with compression: the files under examples/public/ (a
 * page, its stylesheet and its script), cached for an hour by browsers,
 * compressed for clients that accept brotli or gzip, and a small app
 * behind them for what is not a file (GET /api/time, and 404s).
 *
 *     gwserver examples/static.mjs
 *
 * Then open http://127.0.0.1:8000/ (or `curl -i --compressed
 * http://127.0.0.1:8000/style.css`).
 *
 * @module
 */
import { fileURLToPath } from 'node:url';
import { compose, compress, serveStatic } from 'gwserver';

/** @typedef {import('gwserver').Application} Application */

// Next to this file, wherever gwserver is started from.
const root = fileURLToPath(new URL('public/', import.meta.url));

/** @type {Application} */
function api(environ, startResponse) {
  if (environ.PATH_INFO === '/api/time') {
    startResponse('200 OK', [['Content-Type', 'application/json'], ['Cache-Control', 'no-store']]);
    return [JSON.stringify({ time: new Date().toISOString() })];
  }
  startResponse('404 Not Found', [['Content-Type', 'text/plain; charset=utf-8']]);
  return [`There is nothing at ${environ.PATH_INFO}\n`];
}

// compress() first, so that it sees the files' responses and the app's alike.
export const application = compose(compress(), serveStatic(root, { maxAge: 3600 }))(api);
