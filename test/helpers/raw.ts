/**
 * Raw HTTP over node:net, for tests that need exact bytes on the wire.
 */
import net from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** Everything received, as latin-1. */
  raw: string;
  /** Whether the server closed the connection. */
  closed: boolean;
}

export type Target = { port: number; host?: string } | { path: string };

/** Parses the first response in `data`; undefined while incomplete (Content-Length framing or close). */
export function parseResponse(data: Buffer, closed: boolean): RawResponse | undefined {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = data.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(head[0]!.split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  const rest = data.subarray(end + 4);
  if (status < 200 && status >= 100) return parseResponse(rest, closed);
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    if (rest.length < n) return closed ? { status, headers, body: rest, raw: data.toString('latin1'), closed } : undefined;
    return { status, headers, body: rest.subarray(0, n), raw: data.toString('latin1'), closed };
  }
  return closed ? { status, headers, body: rest, raw: data.toString('latin1'), closed } : undefined;
}

/** Sends `bytes`, resolves with the first complete response (or what arrived when the server closed). */
export function rawRequest(target: Target, bytes: string | Buffer, timeoutMs = 10_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const sock = 'path' in target ? net.connect(target.path) : net.connect(target.port, target.host ?? '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      const r = parseResponse(Buffer.concat(chunks), closed);
      if (r || closed) {
        done = true;
        clearTimeout(timer);
        sock.destroy();
        if (r) resolve(r);
        else reject(new Error(`connection closed without a response; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1'))}`));
      }
    };
    const timer = setTimeout(() => {
      done = true;
      sock.destroy();
      reject(new Error(`no complete response within ${timeoutMs} ms; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1'))}`));
    }, timeoutMs);
    sock.on('data', (d) => { chunks.push(d); finish(false); });
    sock.on('end', () => finish(true));
    sock.on('close', () => finish(true));
    sock.on('error', () => finish(true));
    sock.write(bytes);
  });
}

/** Waits for `cond` to be true, polling until `timeoutMs`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
