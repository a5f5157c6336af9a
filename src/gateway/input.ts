/**
 * `wsgi.input`: the request body, pulled from the socket only when the app
 * asks for it. Nothing is read ahead beyond the stream's own small buffer, so
 * an upload of any size costs a bounded amount of memory, and a client that
 * sends faster than the app reads is held back by TCP flow control.
 *
 * @module
 */
import type { Readable } from 'node:stream';
import { GatewayError } from '../errors.js';
import type { InputStream } from './types.js';

export interface RequestInputOptions {
  /** The declared Content-Length; `undefined` for a chunked body. */
  length?: number | undefined;
  /** `--limit-request-body` for bodies whose length was not declared (0: none). */
  limit?: number;
  /** Runs once, before the first byte is pulled (sends `100 Continue`). */
  onFirstRead?: () => void;
}

const EMPTY = Buffer.alloc(0);

function concurrentRead(): GatewayError {
  return new GatewayError('GW_CONCURRENT_READ', 'wsgi.input: a read was started while another one is still pending; await each read before the next');
}

/** An {@link InputStream} over a Node readable (an `IncomingMessage`, or any Readable). */
export class RequestInput implements InputStream {
  #src: Readable;
  #length: number | undefined;
  #limit: number;
  #onFirstRead: (() => void) | undefined;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #received = 0;
  #ended: boolean;
  #error: Error | undefined;
  #started = false;
  #pending = false;
  #discarding = false;
  /** The stream was paused by us (nobody waits for data). */
  #paused = false;
  #wake: (() => void) | undefined;
  /** How many buffered bytes the waiting read needs before it is woken. */
  #want = 0;

  constructor(src: Readable, options: RequestInputOptions = {}) {
    this.#src = src;
    this.#length = options.length;
    this.#limit = options.limit ?? 0;
    this.#onFirstRead = options.onFirstRead;
    // A request without a body never touches the socket.
    this.#ended = options.length === 0;
  }

  /** Bytes received from the client so far (what the app read plus what is buffered). */
  get received(): number {
    return this.#received;
  }

