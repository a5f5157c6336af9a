// @ts-check
/**
 * The HTTP/2 baseline: the benchmark's hello route on Node's own
 * `node:http2` server over cleartext (h2c by prior knowledge), through the
 * compatibility API, as directly as possible: what gwserver's HTTP/2 is
 * measured against (bench/http2.mjs).
 *
 *     node bench/servers/raw-h2.mjs --port 8000
 *
 * `GET /hello`: "Hello world!" (12 bytes). It writes one JSON record
 * `{"msg":"listening",...}` to stderr once it listens, as gwserver does,
 * and stops on SIGTERM or SIGINT.
 *
 * @module
 */
import http2 from 'node:http2';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string', default: '8000' } } });
const HELLO = Buffer.from('Hello world!');

const server = http2.createServer({ settings: { maxConcurrentStreams: 100 } }, (req, res) => {
  if (req.url === '/hello') {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': '12' });
    res.end(HELLO);
  } else {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'content-length': '9' });
    res.end('Not Found');
  }
});
server.listen(Number(values.port), '127.0.0.1', () => {
  process.stderr.write(`${JSON.stringify({ msg: 'listening', address: `http://127.0.0.1:${values.port}` })}\n`);
});
for (const sig of /** @type {const} */ (['SIGTERM', 'SIGINT'])) {
  process.on(sig, () => {
    server.close();
    setTimeout(() => process.exit(0), 200).unref();
    for (const s of sessions) s.destroy();
  });
}
/** @type {Set<import('node:http2').ServerHttp2Session>} */
const sessions = new Set();
server.on('session', (s) => {
  sessions.add(s);
  s.once('close', () => sessions.delete(s));
});
