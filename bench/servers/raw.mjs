// @ts-check
/**
 * The baseline: the benchmark's routes on a plain `node:http` server, written
 * as directly as possible (no framework, no gateway). gwserver's target is to
 * come within a few percent of this.
 *
 *     node bench/servers/raw.mjs --port 8000 [--workers 1]
 *
 * - `GET /hello`: "Hello world!" (12 bytes, Content-Length).
 * - `GET /stream`: 1 MiB in 64 KiB chunks (one preallocated Buffer), written
 *   with `res.write` and backpressure (waits for 'drain'), chunked.
 * - `POST /echo`: reads the whole body into one Buffer and answers its
 *   length in bytes.
 * - `POST /echo-iter`: reads the body with `for await (const chunk of req)`,
 *   counting its bytes, and answers the count (the baseline of gwserver's
 *   `/echo-iter` and `/echo-read`).
 *
 * `--workers 1` (the default) is a single process serving by itself; with
 * more, a `node:cluster` primary forks that many workers, which accept on the
 * shared socket themselves (`SCHED_NONE`, as gwserver's default
 * `--scheduling os`; node's own default round-robin hands every connection
 * over IPC). The process writes one JSON record `{"msg":"listening",...}` to
 * stderr once every worker listens, as gwserver does, and stops on SIGTERM
 * or SIGINT (the primary stops its workers first).
 *
 * @module
 */
import cluster from 'node:cluster';
import http from 'node:http';

/** @param {string} name @param {number} dflt */
function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const PORT = arg('port', 8000);
const WORKERS = arg('workers', 1);
const HOST = '127.0.0.1';

const HELLO = Buffer.from('Hello world!');
const CHUNK = Buffer.alloc(64 * 1024, 'x');
const STREAM_CHUNKS = 16; // 1 MiB

/** @param {http.ServerResponse} res */
function stream(res) {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
  let left = STREAM_CHUNKS;
  const pump = () => {
    while (left > 0) {
      left--;
      if (!res.write(CHUNK)) {
        if (!res.destroyed) res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

/** @param {http.IncomingMessage} req @param {http.ServerResponse} res */
function echo(req, res) {
  /** @type {Buffer[]} */
  const chunks = [];
  let size = 0;
  req.on('data', (/** @type {Buffer} */ c) => {
    chunks.push(c);
    size += c.length;
  });
  req.on('end', () => {
    const body = Buffer.concat(chunks, size);
    const text = String(body.length);
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(text.length) });
    res.end(text);
  });
}

/** @param {http.IncomingMessage} req @param {http.ServerResponse} res */
async function echoIter(req, res) {
  let size = 0;
  for await (const chunk of req) size += /** @type {Buffer} */ (chunk).length;
  const text = String(size);
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(text.length) });
  res.end(text);
}

function serve() {
  const server = http.createServer((req, res) => {
    const url = req.url;
    if (url === '/hello') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '12' });
      res.end(HELLO);
    } else if (url === '/stream') {
      stream(res);
    } else if (url === '/echo' && req.method === 'POST') {
      echo(req, res);
    } else if (url === '/echo-iter' && req.method === 'POST') {
      echoIter(req, res).catch(() => res.destroy());
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': '9' });
      res.end('Not Found');
    }
  });
  return server;
}

const record = (/** @type {Record<string, unknown>} */ r) => process.stderr.write(`${JSON.stringify({ pid: process.pid, ...r })}\n`);

if (WORKERS <= 1) {
  serve().listen(PORT, HOST, () => record({ address: `http://${HOST}:${PORT}`, msg: 'listening' }));
} else if (cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  let listening = 0;
  for (let i = 0; i < WORKERS; i++) cluster.fork();
  cluster.on('listening', () => {
    if (++listening === WORKERS) record({ address: `http://${HOST}:${PORT}`, workers: WORKERS, msg: 'listening' });
  });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    const workers = Object.values(cluster.workers ?? {});
    if (workers.length === 0) process.exit(0);
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
    });
    for (const w of workers) w?.process.kill('SIGTERM');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  cluster.on('exit', (w, code, signal) => {
    if (!stopping) record({ worker_pid: w.process.pid, code, signal, msg: 'worker died' });
  });
} else {
  serve().listen(PORT, HOST);
}
