/**
 * Turns a parsed HTTP request into an environ: the CGI-style keys, one
 * `HTTP_*` key per request header (built from `rawHeaders`, because Node's
 * `headers` object drops or merges some repeats), and the scheme and client
 * address as a trusted proxy reports them.
 *
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { GatewayError } from '../errors.js';

/** Who may tell us the client's address and scheme (`--forwarded-allow-ips`). */
export type ProxyTrust = (address: string) => boolean;

/**
 * Builds the trust check from gunicorn's `--forwarded-allow-ips` syntax: a
 * comma-separated list of addresses, or `*` for every peer. Unix-socket peers
 * (no address) are always trusted: only a local process that may open the
 * socket file can connect.
 */
export function proxyTrust(list: string | string[]): ProxyTrust {
  const items = (Array.isArray(list) ? list : list.split(','))
    .map((s) => s.trim())
    .filter(Boolean)
    .map(normalizeAddress);
  if (items.includes('*')) return () => true;
  const set = new Set(items);
  return (address) => address === '' || set.has(address);
}

/** `::ffff:127.0.0.1` (an IPv4 peer on a dual-stack socket) becomes `127.0.0.1`. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

const HEADER_KEYS = new Map<string, string | null>();
const HEADER_KEYS_MAX = 2000;

/**
 * `X-Forwarded-For` -> `HTTP_X_FORWARDED_FOR`; Content-Type/Length become
 * `CONTENT_*`; a name with `_` maps to null (dropped) so that `X_Forwarded_For`
 * cannot pose as `X-Forwarded-For` once both are upper-cased.
 */
export function headerKey(name: string): string | null {
  let key = HEADER_KEYS.get(name);
  if (key !== undefined) return key;
  if (name.includes('_')) key = null;
  else {
    const upper = name.toUpperCase().replace(/-/g, '_');
    key = upper === 'CONTENT_TYPE' || upper === 'CONTENT_LENGTH' ? upper : `HTTP_${upper}`;
  }
  // Bounded so that a client sending random header names cannot grow it.
  if (HEADER_KEYS.size < HEADER_KEYS_MAX) HEADER_KEYS.set(name, key);
  return key;
}

/**
 * Adds one environ key per header in `rawHeaders` (`[name, value, name,
 * value...]`). Repeats are joined with `, `, Cookie with `; `. A repeated
 * Content-Length keeps one value (Node has checked the values agree). A
 * repeated Host or Content-Type is a 400: RFC 9112 3.2 requires it for Host,
 * and for both, picking one of the values would let the app and anything
 * that reads Node's `req.headers` (which keeps the first) disagree.
 */
export function addHeaders(environ: Record<string, unknown>, rawHeaders: string[]): void {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const key = headerKey(rawHeaders[i]!);
    if (key === null) continue;
    const value = rawHeaders[i + 1]!;
    const prev = environ[key] as string | undefined;
    if (prev === undefined || key === 'CONTENT_LENGTH') environ[key] = value;
    else if (key === 'HTTP_HOST' || key === 'CONTENT_TYPE') {
      throw new GatewayError('GW_BAD_REQUEST', `the request has more than one ${key === 'HTTP_HOST' ? 'Host' : 'Content-Type'} header`);
    } else environ[key] = prev + (key === 'HTTP_COOKIE' ? '; ' : ', ') + value;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * Percent-decodes a path and decodes it as UTF-8. A malformed `%` sequence is
 * kept as it is (as Python's `unquote` does); bytes that are not UTF-8 make
 * the request a 400.
 */
export function decodePath(raw: string): string {
  let plain = true;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 37 || c > 127) {
      plain = false;
      break;
    }
  }
  if (plain) return raw;
  // Node hands us the target as latin-1 (one char per byte): rebuild the bytes.
  const bytes = Buffer.allocUnsafe(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 37 && i + 2 < raw.length) {
      const h = hexValue(raw.charCodeAt(i + 1));
      const l = hexValue(raw.charCodeAt(i + 2));
      if (h >= 0 && l >= 0) {
        bytes[n++] = h * 16 + l;
        i += 2;
        continue;
      }
    }
    bytes[n++] = c & 0xff;
  }
  try {
    return utf8.decode(bytes.subarray(0, n));
  } catch {
    throw new GatewayError('GW_BAD_REQUEST', 'the request path is not valid UTF-8 once percent-decoded');
  }
}

