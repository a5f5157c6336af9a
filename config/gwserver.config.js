// @ts-check
/**
 * An example gwserver config file: every setting, with its default, and every
 * hook (commented out), after gunicorn's examples/example_config.py.
 *
 * Use it with `gwserver -c config/gwserver.config.js`, or copy it to
 * ./gwserver.config.js in the directory you start gwserver in, where it is
 * read without -c. Keep only the lines you change.
 *
 * Each setting is a named export (`export default { ... }` works too). Values
 * from $GWSERVER_CMD_ARGS and the command line win over this file; run
 * `gwserver --print-config` to see what is in effect, and
 * `gwserver --check-config` to check this file and load the app.
 * Reference: docs/settings.md. gunicorn's names (max_requests, preload_app,
 * proc_name...) are accepted too.
 *
 * (`config`, the file itself, is named on the command line: -c FILE.)
 */

// ---------------------------------------------------------------------------
// Config file

// The application, MODULE:CALLABLE, when the command line names none.
// export const app = 'examples/hello:application';

// ---------------------------------------------------------------------------
// Server socket

// Where to listen: HOST:PORT, [IPV6]:PORT, :PORT, unix:PATH or fd://N.
// A list serves on several sockets at once.
export const bind = process.env.PORT ? [`0.0.0.0:${process.env.PORT}`] : ['127.0.0.1:8000'];

// The listen backlog: connections waiting to be accepted (capped by net.core.somaxconn).
export const backlog = 2048;

// Permissions of the unix: sockets gwserver creates.
export const socketMode = 0o666;

// ---------------------------------------------------------------------------
// TLS (docs/tls.md)

// Serve HTTPS with this certificate (PEM; the chain after it). Empty: plain HTTP.
// The master reads the files (they may be readable by root alone) and a HUP reads them again.
export const certfile = '';

// The certificate's private key (PEM). Empty: the key is in certfile.
export const keyfile = '';

// The CAs that sign client certificates (PEM), for certReqs.
export const caCerts = '';

// Client certificates: 'none' (0), 'optional' (1) or 'required' (2), as gunicorn's cert_reqs.
export const certReqs = 'none';

// An OpenSSL cipher list. Empty: Node.js's default list.
export const ciphers = '';

// The oldest TLS version offered: 'TLSv1.2' or 'TLSv1.3'.
export const tlsMinVersion = 'TLSv1.2';

// ---------------------------------------------------------------------------
// Worker processes

// How many worker processes: one Node.js event loop each. Start with one per
// CPU core, e.g. os.availableParallelism(), and measure.
export const workers = Number(process.env.WEB_CONCURRENCY) || 1;

// Adaptive workers: with workersMax set (0: off), the number of workers moves
// between workersMin and workersMax with the load (requests in flight per
// worker against workersTargetInflight, event-loop utilization, the listen
// backlog): up within a second or two, down one worker at a time after
// workersScaleDownDelay seconds of less load. `workers` is where it starts.
export const workersMin = 1;
export const workersMax = 0;
export const workersTargetInflight = 16;
export const workersScaleDownDelay = 30;

// How connections are spread over workers: 'os' (the kernel) or 'round-robin' (the master).
export const scheduling = 'os';
// The most connections a worker keeps open (a new one past it gets 503; 0: no limit).
export const workerConnections = 0;

// Replace a worker after this many requests (0: never), plus a random 0..jitter
// so that workers are not all replaced at once.
export const maxRequests = 0;
export const maxRequestsJitter = 0;

// Gracefully replace a worker whose RSS grows past this many MiB (0: never).
export const maxWorkerMemory = 0;

// Gracefully replace a worker that has lived this many seconds, plus a random
// 0..jitter drawn at its fork (0: never); one worker at a time, its
// replacement ready before it stops.
export const maxWorkerLifetime = 0;
export const maxWorkerLifetimeJitter = 0;

// ---------------------------------------------------------------------------
// Timeouts (seconds)

// A worker whose event loop is stuck this long is killed and replaced; the log
// shows the JavaScript stack where it was stuck. Not a per-request timeout. 0: off.
export const timeout = 30;

// How long workers get to finish requests in flight on a graceful stop (TERM, HUP...).
export const gracefulTimeout = 30;

// How long an idle keep-alive connection stays open: longer than the idle
// timeout of the proxy or load balancer in front (often 60 s).
export const keepAlive = 65;

// How long a client may take to send its headers (408 after), and its whole request (0: no limit).
export const headersTimeout = 60;
export const requestTimeout = 0;
// How long the app may take to send its response headers (503 after, the worker serves on; 0: no deadline).
export const responseTimeout = 0;
// How long a response may wait for a client that stopped reading before the connection is closed (0: never).
export const sendTimeout = 60;

// ---------------------------------------------------------------------------
// Security

// Peers whose X-Forwarded-For and X-Forwarded-Proto are trusted ('*': all).
export const forwardedAllowIps = (process.env.FORWARDED_ALLOW_IPS ?? '127.0.0.1,::1').split(',');
// Behind a TCP load balancer that sends the PROXY protocol (HAProxy, AWS NLB): 'v1', 'v2' or 'auto';
// its header is believed only from these peers.
export const proxyProtocol = 'off';
export const proxyAllowFrom = ['127.0.0.1', '::1'];

