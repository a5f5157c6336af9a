/**
 * Response compression: `compress(options)` is a middleware that encodes
 * the app's responses with brotli, gzip, or zstd where Node has it, as the
 * request's Accept-Encoding allows.
 *
 * It streams: each chunk the app yields (or writes) is compressed and
 * flushed before the next one is pulled, so server-sent events and other
 * slow streams reach the client as they are produced, and memory stays at
 * one chunk and one compressor per response whatever the length. A body
 * whose size is known (an array) is compressed in one go and keeps a
 * Content-Length.
 *
 * It leaves alone what must not or need not change: HEAD bodies (the
 * headers still say what GET would send), 1xx, 204, 206 and 304 responses,
 * a response with Content-Encoding or Content-Range, `Cache-Control:
 * no-transform`, types that do not compress (images, video, archives) and
 * bodies under the threshold. What it changes: Content-Encoding added,
 * Content-Length and Accept-Ranges removed (they described the identity
 * bytes), a strong ETag made weak, and `Vary: Accept-Encoding` on every
 * response whose coding depends on the request, compressed or not.
 *
 * @module
 */
import zlib from 'node:zlib';
import { contractError } from '../errors.js';
import { byteLength, isThenable } from '../gateway/exchange.js';
import type { Application, Body, Chunk, Environ, HeaderPair, Middleware, StartResponse, Write } from '../gateway/types.js';
import { acceptedCodings, CODINGS, isCompressible, type Coding } from './encoding.js';

/** Options of {@link compress}. */
export interface CompressOptions {
  /**
   * The codings offered, in order of preference when the client likes
   * several as much: br, zstd (where Node has it), gzip by default. A
   * coding this Node cannot produce is left out.
   */
  encodings?: readonly Coding[];
  /** Bodies smaller than this many bytes, when their size is known, are sent as they are: 1024 by default. */
  threshold?: number;
  /**
   * Compression levels: gzip 1-9 (6 by default), br 0-11 (4 by default:
   * fast enough to stream, where 11 is ~20 times slower), zstd 1-22 (3 by
   * default).
   */
  level?: Partial<Record<Coding, number>>;
  /**
   * brotli's window, as a power of two (10-24): 18 by default (256 KiB),
   * which costs about 1.8 MiB per response being compressed against 5.2
   * MiB for brotli's own default of 22, for nearly the same size on text.
   */
  brotliWindowBits?: number;
  /** Which responses to compress, by Content-Type: by default the types mime-db says compress, and text. */
  filter?: (contentType: string | undefined, environ: Environ) => boolean;
  /**
   * Flush the compressor after every chunk the app yields or writes, so
   * that each one reaches the client at once (server-sent events, progress
   * streams); true by default. False compresses a stream of many small
   * chunks better, sending output only as the compressor fills.
   */
  flush?: boolean;
}

interface Settings {
  offered: readonly Coding[];
  threshold: number;
  level: Record<Coding, number>;
  brotliWindowBits: number;
  filter: (contentType: string | undefined, environ: Environ) => boolean;
  flush: boolean;
}

const ZSTD_FLUSH = (zlib.constants as unknown as Record<string, number>).ZSTD_e_flush;
const ZSTD_CONTINUE = (zlib.constants as unknown as Record<string, number>).ZSTD_e_continue;
const ZSTD_LEVEL = (zlib.constants as unknown as Record<string, number>).ZSTD_c_compressionLevel;

type ZlibStream = zlib.Gzip | zlib.BrotliCompress;

/** Known bodies up to this size are compressed on the spot: the thread pool's round trip would cost more CPU than the work. */
const SYNC_LIMIT = 64 * 1024;

/** The smallest window (as a power of two) that holds `size` bytes, within [min, max]. */
function windowFor(size: number | undefined, min: number, max: number): number {
  if (size === undefined) return max;
  const bits = Math.ceil(Math.log2(Math.max(size, 1)));
  return Math.min(max, Math.max(min, bits));
}

