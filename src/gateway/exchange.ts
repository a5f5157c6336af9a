/**
 * The gateway contract for one response, written once for every carrier:
 * startResponse's rules (once, or again with excInfo until the head is out),
 * the legacy `write()`, pulling the body (a string or bytes, an array, an
 * iterable, an async iterable, a FileWrapper), HEAD (pull only until
 * startResponse), Content-Length framing (added when the size is known, a
 * longer body cut, a shorter one truncated), errors before the head (a
 * plain 500) and after it (a truncated response), the client going away,
 * and the body's `close()` exactly once on every path.
 *
 * What carries the bytes is left to a subclass: the worker's `node:http`
 * exchange (`handler.ts`: a ServerResponse and its drain) and `toFetch`'s
 * (`interop/fetch.ts`: a ReadableStream read on demand). They implement
 * the transport methods at the end of the class and say how each event is
 * reported (a pino record, or `onError`).
 *
 * @module
 */
import { GatewayError, contractError } from '../errors.js';
import { FileWrapper } from './file-wrapper.js';
import { inspectHeaders, parseStatus } from './start-response.js';
import type { Chunk, HeaderPair, StartResponse, Write } from './types.js';

export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

/**
 * Whether a returned "body" is rather an app: a function, or an object with
 * the method a Hono, Koa or Fastify app has. Such a body comes from a
 * factory served as the app (`export default createApp`), which the loader
 * cannot tell from a gateway app without calling it.
 */
function isAppLike(body: unknown): boolean {
  if (typeof body === 'function') return true;
  const o = body as { fetch?: unknown; callback?: unknown; routing?: unknown } | null;
  return typeof o === 'object' && o !== null && (typeof o.fetch === 'function' || typeof o.callback === 'function' || typeof o.routing === 'function');
}

/** A chunk's size in bytes; anything but a string or bytes breaks the contract. */
export function byteLength(chunk: unknown): number {
  if (typeof chunk === 'string') return chunk.length === 0 ? 0 : Buffer.byteLength(chunk);
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  throw contractError(`the body yielded ${chunk === null ? 'null' : typeof chunk}; chunks must be Uint8Array (Buffer) or string`);
}

/** One response under the gateway contract; the transport is the subclass's. */
export abstract class ResponseExchange {
  // Every field is given, those that start empty too: one shape for every exchange.
  body: unknown = undefined;
  iterator: Iterator<unknown> | AsyncIterator<unknown> | undefined = undefined;
  /** `gwserver.signal`'s controller, made on first use. */
  controller: AbortController | undefined = undefined;
  // startResponse state
  started = false;
  status = 0;
  reason = '';
  /** The app's headers as given to startResponse (or the server's own, for a plain answer). */
  appHeaders: HeaderPair[] = [];
  /** Content-Length: the app's, or the size gwserver found (then addedLength). */
  length: number | undefined = undefined;
  addedLength = false;
  /** Status and headers are ASCII: a string body may share the head's write. */
  asciiHead = true;
  /** The app set `Connection: close`: close the connection after this response (HTTP/1.x; dropped on HTTP/2). */
  closeAfter = false;
  // output state
  headersSent = false;
  bodyAllowed = true;
  ended = false;
  sent = 0;
  cut = false;
  gone = false;
  /** The app missed its deadline (`--response-timeout`): answered 503 for it. */
  timedOut = false;
  closed = false;
  /** A next() of the body iterator is pending. */
  pulling = false;

  // -------------------------------------------------------------------------
  // startResponse and write()
  // -------------------------------------------------------------------------

