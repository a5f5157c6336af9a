/**
 * `download(target, path, options)`: a GET whose body is handed to the
 * test piece by piece as it arrives, never gathered whole (a 1 GiB body
 * costs the test nothing), optionally read slowly at first: for `slow.ms`
 * the response is paused and read at most `slow.rate` bytes per second,
 * so that the kernel's buffers fill and the server has to wait. Node's
 * http client decodes the framing (chunked or Content-Length), not the
 * content coding. One fresh connection, closed at the end.
 */
import http from 'node:http';

export interface DownloadOptions {
  headers?: http.OutgoingHttpHeaders;
  method?: string;
  /** Read at most `rate` bytes per second for the first `ms` milliseconds. */
  slow?: { ms: number; rate: number };
  /** Called when the slow phase ends, before reading at full speed (e.g. to ask the app how far it got). */
  onSlowEnd?: (received: number) => unknown;
  /** Each piece of the body, in order. */
  onData?: (piece: Buffer) => void;
  /** No complete response by then rejects; 120 s by default. */
  timeoutMs?: number;
}

export interface Downloaded {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Body bytes received (as sent: still compressed, if it was). */
  bytes: number;
  /** Bytes received during the slow phase. */
  slowBytes: number;
  ms: number;
}

export function download(target: { host?: string; port: number }, path: string, o: DownloadOptions = {}): Promise<Downloaded> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    let settled = false;
    let ticker: NodeJS.Timeout | undefined;
    const req = http.request({ host: target.host ?? '127.0.0.1', port: target.port, path, method: o.method ?? 'GET', agent: false, headers: { Connection: 'close', ...o.headers } }, (res) => {
      let bytes = 0;
      let slowBytes = 0;
      const take = (piece: Buffer) => {
        bytes += piece.length;
        o.onData?.(piece);
      };
      const done = () => finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, bytes, slowBytes, ms: Date.now() - t0 });
      res.on('error', (err) => finish(err));
      res.on('end', done);
      const fast = () => {
        res.on('data', (piece: Buffer) => {
          try {
            take(piece);
          } catch (err) {
            finish(err as Error);
          }
        });
      };
      if (o.slow === undefined || o.slow.ms <= 0) return fast();
      // Paused: nothing leaves the socket but what the ticker reads.
      const { ms, rate } = o.slow;
      let allowance = 0;
      let last = Date.now();
      ticker = setInterval(() => {
        const now = Date.now();
        allowance = Math.min(allowance + (rate * (now - last)) / 1000, (rate * 40) / 1000);
        last = now;
        try {
          while (allowance > 0) {
            const piece = res.read() as Buffer | null;
            if (piece === null) break;
            allowance -= piece.length;
            slowBytes += piece.length;
            take(piece);
          }
        } catch (err) {
          finish(err as Error);
        }
      }, 20);
      setTimeout(async () => {
        clearInterval(ticker);
        ticker = undefined;
        if (settled) return;
        try {
          await o.onSlowEnd?.(slowBytes);
        } catch (err) {
          return finish(err as Error);
        }
        let piece: Buffer | null;
        while ((piece = res.read() as Buffer | null) !== null) take(piece);
        fast();
      }, ms);
    });
    const timer = setTimeout(() => finish(new Error(`GET ${path}: no complete response within ${o.timeoutMs ?? 120_000} ms`)), o.timeoutMs ?? 120_000);
    function finish(err: Error | undefined, result?: Downloaded): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (ticker !== undefined) clearInterval(ticker);
      req.destroy();
      if (err) reject(err);
      else resolve(result!);
    }
    req.on('error', (err) => finish(err));
    req.end();
  });
}
