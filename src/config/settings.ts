/**
 * Every setting, declared once: its key, flags, type, default, validator and
 * documentation. The command line and the docs are generated from this
 * list, so a setting cannot exist in one and be missing from the other.
 * (After gunicorn's `config.py`, where each `Setting` carries all of this.)
 *
 * @module
 */
import * as v from './validators.js';

export type SettingType = 'int' | 'number' | 'string' | 'strings' | 'bool';

export interface Setting<T = unknown> {
  /** camelCase key, as in a config file. */
  name: string;
  /** Long flag, e.g. `--limit-request-line`. */
  flag: string;
  /** One-letter alias (`-b`). */
  short?: string;
  section: 'Server socket' | 'Security' | 'Logging' | 'Server mechanics' | 'Timeouts';
  type: SettingType;
  /** The default, or a function computing it from the environment. */
  default: T | ((env: NodeJS.ProcessEnv) => T);
  /** Shown in docs when the default is computed. */
  defaultDoc?: string;
  /** Turns a string (command line) or a config value into the typed value, or throws with a reason. */
  validate: (value: unknown) => T;
  /** Placeholder for the value in help text. */
  meta?: string;
  /** What it does, for `--help` (first sentence) and docs/settings.md (all). */
  doc: string;
}

function setting<T>(s: Setting<T>): Setting<T> {
  return s;
}