  /** Whether the whole body has arrived (EOF seen). */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Fails every current and future read with `err` (a malformed chunk seen
   * by the parser, the client going away...).
   */
  fail(err: Error): void {
    if (this.#ended || this.#error) return;
    this.#error = err;
    this.#notify();
  }

  /**
   * The client closed the connection before the end of the body: every
   * current and future read fails with an error that says so.
   */
  truncated(cause?: unknown): void {
    if (this.#ended || this.#error) return;
    // What arrived: what was pulled, plus what the stream still holds.
    const got = this.#received + this.#src.readableLength;
    const msg = this.#length !== undefined
      ? `the client sent ${got} of the ${this.#length} bytes its Content-Length declared, then closed the connection`
      : `the client closed the connection before the end of its chunked body (after ${got} bytes)`;
    this.#error = new GatewayError('GW_CLIENT_GONE', `wsgi.input: ${msg}`, cause === undefined ? undefined : { cause });
    this.#notify();
  }

  read(size?: number): Promise<Buffer> {
    // Not an async function: a read is answered from what is buffered, or by
    // the chunk (or the end) that completes it, without a chain of awaits.
    if (this.#pending) return Promise.reject(concurrentRead());
    const want = size === undefined || size === null || size < 0 ? Infinity : size;
    if (want === 0) return Promise.resolve(EMPTY);
    // A body known to be empty (Content-Length: 0) never touches the stream, nor sends 100 Continue.
    if (this.#started || !this.#ended) this.#start();
    if (this.#buffered >= want || this.#ended) return Promise.resolve(this.#take(Math.min(want, this.#buffered)));
    if (this.#error) return Promise.reject(this.#error);
    this.#pending = true;
    return new Promise<Buffer>((resolve, reject) => {
      this.#reader = { want, resolve, reject };
      this.#waitForReader();
    });
  }

  #reader: { want: number; resolve: (b: Buffer) => void; reject: (err: Error) => void } | undefined;

  #waitForReader(): void {
    this.#want = this.#reader!.want;
    this.#wake = this.#onReaderWake;
    this.#resume();
  }

  /** Enough arrived for the waiting read(), or the end, or an error. */
  #onReaderWake = (): void => {
    const r = this.#reader!;
    if (this.#buffered >= r.want || this.#ended) {
      this.#reader = undefined;
      this.#pending = false;
      r.resolve(this.#take(Math.min(r.want, this.#buffered)));
    } else if (this.#error) {
      this.#reader = undefined;
      this.#pending = false;
      r.reject(this.#error);
    } else {
      this.#waitForReader();
    }
  };

  readline(size?: number): Promise<Buffer> {
    return this.#op(async () => {
      const max = size === undefined || size === null || size < 0 ? Infinity : size;
      if (max === 0) return EMPTY;
      let scanned = 0;
      for (;;) {
        const nl = this.#indexOfNewline(scanned);
        if (nl >= 0) return this.#take(Math.min(nl + 1, max));
        if (this.#buffered >= max) return this.#take(max);
        scanned = this.#buffered;
        if (this.#ended) return this.#take(this.#buffered);
        await this.#fill(this.#buffered + 1);
        if (this.#buffered === scanned) return this.#take(this.#buffered);
      }
    });
  }

  async readlines(hint?: number): Promise<Buffer[]> {
    const lines: Buffer[] = [];
    let total = 0;
    for (;;) {
      const line = await this.readline();
      if (line.length === 0) return lines;
      lines.push(line);
      total += line.length;
      if (hint !== undefined && hint > 0 && total >= hint) return lines;
    }
  }

  /** Yields the body in chunks as they arrive (not lines: use `readline` for lines). */
  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      const chunk = await this.#op(async () => {
        await this.#fill(1);
        return this.#take(this.#buffered);
      });
      if (chunk.length === 0) return;
      yield chunk;
    }
  }

  /**
   * Reads and throws away the rest of the body so the connection can carry
   * the next request. Returns false (and does nothing) when more than
   * `maxBytes` may be left: the caller should close the connection instead.
   */
  discard(maxBytes: number): boolean {
    if (this.#ended) return true;
    if (this.#length === undefined || this.#length - this.#received > maxBytes || this.#error) return false;
    this.#discarding = true;
    this.#chunks = [];
    this.#buffered = 0;
    this.#start();
    this.#resume();
    return true;
  }

  async #op<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#pending) throw concurrentRead();
    this.#pending = true;
    try {
      return await fn();
    } finally {
      this.#pending = false;
    }
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#onFirstRead?.();
    const src = this.#src;
    // Flowing mode while a read waits, paused otherwise. In flowing mode the
    // parser hands each chunk straight to us; 'readable' mode would buffer
    // it first, and a chunk over the stream's high-water mark (most socket
    // reads of an upload) would stop and restart the socket's reading for
    // every chunk.
    src.on('data', (chunk: Buffer) => this.#onData(chunk));
    src.on('end', () => {
      this.#ended = true;
      this.#notify();
    });
    src.on('error', (err: Error) => this.#onClose(err));
    src.on('close', () => this.#onClose(undefined));
    // Destroyed before the first read (the client went away while the app was
    // busy with something else): its 'error' and 'close' are gone already.
    if (src.destroyed) this.#onClose(src.errored ?? undefined);
  }

  #onClose(err: Error | undefined): void {
    // 'close' right after 'end' is normal; anything else is a truncated body.
    if (this.#src.readableEnded) return;
    this.truncated(err);
  }

  #onData(chunk: Buffer): void {
    this.#received += chunk.length;
    if (this.#limit > 0 && this.#received > this.#limit && this.#length === undefined) {
      this.#error ??= new GatewayError('GW_BODY_TOO_LARGE', `wsgi.input: the request body is larger than the limit of ${this.#limit} bytes (--limit-request-body)`);
      this.#pause();
      this.#notify();
      return;
    }
    if (this.#discarding) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    if (this.#wake === undefined) {
      // Nobody waits (the read that wanted data has what it asked for): hold
      // the rest back, so that an app that pauses does not get the whole
      // upload in memory and the client gets TCP backpressure. What the
      // stream buffers meanwhile is bounded by its high-water mark.
      this.#pause();
    } else if (this.#buffered >= this.#want) {
      this.#notify();
    }
  }

  #pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#src.pause();
  }

  /** Lets data flow again (a read waits for it, or the rest is being discarded). */
  #resume(): void {
    if (!this.#started || (!this.#paused && this.#src.readableFlowing === true)) return;
    this.#paused = false;
    if (this.#error === undefined || this.#discarding) this.#src.resume();
  }

  #notify(): void {
    const wake = this.#wake;
    if (wake !== undefined) {
      this.#wake = undefined;
      wake();
    }
  }

  async #fill(want: number): Promise<void> {
    // A body known to be empty (Content-Length: 0) never touches the stream, nor sends 100 Continue.
    if (!this.#started && this.#ended) return;
    this.#start();
    while (this.#buffered < want) {
      if (this.#error) throw this.#error;
      if (this.#ended) return;
      const before = this.#buffered;
      // Woken once `want` bytes are buffered (not on every chunk), at the end, or on an error.
      this.#want = want;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#resume();
      });
      if (this.#buffered === before && this.#error) throw this.#error;
    }
  }

  #indexOfNewline(from: number): number {
    let offset = 0;
    for (const chunk of this.#chunks) {
      if (from < offset + chunk.length) {
        const i = chunk.indexOf(10, Math.max(0, from - offset));
        if (i >= 0) return offset + i;
      }
      offset += chunk.length;
    }
    return -1;
  }

  #take(n: number): Buffer {
    if (n === 0) return EMPTY;
    const chunks = this.#chunks;
    const first = chunks[0]!;
    this.#buffered -= n;
    if (first.length === n) {
      chunks.shift();
      return first;
    }
    if (first.length > n) {
      chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let pos = 0;
    while (pos < n) {
      const c = chunks[0]!;
      const need = n - pos;
      if (c.length <= need) {
        c.copy(out, pos);
        pos += c.length;
        chunks.shift();
      } else {
        c.copy(out, pos, 0, need);
        chunks[0] = c.subarray(need);
        pos += need;
      }
    }
    return out;
  }
}

/**
 * `wsgi.input` of a request without a body: every read is empty. One
 * stateless instance serves all such requests (most of them: GET, HEAD).
 */
class EmptyInput implements InputStream {
  read(): Promise<Buffer> {
    return Promise.resolve(EMPTY);
  }
  readline(): Promise<Buffer> {
    return Promise.resolve(EMPTY);
  }
  readlines(): Promise<Buffer[]> {
    return Promise.resolve([]);
  }
  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    // No body: nothing to yield.
  }
}

/** The shared input of requests without a body. */
export const EMPTY_INPUT: InputStream = Object.freeze(new EmptyInput());
