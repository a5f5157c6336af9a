// @ts-check
/**
 * The TLS baseline: Node's own `https.createServer` answering `GET /hello`
 * with "Hello world!", as bench/servers/raw.mjs does over plain HTTP, with
 * Node's default TLS options (session tickets on, as gwserver's).
 *
 *     node bench/servers/raw-https.mjs --port 8443 --cert CERT --key KEY
 *
 * Writes `{"msg":"listening",...}` to stderr once it listens, and at
 * SIGTERM `{"msg":"handshakes","full":N,"resumed":M}`: how many
 * connections made a full handshake and how many resumed a session (wrk
 * resumes some), so that the bench can say what a "handshake" was.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';

/** @param {string} name */
function arg(name) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || process.argv[i + 1] === undefined) throw new Error(`--${name} is required`);
  return /** @type {string} */ (process.argv[i + 1]);
}

const HELLO = Buffer.from('Hello world!');
let full = 0;
let resumed = 0;
const server = https.createServer({ cert: readFileSync(arg('cert')), key: readFileSync(arg('key')) }, (req, res) => {
  if (req.url === '/hello') {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': HELLO.length });
    res.end(HELLO);
  } else {
    res.writeHead(404, { 'Content-Length': 0 });
    res.end();
  }
});
server.on('secureConnection', (socket) => (socket.isSessionReused() ? resumed++ : full++));
server.listen(Number(arg('port')), '127.0.0.1', () => process.stderr.write(`${JSON.stringify({ msg: 'listening', pid: process.pid, address: `https://127.0.0.1:${arg('port')}` })}\n`));
const stop = () => {
  process.stderr.write(`${JSON.stringify({ msg: 'handshakes', full, resumed })}\n`);
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