/**
 * Compressor options for one response. A window larger than the body
 * would only cost memory to set up (and zero): a body of known size gets
 * one that just holds it.
 */
function streamOptions(coding: Coding, s: Settings, sizeHint: number | undefined, text: boolean, flush: boolean): object {
  const c = zlib.constants;
  if (coding === 'gzip') return { level: s.level.gzip, windowBits: windowFor(sizeHint, 9, 15), flush: flush ? c.Z_SYNC_FLUSH : c.Z_NO_FLUSH };
  if (coding === 'br') {
    const params: Record<number, number> = {
      [c.BROTLI_PARAM_QUALITY]: s.level.br,
      [c.BROTLI_PARAM_LGWIN]: windowFor(sizeHint, 10, s.brotliWindowBits),
      [c.BROTLI_PARAM_MODE]: text ? c.BROTLI_MODE_TEXT : c.BROTLI_MODE_GENERIC,
    };
    if (sizeHint !== undefined) params[c.BROTLI_PARAM_SIZE_HINT] = sizeHint;
    return { flush: flush ? c.BROTLI_OPERATION_FLUSH : c.BROTLI_OPERATION_PROCESS, params };
  }
  return { flush: flush ? ZSTD_FLUSH : ZSTD_CONTINUE, params: { [ZSTD_LEVEL as number]: s.level.zstd } };
}

function createStream(coding: Coding, options: object): ZlibStream {
  if (coding === 'gzip') return zlib.createGzip(options);
  if (coding === 'br') return zlib.createBrotliCompress(options);
  return (zlib as unknown as { createZstdCompress(o: object): ZlibStream }).createZstdCompress(options);
}

/**
 * The same compression in one call, for a body whose bytes are all known:
 * on the spot up to SYNC_LIMIT (a 10 KiB page takes some tens of
 * microseconds, less than a trip through libuv's thread pool costs), in
 * the thread pool above.
 */
function compressAll(coding: Coding, options: object, input: Uint8Array): Buffer | Promise<Buffer> {
  if (input.length <= SYNC_LIMIT) {
    type Sync = (input: Uint8Array, options: object) => Buffer;
    const z = zlib as unknown as Record<'gzipSync' | 'brotliCompressSync' | 'zstdCompressSync', Sync>;
    return (coding === 'gzip' ? z.gzipSync : coding === 'br' ? z.brotliCompressSync : z.zstdCompressSync)(input, options);
  }
  type OneShot = (input: Uint8Array, options: object, cb: (err: Error | null, out: Buffer) => void) => void;
  const z = zlib as unknown as Record<'gzip' | 'brotliCompress' | 'zstdCompress', OneShot>;
  const fn = coding === 'gzip' ? z.gzip : coding === 'br' ? z.brotliCompress : z.zstdCompress;
  return new Promise((resolve, reject) => {
    fn(input, options, (err, out) => (err ? reject(err) : resolve(out)));
  });
}

/**
 * One response's compressor. Each push() hands a chunk to zlib and
 * resolves, once zlib is done with it, with the output it produced: with
 * a flush mode set at creation, zlib flushes every write, and its output
 * is all emitted before the write's callback runs ('data' is listened to,
 * so the stream never holds its output back waiting for a reader).
 */
class Encoder {
  readonly #z: ZlibStream;
  #out: Buffer[] = [];
  #error: Error | undefined;

  constructor(coding: Coding, options: object) {
    this.#z = createStream(coding, options);
    this.#z.on('data', (d: Buffer) => this.#out.push(d));
    this.#z.on('error', (err: Error) => (this.#error = err));
  }

  #take(): Buffer[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }

