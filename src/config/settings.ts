/**
 * Every setting, declared once: its key, flags, type, default, validator and
 * documentation. The command line, the config-file keys, `--print-config`
 * and docs/settings.md are all generated from this list, so a setting cannot
 * exist in one and be missing from another.
 * (After gunicorn's `config.py`, where each `Setting` carries all of this.)
 *
 * @module
 */
import * as v from './validators.js';

/**
 * How a value is shown and parsed: `octal` prints as `0o644`; `function` is a
 * hook, which only a config file can set.
 */
export type SettingType = 'int' | 'number' | 'string' | 'strings' | 'bool' | 'octal' | 'function';

/** The sections of docs/settings.md, in order (gunicorn's, plus Timeouts). */
export const SECTIONS = [
  'Config file',
  'Server socket',
  'TLS',
  'Worker processes',
  'Timeouts',
  'Security',
  'HTTP/2',
  'Server mechanics',
  'Process naming',
  'Logging',
  'Metrics',
  'Debugging',
  'Server hooks',
] as const;

export type Section = (typeof SECTIONS)[number];

export interface Setting<T = unknown> {
  /** camelCase key, as in a config file. */
  name: string;
  /**
   * Long flag, e.g. `--limit-request-line`. Absent for settings only a config
   * file can set (hooks, `app`): a function cannot be typed on a command line.
   */
  flag?: string;
  /** One-letter alias (`-b`). */
  short?: string;
  section: Section;
  type: SettingType;
  /** The default, or a function computing it from the environment (validated like any other value). */
  default: NoInfer<T> | ((env: NodeJS.ProcessEnv) => unknown);
  /** Shown in docs when the default is computed. */
  defaultDoc?: string;
  /** The environment variable a computed default reads (listed in the docs, named in errors). */
  env?: string;
  /**
   * gunicorn's name for the setting, when gunicorn has it. A config file may
   * use it (and the snake_case of `name`) instead of `name`, to ease migration.
   */
  gunicorn?: string;
  /** Turns a string (command line) or a config value into the typed value, or throws with a reason. */
  validate: (value: unknown) => T;
  /** Placeholder for the value in help text. */
  meta?: string;
  /** For hooks: how gwserver calls it, e.g. `postFork(server, worker)`. */
  signature?: string;
  /** What it does, for `--help` (first sentence) and docs/settings.md (all). */
  doc: string;
  /**
   * When a new value takes effect: `hup` (the default) for what the workers
   * read, which the workers a HUP starts take; `restart` for what the
   * master sets up once (its sockets, its directory, the metrics socket):
   * a HUP that changes it is told so in the log, and a restart or an
   * upgrade (USR2) applies it.
   */
  applies?: Applies;
}

/** See {@link Setting.applies}. */
export type Applies = 'hup' | 'restart';

/** When a setting's new value takes effect (see {@link Setting.applies}). */
export function appliesOn(s: Setting<unknown>): Applies {
  return s.applies ?? 'hup';
}

/** Declares a setting, keeping its name's literal type (for {@link SettingName}). */
function setting<T, const N extends string = string>(s: Setting<T> & { name: N }): Setting<T> & { name: N } {
  return s;
}

/** What a hook receives as `server`: the master (typed by src/master). */
export type HookServer = unknown;
/** What a hook receives as `worker`: the master's record of a worker, or the worker itself (typed by src/master, src/worker). */
export type HookWorker = unknown;
/** A request's environ as a hook sees it. */
export type HookEnviron = Record<string, unknown>;

/** A server hook from the config file. It may be async; gwserver awaits it where its doc says so. */
export type Hook<A extends unknown[]> = ((...args: A) => unknown) | undefined;

/** The arguments of each hook, as gwserver calls it. */
interface HookArgs {
  onStarting: [server: HookServer];
  onReload: [server: HookServer];
  whenReady: [server: HookServer];
  preFork: [server: HookServer, worker: HookWorker];
  postFork: [server: HookServer, worker: HookWorker];
  postWorkerInit: [worker: HookWorker];
  workerInt: [worker: HookWorker];
  workerTimeout: [worker: HookWorker, stack: string];
  preRequest: [worker: HookWorker, environ: HookEnviron];
  postRequest: [worker: HookWorker, environ: HookEnviron, status: string];
  childExit: [server: HookServer, worker: HookWorker];
  workerExit: [server: HookServer, worker: HookWorker];
  nworkersChanged: [server: HookServer, newValue: number, oldValue: number | undefined];
  preExec: [server: HookServer];
  onExit: [server: HookServer];
}

function hookSetting<const N extends keyof HookArgs>(name: N, gunicorn: string | undefined, signature: string, doc: string): Setting<Hook<HookArgs[N]>> & { name: N } {
  return setting<Hook<HookArgs[N]>, N>({
    name, section: 'Server hooks', type: 'function', default: undefined, defaultDoc: 'None',
    ...(gunicorn === undefined ? {} : { gunicorn }), signature, validate: v.hook as (value: unknown) => Hook<HookArgs[N]>, doc,
  });
}

const MAX_SECONDS = 86400;