// RFC 3986 3.2: [ userinfo "@" ] host [ ":" port ], host being an IP literal
// in brackets or a reg-name (unreserved, pct-encoded, sub-delims).
const AUTHORITY_RE = /^(?:[\w\-.~!$&'()*+,;=:%]*@)?(\[[0-9A-Fa-f:.]+\]|\[v[0-9A-Fa-f]+\.[\w\-.~!$&'()*+,;=:]+\]|[\w\-.~!$&'()*+,;=%]*)(?::[0-9]*)?$/;

/** The parts of a request target: the path (undecoded) and the raw query. */
export function splitTarget(target: string): { path: string; query: string; authority?: string } {
  let end = target.indexOf('#');
  if (end < 0) end = target.length;
  const q = target.indexOf('?');
  let path = q >= 0 && q < end ? target.slice(0, q) : target.slice(0, end);
  const query = q >= 0 && q < end ? target.slice(q + 1, end) : '';
  if (path.charCodeAt(0) === 47 || path === '*') return { path, query };
  // absolute-form (RFC 9112 3.2.2): the authority names the host, the rest is the path.
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/]*)(.*)$/.exec(path);
  if (m !== null) {
    // The authority becomes SERVER_NAME: it must be one (RFC 3986 3.2), and
    // an http(s) URI must name a host (RFC 9110 4.2.1).
    const host = AUTHORITY_RE.exec(m[2]!)?.[1];
    if (host === undefined || (host === '' && /^https?$/i.test(m[1]!))) {
      throw new GatewayError('GW_BAD_REQUEST', 'the authority of the absolute request target is not a valid host[:port]');
    }
    path = m[3] === '' ? '/' : m[3]!;
    const at = m[2]!.lastIndexOf('@');
    return { path, query, authority: at >= 0 ? m[2]!.slice(at + 1) : m[2]! };
  }
  throw new GatewayError('GW_BAD_REQUEST', 'the request target is neither a path nor an absolute URL');
}

/** Splits `host:port`, `[v6]:port` or `host` into name and port (`''` when absent). */
export function splitHost(host: string): [name: string, port: string] {
  if (host.charCodeAt(0) === 91) {
    const close = host.indexOf(']');
    if (close > 0) {
      return [host.slice(0, close + 1), host.charCodeAt(close + 1) === 58 ? host.slice(close + 2) : ''];
    }
    return [host, ''];
  }
  const colon = host.lastIndexOf(':');
  return colon >= 0 ? [host.slice(0, colon), host.slice(colon + 1)] : [host, ''];
}

const kPeer = Symbol('gwserver.peer');
type PeerSocket = IncomingMessage['socket'] & { [kPeer]?: [address: string, port: string] };

/**
 * The peer's address (normalised) and port, as strings; kept on the socket,
 * so that the requests of a keep-alive connection ask Node (a getter, a
 * lookup of the peer name) once.
 */
function peerOf(socket: PeerSocket): [address: string, port: string] {
  const known = socket[kPeer];
  if (known !== undefined) return known;
  const address = socket.remoteAddress;
  const port = socket.remotePort;
  const peer: [string, string] = [address === undefined ? '' : normalizeAddress(address), port === undefined ? '' : String(port)];
  // A socket that has no peer name yet (or no longer) is asked again next time.
  if (address !== undefined) socket[kPeer] = peer;
  return peer;
}

const kTls = Symbol('gwserver.tlsVariables');
type TlsPeerSocket = TLSSocket & { [kTls]?: Readonly<Record<string, string>> };

/**
 * A name as Node prints it (`X509Certificate#subject`: one `TYPE=value` a
 * line, in the certificate's order, values escaped as RFC 2253 says) in
 * RFC 2253's form: comma-separated, most specific first
 * (`CN=client,O=Example,C=US`), as mod_ssl's `SSL_CLIENT_S_DN` and nginx's
 * `$ssl_client_s_dn` give it.
 */