  push(chunk: Uint8Array): Promise<Buffer[]> {
    return new Promise((resolve, reject) => {
      this.#z.write(chunk, (err) => {
        const e = err ?? this.#error;
        if (e) reject(e);
        else resolve(this.#take());
      });
    });
  }

  /** Ends the stream; resolves with the rest of the output (the trailer). */
  finish(): Promise<Buffer[]> {
    return new Promise((resolve, reject) => {
      if (this.#error) return reject(this.#error);
      this.#z.once('end', () => resolve(this.#take()));
      this.#z.once('error', reject);
      this.#z.end();
    });
  }

  /** Frees zlib's memory now rather than at garbage collection. */
  destroy(): void {
    this.#z.destroy();
  }
}

const toBuffer = (chunk: Chunk): Uint8Array => (typeof chunk === 'string' ? Buffer.from(chunk) : chunk);

/** The status code of a status line, NaN when it has none. */
const statusCode = (status: unknown) => (typeof status === 'string' ? Number.parseInt(status.slice(0, 3), 10) : Number.NaN);

/** What to do with one response, decided from its status and headers. */
interface Plan {
  headers: HeaderPair[];
  compress: boolean;
  contentType: string | undefined;
  length: number | undefined;
}

/**
 * Whether a response's coding depends on the request and, if it does and
 * `coding` is set, the headers of its compressed form. `size` is the
 * body's size when the body is known (an array) and the app gave no
 * Content-Length.
 */