export const SETTINGS = [
  // ---- Config file
  setting({
    name: 'config', flag: '--config', short: 'c', section: 'Config file', type: 'string', meta: 'FILE',
    default: '', defaultDoc: './gwserver.config.js when it exists', gunicorn: 'config', validate: v.str,
    doc: 'The config file to read: a `.js`, `.mjs` or `.cjs` module (its default export, or its named exports, are the settings) or a `.json` object. Without this flag, `./gwserver.config.js` is read when it exists in the directory gwserver starts in (before `--chdir`); a file named here must exist. Only the command line and $GWSERVER_CMD_ARGS can name it; the value shown by `--print-config` is the absolute path of the file read, or empty when none was.',
    applies: 'restart',
  }),
  setting({
    name: 'app', section: 'Config file', type: 'string', meta: 'MODULE:CALLABLE',
    default: '', gunicorn: 'wsgi_app', validate: v.str,
    doc: 'The application, `MODULE:CALLABLE`, for a config file that names it, so that `gwserver -c prod.config.js` needs nothing else. A `MODULE:CALLABLE` on the command line wins over it. Config file only.',
  }),

  // ---- Server socket
  setting({
    name: 'bind', flag: '--bind', short: 'b', section: 'Server socket', type: 'strings', meta: 'ADDRESS',
    default: (env) => (env.PORT ? [`0.0.0.0:${env.PORT}`] : ['127.0.0.1:8000']),
    defaultDoc: "['127.0.0.1:8000'], or ['0.0.0.0:$PORT'] when PORT is set", env: 'PORT', gunicorn: 'bind',
    validate: v.binds,
    doc: 'The socket to bind: `HOST:PORT`, `[IPV6]:PORT`, `:PORT` (all interfaces), `unix:PATH`, or `fd://N` (an inherited file descriptor). Repeat to serve on several sockets.',
    applies: 'restart',
  }),
  setting({
    name: 'backlog', flag: '--backlog', section: 'Server socket', type: 'int', meta: 'INT',
    default: 2048, gunicorn: 'backlog', validate: v.intIn(1, 65535),
    doc: 'The maximum number of pending connections (the listen backlog). The kernel caps it at net.core.somaxconn.',
    applies: 'restart',
  }),
  setting({
    name: 'socketMode', flag: '--socket-mode', section: 'Server socket', type: 'octal', meta: 'OCTAL',
    default: 0o666, validate: v.fileMode,
    doc: 'Permissions of `unix:` sockets gwserver creates, in octal (e.g. `660`). The default 666 lets a proxy running as another user (nginx as www-data or nobody) connect, as systemd\'s SocketMode= does; restrict it with 660 and a shared group, or with the permissions of the directory holding the socket.',
    applies: 'restart',
  }),

  // ---- TLS
  setting({
    name: 'certfile', flag: '--certfile', section: 'TLS', type: 'string', meta: 'FILE',
    default: '', defaultDoc: "'' (no TLS)", gunicorn: 'certfile', validate: v.str,
    doc: 'Serve HTTPS: the server\'s certificate, a PEM file (the certificate first, then any intermediate certificates, as a `fullchain.pem`). Every `--bind` then speaks TLS, and apps see `https`: `wsgi.url_scheme` and `HTTPS=on` for gateway apps, `req.socket.encrypted` for node apps, an `https://` URL for fetch apps. The master reads this file and `--keyfile` (they may be readable by root alone: the workers, which run as `--user`, never open them) and hands their contents to the workers over the cluster IPC channel; a HUP reads them again, and the new workers serve the new certificate while the old ones finish their connections (a file that cannot be read or does not match then is logged and the current ones stay). A file that is missing, unreadable, not PEM, or a key that does not match the certificate stops gwserver at start with one line saying so. Relative paths are relative to `--chdir`. Empty (the default): plain HTTP. See docs/tls.md.',
  }),
  setting({
    name: 'keyfile', flag: '--keyfile', section: 'TLS', type: 'string', meta: 'FILE',
    default: '', defaultDoc: "'' (the key is in --certfile)", gunicorn: 'keyfile', validate: v.str,
    doc: 'The private key of `--certfile`, a PEM file (not encrypted with a passphrase). Empty (the default): the key is read from the `--certfile` file itself, as gunicorn (Python\'s `load_cert_chain`) does.',
  }),
  setting({
    name: 'caCerts', flag: '--ca-certs', section: 'TLS', type: 'string', meta: 'FILE',
    default: '', defaultDoc: "''", gunicorn: 'ca_certs', validate: v.str,
    doc: 'The certificate authorities that sign client certificates, a PEM file of one or more certificates: what `--cert-reqs` checks a client\'s certificate against. Required with `--cert-reqs optional` or `required` (the public CAs Node.js trusts are never used for client certificates).',
  }),
  setting({
    name: 'certReqs', flag: '--cert-reqs', section: 'TLS', type: 'string', meta: 'MODE',
    default: 'none', gunicorn: 'cert_reqs', validate: v.certReqs,
    doc: 'Client certificates (mutual TLS), in gunicorn\'s (Python\'s `ssl.CERT_*`) terms: `none` or `0` (the default): none is asked for; `optional` or `1`: one is asked for, a client may send none, and one that does not verify against `--ca-certs` fails the connection; `required` or `2`: a client without a certificate that verifies is refused in the handshake. The client\'s certificate reaches gateway apps as `SSL_CLIENT_S_DN`, `SSL_CLIENT_I_DN`, `SSL_CLIENT_M_SERIAL`, `SSL_CLIENT_V_START`, `SSL_CLIENT_V_END` and `SSL_CLIENT_VERIFY` (mod_ssl\'s names; docs/gateway.md), and node and fetch apps as `req.socket.getPeerCertificate()`.',
  }),
  setting({
    name: 'ciphers', flag: '--ciphers', section: 'TLS', type: 'string', meta: 'CIPHERS',
    default: '', defaultDoc: "'' (Node.js's default list)", gunicorn: 'ciphers', validate: v.str,
    doc: 'The cipher suites to offer, an OpenSSL cipher list (e.g. `ECDHE+AESGCM:ECDHE+CHACHA20`); TLS 1.3 suite names (`TLS_AES_256_GCM_SHA384`) may be part of it. Empty (the default): Node.js\'s default list (`tls.DEFAULT_CIPHERS`), which is kept current with each Node.js release. A list that matches no cipher stops gwserver at start.',
  }),
  setting({
    name: 'tlsMinVersion', flag: '--tls-min-version', section: 'TLS', type: 'string', meta: 'VERSION',
    default: 'TLSv1.2', validate: v.tlsVersion,
    doc: 'The oldest TLS version a client may use: `TLSv1.2` (the default) or `TLSv1.3` (`1.2` and `1.3` are accepted too). TLS 1.0 and 1.1 are not offered (RFC 8996 deprecates them). It takes the place of gunicorn\'s `ssl_version`.',
  }),

  // ---- Worker processes
  setting({
    name: 'workers', flag: '--workers', short: 'w', section: 'Worker processes', type: 'int', meta: 'INT',
    default: (env) => (env.WEB_CONCURRENCY ? env.WEB_CONCURRENCY : 1),
    defaultDoc: '$WEB_CONCURRENCY, or 1', env: 'WEB_CONCURRENCY', gunicorn: 'workers', validate: v.intAtLeast(1),
    doc: 'The number of worker processes handling requests. Each worker is one Node.js process with one event loop, so start with one per CPU core (not gunicorn\'s 2-4 per core, which is for sync workers that block on I/O) and measure. The default is $WEB_CONCURRENCY, which some platforms (Heroku and others) set, or 1. TTIN and TTOU add and remove one worker at a time. With adaptive workers (`--workers-max`), the number to start with, brought within `--workers-min` and `--workers-max`.',
  }),
  setting({
    name: 'workersMin', flag: '--workers-min', section: 'Worker processes', type: 'int', meta: 'INT',
    default: 1, validate: v.intAtLeast(1),
    doc: 'Adaptive workers: the fewest workers the master keeps when the load is low (uWSGI\'s `cheaper`). Takes effect with `--workers-max`; a value other than 1 without it is a usage error. See `--workers-max`.',
  }),
  setting({
    name: 'workersMax', flag: '--workers-max', section: 'Worker processes', type: 'int', meta: 'INT',
    default: 0, validate: v.intAtLeast(0),
    doc: 'Adaptive workers: the most workers the master runs when the load is high (uWSGI\'s `processes` with `cheaper`). Set, the number of workers moves between `--workers-min` and this with the load, which each worker reports in its heartbeat: requests in flight (upgraded connections, WebSockets, not counted), its event loop\'s utilization and lag, and the connections waiting in the listen backlog (Linux, TCP). It goes up within a second or two of a burst (to as many workers as the load needs, at once), and down one worker at a time, once the load has needed fewer workers for `--workers-scale-down-delay` seconds. `--workers` (`-w`) is then the number it starts with, brought within the bounds; TTIN and TTOU move both bounds (and the count) up or down by one, and `gwserverctl add N` and `remove N` by N. Each change is logged and counted in `gwserver_workers_scaled_total`. 0 (the default): off, `-w` workers. The algorithm: docs/operations.md#adaptive-workers.',
  }),
  setting({
    name: 'workersTargetInflight', flag: '--workers-target-inflight', section: 'Worker processes', type: 'int', meta: 'INT',
    default: 16, validate: v.intIn(1, 1_000_000),
    doc: 'Adaptive workers: the requests in flight per worker the master aims for. With more than this many per worker, it adds workers; once the load would fit in fewer workers at this many each (for `--workers-scale-down-delay`), it removes one. A Node worker serves many requests at once: raise it for an app whose requests mostly wait on I/O, lower it for one that computes (the event loop\'s utilization, aimed at 75%, adds workers too).',
  }),
  setting({
    name: 'workersScaleDownDelay', flag: '--workers-scale-down-delay', section: 'Worker processes', type: 'number', meta: 'SECONDS',
    default: 30, validate: v.numberIn(0, MAX_SECONDS),
    doc: 'Adaptive workers: how long the load must have needed fewer workers before one is stopped (gracefully, the oldest first), and then between two such stops. Adding workers never waits.',
  }),
  setting({
    name: 'workerConnections', flag: '--worker-connections', section: 'Worker processes', type: 'int', meta: 'INT',
    default: 0, gunicorn: 'worker_connections', validate: v.intIn(0, 1_000_000),
    doc: 'The most connections one worker keeps open at once (WebSockets included); past it, a new connection is answered `503 Service Unavailable` with `Connection: close` at once, before its request is read, and the worker serves on. With `--scheduling round-robin` the master hands new connections to workers that have room first. 0 (the default): no limit (the file limit, `ulimit -n`, is the bound). gunicorn\'s name; there it bounds its async workers.',
  }),
  setting({
    name: 'scheduling', flag: '--scheduling', section: 'Worker processes', type: 'string', meta: 'POLICY',
    default: 'os', validate: v.oneOf('os', 'round-robin'),
    doc: 'How new connections are spread over the workers. `os` (the default): every worker accepts on the master\'s sockets and the kernel gives each connection to a worker waiting for one, so a busy or stuck worker takes none. `round-robin`: the master accepts every connection and hands it to the ready workers in turn over IPC, as node:cluster does by default. Measured on 2 cores (bench/SCHEDULING.md): with keep-alive connections both serve the same; with a new connection per request round-robin served 61% fewer requests (5,100 against 13,000 a second: every connection costs the master an accept and an IPC round trip), and a worker whose event loop got stuck was handed one more connection, which waited until `--timeout` killed that worker (another worker then served it), where `os` answered every request at once from the other worker. Hence the default. Read at start (HUP does not change it).',
    applies: 'restart',
  }),
  setting({
    name: 'maxRequests', flag: '--max-requests', section: 'Worker processes', type: 'int', meta: 'INT',
    default: 0, gunicorn: 'max_requests', validate: v.intAtLeast(0),
    doc: 'The maximum number of requests a worker handles before it is replaced: a simple way to limit the damage of memory leaks. 0 (the default) disables it. The replacement starts before the old worker stops accepting, and the old one finishes its requests in flight, so no request fails.',
  }),
  setting({
    name: 'maxRequestsJitter', flag: '--max-requests-jitter', section: 'Worker processes', type: 'int', meta: 'INT',
    default: 0, gunicorn: 'max_requests_jitter', validate: v.intAtLeast(0),
    doc: 'The maximum jitter added to `--max-requests`: each worker\'s limit is max-requests plus a random whole number from 0 to this, so that workers started together are not all replaced at the same time.',
  }),
  setting({
    name: 'maxWorkerLifetime', flag: '--max-worker-lifetime', section: 'Worker processes', type: 'number', meta: 'SECONDS',
    default: 0, validate: v.numberIn(0, 365 * MAX_SECONDS),
    doc: 'A worker that has lived this many seconds (plus its `--max-worker-lifetime-jitter`) is gracefully replaced, as with `--max-requests`: a new worker starts and is ready before the old one stops accepting, and the old one finishes its requests in flight, so the number of serving workers never drops below `--workers` (with `-w 1` too). One worker is replaced at a time: a worker whose time is up waits while another is being replaced or a reload is under way. It bounds what no request count catches: slow leaks in an idle worker, caches that grow with time, a connection pool gone stale. 0 (the default) disables it. uWSGI\'s `max-worker-lifetime`, granian\'s `--workers-lifetime`; not in gunicorn. Logged (`replacing worker N (lifetime)`) and counted in `gwserver_worker_restarts_total{reason="lifetime"}`.',
  }),
  setting({
    name: 'maxWorkerLifetimeJitter', flag: '--max-worker-lifetime-jitter', section: 'Worker processes', type: 'number', meta: 'SECONDS',
    default: 0, validate: v.numberIn(0, 365 * MAX_SECONDS),
    doc: 'The maximum jitter added to `--max-worker-lifetime`: each worker\'s lifetime is max-worker-lifetime plus a random number of seconds from 0 to this, drawn when it is forked, so that workers started together (at boot, by a reload) are not all due at the same time. uWSGI\'s `max-worker-lifetime-delta`.',
  }),
  setting({
    name: 'maxWorkerMemory', flag: '--max-worker-memory', section: 'Worker processes', type: 'int', meta: 'MIB',
    default: 0, validate: v.intAtLeast(0),
    doc: 'A worker whose resident memory (RSS) grows past this many MiB is gracefully replaced, as with `--max-requests`: a new worker starts first, the old one finishes its requests in flight. 0 (the default) disables it. Not in gunicorn.',
  }),

  // ---- Timeouts
  setting({
    name: 'timeout', flag: '--timeout', short: 't', section: 'Timeouts', type: 'number', meta: 'SECONDS',
    default: 30, gunicorn: 'timeout', validate: v.numberIn(0, MAX_SECONDS),
    doc: 'Workers silent for more than this many seconds are killed and replaced. Each worker sends a heartbeat to the master from its event loop, so a worker goes silent when its event loop is stuck: a long synchronous computation, an endless loop, a blocking call. Before it is killed, the log shows where it was stuck: the JavaScript stack of the blocked code, captured inside the worker. This is not a per-request timeout: a slow request that waits for I/O does not block the event loop and is not affected. 0 disables it.',
  }),
  setting({
    name: 'gracefulTimeout', flag: '--graceful-timeout', section: 'Timeouts', type: 'number', meta: 'SECONDS',
    default: 30, gunicorn: 'graceful_timeout', validate: v.numberIn(0, MAX_SECONDS),
    doc: 'Timeout for a graceful worker stop. After a graceful stop begins (TERM, HUP, WINCH, TTOU, an adaptive scale-down, max-requests, max-worker-memory or max-worker-lifetime), a worker stops accepting and has this many seconds to finish the requests in flight; a worker still alive after it is killed.',
  }),
  setting({
    name: 'keepAlive', flag: '--keep-alive', section: 'Timeouts', type: 'number', meta: 'SECONDS',
    default: 65, gunicorn: 'keepalive', validate: v.numberIn(0, 3600),
    doc: 'How long an idle keep-alive connection is kept open, in seconds (0 closes after each response). The default, 65, is longer than the 60 s idle timeout of common load balancers and of nginx\'s upstream keepalive_timeout: the proxy must always be the side that closes an idle connection, or it may send a request on a connection gwserver is closing at that instant and answer 502.',
  }),
  setting({
    name: 'headersTimeout', flag: '--headers-timeout', section: 'Timeouts', type: 'number', meta: 'SECONDS',
    default: 60, validate: v.numberIn(0, 3600),
    doc: 'How long a client may take to send a request\'s headers, in seconds, before it gets 408 (nginx\'s client_header_timeout is also 60 s). It stops slow-header (slowloris) clients. 0 disables it.',
  }),
  setting({
    name: 'responseTimeout', flag: '--response-timeout', section: 'Timeouts', type: 'number', meta: 'SECONDS',
    default: 0, validate: v.numberIn(0, MAX_SECONDS),
    doc: 'A deadline for the app: a request whose response headers are not sent within this many seconds of the app being called gets 503 (`Connection: close`), its abort signal fires (`gwserver.signal`, a fetch Request\'s `signal`; a node app sees the response close), its body is closed, and the worker serves on. Time spent waiting for the client\'s body does not count: a request whose body is still arriving when the deadline passes gets the whole timeout again once it is in (a slow upload is `--request-timeout`\'s business). A node app\'s later writes are dropped (`write()` returns false), never thrown. Counted in `gwserver_response_timeouts_total` and logged with the request id. 0 (the default): no deadline. A stuck event loop is `--timeout`\'s.',
  }),
  setting({
    name: 'sendTimeout', flag: '--send-timeout', section: 'Timeouts', type: 'number', meta: 'SECONDS',
    default: 60, validate: v.numberIn(0, MAX_SECONDS),
    doc: 'A client that stops reading: a connection with response bytes waiting to be sent that makes no progress for this many seconds is closed (the app sees the client go away). It bounds slow-read attacks, which keep a worker\'s responses and their memory alive by reading a byte now and then. nginx\'s `send_timeout` has the same default, 60. 0: no limit. Checked once a second.',
  }),
  setting({
    name: 'requestTimeout', flag: '--request-timeout', section: 'Timeouts', type: 'number', meta: 'SECONDS',
    default: 0, validate: v.numberIn(0, MAX_SECONDS),
    doc: 'How long a client may take to send a whole request, body included, in seconds, before it gets 408. The default 0 means no limit: a large upload over a slow link is not cut (Node\'s own default, 300 s, would cut it). Set it when clients reach gwserver without a proxy that enforces its own body timeout.',
  }),

  // ---- Security
  setting({
    name: 'forwardedAllowIps', flag: '--forwarded-allow-ips', section: 'Security', type: 'strings', meta: 'ADDRESSES',
    default: (env) => (env.FORWARDED_ALLOW_IPS ?? '127.0.0.1,::1').split(','),
    defaultDoc: "'127.0.0.1,::1', or $FORWARDED_ALLOW_IPS", env: 'FORWARDED_ALLOW_IPS', gunicorn: 'forwarded_allow_ips',
    validate: v.addressList,
    doc: 'Peers trusted to set X-Forwarded-For and X-Forwarded-Proto (comma-separated; `*` trusts every peer). Connections over a unix socket are always trusted. From a trusted peer, REMOTE_ADDR is the right-most X-Forwarded-For address that is not itself trusted, and wsgi.url_scheme follows X-Forwarded-Proto (or, as in gunicorn\'s secure_scheme_headers, X-Forwarded-Protocol: ssl and X-Forwarded-Ssl: on; headers that disagree are a 400). A proxy in front must set or clear all three (config/nginx.conf does).',
  }),
  setting({
    name: 'proxyProtocol', flag: '--proxy-protocol', section: 'Security', type: 'string', meta: 'MODE',
    default: 'off', gunicorn: 'proxy_protocol', validate: v.proxyProtocol,
    doc: 'Read the PROXY protocol header (HAProxy\'s; AWS NLB, GCP and other TCP load balancers send it) in front of each connection, and take the client\'s address from it: `REMOTE_ADDR` for gateway apps, `req.socket.remoteAddress` for node and fetch apps, the access log, and `--forwarded-allow-ips` all see the client. `v1` (text) or `v2` (binary): every connection must start with that header, from a peer in `--proxy-allow-from`; `auto`: a connection from an allowed peer may start with either, or none, and one with none is a direct client. A malformed header, or (v1, v2) a connection without one, is answered 400 and closed; a header from a peer not allowed, 403; a connection that sends nothing within `--headers-timeout` is closed. A LOCAL (v2) or UNKNOWN (v1) header keeps the proxy\'s own address. `off` (the default): no header is read.',
  }),
  setting({
    name: 'proxyAllowFrom', flag: '--proxy-allow-from', section: 'Security', type: 'strings', meta: 'ADDRESSES',
    default: ['127.0.0.1', '::1'], gunicorn: 'proxy_allow_ips', validate: v.addressList,
    doc: 'The peers whose PROXY header is believed (comma-separated; `*`: every peer, only where nothing else can reach the port). gunicorn\'s flag and default.',
  }),
  setting({
    name: 'limitRequestLine', flag: '--limit-request-line', section: 'Security', type: 'int', meta: 'BYTES',
    default: 4094, gunicorn: 'limit_request_line', validate: v.intIn(0, 8190),
    doc: 'The longest request line (method, target and version) in bytes; longer ones get 414. 0 means no limit (up to the header size limit). As gunicorn.',
  }),
  setting({
    name: 'limitRequestFields', flag: '--limit-request-fields', section: 'Security', type: 'int', meta: 'INT',
    default: 100, gunicorn: 'limit_request_fields', validate: v.intIn(0, 32768),
    doc: 'The most header fields a request may have; more get 431. 0 means 32768. As gunicorn.',
  }),
  setting({
    name: 'limitRequestFieldSize', flag: '--limit-request-field-size', section: 'Security', type: 'int', meta: 'BYTES',
    default: 8190, gunicorn: 'limit_request_field_size', validate: v.intIn(0, 1024 * 1024),
    doc: 'The longest header field line (`Name: value` and its CRLF) in bytes; longer ones get 431. 0 means the default, 8190, as in gunicorn.',
  }),
  setting({
    name: 'limitRequestBody', flag: '--limit-request-body', section: 'Security', type: 'int', meta: 'BYTES',
    default: 0, validate: v.intIn(0, Number.MAX_SAFE_INTEGER),
    doc: 'The largest request body in bytes; 0 means no limit. A larger declared Content-Length gets 413 without calling the app; a chunked body that grows past it makes wsgi.input reads fail (and a 413 if nothing was sent).',
  }),

  // ---- HTTP/2
  setting({
    name: 'httpProtocols', flag: '--http-protocols', section: 'HTTP/2', type: 'strings', meta: 'LIST',
    default: ['h1'], gunicorn: 'http_protocols', validate: v.httpProtocols,
    doc: 'The HTTP versions the workers speak, comma-separated, in order of preference: `h1` (HTTP/1.0 and 1.1) and `h2` (HTTP/2). `h1` (the default) is HTTP/1.x only, as in gunicorn. Over cleartext, `h2` takes effect with `--http2-cleartext`; over TLS it is offered through ALPN. A node app is served HTTP/1.x only unless `--http2-node-apps` is set. Each worker says at boot, in its log, which protocols it serves. Anything but `h1` and `h2` (`h3`) is a usage error. See docs/http2.md.',
  }),
  setting({
    name: 'http2Cleartext', flag: '--http2-cleartext', section: 'HTTP/2', type: 'bool',
    default: false, gunicorn: 'http2_cleartext', validate: v.http2Cleartext,
    doc: 'Serve HTTP/2 without TLS (h2c) by prior knowledge on the HTTP/1.1 port: a connection that opens with the HTTP/2 connection preface is served HTTP/2, any other HTTP/1.x, when its peer is in `--forwarded-allow-ips` (a unix socket\'s peer always is); from any other peer the preface goes to the HTTP/1.1 parser, as if this were off (gunicorn 26\'s rule). It is meant for the hop from a proxy that terminates TLS and speaks HTTP/2 upstream, and for clients on a private network (gRPC-style services, `curl --http2-prior-knowledge`); do not expose an h2c port to the internet. Needs `h2` in `--http-protocols`. The `Upgrade: h2c` mechanism (deprecated by RFC 9113) is not offered: in a config file, gunicorn\'s `prior-knowledge` means true and `off` false.',
  }),
  setting({
    name: 'http2MaxConcurrentStreams', flag: '--http2-max-concurrent-streams', section: 'HTTP/2', type: 'int', meta: 'INT',
    default: 100, gunicorn: 'http2_max_concurrent_streams', validate: v.intIn(1, 2 ** 31 - 1),
    doc: 'The most requests (streams) one HTTP/2 connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS); a client that opens more has them refused. gunicorn\'s default, 100.',
  }),
  setting({
    name: 'http2InitialWindowSize', flag: '--http2-initial-window-size', section: 'HTTP/2', type: 'int', meta: 'BYTES',
    default: 65535, gunicorn: 'http2_initial_window_size', validate: v.intIn(0, 2 ** 31 - 1),
    doc: 'How many bytes of a request body an HTTP/2 client may send ahead on each stream before the app reads them (SETTINGS_INITIAL_WINDOW_SIZE, the flow-control window). Larger windows speed up uploads over long links at the cost of memory per stream. The protocol\'s default, 65535, as gunicorn.',
  }),
  setting({
    name: 'http2MaxFrameSize', flag: '--http2-max-frame-size', section: 'HTTP/2', type: 'int', meta: 'BYTES',
    default: 16384, gunicorn: 'http2_max_frame_size', validate: v.intIn(16384, 16777215),
    doc: 'The largest frame payload an HTTP/2 client may send, in bytes (SETTINGS_MAX_FRAME_SIZE, 16384 to 16777215). The protocol\'s default, 16384, as gunicorn.',
  }),
  setting({
    name: 'http2MaxHeaderListSize', flag: '--http2-max-header-list-size', section: 'HTTP/2', type: 'int', meta: 'BYTES',
    default: 65536, gunicorn: 'http2_max_header_list_size', validate: v.intIn(1024, 2 ** 31 - 1),
    doc: 'The largest header list an HTTP/2 request may carry, in bytes as HTTP/2 counts them (each field\'s name and value plus 32), advertised as SETTINGS_MAX_HEADER_LIST_SIZE; a request over it has its stream reset (ENHANCE_YOUR_CALM). The `--limit-request-*` limits apply to HTTP/2 requests too (431). gunicorn\'s default, 65536.',
  }),
  setting({
    name: 'http2NodeApps', flag: '--http2-node-apps', section: 'HTTP/2', type: 'bool',
    default: false, validate: v.bool,
    doc: 'Serve HTTP/2 to a node app too. A node app gets the `(req, res)` of Node\'s HTTP/2 compatibility API (`Http2ServerRequest`, `Http2ServerResponse`), which Express and most node:http frameworks do not support (they reach for the socket and for internals of node:http\'s objects); so by default a node app is served HTTP/1.x only, whatever `--http-protocols` says, and the worker says so at boot. Set it for a handler you know works with the compatibility API. Gateway and fetch apps get HTTP/2 without it. Not in gunicorn.',
  }),

  // ---- Server mechanics
  setting({
    name: 'chdir', flag: '--chdir', section: 'Server mechanics', type: 'string', meta: 'DIR',
    default: '', defaultDoc: 'the current directory', gunicorn: 'chdir', validate: v.str,
    doc: 'Change to this directory before loading the app; MODULE is resolved relative to it.',
    applies: 'restart',
  }),
  setting({
    name: 'rootPath', flag: '--root-path', section: 'Server mechanics', type: 'string', meta: 'PATH',
    default: (env) => env.SCRIPT_NAME ?? '', defaultDoc: '$SCRIPT_NAME or empty', env: 'SCRIPT_NAME', validate: v.rootPath,
    doc: 'The URL prefix the app is mounted at, e.g. `/api` behind a proxy that forwards `/api/...` unchanged. Requests under it get SCRIPT_NAME set to it and PATH_INFO the rest.',
  }),
  setting({
    name: 'preload', flag: '--preload', section: 'Server mechanics', type: 'bool',
    default: false, gunicorn: 'preload_app', validate: v.bool,
    doc: 'Load the application in the master before starting the workers. Node workers are fresh processes started by node:cluster, not fork(2) copies of the master, so unlike in gunicorn this shares no memory; what it gives is one early load: an app that cannot load stops the master before any worker starts.',
    applies: 'restart',
  }),
  setting({
    name: 'interface', flag: '--interface', section: 'Server mechanics', type: 'string', meta: 'KIND',
    default: 'auto', validate: v.oneOf('auto', 'gateway', 'node', 'fetch'),
    doc: 'The calling convention the application speaks: `auto`, `gateway`, `node` or `fetch` (the flag is granian\'s). `auto` (the default): gwserver decides from what MODULE:CALLABLE names, as docs/app-loading.md lays out: an app wrapped by fromNodeHandler or fromFetch is served as what it wraps, an Express or Connect app, a Koa app or a Fastify instance as `node`, an object with a fetch method (a Hono app, `export default { fetch }`) as `fetch`, and any other function as `gateway`. `gateway`: a function `application(environ, startResponse)`, gwserver\'s own convention; a wrapped app is served through its wrapper. `node`: a node:http request listener `(req, res)`, served with the worker\'s own request and response. `fetch`: a WHATWG fetch handler `(request) => Response`, or an object with a fetch method. Name one when a bare function is not a gateway app: an app that cannot be served as the convention named fails to load, with a message saying what it is. In a config file, `interface` is a reserved word: write `export default { interface: \'node\' }`, or `const iface = \'node\'; export { iface as interface };`, not `export const interface`.',
  }),
  setting({
    name: 'pidfile', flag: '--pid', short: 'p', section: 'Server mechanics', type: 'string', meta: 'FILE',
    default: '', defaultDoc: '(none)', gunicorn: 'pidfile', validate: v.str,
    doc: 'A file to write the master\'s process id to, once the sockets are bound; it is removed when the master exits. On USR2 the old master renames it to `FILE.oldbin` and the new master writes `FILE`. Empty (the default): no pid file.',
    applies: 'restart',
  }),
  setting({
    name: 'controlSocket', flag: '--control-socket', section: 'Server mechanics', type: 'string', meta: 'PATH',
    default: '', defaultDoc: '$XDG_RUNTIME_DIR/gwserver/PID.ctl, else $TMPDIR/gwserver-UID/PID.ctl', gunicorn: 'control_socket', validate: v.unixSocketPath,
    doc: 'The unix socket the master answers `gwserverctl` on (gunicorn\'s control socket): newline-delimited JSON, one request and one reply a line, documented in docs/operations.md. It is created with mode 0600, so only the master\'s user (and root) can connect; it is never on TCP. Empty (the default): `gwserver/PID.ctl` in `$XDG_RUNTIME_DIR`, else `gwserver-UID/PID.ctl` in the temporary directory (a directory of mode 0700 that gwserver creates), PID being the master\'s: unique for every running master, so two servers on one host, systemd template instances, and an old and a new master after USR2 never share one. A path of your own (relative to `--chdir`; `unix:PATH` is PATH; a `HOST:PORT` is refused) is handed over on USR2 as the pid file: the old master\'s moves to `PATH.oldbin` and the new master binds `PATH`. See `--no-control-socket` to have none.',
    applies: 'restart',
  }),
  setting({
    name: 'noControlSocket', flag: '--no-control-socket', section: 'Server mechanics', type: 'bool',
    default: false, validate: v.bool,
    doc: 'Open no control socket: `gwserverctl` cannot reach this server (signals still work). As gunicorn\'s `--no-control-socket`.',
    applies: 'restart',
  }),
  setting({
    name: 'keepOldMaster', flag: '--keep-old-master', section: 'Server mechanics', type: 'bool',
    default: false, validate: v.bool,
    doc: 'After USR2, keep the old master and its workers running next to the new master, as gunicorn does, until you stop them yourself (WINCH, then TERM, to the pid in `PIDFILE.oldbin`). By default the old master stops its workers gracefully and exits as soon as the new master\'s workers are ready, which is what a deploy script or systemd needs. See docs/signals.md.',
  }),
  setting({
    name: 'user', flag: '--user', short: 'u', section: 'Server mechanics', type: 'string', meta: 'USER',
    default: '', defaultDoc: '(unchanged)', gunicorn: 'user', validate: v.userOrGroup,
    doc: 'Switch worker processes to run as this user: a user name, or a numeric user id. The master binds the sockets first, then the workers drop their privileges, so a root-started gwserver can serve port 80 with unprivileged workers. Empty (the default): the workers keep the master\'s user.',
  }),
  setting({
    name: 'group', flag: '--group', short: 'g', section: 'Server mechanics', type: 'string', meta: 'GROUP',
    default: '', defaultDoc: '(unchanged)', gunicorn: 'group', validate: v.userOrGroup,
    doc: 'Switch worker processes to run as this group: a group name, or a numeric group id. Empty (the default): the workers keep the master\'s group.',
  }),
  setting({
    name: 'umask', flag: '--umask', short: 'm', section: 'Server mechanics', type: 'octal', meta: 'OCTAL',
    default: 0, gunicorn: 'umask', validate: v.fileMode,
    doc: 'A bit mask for the mode of files the workers (the app) create, as process.umask, in octal, e.g. `022` or `027`. 0 (the default) leaves the umask gwserver was started with. (gunicorn applies its umask to the unix sockets it creates; gwserver has --socket-mode for those.)',
  }),

  // ---- Process naming
  setting({
    name: 'procName', flag: '--name', short: 'n', section: 'Process naming', type: 'string', meta: 'NAME',
    default: '', defaultDoc: '(the application)', gunicorn: 'proc_name', validate: v.str,
    doc: 'A name for ps and top: processes are titled `gwserver: master [NAME]` and `gwserver: worker [NAME]`. Empty (the default) uses the application, MODULE:CALLABLE.',
  }),

  // ---- Logging
  setting({
    name: 'logLevel', flag: '--log-level', section: 'Logging', type: 'string', meta: 'LEVEL',
    default: 'info', gunicorn: 'loglevel', validate: v.logLevel,
    doc: 'The error log\'s level: debug, info, warning, error or critical (gunicorn\'s names; trace, warn, fatal and silent work too).',
  }),
  setting({
    name: 'errorLogfile', flag: '--error-logfile', section: 'Logging', type: 'string', meta: 'FILE',
    default: '-', gunicorn: 'errorlog', validate: v.str,
    doc: 'Where the error log goes: a file path, or `-` for stderr. Records are JSON lines, or text lines on a terminal (see --log-format). USR1 reopens the file (for logrotate).',
  }),
  setting({
    name: 'accessLogfile', flag: '--access-logfile', section: 'Logging', type: 'string', meta: 'FILE',
    default: '', defaultDoc: "'' (no access log)", gunicorn: 'accesslog', validate: v.str,
    doc: 'Where the access log goes: a file path, or `-` for stdout. Empty (the default): no access log, as in gunicorn. One record per request, written when the response ends or the client goes away: a JSON line (see docs/observability.md for the fields), or a line in --access-logformat with `--log-format text` and on a terminal. USR1 reopens the file (for logrotate).',
  }),
  setting({
    name: 'accessLogformat', flag: '--access-logformat', section: 'Logging', type: 'string', meta: 'STRING',
    default: '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"', gunicorn: 'access_log_format', validate: v.accessLogFormat,
    doc: 'The access log line in text mode (`--log-format text`), in gunicorn\'s atoms: `%(h)s` remote address, `%(t)s` time, `%(r)s` request line, `%(s)s` status, `%(b)s` response bytes, `%(f)s` referer, `%(a)s` user agent, `%(L)s` seconds, `%(M)s` milliseconds, `%({name}i)s` a request header, `%({name}o)s` a response header, and the rest listed in docs/observability.md. Values are escaped: a client cannot forge a line.',
  }),
  setting({
    name: 'logFormat', flag: '--log-format', section: 'Logging', type: 'string', meta: 'FORMAT',
    default: 'auto', validate: v.oneOf('auto', 'json', 'text'),
    doc: 'How log records are written: `auto` (the default), text in a terminal and JSON otherwise; `json`; or `text`. `json` is one JSON object per line, for a log pipeline; `text` is for people: error records as `[time] [pid] [LEVEL] message key=value` (without the fields the message already says), access records in --access-logformat. With `auto`, each log decides for itself: the error log is text when it goes to stderr (`--error-logfile -`) and stderr is a terminal, the access log when it goes to stdout (`--access-logfile -`) and stdout is a terminal; a file, a pipe (`| jq`, `| npx pino-pretty --singleLine`) or the journal gets JSON. The master decides, and its workers follow it. Give `json` or `text` to have the same everywhere.',
  }),
  setting({
    name: 'captureOutput', flag: '--capture-output', section: 'Logging', type: 'bool',
    default: true, gunicorn: 'capture_output', validate: v.bool,
    doc: 'Make what the app prints in a worker (console, stdout, stderr, Node\'s warnings) records of the error log, with the worker\'s `worker_id`. `console.log` and `console.info` become `info` records, `console.warn` `warn`, `console.error` `error`, `console.debug` `debug` (shown with `--log-level debug`), each formatted as console does (`util.format`), with `source: "console"`; lines written to `process.stdout` or `process.stderr` directly (morgan, debug) become `info` or `error` records with `source: "stdout"` or `"stderr"`; a line that is a JSON object already (the app\'s own JSON logger) is left as it is; Node\'s warnings (`process.emitWarning`, deprecations) become `warn` records with the warning\'s name in `warning` and its `code`. So nothing raw lands between JSON lines, and in a terminal an app\'s lines read as gwserver\'s own. gunicorn\'s name; gunicorn has it off by default and sends the raw output to the error log file, gwserver has it on. `--capture-output false` (or `captureOutput: false` in a config file) leaves the workers\' stdout and stderr alone. The records carry no request id (docs/observability.md says why).',
  }),
  setting({
    name: 'requestIdHeader', flag: '--request-id-header', section: 'Logging', type: 'string', meta: 'NAME',
    default: 'X-Request-ID', validate: v.headerNameOrEmpty,
    doc: 'The request header whose value becomes the request id (kept when it is 1 to 200 characters of letters, digits and `-_.:+=/@~`; otherwise gwserver makes one), and the response header that returns it (unless the application set that header). The id is `gwserver.request_id` in the environ and `request_id` in every log record of the request. Empty: ids are always made by gwserver and not sent back.',
  }),

  // ---- Metrics
  setting({
    name: 'metricsBind', flag: '--metrics-bind', section: 'Metrics', type: 'string', meta: 'ADDRESS',
    default: '', defaultDoc: "'' (off)", validate: v.metricsBind,
    doc: 'Serve Prometheus metrics (`/metrics`, the counts of all workers together) and the health checks (`/healthz`, `/readyz`) on this `HOST:PORT`, from the master. Empty (the default): off. It must not be one of the application\'s addresses (--bind): keep it on a private interface, e.g. `127.0.0.1:9100`.',
    applies: 'restart',
  }),
  setting({
    name: 'metricsBuckets', flag: '--metrics-buckets', section: 'Metrics', type: 'string', meta: 'LIST',
    default: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], validate: v.bucketList,
    doc: 'The upper bounds, in seconds, of the buckets of `gwserver_http_request_duration_seconds`: comma-separated numbers (or an array in a config file), ascending. The default is Prometheus\'s.',
    applies: 'restart',
  }),

  // ---- Debugging
  setting({
    name: 'reload', flag: '--reload', section: 'Debugging', type: 'bool',
    default: false, gunicorn: 'reload', validate: v.bool,
    doc: 'Reload the workers (as on HUP) when a source file changes: `.js`, `.mjs`, `.cjs`, `.ts`, `.json` files under the app\'s directory, outside node_modules and hidden directories. For development only.',
    applies: 'restart',
  }),
  setting({
    name: 'validate', flag: '--validate', section: 'Debugging', type: 'bool',
    default: false, validate: v.bool,
    doc: 'Run the application under the validator (`validator(app)`, docs/toolkit.md), which checks every request against the gateway contract on both sides: a broken rule is a 500 and an error record naming it (`validator (application): ...`). For development: it adds checks to every request. Gateway apps only: with a node or fetch app (--interface), gwserver says so in one line and exits with code 4. Not in gunicorn (wsgiref.validate is Python\'s).',
  }),

  // ---- Server hooks (config file only)
  hookSetting('onStarting', 'on_starting', 'onStarting(server)',
    'Called in the master just before it starts: before the sockets are bound and any worker is started.'),
  hookSetting('onReload', 'on_reload', 'onReload(server)',
    'Called in the master on HUP, after the configuration was read again and before new workers are started.'),
  hookSetting('whenReady', 'when_ready', 'whenReady(server)',
    'Called in the master once the workers listen: gwserver is ready to serve.'),
  hookSetting('preFork', 'pre_fork', 'preFork(server, worker)',
    'Called in the master just before a worker process is started.'),
  hookSetting('postFork', 'post_fork', 'postFork(server, worker)',
    'Called in the master just after a worker process was started. (Node starts a new process rather than forking this one: code that must run inside the worker goes in postWorkerInit.)'),
  hookSetting('postWorkerInit', 'post_worker_init', 'postWorkerInit(worker)',
    'Called in a worker once it has loaded the application, before it accepts requests.'),
  hookSetting('workerInt', 'worker_int', 'workerInt(worker)',
    'Called in a worker when it receives INT or QUIT (a quick stop).'),
  hookSetting('workerTimeout', undefined, 'workerTimeout(worker, stack)',
    'Called in the master when a worker missed `--timeout`, before it is killed, with `stack`: the JavaScript stack where the worker\'s event loop was stuck (a string; empty when it could not be captured). It takes the place of gunicorn\'s worker_abort, which runs inside the stuck worker: a stuck Node worker cannot run a hook.'),
  hookSetting('preRequest', 'pre_request', 'preRequest(worker, environ)',
    'Called in a worker just before the application is called for a request.'),
  hookSetting('postRequest', 'post_request', 'postRequest(worker, environ, status)',
    'Called in a worker after a request was handled, with the response status (e.g. `\'200 OK\'`).'),
  hookSetting('childExit', 'child_exit', 'childExit(server, worker)',
    'Called in the master just after a worker process exited, whatever the reason.'),
  hookSetting('workerExit', 'worker_exit', 'workerExit(server, worker)',
    'Called in the master just after a worker it stopped (reload, recycling, scale-down, shutdown) has exited; childExit is called for every exit.'),
  hookSetting('nworkersChanged', 'nworkers_changed', 'nworkersChanged(server, newValue, oldValue)',
    'Called in the master when the number of workers changes (TTIN, TTOU, a HUP that changed `workers`); `oldValue` is undefined the first time.'),
  hookSetting('preExec', 'pre_exec', 'preExec(server)',
    'Called in the master just before a new master is executed on USR2.'),
  hookSetting('onExit', 'on_exit', 'onExit(server)',
    'Called in the master just before gwserver exits.'),
] as const satisfies readonly Setting<any>[];