export function rfc2253(multiline: string): string {
  return multiline.split('\n').filter((l) => l !== '').reverse().join(',');
}

/**
 * The environ keys of a TLS connection, with mod_ssl's names (CGI's
 * `HTTPS`, and what Apache, and through it PHP and Perl apps, call them):
 * `HTTPS` (`on`), `SSL_PROTOCOL` (`TLSv1.3`), `SSL_CIPHER` (OpenSSL's
 * name), `SSL_CLIENT_VERIFY` (`SUCCESS`, or `NONE` without a client
 * certificate), and with a client certificate `SSL_CLIENT_S_DN`,
 * `SSL_CLIENT_I_DN` (RFC 2253), `SSL_CLIENT_M_SERIAL` (hex),
 * `SSL_CLIENT_V_START` and `SSL_CLIENT_V_END`. Worked out once per
 * connection (its requests share one handshake) and kept on the socket.
 */
export function tlsVariables(socket: TLSSocket): Readonly<Record<string, string>> {
  const s = socket as TlsPeerSocket;
  const known = s[kTls];
  if (known !== undefined) return known;
  const vars: Record<string, string> = { HTTPS: 'on' };
  const protocol = socket.getProtocol?.();
  if (typeof protocol === 'string') vars.SSL_PROTOCOL = protocol;
  const cipher = socket.getCipher?.();
  if (cipher) vars.SSL_CIPHER = cipher.name;
  const peer = socket.getPeerX509Certificate?.();
  if (peer === undefined) vars.SSL_CLIENT_VERIFY = 'NONE';
  else {
    // A certificate that did not verify never gets here (the worker refuses the connection); said all the same.
    vars.SSL_CLIENT_VERIFY = socket.authorized ? 'SUCCESS' : `FAILED:${String(socket.authorizationError ?? 'unknown')}`;
    vars.SSL_CLIENT_S_DN = rfc2253(peer.subject);
    vars.SSL_CLIENT_I_DN = rfc2253(peer.issuer);
    vars.SSL_CLIENT_M_SERIAL = peer.serialNumber;
    vars.SSL_CLIENT_V_START = peer.validFrom;
    vars.SSL_CLIENT_V_END = peer.validTo;
  }
  s[kTls] = Object.freeze(vars);
  return s[kTls];
}

/** Per-server settings the environ depends on. */
export interface EnvironSettings {
  /** The mount prefix (`--root-path`), `""` at the root. */
  rootPath: string;
  /** Whether more than one worker serves the app. */
  multiprocess: boolean;
  /** Who may set X-Forwarded-For / X-Forwarded-Proto. */
  trust: ProxyTrust;
}

/**
 * The request-derived part of the environ (everything but the `wsgi.input`,
 * `wsgi.errors` and `gwserver.*` objects, which the handler adds). Throws a
 * 400 GatewayError for a target that cannot be decoded.
 */