  readonly startResponse: StartResponse = (status, headers, excInfo) => {
    if (this.started) {
      if (excInfo === undefined) {
        throw contractError('startResponse was called a second time without excInfo');
      }
      if (this.headersSent) throw excInfo;
    }
    const line = parseStatus(status);
    const head = inspectHeaders(headers);
    this.status = line.code;
    this.reason = line.reason;
    this.appHeaders = headers as HeaderPair[];
    this.length = head.length;
    this.asciiHead = line.ascii && head.ascii;
    this.closeAfter = head.close;
    this.started = true;
    // Made on first use: most apps never keep startResponse's result.
    return (this.#write ??= (chunk: Chunk) => this.write(chunk));
  };

  #write: Write | undefined;

  /** The legacy write() returned by startResponse. */
  async write(chunk: Chunk): Promise<void> {
    if (this.timedOut) throw new GatewayError('GW_RESPONSE_TIMEOUT', 'write(): the response timed out (--response-timeout) and was answered with 503');
    if (this.ended) {
      // Often called from a callback nobody awaits: report it here.
      const err = contractError('write() was called after the response body ended');
      this.logAppError(err, 'application error');
      throw err;
    }
    if (this.gone) throw new GatewayError('GW_CLIENT_GONE', 'write(): the client went away');
    const len = byteLength(chunk);
    if (len === 0) return;
    if (!this.headersSent) this.sendHead(undefined);
    await this.writeChunk(chunk, len);
  }

  // -------------------------------------------------------------------------
  // The body
  // -------------------------------------------------------------------------

  /** The general path: await the body, send it, close it. */
  async finish(body: unknown): Promise<void> {
    try {
      if (isThenable(body)) body = await body;
      // Kept before it is checked, so that even a bad body is closed.
      this.body = body;
      await this.send(body);
    } catch (err) {
      this.fail(err);
    } finally {
      await this.closeBody();
    }
  }

  async send(body: unknown): Promise<void> {
    if (body === undefined || body === null) {
      throw contractError(`the application returned ${body}; return an iterable of chunks (e.g. [] for an empty body)${this.started ? '' : this.noBodyHint()}`);
    }
    if (this.gone) return;
    if (typeof body === 'string' || body instanceof Uint8Array) return this.sendKnown([body]);
    if (Array.isArray(body)) return this.sendKnown(body);
    const b = body as Partial<AsyncIterable<unknown> & Iterable<unknown>>;
    let it: Iterator<unknown> | AsyncIterator<unknown>;
    if (typeof b[Symbol.asyncIterator] === 'function') it = b[Symbol.asyncIterator]!();
    else if (typeof b[Symbol.iterator] === 'function') it = b[Symbol.iterator]!();
    else if (typeof Response === 'function' && body instanceof Response) throw contractError('the application returned a fetch Response: if it is a fetch handler (request) => Response, serve it with --interface fetch (or export { fetch })');
    else if (isAppLike(body)) throw contractError(`the application returned ${typeof body === 'function' ? 'a function' : 'an app object'}, not a body: if it is a factory that makes the app, call it in the target, so that it runs once, when the worker loads it: MODULE:createApp(), or MODULE:default() for a default export`);
    else throw contractError('the application returned a body that is not iterable; return an array, an iterable or an async iterable of chunks');
    let size: number | undefined;
    if (body instanceof FileWrapper) size = await body.size();
    await this.sendIterator(it, size);
  }

  /** A body whose chunks are all known: its size goes in the head. */
  async sendKnown(chunks: unknown[]): Promise<void> {
    if (!this.started) throw contractError('the application returned its body without calling startResponse');
    let total = 0;
    for (let i = 0; i < chunks.length; i++) total += byteLength(chunks[i]);
    if (chunks.length === 1 && !this.headersSent && (this.length === undefined || this.length === total) && total > 0) {
      return this.sendOne(chunks[0] as Chunk, total);
    }
    if (!this.headersSent) this.sendHead(total);
    for (let i = 0; i < chunks.length && !this.gone && !this.cut; i++) {
      const chunk = chunks[i] as Chunk;
      const len = byteLength(chunk);
      if (len > 0) await this.writeChunk(chunk, len);
    }
    if (!this.gone) this.end();
  }

  /** Head and the only chunk; a transport that can send both in one write overrides it. */
  async sendOne(chunk: Chunk, total: number): Promise<void> {
    this.sendHead(total);
    await this.writeChunk(chunk, total);
    if (!this.gone) this.end();
  }

  async sendIterator(it: Iterator<unknown> | AsyncIterator<unknown>, size: number | undefined): Promise<void> {
    this.iterator = it;
    // Whether the iterator must be stopped with return() when we leave early:
    // not once it said done or its next() threw (for-of does the same).
    let live = true;
    try {
      if (!this.bodyAllowedFor()) {
        // HEAD: pull only until startResponse has been called.
        while (!this.started) {
          live = false;
          this.pulling = true;
          let r = it.next();
          if (isThenable(r)) r = await r;
          this.pulling = false;
          if ((r as IteratorResult<unknown>).done) break;
          live = true;
          if (this.gone) return;
        }
        if (!this.started) throw contractError('the body ended without startResponse being called');
        if (!this.gone) {
          this.sendHead(size);
          this.end();
        }
        return;
      }
      for (;;) {
        if (this.headersSent) {
          // A transport read on demand pulls the body only when its reader asks.
          const wanted = this.wanted();
          if (wanted !== undefined) await wanted;
          if (this.gone) return;
        }
        live = false;
        this.pulling = true;
        let r = it.next();
        if (isThenable(r)) r = await r;
        this.pulling = false;
        const { done, value } = r as IteratorResult<unknown>;
        if (done) break;
        live = true;
        if (this.gone) return;
        const len = byteLength(value);
        if (len === 0) continue;
        if (!this.started) throw contractError('the body yielded data before startResponse was called');
        if (!this.headersSent) this.sendHead(size);
        await this.writeChunk(value as Chunk, len);
        if (this.gone) return;
        // Content-Length reached and the app yielded more: the response is complete, stop pulling.
        if (this.cut) break;
      }
      if (this.gone) return;
      if (!this.started) throw contractError('the body ended without startResponse being called');
      if (!this.headersSent) this.sendHead(size ?? 0);
      this.end();
    } finally {
      this.pulling = false;
      if (live) void this.stopIterator();
      else this.iterator = undefined;
    }
  }

  /** Calls the iterator's return(); resolves once it has settled (a generator's finally ran). */
  stopIterator(): Promise<void> {
    const it = this.iterator;
    this.iterator = undefined;
    if (it === undefined || typeof it.return !== 'function') return Promise.resolve();
    const failed = (err: unknown) => this.logAppError(err, 'the body iterator threw while being stopped');
    try {
      const r = it.return();
      return isThenable(r) ? Promise.resolve(r).then(() => undefined, failed) : Promise.resolve();
    } catch (err) {
      failed(err);
      return Promise.resolve();
    }
  }

  /** Sends the head: the size is added when known and the app gave none (never on 204 and 304: RFC 9110 8.6). */
  sendHead(known: number | undefined): void {
    this.headersSent = true;
    const status = this.status;
    if (this.length === undefined && known !== undefined && status !== 204 && status !== 304) {
      this.length = known;
      this.addedLength = true;
    }
    this.bodyAllowed = this.bodyAllowedFor() && status !== 204 && status !== 304;
    this.writeHead();
  }

  async writeChunk(chunk: Chunk, len: number): Promise<void> {
    if (this.length !== undefined) {
      const left = this.length - this.sent;
      if (len > left) {
        if (!this.cut) this.logOverflow();
        this.cut = true;
        if (left === 0) return;
        chunk = (typeof chunk === 'string' ? Buffer.from(chunk) : chunk).subarray(0, left);
        len = left;
      }
    }
    const first = this.sent === 0;
    this.sent += len;
    if (!this.bodyAllowed) return;
    // Node puts the head in front of a first string chunk and encodes both as
    // the chunk (UTF-8): latin-1 header values and reasons would go out mangled.
    if (first && typeof chunk === 'string' && !this.asciiHead) chunk = Buffer.from(chunk);
    if (!this.push(chunk)) await this.drained();
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.length !== undefined && this.sent < this.length && this.bodyAllowed) {
      // Ending here would let the client wait for bytes that never come, or
      // take what it got for the whole response.
      this.logShort();
      this.truncate(contractError(`the application sent ${this.sent} bytes of the ${this.length} its Content-Length declared`));
      return;
    }
    this.endOutput();
  }

