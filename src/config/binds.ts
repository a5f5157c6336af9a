/**
 * The `--bind` address syntax (gunicorn's): `HOST:PORT`, `[IPV6]:PORT`,
 * `:PORT`, `HOST`, `unix:PATH`, `fd://N`. Settings data: the validators
 * check `--bind` and `--metrics-bind` with it; the master binds
 * (src/master/sockets.ts), the metrics endpoint and `serve()` parse with it.
 * How an address is shown in logs is here too, so that the master and the
 * worker name an address alike.
 *
 * @module
 */

export type Bind =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'unix'; path: string }
  | { kind: 'fd'; fd: number };

/** Parses one `--bind` value, or throws an Error saying what is wrong with it. */
export function parseBind(spec: string): Bind {
  const s = spec.trim();
  if (s.startsWith('unix:')) {
    const path = s.slice(5);
    if (path === '') throw new Error(`"${spec}" names no socket path (use unix:/run/app.sock)`);
    return { kind: 'unix', path };
  }
  if (s.startsWith('fd://')) {
    const fd = Number(s.slice(5));
    if (!Number.isInteger(fd) || fd < 0) throw new Error(`"${spec}" is not a file descriptor number (use fd://3)`);
    return { kind: 'fd', fd };
  }
  let host: string;
  let portText: string;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) throw new Error(`"${spec}" has an unclosed "[" (use [::1]:8000)`);
    host = s.slice(1, close);
    const rest = s.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) throw new Error(`"${spec}" is not [IPV6]:PORT`);
    portText = rest === '' ? '8000' : rest.slice(1);
  } else {
    const colon = s.lastIndexOf(':');
    if (colon >= 0 && s.indexOf(':') !== colon) throw new Error(`"${spec}" looks like an IPv6 address: put it in brackets, e.g. [::1]:8000`);
    host = colon >= 0 ? s.slice(0, colon) : s;
    portText = colon >= 0 ? s.slice(colon + 1) : '8000';
    if (host === '') host = '0.0.0.0';
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new Error(`"${spec}" has no valid port (0 to 65535)`);
  }
  if (host === '') throw new Error(`"${spec}" names no host`);
  return { kind: 'tcp', host, port: Number(portText) };
}

/** How an address is shown in logs: `http://127.0.0.1:8000`, `http://[::1]:8000`, `unix:/path`. */
export function formatAddress(address: string | { address: string; port: number; family?: string } | null, bind: Bind): string {
  if (bind.kind === 'unix') return `unix:${bind.path}`;
  if (address === null || typeof address === 'string') return bind.kind === 'fd' ? `fd://${bind.fd}` : String(address);
  const host = address.address.includes(':') ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

/** An address as shown, for a server that speaks TLS (--certfile): `https://127.0.0.1:8443`; unix: and fd:// stay. */
export function secureAddress(shown: string): string {
  return shown.startsWith('http://') ? `https://${shown.slice(7)}` : shown;
}