export const SETTINGS = [
  setting<string[]>({
    name: 'bind', flag: '--bind', short: 'b', section: 'Server socket', type: 'strings', meta: 'ADDRESS',
    default: (env) => (env.PORT ? [`0.0.0.0:${env.PORT}`] : ['127.0.0.1:8000']),
    defaultDoc: "['127.0.0.1:8000'], or ['0.0.0.0:$PORT'] when PORT is set",
    validate: v.binds,
    doc: 'The socket to bind: `HOST:PORT`, `[IPV6]:PORT`, `:PORT` (all interfaces), `unix:PATH`, or `fd://N` (an inherited file descriptor). Repeat to serve on several sockets.',
  }),
  setting<number>({
    name: 'backlog', flag: '--backlog', section: 'Server socket', type: 'int', meta: 'INT',
    default: 2048, validate: v.intIn(1, 65535),
    doc: 'The maximum number of pending connections (the listen backlog). The kernel caps it at net.core.somaxconn.',
  }),
  setting<number>({
    name: 'socketMode', flag: '--socket-mode', section: 'Server socket', type: 'int', meta: 'OCTAL',
    default: 0o666, defaultDoc: '0o666', validate: v.fileMode,
    doc: 'Permissions of `unix:` sockets gwserver creates, in octal (e.g. `660`). The default 666 lets a proxy running as another user (nginx as www-data or nobody) connect, as systemd\'s SocketMode= does; restrict it with 660 and a shared group, or with the permissions of the directory holding the socket.',
  }),
  setting<string>({
    name: 'chdir', flag: '--chdir', section: 'Server mechanics', type: 'string', meta: 'DIR',
    default: '', defaultDoc: 'the current directory', validate: v.str,
    doc: 'Change to this directory before loading the app; MODULE is resolved relative to it.',
  }),
  setting<string>({
    name: 'rootPath', flag: '--root-path', section: 'Server mechanics', type: 'string', meta: 'PATH',
    default: (env) => env.SCRIPT_NAME ?? '', defaultDoc: '$SCRIPT_NAME or empty', validate: v.rootPath,
    doc: 'The URL prefix the app is mounted at, e.g. `/api` behind a proxy that forwards `/api/...` unchanged. Requests under it get SCRIPT_NAME set to it and PATH_INFO the rest.',
  }),
  setting<string[]>({
    name: 'forwardedAllowIps', flag: '--forwarded-allow-ips', section: 'Security', type: 'strings', meta: 'ADDRESSES',
    default: (env) => (env.FORWARDED_ALLOW_IPS ?? '127.0.0.1,::1').split(','),
    defaultDoc: "'127.0.0.1,::1', or $FORWARDED_ALLOW_IPS", validate: v.addressList,
    doc: 'Peers trusted to set X-Forwarded-For and X-Forwarded-Proto (comma-separated; `*` trusts every peer). Connections over a unix socket are always trusted. From a trusted peer, REMOTE_ADDR is the right-most X-Forwarded-For address that is not itself trusted, and wsgi.url_scheme follows X-Forwarded-Proto.',
  }),
  setting<number>({
    name: 'limitRequestLine', flag: '--limit-request-line', section: 'Security', type: 'int', meta: 'BYTES',
    default: 4094, validate: v.intIn(0, 8190),
    doc: 'The longest request line (method, target and version) in bytes; longer ones get 414. 0 means no limit (up to the header size limit). As gunicorn.',
  }),
  setting<number>({
    name: 'limitRequestFields', flag: '--limit-request-fields', section: 'Security', type: 'int', meta: 'INT',
    default: 100, validate: v.intIn(0, 32768),
    doc: 'The most header fields a request may have; more get 431. 0 means 32768. As gunicorn.',
  }),
  setting<number>({
    name: 'limitRequestFieldSize', flag: '--limit-request-field-size', section: 'Security', type: 'int', meta: 'BYTES',
    default: 8190, validate: v.intIn(0, 1024 * 1024),
    doc: 'The longest header field line (`Name: value` and its CRLF) in bytes; longer ones get 431. 0 means the default, 8190, as in gunicorn.',
  }),
  setting<number>({
    name: 'limitRequestBody', flag: '--limit-request-body', section: 'Security', type: 'int', meta: 'BYTES',
    default: 0, validate: v.intIn(0, Number.MAX_SAFE_INTEGER),
    doc: 'The largest request body in bytes; 0 means no limit. A larger declared Content-Length gets 413 without calling the app; a chunked body that grows past it makes wsgi.input reads fail (and a 413 if nothing was sent).',
  }),
  setting<number>({
    name: 'keepAlive', flag: '--keep-alive', section: 'Timeouts', type: 'number', meta: 'SECONDS',
    default: 65, validate: v.numberIn(0, 3600),
    doc: 'How long an idle keep-alive connection is kept open, in seconds (0 closes after each response). The default, 65, is longer than the 60 s idle timeout of common load balancers and of nginx\'s upstream keepalive_timeout: the proxy must always be the side that closes an idle connection, or it may send a request on a connection gwserver is closing at that instant and answer 502.',
  }),
  setting<number>({
    name: 'headersTimeout', flag: '--headers-timeout', section: 'Timeouts', type: 'number', meta: 'SECONDS',
    default: 60, validate: v.numberIn(0, 3600),
    doc: 'How long a client may take to send a request\'s headers, in seconds, before it gets 408 (nginx\'s client_header_timeout is also 60 s). It stops slow-header (slowloris) clients. 0 disables it.',
  }),
  setting<number>({
    name: 'requestTimeout', flag: '--request-timeout', section: 'Timeouts', type: 'number', meta: 'SECONDS',
    default: 0, validate: v.numberIn(0, 86400),
    doc: 'How long a client may take to send a whole request, body included, in seconds, before it gets 408. The default 0 means no limit: a large upload over a slow link is not cut (Node\'s own default, 300 s, would cut it). Set it when clients reach gwserver without a proxy that enforces its own body timeout.',
  }),
  setting<string>({
    name: 'logLevel', flag: '--log-level', section: 'Logging', type: 'string', meta: 'LEVEL',
    default: 'info', validate: v.logLevel,
    doc: 'The error log\'s level: debug, info, warning, error or critical (gunicorn\'s names; trace, warn, fatal and silent work too).',
  }),
  setting<string>({
    name: 'errorLogfile', flag: '--error-logfile', section: 'Logging', type: 'string', meta: 'FILE',
    default: '-', validate: v.str,
    doc: 'Where the error log goes: a file path, or `-` for stderr. Records are JSON lines.',
  }),
] as const satisfies readonly Setting<any>[];

export type SettingName = (typeof SETTINGS)[number]['name'];

/** The merged, validated settings: one key per setting. */
export interface Config {
  bind: string[];
  backlog: number;
  socketMode: number;
  chdir: string;
  rootPath: string;
  forwardedAllowIps: string[];
  limitRequestLine: number;
  limitRequestFields: number;
  limitRequestFieldSize: number;
  limitRequestBody: number;
  keepAlive: number;
  headersTimeout: number;
  requestTimeout: number;
  logLevel: string;
  errorLogfile: string;
}

/** Every setting at its default (computed ones from `env`). */
export function defaults(env: NodeJS.ProcessEnv = process.env): Config {
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS as readonly Setting<unknown>[]) {
    out[s.name] = typeof s.default === 'function' ? (s.default as (e: NodeJS.ProcessEnv) => unknown)(env) : s.default;
  }
  return out as unknown as Config;
}