function plan(s: Settings, environ: Environ, status: string, headers: HeaderPair[], size: number | undefined, coding: Coding | undefined): Plan {
  const same: Plan = { headers, compress: false, contentType: undefined, length: undefined };
  if (!Array.isArray(headers)) return same;
  const code = statusCode(status);
  // 206 is a range of the identity bytes; 204 and 304 have no body; 1xx are not the app's.
  if (!(code >= 200) || code === 204 || code === 206 || code === 304) return same;
  let contentType: string | undefined;
  let length: number | undefined;
  let varied = false;
  for (const pair of headers) {
    if (!Array.isArray(pair) || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') return same;
    const name = pair[0].toLowerCase();
    const value = pair[1];
    if (name === 'content-encoding' || name === 'content-range') return same;
    if (name === 'cache-control' && /(?:^|,)\s*no-transform\s*(?:,|$)/i.test(value)) return same;
    if (name === 'content-type') contentType ??= value;
    else if (name === 'content-length') length = /^\d+$/.test(value.trim()) ? Number(value) : undefined;
    else if (name === 'vary' && /(?:^|,)\s*(?:\*|accept-encoding)\s*(?:,|$)/i.test(value)) varied = true;
  }
  const known = length ?? size;
  if (known === 0 || (known !== undefined && known < s.threshold)) return same;
  if (!s.filter(contentType, environ)) return same;
  // From here the coding depends on Accept-Encoding, compressed this time or not.
  const out: HeaderPair[] = [];
  for (const pair of headers) {
    const name = pair[0].toLowerCase();
    if (coding !== undefined) {
      if (name === 'content-length' || name === 'accept-ranges') continue;
      // RFC 9110 8.8.3: another coding is other bytes; the strong tag described the identity ones.
      if (name === 'etag' && pair[1].startsWith('"')) {
        out.push([pair[0], `W/${pair[1]}`]);
        continue;
      }
    }
    out.push(pair);
  }
  if (!varied) out.push(['Vary', 'Accept-Encoding']);
  if (coding === undefined) return { headers: out, compress: false, contentType, length: known };
  out.push(['Content-Encoding', coding]);
  return { headers: out, compress: true, contentType, length: known };
}

/** A body that yields nothing and closes the app's (a HEAD whose GET would be compressed: no identity Content-Length). */
function emptyBody(body: unknown): Body {
  const close = typeof (body as { close?: unknown } | null)?.close === 'function' ? () => (body as { close(): unknown }).close() : undefined;
  return { [Symbol.iterator]: () => [][Symbol.iterator](), close: close as (() => void) | undefined };
}

/**
 * One request whose client accepts `coding`. startResponse is held back
 * until the body is known (when the app returns an array, its size decides
 * against the threshold), the first chunk is pulled, or the app writes;
 * then the real startResponse gets the planned headers.
 */
class CompressedResponse {
  readonly #environ: Environ;
  readonly #start: StartResponse;
  readonly #coding: Coding;
  readonly #s: Settings;
  readonly #head: boolean;
  #pending: { status: string; headers: HeaderPair[] } | undefined;
  #committed = false;
  #plan: Plan | undefined;
  #write: Write | undefined;
  #encoder: Encoder | undefined;
  /** write() calls in order, each waiting for the one before (an app may not await them). */
  #writes: Promise<void> = Promise.resolve();

  constructor(environ: Environ, start: StartResponse, coding: Coding, s: Settings) {
    this.#environ = environ;
    this.#start = start;
    this.#coding = coding;
    this.#s = s;
    this.#head = environ.REQUEST_METHOD === 'HEAD';
  }

  readonly startResponse: StartResponse = (status, headers, excInfo) => {
    if (this.#committed) {
      // The app replaces its response (excInfo): the real startResponse decides whether it still can.
      const p = plan(this.#s, this.#environ, status, headers, undefined, this.#coding);
      this.#write = this.#start(status, p.headers, excInfo);
      this.#plan = p;
      this.#encoder?.destroy();
      this.#encoder = undefined;
      return this.#appWrite;
    }
    if (this.#pending !== undefined && excInfo === undefined) throw contractError('startResponse was called a second time without excInfo');
    this.#pending = { status, headers };
    return this.#appWrite;
  };

  /** Calls the real startResponse with the planned headers, once. */
  #commit(size: number | undefined): void {
    if (this.#committed || this.#pending === undefined) return;
    const { status, headers } = this.#pending;
    const p = plan(this.#s, this.#environ, status, headers, size, this.#coding);
    this.#write = this.#start(status, p.headers);
    this.#committed = true;
    this.#plan = p;
  }

  get #compressing(): boolean {
    return this.#plan !== undefined && this.#plan.compress && !this.#head;
  }

  #options(flush: boolean): object {
    const p = this.#plan!;
    return streamOptions(this.#coding, this.#s, p.length, p.contentType !== undefined && /^text\/|json|xml|javascript/i.test(p.contentType), flush);
  }

  #encoderNow(): Encoder {
    return (this.#encoder ??= new Encoder(this.#coding, this.#options(this.#s.flush)));
  }

  readonly #appWrite: Write = (chunk) => {
    const run = this.#writes.then(() => this.#writeNow(chunk));
    // The chain goes on after a failed write; the app sees the failure through `run`.
    this.#writes = run.catch(() => undefined);
    return run;
  };

  async #writeNow(chunk: Chunk): Promise<void> {
    this.#commit(undefined);
    if (!this.#compressing) return this.#write!(chunk);
    if (byteLength(chunk) === 0) return;
    for (const out of await this.#encoderNow().push(toBuffer(chunk))) await this.#write!(out);
  }

  /** The body the server gets in place of the app's. */
  body(body: unknown): Body | Promise<Body> {
    if (body === undefined || body === null || (this.#pending === undefined && !this.#committed && (typeof body === 'string' || body instanceof Uint8Array || Array.isArray(body)))) {
      // Broken (no body, or a complete body without startResponse): the server says what is wrong.
      return body as Body;
    }
    const known = typeof body === 'string' || body instanceof Uint8Array ? [body] : Array.isArray(body) ? body : undefined;
    if (known !== undefined && !this.#committed) {
      let size: number | undefined = 0;
      try {
        for (const c of known) size += byteLength(c);
      } catch {
        // A chunk that is no chunk: pass it on unchanged, for the server to refuse.
        size = 0;
      }
      this.#commit(size);
      if (!this.#plan!.compress) return body as Body;
      if (this.#head) return emptyBody(body);
      return this.#compressKnown(known, body);
    }
    // startResponse came before the body: its headers decide now, and a body
    // that stays as it is goes to the server untouched (a FileWrapper keeps its size).
    this.#commit(undefined);
    if (this.#committed && !this.#plan!.compress) return body as Body;
    if (this.#committed && this.#head) return emptyBody(body);
    return this.#stream(body);
  }

  #compressKnown(chunks: readonly unknown[], body: unknown): Body | Promise<Body> {
    const input = chunks.length === 1 ? toBuffer(chunks[0] as Chunk) : Buffer.concat(chunks.map((c) => toBuffer(c as Chunk)));
    const close = (body as { close?: unknown }).close;
    const wrap = (compressed: Buffer): Body => {
      const out: Body = [compressed];
      if (typeof close === 'function') (out as { close?: () => unknown }).close = () => close.call(body);
      return out;
    };
    const compressed = compressAll(this.#coding, this.#options(false), input);
    return Buffer.isBuffer(compressed) ? wrap(compressed) : (compressed as Promise<Buffer>).then(wrap);
  }

  /** The streaming path: one app chunk pulled, compressed and flushed per chunk the server asks for. */
  #stream(body: unknown): Body {
    const self = this;
    const source = body as AsyncIterable<Chunk> | Iterable<Chunk>;
    async function* pump(): AsyncGenerator<Chunk> {
      try {
        for await (const chunk of source) {
          self.#commit(undefined);
          if (!self.#compressing) {
            yield chunk;
            continue;
          }
          if (byteLength(chunk) === 0) continue;
          await self.#writes;
          for (const out of await self.#encoderNow().push(toBuffer(chunk))) yield out;
        }
        await self.#writes;
        // Ended without a byte: nothing to compress.
        self.#commit(0);
        if (self.#compressing) for (const out of await self.#encoderNow().finish()) yield out;
      } finally {
        self.#encoder?.destroy();
      }
    }
    const it = pump();
    const close = (body as { close?: unknown }).close;
    return {
      [Symbol.asyncIterator]: () => it,
      close: typeof close === 'function' ? () => close.call(body) : undefined,
    } as Body;
  }
}

/**
 * A middleware that compresses responses with brotli, gzip, or zstd where
 * Node has it, as the request's Accept-Encoding prefers (q-values, `*`,
 * `identity`, q=0 refusing a coding), streaming and flushing chunk by
 * chunk so that server-sent events arrive as they are sent. Small bodies,
 * HEAD, 204/206/304, already encoded responses, incompressible types and
 * `Cache-Control: no-transform` are left alone; `Vary: Accept-Encoding`
 * is added, Content-Length removed, a strong ETag made weak.
 *
 * @example
 * ```ts
 * import { compress } from 'gwserver';
 * const app = (environ, startResponse) => {
 *   startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
 *   return ['hello '.repeat(1000)];
 * };
 * export const application = compress({ threshold: 512 })(app);
 * ```
 */
export function compress(options: CompressOptions = {}): Middleware {
  const offered = (options.encodings ?? CODINGS).filter((c) => CODINGS.includes(c));
  const level = { gzip: 6, br: 4, zstd: 3, ...options.level };
  const s: Settings = {
    offered,
    threshold: options.threshold ?? 1024,
    level,
    brotliWindowBits: options.brotliWindowBits ?? 18,
    filter: options.filter ?? ((type) => isCompressible(type)),
    flush: options.flush ?? true,
  };
  return (app: Application): Application => function compress(environ, startResponse) {
    const coding = acceptedCodings(environ.HTTP_ACCEPT_ENCODING as string | undefined, s.offered)[0];
    if (coding === undefined) {
      // Nothing to encode for this client; only Vary, so that a cache keeps this answer for clients like it.
      return app(environ, (status, headers, excInfo) => startResponse(status, plan(s, environ, status, headers, undefined, undefined).headers, excInfo));
    }
    const response = new CompressedResponse(environ, startResponse, coding, s);
    const body = app(environ, response.startResponse);
    return isThenable(body) ? Promise.resolve(body).then((b) => response.body(b)) : response.body(body);
  };
}
