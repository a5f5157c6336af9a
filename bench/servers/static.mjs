// @ts-check
/**
 * The benchmark's static files and compression app, served by gwserver:
 *
 *     STATIC_ROOT=DIR node dist/cli/bin.js -b 127.0.0.1:8000 -w 1 bench/servers/static.mjs:application
 *
 * - `GET /plain`: a 10 KiB HTML page (an array body: Content-Length),
 *   without compression;
 * - `GET /compressed`: the same page through `compress()`, which encodes
 *   it as the request's Accept-Encoding asks (gzip at level 6, brotli at
 *   quality 4: the defaults) or sends it as it is;
 * - anything else: the files under $STATIC_ROOT, by `staticFiles()` with
 *   its defaults (ETag, Last-Modified, ranges, precompressed siblings
 *   looked for only when the request accepts a coding: wrk sends no
 *   Accept-Encoding), or with `blocking: true` when $STATIC_BLOCKING is 1,
 *   and `blockSize` from $STATIC_BLOCK_SIZE when it is set.
 *
 * @module
 */
import { compress, staticFiles } from 'gwserver';

const root = process.env.STATIC_ROOT;
if (root === undefined) throw new Error('set STATIC_ROOT to the directory to serve');

/** About 10 KiB of HTML: a table of rows, as a listing page would have. */
export const PAGE = Buffer.from(`<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Orders</title></head><body>\n<table>\n${
  Array.from({ length: 170 }, (_, i) => `<tr><td>${1000 + i}</td><td>customer-${(i * 37) % 101}</td><td>${((i * 7919) % 10000) / 100} EUR</td></tr>`).join('\n')
}\n</table>\n</body></html>\n`);

/** @type {import('gwserver').Application} */
function page(_environ, startResponse) {
  startResponse('200 OK', [['Content-Type', 'text/html; charset=utf-8']]);
  return [PAGE];
}

const compressed = compress()(page);
const files = staticFiles(root, { blocking: process.env.STATIC_BLOCKING === '1', ...(process.env.STATIC_BLOCK_SIZE ? { blockSize: Number(process.env.STATIC_BLOCK_SIZE) } : {}) });

/** @type {import('gwserver').Application} */
export function application(environ, startResponse) {
  if (environ.PATH_INFO === '/plain') return page(environ, startResponse);
  if (environ.PATH_INFO === '/compressed') return compressed(environ, startResponse);
  return files(environ, startResponse);
}