export type SettingName = (typeof SETTINGS)[number]['name'];

/** The type of value a setting's validator produces. */
type ValueOf<S> = S extends { validate: (value: unknown) => infer T } ? T : never;

/**
 * The merged, validated settings: one key per setting, of the type its
 * validator returns, frozen once resolved (src/config/load.ts). Derived
 * from {@link SETTINGS}: a setting added there is a key here.
 */
export type Config = { -readonly [S in (typeof SETTINGS)[number] as S['name']]: ValueOf<S> };

/** The names of the hooks, for callers that run them by name. */
export type HookName = keyof HookArgs;

/** Looks a setting up by its camelCase name. */
export const SETTING_BY_NAME: ReadonlyMap<string, Setting<unknown>> = new Map(
  (SETTINGS as readonly Setting<unknown>[]).map((s) => [s.name, s]),
);

/** The raw default of a setting (computed ones from `env`), before validation. */
export function rawDefault(s: Setting<unknown>, env: NodeJS.ProcessEnv): unknown {
  return typeof s.default === 'function' && s.type !== 'function'
    ? (s.default as (e: NodeJS.ProcessEnv) => unknown)(env)
    : s.default;
}

/** Every setting at its default (computed ones from `env`), validated. Throws if an environment variable holds a bad value. */
export function defaults(env: NodeJS.ProcessEnv = process.env): Config {
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS as readonly Setting<unknown>[]) out[s.name] = s.validate(rawDefault(s, env));
  return out as unknown as Config;
}

