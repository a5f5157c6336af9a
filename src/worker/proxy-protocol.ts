/**
 * The PROXY protocol (HAProxy's, versions 1 and 2): a TCP load balancer
 * that does not speak HTTP says who the client is in a header in front of
 * the connection's first bytes. The worker reads it before Node's HTTP
 * parser sees the connection, and the connection then carries the client's
 * address as its `remoteAddress`, for every interface, the access log and
 * `--forwarded-allow-ips` alike.
 *
 * Spec: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
 *
 * @module
 */
import type { Socket } from 'node:net';
import { normalizeAddress, proxyTrust, type ProxyTrust } from '../gateway/environ.js';

/** `--proxy-protocol`: which header a connection from an allowed peer must (v1, v2) or may (auto) start with. */
export type ProxyProtocolMode = 'off' | 'v1' | 'v2' | 'auto';

/** What a complete header said. */
export interface ProxyHeader {
  /** Bytes the header took at the start of the data. */
  length: number;
  /** The client, when the header names one (TCP4/TCP6 PROXY); absent for LOCAL, UNKNOWN and other families. */
  address?: string;
  port?: number;
  family?: 'IPv4' | 'IPv6';
}

/** The outcome of reading the start of a connection: need more bytes, a header, no header at all, or a bad one. */
export type ParseResult = 'more' | 'none' | { error: string } | ProxyHeader;

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ');
/** A v1 header is at most 107 bytes, CRLF included. */
const V1_MAX = 107;
const V1_LINE = /^PROXY (?:UNKNOWN(?: .*)?|(TCP4|TCP6) ([0-9A-Fa-f.:]+) ([0-9A-Fa-f.:]+) (\d{1,5}) (\d{1,5}))$/;
/** A v2 header is 16 bytes and at most 64 KiB of addresses and TLVs; anything past 4 KiB is not a real proxy's. */
const V2_MAX = 16 + 4096;

/** Whether `buf` could still be the start of `prefix` (or starts with it). */
function startsLike(buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length);
  return buf.subarray(0, n).equals(prefix.subarray(0, n));
}

/**
 * Reads a PROXY header at the start of `buf` (what the connection sent so
 * far). `accept` says which versions may be there.
 */
export function parseProxyHeader(buf: Buffer, accept: { v1: boolean; v2: boolean }): ParseResult {
  if (accept.v2 && startsLike(buf, V2_SIGNATURE)) {
    if (buf.length < 16) return 'more';
    const verCmd = buf[12]!;
    if (verCmd >> 4 !== 2) return { error: `PROXY v2: version ${verCmd >> 4}` };
    const cmd = verCmd & 0x0f;
    if (cmd > 1) return { error: `PROXY v2: command ${cmd}` };
    const fam = buf[13]!;
    const len = buf.readUInt16BE(14);
    if (16 + len > V2_MAX) return { error: `PROXY v2: ${len} bytes of addresses` };
    if (buf.length < 16 + len) return 'more';
    const length = 16 + len;
    // LOCAL (a health check of the proxy itself), or a family without an address we use.
    if (cmd === 0) return { length };
    if (fam === 0x11) {
      if (len < 12) return { error: 'PROXY v2: short TCP4 addresses' };
      const address = `${buf[16]}.${buf[17]}.${buf[18]}.${buf[19]}`;
      return { length, address, port: buf.readUInt16BE(24), family: 'IPv4' };
    }
    if (fam === 0x21) {
      if (len < 36) return { error: 'PROXY v2: short TCP6 addresses' };
      const groups: string[] = [];
      for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(16 + i * 2).toString(16));
      return { length, address: compressIPv6(groups), port: buf.readUInt16BE(48), family: 'IPv6' };
    }
    return { length };
  }
  if (accept.v1 && startsLike(buf, V1_PREFIX)) {
    const end = buf.indexOf('\r\n');
    if (end < 0) return buf.length >= V1_MAX ? { error: 'PROXY v1: no CRLF within 107 bytes' } : 'more';
    if (end + 2 > V1_MAX) return { error: 'PROXY v1: longer than 107 bytes' };
    const line = buf.toString('latin1', 0, end);
    const m = V1_LINE.exec(line);
    if (m === null) return { error: `PROXY v1: malformed header ${JSON.stringify(line.slice(0, 60))}` };
    if (m[1] === undefined) return { length: end + 2 };
    const port = Number(m[4]);
    if (port > 65535) return { error: 'PROXY v1: bad port' };
    return { length: end + 2, address: m[2]!, port, family: m[1] === 'TCP4' ? 'IPv4' : 'IPv6' };
  }
  return 'none';
}

/** The canonical text of an IPv6 address (RFC 5952, as Node writes addresses), through the URL parser. */
function compressIPv6(groups: string[]): string {
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** Settings of {@link ProxyProtocolReader}. */
export interface ProxyProtocolOptions {
  mode: ProxyProtocolMode;
  /** Peers whose PROXY header is believed (`--proxy-allow-from`). */
  allowFrom: string | string[];
  /** How long a connection may take to send its header (ms). */
  timeoutMs: number;
}

/**
 * Reads the PROXY header of each new connection, then hands the connection
 * on with its `remoteAddress` set to the client's. A connection that must
 * have a header and has none, a malformed header, or a header from a peer
 * not allowed, is closed.
 */
export class ProxyProtocolReader {
  readonly #mode: ProxyProtocolMode;
  readonly #allowed: ProxyTrust;
  readonly #timeoutMs: number;

  constructor(options: ProxyProtocolOptions) {
    this.#mode = options.mode;
    this.#allowed = proxyTrust(options.allowFrom);
    this.#timeoutMs = options.timeoutMs;
  }

  /**
   * Reads the header, then calls `next(socket)` with the rest of the bytes
   * put back in front of the socket; or calls `refuse(reason, status)` (the
   * caller answers with the status, if any, and closes the connection):
   * 400 for a malformed or missing header, 403 for a peer not allowed, none
   * for a connection that sent nothing in time.
   */
  read(socket: Socket, next: (socket: Socket) => void, refuse: (reason: string, status: 400 | 403 | undefined) => void): void {
    const mode = this.#mode;
    const allowed = this.#allowed(normalizeAddress(socket.remoteAddress ?? ''));
    const accept = { v1: mode === 'v1' || mode === 'auto', v2: mode === 'v2' || mode === 'auto' };
    let buf: Buffer = Buffer.alloc(0);
    const done = () => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      socket.pause();
    };
    const onClose = () => done();
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const r = parseProxyHeader(buf, accept);
      if (r === 'more') return;
      done();
      if (r === 'none') {
        // auto: a connection without a header is a direct client (from any peer).
        if (mode !== 'auto') return refuse(`no PROXY ${mode} header`, 400);
        socket.unshift(buf);
        return next(socket);
      }
      if ('error' in r) return refuse(r.error, 400);
      if (!allowed) return refuse(`a PROXY header from ${socket.remoteAddress}, which --proxy-allow-from does not list`, 403);
      if (r.address !== undefined) {
        Object.defineProperty(socket, 'remoteAddress', { value: r.address, configurable: true });
        Object.defineProperty(socket, 'remotePort', { value: r.port, configurable: true });
        Object.defineProperty(socket, 'remoteFamily', { value: r.family, configurable: true });
      }
      if (buf.length > r.length) socket.unshift(buf.subarray(r.length));
      next(socket);
    };
    const timer = setTimeout(() => {
      done();
      refuse('no PROXY header in time', undefined);
    }, this.#timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
  }
}