  /** An error ends the request: a plain answer if the head is not out, else a truncated response. */
  fail(err: unknown): void {
    if (this.gone) {
      this.logAfterGone(err);
      return;
    }
    const clientFault = err instanceof GatewayError && err.status >= 400 && err.status < 500;
    if (clientFault) this.logClientFault(err as GatewayError);
    else this.logAppError(err, 'application error');
    if (!this.headersSent && !this.ended) {
      this.plain(clientFault ? (err as GatewayError).status : 500);
      return;
    }
    // Bytes are out: a truncated response is the only honest answer.
    this.ended = true;
    this.truncate(err);
  }

  /**
   * The client went away before the end: `gwserver.signal` aborts, waits
   * on the transport end, the iteration stops and the body is closed.
   * Resolves once close() has run.
   */
  abandon(): Promise<void> {
    this.gone = true;
    this.controller?.abort();
    this.releaseWaits();
    const stopping = this.stopIterator();
    // close() runs after the generator's finally blocks, so it may free what
    // they still use; but a return() queued behind a pending next() waits for
    // the app, and close() must not wait for it.
    if (this.pulling) return this.closeBody();
    return stopping.then(() => this.closeBody());
  }

  /** Calls the body's close() exactly once; before the app returned a body there is nothing to close yet. */
  async closeBody(): Promise<void> {
    const body = this.body as { close?: () => unknown } | undefined | null;
    if (this.closed || body === undefined || body === null) return;
    this.closed = true;
    if (typeof body.close !== 'function') return;
    try {
      const r = body.close();
      if (isThenable(r)) await r;
    } catch (err) {
      this.logAppError(err, 'the body\'s close() threw');
    }
  }