// Request size limits, as gunicorn's (0: see docs/settings.md).
export const limitRequestLine = 4094;
export const limitRequestFields = 100;
export const limitRequestFieldSize = 8190;
export const limitRequestBody = 0;

// ---------------------------------------------------------------------------
// HTTP/2 (docs/http2.md)

// The HTTP versions the workers speak: ['h1'] (HTTP/1.x), or ['h1', 'h2'].
export const httpProtocols = ['h1'];
// h2c: HTTP/2 by prior knowledge on the HTTP/1.1 port, for --forwarded-allow-ips peers (a proxy that speaks HTTP/2 upstream).
export const http2Cleartext = false;
// Streams (requests) one HTTP/2 connection may have open at once.
export const http2MaxConcurrentStreams = 100;
// The flow-control window of each stream, in bytes: what a client may send ahead of the app's reads.
export const http2InitialWindowSize = 65535;
// The largest header list of an HTTP/2 request, in bytes (each field's name, value and 32).
export const http2MaxHeaderListSize = 65536;
// The largest frame payload a client may send, in bytes.
export const http2MaxFrameSize = 16384;
// Serve HTTP/2 to a node app too (Express and most node:http frameworks do not support Node's HTTP/2 compatibility API).
export const http2NodeApps = false;

// ---------------------------------------------------------------------------
// Server mechanics

// Change to this directory before loading the app ('' : stay).
export const chdir = '';

// The URL prefix the app is mounted at behind a proxy, e.g. '/api'.
export const rootPath = process.env.SCRIPT_NAME ?? '';

// Load the app in the master first, so that a broken app stops gwserver before any worker starts.
export const preload = false;

// The app's calling convention: 'auto' (decided from the app: see docs/app-loading.md),
// 'gateway' (environ, startResponse), 'node' (a node:http (req, res) handler) or 'fetch'.
// `interface` is a reserved word, so it is exported under another local name.
const iface = 'auto';
export { iface as interface };

// Write the master's pid to this file ('': none).
export const pidfile = '';

// The control socket gwserverctl talks to ('': $XDG_RUNTIME_DIR/gwserver/PID.ctl,
// else $TMPDIR/gwserver-UID/PID.ctl), mode 0600; noControlSocket: none at all.
export const controlSocket = '';
export const noControlSocket = false;

// After USR2, keep the old master and its workers running until you stop them
// (WINCH, then TERM), as gunicorn does. false: the old master retires by itself
// once the new master is ready.
export const keepOldMaster = false;

// Run the workers as this user and group (a name or a numeric id; '': unchanged).
export const user = '';
export const group = '';

// The file mode mask of gwserver's processes, in octal.
export const umask = 0o000;

// ---------------------------------------------------------------------------
// Process naming

// Process titles are `gwserver: master [NAME]`, `gwserver: worker [NAME]` ('': the app).
export const procName = '';

// ---------------------------------------------------------------------------
// Logging

// debug, info, warning, error or critical.
export const logLevel = 'info';

// A file for the error log, or '-' for stderr.
export const errorLogfile = '-';

// A file for the access log, '-' for stdout, '' for none.
export const accessLogfile = '';

// The access line with logFormat 'text', in gunicorn's atoms.
export const accessLogformat = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"';

// 'auto' (text in a terminal, JSON elsewhere), 'json' (one object per line) or 'text' (for people).
export const logFormat = 'auto';

// What the app prints in a worker (console.log..., stdout, stderr, Node's warnings) as error-log records.
export const captureOutput = true;

// The header carrying the request id in and out ('' : always generate, never send).
export const requestIdHeader = 'X-Request-ID';

// ---------------------------------------------------------------------------
// Metrics

// HOST:PORT for /metrics, /healthz and /readyz, served by the master ('' : off).
export const metricsBind = '';

// Upper bounds (seconds) of the request duration histogram's buckets.
export const metricsBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

// ---------------------------------------------------------------------------
// Debugging

// Restart the workers when source files change (development only).
export const reload = false;

// Check every request against the gateway contract (gateway apps only; development only).
export const validate = false;

// ---------------------------------------------------------------------------
// Server hooks
//
// Functions gwserver calls at points of its life; they may be async. A hook
// that throws is logged and gwserver carries on. `server` is the master,
// `worker` a worker, `environ` a request's environ (a node or fetch app's
// hooks get its IncomingMessage). `server.log` and `worker.log` write to the
// error log, as gunicorn's hooks do; docs/configuration.md#server-hooks.

// export function onStarting(server) {}
// export function onReload(server) {}
// export function whenReady(server) {}
// export function preFork(server, worker) {}
// export function postFork(server, worker) {
//   server.log.info('worker spawned (pid: %s)', worker.pid);
// }
// export function postWorkerInit(worker) {}
// export function workerInt(worker) {}
// export function workerTimeout(worker, stack) {
//   // The stuck worker's JavaScript stack, e.g. to send to an error tracker.
// }
// export function preRequest(worker, environ) {}
// export function postRequest(worker, environ, status) {}
// export function childExit(server, worker) {}
// export function workerExit(server, worker) {}
// export function nworkersChanged(server, newValue, oldValue) {}
// export function preExec(server) {}
// export function onExit(server) {}
