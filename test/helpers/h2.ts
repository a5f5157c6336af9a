/**
 * HTTP/2 clients for the tests: Node's own (`h2connect`, `h2request`),
 * raw frames on a socket (`frame`, `H2_PREFACE`, `readFrames`) for what a
 * well-behaved client never sends, and the external tools (`h2load`,
 * `curl --http2-prior-knowledge`) when they are installed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import http2 from 'node:http2';
import net from 'node:net';

/** The client connection preface (RFC 9113 3.4). */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** An h2c session by prior knowledge to 127.0.0.1:port; its errors are kept, not thrown. */
export function h2connect(port: number): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const onError = (err: Error) => reject(err);
    session.once('error', onError);
    session.once('connect', () => {
      session.off('error', onError);
      session.on('error', () => {});
      resolve(session);
    });
    session.once('close', () => reject(new Error('the session closed before it was set up')));
  });
}

export interface H2Reply {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** The stream's RST_STREAM code (0: ended cleanly). */
  rstCode: number;
  /** The stream ended with END_STREAM (false: it was reset or the session went away). */
  ended: boolean;
}

/**
 * One request on `session`; resolves when its stream closes, whatever
 * happened (within `timeoutMs`). `onResponse` is called when the
 * response's head arrives.
 */
export function h2request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string | Buffer, timeoutMs = 10_000, onResponse?: () => void): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let status = 0;
    let got: http2.IncomingHttpHeaders = {};
    let ended = false;
    const timer = setTimeout(() => {
      stream.close();
      reject(new Error(`no answer to ${String(headers[':path'])} within ${timeoutMs} ms`));
    }, timeoutMs);
    stream.on('response', (h) => {
      got = h;
      status = Number(h[':status']);
      onResponse?.();
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => { ended = true; });
    stream.on('error', () => {});
    stream.on('close', () => {
      clearTimeout(timer);
      const b = Buffer.concat(chunks);
      resolve({ status, headers: got, body: b, text: b.toString(), rstCode: stream.rstCode ?? 0, ended });
    });
    if (body !== undefined) stream.end(body);
  });
}

/** One HTTP/2 frame: 9 bytes of header and the payload. */
export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(9 + payload.length);
  b.writeUIntBE(payload.length, 0, 3);
  b[3] = type;
  b[4] = flags;
  b.writeUInt32BE(streamId, 5);
  payload.copy(b, 9);
  return b;
}

/** A HEADERS block for GET / (HPACK: indexed :method GET, :path /, :scheme http, and a literal :authority). */
export const GET_ROOT = Buffer.from([0x82, 0x84, 0x86, 0x01, 0x01, 0x61]);

/** The frames in `data` (as far as they are whole): type, flags, stream, payload. */
export function readFrames(data: Buffer): Array<{ type: number; flags: number; stream: number; payload: Buffer }> {
  const out: Array<{ type: number; flags: number; stream: number; payload: Buffer }> = [];
  let off = 0;
  while (off + 9 <= data.length) {
    const len = data.readUIntBE(off, 3);
    if (off + 9 + len > data.length) break;
    out.push({ type: data[off + 3]!, flags: data[off + 4]!, stream: data.readUInt32BE(off + 5) & 0x7fffffff, payload: data.subarray(off + 9, off + 9 + len) });
    off += 9 + len;
  }
  return out;
}

/** A raw socket that keeps everything it receives. */
export function rawH2(port: number): { socket: net.Socket; received: () => Buffer; closed: Promise<void> } {
  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, received: () => Buffer.concat(chunks), closed };
}

function has(cmd: string, args: string[]): boolean {
  try {
    return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
  } catch {
    return false;
  }
}

/** Whether h2load (Debian's nghttp2-client) is installed. */
export const HAVE_H2LOAD = has('h2load', ['--version']);

/** Whether curl is installed with HTTP/2 (nghttp2). */
export const HAVE_CURL_H2 = (() => {
  try {
    return /HTTP2/.test(execFileSync('curl', ['--version'], { encoding: 'utf8' }));
  } catch {
    return false;
  }
})();

/** h2load's counts from its output. */
export function parseH2load(out: string): { total: number; succeeded: number; failed: number; errored: number; timeout: number; status2xx: number } {
  const m = /requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const s = /status codes: (\d+) 2xx/.exec(out);
  if (m === null || s === null) throw new Error(`cannot read h2load's output:\n${out}`);
  return { total: Number(m[1]), succeeded: Number(m[2]), failed: Number(m[3]), errored: Number(m[4]), timeout: Number(m[5]), status2xx: Number(s[1]) };
}