  /** `gwserver.signal`: aborted when the client goes away. */
  signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.gone && !this.controller.signal.aborted) this.controller.abort();
    return this.controller.signal;
  }

  // -------------------------------------------------------------------------
  // What the subclass provides
  // -------------------------------------------------------------------------

  /** False for HEAD: the body is pulled only until startResponse. */
  abstract bodyAllowedFor(): boolean;
  /** Sends status, appHeaders and, when addedLength, Content-Length. */
  abstract writeHead(): void;
  /** Hands a chunk on; false when the caller must wait for drained(). */
  abstract push(chunk: Chunk): boolean;
  /** Resolves once what was pushed has gone on (or the client left). */
  abstract drained(): Promise<void>;
  /** The body is complete. */
  abstract endOutput(): void;
  /** Ends the response where it is, so the client cannot take it for whole. */
  abstract truncate(err: unknown): void;
  /** Answers with a short plain-text response of this status. */
  abstract plain(status: number): void;
  /** Lets every wait on the transport go (the client left). */
  abstract releaseWaits(): void;
  /** An error that ends the request abnormally, or a contract violation reported where it happened. */
  abstract logAppError(err: unknown, msg: string): void;
  /** The body went past its Content-Length (reported once; the rest is dropped). */
  abstract logOverflow(): void;
  /** The body ended short of its Content-Length. */
  abstract logShort(): void;
  /** A 4xx raised while the app read the request (a bad or too large body). */
  abstract logClientFault(err: GatewayError): void;
  /** An error after the client went away. */
  abstract logAfterGone(err: unknown): void;

  /**
   * A transport read on demand returns a promise that resolves when its
   * reader asks for more; undefined lets the body be pulled now.
   */
  wanted(): Promise<void> | undefined {
    return undefined;
  }

  /** Appended to "the application returned undefined" when startResponse was never called. */
  noBodyHint(): string {
    return '';
  }
}
