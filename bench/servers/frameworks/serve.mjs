// @ts-check
/**
 * Serves one of the frameworks section's modules on its framework's own
 * server, the way its users do, from the module's default export:
 *
 * - a Fastify instance (`listen`, `ready` and `routing` methods):
 *   `app.listen({ port, host })`;
 * - an object with a `fetch` method (Hono): `serve()` of `@hono/node-server`;
 * - a function (Express, a bare `(req, res)` handler):
 *   `http.createServer(app).listen(port, host)`.
 *
 *     node bench/servers/frameworks/serve.mjs --app bench/servers/frameworks/express.mjs --port 8000 [--log-file FILE]
 *
 * `--log-file FILE` (node handlers only) appends a JSON line per request to
 * FILE through a buffered writer, the way gwserver's access log does (lines
 * gathered in memory and written together, at once when 64 KiB wait, else
 * within 20 ms; one write in flight): the bench's baseline for what writing
 * such a file costs on this machine, without gwserver.
 *
 * It writes one JSON record `{"msg":"listening",...}` to stderr once it
 * listens (as bench/servers/raw.mjs does), and exits on SIGTERM or SIGINT.
 * `--cluster` serves the same from one node:cluster worker of this
 * process (SCHED_NONE: the worker accepts on the master's socket, as
 * gwserver's do), `--beat MS` then has the worker send the master a
 * message every MS ms, as gwserver's heartbeat: bench/cpu-per-request.mjs's
 * `own-cluster` variants, which tell what being a cluster worker costs.
 *
 * PM2 runs this file too (its cluster mode: `pm2 start serve.mjs -i 1 --
 * --app ... --port ...`).
 *
 * @module
 */
import cluster from 'node:cluster';
import { openSync, write } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values: argv } = parseArgs({
  options: {
    app: { type: 'string' },
    port: { type: 'string', default: '8000' },
    host: { type: 'string', default: '127.0.0.1' },
    'log-file': { type: 'string' },
    cluster: { type: 'boolean', default: false },
    beat: { type: 'string', default: '0' },
  },
});
if (!argv.app) throw new Error('serve.mjs: --app MODULE is required');
const PORT = Number(argv.port);
const HOST = argv.host ?? '127.0.0.1';
if (argv.cluster && cluster.isPrimary) {
  // One node:cluster worker on the master's listening socket (SCHED_NONE, as
  // gwserver's workers accept on the master's socket): what a cluster
  // worker costs, without gwserver.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  const worker = cluster.fork();
  for (const sig of /** @type {const} */ (['SIGTERM', 'SIGINT'])) process.on(sig, () => worker.kill('SIGTERM'));
  worker.on('exit', () => process.exit(0));
  // The rest of this module is the worker's.
  await new Promise(() => {});
}
if (cluster.isWorker && Number(argv.beat) > 0) setInterval(() => process.send?.({ act: 'beat', requests: 0 }), Number(argv.beat)).unref();
const mod = await import(pathToFileURL(path.resolve(argv.app)).href);
const app = mod.default;

const record = (/** @type {Record<string, unknown>} */ r) => process.stderr.write(`${JSON.stringify({ pid: process.pid, ...r })}\n`);
const listening = (/** @type {string} */ kind) => record({ address: `http://${HOST}:${PORT}`, app: argv.app, kind, msg: 'listening' });
for (const sig of /** @type {const} */ (['SIGTERM', 'SIGINT'])) process.on(sig, () => process.exit(0));

/**
 * Lines appended to a file, written together (64 KiB at once, else within
 * 20 ms), one write at a time.
 * @param {string} file
 */
function bufferedWriter(file) {
  const fd = openSync(file, 'a');
  /** @type {string[]} */
  let parts = [];
  let size = 0;
  let writing = false;
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  const flush = () => {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (writing || size === 0) return;
    const buf = Buffer.from(parts.join(''));
    parts = [];
    size = 0;
    writing = true;
    write(fd, buf, 0, buf.length, null, (err) => {
      writing = false;
      if (err) record({ err: err.message, msg: 'log write failed' });
      if (size >= 65536) flush();
      else if (size > 0 && !timer) timer = setTimeout(flush, 20);
    });
  };
  return (/** @type {string} */ line) => {
    parts.push(line);
    size += line.length;
    if (size >= 65536) flush();
    else if (!timer) timer = setTimeout(flush, 20);
  };
}

/**
 * A node handler that also appends a JSON line per request (about the size
 * and fields of gwserver's access log line) through `append`.
 * @param {(req: http.IncomingMessage, res: http.ServerResponse) => unknown} handler
 * @param {(line: string) => void} append
 */
function logging(handler, append) {
  let n = 0;
  const prefix = `${process.pid.toString(16)}-${Date.now().toString(16)}-`;
  /** @param {http.IncomingMessage} req @param {http.ServerResponse} res @param {number} t0 @param {string} id */
  const line = (req, res, t0, id) => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    append(`{"time":"${new Date().toISOString()}","pid":${process.pid},"request_id":"${id}","method":"${req.method}","path":${JSON.stringify(q < 0 ? url : url.slice(0, q))},"query":${JSON.stringify(q < 0 ? '' : url.slice(q + 1))},"protocol":"HTTP/${req.httpVersion}","status":${res.statusCode},"bytes":${Number(res.getHeader('content-length') ?? 0)},"request_bytes":${Number(req.headers['content-length'] ?? 0)},"duration_ms":${(performance.now() - t0).toFixed(3)},"remote_addr":"${req.socket.remoteAddress}","user_agent":${JSON.stringify(req.headers['user-agent'] ?? null)},"referer":${JSON.stringify(req.headers.referer ?? null)},"completed":true}\n`);
  };
  return (/** @type {http.IncomingMessage} */ req, /** @type {http.ServerResponse} */ res) => {
    const t0 = performance.now();
    const id = prefix + (++n).toString(16).padStart(12, '0');
    handler(req, res);
    if (res.writableEnded) line(req, res, t0, id);
    else res.once('finish', () => line(req, res, t0, id));
  };
}

const isFastify = app && typeof app.listen === 'function' && typeof app.ready === 'function' && typeof app.routing === 'function';
if (argv['log-file'] && (isFastify || typeof app !== 'function')) throw new Error('serve.mjs: --log-file is for node handlers only');
if (isFastify) {
  await app.listen({ port: PORT, host: HOST });
  listening('fastify');
} else if (app && typeof app === 'object' && typeof app.fetch === 'function') {
  const { serve } = await import('@hono/node-server');
  serve({ fetch: app.fetch, port: PORT, hostname: HOST }, () => listening('fetch (@hono/node-server)'));
} else if (typeof app === 'function') {
  const handler = argv['log-file'] ? logging(app, bufferedWriter(argv['log-file'])) : app;
  http.createServer(handler).listen(PORT, HOST, () => listening(argv['log-file'] ? 'node:http + JSON line file' : 'node:http'));
} else {
  throw new Error(`serve.mjs: ${argv.app}'s default export is neither a Fastify instance, an object with fetch(), nor a function`);
}
