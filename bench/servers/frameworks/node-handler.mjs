// @ts-check
/**
 * A bare `node:http` request handler, `(req, res)`, exported as the module's
 * default export: the app of the frameworks section's "node handler" rows
 * (raw node:http, PM2 cluster mode, gwserver --interface node).
 *
 * - `GET /hello`: "Hello world!" (12 bytes, Content-Length), as
 *   bench/servers/raw.mjs answers it.
 *
 *     node bench/servers/frameworks/serve.mjs --app bench/servers/frameworks/node-handler.mjs --port 8000
 *     node dist/cli/bin.js -b 127.0.0.1:8000 -w 1 --interface node bench/servers/frameworks/node-handler.mjs
 *
 * @module
 */

const HELLO = Buffer.from('Hello world!');

/** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res */
export default function handler(req, res) {
  if (req.url === '/hello') {
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '12' });
    res.end(HELLO);
  } else {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '9' });
    res.end('Not Found');
  }
}