export function requestEnviron(req: IncomingMessage, settings: EnvironSettings): Record<string, unknown> {
  const socket = req.socket;
  // llhttp accepts any digit.digit version; SERVER_PROTOCOL can only say
  // HTTP/1.x, or HTTP/2.0 for a request that came over HTTP/2 (node:http2's
  // requests have their stream; node:http's have none).
  if (req.httpVersionMajor !== 1 && !(req.httpVersionMajor === 2 && (req as { stream?: unknown }).stream !== undefined)) {
    throw new GatewayError('GW_BAD_REQUEST', `HTTP/${req.httpVersionMajor}.${req.httpVersionMinor} is not HTTP/1.x`);
  }
  const target = req.url ?? '/';
  const { path, query, authority } = splitTarget(target);
  // RFC 9112 3.2.4: the asterisk-form is only for a server-wide OPTIONS.
  if (path === '*' && (target !== '*' || req.method !== 'OPTIONS')) {
    throw new GatewayError('GW_BAD_REQUEST', 'the request target "*" is only allowed with OPTIONS');
  }
  let pathInfo = path === '*' ? '*' : decodePath(path);
  let scriptName = '';
  const root = settings.rootPath;
  if (root !== '' && (pathInfo === root || pathInfo.startsWith(root + '/'))) {
    scriptName = root;
    pathInfo = pathInfo.slice(root.length);
  }
  const environ: Record<string, unknown> = {
    REQUEST_METHOD: req.method!,
    SCRIPT_NAME: scriptName,
    PATH_INFO: pathInfo,
    QUERY_STRING: query,
    SERVER_NAME: '',
    SERVER_PORT: '',
    SERVER_PROTOCOL: req.httpVersionMinor !== 0 ? 'HTTP/1.1' : req.httpVersionMajor === 2 ? 'HTTP/2.0' : 'HTTP/1.0',
    REMOTE_ADDR: '',
    REMOTE_PORT: '',
    RAW_URI: target,
  };
  addHeaders(environ, req.rawHeaders);

  const [peer, peerPort] = peerOf(socket);
  const encrypted = (socket as { encrypted?: boolean }).encrypted === true;
  let scheme: 'http' | 'https' = encrypted ? 'https' : 'http';
  if (encrypted) {
    const vars = tlsVariables(socket as TLSSocket);
    for (const key in vars) environ[key] = vars[key];
  }
  let remoteAddr = peer;
  let remotePort = peerPort;
  if (settings.trust(peer)) {
    const forwardedScheme = schemeFromHeaders(environ);
    if (forwardedScheme !== undefined) scheme = forwardedScheme;
    const xff = environ.HTTP_X_FORWARDED_FOR as string | undefined;
    if (xff !== undefined) {
      const client = clientFromForwardedFor(xff, settings.trust);
      if (client !== undefined) {
        remoteAddr = client;
        remotePort = '0';
      }
    }
  }
  environ.REMOTE_ADDR = remoteAddr;
  environ.REMOTE_PORT = remotePort;
  environ['wsgi.url_scheme'] = scheme;

  const host = authority ?? (environ.HTTP_HOST as string | undefined);
  if (host !== undefined && host !== '') {
    const [name, port] = splitHost(host);
    environ.SERVER_NAME = name;
    environ.SERVER_PORT = port !== '' ? port : scheme === 'https' ? '443' : '80';
  } else if (socket.localPort !== undefined) {
    const local = normalizeAddress(socket.localAddress ?? '');
    environ.SERVER_NAME = local.includes(':') ? `[${local}]` : local;
    environ.SERVER_PORT = String(socket.localPort);
  } else {
    // A unix socket without a Host header: nothing names the server.
    environ.SERVER_NAME = 'localhost';
    environ.SERVER_PORT = scheme === 'https' ? '443' : '80';
  }
  return environ;
}

/**
 * The scheme a trusted proxy reports (gunicorn's `secure_scheme_headers`).
 * Headers that disagree are a 400, as in gunicorn: they are a sign of a
 * client trying to pass for secure through a proxy that forwards its header.
 */
function schemeFromHeaders(environ: Record<string, unknown>): 'http' | 'https' | undefined {
  const proto = environ.HTTP_X_FORWARDED_PROTO as string | undefined;
  const protocol = environ.HTTP_X_FORWARDED_PROTOCOL as string | undefined;
  const ssl = environ.HTTP_X_FORWARDED_SSL as string | undefined;
  if (proto === undefined && protocol === undefined && ssl === undefined) return undefined;
  let result: 'http' | 'https' | undefined;
  for (const [v, secure] of [[proto, 'https'], [protocol, 'ssl'], [ssl, 'on']] as const) {
    if (v === undefined) continue;
    const s: 'http' | 'https' = v.trim().toLowerCase() === secure ? 'https' : 'http';
    if (result !== undefined && result !== s) {
      throw new GatewayError('GW_BAD_REQUEST', 'the proxy scheme headers (X-Forwarded-Proto, X-Forwarded-Protocol, X-Forwarded-Ssl) disagree');
    }
    result = s;
  }
  return result;
}

/** The right-most address in X-Forwarded-For that is not itself a trusted proxy. */
function clientFromForwardedFor(xff: string, trust: ProxyTrust): string | undefined {
  const hops = xff.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeAddress(hops[i]!.trim());
    if (hop === '') continue;
    if (i === 0 || !trust(hop)) return hop;
  }
  return undefined;
}