/**
 * The defaults, one table for every reader: the worker's HTTP layer, the
 * gateway handler and `serve()` fall back on these when an option is not
 * given, so that a default is written once, in its setting. Computed ones
 * are taken without the environment ($PORT, $WEB_CONCURRENCY... are the
 * command line's business).
 */
export const DEFAULTS: Readonly<Config> = Object.freeze(defaults({}));

/**
 * What a HUP applies: `next`, with each setting that takes effect only on
 * a restart kept at its `current` value; `kept` names those that changed
 * (for the warning the arbiter logs).
 */
export function onHup(current: Readonly<Config>, next: Readonly<Config>): { config: Config; kept: Array<{ name: SettingName; flag: string | undefined; now: unknown; next: unknown }> } {
  const config = { ...next } as Record<string, unknown>;
  const kept: Array<{ name: SettingName; flag: string | undefined; now: unknown; next: unknown }> = [];
  const was = current as unknown as Record<string, unknown>;
  for (const s of SETTINGS as readonly Setting<unknown>[]) {
    if (appliesOn(s) !== 'restart') continue;
    const a = was[s.name];
    const b = config[s.name];
    if (a === b || JSON.stringify(a) === JSON.stringify(b)) continue;
    kept.push({ name: s.name as SettingName, flag: s.flag, now: a, next: b });
    config[s.name] = a;
  }
  return { config: config as unknown as Config, kept };
}
