/**
 * Test helpers for the interop adapters: a real node:http server on
 * 127.0.0.1 port 0 running a gateway app through the core handler, an
 * in-process driver that plays the server's part of the contract one pull
 * at a time, and a deferred promise (no fixed sleeps).
 */
import { Readable } from 'node:stream';
import { toNodeHandler } from '../../../src/gateway/handler.js';
import { RequestInput } from '../../../src/gateway/input.js';
import { setupTestingDefaults } from '../../../src/gateway/util.js';
import type { Application, Chunk, Environ, HeaderPair } from '../../../src/gateway/types.js';
import { listen, type Listening } from '../../helpers/http.js';
import { sink, type LogRecord } from '../../helpers/sink.js';

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export interface Served extends Listening {
  /** The log records of the core handler (serveApp). */
  records: LogRecord[];
}

/** Serves `app` with the core handler on a real socket (127.0.0.1, port 0). */
export async function serveApp(app: Application): Promise<Served> {
  const { logger, records } = sink();
  return { ...(await listen(toNodeHandler(app, { logger }))), records };
}

/** An environ for calling an app directly; `body` becomes wsgi.input with a Content-Length. */
export function environFor(partial: Partial<Environ> & Record<string, unknown> = {}, body?: Buffer | string | Readable): Environ {
  const env: Record<string, unknown> = { ...partial };
  if (body !== undefined) {
    if (body instanceof Readable) {
      env['wsgi.input'] = new RequestInput(body, {});
      env.HTTP_TRANSFER_ENCODING ??= 'chunked';
    } else {
      const buf = Buffer.from(body);
      env['wsgi.input'] = new RequestInput(Readable.from([buf]), { length: buf.length });
      env.CONTENT_LENGTH = String(buf.length);
    }
  }
  return setupTestingDefaults(env as Partial<Environ>);
}

export interface Started {
  status: string;
  headers: HeaderPair[];
}

export interface Driven {
  started: Started | undefined;
  /** Chunks written through the legacy write(). */
  written: Buffer[];
  body: any;
  iterator: Iterator<Chunk> | AsyncIterator<Chunk> | undefined;
  /** Pulls one chunk (undefined at the end). */
  pull(): Promise<Buffer | undefined>;
  /** Pulls everything left and calls close(), as the server does. */
  finish(): Promise<Buffer>;
  /** Stops the iteration and closes the body, as the server does when the client goes away. */
  stop(): Promise<void>;
}

/**
 * Calls `app` and plays the server's side of the contract, leaving each
 * pull to the test. close() is called at most once, as the server does.
 */
export async function drive(app: Application, environ: Environ): Promise<Driven> {
  const d: Driven = {
    started: undefined,
    written: [],
    body: undefined,
    iterator: undefined,
    pull: async () => {
      const it = d.iterator!;
      for (;;) {
        const r = await it.next();
        if (r.done) return undefined;
        const chunk = typeof r.value === 'string' ? Buffer.from(r.value) : Buffer.from(r.value);
        if (chunk.length > 0) return chunk;
      }
    },
    finish: async () => {
      const out: Buffer[] = [];
      for (let c = await d.pull(); c !== undefined; c = await d.pull()) out.push(c);
      await close();
      return Buffer.concat(out);
    },
    stop: async () => {
      await d.iterator?.return?.();
      await close();
    },
  };
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await d.body?.close?.();
  };
  const body = await app(environ, (status, headers) => {
    d.started = { status, headers };
    return async (chunk) => {
      d.written.push(Buffer.from(chunk as Uint8Array));
    };
  });
  d.body = body;
  const b = body as any;
  d.iterator = typeof b[Symbol.asyncIterator] === 'function' ? b[Symbol.asyncIterator]() : b[Symbol.iterator]();
  return d;
}

/** Reads a web stream to the end as text. */
export async function readAll(stream: ReadableStream<Uint8Array> | null): Promise<string> {
  if (stream === null) return '';
  const chunks: Buffer[] = [];
  const reader = stream.getReader();
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    chunks.push(Buffer.from(r.value));
  }
  return Buffer.concat(chunks).toString();
}

/** Header pairs as a lower-cased name -> values map. */
export function headerMap(headers: HeaderPair[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const [n, v] of headers) {
    const k = n.toLowerCase();
    m.set(k, [...(m.get(k) ?? []), v]);
  }
  return m;
}
